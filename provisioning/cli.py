"""``iot-provision`` (or ``python -m provisioning``): claim keys, manifests, batches, status, doctor.

    iot-provision claim-csr --key station/claim.key --csr config/claims/sensors.csr.pem
    iot-provision validate MANIFEST --outputs deploy-outputs.json --fleet sensors
    iot-provision run MANIFEST --outputs ... --fleet sensors --claim-cert C --claim-key K
    iot-provision run MANIFEST --outputs ... --fleet sensors --trusted-user
    iot-provision status --work-dir W
    iot-provision retry-failed MANIFEST ...same options as run...
    iot-provision doctor --outputs ... --fleet sensors --claim-cert C --claim-key K
    iot-provision export-key --work-dir W --device SERIAL --out /mnt/image/greengrass/v2/private.key [--move]
    iot-provision first-boot-config MANIFEST --outputs ... --fleet cores --out DIR
    iot-provision greengrass-components --outputs ... --fleet cores --out deployment.json
    iot-provision allowlist import|show|allow-reprovision|revoke|release ...   (identity_cli)
    iot-provision rma-finish SERIAL ... ; iot-provision rotate device|stalled|purge ...

Exit statuses (docs/cli.md): 0 done, 1 some devices or checks failed, 2 usage or input error,
3 station or target unavailable (passphrase, PIN, token, credentials, endpoint, CA, template, clock),
130 interrupted (the journal keeps every finished step).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from contracts import cli as contract
from contracts.cli import Environment
from contracts.exit_status import ExitStatus
from provisioning import client_devices, greengrass, identity_cli, manifest
from provisioning import target as target_mod
from provisioning.constants import KEY_STORES, KEY_TYPES
from provisioning.errors import ProvisioningError, UsageError
from provisioning.journal import JOURNAL_FILE, DeviceState, Journal

if TYPE_CHECKING:
    from provisioning.batch import CoreSettings
    from provisioning.claims import ClaimSource
    from provisioning.mqtt_flow import Credentials
PROG = "iot-provision"
INTERRUPTED = "interrupted: the journal has every finished step; run the same command to resume"
PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, PIN_ENV = (
    "PROVISIONING_KEY_PASSPHRASE",
    "PROVISIONING_KEY_PASSPHRASE_FILE",
    "PROVISIONING_PKCS11_PIN",
)
KEYS_HELP = (
    "Device keys are encrypted at rest by default (PKCS#8, PBES2/AES-256): the passphrase comes from "
    f"--passphrase-file, ${PASSPHRASE_FILE_ENV} or ${PASSPHRASE_ENV}; --plaintext-keys stores them "
    f"unencrypted (0600). PKCS#11 keys stay in the token; its PIN comes from ${PIN_ENV}."
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (off) or more")
    return value


def _station() -> str:
    return os.uname().nodename.split(".")[0][:20] or "station"


def _target_args(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--outputs", type=Path, required=True, help="cdk deploy --outputs-file (or the double's outputs.json)"
    )
    s.add_argument("--stack", help="the fleet provisioning stack's name, when the outputs file holds several")
    s.add_argument("--fleet", required=True, help="the fleet to provision (its name in the stack's config)")
    s.add_argument("--endpoint", help="MQTT endpoint (default: the double's, from the outputs file)")
    s.add_argument("--port", type=int, help="MQTT port (default: 8883, or the double's)")
    s.add_argument("--ca-file", type=Path, help="root CA of the endpoint (default: the double's CaFile)")
    s.add_argument(
        "--credentials-endpoint",
        help="Greengrass core fleets: the iot:CredentialProvider endpoint (default: the double's)",
    )


def _greengrass_args(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--greengrass-root",
        help=f"Greengrass core fleets: the nucleus root on the device, where config.yaml's files are "
        f"(default {greengrass.DEFAULT_ROOT})",
    )
    s.add_argument("--nucleus-version", help="Greengrass core fleets: the nucleus version config.yaml names")


def _key_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--passphrase-file", type=Path, help=f"file holding the key passphrase (or ${PASSPHRASE_FILE_ENV})")
    s.add_argument("--plaintext-keys", action="store_true", help="store keys unencrypted (0600 files)")


def _claim_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--claim-cert", type=Path, help="claim certificate (PEM), for provisioning by claim")
    s.add_argument("--claim-key", type=Path, help="claim key (PEM, 0600, encrypted with the key passphrase or not)")


def _run_args(r: argparse.ArgumentParser) -> None:
    r.add_argument("manifest", type=Path, help="CSV (with a header) or JSON lines, one device per row")
    _target_args(r)
    _claim_args(r)
    r.add_argument("--trusted-user", action="store_true", help="CreateProvisioningClaim with your AWS credentials")
    r.add_argument("--control-plane-url", help="AWS IoT API endpoint override (default: the double's ControlPlaneUrl)")
    r.add_argument(
        "--region",
        help="AWS region for --trusted-user and a core's config.yaml (default: the outputs file's, or AWS_REGION)",
    )
    r.add_argument("--workers", type=_positive, default=4, help="devices in parallel")
    r.add_argument("--rate", type=_rate, default=10.0, help="requests per second per operation (the quota); 0 = off")
    r.add_argument("--key-type", choices=KEY_TYPES, default="ec-p256", help="device key type")
    r.add_argument("--key-store", choices=KEY_STORES, default="file", help="where device keys live")
    _key_args(r)
    r.add_argument("--pkcs11-module", help="PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)")
    r.add_argument("--token-label", help="PKCS#11 token label")
    r.add_argument("--work-dir", type=Path, default=Path("provisioning-work"), help="journal, keys and bundles")
    r.add_argument("--dry-run", action="store_true", help="validate and plan; touch no key, device or service")
    r.add_argument("--max-attempts", type=_positive, default=5, help="tries per device for a transient failure")
    r.add_argument(
        "--breaker", type=int, default=5, help="stop after this many connection failures in a row (0 = never) ..."
    )
    r.add_argument("--breaker-seconds", type=float, default=10.0, help="... lasting at least this long")
    r.add_argument("--station", default=_station(), help="station name in the claim client IDs")
    _greengrass_args(r)
    r.add_argument(
        "--pkcs11-library-on-device",
        help="Greengrass core fleets with PKCS#11 keys: the module's path on the device (default: --pkcs11-module)",
    )


def parser(env: Environment) -> contract.ArgumentParser:
    p = contract.new_parser(PROG, "Factory-line provisioning of AWS IoT devices.\n\n" + KEYS_HELP, env)
    sub = p.add_subcommands()
    c = sub.add_parser("claim-csr", help="make the claim key (0600, encrypted) and the CSR the stack's config names")
    c.add_argument("--key", type=Path, required=True, help="where to write the claim key (refuses to overwrite)")
    c.add_argument("--csr", type=Path, required=True, help="where to write the CSR")
    c.add_argument("--key-type", choices=KEY_TYPES, default="ec-p256", help="claim key type")
    c.add_argument("--common-name", default="fleet-claim", help="the CSR's subject CN")
    _key_args(c)
    v = sub.add_parser("validate", help="check a manifest against the fleet's parameters; touch nothing")
    v.add_argument("manifest", type=Path, help="CSV (with a header) or JSON lines")
    _target_args(v)
    _run_args(sub.add_parser("run", help="provision the devices of a manifest, resuming where the journal left off"))
    _run_args(sub.add_parser("retry-failed", help="provision again the devices the journal marks failed"))
    d = sub.add_parser("doctor", help="check this station's configuration against the target")
    _target_args(d)
    _claim_args(d)
    d.add_argument(
        "--passphrase-file", type=Path, help=f"file holding the claim key's passphrase (or ${PASSPHRASE_FILE_ENV})"
    )
    e = sub.add_parser(
        "export-key", help="write a device's file key, unencrypted (0600), where its device reads it (e.g. a nucleus)"
    )
    e.add_argument("--work-dir", type=Path, default=Path("provisioning-work"), help="the batch's work dir")
    e.add_argument("--device", required=True, help="the device's serial (its key's name in the work dir)")
    e.add_argument("--out", required=True, help="where to write the key (a new file outside the work dir), or -")
    e.add_argument("--move", action="store_true", help="then delete the station's copy: one copy is left")
    _key_args(e)
    f = sub.add_parser(
        "first-boot-config",
        help="Greengrass core fleets: config.yaml per device for provisioning by claim on first boot",
    )
    f.add_argument("manifest", type=Path, help="CSV (with a header) or JSON lines, one device per row")
    _target_args(f)
    _greengrass_args(f)
    f.add_argument("--region", help="AWS region config.yaml names (default: the outputs file's, or AWS_REGION)")
    f.add_argument("--out", type=Path, required=True, help="directory for <serial>/config.yaml")
    g = sub.add_parser(
        "greengrass-components",
        help="Greengrass core fleets with client devices: a create-deployment --cli-input-json document with "
        "client device auth's device groups (each device: its own client ID and topics only) and the MQTT broker",
    )
    g.add_argument(
        "--outputs", type=Path, required=True, help="cdk deploy --outputs-file (or the double's outputs.json)"
    )
    g.add_argument("--stack", help="the fleet provisioning stack's name, when the outputs file holds several")
    g.add_argument("--fleet", required=True, help="the Greengrass core fleet whose client devices to authorize")
    g.add_argument("--out", type=Path, required=True, help="where to write the deployment JSON (refuses to overwrite)")
    g.add_argument(
        "--target-arn",
        help="the deployment's target (default: the fleet's core thing group, its ARN from --region and the "
        "account of the token exchange role output)",
    )
    g.add_argument("--region", help="AWS region of the target ARN (default: the outputs file's, or AWS_REGION)")
    g.add_argument("--deployment-name", help="the deployment's name (default: <core thing group>-client-devices)")
    g.add_argument(
        "--auth-version",
        default=client_devices.DEFAULT_AUTH_VERSION,
        help="aws.greengrass.clientdevices.Auth version (2.5.0 or later: it resolves the thing-name policy variable)",
    )
    g.add_argument(
        "--moquette-version",
        default=client_devices.DEFAULT_MOQUETTE_VERSION,
        help="aws.greengrass.clientdevices.mqtt.Moquette version; 'none' leaves the broker out of the deployment",
    )
    s = sub.add_parser("status", help="what a batch's journal says; creates nothing")
    s.add_argument("--work-dir", type=Path, default=Path("provisioning-work"), help="the batch's work dir")
    identity_cli.add_commands(sub)
    return p


# secrets ------------------------------------------------------------------------------------------------


def passphrase(args: argparse.Namespace, env: Environment, *, required: bool) -> bytes | None:
    """The key passphrase: --passphrase-file, else ``$..._PASSPHRASE_FILE``, else ``$..._PASSPHRASE``."""
    if getattr(args, "plaintext_keys", False):
        return None
    file = getattr(args, "passphrase_file", None) or env.environ.get(PASSPHRASE_FILE_ENV)
    if file:
        try:
            value = Path(file).read_bytes().strip()
        except OSError as exc:
            raise UsageError(f"cannot read the passphrase file {file}: {exc.strerror}") from None
        if not value:
            raise UsageError(f"the passphrase file {file} is empty")
        return value
    if value_text := env.environ.get(PASSPHRASE_ENV):
        return value_text.encode()
    if required:
        raise UsageError(
            "device keys are encrypted at rest by default and no passphrase was given",
            f"set {PASSPHRASE_FILE_ENV} to a file holding a long random passphrase (0600), or {PASSPHRASE_ENV}; "
            "or pass --plaintext-keys to store keys unencrypted",
        )
    return None


# commands -----------------------------------------------------------------------------------------------


def cmd_claim_csr(args: argparse.Namespace, env: Environment) -> int:
    from provisioning import keys

    secret = passphrase(args, env, required=True)
    if args.key.exists():
        raise UsageError(f"{args.key} exists", "a claim key is made once: remove it first or choose another --key")
    key = keys.new_private_key(args.key_type)
    keys.write_private(args.key, keys.seal(key, secret))
    args.csr.parent.mkdir(parents=True, exist_ok=True)
    args.csr.write_text(keys.build_csr(key, args.common_name))
    sealed = "encrypted, " if secret else ""
    env.out(f"claim key {args.key} ({sealed}0600, keep it on this station); CSR {args.csr} (give it to the stack)\n")
    return ExitStatus.OK


def _target(args: argparse.Namespace) -> tuple[target_mod.Target, target_mod.Fleet]:
    target = target_mod.load(
        args.outputs,
        stack=args.stack,
        endpoint=args.endpoint,
        port=args.port,
        ca_file=args.ca_file,
        credentials_endpoint=args.credentials_endpoint,
    )
    return target, target.fleet(args.fleet)


GREENGRASS_OPTIONS = ("greengrass_root", "nucleus_version", "pkcs11_library_on_device")


def _endpoints(
    args: argparse.Namespace, env: Environment, target: target_mod.Target, fleet: target_mod.Fleet
) -> greengrass.Endpoints:
    """What a core's config.yaml names; every missing value is a usage error before any device is touched."""
    region = args.region or target.region or env.environ.get("AWS_REGION") or env.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise UsageError("no AWS region for the core's config.yaml", "pass --region (or set AWS_REGION)")
    if not target.credentials_endpoint:
        raise UsageError(
            "no credentials provider endpoint for the core's config.yaml",
            "pass --credentials-endpoint (aws iot describe-endpoint --endpoint-type iot:CredentialProvider)",
        )
    if not fleet.role_alias:
        raise UsageError(
            f"{args.outputs}: fleet {fleet.name} is a Greengrass core fleet without a role alias output",
            "redeploy the fleet provisioning stack (its outputs name the role alias)",
        )
    return greengrass.Endpoints(region, target.endpoint, target.port, target.credentials_endpoint, fleet.role_alias)


