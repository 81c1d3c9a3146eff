"""A claim certificate issued by AWS IoT from a CSR, so its private key never leaves the factory."""

from __future__ import annotations

from aws_cdk import aws_iot as iot
from constructs import Construct

from constructs_lib.errors import SynthCheckError


class ClaimCertificate(Construct):
    """``AWS::IoT::Certificate`` from ``csr_pem`` (ACTIVE), with ``policy_name`` attached."""

    def __init__(self, scope: Construct, id_: str, *, csr_pem: str, policy: iot.CfnPolicy) -> None:
        super().__init__(scope, id_)
        if "PRIVATE KEY" in csr_pem or "CERTIFICATE REQUEST" not in csr_pem:
            raise SynthCheckError("a claim certificate is made from a PEM CSR only; never pass a private key")
        self.certificate = iot.CfnCertificate(self, "Certificate", status="ACTIVE", certificate_signing_request=csr_pem)
        self.attachment = iot.CfnPolicyPrincipalAttachment(
            self,
            "PolicyAttachment",
            policy_name=policy.ref,
            principal=self.certificate.attr_arn,
        )
        #: The certificate ID (``Ref`` of AWS::IoT::Certificate).
        self.certificate_id = self.certificate.ref
