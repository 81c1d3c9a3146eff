"""The review's CLI contract: what is not a cdk.out or a template is one clear usage error; gates and answers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from contracts.cli import Environment
from contracts.exit_status import ExitStatus
from policy_review.cli import main
from tests.conftest import Synth


def review(*args: str) -> tuple[int, str, str]:
    env = Environment.for_test()
    code = main(list(args), env)
    assert isinstance(env.stdout, io.StringIO)
    assert isinstance(env.stderr, io.StringIO)
    return code, env.stdout.getvalue(), env.stderr.getvalue()


def test_targets_that_are_not_a_cdk_out(tmp_path: Path) -> None:
    code, _, err = review(str(tmp_path / "missing"))
    assert code == ExitStatus.USAGE
    assert "does not exist" in err
    code, _, err = review(str(tmp_path))
    assert code == ExitStatus.USAGE
    assert "is not a cdk.out: it has no manifest.json" in err
    latin = tmp_path / "t.json"
    latin.write_bytes('{"Resources": {"Caf\u00e9": {}}}'.encode("latin-1"))
    code, _, err = review(str(latin))
    assert code == ExitStatus.USAGE
    assert "is not UTF-8" in err
    not_a_template = tmp_path / "list.json"
    not_a_template.write_text("[1, 2]")
    code, _, err = review(str(not_a_template))
    assert code == ExitStatus.USAGE
    assert "not a CloudFormation template" in err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text(json.dumps({"artifacts": {"s": {"type": "aws:cloudformation:stack"}}}))
    code, _, err = review(str(broken))
    assert code == ExitStatus.USAGE
    assert "manifest.json: stack s names no templateFile" in err  # the reader names the file and the fault
    assert "Traceback" not in err


def test_a_template_with_a_bom_is_a_clear_error(tmp_path: Path) -> None:
    """cdk synth writes no BOM; a hand-edited template with one is named, not a traceback."""
    template = tmp_path / "t.json"
    template.write_bytes(b"\xef\xbb\xbf" + json.dumps({"Resources": {}}).encode())
    code, out, err = review(str(template))
    if code == ExitStatus.OK:  # a reader that accepts the BOM
        assert "0 finding(s)" in out
    else:
        assert code == ExitStatus.USAGE
        assert f"cannot read {template}" in err


@pytest.mark.integration
def test_report_paths_and_questions(synth: Synth, tmp_path: Path) -> None:
    code, _, err = review(str(synth.outdir), "--json", str(tmp_path / "no" / "such" / "dir" / "r.json"))
    assert code == ExitStatus.USAGE
    assert "cannot write" in err
    code, out, _ = review(str(synth.outdir), "--can", "sensor-A", "iot:Publish", "topic/dt/sensors/sensor-A/x")
    assert code == ExitStatus.OK
    assert ": Allow" in out
    code, out, _ = review(str(synth.outdir), "--can", "sensor-A", "iot:Publish", "topic/dt/sensors/sensor-B/x")
    assert code == ExitStatus.FAILED  # a question answered deny
    assert "Deny" in out
