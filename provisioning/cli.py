"""``python -m provisioning``: claim keys, manifest validation, batches, status.

python -m provisioning claim-csr --key claim.key --csr config/claims/sensors.csr.pem
python -m provisioning validate MANIFEST --outputs deploy-outputs.json --fleet sensors
python -m provisioning run MANIFEST --outputs ... --fleet sensors --claim-cert C --claim-key K
python -m provisioning run MANIFEST --outputs ... --fleet sensors --trusted-user
python -m provisioning status | retry-failed MANIFEST ...
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path

from provisioning import keys, manifest
from provisioning import target as target_mod
from provisioning.errors import ProvisioningError


class ExitStatus(IntEnum):
    OK = 0
    SOME_FAILED = 1
    USAGE = 2
    INTERRUPTED = 130


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m provisioning", description="Factory-line provisioning")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("claim-csr", help="make the claim key (0600) and the CSR the stack's config points at")
    c.add_argument("--key", type=Path, required=True)
    c.add_argument("--csr", type=Path, required=True)
    c.add_argument("--key-type", choices=keys.KEY_TYPES, default="ec-p256")
    c.add_argument("--common-name", default="fleet-claim")

    def target_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("--outputs", type=Path, required=True, help="cdk deploy --outputs-file (or the double's)")
        s.add_argument("--stack")
        s.add_argument("--fleet", required=True)
        s.add_argument("--endpoint")
        s.add_argument("--port", type=int)
        s.add_argument("--ca-file", type=Path)

    v = sub.add_parser("validate", help="check a manifest against the fleet's parameters")
    v.add_argument("manifest", type=Path)
    target_args(v)
    for name in ("run", "retry-failed"):
        r = sub.add_parser(
            name, help="provision the devices of a manifest" if name == "run" else "retry failed devices"
        )
        r.add_argument("manifest", type=Path)
        target_args(r)
        r.add_argument("--claim-cert", type=Path)
        r.add_argument("--claim-key", type=Path)
        r.add_argument("--trusted-user", action="store_true", help="CreateProvisioningClaim with your AWS credentials")
        r.add_argument("--control-plane-url", help="AWS IoT API endpoint override (the double's ControlPlaneUrl)")
        r.add_argument("--workers", type=int, default=4)
        r.add_argument("--rate", type=float, default=10.0, help="requests per second (the account quota); 0 = off")
        r.add_argument("--key-type", choices=keys.KEY_TYPES, default="ec-p256")
        r.add_argument("--key-store", choices=("file", "pkcs11"), default="file")
        r.add_argument("--pkcs11-module")
        r.add_argument("--token-label")
        r.add_argument("--work-dir", type=Path, default=Path("provisioning-work"))
        r.add_argument("--dry-run", action="store_true", help="validate and plan; touch no key, device or service")
        r.add_argument("--station", default=os.uname().nodename.split(".")[0][:20] or "station")
    d = sub.add_parser("doctor", help="check the configuration against the target")
    target_args(d)
    d.add_argument("--claim-cert", type=Path)
    d.add_argument("--claim-key", type=Path)
    s = sub.add_parser("status", help="what the journal says")
    s.add_argument("--work-dir", type=Path, default=Path("provisioning-work"))
    return p


def _passphrase() -> bytes | None:
    if value := os.environ.get("PROVISIONING_KEY_PASSPHRASE"):
        return value.encode()
    if path := os.environ.get("PROVISIONING_KEY_PASSPHRASE_FILE"):
        return Path(path).read_bytes().strip()
    return None


class TrustedUserClaims:
    """Temporary claim certificates from CreateProvisioningClaim, renewed before their 5 minutes end."""

    def __init__(self, template: str, region: str | None, endpoint_url: str | None) -> None:
        import boto3

        self.template = template
        self.iot = boto3.client("iot", region_name=region, endpoint_url=endpoint_url)
        self.directory = Path(tempfile.mkdtemp(prefix="claim-"))  # 0700
        self._lock = threading.Lock()
        self._issued = 0.0
        self._paths: tuple[Path, Path] | None = None

    def __call__(self) -> tuple[Path, Path]:
        with self._lock:
            if self._paths is None or time.time() - self._issued > 240:
                claim = self.iot.create_provisioning_claim(templateName=self.template)
                cert, key = (
                    self.directory / f"{claim['certificateId']}.pem",
                    self.directory / f"{claim['certificateId']}.key",
                )
                cert.write_text(claim["certificatePem"])
                keys.write_private(key, claim["keyPair"]["PrivateKey"].encode())
                self._paths, self._issued = (cert, key), time.time()
            return self._paths


def run(argv: Sequence[str], *, out: object = sys.stdout) -> int:
    from provisioning.batch import Batch, Claim, Settings
    from provisioning.journal import Journal

    args = parser().parse_args(argv)
    write = out.write  # type: ignore[attr-defined]
    try:
        if args.command == "claim-csr":
            store = keys.FileKeyStore(args.key.parent, passphrase=_passphrase())
            store.generate(args.key.stem, args.key_type)
            generated = store.path(args.key.stem)
            if generated != args.key:
                os.replace(generated, args.key)
            args.csr.parent.mkdir(parents=True, exist_ok=True)
            args.csr.write_text(
                keys.build_csr(
                    keys.FileKeyStore(args.key.parent, passphrase=_passphrase()).load(args.key.stem), args.common_name
                )
            )
            write(f"claim key {args.key} (0600, keep it on this station); CSR {args.csr} (give it to the stack)\n")
            return ExitStatus.OK
        if args.command == "status":
            journal = Journal(args.work_dir / "journal.sqlite")
            counts = journal.counts()
            write(", ".join(f"{state}: {n}" for state, n in sorted(counts.items())) or "empty journal")
            write("\n")
            for device in journal.devices("failed"):
                write(f"  failed {device.serial}: {device.cause}\n")
            return ExitStatus.OK
        target = target_mod.load(
            args.outputs, stack=args.stack, endpoint=args.endpoint, port=args.port, ca_file=args.ca_file
        )
        fleet = target.fleet(args.fleet)
        if args.command == "validate":
            count = manifest.validate(
                args.manifest, patterns=fleet.patterns, serial_parameter=fleet.serial_parameter, defaults=fleet.defaults
            )
            write(f"{args.manifest}: {count} rows, all valid for fleet {fleet.name}\n")
            return ExitStatus.OK
        if args.command == "doctor":
            from provisioning.doctor import run_checks

            checks = run_checks(target, fleet, args.claim_cert, args.claim_key)
            for check in checks:
                write(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}\n")
            return ExitStatus.OK if all(c.ok for c in checks) else ExitStatus.SOME_FAILED
        if args.trusted_user:
            claim = Claim(
                trusted_user=TrustedUserClaims(
                    fleet.template, target.region, args.control_plane_url or target.control_plane_url
                )
            )
        else:
            claim = Claim(cert_file=args.claim_cert, key_file=args.claim_key)
        pkcs11 = None
        if args.key_store == "pkcs11" or args.pkcs11_module:
            pin = os.environ.get("PROVISIONING_PKCS11_PIN", "")
            if not (args.pkcs11_module and args.token_label and pin):
                raise ProvisioningError(
                    "PKCS#11 needs a module, a token label and a PIN",
                    "pass --pkcs11-module, --token-label and set PROVISIONING_PKCS11_PIN",
                )
            pkcs11 = {"module": args.pkcs11_module, "token_label": args.token_label, "pin": pin}
        settings = Settings(
            fleet=fleet.name,
            journal=args.work_dir / "journal.sqlite",
            keys_dir=args.work_dir / "keys",
            bundle_dir=args.work_dir / "bundles",
            workers=args.workers,
            rate=args.rate or None,
            key_type=args.key_type,
            key_store=args.key_store,
            passphrase=_passphrase(),
            pkcs11=pkcs11,
            station=args.station,
        )
        batch = Batch(target, settings, claim)
        try:
            summary = batch.run(args.manifest, only_failed=args.command == "retry-failed", dry_run=args.dry_run)
            if args.dry_run:
                planned, done = summary.planned, summary.skipped
                write(f"dry run: {summary.total} rows valid, {planned} to provision, {done} already done\n")
                return ExitStatus.OK
        finally:
            batch.close()
        write(
            f"{summary.verified} provisioned and verified, {summary.skipped} skipped (already done), "
            f"{len(summary.failed)} failed, in {summary.seconds:.1f} s; bundles in {settings.bundle_dir}\n"
        )
        for serial, cause in sorted(summary.failed.items()):
            write(f"  failed {serial}: {cause}\n")
        return ExitStatus.SOME_FAILED if summary.failed else ExitStatus.OK
    except manifest.ManifestError as exc:
        sys.stderr.write(f"{exc}\n")
        return ExitStatus.USAGE
    except ProvisioningError as exc:
        sys.stderr.write(f"error: {exc.cause}\n" + (f"  fix: {exc.fix}\n" if exc.fix else ""))
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: the journal has every finished step; run the same command to resume\n")
        return ExitStatus.INTERRUPTED
