"""The whole double: CA, registry, moto, hooks, provisioning and shadow services, mosquitto and the MQTT edge.

The data endpoint listens where AWS IoT Core's does: 8883 (mutual TLS) and 443 with ALPN
``x-amzn-mqtt-ca``, each falling back to a free port (said in ``notes``) when it cannot be bound;
``port=0`` / ``alpn_port=0`` ask for free ports, ``alpn_port=None`` switches 443 off. Every store
lives under ``state_dir`` and survives a restart: the registry, shadows and retained messages in
SQLite, moto's tables (the allowlist) in its request recording.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from cloud_assembly import physical
from iot_emulator import assembly as assembly_mod
from iot_emulator.broker import Broker
from iot_emulator.ca import CertificateAuthority
from iot_emulator.contract import MqttContract
from iot_emulator.control_plane import ControlPlane
from iot_emulator.credentials import CredentialsContract, CredentialsProvider, RoleAlias, StsMinter
from iot_emulator.edge import Edge
from iot_emulator.hooks import HookRunner
from iot_emulator.moto_backend import MotoServer
from iot_emulator.provisioning import Knobs, ProvisioningService
from iot_emulator.registry import Registry
from iot_emulator.retained import RetainedStore
from iot_emulator.shadow import ShadowOptions, ShadowService
from iot_emulator.tunneling import TunnelService

ENDPOINT_HOST = "localhost"
#: AWS IoT Core's MQTT ports: mutual TLS on 8883, and on 443 with ALPN ``x-amzn-mqtt-ca``.
DATA_PORT = 8883
ALPN_PORT = 443


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    ca_file: Path
    #: The port-443-style listener (ALPN ``x-amzn-mqtt-ca``), None when switched off.
    alpn_port: int | None = None


class Double:
    def __init__(
        self,
        cdk_out: Path,
        state_dir: Path,
        *,
        account: str = "123456789012",
        region: str = "us-east-1",
        knobs: Knobs | None = None,
        port: int = DATA_PORT,
        alpn_port: int | None = ALPN_PORT,
        contract: MqttContract | None = None,
        shadow_options: ShadowOptions | None = None,
        credentials_contract: CredentialsContract | None = None,
    ) -> None:
        self.credentials_contract = credentials_contract
        self.state_dir = state_dir
        self.region = region
        self.port, self.alpn_port = port, alpn_port
        self.contract = contract or MqttContract()
        self.shadow_options = shadow_options or ShadowOptions()
        #: What the double could not do as asked (e.g. port 8883 taken), for the CLI to print.
        self.notes: list[str] = []
        self.assembly = assembly_mod.load(cdk_out, account=account, region=region)
        self.knobs = knobs or Knobs()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.claim_certificate_ids: dict[str, str] = {}

    # lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> Endpoint:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ca = CertificateAuthority(self.state_dir / "ca")
        cert_file, key_file = self.ca.server_certificate(self.state_dir / "ca", (ENDPOINT_HOST, "127.0.0.1"))
        self.registry = Registry(self.state_dir / "registry.sqlite", arn_prefix=self.assembly.iot_arn_prefix)
        self.registry.define(
            thing_types=self.assembly.thing_types, groups=self.assembly.thing_groups, policies=self.assembly.policies
        )
        self.moto = MotoServer(recording=self.state_dir / "moto-recording.jsonl").start()
        self.dynamodb = boto3.client(
            "dynamodb",
            region_name=self.region,
            endpoint_url=self.moto.url,
            aws_access_key_id="double",
            aws_secret_access_key="double",  # noqa: S106 - moto's fixed test credentials
        )
        self.moto.compact(self.dynamodb)
        self._alias_roles()
        existing = set(self.dynamodb.list_tables().get("TableNames", []))
        for table in self.assembly.tables.values():
            if table.name in existing:
                continue
            self.dynamodb.create_table(
                TableName=table.name,
                KeySchema=table.key_schema,
                AttributeDefinitions=table.attribute_definitions,
                BillingMode="PAY_PER_REQUEST",
            )
        self.hooks = {
            name: HookRunner(t.hook, aws_environment=self.moto.environment(self.region))
            for name, t in self.assembly.templates.items()
            if t.hook is not None
        }
        self.service = ProvisioningService(
            assembly=self.assembly, registry=self.registry, ca=self.ca, hooks=self.hooks, knobs=self.knobs
        )
        for logical, (_, csr, policies) in self.assembly.certificates.items():
            self.claim_certificate_ids[logical] = self._claim_certificate(csr, policies)
        self.shadows = ShadowService(
            self.state_dir / "shadows.sqlite",
            options=self.shadow_options,
            thing_exists=lambda name: self.registry.thing(name) is not None,
        )
        self.retained = RetainedStore(self.state_dir / "retained.sqlite")
        internal = CertificateAuthority(self.state_dir / "internal-ca")
        broker_cert, broker_key = internal.server_certificate(self.state_dir / "internal-ca", ("127.0.0.1",))
        edge_cert, edge_key = internal.client_certificate(self.state_dir / "internal-ca", "iot-double-edge")
        self.broker = Broker(
            self.state_dir / "broker", ca_file=internal.cert_path, cert_file=broker_cert, key_file=broker_key
        ).start()
        upstream_ssl = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(internal.cert_path))
        upstream_ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        upstream_ssl.load_cert_chain(str(edge_cert), str(edge_key))
        self.edge = Edge(
            registry=self.registry,
            service=self.service,
            shadows=self.shadows,
            retained=self.retained,
            contract=self.contract,
            ca_file=self.ca.cert_path,
            cert_file=cert_file,
            key_file=key_file,
            broker_port=self.broker.port,
            broker_username=self.broker.username,
            broker_password=self.broker.password,
            arn_prefix=self.assembly.iot_arn_prefix,
            upstream_ssl=upstream_ssl,
        )
        self.credentials = CredentialsProvider(
            registry=self.registry,
            aliases={
                name: RoleAlias(name, arn, duration) for name, (arn, duration) in self.assembly.role_aliases.items()
            },
            arn_prefix=self.assembly.iot_arn_prefix,
            mint=StsMinter(self._moto_client("sts")),
            contract=self.credentials_contract,
        )
        self.edge.credentials = self.credentials
        self.tunnels = TunnelService(
            arn_prefix=self.assembly.iot_arn_prefix,
            region=self.region,
            publish=lambda messages: self.edge.publish_threadsafe(messages),
        )
        self.control_plane = ControlPlane(
            registry=self.registry,
            ca=self.ca,
            templates=lambda: set(self.assembly.templates),
            endpoint_host=ENDPOINT_HOST,
            shadows=self.shadows,
            retained=self.retained,
            publish=lambda messages: self.edge.publish_threadsafe(messages),
            mitigation_actions=self.assembly.mitigation_actions,
            tunnels=self.tunnels,
        )
        self.control_plane_port = self.control_plane.start()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="iot-double-edge", daemon=True)
        self._thread.start()
        port = self._listen(self.port, alpn=False)
        alpn_port = self._listen(self.alpn_port, alpn=True) if self.alpn_port is not None else None
        self._stopping = threading.Event()
        #: Certificates the sweeper deleted; ``swept`` is notified after each pass.
        self.swept = threading.Condition()
        self.swept_ids: set[str] = set()
        self._sweeper = threading.Thread(target=self._sweep, name="iot-double-sweeper", daemon=True)
        self._sweeper.start()
        self.endpoint = Endpoint(ENDPOINT_HOST, port, self.ca.cert_path, alpn_port)
        return self.endpoint

    def _moto_client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.moto.url,
            aws_access_key_id="double",
            aws_secret_access_key="double",  # noqa: S106 - moto's fixed test credentials
        )

    def _alias_roles(self) -> None:
        """The roles the stacks' role aliases point at, in moto's IAM (trust policy, maximum session)."""
        iam = self._moto_client("iam")
        for arn, (trust, maximum) in self.assembly.alias_roles.items():
            path, _, name = arn.split(":role", 1)[-1].rpartition("/")
            try:
                iam.create_role(
                    RoleName=name,
                    Path=f"{path}/" if path else "/",
                    AssumeRolePolicyDocument=json.dumps(trust),
                    MaxSessionDuration=maximum,
                )
            except iam.exceptions.EntityAlreadyExistsException:
                pass

    def _listen(self, port: int, *, alpn: bool) -> int:
        """Bind ``port``; when it is taken or not permitted, a free port (and a note saying so)."""
        assert self._loop is not None
        try:
            return asyncio.run_coroutine_threadsafe(self.edge.start(port=port, alpn=alpn), self._loop).result(10)
        except OSError as exc:
            if port == 0:
                raise
            bound = asyncio.run_coroutine_threadsafe(self.edge.start(port=0, alpn=alpn), self._loop).result(10)
            what = "443-style listener (ALPN x-amzn-mqtt-ca)" if alpn else "data endpoint"
            self.notes.append(f"port {port} could not be bound ({exc.strerror}); the {what} is on port {bound}")
            return bound

    def _claim_certificate(self, csr_pem: str, policies: list[str]) -> str:
        """The claim certificate a stack creates from its CSR; the same one again after a restart."""
        for cert_id in self.registry.certificates_with_csr(csr_pem):
            return cert_id
        cert_id = self.add_certificate(csr_pem, policies)[0]
        self.registry.remember_csr(cert_id, csr_pem)
        return cert_id

    def _sweep(self) -> None:
        """Delete certificates whose ownership token expired unused (AWS does this at expiry)."""
        while not self._stopping.wait(1.0):
            gone = self.service.sweep_expired()
            with self.swept:
                self.swept_ids.update(gone)
                self.swept.notify_all()

    def stop(self) -> None:
        if hasattr(self, "_stopping"):
            self._stopping.set()
            self._sweeper.join(timeout=5)
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self.edge.stop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._loop = None
        if hasattr(self, "control_plane"):
            self.control_plane.stop()
        for hook in getattr(self, "hooks", {}).values():
            hook.close()
        for part in ("broker", "moto"):
            if hasattr(self, part):
                getattr(self, part).stop()
        for store in ("registry", "shadows", "retained"):
            if hasattr(self, store):
                getattr(self, store).close()

    def restart_broker(self) -> None:
        """Knob: restart mosquitto; every device connection drops and devices must reconnect."""
        self.broker.restart()

    def drop_connections(self, share: float, pick: Callable[[int], list[int]]) -> int:
        """Knob: cut ``share`` of the open device connections (``pick(n)`` orders which); returns how many."""
        assert self._loop is not None, "start() first"

        async def drop() -> int:
            return self.edge.drop_connections(share, pick)

        return asyncio.run_coroutine_threadsafe(drop(), self._loop).result(timeout=10)

    # administration ----------------------------------------------------------------------------------------

    def add_certificate(self, csr_pem: str, policies: list[str]) -> tuple[str, str]:
        """Register an ACTIVE certificate from a CSR with ``policies`` attached (e.g. a claim certificate)."""
        issued = self.ca.issue_from_csr(csr_pem)
        self.registry.add_certificate(issued.certificate_id, issued.pem, token=None, token_ttl=None, status="ACTIVE")
        for policy in policies:
            self.registry.attach_policy(policy, self.registry.cert_arn(issued.certificate_id))
        return issued.certificate_id, issued.pem

    def add_thing(
        self,
        name: str,
        *,
        certificate_id: str | None = None,
        thing_type: str | None = None,
        attributes: dict[str, str] | None = None,
        groups: tuple[str, ...] = (),
    ) -> None:
        """Rehearsals: a thing (as RegisterThing or CreateThing would make it), attached to a certificate."""
        with self.registry.transaction() as db:
            self.registry.upsert_thing(
                db, name=name, thing_type=thing_type, attributes=attributes or {}, groups=groups, overrides={}
            )
            if certificate_id is not None:
                self.registry.attach_thing_principal(db, name, self.registry.cert_arn(certificate_id))

    def allow_serial(self, fleet: str, serial: str, **attributes: Any) -> None:
        item: dict[str, Any] = {"fleet": {"S": fleet}, "serial": {"S": serial}, "status": {"S": "ALLOWED"}}
        if attributes.get("allow_reprovision"):
            item["allow_reprovision"] = {"BOOL": True}
        (table,) = self.assembly.tables.values()
        self.dynamodb.put_item(TableName=table.name, Item=item)

    def add_audit_finding(self, finding: dict[str, Any]) -> None:
        """Rehearsals: an audit finding (DescribeAuditFinding's ``finding`` shape) for the runbook to act on."""
        self.control_plane.defender.findings[str(finding["findingId"])] = finding

    def add_violation(self, violation: dict[str, Any]) -> None:
        """Rehearsals: an active Detect violation (ListActiveViolations' ``activeViolations`` item)."""
        self.control_plane.defender.violations.append(violation)

    def outputs(self) -> dict[str, dict[str, str]]:
        """``cdk deploy --outputs-file`` format, plus the double's own connection details."""
        deployed = {
            physical.deploy_placeholder(self.assembly.certificates[logical][0], logical): cert_id
            for logical, cert_id in self.claim_certificate_ids.items()
        }
        out = resolve_outputs(self.assembly.outputs, deployed)
        out["IotDouble"] = {
            "Endpoint": self.endpoint.host,
            "Port": str(self.endpoint.port),
            "AlpnPort": str(self.endpoint.alpn_port or ""),
            "CaFile": str(self.endpoint.ca_file),
            "ControlPlaneUrl": f"http://127.0.0.1:{self.control_plane_port}",
            "AwsEndpointUrl": self.moto.url,
            # the IoT credentials provider: HTTPS on the 443-style listener (no ALPN x-amzn-mqtt-ca)
            "CredentialProviderEndpoint": self.endpoint.host,
            "CredentialProviderPort": str(self.endpoint.alpn_port or ""),
            "Region": self.region,
        }
        return out

    def write_outputs(self, path: Path) -> None:
        path.write_text(json.dumps(self.outputs(), indent=2) + "\n")


def resolve_outputs(outputs: dict[str, dict[str, str]], deployed: dict[str, str]) -> dict[str, dict[str, str]]:
    """Stack outputs with every value assigned at deployment (``physical.deploy_placeholder``) put in,
    wherever it appears (a bare ``Ref`` or inside a joined value such as an ARN)."""
    out: dict[str, dict[str, str]] = {}
    for stack, values in outputs.items():
        out[stack] = {}
        for key, value in values.items():
            for placeholder, actual in deployed.items():
                value = value.replace(placeholder, actual)
            out[stack][key] = value
    return out
