"""Intent assertions on the Greengrass core fleet and the tunneling operator role of the example synth."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match, Template

from contracts import outputs
from iot_semantics import limits
from iot_semantics.policy_eval import Context
from iot_semantics.policy_eval import evaluate as evaluate_policies
from iot_semantics.policy_match import resource_matches
from iot_semantics.template_eval import evaluate
from tests.conftest import SAMPLE_PSEUDO, WORST_PSEUDO, Synth, render_arn, render_document, resources_of

ARN = "arn:aws:iot:eu-west-1:123456789012"


def _role_with_policy(synth: Synth, needle: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the role's trust document, the statements of the inline policy holding ``needle``)."""
    tpl = synth.templates["fleet_provisioning"]
    (policy,) = [p for p in resources_of(tpl, "AWS::IAM::Policy").values() if needle in json.dumps(p["Properties"])]
    (role_ref,) = policy["Properties"]["Roles"]
    role = tpl["Resources"][role_ref["Ref"]]
    document = render_document(policy["Properties"]["PolicyDocument"])
    return render_document(role["Properties"]["AssumeRolePolicyDocument"]), document["Statement"]


def _core_policy(synth: Synth, pseudo: dict[str, str] = SAMPLE_PSEUDO) -> dict[str, Any]:
    tpl = synth.templates["fleet_provisioning"]
    (template,) = [
        r
        for r in resources_of(tpl, "AWS::IoT::ProvisioningTemplate").values()
        if r["Properties"]["TemplateName"] == "acme-dev-cores"
    ]
    body: dict[str, Any] = json.loads(render_arn(template["Properties"]["TemplateBody"], pseudo))
    policy = body["Resources"]["policy"]["Properties"]
    assert set(policy) == {"PolicyDocument"}, "each core gets its own policy, not a shared one"
    return body


def _document_for(body: dict[str, Any], thing: str) -> dict[str, Any]:
    """The core's policy as AWS IoT evaluates the template for ``thing`` (core-<site>-<serial>)."""
    _, site, serial = thing.split("-")
    plan = evaluate(body, {"SerialNumber": serial, "SiteCode": site, "AWS::IoT::Certificate::Id": "c" * 64})
    (policy,) = plan.policies
    assert policy.document is not None
    return dict(policy.document)


def _allows(document: dict[str, Any], action: str, resource: str) -> bool:
    return any(
        s["Effect"] == "Allow"
        and action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        and any(
            resource_matches(r, resource, {})
            for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        )
        for s in document["Statement"]
    )


class TestTokenExchangeRole:
    def test_trusted_by_the_credentials_provider_with_confused_deputy_conditions(self, synth: Synth) -> None:
        trust, _ = _role_with_policy(synth, "/aws/greengrass/")
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Service": "credentials.iot.amazonaws.com"}
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": "123456789012"},
            "ArnLike": {"aws:SourceArn": f"{ARN}:*"},
        }

    def test_logs_only_on_greengrass_log_groups_and_s3_only_on_configured_prefixes(self, synth: Synth) -> None:
        _, statements = _role_with_policy(synth, "/aws/greengrass/")
        resources = {
            r for s in statements for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        }
        assert "*" not in resources
        logs = [r for r in resources if ":logs:" in r]
        assert all(r.startswith("arn:aws:logs:eu-west-1:123456789012:log-group:/aws/greengrass/") for r in logs)
        s3 = sorted(r for r in resources if ":s3:" in r)
        assert s3 == [
            "arn:aws:s3:::acme-dev-greengrass-components",
            "arn:aws:s3:::acme-dev-greengrass-components/components/*",
            "arn:aws:s3:::acme-dev-greengrass-components/devices/${credentials-iot:ThingName}/*",
        ]
        actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert actions == {
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "logs:DescribeLogStreams",
            "s3:GetBucketLocation",
            "s3:GetObject",
        }

    def test_role_alias_duration_within_the_roles_session(self, provisioning: Template) -> None:
        (alias,) = provisioning.find_resources("AWS::IoT::RoleAlias").values()
        props = alias["Properties"]
        assert props["RoleAlias"] == "acme-dev-cores-tes"
        role = provisioning.find_resources("AWS::IAM::Role")[props["RoleArn"]["Fn::GetAtt"][0]]
        assert props["CredentialDurationSeconds"] <= role["Properties"]["MaxSessionDuration"]
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "credentials.iot.amazonaws.com"
        }


