"""A device identity's lifecycle on AWS IoT primitives: RMA hand-over, rotation, revocation, release.

All of it is control-plane calls an operator's credentials may make (``iot`` and ``dynamodb``
clients, pointed at the local double by its outputs file), so the same commands work against AWS:

- **RMA / re-provisioning** (``retire_replaced``): after a serial was provisioned again, every
  certificate of its thing other than the allowlist's current one is set INACTIVE (REVOKED with
  ``revoke=True``: UpdateCertificate allows REVOKED, and a REVOKED certificate stays so) and
  detached. It refuses to act until the current certificate is ACTIVE and attached, so a working
  device is never left without one.
- **Rotation** (``rotate``): a signer in the manner of AWS's Device Management learning path: it
  checks the caller's certificate is the serial's current one, attached to the thing and ACTIVE,
  that the CSR holds a new key, then issues the new certificate (CreateCertificateFromCsr), gives
  it the fleet's device policy and attaches it to the thing. Old and new overlap until the device
  has connected and published with the new one; then the old one is set INACTIVE and detached, and
  ``purge`` deletes it once the grace period is over (DeleteCertificate with ``forceDelete``: it
  must be INACTIVE and attached to no thing; its policy attachments go with it). A rotation that
  started and did not finish is ``stalled``.
- **Revocation** (``revoke``): the allowlist entry becomes REVOKED (with who, why and when) first,
  so the serial cannot be provisioned again; then each certificate of the thing becomes REVOKED
  (or INACTIVE), and the thing joins the quarantine group when the Device Defender stack is in the
  outputs. ``release`` undoes what can be undone: the entry's status, INACTIVE certificates back
  to ACTIVE, the quarantine membership; a REVOKED certificate stays REVOKED.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from provisioning.allowlist import Allowlist, plain
from provisioning.errors import ProvisioningError, StationFault, UsageError

ACTIVE, INACTIVE, REVOKED = "ACTIVE", "INACTIVE", "REVOKED"
#: Old certificates are deleted this long after a rotation finished (configurable, ``--grace-days``).
DEFAULT_GRACE = timedelta(days=7)
#: Device Defender audit checks whose findings call for a rotation.
ROTATION_CHECKS = ("DEVICE_CERTIFICATE_EXPIRING_CHECK", "DEVICE_CERTIFICATE_AGE_CHECK")
#: A rotation not finished after this long is stalled (configurable, ``--after-minutes``).
DEFAULT_STALL = timedelta(hours=1)


class LifecycleError(ProvisioningError):
    """A lifecycle step was refused because the device's state does not allow it (nothing changed)."""