def _core_settings(
    args: argparse.Namespace, env: Environment, target: target_mod.Target, fleet: target_mod.Fleet
) -> CoreSettings | None:
    from provisioning.batch import CoreSettings

    if not fleet.is_greengrass_core:
        given = [f"--{o.replace('_', '-')}" for o in GREENGRASS_OPTIONS if getattr(args, o, None)]
        if given:
            raise UsageError(
                f"fleet {fleet.name} is not a Greengrass core fleet, so {', '.join(given)} has no use",
                "drop the option, or pass the --fleet of a Greengrass core fleet",
            )
        return None
    return CoreSettings(
        root=greengrass.check_root(args.greengrass_root or greengrass.DEFAULT_ROOT),
        endpoints=_endpoints(args, env, target, fleet),
        nucleus_version=args.nucleus_version,
        pkcs11_library=args.pkcs11_library_on_device,
    )


def cmd_export_key(args: argparse.Namespace, env: Environment) -> int:
    from cryptography.hazmat.primitives import serialization

    from provisioning.keys import FileKeyStore, write_private

    store = FileKeyStore(args.work_dir / "keys", passphrase=passphrase(args, env, required=False))
    if not store.exists(args.device):
        raise UsageError(
            f"no file key for device {args.device} in {args.work_dir / 'keys'}",
            "pass the --work-dir and serial of a provisioned device (PKCS#11 keys never leave their token)",
        )
    store.open()
    key = store.load(args.device)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if args.out == "-":
        if env.stdout_isatty:
            raise UsageError(
                "refusing to print a private key on a terminal", "pipe it (e.g. into ssh) or pass --out FILE"
            )
        env.out(pem.decode())
        where = "stdout"
    else:
        out = Path(args.out).absolute()
        if out.exists():
            raise UsageError(f"{out} exists", "export-key never overwrites a key: remove it or choose another --out")
        if out.resolve().is_relative_to(args.work_dir.resolve()):
            raise UsageError(
                f"{out} is inside the work dir {args.work_dir}", "write the key where its device reads it, not here"
            )
        write_private(out, pem)
        where = str(out)
    if args.move:
        store.path(args.device).unlink()
    kept = "the station's copy is deleted" if args.move else "the station keeps its copy"
    env.err(f"wrote the key of {args.device} to {where} (unencrypted, 0600); {kept}\n")
    return ExitStatus.OK


