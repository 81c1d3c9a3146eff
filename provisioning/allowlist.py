"""The serial allowlist as an operator edits it: import, show, allow re-provisioning, revoke, release.

Items are the hook's (docs/allowlist.md): key ``fleet`` + ``serial``; ``status`` ``ALLOWED`` /
``CLAIMED`` / ``REVOKED``. Import files are CSV (with a header) or JSON lines, one serial a row:

- the fleet's serial parameter (e.g. ``SerialNumber``; ``serial`` is accepted too), required;
- ``public_key_sha256``: SHA-256 (hex, colons allowed) of the device key's DER SubjectPublicKeyInfo,
  as a secure element vendor's key manifest gives it; or ``public_key``: the PEM public key (or a
  CSR) it is computed from. The hook then refuses a certificate with any other key;
- any other declared template parameter: a trusted value stored in ``parameters``, which replaces
  what the device sends (checked against the parameter's pattern).

Import is idempotent: the file is validated whole first (every bad row named ``file:line``;
nothing is written unless ``--rejects`` takes the bad rows), existing items are read and never
overwritten (one that differs from its row is reported as a conflict), and new items go in
BatchWriteItem calls of at most 25 requests (DynamoDB's limit; items are far below its 16 MB
and 400 KB limits), with ``UnprocessedItems`` sent again after an exponential backoff.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from provisioning import manifest
from provisioning.errors import ProvisioningError, StationFault, UsageError

ALLOWED, CLAIMED, REVOKED = "ALLOWED", "CLAIMED", "REVOKED"
#: BatchWriteItem: "up to 25 item put or delete operations" and 16 MB per call (DynamoDB API reference).
BATCH_WRITE_MAX = 25
#: BatchGetItem: up to 100 items per call (DynamoDB API reference).
BATCH_GET_MAX = 100
FINGERPRINT_COLUMNS = ("public_key_sha256", "public_key")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Entry:
    line: int
    serial: str
    fingerprint: str | None
    parameters: Mapping[str, str]

    def item(self, fleet: str, now: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fleet": {"S": fleet},
            "serial": {"S": self.serial},
            "status": {"S": ALLOWED},
            "imported_at": {"S": now},
        }
        if self.fingerprint:
            out["public_key_sha256"] = {"S": self.fingerprint}
        if self.parameters:
            out["parameters"] = {"M": {k: {"S": v} for k, v in sorted(self.parameters.items())}}
        return out

    def differs_from(self, existing: Mapping[str, Any]) -> str | None:
        """Why ``existing`` does not hold this row's values, or None when it does."""
        recorded = existing.get("public_key_sha256", {}).get("S")
        if self.fingerprint and recorded != self.fingerprint:
            return "a different public-key fingerprint" if recorded else "no public-key fingerprint"
        stored = {k: v.get("S") for k, v in existing.get("parameters", {}).get("M", {}).items()}
        if any(stored.get(k) != v for k, v in self.parameters.items()):
            return "different trusted parameter values"
        return None


def normalise_fingerprint(text: str) -> str | None:
    """Lower-case hex without separators, or None when ``text`` is not a SHA-256."""
    value = text.strip().lower().removeprefix("sha256:").replace(":", "")
    return value if _HEX64.fullmatch(value) else None


def spki_sha256_of_pem(pem: str) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo of a PEM public key, CSR or certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    data = pem.encode()
    if b"CERTIFICATE REQUEST" in data:
        key: Any = x509.load_pem_x509_csr(data).public_key()
    elif b"BEGIN CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


# reading an import file --------------------------------------------------------------------------------


@dataclass
class ImportFile:
    entries: list[Entry]
    errors: list[manifest.RowError]
    raw_lines: dict[int, str] = field(default_factory=dict)


def _serial_column(record: Mapping[str, str], serial_parameter: str) -> str:
    return record.get(serial_parameter) or record.get("serial") or ""