class TestCorePolicy:
    def test_minimal_core_policy_within_quota_for_the_longest_name(self, synth: Synth) -> None:
        body = _core_policy(synth, WORST_PSEUDO)
        document = _document_for(body, "core-zzz99-GC99999999")
        assert limits.non_whitespace_length(document) <= limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE
        actions = {
            a for s in document["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        assert not any(a.endswith("*") for a in actions), actions
        assert {a for a in actions if a.startswith("greengrass:")} == {
            "greengrass:GetComponentVersionArtifact",
            "greengrass:ResolveComponentCandidates",
            "greengrass:GetDeploymentConfiguration",
            "greengrass:ListThingGroupsForCoreDevice",
            "greengrass:PutCertificateAuthorities",
            "greengrass:VerifyClientDeviceIdentity",
            "greengrass:GetConnectivityInfo",
            "greengrass:UpdateConnectivityInfo",
            "greengrass:VerifyClientDeviceIoTCertificateAssociation",
        }

    def test_assume_role_with_certificate_on_exactly_the_role_alias(self, synth: Synth) -> None:
        document = _document_for(_core_policy(synth), "core-pla01-GC00000001")
        (statement,) = [s for s in document["Statement"] if s["Action"] == "iot:AssumeRoleWithCertificate"]
        assert statement["Resource"] == f"{ARN}:rolealias/acme-dev-cores-tes"
        assert not _allows(document, "iot:AssumeRoleWithCertificate", f"{ARN}:rolealias/acme-dev-cores-tes2")

    def test_a_core_reaches_nothing_of_a_prefix_related_core(self, synth: Synth) -> None:
        """core-pla01-GC0000001 vs core-pla01-GC00000010: the names share a prefix."""
        body = _core_policy(synth)
        me, other = "core-pla01-GC0000001", "core-pla01-GC00000010"
        mine = _document_for(body, me)
        for thing, allowed in ((me, True), (other, False)):
            probes = [
                ("iot:Connect", f"{ARN}:client/{thing}"),
                ("iot:Connect", f"{ARN}:client/{thing}#2"),
                ("iot:Publish", f"{ARN}:topic/$aws/things/{thing}/shadow/update"),
                ("iot:Publish", f"{ARN}:topic/$aws/things/{thing}/greengrassv2/health/json"),
                ("iot:Subscribe", f"{ARN}:topicfilter/$aws/things/{thing}/jobs/notify-next"),
                ("iot:Receive", f"{ARN}:topic/$aws/things/{thing}/shadow/get/accepted"),
                ("iot:Publish", f"{ARN}:topic/dt/cores/{thing}/telemetry"),
                ("greengrass:ListThingGroupsForCoreDevice", f"{ARN}:thing/{thing}"),
            ]
            for action, resource in probes:
                assert _allows(mine, action, resource) is allowed, (action, resource)

    def test_core_serves_only_the_sensors_as_client_devices(self, synth: Synth) -> None:
        document = _document_for(_core_policy(synth), "core-pla01-GC00000001")
        verify = "greengrass:VerifyClientDeviceIoTCertificateAssociation"
        assert _allows(document, verify, f"{ARN}:thing/sensor-SN1")
        assert not _allows(document, verify, f"{ARN}:thing/gw-pla01-GW0000000001")


class TestDevicePoliciesForEdgeAccess:
    def _device(self, synth: Synth, fleet: str) -> dict[str, Any]:
        tpl = synth.templates["fleet_provisioning"]
        (doc,) = [
            r["Properties"]["PolicyDocument"]
            for r in resources_of(tpl, "AWS::IoT::Policy").values()
            if r["Properties"]["PolicyName"] == f"acme-dev-{fleet}-device"
        ]
        rendered: dict[str, Any] = render_document(doc)
        return rendered

    def test_tunnel_notify_only_of_the_own_thing(self, synth: Synth) -> None:
        doc = self._device(synth, "gateways")
        me = "${iot:Connection.Thing.ThingName}"
        subscribe = next(s for s in doc["Statement"] if s["Action"] == "iot:Subscribe")["Resource"]
        notify = [r for r in subscribe if "tunnels" in r]
        assert notify == [f"{ARN}:topicfilter/$aws/things/{me}/tunnels/notify"]
        receive = next(s for s in doc["Statement"] if s["Action"] == "iot:Receive")["Resource"]
        assert all(f"/{me}/" in r for r in receive), receive

    def test_gateways_connect_only_while_their_site_attribute_is_allowed(self, synth: Synth) -> None:
        doc = self._device(synth, "gateways")
        (connect,) = [s for s in doc["Statement"] if s["Action"] == "iot:Connect"]
        assert connect["Condition"]["StringEquals"]["iot:Connection.Thing.Attributes[site]"] == ["pla01", "pla02"]

    def test_the_site_attribute_decides_whether_a_gateway_connects(self, synth: Synth) -> None:
        """Evaluated as AWS IoT (and the double) evaluate it: the registry's value, not the device's claim."""
        doc = self._device(synth, "gateways")
        thing = "gw-pla01-GW0000000001"
        resource = f"{ARN}:client/{thing}"

        def connect(site: str | None) -> bool:
            context = Context(
                client_id=thing,
                thing_name=thing,
                thing_type="acme-dev-edge-gateway",
                thing_attributes={} if site is None else {"site": site},
                is_attached=True,
            )
            return evaluate_policies([doc], "iot:Connect", resource, context).allowed

        assert connect("pla01")
        assert connect("pla02")
        assert not connect("plz09"), "a site outside the list is refused"
        assert not connect(None), "a thing without the attribute is refused"

    def test_site_comes_from_the_allowlist_through_the_hook(self, synth: Synth, provisioning: Template) -> None:
        provisioning.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Environment": {
                    "Variables": Match.object_like({"FLEET_NAME": "gateways", "TRUSTED_PARAMETERS": '["SiteCode"]'})
                }
            },
        )
        body = json.loads(
            next(
                r["Properties"]["TemplateBody"]
                for r in resources_of(synth.templates["fleet_provisioning"], "AWS::IoT::ProvisioningTemplate").values()
                if r["Properties"]["TemplateName"] == "acme-dev-gateways"
            )
        )
        thing = body["Resources"]["thing"]
        assert thing["Properties"]["AttributePayload"]["site"] == {"Ref": "SiteCode"}
        # A re-provisioned gateway gets the trusted value again (MERGE writes the template's attributes).
        assert thing["OverrideSettings"]["AttributePayload"] == "MERGE"

    def test_sensors_may_discover_cores(self, synth: Synth) -> None:
        doc = self._device(synth, "sensors")
        (discover,) = [s for s in doc["Statement"] if s["Action"] == "greengrass:Discover"]
        assert discover["Resource"] == f"{ARN}:thing/sensor-*"


