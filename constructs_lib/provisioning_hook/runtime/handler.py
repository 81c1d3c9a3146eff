"""Pre-provisioning hook: allow RegisterThing only for valid parameters and an allowlisted, unclaimed serial.

AWS IoT calls this on every RegisterThing of the template (payload version 2020-04-01) with
``{claimCertificateId, certificateId, certificatePem, templateArn, clientId, parameters}`` and
expects ``{allowProvisioning, parameterOverrides}`` within 5 seconds. Anything unexpected —
bad parameters, an unknown or revoked serial, a serial already claimed by another certificate,
a DynamoDB error or slowness — denies (fails closed).

The claim is one conditional UpdateItem, so two devices presenting the same serial at the same
moment cannot both win. A retry of the same certificate (a RegisterThing whose response was lost)
is allowed again; a different certificate is allowed only when the item says
``allow_reprovision``. Trusted per-device values stored with the serial (``parameters`` map) are
returned as ``parameterOverrides`` and replace what the device sent.

*Trusted* parameters (``TRUSTED_PARAMETERS``) never take the device's value: the hook always
overrides them, with the stored value or else the parameter's default; one that has neither is
required in the allowlist entry (the claim's condition checks it, so a missing value denies
before the serial is claimed). Thing attributes that authorization depends on are built from them.

Environment: ``ALLOWLIST_TABLE``, ``FLEET_NAME``, ``SERIAL_PARAMETER``, ``PARAMETER_PATTERNS``
(JSON ``{name: regex}``), ``PARAMETER_DEFAULTS`` (JSON ``{name: value}``), ``THING_NAME_TEMPLATE``,
``TRUSTED_PARAMETERS`` (JSON list, optional).
"""

from __future__ import annotations

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


def _explain(client: Any, settings: Settings, serial: str, certificate_id: str) -> str:
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


def claim(
    client: Any, settings: Settings, serial: str, certificate_id: str, claim_id: str, thing: str
) -> dict[str, Any]:
    """Mark ``serial`` claimed by ``certificate_id``; return the updated item or raise Denied."""
    try:
        result = client.update_item(
            TableName=settings.table,
            Key={"fleet": {"S": settings.fleet}, "serial": {"S": serial}},
            UpdateExpression=(
                "SET #status = :claimed, claimed_certificate_id = :cert, claimed_with = :claim, "
                "claimed_at = :now, thing_name = :thing ADD provision_count :one"
            ),
            ConditionExpression=(
                "attribute_exists(serial) AND #status <> :revoked AND "
                "(#status = :allowed OR allow_reprovision = :true OR claimed_certificate_id = :cert)"
                + "".join(f" AND attribute_type(#p.#t{i}, :string)" for i in range(len(settings.required_stored)))
            ),
            ExpressionAttributeNames={
                "#status": "status",
                **({"#p": "parameters"} if settings.required_stored else {}),
                **{f"#t{i}": t for i, t in enumerate(settings.required_stored)},
            },
            ExpressionAttributeValues={
                ":claimed": {"S": CLAIMED},
                ":allowed": {"S": ALLOWED},
                ":revoked": {"S": REVOKED},
                ":true": {"BOOL": True},
                ":cert": {"S": certificate_id},
                ":claim": {"S": claim_id},
                ":now": {"S": datetime.now(UTC).isoformat(timespec="seconds")},
                ":thing": {"S": thing},
                ":one": {"N": "1"},
                **({":string": {"S": "S"}} if settings.required_stored else {}),
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise Denied(_explain(client, settings, serial, certificate_id)) from None
        raise
    attributes: dict[str, Any] = result.get("Attributes", {})
    return attributes


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
    provisional = render_thing_name(settings.thing_name_template, values)
    item = claim(client, settings, serial, certificate_id, claim_id, provisional)
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
