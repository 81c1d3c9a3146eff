"""``iot-provision allowlist|rma-finish|rotate``: a device identity's lifecycle from the operator's desk.

    iot-provision allowlist import SERIALS.csv --outputs deploy-outputs.json --fleet sensors
    iot-provision allowlist show SN00000001 --outputs ... --fleet sensors
    iot-provision allowlist allow-reprovision SN00000001 --reason "RMA 4711" --outputs ... --fleet sensors
    iot-provision allowlist revoke SN00000001 --reason "stolen" --outputs ... --fleet sensors
    iot-provision allowlist release SN00000001 --reason "found" --outputs ... --fleet sensors
    iot-provision rma-finish SN00000001 --outputs ... --fleet sensors
    iot-provision rotate device SN00000001 --cert C --key K --out DIR --outputs ... --fleet sensors
    iot-provision rotate stalled|purge --outputs ... --fleet sensors

These use the operator's AWS credentials (DynamoDB on the allowlist table; AWS IoT for certificates,
things and groups), never a station's claim. Against the local double the endpoints come from its
outputs file (``AwsEndpointUrl``, ``ControlPlaneUrl``); against AWS from the usual boto3 settings.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from contracts import cli as contract
from contracts import outputs as outputs_contract
from contracts.cli import Environment
from contracts.exit_status import ExitStatus
from provisioning import manifest
from provisioning import target as target_mod
from provisioning.constants import KEY_TYPES
from provisioning.errors import UsageError


def _operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname().split('.')[0]}"


def _common(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--outputs", type=Path, required=True, help="cdk deploy --outputs-file (or the double's outputs.json)"
    )
    s.add_argument("--stack", help="the fleet provisioning stack's name, when the outputs file holds several")
    s.add_argument("--fleet", required=True, help="the fleet whose allowlist partition to use")
    s.add_argument("--region", help="AWS region (default: the double's, or the AWS_REGION/profile setting)")
    s.add_argument(
        "--dynamodb-url", help="DynamoDB endpoint override (default: the double's AwsEndpointUrl, else AWS's)"
    )
    s.add_argument(
        "--control-plane-url", help="AWS IoT API endpoint override (default: the double's ControlPlaneUrl, else AWS's)"
    )


def _who(s: argparse.ArgumentParser, *, reason: bool = True) -> None:
    if reason:
        s.add_argument("--reason", required=True, help="why (recorded with the entry)")
    s.add_argument("--by", default=_operator(), help="who does it (recorded with the entry)")


def add_commands(sub: Any) -> None:
    """Add ``allowlist``, ``rma-finish`` and ``rotate`` to the factory CLI's subcommands."""
    a = sub.add_parser("allowlist", help="import, show, allow re-provisioning of, revoke and release serials")
    asub = a.add_subcommands(dest="allowlist_command")
    i = asub.add_parser("import", help="add serials (CSV or JSON lines) to the allowlist; existing ones are kept")
    i.add_argument("file", type=Path, help="CSV with a header, or .jsonl; see docs/allowlist.md for the columns")
    i.add_argument(
        "--rejects", type=Path, help="write bad rows here and import the good ones (default: refuse the whole file)"
    )
    _common(i)
    s = asub.add_parser("show", help="print the allowlist entries of serials as JSON lines")
    s.add_argument("serials", nargs="+", help="serial numbers")
    _common(s)
    r = asub.add_parser("allow-reprovision", help="let a serial be provisioned once more (RMA, factory reset)")
    r.add_argument("serial", help="serial number")
    r.add_argument("--public-key-sha256", help="the replacement key's SPKI SHA-256 (a new secure element)")
    r.add_argument("--public-key", type=Path, help="the replacement key as a PEM public key, CSR or certificate")
    _who(r)
    _common(r)
    v = asub.add_parser("revoke", help="revoke a serial: allowlist, certificates and quarantine")
    v.add_argument("serial", help="serial number")
    v.add_argument(
        "--certificate-status",
        choices=("REVOKED", "INACTIVE"),
        default="REVOKED",
        help="what the thing's certificates become (INACTIVE can be released, REVOKED cannot)",
    )
    v.add_argument("--allowlist-only", action="store_true", help="only mark the entry REVOKED; touch no certificate")
    _who(v)
    _common(v)
    k = asub.add_parser(
        "key-manifest", help="write the SPKI SHA-256 of the keys this station holds for a manifest's serials"
    )
    k.add_argument("manifest", type=Path, help="CSV (with a header) or JSON lines with the serials")
    k.add_argument("--serial-column", default="SerialNumber", help="the column holding the serial")
    k.add_argument("--out", type=Path, required=True, help="JSON lines to import (refuses to overwrite)")
    k.add_argument("--work-dir", type=Path, default=Path("provisioning-work"), help="where the file keys live")
    k.add_argument("--key-store", choices=("file", "pkcs11"), default="file", help="where the keys live")
    k.add_argument("--pkcs11-module", help="PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)")
    k.add_argument("--token-label", help="PKCS#11 token label")
    k.add_argument("--plaintext-keys", action="store_true", help="the file keys are unencrypted")
    k.add_argument("--passphrase-file", type=Path, help="file holding the key passphrase")
    e = asub.add_parser("release", help="undo a revocation as far as AWS allows")
    e.add_argument("serial", help="serial number")
    _who(e)
    _common(e)
    m = sub.add_parser("rma-finish", help="after a re-provisioning: retire every certificate but the current one")
    m.add_argument("serial", help="serial number")
    m.add_argument(
        "--inactive", action="store_true", help="set the old certificates INACTIVE instead of REVOKED (reversible)"
    )
    _common(m)
    t = sub.add_parser("rotate", help="certificate rotation: a bench device, stalled rotations, deleting old ones")
    tsub = t.add_subcommands(dest="rotate_command")
    d = tsub.add_parser("device", help="rotate one device whose key and certificate are files on this machine")
    d.add_argument("serial", help="serial number")
    d.add_argument("--cert", type=Path, required=True, help="the device's current certificate (PEM)")
    d.add_argument(
        "--key", type=Path, help="the device's current key: the device first proves its identity by connecting with it"
    )
    d.add_argument("--key-type", choices=KEY_TYPES, default="ec-p256", help="the new key's type")
    d.add_argument("--out", type=Path, required=True, help="directory for the new key (0600) and certificate")
    d.add_argument("--grace-days", type=float, default=7.0, help="days before the old certificate is deleted")
    d.add_argument("--endpoint", help="MQTT endpoint (default: the double's)")
    d.add_argument("--port", type=int, help="MQTT port (default: 8883, or the double's)")
    d.add_argument("--ca-file", type=Path, help="root CA of the endpoint (default: the double's CaFile)")
    d.add_argument("--plaintext-keys", action="store_true", help="store the new key unencrypted (0600)")
    d.add_argument("--passphrase-file", type=Path, help="file holding the key passphrase")
    _common(d)
    st = tsub.add_parser("stalled", help="list rotations started and not finished in time (exit 1 when any)")
    st.add_argument("--after-minutes", type=float, default=60.0, help="a rotation older than this is stalled")
    _common(st)
    p = tsub.add_parser("purge", help="delete old certificates whose grace period is over")
    _common(p)
    du = tsub.add_parser(
        "due", help="devices Device Defender's expiring/age audits flag for rotation (exit 1 when any)"
    )
    _common(du)