def _entry(line: int, record: Mapping[str, str], schema: manifest.Schema) -> Entry | list[str]:
    problems: list[str] = []
    known = {schema.serial_parameter, "serial", *FINGERPRINT_COLUMNS, *schema.patterns}
    unknown = sorted(set(record) - known)
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(unknown)}; an allowlist row takes {schema.serial_parameter}, "
            f"{', '.join(FINGERPRINT_COLUMNS)} and the parameters {', '.join(schema.patterns)}"
        )
    serial = _serial_column(record, schema.serial_parameter).strip()
    pattern = schema.patterns.get(schema.serial_parameter)
    if not serial:
        problems.append(f"{schema.serial_parameter} is empty")
    elif pattern and not re.fullmatch(pattern, serial):
        problems.append(f"{schema.serial_parameter} {serial!r} does not match {pattern}")
    fingerprint: str | None = None
    if record.get("public_key_sha256"):
        fingerprint = normalise_fingerprint(record["public_key_sha256"])
        if fingerprint is None:
            problems.append("public_key_sha256 is not a SHA-256 in hex (64 hex digits, colons allowed)")
    if record.get("public_key"):
        try:
            computed = spki_sha256_of_pem(record["public_key"])
        except ValueError:
            problems.append("public_key is not a PEM public key, CSR or certificate")
        else:
            if fingerprint and fingerprint != computed:
                problems.append("public_key_sha256 is not the SHA-256 of public_key")
            fingerprint = computed
    parameters: dict[str, str] = {}
    for name, value in record.items():
        if name in (schema.serial_parameter, "serial", *FINGERPRINT_COLUMNS) or name not in schema.patterns:
            continue
        if value == "":
            continue
        if not re.fullmatch(schema.patterns[name], value):
            problems.append(f"{name} {value!r} does not match {schema.patterns[name]}")
        parameters[name] = value
    return problems or Entry(line, serial, fingerprint, parameters)


def read_import_file(path: Path, schema: manifest.Schema) -> ImportFile:
    """Every row of ``path``, each either an entry or its problems (file:line in ``errors``)."""
    result = ImportFile([], [])
    seen: dict[str, int] = {}
    for line, record in manifest._records(path):
        if isinstance(record, str):
            result.errors.append(manifest.RowError(line, record))
            continue
        entry = _entry(line, record, schema)
        if isinstance(entry, list):
            result.errors.extend(manifest.RowError(line, p) for p in entry)
            continue
        if (first := seen.get(entry.serial)) is not None:
            result.errors.append(manifest.RowError(line, f"serial {entry.serial} repeats line {first}"))
            continue
        seen[entry.serial] = line
        result.entries.append(entry)
    if not result.entries and not result.errors:
        result.errors.append(manifest.RowError(0, "the file has no rows"))
    return result


def write_rejects(source: Path, target: Path, errors: Sequence[manifest.RowError]) -> int:
    """Copy the bad lines of ``source`` to ``target`` (the CSV header first), each after its reasons."""
    bad = {e.line for e in errors if e.line}
    reasons: dict[int, list[str]] = {}
    for e in errors:
        reasons.setdefault(e.line, []).append(e.message)
    jsonl = manifest._is_jsonl(source)
    with target.open("w", encoding="utf-8") as out:
        for number, text in enumerate(manifest._lines(source), start=1):
            if number == 1 and not jsonl:
                out.write(text if text.endswith("\n") else text + "\n")
            elif number in bad:
                if not jsonl:
                    out.write(f"# {source}:{number}: {'; '.join(reasons[number])}\n")
                out.write(text if text.endswith("\n") else text + "\n")
    return len(bad)


# DynamoDB ------------------------------------------------------------------------------------------------


def dynamodb_client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 8, "mode": "adaptive"}, max_pool_connections=16)
    return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url, config=config)


def _aws_call(call: Callable[[], Any], what: str) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return call()
    except NoCredentialsError:
        raise StationFault(f"{what}: no AWS credentials", "set AWS_PROFILE or the AWS_* credential variables") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        if code == "ResourceNotFoundException":
            raise StationFault(f"{what}: the allowlist table does not exist", "check --outputs and --region") from None
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            raise StationFault(
                f"{what}: {code}: {error.get('Message', '')}", "use the operator's credentials"
            ) from None
        raise ProvisioningError(f"{what}: {code}: {error.get('Message', '')}") from None
    except BotoCoreError as exc:
        raise StationFault(f"{what}: {exc}", "check the network and the endpoint") from None


