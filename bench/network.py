"""A factory over a real network: 50, 100 and 150 ms RTT with 1% loss; workers needed for >= 95% of the quota.

    .venv/bin/python bench/network.py                    # make network
    .venv/bin/python bench/network.py --rtts 100 --workers 8 --devices 60   # quick

Between the station and the double's MQTT endpoint: netem in a network namespace when the kernel
has it (``tc qdisc add dev lo root netem``), else ``bench/netem_proxy.py`` (the same RTT and a TCP
loss model in user space; which one ran is printed). The double serves the default quotas
(RegisterThing and CreateCertificateFromCsr 10/s); the station runs ``--rate 10`` with 4, 8, 16, 24
workers until one reaches 95%. The share is the steady rate (first to last device verified, from
the journal's events) over 10/s; the whole-run rate (start-up and TLS set-up included) is beside it.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import LocalDouble, Station, invariants, synth, write_manifest

QUOTA = 10.0
PROXY = Path(__file__).resolve().parent / "netem_proxy.py"


def netem_available() -> bool:
    """Can this kernel run netem? (a throwaway namespace with a netem qdisc on its loopback)"""
    name = "netem-probe"
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True, capture_output=True)
        probe = ["ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]
        return subprocess.run(probe, capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def rates(station: Station, devices: int, seconds: float) -> tuple[float, float]:
    """(steady devices/s from the first to the last verified, whole-run devices/s)."""
    db = sqlite3.connect(f"{station.journal_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        times = sorted(t for (t,) in db.execute("SELECT at FROM events WHERE to_state = 'verified'"))
    finally:
        db.close()
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return steady, len(times) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtts", type=int, nargs="+", default=[50, 100, 150], help="round-trip times, ms")
    parser.add_argument("--loss", type=float, default=0.01)
    parser.add_argument("--workers", type=int, nargs="+", default=[4, 8, 16, 24])
    parser.add_argument("--devices", type=int, default=150, help="devices per measurement")
    args = parser.parse_args()
    netem = netem_available()
    how = "netem in a network namespace" if netem else (
        "bench/netem_proxy.py (this kernel has no netem: `tc qdisc ... netem` fails with 'Specified qdisc kind is unknown')"
    )  # fmt: skip
    if netem:
        print("note: netem is available here, but the campaign uses the user-space relay for one code path")
    print(f"network: {how}; loss {args.loss:.0%}; quota {QUOTA:g}/s; {args.devices} devices per measurement")
    results: list[tuple[int, int, float, float]] = []
    all_violations = 0
    with tempfile.TemporaryDirectory(prefix="network-") as tmp:
        work = Path(tmp)
        double = LocalDouble(synth(work), work)
        try:
            for rtt in args.rtts:
                proxy = subprocess.Popen(
                    [sys.executable, str(PROXY), "--target", f"127.0.0.1:{double.port}", "--rtt-ms", str(rtt),
                     "--loss", str(args.loss), "--seed", str(rtt)],
                    stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                assert proxy.stdout is not None
                port = int(proxy.stdout.readline())
                try:
                    for workers in args.workers:
                        tag = f"R{rtt:03d}W{workers:02d}"
                        serials = [f"NW{tag}{i:05d}" for i in range(args.devices)]
                        double.allow(serials)
                        station = Station(double, work / tag, write_manifest(work / f"{tag}.csv", serials),
                                          workers=workers, rate=QUOTA, extra=("--port", str(port)))  # fmt: skip
                        started = time.monotonic()
                        status = station.run()
                        seconds = time.monotonic() - started
                        steady, whole = rates(station, args.devices, seconds)
                        results.append((rtt, workers, steady, whole))
                        failed = sum(1 for d in station.devices() if d.state.value == "failed")
                        print(f"  RTT {rtt:3d} ms, {workers:2d} workers: steady {steady:5.2f}/s = {100 * steady / QUOTA:5.1f}% "
                              f"of the quota (whole run {whole:5.2f}/s, {seconds:4.1f} s); exit {status}, {failed} failed",
                              flush=True)  # fmt: skip
                        checks = invariants(double, [station], serials)
                        checks = [c for c in checks if "orphan" not in c.name]  # other batches' pending ones
                        all_violations += sum(len(c.violations) for c in checks)
                        if steady >= 0.95 * QUOTA:
                            break
                finally:
                    proxy.terminate()
                    proxy.wait()
        finally:
            double.stop()
    print("workers needed for >= 95% of the quota (steady rate):")
    for rtt in args.rtts:
        enough = [w for r, w, steady, _ in results if r == rtt and steady >= 0.95 * QUOTA]
        best = max((s for r, _, s, _ in results if r == rtt), default=0.0)
        shown = (
            f"{min(enough)} workers"
            if enough
            else f"not reached with {max(args.workers)} (best {100 * best / QUOTA:.1f}%)"
        )
        print(f"  RTT {rtt:3d} ms + {args.loss:.0%} loss: {shown}")
    print("invariants of every run: each serial verified or failed with a cause, exactly once, no duplicate, "
          "certificate matches the stored key, journal equals double")  # fmt: skip
    print(f"violations: {all_violations}")
    return 0 if all_violations == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
