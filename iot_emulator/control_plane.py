"""The AWS IoT control-plane operations the toolkit uses, for boto3 pointed at the double (``endpoint_url``).

Served (REST-JSON, the paths of botocore's model): DescribeEndpoint, CreateProvisioningClaim,
DescribeThing, ListThingPrincipals, DescribeCertificate, UpdateCertificate. Anything else answers
501 so a missing operation is obvious. Departure: requests are not SigV4-verified (any credentials
work), as with moto.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from iot_emulator.ca import CertificateAuthority
from iot_emulator.errors import ServiceError
from iot_emulator.registry import Registry
from iot_semantics import topics

#: A temporary claim certificate from CreateProvisioningClaim is valid for five minutes (AWS).
CLAIM_TTL_SECONDS = 300
CERT_STATUSES = ("ACTIVE", "INACTIVE", "REVOKED", "PENDING_TRANSFER", "PENDING_ACTIVATION")


def claim_policy_name(template: str) -> str:
    return f"__provisioning-claim__{template}"


def temporary_claim_policy(arn_prefix: str, template: str) -> dict[str, Any]:
    """What the temporary claim may do: that template's provisioning API (both payload formats)."""
    formats: tuple[topics.PayloadFormat, ...] = ("json", "cbor")
    requests = [topics.create_certificate_from_csr_topic(fmt) for fmt in formats]
    requests += [topics.create_keys_and_certificate_topic(fmt) for fmt in formats]
    requests += [topics.register_thing_topic(template, fmt) for fmt in formats]
    responses = [f"{r}/{x}" for r in requests for x in ("accepted", "rejected")]
    return {
        "Version": "2012-10-17",
        "Statement": [
            # Client ID rules for temporary claims are not documented: any client ID.
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{arn_prefix}:client/*"},
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": [f"{arn_prefix}:topic/{t}" for t in requests]},
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [f"{arn_prefix}:topicfilter/{t}" for t in responses],
            },
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": [f"{arn_prefix}:topic/{t}" for t in responses]},
        ],
    }


class ControlPlane:
    def __init__(
        self,
        *,
        registry: Registry,
        ca: CertificateAuthority,
        templates: Callable[[], set[str]],
        endpoint_host: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.ca = ca
        self.templates = templates
        self.endpoint_host = endpoint_host
        self.clock = clock
        self._server: ThreadingHTTPServer | None = None

    # operations ------------------------------------------------------------------------------------------

    def describe_endpoint(self, endpoint_type: str | None) -> dict[str, Any]:
        if endpoint_type in (None, "iot:Data", "iot:Data-ATS"):
            return {"endpointAddress": self.endpoint_host}
        raise ServiceError(400, "InvalidRequestException", f"The double serves no {endpoint_type} endpoint.")

    def create_provisioning_claim(self, template: str) -> dict[str, Any]:
        if template not in self.templates():
            raise ServiceError(404, "ResourceNotFoundException", f"Template {template} does not exist.")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issued = self.ca.issue_device_certificate(key.public_key())
        expires = self.clock() + CLAIM_TTL_SECONDS
        policy = claim_policy_name(template)
        self.registry.define(
            thing_types=[], groups={}, policies={policy: temporary_claim_policy(self.registry.arn_prefix, template)}
        )
        self.registry.add_certificate(issued.certificate_id, issued.pem, token=None, token_ttl=None, status="ACTIVE")
        self.registry.set_temporary_claim(issued.certificate_id, expires)
        self.registry.attach_policy(policy, self.registry.cert_arn(issued.certificate_id))
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        return {
            "certificateId": issued.certificate_id,
            "certificatePem": issued.pem,
            "keyPair": {"PublicKey": public.decode(), "PrivateKey": private.decode()},
            "expiration": expires,
        }

    def describe_thing(self, name: str) -> dict[str, Any]:
        thing = self.registry.thing(name)
        if thing is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Thing {name} cannot be found.")
        out: dict[str, Any] = {
            "defaultClientId": name,
            "thingName": name,
            "thingId": name,
            "thingArn": f"{self.registry.arn_prefix}:thing/{name}",
            "attributes": dict(thing.attributes),
            "version": thing.version,
        }
        if thing.type:
            out["thingTypeName"] = thing.type
        return out

    def list_thing_principals(self, name: str) -> dict[str, Any]:
        if self.registry.thing(name) is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Thing {name} cannot be found.")
        return {"principals": self.registry.thing_principals(name)}

    def describe_certificate(self, certificate_id: str) -> dict[str, Any]:
        cert = self.registry.certificate(certificate_id)
        if cert is None:
            raise ServiceError(404, "ResourceNotFoundException", f"Certificate {certificate_id} cannot be found.")
        return {
            "certificateDescription": {
                "certificateArn": self.registry.cert_arn(cert.id),
                "certificateId": cert.id,
                "status": cert.status,
                "certificatePem": cert.pem,
                "ownedBy": self.registry.arn_prefix.rsplit(":", 1)[1],
                "creationDate": cert.created,
                "certificateMode": "DEFAULT",
            }
        }

    def update_certificate(self, certificate_id: str, status: str | None) -> dict[str, Any]:
        if status not in CERT_STATUSES:
            raise ServiceError(400, "InvalidRequestException", f"newStatus must be one of {', '.join(CERT_STATUSES)}.")
        self.registry.set_certificate_status(certificate_id, status)
        return {}

    # HTTP ------------------------------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        def q(name: str) -> str | None:
            return query.get(name, [None])[0]

        if method == "GET" and path == "/endpoint":
            return self.describe_endpoint(q("endpointType"))
        if method == "POST" and (m := re.fullmatch(r"/provisioning-templates/([^/]+)/provisioning-claim", path)):
            return self.create_provisioning_claim(urllib.parse.unquote(m.group(1)))
        if method == "GET" and (m := re.fullmatch(r"/things/([^/]+)/principals", path)):
            return self.list_thing_principals(urllib.parse.unquote(m.group(1)))
        if method == "GET" and (m := re.fullmatch(r"/things/([^/]+)", path)):
            return self.describe_thing(urllib.parse.unquote(m.group(1)))
        if method == "GET" and (m := re.fullmatch(r"/certificates/([0-9a-fA-F]{64})", path)):
            return self.describe_certificate(m.group(1))
        if method == "PUT" and (m := re.fullmatch(r"/certificates/([0-9a-fA-F]{64})", path)):
            return self.update_certificate(m.group(1), q("newStatus"))
        raise ServiceError(501, "NotImplementedException", f"The double does not serve {method} {path}.")

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                try:
                    body, status, error = (
                        plane.route(self.command, url.path, urllib.parse.parse_qs(url.query)),
                        200,
                        None,
                    )
                except ServiceError as exc:
                    body, status, error = {"message": exc.message}, exc.status_code, exc.error_code
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if error:
                    self.send_header("x-amzn-ErrorType", error)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="iot-double-control-plane",
            daemon=True,
        ).start()
        bound: int = self._server.server_address[1]
        return bound

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
