"""Reserved topics parsed back into what they are, and MQTT topic-filter matching."""

from __future__ import annotations

import pytest

from iot_semantics import topics
from iot_semantics.topics import ReservedApi, filter_matches, parse_reserved, provisioning_request

CSR, KEYS, REGISTER = (
    ReservedApi.CREATE_CERTIFICATE_FROM_CSR,
    ReservedApi.CREATE_KEYS_AND_CERTIFICATE,
    ReservedApi.REGISTER_THING,
)


@pytest.mark.parametrize(
    ("topic", "api", "thing", "template", "fmt", "response"),
    [
        ("$aws/certificates/create-from-csr/json", CSR, None, None, "json", None),
        ("$aws/certificates/create/cbor/accepted", KEYS, None, None, "cbor", "accepted"),
        ("$aws/provisioning-templates/t-1/provision/json/rejected", REGISTER, None, "t-1", "json", "rejected"),
        ("$aws/provisioning-templates/*", REGISTER, None, "*", None, None),
        ("$aws/things/dev-1/shadow/update", ReservedApi.SHADOW, "dev-1", None, None, None),
        ("$aws/things/dev-1/jobs/notify-next", ReservedApi.JOBS, "dev-1", None, None, None),
        ("$aws/things/dev-1/defender/metrics/json", ReservedApi.DEFENDER_METRICS, "dev-1", None, None, None),
        ("$aws/things/dev-1/tunnels/notify", ReservedApi.TUNNELS_NOTIFY, "dev-1", None, None, None),
        ("$aws/things/core-1/greengrassv2/health/json", ReservedApi.GREENGRASS, "core-1", None, None, None),
        ("$aws/things/dev-1/streams/x", ReservedApi.THING, "dev-1", None, None, None),
        ("$aws/rules/my_rule", ReservedApi.OTHER, None, None, None, None),
    ],
)  # fmt: skip
def test_parse_reserved_says_what_a_topic_is_and_for_whom(
    topic: str, api: ReservedApi, thing: str | None, template: str | None, fmt: str | None, response: str | None
) -> None:
    parsed = parse_reserved(topic)
    assert parsed is not None
    assert (parsed.api, parsed.thing, parsed.template, parsed.payload_format, parsed.response) == (
        api,
        thing,
        template,
        fmt,
        response,
    )


def test_builders_and_parser_agree() -> None:
    for fmt in topics.PAYLOAD_FORMATS:
        register = parse_reserved(topics.register_thing_topic("acme-dev-sensors", fmt))
        assert register is not None
        assert register.is_provisioning_request
        assert register.template == "acme-dev-sensors"
        for built in (topics.create_certificate_from_csr_topic(fmt), topics.create_keys_and_certificate_topic(fmt)):
            assert provisioning_request(built) is not None
            response = parse_reserved(topics.accepted(built))
            assert response is not None
            assert response.is_provisioning_response
    shadow = parse_reserved(f"{topics.shadow_prefix('dev-1')}/update")
    assert shadow is not None
    assert shadow.api is ReservedApi.SHADOW
    assert shadow.thing == "dev-1"


@pytest.mark.parametrize(
    "topic",
    [
        "dt/sensors/x",  # not reserved
        "$aws/certificates/create/xml",  # no such payload format
        "$aws/certificates/create/json/accepted",  # a response, not a request
        "$aws/certificates/create/json/",  # an empty level after the format
        "$aws/provisioning-templates/" + "t" * 37 + "/provision/json",  # template names are 1-36 characters
        "$aws/provisioning-templates/t.1/provision/json",  # '.' is not allowed in a template name
        "$aws/provisioning-templates/*/provision/json",  # a policy wildcard, not a template
        "$aws/provisioning-templates/t/provision",  # no payload format
    ],
)
def test_only_exact_api_topics_are_provisioning_requests(topic: str) -> None:
    assert provisioning_request(topic) is None


def test_a_wildcard_pattern_still_names_its_api() -> None:
    """A policy's pattern parses as written: the review learns which API it reaches."""
    parsed = parse_reserved("$aws/provisioning-templates/sensors/provision/json*")
    assert parsed is not None
    assert parsed.api is ReservedApi.REGISTER_THING
    assert not parsed.exact
    assert parse_reserved("dt/x") is None
    assert parse_reserved("$aws") is None


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),  # '#' includes the parent level
        ("a/#", "a/b/c", True),
        ("#", "a/b", True),
        ("+/b", "a/b", True),
        ("#", "$aws/things/x/shadow/update", False),  # '$' topics need an explicit first level
        ("+/things/x", "$aws/things/x", False),
        ("$aws/things/+/shadow/#", "$aws/things/x/shadow/update/accepted", True),
        ("a/b", "a/b/c", False),
        ("a/b/c", "a/b", False),
        ("a//b", "a//b", True),  # empty levels are levels
    ],
)
def test_filter_matches(topic_filter: str, topic: str, expected: bool) -> None:
    assert filter_matches(topic_filter, topic) is expected


# Shadow topics and the broker's topic quotas -------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("$aws/things/dev-1/shadow/update", ("dev-1", None, "update", None)),
        ("$aws/things/dev-1/shadow/get/accepted", ("dev-1", None, "get", "accepted")),
        ("$aws/things/dev-1/shadow/name/cfg/update/delta", ("dev-1", "cfg", "update", "delta")),
        ("$aws/things/dev-1/shadow/get/delta", None),  # only update has delta and documents
        ("$aws/things/dev-1/shadow/get/+", None),  # a filter, not a topic
        ("$aws/things/dev-1/shadow/name/bad name/get", None),
        ("$aws/things/dev-1/shadow/update/accepted/extra", None),
        ("$aws/things/dev-1/jobs/get", None),
    ],
)
def test_parse_shadow(topic: str, expected: tuple[str, str | None, str, str | None] | None) -> None:
    parsed = topics.parse_shadow(topic)
    assert (None if parsed is None else (parsed.thing, parsed.shadow, parsed.operation, parsed.response)) == expected
    if parsed is not None:
        assert topics.shadow_topic(parsed.thing, parsed.shadow, parsed.operation, parsed.response) == topic


@pytest.mark.parametrize(
    ("topic", "problem"),
    [
        ("a/b/c/d/e/f/g/h", None),  # seven slashes
        ("a/b/c/d/e/f/g/h/i", "slashes"),
        ("$aws/things/t/shadow/name/n/update/accepted", None),  # AWS's own topics have eight
        ("$aws/rules/my_rule/a/b/c/d/e/f/g/h", None),  # Basic Ingest's prefix is not counted
        ("x" * 257, "256 bytes"),
        ("a/+/b", "wildcard"),
        ("", "empty"),
    ],
)
def test_topic_name_quotas(topic: str, problem: str | None) -> None:
    found = topics.topic_name_problem(topic)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(
    ("topic_filter", "problem"),
    [
        ("a/+/#", None),
        ("$share/group/a/b/c/d/e/f/g/h", None),  # the $share/<name>/ part is not counted
        ("a/#/b", "last"),
        ("a/b+", "whole level"),
        ("$share//a", "shared subscription name"),
        ("a/b/c/d/e/f/g/h/i", "slashes"),
    ],
)
def test_topic_filter_quotas(topic_filter: str, problem: str | None) -> None:
    found = topics.topic_filter_problem(topic_filter)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_exact_filters_are_the_ones_that_get_retained_messages() -> None:
    assert topics.is_exact_filter("a/b/c")
    assert not topics.is_exact_filter("a/+/c")
    assert not topics.is_exact_filter("a/#")
    assert not topics.is_exact_filter("$share/g/a/b")
