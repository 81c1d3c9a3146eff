"""Intent assertions on the fleet provisioning stack (Match/Capture, no hard-coded logical IDs)."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Capture, Match, Template

from iot_semantics import limits
from iot_semantics.policy_match import resource_matches
from tests.conftest import WORST_PSEUDO, Synth, render_arn, render_document, resources_of

THING_VAR = "${iot:Connection.Thing.ThingName}"


def _bodies(synth: Synth, pseudo: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Every template's body as CloudFormation renders it (a core fleet's body holds the ARN prefix)."""
    tpl = synth.templates["fleet_provisioning"]
    return {
        r["Properties"]["TemplateName"]: json.loads(
            render_arn(r["Properties"]["TemplateBody"], *([pseudo] if pseudo else []))
        )
        for r in resources_of(tpl, "AWS::IoT::ProvisioningTemplate").values()
    }


def _iot_policies(synth: Synth, suffix: str) -> dict[str, dict[str, Any]]:
    tpl = synth.templates["fleet_provisioning"]
    return {
        r["Properties"]["PolicyName"]: r["Properties"]["PolicyDocument"]
        for r in resources_of(tpl, "AWS::IoT::Policy").values()
        if r["Properties"]["PolicyName"].endswith(suffix)
    }


def _resources(statement: dict[str, Any]) -> list[str]:
    res = statement["Resource"]
    return [render_arn(r) for r in (res if isinstance(res, list) else [res])]


class TestProvisioningTemplates:
    def test_one_template_per_fleet_with_hook_and_payload_version(self, synth: Synth, provisioning: Template) -> None:
        provisioning.resource_count_is("AWS::IoT::ProvisioningTemplate", len(synth.config.fleets))
        for fleet in synth.config.fleets:
            provisioning.has_resource_properties(
                "AWS::IoT::ProvisioningTemplate",
                {
                    "TemplateName": synth.config.template_name_of(fleet),
                    "TemplateType": "FLEET_PROVISIONING",
                    "Enabled": True,
                    "PreProvisioningHook": {"PayloadVersion": "2020-04-01", "TargetArn": Match.any_value()},
                    "ProvisioningRoleArn": Match.any_value(),
                },
            )

    def test_body_builds_thing_certificate_and_policy_from_config(self, synth: Synth) -> None:
        bodies = _bodies(synth)
        sensors = bodies["acme-dev-sensors"]
        assert set(sensors["Parameters"]) == {"SerialNumber", "MacAddress", "AWS::IoT::Certificate::Id"}
        thing = sensors["Resources"]["thing"]
        assert thing["Properties"]["ThingName"] == {"Fn::Join": ["", ["sensor-", {"Ref": "SerialNumber"}]]}
        assert thing["Properties"]["ThingTypeName"] == "acme-dev-env-sensor"
        assert thing["Properties"]["ThingGroups"] == ["acme-dev-plant-a-sensors"]
        assert thing["Properties"]["AttributePayload"]["serial"] == {"Ref": "SerialNumber"}
        assert thing["OverrideSettings"] == {
            "AttributePayload": "MERGE",
            "ThingTypeName": "REPLACE",
            "ThingGroups": "MERGE",
        }
        cert = sensors["Resources"]["certificate"]
        assert cert["Properties"] == {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}
        assert sensors["Resources"]["policy"]["Properties"] == {"PolicyName": "acme-dev-sensors-device"}
        gateways = bodies["acme-dev-gateways"]
        assert gateways["Parameters"]["SiteCode"] == {"Type": "String", "Default": "pla01"}

    def test_body_uses_only_documented_intrinsics_and_fits(self, synth: Synth) -> None:
        allowed = {"Ref", "Fn::Join", "Fn::Sub", "Fn::Select", "Fn::Split", "Fn::FindInMap"}

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key.startswith("Fn::") or key == "Ref":
                        assert key in allowed
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        for r in resources_of(synth.templates["fleet_provisioning"], "AWS::IoT::ProvisioningTemplate").values():
            body = r["Properties"]["TemplateBody"]
            if not isinstance(body, str):
                # Only a core fleet's per-device policy names the region and account: CloudFormation
                # joins them in; no other intrinsic reaches the body.
                assert set(body) == {"Fn::Join"}
                refs = [p["Ref"] for p in body["Fn::Join"][1] if isinstance(p, dict)]
                assert set(refs) <= {"AWS::Partition", "AWS::Region", "AWS::AccountId"}, refs
            text = render_arn(body, WORST_PSEUDO)
            assert len(text) <= limits.TEMPLATE_BODY_MAX_CHARS
            walk(json.loads(text))

    def test_template_waits_for_what_its_body_names(self, provisioning: Template) -> None:
        template = provisioning.find_resources("AWS::IoT::ProvisioningTemplate")
        types = provisioning.find_resources("AWS::IoT::ThingType")
        groups = provisioning.find_resources("AWS::IoT::ThingGroup")
        policies = provisioning.find_resources("AWS::IoT::Policy")
        for resource in template.values():
            deps = set(resource["DependsOn"])
            assert deps & set(types)
            assert deps & set(groups)
            body = resource["Properties"]["TemplateBody"]
            if isinstance(body, str):  # a named device policy (a core fleet's body carries its own)
                assert deps & set(policies)


