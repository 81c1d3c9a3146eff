"""Policy variable names: one home for the stacks, the evaluator and the review."""

from __future__ import annotations

import pytest

from iot_semantics import regions, variables
from iot_semantics.policy_eval import Context


def test_context_fills_the_documented_variables() -> None:
    values = Context(
        client_id="dev-1", certificate_id="c", thing_name="dev-1", thing_type="t", thing_attributes={"site": "a"},
        is_attached=True, source_ip="198.51.100.1",
    ).variables()  # fmt: skip
    assert values == {
        variables.CLIENT_ID: "dev-1",
        variables.CERTIFICATE_ID: "c",
        variables.SOURCE_IP: "198.51.100.1",
        variables.THING_NAME: "dev-1",
        variables.IS_ATTACHED: "true",
        variables.THING_TYPE_NAME: "t",
        variables.attribute("site"): "a",
    }
    assert all(variables.is_known(name) for name in values)


def test_references_and_ref_round_trip() -> None:
    text = f"topic/dt/{variables.THING_NAME_VAR}/{variables.ref(variables.attribute('site'))}"
    assert variables.references(text) == [variables.THING_NAME, "iot:Connection.Thing.Attributes[site]"]
    assert variables.ATTRIBUTE_REFERENCE.search(text) is not None


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("iot:Connection.Thing.ThingName", True),
        ("iot:Certificate.Subject.CommonName", True),
        ("iot:Certificate.Subject.Organization.List", True),  # multi-valued certificate field
        ("iot:Certificate.Issuer.AlternativeName.DNSName.0", True),
        ("iot:ClientId.List", False),  # only certificate fields are multi-valued
        ("iot:ThingName", False),
        ("iot:Connection.Thing.Attributes[a b]", False),  # not an attribute name
        ("*", True),  # ${*} is the escaped literal
    ],
)
def test_is_known(name: str, known: bool) -> None:
    assert variables.is_known(name) is known


def test_regions_know_their_partition() -> None:
    assert regions.partition_of("eu-west-1") == "aws"
    assert regions.partition_of("cn-north-1") == "aws-cn"
    assert regions.partition_of("us-gov-west-1") == "aws-us-gov"
    assert regions.partition_of("eu-wset-1") is None
    assert "eu-wset-1" not in regions.REGIONS
