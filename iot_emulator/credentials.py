"""The AWS IoT Core credentials provider: X.509 certificate in, temporary AWS credentials out.

A device calls ``GET /role-aliases/<alias>/credentials`` over mutual TLS with its certificate and,
optionally, the ``x-amzn-iot-thingname`` header ("Authorizing direct calls to AWS services using
AWS IoT Core credential provider",
https://docs.aws.amazon.com/iot/latest/developerguide/authorizing-direct-aws.html). The provider

- authenticates the certificate (issued by the double's CA and ACTIVE in the registry);
- when the header names a thing, requires that thing to be attached to the certificate (else 403),
  and then evaluates the thing's policy variables (``iot:Connection.Thing.*``) and its groups'
  policies too;
- authorizes ``iot:AssumeRoleWithCertificate`` on ``rolealias/<alias>`` with the policies attached
  to the certificate, through the project's one policy evaluator (``iot_semantics.policy_eval``);
- mints credentials for the alias's role with the alias's ``CredentialDurationSeconds`` through
  moto's STS (AssumeRole), and answers
  ``{"credentials": {accessKeyId, secretAccessKey, sessionToken, expiration}}``.

What each set of credentials was issued for (the IAM context keys ``credentials-iot:ThingName``,
``credentials-iot:ThingTypeName``, ``credentials-iot:AwsCertificateId`` that AWS gives IAM policy
evaluation) is kept in ``issued``: moto does not evaluate IAM policies, so a test reads them there.
Errors are AWS's REST-JSON shape (status, ``x-amzn-ErrorType``, ``{"message"}``); the codes and
messages AWS does not document are fields of ``CredentialsContract`` (UNVERIFIED, configurable).
The HTTP/1.1 server (``serve``) runs on the edge's port-443 listener for TLS clients that do not ask
for ALPN ``x-amzn-mqtt-ca`` (docs/emulator.md).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from iot_emulator.registry import Registry
from iot_semantics.policy_eval import Context, evaluate

THING_NAME_HEADER = "x-amzn-iot-thingname"
ASSUME_ROLE_WITH_CERTIFICATE = "iot:AssumeRoleWithCertificate"
#: ``roleAlias``: 1-128 characters of ``[\w=,@-]`` (CreateRoleAlias, botocore ``iot`` model).
_PATH = re.compile(r"/role-aliases/([\w=,@-]{1,128})/credentials")
#: IAM context keys the credentials provider adds (authorizing-direct-aws.html).
THING_NAME_KEY = "credentials-iot:ThingName"
THING_TYPE_KEY = "credentials-iot:ThingTypeName"
CERTIFICATE_ID_KEY = "credentials-iot:AwsCertificateId"
_MAX_HEADER_BYTES = 16384
#: (HTTP status, x-amzn-ErrorType, message)
Refusal = tuple[int, str, str]


@dataclass(frozen=True)
class RoleAlias:
    name: str
    role_arn: str
    #: ``CredentialDurationSeconds`` (CloudFormation default 3600).
    duration_seconds: int = 3600


@dataclass(frozen=True)
class CredentialsContract:
    """Answers AWS does not document; every field is UNVERIFIED and can be changed."""

    #: A certificate that is not ACTIVE or not registered (message seen from AWS by users:
    #: "Certificate is invalid on this endpoint", with AccessDeniedException).
    invalid_certificate: Refusal = (403, "AccessDeniedException", "Certificate is invalid on this endpoint")
    #: The certificate's policies do not allow iot:AssumeRoleWithCertificate on the alias.
    not_authorized: Refusal = (403, "AccessDeniedException", "Access Denied")
    #: The header names a thing that is not attached to the certificate (the 403 is documented).
    thing_not_attached: Refusal = (403, "AccessDeniedException", "Access Denied")
    #: The role alias does not exist (authorization is decided first, so nothing leaks to a device
    #: whose policy does not name it).
    unknown_alias: Refusal = (404, "ResourceNotFoundException", "Role alias does not exist")
    #: Any path but ``/role-aliases/<alias>/credentials``, or a method but GET.
    bad_request: Refusal = (400, "InvalidRequestException", "Invalid request")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    error_type: str | None = None


@dataclass(frozen=True)
class Issued:
    """What one set of credentials was minted for (the IAM context keys AWS adds)."""

    role_alias: str
    role_arn: str
    context: Mapping[str, str]


#: (role ARN, session name, duration seconds) -> AssumeRole's ``Credentials``
Minter = Callable[[str, str, int], Mapping[str, Any]]


@dataclass
class Stats:
    served: int = 0
    refused: int = 0


class CredentialsProvider:
    def __init__(
        self,
        *,
        registry: Registry,
        aliases: Mapping[str, RoleAlias],
        arn_prefix: str,
        mint: Minter,
        contract: CredentialsContract | None = None,
    ) -> None:
        self.registry = registry
        self.aliases = dict(aliases)
        self.arn_prefix = arn_prefix
        self.mint = mint
        self.contract = contract or CredentialsContract()
        #: accessKeyId -> what it was issued for
        self.issued: dict[str, Issued] = {}
        self.stats = Stats()
        self._lock = threading.Lock()

    def _refuse(self, answer: Refusal) -> Answer:
        with self._lock:
            self.stats.refused += 1
        status, error, message = answer
        return Answer(status, {"message": message}, error)

    def _policies(self, cert_arn: str, thing: Any) -> list[dict[str, Any]]:
        names = list(self.registry.policies_of(cert_arn))
        if thing is not None:
            groups = set(thing.groups)
            for group in thing.groups:
                groups.update(self.registry.group_ancestors(group))
            for group in sorted(groups):
                names += self.registry.policies_of(self.registry.group_arn(group))
        return [d for d in (self.registry.policy_document(n) for n in names) if d is not None]

    def handle(self, certificate_id: str, method: str, path: str, headers: Mapping[str, str]) -> Answer:
        """One request; ``headers`` with lower-case names."""
        c = self.contract
        found = _PATH.fullmatch(path.split("?", 1)[0])
        if method != "GET" or found is None:
            return self._refuse(c.bad_request)
        alias_name = found.group(1)
        cert = self.registry.certificate(certificate_id)
        if cert is None or cert.status != "ACTIVE":
            return self._refuse(c.invalid_certificate)
        cert_arn = self.registry.cert_arn(certificate_id)
        thing_name = headers.get(THING_NAME_HEADER)
        thing = None
        if thing_name is not None:
            thing = self.registry.thing(thing_name)
            if thing is None or cert_arn not in self.registry.thing_principals(thing_name):
                return self._refuse(c.thing_not_attached)
        context = Context(
            client_id=None,
            certificate_id=certificate_id,
            thing_name=thing_name if thing is not None else None,
            thing_type=thing.type if thing is not None else None,
            thing_attributes=dict(thing.attributes) if thing is not None else {},
            is_attached=thing is not None,
        )
        resource = f"{self.arn_prefix}:rolealias/{alias_name}"
        if not evaluate(self._policies(cert_arn, thing), ASSUME_ROLE_WITH_CERTIFICATE, resource, context).allowed:
            return self._refuse(c.not_authorized)
        alias = self.aliases.get(alias_name)
        if alias is None:
            return self._refuse(c.unknown_alias)
        minted = self.mint(alias.role_arn, certificate_id[:64], alias.duration_seconds)
        expiration = minted["Expiration"]
        if isinstance(expiration, datetime):
            expiration = expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        iam_context = {CERTIFICATE_ID_KEY: certificate_id}
        if thing is not None and thing_name is not None:
            iam_context[THING_NAME_KEY] = thing_name
            if thing.type:
                iam_context[THING_TYPE_KEY] = thing.type
        with self._lock:
            self.issued[str(minted["AccessKeyId"])] = Issued(alias.name, alias.role_arn, iam_context)
            self.stats.served += 1
        return Answer(
            200,
            {
                "credentials": {
                    "accessKeyId": minted["AccessKeyId"],
                    "secretAccessKey": minted["SecretAccessKey"],
                    "sessionToken": minted["SessionToken"],
                    "expiration": str(expiration),
                }
            },
        )

    # HTTP/1.1 on a TLS stream -------------------------------------------------------------------------

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, certificate_id: str) -> None:
        """Answer requests on one connection until the client closes it (keep-alive, as HTTP/1.1)."""
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                await _write(writer, self._refuse(self.contract.bad_request), close=True)
                return
            except asyncio.IncompleteReadError:
                return
            if len(head) > _MAX_HEADER_BYTES:
                await _write(writer, self._refuse(self.contract.bad_request), close=True)
                return
            request = _parse(head)
            if request is None:
                await _write(writer, self._refuse(self.contract.bad_request), close=True)
                return
            method, target, version, headers = request
            length = headers.get("content-length", "0")
            if length.isdigit() and int(length) > 0:
                if int(length) > _MAX_HEADER_BYTES:
                    await _write(writer, self._refuse(self.contract.bad_request), close=True)
                    return
                await reader.readexactly(int(length))
            answer = await asyncio.to_thread(self.handle, certificate_id, method, target, headers)
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            await _write(writer, answer, close=close)
            if close:
                return


def _parse(head: bytes) -> tuple[str, str, str, dict[str, str]] | None:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        return None
    if not version.startswith("HTTP/1."):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return None
        headers[name.strip().lower()] = value.strip()
    return method, target, version, headers


_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}


async def _write(writer: asyncio.StreamWriter, answer: Answer, *, close: bool) -> None:
    body = json.dumps(answer.body).encode()
    lines = [
        f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, 'Error')}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"x-amzn-RequestId: {uuid.uuid4()}",
    ]
    if answer.error_type:
        lines.append(f"x-amzn-ErrorType: {answer.error_type}")
    if close:
        lines.append("Connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()


@dataclass
class StsMinter:
    """AssumeRole through moto's STS (a boto3 ``sts`` client of the double's moto server)."""

    client: Any
    calls: int = field(default=0)

    def __call__(self, role_arn: str, session_name: str, duration: int) -> Mapping[str, Any]:
        self.calls += 1
        response = self.client.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=duration)
        credentials: Mapping[str, Any] = response["Credentials"]
        return credentials
