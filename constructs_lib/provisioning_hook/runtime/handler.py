"""Pre-provisioning hook: allow RegisterThing only for valid parameters and an allowlisted, unclaimed serial.

AWS IoT calls this on every RegisterThing of the template (payload version 2020-04-01) with
``{claimCertificateId, certificateId, certificatePem, templateArn, clientId, parameters}`` and
expects ``{allowProvisioning, parameterOverrides}`` within 5 seconds. Anything unexpected —
bad parameters, an unknown or revoked serial, a serial already claimed by another certificate,
a DynamoDB error or slowness — denies (fails closed).

The claim is one conditional UpdateItem, so two devices presenting the same serial at the same
moment cannot both win. A retry of the same certificate (a RegisterThing whose response was lost)
is allowed again; a different certificate is allowed only when the item says
``allow_reprovision``, which that re-provisioning consumes (it is one-shot) and which records the
replaced certificate as ``previous_certificate_id``. When the item holds ``public_key_sha256``
(the SHA-256 of the SubjectPublicKeyInfo a key manifest or the station recorded), the
certificate's public key must match it: a serial read off a label cannot be claimed with another
key. Trusted per-device values stored with the serial (``parameters`` map) are returned as
``parameterOverrides`` and replace what the device sent.

*Trusted* parameters (``TRUSTED_PARAMETERS``) never take the device's value: the hook always
overrides them, with the stored value or else the parameter's default; one that has neither is
required in the allowlist entry: it is read and checked against its pattern before the claim, and
the claim's condition checks its presence again, so a missing or bad value denies while the
serial stays unclaimed. Thing attributes that authorization depends on are built from them.

Environment: ``ALLOWLIST_TABLE``, ``FLEET_NAME``, ``SERIAL_PARAMETER``, ``PARAMETER_PATTERNS``
(JSON ``{name: regex}``), ``PARAMETER_DEFAULTS`` (JSON ``{name: value}``), ``THING_NAME_TEMPLATE``,
``TRUSTED_PARAMETERS`` (JSON list, optional).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOG = logging.getLogger("pre_provisioning_hook")
LOG.setLevel(logging.INFO)

ALLOWED, CLAIMED, REVOKED = "ALLOWED", "CLAIMED", "REVOKED"
_CERT_ID = re.compile(r"[0-9a-f]{64}")
_THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: The hook must answer within 5 s; DynamoDB calls get well under half of that in total.
_CLIENT_CONFIG = Config(connect_timeout=0.5, read_timeout=0.8, retries={"max_attempts": 2, "mode": "standard"})


_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----")


class Denied(Exception):
    """Provisioning is refused; the message is logged, never returned to the device."""


class Settings:
    def __init__(self, env: dict[str, str]) -> None:
        self.table = env["ALLOWLIST_TABLE"]
        self.fleet = env["FLEET_NAME"]
        self.serial_parameter = env["SERIAL_PARAMETER"]
        self.patterns: dict[str, str] = json.loads(env["PARAMETER_PATTERNS"])
        self.defaults: dict[str, str] = json.loads(env.get("PARAMETER_DEFAULTS", "{}"))
        self.thing_name_template = env["THING_NAME_TEMPLATE"]
        self.trusted: tuple[str, ...] = tuple(json.loads(env.get("TRUSTED_PARAMETERS", "[]")))

    @property
    def required_stored(self) -> tuple[str, ...]:
        """Trusted parameters without a default: the allowlist entry must hold them."""
        return tuple(t for t in self.trusted if t not in self.defaults)


_settings: Settings | None = None
_client: Any = None


def _deps() -> tuple[Settings, Any]:
    global _settings, _client
    if _settings is None:
        _settings = Settings(dict(os.environ))
    if _client is None:
        _client = boto3.client("dynamodb", config=_CLIENT_CONFIG)
    return _settings, _client


def validate_parameters(settings: Settings, parameters: object) -> dict[str, str]:
    """Complete ``parameters`` with defaults and check each against its pattern."""
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()
    ):
        raise Denied("parameters is not a map of strings")
    unknown = sorted(set(parameters) - set(settings.patterns))
    if unknown:
        raise Denied(f"unknown parameters {unknown}")
    # A trusted parameter's value never comes from the device.
    sent = {k: v for k, v in parameters.items() if k not in settings.trusted}
    values = {**settings.defaults, **sent}
    for name, pattern in settings.patterns.items():
        if name not in values:
            if name in settings.required_stored:
                continue  # comes from the allowlist entry
            raise Denied(f"parameter {name} is missing")
        if not re.fullmatch(pattern, values[name]):
            raise Denied(f"parameter {name} does not match {pattern}")
    return values


def render_thing_name(template: str, values: dict[str, str]) -> str:
    if any(m.group(1) not in values for m in _PLACEHOLDER.finditer(template)):
        return ""  # a trusted value is not known yet: the name is recorded after the claim
    name = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    if not _THING_NAME.fullmatch(name):
        raise Denied("the thing name built from the parameters is not a valid thing name")
    return name


def _tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of contents, end) of the DER element at ``at``."""
    if at + 2 > len(der):
        raise ValueError("truncated")
    tag, length = der[at], der[at + 1]
    start = at + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(der):
            raise ValueError("bad length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + length > len(der):
        raise ValueError("truncated")
    return tag, start, start + length


def public_key_sha256(certificate_pem: object) -> str | None:
    """SHA-256 (hex) of the certificate's DER SubjectPublicKeyInfo, or None when it cannot be read.

    RFC 5280: Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
    serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }.
    """
    if not isinstance(certificate_pem, str):
        return None
    match = _PEM.search(certificate_pem)
    if match is None:
        return None
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
        tag, body, _ = _tlv(der, 0)
        tag_tbs, at, tbs_end = _tlv(der, body)
        if tag != 0x30 or tag_tbs != 0x30:
            return None
        if der[at] == 0xA0:  # explicit version
            at = _tlv(der, at)[2]
        for _ in range(5):  # serialNumber, signature, issuer, validity, subject
            at = _tlv(der, at)[2]
        tag_spki, _, spki_end = _tlv(der, at)
        if tag_spki != 0x30 or spki_end > tbs_end:
            return None
        return hashlib.sha256(der[at:spki_end]).hexdigest()
    except (ValueError, IndexError, binascii.Error):
        return None


def _explain(client: Any, settings: Settings, serial: str, certificate_id: str, fingerprint: str | None) -> str:
    item = client.get_item(
        TableName=settings.table,
        Key={"fleet": {"S": settings.fleet}, "serial": {"S": serial}},
        ConsistentRead=True,
    ).get("Item")
    if item is None:
        return "serial is not on the allowlist"
    status = item.get("status", {}).get("S")
    if status == REVOKED:
        return "serial is revoked"
    recorded = item.get("public_key_sha256", {}).get("S")
    if recorded is not None and recorded != fingerprint:
        if fingerprint is None:
            return "serial has a recorded public-key fingerprint and the event carries no readable certificate"
        return "the certificate's public key does not match the fingerprint recorded for the serial"
    if (
        status == CLAIMED
        and item.get("claimed_certificate_id", {}).get("S") != certificate_id
        and not item.get("allow_reprovision", {}).get("BOOL")
    ):
        return "serial was already provisioned with another certificate and re-provisioning is not allowed"
    stored = item.get("parameters", {}).get("M", {})
    missing = [t for t in settings.required_stored if "S" not in stored.get(t, {})]
    if missing:
        return f"allowlist entry holds no value for trusted parameter(s) {', '.join(missing)}"
    return f"allowlist entry has status {status!r}"


_FINGERPRINT_MATCHES = "(attribute_not_exists(public_key_sha256) OR public_key_sha256 = :fp)"
_CLAIM = (
    "SET #status = :claimed, claimed_certificate_id = :cert, claimed_with = :claim, "
    "claimed_at = :now, thing_name = :thing"
)
_COUNT = " ADD provision_count :one"


def claim(
    client: Any,
    settings: Settings,
    serial: str,
    certificate_id: str,
    claim_id: str,
    thing: str,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """Mark ``serial`` claimed by ``certificate_id``; return the updated item or raise Denied.

    First as a first claim or a retry of the same certificate; failing that, as a re-provisioning
    the entry allows, which consumes ``allow_reprovision`` and keeps the replaced certificate's ID.
    Each attempt is one conditional UpdateItem, so each is atomic.
    """
    values = {
        ":claimed": {"S": CLAIMED},
        ":cert": {"S": certificate_id},
        ":claim": {"S": claim_id},
        ":now": {"S": datetime.now(UTC).isoformat(timespec="seconds")},
        ":thing": {"S": thing},
        ":one": {"N": "1"},
        # No readable certificate: a value no recorded fingerprint can equal.
        ":fp": {"S": fingerprint or "-"},
        **({":string": {"S": "S"}} if settings.required_stored else {}),
    }
    names = {
        "#status": "status",
        **({"#p": "parameters"} if settings.required_stored else {}),
        **{f"#t{i}": t for i, t in enumerate(settings.required_stored)},
    }
    # Trusted parameters without a default must be stored with the serial: a missing one denies
    # before the serial is claimed.
    trusted = "".join(f" AND attribute_type(#p.#t{i}, :string)" for i in range(len(settings.required_stored)))
    key = {"fleet": {"S": settings.fleet}, "serial": {"S": serial}}
    attempts = (
        (
            _CLAIM + _COUNT,
            "attribute_exists(serial) AND #status <> :revoked AND "
            f"(#status = :allowed OR claimed_certificate_id = :cert) AND {_FINGERPRINT_MATCHES}{trusted}",
            {":allowed": {"S": ALLOWED}, ":revoked": {"S": REVOKED}},
        ),
        (
            _CLAIM + ", previous_certificate_id = claimed_certificate_id" + _COUNT + " REMOVE allow_reprovision",
            "attribute_exists(serial) AND #status = :claimed AND allow_reprovision = :true AND "
            f"{_FINGERPRINT_MATCHES}{trusted}",
            {":true": {"BOOL": True}},
        ),
    )
    # (Every value given must be used by its expressions: DynamoDB refuses unused ones.)
    # SET a path from another path reads the value before the update: the replaced certificate.
    for update, condition, extra in attempts:
        try:
            result = client.update_item(
                TableName=settings.table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, **extra},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            continue
        attributes: dict[str, Any] = result.get("Attributes", {})
        return attributes
    raise Denied(_explain(client, settings, serial, certificate_id, fingerprint))


def overrides_from(item: dict[str, Any], settings: Settings) -> dict[str, str]:
    """Trusted parameter values stored with the serial (declared, pattern-valid ones only), and for
    every trusted parameter its stored value or else its default."""
    stored = item.get("parameters", {}).get("M", {})
    out: dict[str, str] = {}
    for name, value in stored.items():
        text = value.get("S")
        if name == settings.serial_parameter or name not in settings.patterns or text is None:
            continue
        if re.fullmatch(settings.patterns[name], text):
            out[name] = text
        else:
            LOG.warning(json.dumps({"event": "override_ignored", "parameter": name, "reason": "pattern"}))
    for name in settings.trusted:
        if name not in out:
            if name not in settings.defaults:
                raise Denied(f"allowlist entry holds no valid value for trusted parameter {name}")
            out[name] = settings.defaults[name]
    return out


def decide(event: dict[str, Any], settings: Settings, client: Any) -> dict[str, Any]:
    certificate_id = event.get("certificateId")
    if not isinstance(certificate_id, str) or not _CERT_ID.fullmatch(certificate_id):
        raise Denied("event has no valid certificateId")
    claim_id = event.get("claimCertificateId")
    claim_id = claim_id if isinstance(claim_id, str) else ""
    values = validate_parameters(settings, event.get("parameters"))
    serial = values[settings.serial_parameter]
    if settings.required_stored:
        # Trusted values the entry must hold: refuse a missing or pattern-breaking one before the
        # serial is claimed (the claim's condition checks presence again, atomically).
        stored = client.get_item(
            TableName=settings.table,
            Key={"fleet": {"S": settings.fleet}, "serial": {"S": serial}},
            ConsistentRead=True,
        ).get("Item")
        if stored is not None:
            overrides_from(stored, settings)
    provisional = render_thing_name(settings.thing_name_template, values)
    fingerprint = public_key_sha256(event.get("certificatePem"))
    item = claim(client, settings, serial, certificate_id, claim_id, provisional, fingerprint)
    overrides = overrides_from(item, settings)
    thing = render_thing_name(settings.thing_name_template, {**values, **overrides})
    if not thing:  # pragma: no cover - every placeholder is a declared parameter
        raise Denied("the thing name cannot be built from the parameters")
    if thing != provisional:
        # A stored value changed the name (e.g. a site code): record the name the thing will get.
        client.update_item(
            TableName=settings.table,
            Key={"fleet": {"S": settings.fleet}, "serial": {"S": serial}},
            UpdateExpression="SET thing_name = :thing",
            ConditionExpression="claimed_certificate_id = :cert",
            ExpressionAttributeValues={":thing": {"S": thing}, ":cert": {"S": certificate_id}},
        )
    return {"allowProvisioning": True, "parameterOverrides": overrides, "_serial": serial, "_thing": thing}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.monotonic()
    settings, client = _deps()
    record: dict[str, Any] = {
        "event": "pre_provisioning",
        "fleet": settings.fleet,
        "certificateId": event.get("certificateId") if isinstance(event, dict) else None,
        "templateArn": event.get("templateArn") if isinstance(event, dict) else None,
    }
    try:
        if not isinstance(event, dict):
            raise Denied("event is not an object")
        answer = decide(event, settings, client)
        record.update(decision="allow", serial=answer.pop("_serial"), thing=answer.pop("_thing"))
        record["overrides"] = sorted(answer["parameterOverrides"])
        return answer
    except Denied as exc:
        record.update(decision="deny", reason=str(exc))
        return {"allowProvisioning": False}
    except (ClientError, BotoCoreError) as exc:
        record.update(decision="deny", reason=f"allowlist unavailable: {type(exc).__name__}")
        return {"allowProvisioning": False}
    finally:
        record["ms"] = round((time.monotonic() - started) * 1000, 1)
        LOG.info(json.dumps(record))
