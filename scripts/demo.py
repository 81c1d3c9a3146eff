"""The main job on embedded defaults, no AWS account: what a factory does on its first day.

1. make the fleet's claim key and CSR on the "station" (the key never leaves it);
2. synthesize the stacks (cdk-nag enforced) with that CSR, as `cdk synth` would in a pipeline;
3. start the local AWS IoT double from the fresh cdk.out;
4. fetch the claim certificate the stack created and allowlist a few serials (operator steps);
5. provision sensors by claim, gateways and a Greengrass core as a trusted user, with the factory CLI;
6. show each device connecting with its own certificate as its thing and publishing;
7. put the core's key where its config.yaml says and get AWS credentials with it (a sensor cannot);
8. stop everything it started.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = ROOT / "demo-work"
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def sh(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(list(args), cwd=ROOT, env=env or ENV, check=True)


def credentials(
    double: dict[str, str], nucleus: dict[str, str], thing: str, cert: Path, key: Path, password: bytes | None
) -> tuple[int, str]:
    """What the nucleus asks the credentials provider (iotCredEndpoint, iotRoleAlias, its thing name)."""
    import http.client
    import ssl

    context = ssl.create_default_context(cafile=double["CaFile"])
    context.load_cert_chain(str(cert), str(key), password=password)  # an encrypted key is opened in memory
    conn = http.client.HTTPSConnection(nucleus["iotCredEndpoint"], int(double["CredentialProviderPort"]),
                                       context=context, timeout=30)  # fmt: skip
    conn.request("GET", f"/role-aliases/{nucleus['iotRoleAlias']}/credentials", headers={"x-amzn-iot-thingname": thing})
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    if response.status != 200:
        return response.status, body.get("message", "")
    issued = body["credentials"]
    return response.status, f"access key {issued['accessKeyId'][:8]}..., expires {issued['expiration']}"


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    # The station's key passphrase: keys (the claim key and every device key) are encrypted at rest.
    passphrase = WORK / "station-passphrase"
    passphrase.write_text(secrets.token_urlsafe(32))
    passphrase.chmod(0o600)
    ENV["PROVISIONING_KEY_PASSPHRASE_FILE"] = str(passphrase)
    step("1. claim key and CSR, made on the station")
    sh(PY, "-m", "provisioning", "claim-csr", "--key", str(WORK / "claim.key"), "--csr", str(WORK / "claim.csr.pem"))

    step("2. cdk synth of every stack (cdk-nag enforced), the sensors fleet's claim certificate from that CSR")
    config = yaml.safe_load((ROOT / "config" / "fleet.yaml").read_text())
    config["fleets"][0]["provisioning"]["claim_csr_file"] = str(WORK / "claim.csr.pem")
    (WORK / "fleet.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cdk_out = WORK / "cdk.out"
    sh(str(ROOT / "node_modules/.bin/cdk"), "synth", "--quiet", "-c", f"fleet_config={WORK / 'fleet.yaml'}",
       "--output", str(cdk_out))  # fmt: skip
    print("\n".join(f"   {p.name}" for p in sorted(cdk_out.glob("*.template.json"))))

    state = WORK / "double"
    step("3. the local AWS IoT double, serving that cdk.out")
    sh(PY, "-m", "iot_emulator", "up", "--cdk-out", str(cdk_out), "--state", str(state), "--region", "eu-west-1")
    try:
        outputs_file = state / "outputs.json"
        outputs = json.loads(outputs_file.read_text())
        stack = outputs["acme-dev-fleet-provisioning"]
        double = outputs["IotDouble"]
        creds = {"aws_access_key_id": "demo", "aws_secret_access_key": "demo", "region_name": "eu-west-1"}

        step("4. operator: fetch the claim certificate, allowlist the serials")
        iot = boto3.client("iot", endpoint_url=double["ControlPlaneUrl"], **creds)
        claim_id = stack["FleetSensorsClaimCertificateId"]
        pem = iot.describe_certificate(certificateId=claim_id)["certificateDescription"]["certificatePem"]
        (WORK / "claim.pem").write_text(pem)
        print(f"   claim certificate {claim_id[:16]}... (its key never left the station)")
        dynamodb = boto3.client("dynamodb", endpoint_url=double["AwsEndpointUrl"], **creds)
        sensors = [f"SN2026{i:04d}" for i in range(1, 5)]
        gateways = [f"GW{i:010d}" for i in range(1, 3)]
        cores = ["GC00000001"]
        # A gateway's site is a trusted value (it decides authorization): it comes from its allowlist
        # entry, never from the device; the second gateway stands at site pla02.
        sites = {gateways[1]: "pla02"}
        for fleet, serials in (("sensors", sensors), ("gateways", gateways), ("cores", cores)):
            for serial in serials:
                item: dict[str, Any] = {"fleet": {"S": fleet}, "serial": {"S": serial}, "status": {"S": "ALLOWED"}}
                if serial in sites:
                    item["parameters"] = {"M": {"SiteCode": {"S": sites[serial]}}}
                dynamodb.put_item(TableName=stack["AllowlistTableName"], Item=item)
        (WORK / "sensors.csv").write_text(
            "SerialNumber,MacAddress\n" + "".join(f"{s},AA:BB:CC:00:00:{i:02X}\n" for i, s in enumerate(sensors))
        )
        (WORK / "gateways.csv").write_text("SerialNumber\n" + "".join(f"{s}\n" for s in gateways))
        (WORK / "cores.csv").write_text("SerialNumber\n" + "".join(f"{s}\n" for s in cores))

        step("5a. factory CLI: sensors by claim certificate")
        # Each batch has its own work dir: its journal, keys and bundles belong to that manifest.
        base = ["--outputs", str(outputs_file), "--workers", "2"]
        sh(PY, "-m", "provisioning", "run", str(WORK / "sensors.csv"), "--fleet", "sensors", *base,
           "--work-dir", str(WORK / "station" / "sensors"),
           "--claim-cert", str(WORK / "claim.pem"), "--claim-key", str(WORK / "claim.key"))  # fmt: skip
        step("5b. factory CLI: gateways as a trusted user (CreateProvisioningClaim with the operator's credentials)")
        sh(PY, "-m", "provisioning", "run", str(WORK / "gateways.csv"), "--fleet", "gateways", *base, "--trusted-user",
           "--work-dir", str(WORK / "station" / "gateways"),
           env={**ENV, "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo"})  # fmt: skip
        step("5c. factory CLI: a Greengrass core as a trusted user (its bundle holds the nucleus's config.yaml)")
        sh(PY, "-m", "provisioning", "run", str(WORK / "cores.csv"), "--fleet", "cores", *base, "--trusted-user",
           "--work-dir", str(WORK / "station" / "cores"),
           env={**ENV, "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo"})  # fmt: skip

        step("6. each device connects with its own certificate, as its thing, and publishes")
        from provisioning import target as target_mod
        from provisioning.keys import open_private_key, pem_in_memory
        from provisioning.mqtt_flow import Credentials, verify_device

        target = target_mod.load(outputs_file)
        secret = passphrase.read_bytes().strip()
        for bundle in sorted((WORK / "station").glob("*/bundles/*/device.json")):
            device = json.loads(bundle.read_text())
            fleet_of = target.fleet(bundle.parents[2].name)  # station/<fleet>/bundles/<thing>/device.json
            topic = fleet_of.check_topic(device["thingName"])
            key = open_private_key(
                bundle.parent / device["key"]["file"], secret, what="device key"
            )  # decrypted in memory
            device_creds = Credentials(
                certificate_pem=(bundle.parent / "certificate.pem").read_bytes(), key_pem=pem_in_memory(key)
            )
            verify_device(target, thing=device["thingName"], creds=device_creds, topic=topic)
            print(f"   {device['thingName']:24s} certificate {device['certificateId'][:12]}... published to {topic}")
        for batch in ("sensors", "gateways", "cores"):
            sh(PY, "-m", "provisioning", "status", "--work-dir", str(WORK / "station" / batch))

        step("7. the core's key goes where its config.yaml says; the core gets AWS credentials, as the nucleus does")
        (config_file,) = (WORK / "station" / "cores" / "bundles").glob("*/greengrass/config.yaml")
        config = yaml.safe_load(config_file.read_text())
        device_root = WORK / "core-device"  # stands for the core's rootpath (/greengrass/v2)
        key_file = device_root / config["system"]["privateKeyPath"].rsplit("/", 1)[1]
        sh(PY, "-m", "provisioning", "export-key", "--work-dir", str(WORK / "station" / "cores"),
           "--device", cores[0], "--out", str(key_file), "--move")  # fmt: skip
        nucleus = config["services"]["aws.greengrass.Nucleus"]["configuration"]
        (sensor_bundle,) = (WORK / "station" / "sensors" / "bundles").glob(f"*{sensors[0]}/device.json")
        sensor = json.loads(sensor_bundle.read_text())
        sensor_key = sensor_bundle.parent / sensor["key"]["file"]
        for who, cert, key, password in (
            (config["system"]["thingName"], config_file.parents[1] / "certificate.pem", key_file, None),
            # a sensor's policy does not name the role alias: refused
            (sensor["thingName"], sensor_bundle.parent / "certificate.pem", sensor_key, secret),
        ):
            status, answer = credentials(double, nucleus, who, cert, key, password)
            print(f"   {who}: GET /role-aliases/{nucleus['iotRoleAlias']}/credentials -> {status}, {answer}")

        step("7b. the cores' client devices: client device auth's deployment (a sensor: its own client ID, topics)")
        deployment_file = WORK / "cores-client-devices.json"
        deployment_file.unlink(missing_ok=True)
        sh(PY, "-m", "provisioning", "greengrass-components", "--outputs", str(outputs_file), "--fleet", "cores",
           "--out", str(deployment_file))  # fmt: skip
        auth = json.loads(deployment_file.read_text())["components"]["aws.greengrass.clientdevices.Auth"]
        groups = json.loads(auth["configurationUpdate"]["merge"])["deviceGroups"]
        for group, definition in groups["definitions"].items():
            for statement in groups["policies"][definition["policyName"]].values():
                rule, operation = definition["selectionRule"], statement["operations"][0]
                print(f"   {group} ({rule}): {operation} {statement['resources']}")
    finally:
        step("8. stopping the double")
        sh(PY, "-m", "iot_emulator", "down", "--state", str(state))
    print(
        f"\nDone. Everything it made is under {WORK.relative_to(ROOT)}/ "
        "(station keys encrypted, 0600; the passphrase in station-passphrase; the core's key, exported as a device "
        "holds it, unencrypted 0600 in core-device/; remove it all when you like)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
