"""Session fixtures: the app is synthesized once per test session and shared by every test."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk.assertions import Template

import app as cdk_app
import config as fleet_config

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).with_name("fixtures")
CLAIM_CSR = FIXTURES / "claim-sensors.csr.pem"

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass(frozen=True)
class Synth:
    """One synthesized cloud assembly and its stacks' templates."""

    outdir: Path
    config: fleet_config.FleetConfig
    stacks: dict[str, cdk.Stack]
    templates: dict[str, dict[str, Any]]  # stack key -> template JSON

    def template(self, key: str) -> Template:
        return Template.from_json(self.templates[key])


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(fleet_config.DEFAULT_CONFIG.read_text())
    return data


def write_config(tmp: Path, data: dict[str, Any]) -> Path:
    path = tmp / "fleet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The example config, with the sensors fleet's claim CSR set, synthesized with cdk-nag."""
    tmp = tmp_path_factory.mktemp("synth")
    data = example_data()
    data["fleets"][0]["provisioning"]["claim_csr_file"] = str(CLAIM_CSR)
    # Switch on the account singletons too, so every construct is synthesized once per session.
    data["defender"]["audit"]["enabled"] = True
    data["defender"]["logging"]["enabled"] = True
    config = fleet_config.load(write_config(tmp, data))
    outdir = tmp / "cdk.out"
    app = cdk_app.new_app(outdir=str(outdir))
    stacks = cdk_app.build(app, config)
    cdk_app.add_checks(app)
    assembly = app.synth()
    templates = {key: assembly.get_stack_by_name(stack.stack_name).template for key, stack in stacks.items()}
    return Synth(outdir, config, stacks, templates)


@pytest.fixture
def provisioning(synth: Synth) -> Template:
    return synth.template("fleet_provisioning")


def resources_of(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


@pytest.fixture
def example_config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path, example_data())


SAMPLE_PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}
#: The longest values a deployment can give the pseudo parameters (as constructs_lib.arns assumes).
WORST_PSEUDO = {"AWS::Partition": "aws-us-gov", "AWS::Region": "ap-southeast-15", "AWS::AccountId": "123456789012"}


def render_arn(value: Any, pseudo: dict[str, str] = SAMPLE_PSEUDO) -> str:
    """Render a CDK-emitted ``Fn::Join`` ARN the way CloudFormation would, with sample values."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(render_arn(p, pseudo) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return pseudo.get(value["Ref"], f"<{value['Ref']}>")
    return json.dumps(value)


def render_document(node: Any, pseudo: dict[str, str] = SAMPLE_PSEUDO) -> Any:
    """A policy document with every ``Fn::Join``/``Ref`` rendered to text."""
    if isinstance(node, dict) and ("Fn::Join" in node or "Ref" in node):
        return render_arn(node, pseudo)
    if isinstance(node, dict):
        return {k: render_document(v, pseudo) for k, v in node.items()}
    if isinstance(node, list):
        return [render_document(v, pseudo) for v in node]
    return node


# The local double, started once per session for the double's and the factory CLI's tests --------


@pytest.fixture(scope="session")
def double(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from iot_emulator.double import Double
    from iot_emulator.provisioning import Knobs

    d = Double(
        synth.outdir, tmp_path_factory.mktemp("double"), region="eu-west-1", knobs=Knobs(rates={}), port=0, alpn_port=0
    )
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="session")
def claim(double: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.iot_emulator.helpers import identity

    directory = tmp_path_factory.mktemp("claim")
    ident = identity(directory, "claim")
    _, pem = double.add_certificate(ident.csr, ["acme-dev-sensors-claim"])
    ident.cert_file = directory / "claim.pem"
    ident.cert_file.write_text(pem)
    return ident
