"""Many stations, one account: five stations at once against the double's account-wide quotas.

    .venv/bin/python bench/stations.py                   # make stations
    .venv/bin/python bench/stations.py --devices 60      # quick

RegisterThing and CreateCertificateFromCsr are limited per account and region (10/s each by
default), not per station: the double enforces one token bucket per operation for every client.
Two runs, five stations started together each time:
  sized      each station ``--rate 2`` (the quota divided by the stations), 4 workers
  oversized  each station ``--rate 10`` (every station believes it has the whole quota), 4 workers
For each: the stations' combined steady rate as a share of the quota, the throttling the stations
met (429s retried, from their journals' retries), devices failed, and the invariants.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import LocalDouble, Station, invariants, print_checks, synth, write_manifest

QUOTA = 10.0


def verified_times(station: Station) -> list[float]:
    db = sqlite3.connect(f"{station.journal_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [t for (t,) in db.execute("SELECT at FROM events WHERE to_state = 'verified'")]
    finally:
        db.close()


def campaign(double: LocalDouble, work: Path, name: str, stations: int, devices: int, rate: float, workers: int) -> int:
    fleet: list[Station] = []
    serials_all: list[str] = []
    for n in range(stations):
        serials = [f"ST{name[:2].upper()}{n}{i:06d}" for i in range(devices)]
        serials_all += serials
        double.allow(serials)
        fleet.append(Station(double, work / f"{name}-{n}", write_manifest(work / f"{name}-{n}.csv", serials),
                             workers=workers, rate=rate, name=f"{name}{n}"))  # fmt: skip
    limiter = double.double.service.limiter
    refused_before = sum(limiter.refused.values())
    started = time.monotonic()
    procs = [s.start() for s in fleet]
    statuses = [p.wait() for p in procs]
    seconds = time.monotonic() - started
    refused = sum(limiter.refused.values()) - refused_before
    times = sorted(t for s in fleet for t in verified_times(s))
    # the steady window: from when every station has verified its first device to when the first one finishes
    firsts = [min(verified_times(s)) for s in fleet if verified_times(s)]
    lasts = [max(verified_times(s)) for s in fleet if verified_times(s)]
    lo, hi = max(firsts), min(lasts)
    inside = [t for t in times if lo <= t <= hi]
    together = (len(inside) - 1) / (hi - lo) if hi > lo and len(inside) > 1 else 0.0
    failed = [(s.name, d.serial, d.cause) for s in fleet for d in s.devices() if d.state.value == "failed"]
    print(f"{name}: {stations} stations x {devices} devices, --rate {rate:g} --workers {workers} each; exits {statuses}; "
          f"{len(times)} verified in {seconds:.1f} s")  # fmt: skip
    for s in fleet:
        own = verified_times(s)
        span = (max(own) - min(own)) if len(own) > 1 else 0.0
        print(f"  {s.name}: {len(own)} verified, {(len(own) - 1) / span if span else 0:.2f}/s")
    print(f"  together, while all five ran: {together:.2f}/s = {100 * together / QUOTA:.1f}% of the account's {QUOTA:g}/s "
          f"(whole run {len(times) / seconds:.2f}/s); {refused} requests throttled (429, retried); {len(failed)} failed"
          + "".join(f"\n    failed {st} {serial}: {cause}" for st, serial, cause in failed[:5]))  # fmt: skip
    checks = invariants(double, fleet, serials_all)
    checks = [c for c in checks if "orphan" not in c.name]  # the other campaign's pending certificates
    return print_checks(checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=5)
    parser.add_argument("--devices", type=int, default=150, help="devices per station")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--only", choices=("sized", "oversized"))
    args = parser.parse_args()
    violations = 0
    with tempfile.TemporaryDirectory(prefix="stations-") as tmp:
        work = Path(tmp)
        double = LocalDouble(synth(work), work)  # default quotas: 10/s per operation, for the whole account
        try:
            if args.only in (None, "sized"):
                violations += campaign(
                    double, work, "sized", args.stations, args.devices, QUOTA / args.stations, args.workers
                )
            if args.only in (None, "oversized"):
                violations += campaign(double, work, "oversized", args.stations, args.devices, QUOTA, args.workers)
        finally:
            double.stop()
    print(f"violations: {violations}")
    return 0 if violations == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
