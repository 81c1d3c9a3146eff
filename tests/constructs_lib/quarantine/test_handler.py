"""The quarantine policy-attachment custom resource: create, update, delete, against moto's IoT.

Responses go over real HTTP to a local server standing in for CloudFormation's pre-signed URL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from constructs_lib.quarantine.runtime import handler as cr

DENY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iot:*", "Resource": "*"}]})


class Responses:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/response"
        # A short poll interval: shutdown() returns within it instead of serve_forever's 0.5 s.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    @property
    def last(self) -> dict[str, Any]:
        return self.bodies[-1]


@pytest.fixture
def responses() -> Iterator[Responses]:
    r = Responses()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def iot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("iot", region_name="eu-west-1")
        client.create_policy(policyName="quarantine", policyDocument=DENY)
        client.create_policy(policyName="quarantine-v2", policyDocument=DENY)
        monkeypatch.setattr(cr, "_client", client)
        yield client


def group(client: Any, name: str = "acme-dev-quarantine") -> str:
    arn: str = client.create_thing_group(thingGroupName=name)["thingGroupArn"]
    return arn


def event(kind: str, url: str, policy: str, target: str, physical: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/s/1",
        "RequestId": "req-1",
        "LogicalResourceId": "QuarantinePolicyAttachment",
        "ResourceType": "Custom::IotThingGroupPolicyAttachment",
        "ResourceProperties": {"ServiceToken": "arn", "PolicyName": policy, "ThingGroupArn": target},
    }
    if physical is not None:
        e["PhysicalResourceId"] = physical
    return e


def attached(client: Any, target: str) -> list[str]:
    return [p["policyName"] for p in client.list_attached_policies(target=target)["policies"]]


def test_create_attaches_and_answers_success(iot: Any, responses: Responses) -> None:
    arn = group(iot)
    cr.handler(event("Create", responses.url, "quarantine", arn), None)
    assert attached(iot, arn) == ["quarantine"]
    assert responses.last["Status"] == "SUCCESS"
    assert responses.last["PhysicalResourceId"] == f"quarantine|{arn}"
    assert responses.last["RequestId"] == "req-1"
    assert responses.last["LogicalResourceId"] == "QuarantinePolicyAttachment"


def test_create_when_already_attached_succeeds(iot: Any, responses: Responses) -> None:
    arn = group(iot)
    iot.attach_policy(policyName="quarantine", target=arn)
    cr.handler(event("Create", responses.url, "quarantine", arn), None)
    assert responses.last["Status"] == "SUCCESS"
    assert attached(iot, arn) == ["quarantine"]


def test_already_attached_error_from_the_api_counts_as_success(
    responses: Responses, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("iot", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    target = "arn:aws:iot:eu-west-1:123456789012:thinggroup/q"
    with Stubber(client) as stub:
        stub.add_client_error(
            "attach_policy",
            service_error_code="ResourceAlreadyExistsException",
            expected_params={"policyName": "quarantine", "target": target},
        )
        monkeypatch.setattr(cr, "_client", client)
        cr.handler(event("Create", responses.url, "quarantine", target), None)
        stub.assert_no_pending_responses()
    assert responses.last["Status"] == "SUCCESS"


def test_create_with_missing_policy_fails_and_still_answers(iot: Any, responses: Responses) -> None:
    arn = group(iot)
    cr.handler(event("Create", responses.url, "no-such-policy", arn), None)
    assert responses.last["Status"] == "FAILED"
    assert "ResourceNotFoundException" in responses.last["Reason"]


def test_update_to_another_policy_then_delete_of_the_old_pair(iot: Any, responses: Responses) -> None:
    arn = group(iot)
    cr.handler(event("Create", responses.url, "quarantine", arn), None)
    old = responses.last["PhysicalResourceId"]
    cr.handler(event("Update", responses.url, "quarantine-v2", arn, physical=old), None)
    new = responses.last["PhysicalResourceId"]
    assert responses.last["Status"] == "SUCCESS"
    assert new != old
    assert sorted(attached(iot, arn)) == ["quarantine", "quarantine-v2"]
    # CloudFormation follows a replaced physical ID with a Delete of the old one.
    cr.handler(event("Delete", responses.url, "quarantine", arn, physical=old), None)
    assert responses.last["Status"] == "SUCCESS"
    assert attached(iot, arn) == ["quarantine-v2"]


def test_update_without_change_keeps_the_physical_id(iot: Any, responses: Responses) -> None:
    arn = group(iot)
    cr.handler(event("Create", responses.url, "quarantine", arn), None)
    physical = responses.last["PhysicalResourceId"]
    cr.handler(event("Update", responses.url, "quarantine", arn, physical=physical), None)
    assert responses.last["PhysicalResourceId"] == physical
    assert attached(iot, arn) == ["quarantine"]


def test_delete_detaches(iot: Any, responses: Responses) -> None:
    arn = group(iot)
    cr.handler(event("Create", responses.url, "quarantine", arn), None)
    cr.handler(event("Delete", responses.url, "quarantine", arn, physical=responses.last["PhysicalResourceId"]), None)
    assert responses.last["Status"] == "SUCCESS"
    assert attached(iot, arn) == []


def test_delete_when_the_group_is_already_gone_succeeds(iot: Any, responses: Responses) -> None:
    arn = group(iot)
    cr.handler(event("Create", responses.url, "quarantine", arn), None)
    physical = responses.last["PhysicalResourceId"]
    iot.delete_thing_group(thingGroupName="acme-dev-quarantine")
    cr.handler(event("Delete", responses.url, "quarantine", arn, physical=physical), None)
    assert responses.last["Status"] == "SUCCESS"


def test_delete_after_a_failed_create_does_nothing(iot: Any, responses: Responses) -> None:
    cr.handler(event("Delete", responses.url, "quarantine", "x", physical="QuarantinePolicyAttachment"), None)
    assert responses.last["Status"] == "SUCCESS"
    assert responses.last["PhysicalResourceId"] == "QuarantinePolicyAttachment"