def cmd_first_boot_config(args: argparse.Namespace, env: Environment) -> int:
    target, fleet = _target(args)
    if not fleet.is_greengrass_core:
        raise UsageError(f"fleet {fleet.name} is not a Greengrass core fleet", "pass the --fleet of a core fleet")
    if not fleet.claim_prefix:
        raise UsageError(
            f"fleet {fleet.name} has no claim client-ID prefix output: it is not provisioned by claim",
            "switch provisioning by claim on for the fleet and redeploy",
        )
    root = greengrass.check_root(args.greengrass_root or greengrass.DEFAULT_ROOT)
    endpoints = _endpoints(args, env, target, fleet)
    count = manifest.validate(args.manifest, fleet.schema)
    documents = []
    for row in manifest.rows(args.manifest, fleet.schema):
        client_id = greengrass.device_id(fleet.claim_prefix, row.serial)
        documents.append((row.serial, greengrass.first_boot_config(
            root=root, endpoints=endpoints, template=fleet.template, client_id=client_id,
            parameters=row.parameters, nucleus_version=args.nucleus_version,
        )))  # fmt: skip
    for serial, document in documents:
        (args.out / serial).mkdir(parents=True, exist_ok=True)
        (args.out / serial / "config.yaml").write_text(greengrass.to_yaml(document))
    env.out(f"{count} first-boot configs in {args.out} (fleet {fleet.name}, template {fleet.template})\n")
    return ExitStatus.OK


