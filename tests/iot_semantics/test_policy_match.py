"""IoT policy wildcard and variable semantics (fact sheet section 5.3/5.4)."""

from __future__ import annotations

import pytest

from iot_semantics.policy_match import Glob, Unknown, delivered, resource_matches, witness

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
        (
            "topic/${iot:Certificate.Subject.CommonName}/x",
            "topic/a*/x",
            {"iot:Certificate.Subject.CommonName": "a*"},
            False,
        ),
        ("topicfilter/my/${iot:ClientId}/t", "topicfilter/my/+/t", {"iot:ClientId": "+"}, True),  # AWS: client ID '+'
        ("topic/${*}", "topic/*", {}, True),  # escaped literal star
        ("topic/${*}", "topic/x", {}, False),
    ],
)
def test_resource_matches(pattern: str, resource: str, variables: dict[str, str], expected: bool) -> None:
    assert resource_matches(pattern, resource, variables) is expected


# Resource languages -----------------------------------------------------------------------------

G = Glob.parse


@pytest.mark.parametrize(
    ("positives", "negatives", "expected"),
    [
        (["dt/dev-1*", "dt/dev-10/*"], [], "dt/dev-10/"),  # the prefix-overlap witness
        (["dt/dev-1/*", "dt/dev-10/*"], [], None),  # a thing name as a whole level: disjoint
        (["a/*", "*/c"], ["a/c"], "a//c"),
        (["building/*"], ["building/*"], None),
        (["?"], [], "x"),
        (["ab*"], ["ab", "abx*"], "aby"),  # x is taken: the filler is another letter
    ],
)
def test_witness_is_the_shortest_string_of_the_intersection(
    positives: list[str], negatives: list[str], expected: str | None
) -> None:
    found = witness([G(p) for p in positives], [G(n) for n in negatives])
    assert found == expected
    if found is not None:
        assert all(G(p).matches(found) for p in positives)
        assert not any(G(n).matches(found) for n in negatives)


def test_topic_witnesses_are_usable_topics() -> None:
    assert witness([G("dt/dev-1*"), G("dt/dev-10/*")], topic=True) == "dt/dev-10/x"
    assert witness([G("a/+/b")], topic=True) is None, "+ is literal in a policy and cannot be in a topic"
    assert witness([G("*")], topic=True) == "x"


def test_residuals_read_the_arn_prefix() -> None:
    prefix = "arn:aws:iot:r:a:topic/"
    assert G("arn:aws:iot:r:a:*").after(prefix).matches("x/y")
    assert G("arn:*:topic/x").after(prefix).matches("x")
    assert G("arn:aws:iot:r:a:topicfilter/x").after(prefix).empty
    assert G("abc").after("ab").literal_suffix() == "c"


def test_globs_and_single_matches_agree_with_variables() -> None:
    variables = {"iot:Connection.Thing.ThingName": "dev-1"}
    pattern = f"topic/dt/{T}/*"
    glob = Glob.of(pattern, variables)
    for resource in ("topic/dt/dev-1/x", "topic/dt/dev-10/x", "topic/dt/dev-1", "topic/dt/dev-1/"):
        assert glob.matches(resource) is resource_matches(pattern, resource, variables)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "delivers"),
    [
        ("a/+/c", "a/x/c", True),
        ("a/+/c", "a/x/y/c", False),
        ("a/#", "a/x/y", True),
        ("a/#", "a/", True),
        ("a/#", "a", False),  # AWS: not the parent
        ("#", "$aws/things/x", None),  # a leading wildcard never delivers $ topics (flag returned)
    ],
)
def test_delivered_topics_of_a_filter(topic_filter: str, topic: str, delivers: bool | None) -> None:
    found = delivered(topic_filter)
    assert found is not None
    glob, dollar_excluded = found
    if delivers is None:
        assert dollar_excluded
    else:
        assert glob.matches(topic) is delivers


@pytest.mark.parametrize("invalid", ["a/b+", "a/#/b", "a#"])
def test_an_invalid_filter_delivers_nothing(invalid: str) -> None:
    assert delivered(invalid) is None


def test_an_unanswerable_question_says_so() -> None:
    many = [G("*a*b*c*d*e*f*g*h*"), G("*h*g*f*e*d*c*b*a*")]
    with pytest.raises(Unknown):
        witness(many, [G("*x*")], max_states=5)
