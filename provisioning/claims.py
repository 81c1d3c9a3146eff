"""Claim credentials for the claim connections: a claim certificate on the station, or a trusted user's.

Both give ``Credentials`` held in memory. The claim key file may be encrypted (the key store's
passphrase); a trusted user's temporary claim (``CreateProvisioningClaim``) never touches the disk:
its key lives in this process only and is gone when the process ends, however it ends.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

from provisioning.errors import ClaimCredentialsError, EndpointUnreachable, TemplateMissing, UsageError
from provisioning.keys import open_private_key, pem_in_memory
from provisioning.mqtt_flow import Credentials

#: A temporary claim lasts five minutes (fact sheet §1.3); sessions and claims are renewed before that.
TEMPORARY_CLAIM_SECONDS = 300
RENEW_AFTER_SECONDS = 240


class ClaimSource(Protocol):
    #: True when a connection made with the credentials must be renewed (temporary claims).
    expires: bool

    def credentials(self) -> Credentials: ...


class FileClaim:
    """``--claim-cert`` and ``--claim-key`` (PEM; the key 0600, encrypted or not)."""

    expires = False

    def __init__(self, cert_file: Path, key_file: Path, *, passphrase: bytes | None) -> None:
        try:
            cert_pem = cert_file.read_bytes()
            certificate = x509.load_pem_x509_certificate(cert_pem)
        except FileNotFoundError:
            raise UsageError(
                f"claim certificate {cert_file} does not exist", "pass --claim-cert with the claim certificate (PEM)"
            ) from None
        except OSError as exc:
            raise UsageError(f"cannot read claim certificate {cert_file}: {exc.strerror}") from None
        except ValueError:
            raise UsageError(
                f"claim certificate {cert_file} is not a PEM certificate", "pass the certificate, not the key or CSR"
            ) from None
        key = open_private_key(key_file, passphrase, what="claim key")
        if key.public_key() != certificate.public_key():
            raise UsageError(
                f"claim key {key_file} does not belong to claim certificate {cert_file}",
                "pass the key the CSR was made with",
            )
        self._creds = Credentials(certificate_pem=cert_pem, key_pem=pem_in_memory(key))

    def credentials(self) -> Credentials:
        return self._creds


class TrustedUserClaims:
    """Temporary claims from ``CreateProvisioningClaim`` with the operator's AWS credentials, in memory."""

    expires = True

    def __init__(
        self, template: str, *, region: str | None, endpoint_url: str | None, clock: Any = time.monotonic
    ) -> None:
        import boto3
        from botocore.exceptions import NoRegionError

        self.template = template
        self.clock = clock
        try:
            # A session of its own: credentials are resolved for this batch, not cached from an earlier one.
            self.iot = boto3.session.Session().client("iot", region_name=region, endpoint_url=endpoint_url)
        except NoRegionError:
            raise UsageError("no AWS region for CreateProvisioningClaim", "pass --region or set AWS_REGION") from None
        self._lock = threading.Lock()
        self._issued = 0.0
        self._creds: Credentials | None = None

    def credentials(self) -> Credentials:
        with self._lock:
            if self._creds is None or self.clock() - self._issued > RENEW_AFTER_SECONDS:
                claim = self._create()
                self._creds = Credentials(
                    certificate_pem=claim["certificatePem"].encode(), key_pem=claim["keyPair"]["PrivateKey"].encode()
                )
                self._issued = self.clock()
            return self._creds

    def _create(self) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

        try:
            return self.iot.create_provisioning_claim(templateName=self.template)
        except NoCredentialsError:
            raise ClaimCredentialsError(
                "no AWS credentials for CreateProvisioningClaim (trusted user)",
                "give this station the factory operator role's credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY), or provision by claim with --claim-cert and --claim-key",
            ) from None
        except EndpointConnectionError as exc:
            raise EndpointUnreachable(
                f"cannot reach the AWS IoT API ({exc})", "check the network, --region and --control-plane-url"
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))
            if code == "ResourceNotFoundException":
                raise TemplateMissing(
                    f"template {self.template} does not exist ({message})", "deploy the fleet provisioning stack"
                ) from None
            raise ClaimCredentialsError(
                f"CreateProvisioningClaim refused ({code}: {message})",
                "assume the factory operator role (FactoryOperatorRoleArn): "
                "it allows CreateProvisioningClaim on the fleet templates",
            ) from None
        except BotoCoreError as exc:
            raise ClaimCredentialsError(
                f"CreateProvisioningClaim failed: {exc}", "check the AWS configuration"
            ) from None