def _target_arn(args: argparse.Namespace, env: Environment, fleet: target_mod.Fleet, region: str | None) -> str:
    if args.target_arn:
        if not args.target_arn.startswith("arn:"):
            raise UsageError(f"--target-arn {args.target_arn!r} is not an ARN", "pass a thing or thing group ARN")
        return str(args.target_arn)
    region = args.region or region or env.environ.get("AWS_REGION") or env.environ.get("AWS_DEFAULT_REGION")
    role = (fleet.token_exchange_role_arn or "").split(":")
    if not region or len(role) < 5 or not role[4].isdigit() or not fleet.core_thing_group:
        raise UsageError(
            f"cannot build the ARN of fleet {fleet.name}'s core thing group (region, the token exchange role output's "
            "account, or the core thing group output missing)",
            "pass --region (or set AWS_REGION), or --target-arn arn:aws:iot:REGION:ACCOUNT:thinggroup/NAME",
        )
    return f"arn:{role[1]}:iot:{region}:{role[4]}:thinggroup/{fleet.core_thing_group}"


def cmd_greengrass_components(args: argparse.Namespace, env: Environment) -> int:
    client_devices.check_auth_version(args.auth_version)
    fleets, region = target_mod.load_fleets(args.outputs, stack=args.stack)
    if args.fleet not in fleets:
        raise UsageError(
            f"fleet {args.fleet!r} is not in the outputs file", f"pass --fleet with one of: {', '.join(fleets)}"
        )
    core = fleets[args.fleet]
    if not core.is_greengrass_core:
        raise UsageError(f"fleet {core.name} is not a Greengrass core fleet", "pass the --fleet of a core fleet")
    if not core.client_device_fleets:
        raise UsageError(
            f"fleet {core.name} declares no client devices (no ClientDeviceFleets output)",
            "list the device fleets under greengrass.client_devices.fleets in the config and redeploy",
        )
    clients = []
    for name in core.client_device_fleets:
        if name not in fleets:
            raise UsageError(
                f"{args.outputs}: fleet {core.name}'s client device fleet {name} has no outputs",
                "redeploy the fleet provisioning stack",
            )
        f = fleets[name]
        clients.append(
            client_devices.ClientFleet(name, f.thing_name_template, f.publish_namespaces, f.subscribe_namespaces)
        )
    moquette = None if args.moquette_version.lower() == "none" else args.moquette_version
    document = client_devices.deployment(
        clients,
        target_arn=_target_arn(args, env, core, region),
        deployment_name=args.deployment_name or f"{core.core_thing_group or core.name}-client-devices",
        auth_version=args.auth_version,
        moquette_version=moquette,
    )
    if args.out.exists():
        raise UsageError(f"{args.out} exists", "remove it or choose another --out")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    env.out(
        f"{args.out}: deployment of {', '.join(document['components'])} to {document['targetArn']} "
        f"(client device fleets: {', '.join(core.client_device_fleets)}); "
        f"run: aws greengrassv2 create-deployment --cli-input-json file://{args.out}\n"
    )
    return ExitStatus.OK


