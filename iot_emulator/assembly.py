"""Read a synthesized cloud assembly (cdk.out) into what the double serves.

CloudFormation intrinsics are resolved the way a deployment in the double's account and region
would resolve them; physical names of resources that CloudFormation would generate (the allowlist
table, roles) are derived from the stack and logical IDs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class AssemblyError(Exception):
    """cdk.out is missing, unreadable or holds something the double cannot serve."""


@dataclass(frozen=True)
class HookFunction:
    logical_id: str
    code_dir: Path
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: int


@dataclass(frozen=True)
class Template:
    name: str
    body: str
    enabled: bool
    hook: HookFunction | None
    stack: str


@dataclass(frozen=True)
class Table:
    name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]


@dataclass
class Assembly:
    directory: Path
    account: str
    region: str
    partition: str = "aws"
    templates: dict[str, Template] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    thing_types: list[str] = field(default_factory=list)
    thing_groups: dict[str, str | None] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Certificates the stacks create from a CSR: logical ID -> (stack, CSR PEM, attached policy names)
    certificates: dict[str, tuple[str, str, list[str]]] = field(default_factory=dict)

    @property
    def iot_arn_prefix(self) -> str:
        return f"arn:{self.partition}:iot:{self.region}:{self.account}"


class _Resolver:
    def __init__(self, stack: str, resources: Mapping[str, Any], asm: Assembly) -> None:
        self.stack, self.resources, self.asm = stack, resources, asm

    def physical(self, logical: str) -> str:
        resource = self.resources.get(logical)
        if resource is None:
            return f"<{logical}>"
        props = resource.get("Properties", {})
        kind = resource["Type"]
        for key in ("PolicyName", "TemplateName", "ThingGroupName", "ThingTypeName", "TableName", "FunctionName"):
            if isinstance(props.get(key), str):
                return str(props[key])
        if kind == "AWS::DynamoDB::Table":
            return f"{self.stack}-{logical}"[:255]
        return f"{self.stack}-{logical}"[:64]

    def arn(self, logical: str) -> str:
        kind = self.resources.get(logical, {}).get("Type", "")
        name = self.physical(logical)
        a, r, p = self.asm.account, self.asm.region, self.asm.partition
        if kind == "AWS::Lambda::Function":
            return f"arn:{p}:lambda:{r}:{a}:function:{name}"
        if kind == "AWS::IAM::Role":
            return f"arn:{p}:iam::{a}:role/{name}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:{p}:dynamodb:{r}:{a}:table/{name}"
        if kind == "AWS::SNS::Topic":
            return f"arn:{p}:sns:{r}:{a}:{name}"
        return f"arn:{p}:cloudformation:{r}:{a}:{self.stack}/{logical}"

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                pseudo = {
                    "AWS::AccountId": self.asm.account,
                    "AWS::Region": self.asm.region,
                    "AWS::Partition": self.asm.partition,
                    "AWS::URLSuffix": "amazonaws.com",
                    "AWS::StackName": self.stack,
                }
                return pseudo.get(arg) or self.physical(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.arn(logical) if attr.endswith("Arn") else self.physical(logical)
            if key == "Fn::Join":
                return str(arg[0]).join(str(self.value(v)) for v in arg[1])
        return {k: self.value(v) for k, v in node.items()}


def load(directory: Path, *, account: str = "123456789012", region: str = "us-east-1") -> Assembly:
    manifest_path = directory / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except OSError as exc:
        raise AssemblyError(f"{manifest_path}: {exc.strerror}; run a synth first (make demo)") from None
    asm = Assembly(directory=directory, account=account, region=region)
    for stack, artifact in sorted(manifest.get("artifacts", {}).items()):
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template_file = directory / artifact["properties"]["templateFile"]
        template = json.loads(template_file.read_text())
        _load_stack(asm, stack, template)
    return asm


def _load_stack(asm: Assembly, stack: str, template: Mapping[str, Any]) -> None:
    resources = template.get("Resources", {})
    res = _Resolver(stack, resources, asm)
    for logical, resource in resources.items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::IoT::ThingType":
            asm.thing_types.append(props["ThingTypeName"])
        elif kind == "AWS::IoT::ThingGroup":
            asm.thing_groups[props["ThingGroupName"]] = props.get("ParentGroupName")
        elif kind == "AWS::IoT::Policy":
            document = res.value(props["PolicyDocument"])
            asm.policies[res.physical(logical)] = json.loads(document) if isinstance(document, str) else document
        elif kind == "AWS::DynamoDB::Table":
            asm.tables[logical] = Table(res.physical(logical), props["KeySchema"], props["AttributeDefinitions"])
        elif kind == "AWS::IoT::ProvisioningTemplate":
            hook = None
            target = (props.get("PreProvisioningHook") or {}).get("TargetArn")
            if isinstance(target, dict) and "Fn::GetAtt" in target:
                hook = _hook(asm, res, resources, target["Fn::GetAtt"][0])
            asm.templates[props["TemplateName"]] = Template(
                name=props["TemplateName"],
                body=props["TemplateBody"],
                enabled=bool(props.get("Enabled", False)),
                hook=hook,
                stack=stack,
            )
    for logical, resource in resources.items():
        if resource["Type"] == "AWS::IoT::Certificate" and "CertificateSigningRequest" in resource["Properties"]:
            attached = [
                res.value(r["Properties"]["PolicyName"])
                for r in resources.values()
                if r["Type"] == "AWS::IoT::PolicyPrincipalAttachment"
                and r["Properties"].get("Principal") == {"Fn::GetAtt": [logical, "Arn"]}
            ]
            asm.certificates[logical] = (stack, resource["Properties"]["CertificateSigningRequest"], attached)
    outputs = {}
    for key, output in template.get("Outputs", {}).items():
        outputs[key] = str(res.value(output["Value"]))
    asm.outputs[stack] = outputs


def _hook(asm: Assembly, res: _Resolver, resources: Mapping[str, Any], logical: str) -> HookFunction:
    function = resources[logical]
    props = function["Properties"]
    asset = function.get("Metadata", {}).get("aws:asset:path") or _asset_from_manifest(asm, res.stack, props)
    if not asset:
        raise AssemblyError(f"Lambda {logical} has no local asset in cdk.out; the double runs local code only")
    env = res.value(props.get("Environment", {}).get("Variables", {}))
    return HookFunction(
        logical_id=logical,
        code_dir=asm.directory / asset,
        handler=props["Handler"],
        environment={k: str(v) for k, v in env.items()},
        timeout_seconds=int(props.get("Timeout", 3)),
    )


def _asset_from_manifest(asm: Assembly, stack: str, props: Mapping[str, Any]) -> str | None:
    """Find the Lambda's code directory through ``<stack>.assets.json`` (S3Key is ``<hash>.zip``)."""
    key = (props.get("Code") or {}).get("S3Key")
    manifest = asm.directory / f"{stack}.assets.json"
    if not isinstance(key, str) or not manifest.exists():
        return None
    files = json.loads(manifest.read_text()).get("files", {})
    entry = files.get(key.removesuffix(".zip"))
    if not entry or entry.get("source", {}).get("packaging") != "zip":
        return None
    return str(entry["source"]["path"])
