"""Soak: one station at the quota rate for a long time; RSS, open files and threads sampled.

    .venv/bin/python bench/soak.py --minutes 30          # make soak
    .venv/bin/python bench/soak.py --minutes 1.5         # make soak-short (CI)

The double serves the fact sheet's default quotas (RegisterThing and CreateCertificateFromCsr
10/s each, account-wide); the station runs ``--rate 10 --workers 4`` over a manifest long enough
for the whole time. Every ``--every`` seconds the station process's RSS, open file descriptors and
threads, and the double's process RSS, go into ``soak.csv``; ``soak.png`` plots them. Checks, on
the station, comparing the last fifth of the run with the fifth after the first minute (start-up
and warm caches left out): RSS growth under 10%, no more open files or threads than then. The
station is stopped with SIGINT at the end (its journal is closed cleanly) and the invariants run.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import LocalDouble, Sampler, Station, invariants, print_checks, sweep_at_expiry, synth, write_manifest
from png_plot import panels

QUOTA = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=5.0, help="sampling period, seconds")
    parser.add_argument("--out", type=Path, default=Path("soak-results"), help="where soak.csv and soak.png go")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--check", type=Path, help="only check the growth in an earlier run's soak.csv")
    args = parser.parse_args()
    if args.check:
        return check_csv(args.check)
    seconds = args.minutes * 60
    devices = int(QUOTA * seconds * 1.1) + 50
    args.out.mkdir(parents=True, exist_ok=True)
    print(
        f"soak: {args.minutes:g} min at {QUOTA:g}/s, {args.workers} workers, manifest of {devices} devices", flush=True
    )
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        double = LocalDouble(synth(work), work)  # the default quotas
        try:
            serials = [f"SK{i:08d}" for i in range(devices)]
            double.allow(serials)
            station = Station(double, work / "station-1", write_manifest(work / "m.csv", serials),
                              workers=args.workers, rate=QUOTA)  # fmt: skip
            proc = station.start()
            sampler = Sampler(proc.pid, args.every).start()
            double_sampler = Sampler(os.getpid(), args.every).start()
            started = time.monotonic()
            while time.monotonic() - started < seconds and proc.poll() is None:
                time.sleep(min(1.0, seconds))
            elapsed = time.monotonic() - started
            rows, double_rows = sampler.stop(), double_sampler.stop()
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            status = proc.wait()
            done = [d for d in station.devices() if d.state.value == "verified"]
            rate = len(done) / elapsed
            print(f"station ended with exit status {status} (SIGINT: 130); {len(done)} verified in {elapsed:.0f} s "
                  f"= {rate:.2f}/s = {100 * rate / QUOTA:.1f}% of the quota")  # fmt: skip
            swept = sweep_at_expiry(double)
            print(f"{swept} pending certificates (devices cut off mid-way by the SIGINT) deleted at token expiry")
            started_serials = {d.serial for d in station.devices()}
            checks = invariants(double, [station], [s for s in serials if s in started_serials], cut_off=True)
            # a device cut off by the SIGINT is left mid-way on purpose: it resumes on the next run
            for check in checks:
                check.violations = [v for v in check.violations if "left in state" not in v]
        finally:
            double.stop()
    csv_path, png_path = args.out / "soak.csv", args.out / "soak.png"
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["seconds", "station_rss_mb", "station_fds", "station_threads", "double_rss_mb"])
        for (t, rss, fds, threads), (_, drss, _, _) in zip(rows, double_rows, strict=False):
            writer.writerow([f"{t:.1f}", f"{rss:.1f}", fds, threads, f"{drss:.1f}"])
    n = min(len(rows), len(double_rows))
    minutes = [r[0] / 60 for r in rows[:n]]
    panels(png_path, f"SOAK {args.minutes:g} MIN AT {QUOTA:g}/S", minutes, [
        ("STATION RSS MB", [r[1] for r in rows[:n]]), ("STATION OPEN FILES", [r[2] for r in rows[:n]]),
        ("STATION THREADS", [r[3] for r in rows[:n]]), ("DOUBLE PROCESS RSS MB", [r[1] for r in double_rows[:n]]),
    ])  # fmt: skip
    print(f"wrote {csv_path} ({len(rows)} samples) and {png_path}")
    print(f"double process RSS {double_rows[0][1]:.1f} -> {double_rows[-1][1]:.1f} MB (first and last sample)")
    checks[0].violations += growth(rows, elapsed)
    checks[0].name += "; RSS growth < 10%, no growth in open files or threads"
    violations = print_checks(checks)
    return 0 if violations == 0 else 1


def growth(rows: list[tuple[float, float, int, int]], elapsed: float) -> list[str]:
    """The last fifth of the run against the fifth after the first minute; prints the figures.

    RSS by the windows' medians. Open files and threads are sampled while connections are in
    flight, so one sample may catch a socket or a thread that comes and goes with a connection:
    neither a median nor a floor of a short window is steady (a median of 15.5 against 15 was such
    a sample, not a leak). A leak is a floor that rises above everything seen before: growth is the
    late window's least count above the early window's greatest."""
    warm = [r for r in rows if r[0] >= min(60.0, elapsed / 5)]
    fifth = max(1, len(warm) // 5)
    early, late = warm[:fifth], warm[-fifth:]
    rss0, rss1 = statistics.median(r[1] for r in early), statistics.median(r[1] for r in late)
    rss_growth = 100 * (rss1 - rss0) / rss0
    fd0, fd1 = max(r[2] for r in early), min(r[2] for r in late)
    th0, th1 = max(r[3] for r in early), min(r[3] for r in late)
    fds, threads = [r[2] for r in warm], [r[3] for r in warm]
    print(f"station RSS {rss0:.1f} -> {rss1:.1f} MB ({rss_growth:+.1f}%, target < 10%); open files at most {fd0:g} early, at least {fd1:g} late "
          f"(range {min(fds)}-{max(fds)}); threads at most {th0:g} early, at least {th1:g} late (range {min(threads)}-{max(threads)})")  # fmt: skip
    found = [f"RSS grew {rss_growth:.1f}%"] if rss_growth >= 10 else []
    found += [f"open files grew: every late sample above {fd0:g}, the most of the early ones"] if fd1 > fd0 else []
    found += [f"threads grew: every late sample above {th0:g}, the most of the early ones"] if th1 > th0 else []
    return found


def check_csv(path: Path) -> int:
    """``--check soak.csv``: the growth checks of an earlier run, again."""
    with path.open() as fh:
        rows = [(float(r["seconds"]), float(r["station_rss_mb"]), int(r["station_fds"]), int(r["station_threads"]))
                for r in csv.DictReader(fh)]  # fmt: skip
    found = growth(rows, rows[-1][0])
    print("\n".join(found) or "no growth")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