def certificate_id_of(pem: str) -> str:
    """AWS IoT's certificate ID: the SHA-256 of the certificate's DER."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def iot_client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 8, "mode": "adaptive"}, max_pool_connections=16)
    return boto3.client("iot", region_name=region, endpoint_url=endpoint_url, config=config)


def _call(what: str, call: Callable[..., Any], **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return call(**kwargs)
    except NoCredentialsError:
        raise StationFault(f"{what}: no AWS credentials", "set AWS_PROFILE or the AWS_* credential variables") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            raise StationFault(f"{what}: {code}", "use the operator's credentials") from None
        raise ProvisioningError(f"{what}: {code}: {error.get('Message', '')}") from None
    except BotoCoreError as exc:
        raise StationFault(f"{what}: {exc}", "check the network and the endpoint") from None


@dataclass
class Lifecycle:
    allowlist: Allowlist
    iot: Any
    device_policy: str
    quarantine_group: str | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # reading --------------------------------------------------------------------------------------------

    def entry(self, serial: str) -> dict[str, Any]:
        item = self.allowlist.get(serial)
        if item is None:
            raise UsageError(f"serial {serial} is not on the allowlist of fleet {self.allowlist.fleet}")
        return plain(item)

    def thing_of(self, entry: Mapping[str, Any]) -> str:
        thing = entry.get("thing_name")
        if not isinstance(thing, str) or not thing:
            raise LifecycleError(f"serial {entry['serial']} was never provisioned (no thing recorded)")
        return thing

    def principals(self, thing: str) -> list[str]:
        answer = _call(f"listing {thing}'s certificates", self.iot.list_thing_principals, thingName=thing)
        return [str(p) for p in answer.get("principals", []) if ":cert/" in str(p)]

    def status(self, certificate_id: str) -> str:
        answer = _call(
            f"describing certificate {certificate_id[:12]}",
            self.iot.describe_certificate,
            certificateId=certificate_id,
        )
        return str(answer["certificateDescription"]["status"])

    def active_certificates(self, thing: str) -> list[str]:
        ids = [p.rsplit("/", 1)[1] for p in self.principals(thing)]
        return [i for i in ids if self.status(i) == ACTIVE]

    def _set_status(self, certificate_id: str, status: str) -> None:
        _call(
            f"setting certificate {certificate_id[:12]} {status}",
            self.iot.update_certificate,
            certificateId=certificate_id,
            newStatus=status,
        )

    def _detach(self, thing: str, principal: str) -> None:
        _call(
            f"detaching {principal.rsplit('/', 1)[1][:12]} from {thing}",
            self.iot.detach_thing_principal,
            thingName=thing,
            principal=principal,
        )

    def _require_current(self, thing: str, certificate_id: str, principals: list[str]) -> str:
        """The ARN of ``certificate_id`` when it is attached to ``thing`` and ACTIVE, else refuse."""
        arn = next((p for p in principals if p.endswith("/" + certificate_id)), None)
        if arn is None:
            raise LifecycleError(f"certificate {certificate_id[:12]} is not attached to {thing}")
        status = self.status(certificate_id)
        if status != ACTIVE:
            raise LifecycleError(f"certificate {certificate_id[:12]} of {thing} is {status}, not ACTIVE")
        return arn

    # RMA ------------------------------------------------------------------------------------------------

    def retire_replaced(self, serial: str, *, revoke: bool = True) -> list[str]:
        """Retire every certificate of the serial's thing but the current one; their IDs."""
        entry = self.entry(serial)
        thing = self.thing_of(entry)
        current = str(entry.get("claimed_certificate_id", ""))
        principals = self.principals(thing)
        self._require_current(thing, current, principals)
        retired = []
        for principal in principals:
            certificate_id = principal.rsplit("/", 1)[1]
            if certificate_id == current:
                continue
            if self.status(certificate_id) != REVOKED:
                self._set_status(certificate_id, REVOKED if revoke else INACTIVE)
            self._detach(thing, principal)
            retired.append(certificate_id)
        return retired

    # rotation -------------------------------------------------------------------------------------------

    def start_rotation(self, serial: str, *, current_pem: str, csr_pem: str) -> dict[str, str]:
        """The signer: check the caller, issue the new certificate, attach it (old and new overlap)."""
        from provisioning.allowlist import spki_sha256_of_pem

        entry = self.entry(serial)
        if entry.get("status") != "CLAIMED":
            raise LifecycleError(f"serial {serial} is {entry.get('status')}: only a provisioned device rotates")
        thing = self.thing_of(entry)
        current = certificate_id_of(current_pem)
        if current != entry.get("claimed_certificate_id"):
            raise LifecycleError(f"certificate {current[:12]} is not the current certificate of serial {serial}")
        self._require_current(thing, current, self.principals(thing))
        try:
            new_key = spki_sha256_of_pem(csr_pem)
        except ValueError:
            raise UsageError("the CSR is not a PEM certificate request") from None
        if new_key == spki_sha256_of_pem(current_pem):
            raise LifecycleError("the CSR holds the current key: a rotation needs a new key")
        unconfirmed = entry.get("rotation_certificate_id")
        if entry.get("rotation_state") == "STARTED" and isinstance(unconfirmed, str) and unconfirmed != current:
            self._abandon(thing, unconfirmed)  # a rotation started again: the unconfirmed certificate goes
        issued = _call(
            f"issuing {thing}'s new certificate",
            self.iot.create_certificate_from_csr,
            certificateSigningRequest=csr_pem,
            setAsActive=True,
        )
        new_id, new_arn = str(issued["certificateId"]), str(issued["certificateArn"])
        _call("attaching the device policy", self.iot.attach_policy, policyName=self.device_policy, target=new_arn)
        _call("attaching the new certificate", self.iot.attach_thing_principal, thingName=thing, principal=new_arn)
        recorded = self.allowlist.update(
            serial,
            "SET rotation_state = :s, rotation_certificate_id = :n, rotation_started_at = :t",
            "claimed_certificate_id = :old AND #status = :claimed",
            {
                ":s": {"S": "STARTED"},
                ":n": {"S": new_id},
                ":t": {"S": self.clock().isoformat(timespec="seconds")},
                ":old": {"S": current},
                ":claimed": {"S": "CLAIMED"},
            },
            f"recording {serial}'s rotation",
        )
        if recorded is None:  # revoked, re-provisioned or rotated meanwhile: the new certificate goes
            self._abandon(thing, new_id)
            raise LifecycleError(f"serial {serial} changed during the rotation; the new certificate was withdrawn")
        return {"thing": thing, "certificateId": new_id, "certificatePem": str(issued["certificatePem"])}

    def _abandon(self, thing: str, certificate_id: str) -> None:
        """Withdraw a certificate a rotation issued and no device confirmed: INACTIVE, detached, deleted."""
        try:
            arn = self._arn(certificate_id)
        except ProvisioningError:
            return  # already gone
        if self.status(certificate_id) == ACTIVE:
            self._set_status(certificate_id, INACTIVE)
        if arn in self.principals(thing):
            self._detach(thing, arn)
        _call("deleting an unconfirmed certificate", self.iot.delete_certificate, certificateId=certificate_id,
              forceDelete=True)  # fmt: skip

    def finish_rotation(self, serial: str, *, grace: timedelta = DEFAULT_GRACE) -> str:
        """The device confirmed its new certificate: the old one INACTIVE and detached; its ID."""
        entry = self.entry(serial)
        new = entry.get("rotation_certificate_id")
        if entry.get("rotation_state") != "STARTED" or not isinstance(new, str):
            raise LifecycleError(f"serial {serial} has no rotation in progress")
        thing = self.thing_of(entry)
        old = str(entry["claimed_certificate_id"])
        principals = self.principals(thing)
        self._require_current(thing, new, principals)
        description = _call("reading the new certificate", self.iot.describe_certificate, certificateId=new)
        from provisioning.allowlist import spki_sha256_of_pem

        fingerprint = spki_sha256_of_pem(description["certificateDescription"]["certificatePem"])
        now = self.clock()
        finished = self.allowlist.update(
            serial,
            "SET claimed_certificate_id = :new, previous_certificate_id = :old, public_key_sha256 = :fp, "
            "rotation_state = :done, rotated_at = :now, retired_certificate_id = :old, delete_after = :later "
            "REMOVE rotation_certificate_id",
            "claimed_certificate_id = :old AND rotation_certificate_id = :new AND #status = :claimed",
            {
                ":new": {"S": new},
                ":old": {"S": old},
                ":fp": {"S": fingerprint},
                ":done": {"S": "DONE"},
                ":now": {"S": now.isoformat(timespec="seconds")},
                ":later": {"S": (now + grace).isoformat(timespec="seconds")},
                ":claimed": {"S": "CLAIMED"},
            },
            f"recording {serial}'s new certificate",
        )
        if finished is None:
            raise LifecycleError(f"serial {serial} changed during the rotation (revoked or finished elsewhere)")
        earlier = entry.get("retired_certificate_id")
        if isinstance(earlier, str) and earlier != old:  # two generations old: its grace ends now
            self._abandon(thing, earlier)
        for principal in principals:  # the old one, and any other left by an interrupted rotation
            certificate_id = principal.rsplit("/", 1)[1]
            if certificate_id == new:
                continue
            if self.status(certificate_id) == ACTIVE:
                self._set_status(certificate_id, INACTIVE)
            self._detach(thing, principal)
        return old

    def purge(self, *, now: datetime | None = None) -> list[str]:
        """Delete the certificates retired by rotations whose grace period is over; their IDs."""
        moment = (now or self.clock()).isoformat(timespec="seconds")
        deleted = []
        for entry in self.entries():
            old, after = entry.get("retired_certificate_id"), entry.get("delete_after")
            if not isinstance(old, str) or not isinstance(after, str) or after > moment:
                continue
            if self.status(old) == ACTIVE:
                self._set_status(old, INACTIVE)
            # forceDelete: "if it is inactive and is not attached to an IoT thing" (policies go with it).
            _call(f"deleting certificate {old[:12]}", self.iot.delete_certificate, certificateId=old, forceDelete=True)
            self.allowlist.update(
                str(entry["serial"]),
                "REMOVE retired_certificate_id, delete_after SET deleted_certificate_id = :old",
                "retired_certificate_id = :old",
                {":old": {"S": old}},
                "recording the deletion",
            )
            deleted.append(old)
        return deleted

    def stalled(self, *, older_than: timedelta = DEFAULT_STALL) -> list[dict[str, Any]]:
        """Rotations started before ``older_than`` ago and not finished."""
        limit = (self.clock() - older_than).isoformat(timespec="seconds")
        return [
            e
            for e in self.entries()
            if e.get("rotation_state") == "STARTED" and str(e.get("rotation_started_at", "")) <= limit
        ]

    def due(self) -> list[dict[str, str]]:
        """Certificates Device Defender's audits flag for rotation (expiring, or older than the age
        threshold), each with its thing: the devices to rotate first."""
        out = []
        for check in ROTATION_CHECKS:
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"checkName": check, **({"nextToken": token} if token else {})}
                page = _call("reading audit findings", self.iot.list_audit_findings, **kwargs)
                for finding in page.get("findings", []):
                    resource = finding.get("nonCompliantResource", {}).get("resourceIdentifier", {})
                    certificate_id = resource.get("deviceCertificateId")
                    if not certificate_id:
                        continue
                    try:
                        arn = self._arn(str(certificate_id))
                    except ProvisioningError:
                        continue  # deleted since the audit
                    things = _call("finding the certificate's thing", self.iot.list_principal_things, principal=arn)
                    for thing in things.get("things", []) or [""]:
                        out.append({"check": check, "certificateId": str(certificate_id), "thing": str(thing)})
                token = page.get("nextToken")
                if not token:
                    break
        return out

    def _arn(self, certificate_id: str) -> str:
        answer = _call("describing a certificate", self.iot.describe_certificate, certificateId=certificate_id)
        return str(answer["certificateDescription"]["certificateArn"])

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry of the fleet's partition (Query, paginated)."""
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self.allowlist.table,
                "KeyConditionExpression": "fleet = :f",
                "ExpressionAttributeValues": {":f": {"S": self.allowlist.fleet}},
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            answer = _call("reading the allowlist", self.allowlist.client.query, **kwargs)
            for item in answer.get("Items", []):
                yield plain(item)
            start = answer.get("LastEvaluatedKey")
            if not start:
                return

    # revocation -----------------------------------------------------------------------------------------

    def revoke(self, serial: str, *, by: str, reason: str, certificate_status: str = REVOKED) -> dict[str, Any]:
        """Allowlist REVOKED first (never provisioned again), then certificates, then quarantine."""
        if certificate_status not in (REVOKED, INACTIVE):
            raise UsageError("a revoked device's certificates become REVOKED or INACTIVE")
        self.allowlist.mark_revoked(serial, by=by, reason=reason)
        entry = self.entry(serial)
        thing = entry.get("thing_name")
        changed: list[str] = []
        quarantined = False
        if isinstance(thing, str) and thing:
            for principal in self.principals(thing):
                certificate_id = principal.rsplit("/", 1)[1]
                if self.status(certificate_id) == ACTIVE:
                    self._set_status(certificate_id, certificate_status)
                    changed.append(certificate_id)
            if self.quarantine_group:
                group = self.quarantine_group
                _call(
                    f"moving {thing} to {group}",
                    self.iot.add_thing_to_thing_group,
                    thingGroupName=group,
                    thingName=thing,
                )
                quarantined = True
        values: dict[str, Any] = {
            ":c": {"L": [{"S": c} for c in changed]},
            ":cs": {"S": certificate_status},
            ":q": {"BOOL": quarantined},
        }
        self.allowlist.update(
            serial,
            "SET revoked_certificates = :c, revoked_certificate_status = :cs, quarantined = :q",
            "attribute_exists(serial)",
            values,
            f"recording {serial}'s revocation",
        )
        return {"thing": thing, "certificates": changed, "status": certificate_status, "quarantined": quarantined}

    def release(self, serial: str, *, by: str, reason: str) -> dict[str, Any]:
        """Undo a revocation as far as AWS allows; what was restored and what could not be."""
        entry = self.entry(serial)
        if entry.get("status") != "REVOKED":
            raise UsageError(f"serial {serial} is not revoked (status {entry.get('status')})")
        thing = entry.get("thing_name")
        reactivated, stays_revoked = [], []
        for certificate_id in entry.get("revoked_certificates", []) or []:
            if self.status(str(certificate_id)) == INACTIVE:
                self._set_status(str(certificate_id), ACTIVE)
                reactivated.append(str(certificate_id))
            else:
                stays_revoked.append(str(certificate_id))
        left_quarantine = False
        if entry.get("quarantined") and self.quarantine_group and isinstance(thing, str):
            group = self.quarantine_group
            _call(
                f"taking {thing} out of {group}",
                self.iot.remove_thing_from_thing_group,
                thingGroupName=group,
                thingName=thing,
            )
            left_quarantine = True
        self.allowlist.mark_released(serial, by=by, reason=reason)
        self.allowlist.update(
            serial,
            "REMOVE revoked_certificates, revoked_certificate_status, quarantined",
            "attribute_exists(serial)",
            {},
            "recording the release",
        )
        return {
            "thing": thing,
            "reactivated": reactivated,
            "still_revoked": stays_revoked,
            "left_quarantine": left_quarantine,
        }
