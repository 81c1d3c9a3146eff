"""Chaos campaign: a factory batch under random faults from a printed seed, then the invariants.

    .venv/bin/python bench/chaos.py                       # make chaos: 150 devices, 10 faults
    .venv/bin/python bench/chaos.py --devices 2000 --faults 60   # make chaos-full
    .venv/bin/python bench/chaos.py --seed 1234           # the same fault schedule again

Faults, drawn from the seed while the station runs: the station SIGKILLed (and resumed on its
journal), a broker restart (every device connection drops), a restart of the whole double (same
state, same port), dropped connections (a share of the open ones cut), a throttling burst
(RegisterThing or CreateCertificateFromCsr answers 429 for a while), hook timeouts (the hook takes
longer than its 5 s budget) and token expiries (ownership tokens issued in a window expire at once).
The seed fixes which faults, when and how long; thread interleavings are the machine's.

After the faults the station is run again until the batch is finished (`run` on its journal, as an
operator would), then `retry-failed` once; then the invariants. Exit 0 only with ``violations: 0``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import LocalDouble, Station, invariants, kill, print_checks, sweep_at_expiry, synth, write_manifest

FAULTS = ("station-sigkill", "broker-restart", "double-restart", "drop-connections", "throttle-burst",
          "hook-timeout", "token-expiry")  # fmt: skip
MAX_ROUNDS = 12


class Chaos:
    def __init__(
        self, double: LocalDouble, station: Station, rng: random.Random, faults: int, serials: list[str]
    ) -> None:
        self.double, self.station, self.rng, self.budget = double, station, rng, faults
        self.serials = serials
        self.injected: list[tuple[float, str, str]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.exits: Counter[int] = Counter()
        #: Clear while the double restarts.
        self.up = threading.Event()
        self.up.set()

    def note(self, kind: str, detail: str) -> None:
        at = time.monotonic() - self.started
        self.injected.append((at, kind, detail))
        print(f"  t={at:6.1f}s fault {kind}: {detail}", flush=True)

    # the faults ---------------------------------------------------------------------------------

    def station_sigkill(self) -> None:
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                kill(self.proc)
                self.note("station-sigkill", f"pid {self.proc.pid}; the station resumes on its journal")

    def broker_restart(self) -> None:
        self.double.double.restart_broker()
        self.note("broker-restart", "mosquitto stopped and started; every device connection dropped")

    def double_restart(self) -> None:
        self.up.clear()  # an operator re-runs the station once the target is back, not in a loop
        try:
            self.double.restart()
        finally:
            self.up.set()
        self.note("double-restart", f"the double stopped and started on port {self.double.port}, same state")

    def drop_connections(self) -> None:
        share = self.rng.choice((0.25, 0.5, 1.0))
        order = self.rng.random()
        cut = self.double.double.drop_connections(share, lambda n: random.Random(order).sample(range(n), n))  # noqa: S311 - a fault schedule, not a secret
        self.note("drop-connections", f"{cut} open connections cut ({share:.0%})")

    def _window(self, kind: str, detail: str, on: Callable[[], None], off: Callable[[], None]) -> None:
        seconds = round(self.rng.uniform(0.5, 3.0), 1)
        on()
        self.note(kind, f"{detail} for {seconds} s")
        time.sleep(seconds)
        off()

    def throttle_burst(self) -> None:
        op = self.rng.choice(("RegisterThing", "CreateCertificateFromCsr"))
        throttle = self.double.knobs.throttle

        def off() -> None:
            throttle.pop(op, None)

        self._window("throttle-burst", f"{op} answers 429", lambda: throttle.__setitem__(op, True), off)

    def hook_timeout(self) -> None:
        hooks = list(self.double.double.hooks.values())

        def on() -> None:
            for hook in hooks:
                hook.extra_delay = hook.budget + 0.5

        def off() -> None:
            for hook in hooks:
                hook.extra_delay = 0.0

        self._window("hook-timeout", "the pre-provisioning hook overruns its 5 s budget", on, off)

    def token_expiry(self) -> None:
        knobs, ttl = self.double.knobs, self.double.knobs.token_ttl_seconds
        self._window("token-expiry", "ownership tokens issued now expire at once",
                     lambda: setattr(knobs, "token_ttl_seconds", 0.0), lambda: setattr(knobs, "token_ttl_seconds", ttl))  # fmt: skip

    # the run --------------------------------------------------------------------------------------

    def injector(self, done: threading.Event) -> None:
        left = self.budget
        while left and not done.wait(self.rng.uniform(0.3, 2.0)):
            kind = self.rng.choice(FAULTS)
            began = time.monotonic()
            getattr(self, kind.replace("-", "_"))()
            took = time.monotonic() - began
            if took > 10:
                print(f"  (fault {kind} took {took:.1f} s to inject)", flush=True)
            left -= 1

    def run(self) -> None:
        done = threading.Event()
        injector = threading.Thread(target=self.injector, args=(done,), daemon=True)
        injector.start()
        while True:  # while the faults go on: a station stopped by one is run again, as an operator would
            self.up.wait()
            with self.lock:
                self.proc = self.station.start()
            status = self.proc.wait()
            self.exits[status] += 1
            self.why(status)
            if status in (0, 1) or not injector.is_alive():  # the batch ran to its end, or the faults are over
                break
        done.set()
        injector.join()
        # faults over: run until nothing is left, as an operator would, then retry the failures once
        for _ in range(MAX_ROUNDS):
            if self.finished():
                break
            status = self.station.run()
            self.exits[status] += 1
            self.why(status)
        status = self.station.run("retry-failed")
        self.exits[status] += 1
        self.why(status)

    def why(self, status: int) -> None:
        """A station that stopped by itself (not SIGKILL): its own last words, as the operator sees them."""
        if status not in (0, -9):
            lines = self.station.log.read_text(errors="replace").splitlines()
            said = [line for line in lines[-6:] if line.startswith(("error:", "  fix:", "stopped:"))][-2:]
            at = time.monotonic() - self.started
            print(f"  t={at:6.1f}s station exit {status}: {' / '.join(said) or lines[-1:]}", flush=True)

    def finished(self) -> bool:
        devices = self.station.devices()
        return len(devices) == len(self.serials) and all(d.state.value in ("verified", "failed") for d in devices)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=150)
    parser.add_argument("--faults", type=int, default=10, help="faults injected while the batch runs")
    parser.add_argument("--seed", type=int, help="default: a fresh one (printed)")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    print(f"chaos: seed {seed}, {args.devices} devices, {args.faults} faults, {args.workers} workers", flush=True)
    rng = random.Random(seed)  # noqa: S311 - a reproducible fault schedule, not a secret
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        work = Path(tmp)
        cdk_out = synth(work)
        double = LocalDouble(cdk_out, work, rates={})  # the faults throttle; the quota is the soak's
        try:
            serials = [f"CH{seed % 100000:05d}{i:06d}" for i in range(args.devices)]
            double.allow(serials)
            station = Station(double, work / "station-1", write_manifest(work / "manifest.csv", serials),
                              workers=args.workers)  # fmt: skip
            chaos = Chaos(double, station, rng, args.faults, serials)
            chaos.run()
            swept = sweep_at_expiry(double)
            devices = station.devices()
            states = Counter(d.state.value for d in devices)
            kinds = Counter(kind for _, kind, _ in chaos.injected)
            print(f"faults injected: {len(chaos.injected)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
            print(f"station runs: {station.runs} (exit statuses {dict(sorted(chaos.exits.items()))}); "
                  f"double restarts {double.restarts}")  # fmt: skip
            print(f"devices: {len(devices)} in the journal: {dict(sorted(states.items()))}; "
                  f"{swept} pending certificates deleted at token expiry (as AWS does)")  # fmt: skip
            for d in devices:
                if d.state.value == "failed":
                    print(f"  failed {d.serial}: {d.cause}")
            violations = print_checks(invariants(double, [station], serials))
        finally:
            double.stop()
    print(f"seed {seed}; {time.monotonic() - started:.0f} s")
    return 0 if violations == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
