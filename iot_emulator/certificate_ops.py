"""Control-plane certificate operations a device's lifecycle needs: CreateCertificateFromCsr, DeleteCertificate.

Mixed into ``ControlPlane`` (dispatch is by the ``_op_<Operation>`` name). Behaviour follows the
botocore ``iot`` model's documentation: CreateCertificateFromCsr issues a certificate for the CSR's
key (RSA >= 2048 or P-256/384/521; "Reusing the same CSR results in a distinct certificate"),
ACTIVE when ``setAsActive``, else INACTIVE; DeleteCertificate refuses a certificate that is ACTIVE
or has a policy or thing attached ("A certificate cannot be deleted if it has a policy or IoT thing
attached to it or if its status is set to ACTIVE"): 409 CertificateStateException (the model's
error for it); 409 DeleteConflictException when something is attached (UNVERIFIED which of the
two AWS answers for attachments; the model lists both). ``forceDelete`` ("Forces the deletion of
a certificate if it is inactive and is not attached to an IoT thing") deletes it with its policy
attachments.
"""

from __future__ import annotations

from typing import Any

from iot_emulator.ca import CertificateAuthority
from iot_emulator.errors import ServiceError
from iot_emulator.registry import Registry


class CertificateOperations:
    registry: Registry
    ca: CertificateAuthority

    def _op_CreateCertificateFromCsr(self, p: dict[str, Any]) -> dict[str, Any]:
        csr = p.get("certificateSigningRequest")
        if not isinstance(csr, str) or not csr:
            raise ServiceError(400, "InvalidRequestException", "certificateSigningRequest is required.")
        issued = self.ca.issue_from_csr(csr)
        status = "ACTIVE" if p.get("setAsActive") else "INACTIVE"
        self.registry.add_certificate(issued.certificate_id, issued.pem, token=None, token_ttl=None, status=status)
        return {
            "certificateArn": self.registry.cert_arn(issued.certificate_id),
            "certificateId": issued.certificate_id,
            "certificatePem": issued.pem,
        }

    def _op_DeleteCertificate(self, p: dict[str, Any]) -> dict[str, Any]:
        certificate_id = p["certificateId"]
        cert = self.registry.certificate(certificate_id)
        if cert is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Certificate {certificate_id} cannot be found.")
        if cert.status == "ACTIVE":
            raise ServiceError(
                409, "CertificateStateException", "Certificate must be deactivated before it can be deleted."
            )
        arn = self.registry.cert_arn(certificate_id)
        force = bool(p.get("forceDelete"))
        with self.registry.transaction() as db:
            thing = db.execute("SELECT 1 FROM thing_principals WHERE principal = ?", (arn,)).fetchone()
            policy = db.execute("SELECT 1 FROM policy_targets WHERE target = ?", (arn,)).fetchone()
            if thing is not None or (policy is not None and not force):
                raise ServiceError(
                    409, "DeleteConflictException", "Certificate has things or policies attached; detach them first."
                )
            db.execute("DELETE FROM policy_targets WHERE target = ?", (arn,))
            db.execute("DELETE FROM certificates WHERE id = ?", (certificate_id,))
        self.registry.changed(arn)
        return {}