def cmd_validate(args: argparse.Namespace, env: Environment) -> int:
    _, fleet = _target(args)
    count = manifest.validate(args.manifest, fleet.schema)
    env.out(f"{args.manifest}: {count} rows, all valid for fleet {fleet.name}\n")
    return ExitStatus.OK


def cmd_status(args: argparse.Namespace, env: Environment) -> int:
    path = args.work_dir / JOURNAL_FILE
    if not path.is_file():
        raise UsageError(f"no journal at {path}: no batch has run in {args.work_dir}", "pass the --work-dir of a batch")
    journal = Journal(path, read_only=True)
    try:
        counts = journal.counts()
        binding = journal.binding()
        failed = list(journal.devices(DeviceState.FAILED))
    finally:
        journal.close()
    if binding is not None:
        env.out(f"batch of {binding.manifest} for fleet {binding.fleet} on {binding.target}\n")
    env.out((", ".join(f"{state}: {n}" for state, n in sorted(counts.items())) or "no device started yet") + "\n")
    for device in failed:
        env.out(f"  failed {device.serial}: {device.cause}\n")
    return ExitStatus.FAILED if failed else ExitStatus.OK


def cmd_doctor(args: argparse.Namespace, env: Environment) -> int:
    from provisioning.doctor import run_checks

    target, fleet = _target(args)
    checks = run_checks(target, fleet, args.claim_cert, args.claim_key, passphrase(args, env, required=False))
    for check in checks:
        env.out(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}\n")
    return ExitStatus.OK if all(c.ok for c in checks) else ExitStatus.FAILED


