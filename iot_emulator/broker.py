"""mosquitto, the real broker behind the double's edge: loopback, mutual TLS, password.

mosquitto requires TLS 1.2+ and a client certificate from the double's *internal* CA, which only
the edge holds (device certificates come from another CA and are refused), plus the edge's
password. Devices never reach it directly: the edge terminates their mutual TLS, enforces the IoT
policies and relays their MQTT traffic.
"""

from __future__ import annotations

import getpass
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from iot_emulator.ca import write_private
from iot_emulator.errors import BrokerError
from iot_emulator.moto_backend import stop_process
from iot_emulator.ports import free_port, held_by_another, listens, start_child

__all__ = ["Broker", "BrokerError"]


class Broker:
    def __init__(
        self, state_dir: Path, *, ca_file: Path, cert_file: Path, key_file: Path, port: int | None = None
    ) -> None:
        self.state_dir = state_dir
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        self.port = port or free_port()
        #: The port was chosen here (not given): if another process takes it first, choose again.
        self._chosen = not port
        self.username = "iot-double-edge"
        self.password = secrets.token_urlsafe(24)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Broker:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise BrokerError(
                "mosquitto is not installed: run make setup (it installs mosquitto from bookworm-backports)"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        passwords = self.state_dir / "broker.passwd"
        write_private(passwords, f"{self.username}:{self.password}\n".encode())
        # Hash in place, so the password never appears on a command line.
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        subprocess.run([tool, "-U", str(passwords)], check=True, capture_output=True)  # noqa: S603
        port = start_child(lambda p: self._run(binary, passwords, timeout, p), self.port, chosen=self._chosen)
        if port is None:
            raise BrokerError(f"mosquitto could not listen on 127.0.0.1:{self.port}: another process holds it")
        self._chosen = False  # a restart keeps the port the edge relays to
        return self

    def _run(self, binary: str, passwords: Path, timeout: float, port: int) -> bool:
        """Start mosquitto on ``port`` (it becomes ``self.port``); False when another process holds it."""
        self.port = port
        config = self.state_dir / "mosquitto.conf"
        config.write_text(
            "\n".join(
                [
                    f"user {getpass.getuser()}",
                    f"listener {self.port} 127.0.0.1",
                    f"cafile {self.ca_file}",
                    f"certfile {self.cert_file}",
                    f"keyfile {self.key_file}",
                    "tls_version tlsv1.2",
                    "require_certificate true",
                    "allow_anonymous false",
                    f"password_file {passwords}",
                    # Persistent sessions (and their queued QoS 1 messages) survive a restart of the
                    # double; AWS keeps a session for an hour by default.
                    "persistence true",
                    f"persistence_location {self.state_dir}/",
                    "persistent_client_expiration 1h",
                    # AWS: 100 unacknowledged QoS 1 messages per connection in each direction.
                    "max_inflight_messages 100",
                    "max_queued_messages 1000",
                    "max_packet_size 263168",
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "",
                ]
            )
        )
        with (self.state_dir / "mosquitto.log").open("ab") as log:
            self._proc = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)  # noqa: S603
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                if held_by_another(self.port):
                    return False
                raise BrokerError(f"mosquitto exited at start; see {self.state_dir / 'mosquitto.log'}")
            if self._ready():
                return True
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on 127.0.0.1:{self.port} within {timeout:g} s")

    def _ready(self) -> bool:
        """mosquitto itself listens on the port (not another process that took it first)."""
        assert self._proc is not None
        own = listens(self._proc.pid, self.port)
        if own is not None:
            return own
        try:  # no /proc: a connection is the best sign there is
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self._proc)
        self._proc = None

    def restart(self) -> None:
        """Knob: a broker restart drops every device connection, as a broker failover does."""
        self.stop()
        self.start()