@dataclass
class ImportSummary:
    written: int = 0
    unchanged: int = 0
    conflicts: list[tuple[Entry, str]] = field(default_factory=list)
    retried: int = 0
    calls: int = 0
    seconds: float = 0.0


class Allowlist:
    """One fleet's partition of the allowlist table."""

    def __init__(
        self,
        client: Any,
        table: str,
        fleet: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_backoff: float = 5.0,
    ) -> None:
        self.client, self.table, self.fleet = client, table, fleet
        self.sleep = sleep
        self.max_backoff = max_backoff

    def key(self, serial: str) -> dict[str, Any]:
        return {"fleet": {"S": self.fleet}, "serial": {"S": serial}}

    def get(self, serial: str) -> dict[str, Any] | None:
        answer = _aws_call(
            lambda: self.client.get_item(TableName=self.table, Key=self.key(serial), ConsistentRead=True),
            f"reading {serial}",
        )
        item: dict[str, Any] | None = answer.get("Item")
        return item

    def existing(self, serials: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The items among ``serials`` that exist (BatchGetItem, unprocessed keys asked again)."""
        found: dict[str, dict[str, Any]] = {}
        keys = [self.key(s) for s in serials]
        attempt = 0
        while keys:
            answer = _aws_call(
                partial(self.client.batch_get_item, RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}),
                "reading existing entries",
            )
            for item in answer.get("Responses", {}).get(self.table, []):
                found[item["serial"]["S"]] = item
            keys = answer.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            if keys:
                attempt += 1
                self.sleep(self._backoff(attempt))
        return found

    def _backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff, as DynamoDB recommends for unprocessed items."""
        return random.uniform(0, min(self.max_backoff, 0.05 * 2**attempt))  # noqa: S311 - jitter, not crypto

    def put_batch(self, items: Sequence[dict[str, Any]], summary: ImportSummary) -> None:
        """BatchWriteItem of at most 25 puts; whatever DynamoDB leaves unprocessed is sent again."""
        if len(items) > BATCH_WRITE_MAX:
            raise ValueError("BatchWriteItem takes at most 25 requests")
        requests = [{"PutRequest": {"Item": item}} for item in items]
        attempt = 0
        while requests:
            summary.calls += 1
            answer = _aws_call(
                partial(self.client.batch_write_item, RequestItems={self.table: requests}),
                "writing entries",
            )
            requests = answer.get("UnprocessedItems", {}).get(self.table, [])
            if requests:
                summary.retried += len(requests)
                attempt += 1
                self.sleep(self._backoff(attempt))

    def import_entries(
        self, entries: Sequence[Entry], *, progress: Callable[[int], None] | None = None
    ) -> ImportSummary:
        summary = ImportSummary()
        started = time.monotonic()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        done = 0
        for start in range(0, len(entries), BATCH_GET_MAX):
            chunk = entries[start : start + BATCH_GET_MAX]
            present = self.existing([e.serial for e in chunk])
            new = []
            for entry in chunk:
                if entry.serial in present:
                    why = entry.differs_from(present[entry.serial])
                    if why is None:
                        summary.unchanged += 1
                    else:
                        summary.conflicts.append((entry, why))
                else:
                    new.append(entry.item(self.fleet, now))
            for at in range(0, len(new), BATCH_WRITE_MAX):
                self.put_batch(new[at : at + BATCH_WRITE_MAX], summary)
            summary.written += len(new)
            done += len(chunk)
            if progress is not None:
                progress(done)
        summary.seconds = time.monotonic() - started
        return summary

    # single-entry operations -------------------------------------------------------------------------

    def update(
        self, serial: str, expression: str, condition: str, values: dict[str, Any], what: str
    ) -> dict[str, Any] | None:
        """A conditional UpdateItem; the new item, or None when the condition failed."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": self.key(serial),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ReturnValues": "ALL_NEW",
        }
        if "#status" in expression + condition:
            kwargs["ExpressionAttributeNames"] = {"#status": "status"}
        if values:
            kwargs["ExpressionAttributeValues"] = values

        def call() -> Any:
            try:
                return self.client.update_item(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    return None
                raise

        answer = _aws_call(call, what)
        if answer is None:
            return None
        item: dict[str, Any] = answer.get("Attributes", {})
        return item

    def allow_reprovision(self, serial: str, *, by: str, reason: str, fingerprint: str | None) -> dict[str, Any]:
        """Let a CLAIMED serial be provisioned once more (RMA, factory reset); never a REVOKED one."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        values: dict[str, Any] = {
            ":t": {"BOOL": True},
            ":by": {"S": by},
            ":why": {"S": reason},
            ":now": {"S": now},
            ":revoked": {"S": REVOKED},
        }
        expression = "SET allow_reprovision = :t, reprovision_allowed_by = :by, reprovision_reason = :why, "
        expression += "reprovision_allowed_at = :now"
        if fingerprint:
            expression += ", public_key_sha256 = :fp"
            values[":fp"] = {"S": fingerprint}
        item = self.update(
            serial, expression, "attribute_exists(serial) AND #status <> :revoked", values, f"allowing {serial}"
        )
        if item is None:
            current = self.get(serial)
            if current is None:
                raise UsageError(f"serial {serial} is not on the allowlist of fleet {self.fleet}", "import it first")
            raise UsageError(
                f"serial {serial} is REVOKED: it cannot be provisioned again",
                f"release it first (iot-provision allowlist release {serial} ...) if the revocation was a mistake",
            )
        return item

    def mark_revoked(self, serial: str, *, by: str, reason: str) -> dict[str, Any]:
        """Status REVOKED with who, why and when; the status before is kept for a release."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        item = self.update(
            serial,
            "SET revoked_from = if_not_exists(revoked_from, #status), #status = :revoked, revoked_by = :by, "
            "revoke_reason = :why, revoked_at = :now REMOVE allow_reprovision",
            "attribute_exists(serial)",
            {":revoked": {"S": REVOKED}, ":by": {"S": by}, ":why": {"S": reason}, ":now": {"S": now}},
            f"revoking {serial}",
        )
        if item is None:
            raise UsageError(f"serial {serial} is not on the allowlist of fleet {self.fleet}", "check the serial")
        return item

    def mark_released(self, serial: str, *, by: str, reason: str) -> dict[str, Any]:
        """Back to the status before the revocation (CLAIMED or ALLOWED), the release recorded."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        item = self.update(
            serial,
            "SET #status = revoked_from, released_by = :by, release_reason = :why, released_at = :now "
            "REMOVE revoked_from",
            "#status = :revoked AND attribute_exists(revoked_from)",
            {":revoked": {"S": REVOKED}, ":by": {"S": by}, ":why": {"S": reason}, ":now": {"S": now}},
            f"releasing {serial}",
        )
        if item is None:
            current = self.get(serial)
            if current is None:
                raise UsageError(f"serial {serial} is not on the allowlist of fleet {self.fleet}", "check the serial")
            raise UsageError(f"serial {serial} is not revoked (status {current.get('status', {}).get('S')})")
        return item

    def set_current_certificate(self, serial: str, *, new: str, old: str, fingerprint: str | None) -> None:
        """After a rotation: the serial's certificate is ``new`` (only if it was ``old``)."""
        values: dict[str, Any] = {":new": {"S": new}, ":old": {"S": old}, ":now": {"S": _now()}}
        expression = "SET claimed_certificate_id = :new, previous_certificate_id = :old, rotated_at = :now"
        if fingerprint:
            expression += ", public_key_sha256 = :fp"
            values[":fp"] = {"S": fingerprint}
        self.update(serial, expression, "claimed_certificate_id = :old", values, f"recording {serial}'s certificate")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain JSON values."""
    from boto3.dynamodb.types import TypeDeserializer

    out = {k: TypeDeserializer().deserialize(v) for k, v in item.items()}
    return json.loads(json.dumps(out, default=lambda v: int(v) if v == int(v) else float(v)))  # type: ignore[no-any-return]