def _claim(
    args: argparse.Namespace, target: target_mod.Target, fleet: target_mod.Fleet, secret: bytes | None
) -> ClaimSource:
    from provisioning.claims import FileClaim, TrustedUserClaims

    if args.trusted_user:
        if args.claim_cert or args.claim_key:
            raise UsageError("--trusted-user and --claim-cert/--claim-key exclude each other", "pass one of them")
        return TrustedUserClaims(
            fleet.template,
            region=args.region or target.region,
            endpoint_url=args.control_plane_url or target.control_plane_url,
        )
    if not (args.claim_cert and args.claim_key):
        raise UsageError(
            "no claim credentials", "pass --claim-cert and --claim-key (provisioning by claim), or --trusted-user"
        )
    return FileClaim(args.claim_cert, args.claim_key, passphrase=secret)


def _pkcs11(args: argparse.Namespace, env: Environment) -> dict[str, str] | None:
    if args.key_store != "pkcs11" and not args.pkcs11_module:
        return None
    pin = env.environ.get(PIN_ENV, "")
    missing = [
        n
        for n, v in (("--pkcs11-module", args.pkcs11_module), ("--token-label", args.token_label), (f"${PIN_ENV}", pin))
        if not v
    ]
    if missing:
        raise UsageError(
            f"PKCS#11 keys need {', '.join(missing)}", f"pass --pkcs11-module and --token-label, set {PIN_ENV}"
        )
    return {"module": args.pkcs11_module, "token_label": args.token_label, "pin": pin}