class TestHook:
    def test_latest_python_runtime_and_timeout_below_budget(self, provisioning: Template) -> None:
        functions = provisioning.find_resources("AWS::Lambda::Function")
        assert len(functions) == 3  # one hook per fleet
        for fn in functions.values():
            props = fn["Properties"]
            assert props["Runtime"] == "python3.14"
            assert props["Timeout"] < limits.PRE_PROVISIONING_HOOK_BUDGET_SECONDS
            assert props["Handler"] == "handler.handler"
            assert set(props["Environment"]["Variables"]) >= {"ALLOWLIST_TABLE", "FLEET_NAME", "PARAMETER_PATTERNS"}

    def test_invoke_permission_scoped_by_template_arn_and_account(self, synth: Synth, provisioning: Template) -> None:
        permissions = provisioning.find_resources("AWS::Lambda::Permission")
        arns = set()
        for permission in permissions.values():
            props = permission["Properties"]
            assert props["Principal"] == "iot.amazonaws.com"
            assert props["SourceAccount"] == {"Ref": "AWS::AccountId"}
            arns.add(render_arn(props["SourceArn"]))
        assert arns == {
            f"arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/{synth.config.template_name_of(f)}"
            for f in synth.config.fleets
        }

    def test_hook_role_limited_to_its_fleet_partition(self, provisioning: Template) -> None:
        leading = Capture()
        provisioning.has_resource_properties(
            "AWS::IAM::Policy",
            {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                                    "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": leading}},
                                }
                            )
                        ]
                    )
                }
            },
        )
        assert leading.as_array() in (["sensors"], ["gateways"])


class TestAllowlist:
    def test_table_encrypted_with_cmk_and_recoverable(self, provisioning: Template) -> None:
        provisioning.has_resource_properties(
            "AWS::DynamoDB::Table",
            {
                "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "KeySchema": [
                    {"AttributeName": "fleet", "KeyType": "HASH"},
                    {"AttributeName": "serial", "KeyType": "RANGE"},
                ],
                "DeletionProtectionEnabled": True,
            },
        )
        provisioning.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