class TestTunnelOperator:
    def test_trust_requires_mfa(self, synth: Synth) -> None:
        trust, _ = _role_with_policy(synth, "iot:OpenTunnel")
        (statement,) = trust["Statement"]
        assert statement["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}

    def test_open_and_rotate_only_for_the_gateway_group_and_ssh(self, synth: Synth) -> None:
        _, statements = _role_with_policy(synth, "iot:OpenTunnel")
        by_action = {s["Action"] if isinstance(s["Action"], str) else tuple(sorted(s["Action"])): s for s in statements}
        group = f"{ARN}:thinggroup/acme-dev-plant-a-gateways"
        for action in ("iot:OpenTunnel", "iot:RotateTunnelAccessToken"):
            condition = by_action[action]["Condition"]
            assert condition["ForAnyValue:StringEquals"] == {"iot:ThingGroupArn": [group]}
            assert condition["ForAllValues:StringEquals"]["iot:TunnelDestinationService"] == ["SSH"]
            assert condition["Null"] == {"iot:TunnelDestinationService": "false", "iot:ThingGroupArn": "false"}
            assert by_action[action]["Resource"] == f"{ARN}:tunnel/*"
        assert by_action["iot:OpenTunnel"]["Condition"]["StringEquals"] == {
            "aws:RequestTag/tunnel-scope": "acme-dev-tunnels"
        }
        describe_close = by_action[("iot:CloseTunnel", "iot:DescribeTunnel")]
        assert describe_close["Condition"]["StringEquals"] == {"aws:ResourceTag/tunnel-scope": "acme-dev-tunnels"}
        assert not any("iot:ListTunnels" in json.dumps(s) for s in statements)

    def test_output_names_the_role(self, synth: Synth) -> None:
        values = synth.templates["fleet_provisioning"]["Outputs"]
        assert outputs.TUNNEL_OPERATOR_ROLE_ARN in values


def test_core_fleet_outputs(synth: Synth) -> None:
    values = synth.templates["fleet_provisioning"]["Outputs"]
    for output, expected in (
        (outputs.FleetOutput.KIND, outputs.KIND_GREENGRASS_CORE),
        (outputs.FleetOutput.ROLE_ALIAS_NAME, "acme-dev-cores-tes"),
        (outputs.FleetOutput.CORE_THING_GROUP, "acme-dev-plant-a-cores"),
    ):
        assert values[outputs.fleet_key("cores", output)]["Value"] == expected
    assert "Fn::GetAtt" in values[outputs.fleet_key("cores", outputs.FleetOutput.TOKEN_EXCHANGE_ROLE_ARN)]["Value"]
    assert values[outputs.fleet_key("sensors", outputs.FleetOutput.KIND)]["Value"] == outputs.KIND_DEVICE
    assert outputs.fleet_key("cores", outputs.FleetOutput.DEVICE_POLICY_NAME) not in values