# context -------------------------------------------------------------------------------------------------


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        from provisioning.allowlist import Allowlist, dynamodb_client

        fix = "pass --outputs with the file `cdk deploy --outputs-file` wrote (or the double's outputs.json)"
        data = target_mod.read_json(args.outputs, "outputs file", fix)
        if not isinstance(data, dict):
            raise UsageError(f"outputs file {args.outputs} must hold a JSON object of stacks", fix)
        try:
            values = outputs_contract.find_stack(
                data, outputs_contract.FLEET_NAMES, stack=args.stack, what="fleet provisioning"
            )
            fleets = outputs_contract.read_fleets(values)
        except outputs_contract.OutputsError as exc:
            raise UsageError(f"{args.outputs}: {exc}", fix) from None
        if args.fleet not in fleets:
            raise UsageError(
                f"fleet {args.fleet!r} is not in the outputs file", f"pass --fleet with one of: {', '.join(fleets)}"
            )
        self.fleet = fleets[args.fleet]
        table = values.get(outputs_contract.ALLOWLIST_TABLE_NAME)
        if not table:
            raise UsageError(f"{args.outputs}: no {outputs_contract.ALLOWLIST_TABLE_NAME} output", fix)
        self.device_policy = values.get(
            outputs_contract.fleet_key(args.fleet, outputs_contract.FleetOutput.DEVICE_POLICY_NAME), ""
        )
        try:
            defender = outputs_contract.find_stack(data, outputs_contract.QUARANTINE_GROUP_NAME, what="Device Defender")
            self.quarantine_group: str | None = defender[outputs_contract.QUARANTINE_GROUP_NAME]
        except outputs_contract.OutputsError:
            self.quarantine_group = None
        double = data.get(outputs_contract.DOUBLE_SECTION, {})
        double = double if isinstance(double, dict) else {}
        self.region = args.region or double.get("Region") or os.environ.get("AWS_REGION")
        dynamodb_url = args.dynamodb_url or double.get("AwsEndpointUrl")
        self.iot_url = args.control_plane_url or double.get("ControlPlaneUrl")
        self.allowlist = Allowlist(dynamodb_client(self.region, dynamodb_url), table, args.fleet)
        self.schema = manifest.Schema(
            patterns=self.fleet.parameter_patterns, serial_parameter=self.fleet.serial_parameter, defaults={}
        )

    def lifecycle(self) -> Any:
        from provisioning.lifecycle import Lifecycle, iot_client

        return Lifecycle(
            self.allowlist,
            iot_client(self.region, self.iot_url),
            device_policy=self.device_policy,
            quarantine_group=self.quarantine_group,
        )