class TestRoles:
    def test_no_aws_iot_things_registration_anywhere(self, synth: Synth) -> None:
        assert "AWSIoTThingsRegistration" not in json.dumps(synth.templates)

    def test_provisioning_role_trust_has_confused_deputy_conditions(self, provisioning: Template) -> None:
        provisioning.has_resource_properties(
            "AWS::IAM::Role",
            {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {
                            "Action": "sts:AssumeRole",
                            "Effect": "Allow",
                            "Principal": {"Service": "iot.amazonaws.com"},
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                "ArnLike": {"aws:SourceArn": Match.any_value()},
                            },
                        }
                    ]
                }
            },
        )

    def test_provisioning_policies_name_fleet_resources(self, synth: Synth) -> None:
        tpl = synth.templates["fleet_provisioning"]
        text = json.dumps(tpl)
        assert ":thing/sensor-*" in text
        assert ":thing/gw-*" in text
        assert ":policy/acme-dev-sensors-device" in text
        for policy in resources_of(tpl, "AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                for resource in _resources(statement):
                    assert resource != "*", f"{statement.get('Sid')} grants on *"
                assert "iot:*" not in statement["Action"]

    def test_factory_operator_can_only_create_claims_for_its_templates(self, synth: Synth) -> None:
        tpl = synth.templates["fleet_provisioning"]
        operator = [
            p
            for p in resources_of(tpl, "AWS::IAM::Policy").values()
            if "iot:CreateProvisioningClaim" in json.dumps(p["Properties"]["PolicyDocument"])
        ]
        assert len(operator) == 1
        (statement,) = operator[0]["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Action"] == "iot:CreateProvisioningClaim"
        assert sorted(_resources(statement)) == sorted(
            f"arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/{synth.config.template_name_of(f)}"
            for f in synth.config.fleets
            if f.provisioning.trusted_user
        )


class TestDevicePolicies:
    def test_each_fleet_has_a_device_policy_within_quota(self, synth: Synth) -> None:
        policies = _iot_policies(synth, "-device")
        assert set(policies) == {
            synth.config.device_policy_name_of(f) for f in synth.config.fleets if f.kind == "device"
        }
        for document in policies.values():
            rendered = render_document(document, WORST_PSEUDO)
            assert limits.non_whitespace_length(rendered) <= limits.POLICY_DOCUMENT_MAX_NON_WHITESPACE

    def test_connect_bound_to_thing_name_attached_and_type(self, synth: Synth) -> None:
        for name, document in _iot_policies(synth, "-device").items():
            connects = [s for s in document["Statement"] if s["Action"] == "iot:Connect"]
            assert len(connects) == 1, name
            assert _resources(connects[0]) == [f"arn:aws:iot:eu-west-1:123456789012:client/{THING_VAR}"]
            condition = connects[0]["Condition"]
            assert condition["Bool"] == {"iot:Connection.Thing.IsAttached": "true"}
            assert condition["StringEquals"]["iot:Connection.Thing.ThingTypeName"].startswith("acme-dev-")

    def test_no_bare_star_except_under_own_thing_name(self, synth: Synth) -> None:
        for name, document in _iot_policies(synth, "-device").items():
            for statement in document["Statement"]:
                for resource in _resources(statement):
                    if statement["Action"] == "greengrass:Discover":
                        # HTTPS: no thing variables; the fleet's fixed name start scopes it.
                        assert resource == "arn:aws:iot:eu-west-1:123456789012:thing/sensor-*", resource
                        continue
                    if resource.endswith("*"):
                        assert resource.endswith(f"/{THING_VAR}/*") or f"/{THING_VAR}/" in resource, (name, resource)
                    assert "+" not in resource
                    assert "#" not in resource

    def test_subscribe_uses_topicfilter_publish_and_receive_use_topic(self, synth: Synth) -> None:
        kinds = {"iot:Subscribe": ":topicfilter/", "iot:Publish": ":topic/", "iot:Receive": ":topic/"}
        for document in _iot_policies(synth, "-device").values():
            for statement in document["Statement"]:
                if statement["Action"] in kinds:
                    assert all(kinds[statement["Action"]] in r for r in _resources(statement))

    def test_device_cannot_reach_a_prefix_related_device(self, synth: Synth) -> None:
        """dev-1's policy, substituted, must not match any topic of dev-10 (and vice versa)."""
        for document in _iot_policies(synth, "-device").values():
            for me, other in (("sensor-DEV00001", "sensor-DEV000010"), ("sensor-DEV000010", "sensor-DEV00001")):
                variables = {"iot:Connection.Thing.ThingName": me}
                witnesses = [
                    f"arn:aws:iot:eu-west-1:123456789012:{kind}/{topic}"
                    for kind in ("topic", "topicfilter")
                    for topic in (
                        f"dt/sensors/{other}/telemetry",
                        f"dt/gateways/{other}/x",
                        f"cmd/sensors/{other}/reboot",
                        f"$aws/things/{other}/shadow/update",
                        f"$aws/things/{other}/jobs/notify-next",
                        f"$aws/things/{other}/defender/metrics/json",
                        f"$aws/things/{other}/tunnels/notify",
                        "$aws/things/+/shadow/update",
                        "dt/sensors/#",
                    )
                ] + [f"arn:aws:iot:eu-west-1:123456789012:client/{other}"]
                for statement in document["Statement"]:
                    for pattern in _resources(statement):
                        for witness in witnesses:
                            assert not resource_matches(pattern, witness, variables), (pattern, witness)
                own = f"arn:aws:iot:eu-west-1:123456789012:topic/$aws/things/{me}/shadow/update"
                assert any(resource_matches(p, own, variables) for s in document["Statement"] for p in _resources(s))


class TestClaim:
    def test_claim_policy_per_claim_fleet_with_exact_topics(self, synth: Synth) -> None:
        policies = _iot_policies(synth, "-claim")
        claim_fleets = [f for f in synth.config.fleets if f.provisioning.by_claim]
        assert set(policies) == {synth.config.claim_policy_name_of(f) for f in claim_fleets}
        for fleet in claim_fleets:
            document = policies[synth.config.claim_policy_name_of(fleet)]
            template = synth.config.template_name_of(fleet)
            by_action = {s["Action"]: _resources(s) for s in document["Statement"]}
            prefix = "arn:aws:iot:eu-west-1:123456789012:"
            requests = [
                "$aws/certificates/create-from-csr/json",
                f"$aws/provisioning-templates/{template}/provision/json",
            ]
            responses = [f"{r}/{x}" for r in requests for x in ("accepted", "rejected")]
            assert by_action["iot:Publish"] == [f"{prefix}topic/{t}" for t in requests]
            assert by_action["iot:Subscribe"] == [f"{prefix}topicfilter/{t}" for t in responses]
            assert by_action["iot:Receive"] == [f"{prefix}topic/{t}" for t in responses]
            assert by_action["iot:Connect"] == [f"{prefix}client/{synth.config.claim_prefix_of(fleet)}*"]

    def test_claim_policies_never_allow_connect_on_star(self, synth: Synth) -> None:
        for document in _iot_policies(synth, "-claim").values():
            for statement in document["Statement"]:
                if statement["Action"] == "iot:Connect":
                    assert all(not r.endswith(":*") and r != "*" for r in _resources(statement))

    def test_claim_certificate_from_csr_attached_to_claim_policy(self, provisioning: Template) -> None:
        provisioning.resource_count_is("AWS::IoT::Certificate", 1)
        provisioning.has_resource_properties(
            "AWS::IoT::Certificate",
            {"Status": "ACTIVE", "CertificateSigningRequest": Match.string_like_regexp("BEGIN CERTIFICATE REQUEST")},
        )
        provisioning.has_resource_properties(
            "AWS::IoT::PolicyPrincipalAttachment",
            {"PolicyName": {"Ref": Match.string_like_regexp("ClaimPolicy")}, "Principal": Match.any_value()},
        )

    def test_outputs_have_stable_names(self, provisioning: Template) -> None:
        outputs = provisioning.find_outputs("*")
        for key in (
            "FleetSensorsTemplateName",
            "FleetGatewaysTemplateName",
            "FleetSensorsClaimCertificateId",
            "FleetSensorsClaimClientIdPrefix",
            "FleetSensorsParameterPatterns",
            "AllowlistTableName",
            "FactoryOperatorRoleArn",
        ):
            assert key in outputs, key
        assert "FleetGatewaysClaimCertificateId" not in outputs


class TestRegistry:
    def test_thing_types_and_group_hierarchy(self, provisioning: Template) -> None:
        provisioning.has_resource_properties(
            "AWS::IoT::ThingType",
            {
                "ThingTypeName": "acme-dev-env-sensor",
                "ThingTypeProperties": {
                    "SearchableAttributes": ["serial", "model"],
                    "ThingTypeDescription": Match.any_value(),
                },
            },
        )
        provisioning.has_resource_properties(
            "AWS::IoT::ThingGroup",
            {"ThingGroupName": "acme-dev-plant-a-sensors", "ParentGroupName": "acme-dev-plant-a"},
        )
        provisioning.resource_count_is("AWS::IoT::ThingGroup", 4)
