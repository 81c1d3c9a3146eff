"""IoT policy wildcard and variable semantics (fact sheet section 5.3/5.4)."""

from __future__ import annotations

import pytest

from iot_semantics.policy_match import resource_matches

T = "${iot:Connection.Thing.ThingName}"


@pytest.mark.parametrize(
    ("pattern", "resource", "variables", "expected"),
    [
        ("topic/a/*", "topic/a/b/c", {}, True),  # '*' spans levels
        ("topic/a/?", "topic/a/bc", {}, False),  # '?' is exactly one character
        ("topic/a/+", "topic/a/x", {}, False),  # '+' is literal in a policy
        ("topicfilter/a/*", "topicfilter/a/#", {}, True),  # '*' covers a '#' subscription
        ("topicfilter/a/b", "topicfilter/a/#", {}, False),
        (f"topic/dt/{T}/*", "topic/dt/dev-1/x", {"iot:Connection.Thing.ThingName": "dev-1"}, True),
        (f"topic/dt/{T}/*", "topic/dt/dev-10/x", {"iot:Connection.Thing.ThingName": "dev-1"}, False),
        (f"topic/dt/{T}*", "topic/dt/dev-10/x", {"iot:Connection.Thing.ThingName": "dev-1"}, True),
        (f"topic/dt/{T}/*", "topic/dt/dev-1/x", {}, False),  # unset variable: not substituted
        ("topic/${iot:Certificate.Subject.CommonName}/x", "topic/a*/x", {"iot:Certificate.Subject.CommonName": "a*"}, False),
        ("topicfilter/my/${iot:ClientId}/t", "topicfilter/my/+/t", {"iot:ClientId": "+"}, True),  # AWS: client ID '+'
        ("topic/${*}", "topic/*", {}, True),  # escaped literal star
        ("topic/${*}", "topic/x", {}, False),
    ],
)
def test_resource_matches(pattern: str, resource: str, variables: dict[str, str], expected: bool) -> None:
    assert resource_matches(pattern, resource, variables) is expected
