"""The performance ratios in one run, with a profile of where the time goes.

    .venv/bin/python bench/ratios.py                 # make ratios
    .venv/bin/python bench/ratios.py --devices 300 --synth-runs 3

(1) Speed-up: the CLI with rate limits off (8 workers) against AWS's SDK-sample flow run as one
    process per device (bench/sample_style_device.py), the same double; devices/s each and the
    ratio (target >= 50x). CPU per device, station and double, from /proc.
(2) Synth: the full app (app.py, cdk-nag) against a bare one-resource CDK app, interleaved runs;
    median ratio (target <= 1.5x).
(3) Where the time goes: CPU per thread of the station and the double during (1) (/proc/<pid>/task:
    awscrt's event-loop threads do the TLS handshakes in C), and a sampling profile of both processes
    with py-spy when it is on PATH or in $PY_SPY (``pip install py-spy``), else cProfile of the station.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_factory import ENV, Double, manifest, run_samples  # noqa: E402
from bench_synth import ROOT  # noqa: E402
from bench_synth import run as synth_run  # noqa: E402
from harness import cpu_seconds  # noqa: E402


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a live process."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = collections.defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[_family(name)] += (int(fields[11]) + int(fields[12])) / ticks
    return dict(out)


def _family(name: str) -> str:
    return name.rstrip("0123456789 -_").strip() or name


def py_spy() -> str | None:
    return os.environ.get("PY_SPY") or shutil.which("py-spy")


def top_frames(collapsed: Path, n: int = 12) -> list[tuple[str, float]]:
    """The leaf functions of py-spy's collapsed stacks, as shares of the samples."""
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        leaves[_short(leaf)] += int(count)
        total += int(count)
    return [(name, 100 * c / total) for name, c in leaves.most_common(n)] if total else []


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(Path(path).parts[-2:])})"


def speedup(devices: int, sample_devices: int, work: Path) -> dict[str, float]:
    double = Double(work, "--no-rate-limits")
    figures: dict[str, float] = {}
    try:
        serials = [f"R{i:09d}" for i in range(devices)]
        profiled = [f"F{i:09d}" for i in range(devices // 2)]
        samples = [f"P{i:09d}" for i in range(sample_devices)]
        double.allow(serials + profiled + samples)
        base = [sys.executable, "-m", "provisioning", "run"]
        common = ["--outputs", str(double.outputs_file), "--fleet", "sensors", "--claim-cert", str(double.claim_cert),
                  "--claim-key", str(double.claim_key), "--rate", "0", "--workers", "8", "--plaintext-keys"]  # fmt: skip
        d0 = cpu_seconds(double.proc.pid)
        t0 = thread_cpu(double.proc.pid)
        started = time.monotonic()
        proc = subprocess.Popen([*base, str(manifest(work / "m.csv", serials)), *common, "--work-dir", str(work / "s1")],
                                env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        station_threads: dict[str, float] = {}
        while proc.poll() is None:
            try:
                station_threads = thread_cpu(proc.pid)  # the last reading before it exits
            except OSError:
                break
            time.sleep(0.2)
        cli_seconds = time.monotonic() - started
        t1 = thread_cpu(double.proc.pid)
        double_cpu = cpu_seconds(double.proc.pid) - d0
        station_cpu = sum(station_threads.values())
        figures.update(cli_rate=devices / cli_seconds, station_ms=1000 * station_cpu / devices,
                       double_ms=1000 * double_cpu / devices)  # fmt: skip
        print(
            f"(1) CLI, limits off, 8 workers: {devices} devices in {cli_seconds:.1f} s = {devices / cli_seconds:.1f} devices/s"
        )
        print(f"    CPU per device: station {figures['station_ms']:.1f} ms (by the last /proc reading), "
              f"double {figures['double_ms']:.1f} ms")  # fmt: skip
        print(
            "    station CPU by thread: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(station_threads.items(), key=lambda kv: -kv[1]))
        )
        double_threads = {k: v - t0.get(k, 0.0) for k, v in t1.items()}
        print(
            "    double CPU by thread: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(double_threads.items(), key=lambda kv: -kv[1]) if v > 0.05)
        )
        sample_seconds = run_samples(double, work, samples)
        figures["sample_rate"] = sample_devices / sample_seconds
        figures["speedup"] = figures["cli_rate"] / figures["sample_rate"]
        print(f"    SDK-sample style, one process per device: {sample_devices} in {sample_seconds:.1f} s = "
              f"{figures['sample_rate']:.2f} devices/s ({1000 * sample_seconds / sample_devices:.0f} ms each)")  # fmt: skip
        print(f"    speed-up {figures['speedup']:.1f}x (target >= 50x)")
        profile(double, base, common, work, profiled)
    finally:
        double.stop()
    return figures


def profile(double: Double, base: list[str], common: list[str], work: Path, serials: list[str]) -> None:
    spy = py_spy()
    path = manifest(work / "profiled.csv", serials)
    command = [*base, str(path), *common, "--work-dir", str(work / "s2")]
    if spy is None:
        stats = work / "cli.prof"
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), *command[1:]], env=ENV, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        import pstats

        print("(3) py-spy not found: cProfile of the station (its Python threads' time only), top by own time:")
        pstats.Stats(str(stats)).sort_stats("tottime").print_stats(12)
        return
    station_out, double_out = work / "station.txt", work / "double.txt"
    recorder = subprocess.Popen([spy, "record", "--format", "raw", "--rate", "200", "--subprocesses", "--output",
                                 str(double_out), "--pid", str(double.proc.pid), "--nonblocking"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([spy, "record", "--format", "raw", "--rate", "200", "--nonblocking", "--output", str(station_out),
                    "--", *command], env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    recorder.send_signal(2)
    recorder.wait(timeout=30)
    for who, out in (("station", station_out), ("double", double_out)):
        if not out.exists():
            print(f"(3) py-spy wrote no profile of the {who}")
            continue
        print(f"(3) py-spy, {who} ({len(serials)} devices), where its Python threads are on CPU (leaf frames):")
        for name, share in top_frames(out):
            print(f"      {share:5.1f}%  {name}")


def synth_ratio(runs: int) -> float:
    scripts = {"bare": ROOT / "bench" / "bare_app.py", "full": ROOT / "app.py"}
    times: dict[str, list[float]] = {k: [] for k in scripts}
    with tempfile.TemporaryDirectory() as tmp:
        synth_run(scripts["bare"], Path(tmp) / "warm")
        for i in range(runs):
            for k, script in scripts.items():
                times[k].append(synth_run(script, Path(tmp) / f"{k}-{i}"))
    bare, full = statistics.median(times["bare"]), statistics.median(times["full"])
    print(f"(2) synth: full app {full:.2f} s, bare one-resource app {bare:.2f} s (medians of {runs}, interleaved): "
          f"ratio {full / bare:.2f} (target <= 1.5); full {', '.join(f'{t:.1f}' for t in times['full'])}, "
          f"bare {', '.join(f'{t:.1f}' for t in times['bare'])}")  # fmt: skip
    return full / bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--synth-runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start (shared machine)")
    with tempfile.TemporaryDirectory(prefix="ratios-") as tmp:
        figures = speedup(args.devices, args.samples, Path(tmp))
    ratio = synth_ratio(args.synth_runs)
    print(f"ratios: speed-up {figures['speedup']:.1f}x (target >= 50x), synth {ratio:.2f}x (target <= 1.5x); "
          f"load average {os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
