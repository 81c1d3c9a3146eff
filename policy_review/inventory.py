"""Every IoT and IAM policy of a cloud assembly (or one template), found structurally."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from iot_semantics.template_eval import TemplateError, parse_body
from policy_review.model import Inventory, LambdaPermission, Policy, RoleAlias, Template
from policy_review.resolve import readable


def _templates(target: Path) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(stack, template, logical ID -> construct path) for a template file or a cloud assembly."""
    if target.is_file():
        return [(target.stem.removesuffix(".template"), json.loads(target.read_text()), {})]
    manifest = json.loads((target / "manifest.json").read_text())
    out = []
    for name, artifact in sorted(manifest.get("artifacts", {}).items()):
        if artifact.get("type") == "aws:cloudformation:stack":
            metadata = dict(artifact.get("metadata") or {})
            if extra := artifact.get("additionalMetadataFile"):  # newer assemblies keep it beside the manifest
                metadata.update(json.loads((target / extra).read_text()))
            paths = {
                str(entry["data"]): path
                for path, entries in metadata.items()
                for entry in entries
                if entry.get("type") == "aws:cdk:logicalId"
            }
            out.append((name, json.loads((target / artifact["properties"]["templateFile"]).read_text()), paths))
    return out


def load(target: Path) -> Inventory:
    inv = Inventory()
    for stack, template, paths in _templates(target):
        _stack(inv, stack, template, paths)
    return inv


def _stack(inv: Inventory, stack: str, template: dict[str, Any], paths: dict[str, str]) -> None:
    resources: dict[str, Any] = template.get("Resources", {})

    def _path(resource: dict[str, Any], logical: str) -> str:
        return str(resource.get("Metadata", {}).get("aws:cdk:path") or paths.get(logical, logical)).lstrip("/")

    iot_names: dict[str, str] = {}
    for logical, resource in resources.items():
        kind, props, path = resource.get("Type"), resource.get("Properties", {}), _path(resource, logical)
        if kind == "AWS::IoT::Policy":
            document = readable(props.get("PolicyDocument", {}))
            if isinstance(document, str):
                document = json.loads(document)
            name = props.get("PolicyName") or logical
            iot_names[name] = logical
            inv.policies.append(Policy("iot", name, stack, logical, path, document, kind))
        elif kind == "AWS::IAM::Role":
            inv.policies.append(
                Policy(
                    "trust",
                    f"{logical} trust",
                    stack,
                    logical,
                    path,
                    readable(props.get("AssumeRolePolicyDocument", {})),
                    kind,
                )
            )
            for inline in props.get("Policies", []) or []:
                inv.policies.append(
                    Policy(
                        "iam",
                        inline.get("PolicyName", logical),
                        stack,
                        logical,
                        path,
                        readable(inline["PolicyDocument"]),
                        kind,
                        roles=(logical,),
                    )
                )
            for arn in props.get("ManagedPolicyArns", []) or []:
                managed = str(readable(arn))
                inv.policies.append(
                    Policy(
                        "iam",
                        managed,
                        stack,
                        logical,
                        path,
                        {"Statement": [], "ManagedPolicyArn": managed},
                        "managed",
                        roles=(logical,),
                    )
                )
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            name = str(props.get("PolicyName") or props.get("ManagedPolicyName") or logical)
            document = readable(props.get("PolicyDocument", {}))
            roles = tuple(r["Ref"] for r in props.get("Roles", []) or [] if isinstance(r, dict) and "Ref" in r)
            inv.policies.append(Policy("iam", name, stack, logical, path, document, kind, roles=roles))
        elif kind == "AWS::IoT::RoleAlias":
            arn = props.get("RoleArn")
            role = arn["Fn::GetAtt"][0] if isinstance(arn, dict) and "Fn::GetAtt" in arn else None
            duration = props.get("CredentialDurationSeconds")
            inv.role_aliases.append(
                RoleAlias(
                    str(readable(props.get("RoleAlias", logical))),
                    stack,
                    logical,
                    path,
                    role,
                    str(readable(arn)),
                    int(duration) if isinstance(duration, int | str) and str(duration).isdigit() else None,
                )
            )
        elif kind == "AWS::Lambda::Permission":
            inv.permissions.append(
                LambdaPermission(
                    stack, logical, path, str(readable(props.get("FunctionName"))), str(props.get("Principal")),
                    readable(props["SourceArn"]) if "SourceArn" in props else None,
                    readable(props["SourceAccount"]) if "SourceAccount" in props else None,
                )
            )  # fmt: skip
    for logical, resource in resources.items():
        if resource.get("Type") != "AWS::IoT::ProvisioningTemplate":
            continue
        props, path = resource.get("Properties", {}), _path(resource, logical)
        try:
            body = parse_body(props.get("TemplateBody", "{}"))
        except TemplateError:
            body = {}
        names: list[str] = []
        for res_logical, res in body.get("Resources", {}).items():
            if res.get("Type") != "AWS::IoT::Policy":
                continue
            res_props = res.get("Properties", {})
            if "PolicyName" in res_props:
                names.append(str(res_props["PolicyName"]))
            elif "PolicyDocument" in res_props:
                doc = res_props["PolicyDocument"]
                doc = json.loads(doc) if isinstance(doc, str) else doc
                embedded = f"{props.get('TemplateName', logical)}/{res_logical}"
                names.append(embedded)
                inv.policies.append(Policy("iot", embedded, stack, logical, path, doc, "template-body", role="device"))
        hook = props.get("PreProvisioningHook") or {}
        target = hook.get("TargetArn")
        function = target["Fn::GetAtt"][0] if isinstance(target, dict) and "Fn::GetAtt" in target else None
        inv.templates.append(
            Template(
                str(props.get("TemplateName", logical)), stack, logical, path, body, bool(hook), function, tuple(names)
            )
        )
    # mark device policies (named by a template) and claim policies (granting a template's provision topics)
    device_names = {n for t in inv.templates for n in t.policy_names}
    for i, policy in enumerate(inv.policies):
        if policy.kind != "iot" or policy.role:
            continue
        role = (
            "device"
            if policy.name in device_names
            else ("claim" if "provisioning-templates" in json.dumps(policy.document) else "")
        )
        if role:
            inv.policies[i] = dataclasses.replace(policy, role=role)
