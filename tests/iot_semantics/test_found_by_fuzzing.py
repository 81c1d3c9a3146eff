"""Inputs `make fuzz` found crashing template evaluation; each now gets a TemplateError."""

from __future__ import annotations

from typing import Any

import pytest

from iot_semantics.template_eval import TemplateError, evaluate


@pytest.mark.parametrize("body", [None, 3, [], ["Resources"], True])
def test_a_template_body_that_is_not_an_object_is_a_template_error(body: Any) -> None:
    with pytest.raises(TemplateError, match="must be a JSON object"):
        evaluate(body, {"SerialNumber": "X"})