def cmd_run(args: argparse.Namespace, env: Environment) -> int:
    from provisioning.batch import Batch, Settings

    retry = args.command == "retry-failed"
    if retry and not (args.work_dir / JOURNAL_FILE).is_file():
        raise UsageError(
            f"no journal in {args.work_dir}: nothing has been run there, so nothing failed",
            "use `run` for a new batch, or pass the --work-dir of the batch to retry",
        )
    target, fleet = _target(args)
    secret = passphrase(args, env, required=args.key_store == "file" and not args.dry_run)
    settings = Settings(
        fleet=fleet.name,
        work_dir=args.work_dir,
        workers=args.workers,
        rate=args.rate or None,
        max_attempts=args.max_attempts,
        breaker_threshold=args.breaker,
        breaker_seconds=args.breaker_seconds,
        key_type=args.key_type,
        key_store=args.key_store,
        passphrase=secret,
        plaintext_keys=args.plaintext_keys,
        pkcs11=_pkcs11(args, env),
        station=args.station,
        greengrass=_core_settings(args, env, target, fleet),
    )
    if args.dry_run:
        planned = Batch(target, settings, _NoClaim(), env=env).plan(args.manifest, only_failed=retry)
        env.out(
            f"dry run: {planned.total} rows valid, {planned.planned} to provision, {planned.skipped} already done\n"
        )
        return ExitStatus.OK
    manifest.validate(args.manifest, fleet.schema)  # a bad manifest is refused before any credential is read
    batch = Batch(target, settings, _claim(args, target, fleet, secret), env=env)
    try:
        summary = batch.run(args.manifest, only_failed=retry)
    finally:
        batch.close()
    env.out(
        f"{summary.verified} provisioned and verified, {summary.skipped} skipped (already done), "
        f"{len(summary.failed)} failed, in {summary.seconds:.1f} s; bundles in {settings.bundle_dir}\n"
    )
    for serial, cause in sorted(summary.failed.items()):
        env.out(f"  failed {serial}: {cause}\n")
    if summary.fault is not None:
        env.err(f"stopped: the rest of the batch is left as it was ({summary.not_started} not started)\n")
        raise summary.fault
    return ExitStatus.FAILED if summary.failed else ExitStatus.OK


class _NoClaim:
    """Claim credentials for a dry run, which connects to nothing."""

    expires = False

    def credentials(self) -> Credentials:  # pragma: no cover - a dry run never connects
        raise AssertionError("a dry run connects to nothing")


COMMANDS: dict[str, Callable[[argparse.Namespace, Environment], int]] = {
    "claim-csr": cmd_claim_csr,
    "validate": cmd_validate,
    "run": cmd_run,
    "retry-failed": cmd_run,
    "doctor": cmd_doctor,
    "status": cmd_status,
    "export-key": cmd_export_key,
    "first-boot-config": cmd_first_boot_config,
    "greengrass-components": cmd_greengrass_components,
}


def main(argv: Sequence[str], env: Environment) -> int:
    args = parser(env).parse_args(list(argv))
    try:
        command = identity_cli.dispatch(args) or COMMANDS[args.command]
        return command(args, env)
    except ProvisioningError as exc:
        env.err(f"error: {exc.cause}\n" + (f"  fix: {exc.fix}\n" if exc.fix else ""))
        return int(exc.exit_status)


def run(argv: Sequence[str], env: Environment | None = None) -> int:
    """In-process entry (tests, scripts): the CLI's contract with an injectable environment."""
    return contract.main(main, argv, env or Environment(), interrupted=INTERRUPTED)


def entry() -> None:
    """The ``iot-provision`` console script."""
    contract.entry(main, interrupted=INTERRUPTED)