# allowlist ---------------------------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace, env: Environment) -> int:
    from provisioning.allowlist import read_import_file, write_rejects

    ctx = Context(args)
    parsed = read_import_file(args.file, ctx.schema)
    rejected = 0
    if parsed.errors:
        if args.rejects is None or not parsed.entries:
            raise manifest.ManifestError(args.file, parsed.errors)
        rejected = write_rejects(args.file, args.rejects, parsed.errors)
        env.err(f"{rejected} bad row(s) written to {args.rejects} with their reasons; importing the rest\n")
        for error in parsed.errors[:20]:
            env.err(f"  {args.file}:{error.line}: {error.message}\n")
    progress = contract.Progress(env, len(parsed.entries), what="rows")
    try:
        summary = ctx.allowlist.import_entries(parsed.entries, progress=progress.update)
    finally:
        progress.close()
    rate = len(parsed.entries) / summary.seconds if summary.seconds else 0.0
    env.out(
        f"{summary.written} added, {summary.unchanged} already there, {len(summary.conflicts)} conflicting, "
        f"{rejected} rejected; {summary.calls} BatchWriteItem calls, {summary.retried} unprocessed items sent again; "
        f"{summary.seconds:.1f} s ({rate:.0f} rows/s)\n"
    )
    for entry, why in summary.conflicts[:50]:
        env.out(f"  conflict {args.file}:{entry.line}: serial {entry.serial} is already on the allowlist with {why}\n")
    if summary.conflicts:
        env.out("  (an existing entry is never overwritten: use allow-reprovision for a replacement key)\n")
    return ExitStatus.FAILED if summary.conflicts or rejected else ExitStatus.OK


