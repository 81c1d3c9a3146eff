"""The double's outputs file: every value resolved, however long the stack name and logical IDs are."""

from __future__ import annotations

from pathlib import Path

import pytest

import app as cdk_app
import config as fleet_config
from cloud_assembly import physical
from contracts.outputs import pascal
from iot_emulator import assembly as assembly_mod
from iot_emulator.double import resolve_outputs
from tests.conftest import CLAIM_CSR, example_data, write_config

#: The fleets given a claim CSR (the gateways fleet's logical IDs are the longest).
CSR_FLEETS = ("sensors", "gateways")


@pytest.fixture(scope="module")
def long_names(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example with a 15-character prefix and a 7-character stage, and claim certificates for both
    fleets (the gateways fleet's logical IDs are the longest): stack name + logical ID > 64 characters."""
    tmp = tmp_path_factory.mktemp("long")
    data = example_data()
    data["name_prefix"], data["stage"] = "acme-industrial", "staging"
    for fleet in data["fleets"]:
        if fleet["name"] in CSR_FLEETS:
            fleet["provisioning"]["claim_csr_file"] = str(CLAIM_CSR)
    config = fleet_config.load(write_config(tmp, data))
    app = cdk_app.new_app(outdir=str(tmp / "cdk.out"))
    cdk_app.build(app, config)
    app.synth()
    return tmp / "cdk.out"


@pytest.mark.integration
def test_every_output_resolves_with_long_prefixes_and_stages(long_names: Path) -> None:
    asm = assembly_mod.load(long_names, region="eu-west-1")
    claim_fleets = CSR_FLEETS
    assert len(asm.certificates) == len(claim_fleets)
    assert all(len(f"{stack}-{logical}") > 64 for logical, (stack, _, _) in asm.certificates.items())
    ids = {logical: f"{i:064x}" for i, logical in enumerate(asm.certificates, start=1)}
    deployed = {physical.deploy_placeholder(asm.certificates[lg][0], lg): cert_id for lg, cert_id in ids.items()}
    outputs = resolve_outputs(asm.outputs, deployed)
    claim_outputs = {k: v for values in outputs.values() for k, v in values.items() if k.endswith("ClaimCertificateId")}
    assert sorted(claim_outputs) == sorted(f"Fleet{pascal(name)}ClaimCertificateId" for name in claim_fleets)
    assert sorted(claim_outputs.values()) == sorted(ids.values())  # each fleet its own certificate
    leftovers = [(k, v) for values in outputs.values() for k, v in values.items() if "{deployed:" in v or "{'" in v]
    assert leftovers == []


def test_placeholders_are_unique_and_replaced_inside_joined_values() -> None:
    stack = "x" * 70
    a, b = physical.deploy_placeholder(stack, "FleetAClaim"), physical.deploy_placeholder(stack, "FleetBClaim")
    assert a != b  # never truncated, so two certificates never share one
    resource = {"Type": "AWS::IoT::Certificate"}
    assert physical.name(stack, "FleetAClaim", resource) == a
    arn = physical.arn(stack, "FleetAClaim", resource, account="1", region="r", partition="aws")
    out = resolve_outputs({"S": {"Id": a, "Arn": arn, "Other": "plain"}}, {a: "abc", b: "def"})
    assert out == {"S": {"Id": "abc", "Arn": "arn:aws:iot:r:1:cert/abc", "Other": "plain"}}
