"""One snapshot per stack; Lambda asset hashes are masked so runtime-code edits don't churn them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import Synth

STACKS = ["fleet_provisioning", "device_defender"]


@pytest.mark.parametrize("key", STACKS)
def test_snapshot(synth: Synth, snapshot: Any, key: str) -> None:
    text = json.dumps(synth.templates[key], indent=1, sort_keys=True)
    text = re.sub(r'"[0-9a-f]{64}\.zip"', '"ASSET.zip"', text)
    assert text == snapshot


def test_every_stack_has_a_snapshot(synth: Synth) -> None:
    assert sorted(synth.templates) == sorted(STACKS)