def cmd_key_manifest(args: argparse.Namespace, env: Environment) -> int:
    """Offline: the public-key fingerprints of keys made earlier (by this station, or in a token)."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    from provisioning.cli import _pkcs11, passphrase
    from provisioning.keys import FileKeyStore, KeyStore, Pkcs11KeyStore

    if args.out.exists():
        raise UsageError(f"{args.out} exists", "choose another --out")
    serials = []
    for line, record in manifest._records(args.manifest):
        if isinstance(record, str) or not record.get(args.serial_column):
            raise UsageError(f"{args.manifest}:{line}: no {args.serial_column}", "pass --serial-column")
        serials.append(record[args.serial_column])
    store: KeyStore
    if args.key_store == "pkcs11":
        token = _pkcs11(args, env)
        if token is None:  # pragma: no cover - _pkcs11 asks for the module with --key-store pkcs11
            raise UsageError("PKCS#11 keys need --pkcs11-module and --token-label")
        store = Pkcs11KeyStore(module=token["module"], token_label=token["token_label"], pin=token["pin"])
    else:
        store = FileKeyStore(args.work_dir / "keys", passphrase=passphrase(args, env, required=False))
    store.open()
    missing = 0
    try:
        with args.out.open("x", encoding="utf-8") as out:
            for serial in serials:
                if not store.exists(serial):
                    env.err(f"no key for {serial} in the {args.key_store} store\n")
                    missing += 1
                    continue
                der = store.public_key(serial).public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                row = {args.serial_column: serial, "public_key_sha256": hashlib.sha256(der).hexdigest()}
                out.write(json.dumps(row) + "\n")
    finally:
        store.close()
    env.out(f"{len(serials) - missing} fingerprint(s) written to {args.out}; import it with `allowlist import`\n")
    return ExitStatus.FAILED if missing else ExitStatus.OK


def cmd_show(args: argparse.Namespace, env: Environment) -> int:
    from provisioning.allowlist import plain

    ctx = Context(args)
    missing = 0
    for serial in args.serials:
        item = ctx.allowlist.get(serial)
        if item is None:
            env.err(f"serial {serial} is not on the allowlist of fleet {args.fleet}\n")
            missing += 1
            continue
        env.out(json.dumps(plain(item), sort_keys=True) + "\n")
    return ExitStatus.FAILED if missing else ExitStatus.OK


def _fingerprint_option(args: argparse.Namespace) -> str | None:
    from provisioning.allowlist import normalise_fingerprint, spki_sha256_of_pem

    if args.public_key_sha256 and args.public_key:
        raise UsageError("--public-key-sha256 and --public-key exclude each other", "pass one of them")
    if args.public_key_sha256:
        value = normalise_fingerprint(args.public_key_sha256)
        if value is None:
            raise UsageError("--public-key-sha256 is not a SHA-256 in hex", "64 hex digits, colons allowed")
        return value
    if args.public_key:
        try:
            return spki_sha256_of_pem(args.public_key.read_text())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"--public-key {args.public_key}: not a readable PEM key, CSR or certificate ({exc})"
            ) from None
    return None


def cmd_allow_reprovision(args: argparse.Namespace, env: Environment) -> int:
    from provisioning.allowlist import plain

    ctx = Context(args)
    fingerprint = _fingerprint_option(args)
    item = ctx.allowlist.allow_reprovision(args.serial, by=args.by, reason=args.reason, fingerprint=fingerprint)
    env.out(json.dumps(plain(item), sort_keys=True) + "\n")
    env.out(
        f"serial {args.serial} may be provisioned once more; after it is, run "
        f"`iot-provision rma-finish {args.serial}` to retire its old certificate\n"
    )
    return ExitStatus.OK


def cmd_revoke(args: argparse.Namespace, env: Environment) -> int:
    ctx = Context(args)
    if args.allowlist_only:
        ctx.allowlist.mark_revoked(args.serial, by=args.by, reason=args.reason)
        env.out(f"serial {args.serial} is REVOKED on the allowlist (certificates untouched)\n")
        return ExitStatus.OK
    done = ctx.lifecycle().revoke(
        args.serial, by=args.by, reason=args.reason, certificate_status=args.certificate_status
    )
    where = f"; {done['thing']} is in {ctx.quarantine_group}" if done["quarantined"] else ""
    if not ctx.quarantine_group:
        where = "; no Device Defender stack in the outputs, so no quarantine"
    env.out(
        f"serial {args.serial} is REVOKED on the allowlist; {len(done['certificates'])} certificate(s) "
        f"{done['status']}{where}\n"
    )
    return ExitStatus.OK


def cmd_release(args: argparse.Namespace, env: Environment) -> int:
    ctx = Context(args)
    done = ctx.lifecycle().release(args.serial, by=args.by, reason=args.reason)
    env.out(
        f"serial {args.serial} released: {len(done['reactivated'])} certificate(s) ACTIVE again"
        + (", out of quarantine" if done["left_quarantine"] else "")
        + "\n"
    )
    if done["still_revoked"]:
        env.out(
            f"  {len(done['still_revoked'])} certificate(s) stay REVOKED (final): allow-reprovision the serial "
            "and provision the device again for a new certificate\n"
        )
    return ExitStatus.OK


# RMA and rotation --------------------------------------------------------------------------------------


def cmd_rma_finish(args: argparse.Namespace, env: Environment) -> int:
    ctx = Context(args)
    retired = ctx.lifecycle().retire_replaced(args.serial, revoke=not args.inactive)
    state = "INACTIVE" if args.inactive else "REVOKED"
    env.out(f"serial {args.serial}: {len(retired)} old certificate(s) {state} and detached; one certificate left\n")
    for certificate_id in retired:
        env.out(f"  {certificate_id}\n")
    return ExitStatus.OK


def cmd_rotate_device(args: argparse.Namespace, env: Environment) -> int:
    from provisioning import keys
    from provisioning.cli import passphrase
    from provisioning.mqtt_flow import Credentials, verify_device

    ctx = Context(args)
    target = target_mod.load(
        args.outputs, stack=args.stack, endpoint=args.endpoint, port=args.port, ca_file=args.ca_file
    )
    fleet = target.fleet(args.fleet)
    try:
        current_pem = args.cert.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --cert {args.cert}: {exc}") from None
    secret = passphrase(args, env, required=not args.plaintext_keys)
    life = ctx.lifecycle()
    if args.key is not None:  # as a device calls the signer: over its current, working identity
        current_key = keys.open_private_key(args.key, secret, what="--key")
        thing = life.thing_of(life.entry(args.serial))
        verify_device(target, thing=thing, creds=Credentials(current_pem.encode(), keys.pem_in_memory(current_key)),
                      topic=None)  # fmt: skip
    key_path = args.out / f"{args.serial}.key"
    if key_path.exists():
        raise UsageError(f"{key_path} exists", "choose another --out: a rotation never overwrites a key")
    key = keys.new_private_key(args.key_type)
    args.out.mkdir(parents=True, exist_ok=True)
    keys.write_private(key_path, keys.seal(key, secret))
    try:
        issued = life.start_rotation(args.serial, current_pem=current_pem, csr_pem=keys.build_csr(key, args.serial))
    except BaseException:
        key_path.unlink()  # the signer refused or failed: no certificate will ever match this key
        raise
    cert_path = args.out / f"{args.serial}.pem"
    cert_path.write_text(issued["certificatePem"])
    env.out(f"new certificate {issued['certificateId'][:12]} issued and attached; confirming it on the endpoint\n")
    verify_device(
        target,
        thing=issued["thing"],
        creds=Credentials(issued["certificatePem"].encode(), keys.pem_in_memory(key)),
        topic=fleet.check_topic(issued["thing"]),
    )
    old = life.finish_rotation(args.serial, grace=timedelta(days=args.grace_days))
    env.out(
        f"serial {args.serial} rotated: new key {key_path}, certificate {cert_path}; old certificate {old[:12]} "
        f"INACTIVE and detached, deleted by `rotate purge` after {args.grace_days:g} days\n"
    )
    return ExitStatus.OK


def cmd_rotate_stalled(args: argparse.Namespace, env: Environment) -> int:
    ctx = Context(args)
    stalled = ctx.lifecycle().stalled(older_than=timedelta(minutes=args.after_minutes))
    for entry in stalled:
        env.out(f"{entry['serial']}: rotation started {entry.get('rotation_started_at')} and not finished\n")
    env.out(f"{len(stalled)} stalled rotation(s)\n")
    return ExitStatus.FAILED if stalled else ExitStatus.OK


def cmd_rotate_purge(args: argparse.Namespace, env: Environment) -> int:
    ctx = Context(args)
    deleted = ctx.lifecycle().purge()
    env.out(f"{len(deleted)} old certificate(s) deleted\n")
    return ExitStatus.OK


def cmd_rotate_due(args: argparse.Namespace, env: Environment) -> int:
    ctx = Context(args)
    due = ctx.lifecycle().due()
    for entry in due:
        env.out(f"{entry['thing'] or '(no thing)'}: certificate {entry['certificateId'][:12]} ({entry['check']})\n")
    env.out(f"{len(due)} certificate(s) due for rotation\n")
    return ExitStatus.FAILED if due else ExitStatus.OK


def dispatch(args: argparse.Namespace) -> Callable[[argparse.Namespace, Environment], int] | None:
    """The function of an identity command, or None for another command."""
    if args.command == "allowlist":
        return {
            "import": cmd_import,
            "show": cmd_show,
            "allow-reprovision": cmd_allow_reprovision,
            "revoke": cmd_revoke,
            "release": cmd_release,
            "key-manifest": cmd_key_manifest,
        }[args.allowlist_command]
    if args.command == "rma-finish":
        return cmd_rma_finish
    if args.command == "rotate":
        return {
            "device": cmd_rotate_device,
            "stalled": cmd_rotate_stalled,
            "purge": cmd_rotate_purge,
            "due": cmd_rotate_due,
        }[args.rotate_command]
    return None
