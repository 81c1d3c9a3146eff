"""Synth cost of the full app (all stacks + cdk-nag) against a bare one-resource CDK app.

Both run as a fresh ``python`` process with the same interpreter and environment (jsii start-up
is most of a synth), interleaved so drift hits both alike. Prints each median of N runs and the
ratio; target: ratio <= 1.5.

    .venv/bin/python bench/bench_synth.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5


def run(script: Path, outdir: Path) -> float:
    env = dict(
        os.environ, CDK_OUTDIR=str(outdir), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", PYTHONPATH=str(ROOT)
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    scripts = {
        "bare one-resource app": ROOT / "bench" / "bare_app.py",
        "full app without cdk-nag": ROOT / "bench" / "app_without_checks.py",
        "full app (app.py, cdk-nag)": ROOT / "app.py",
    }
    times: dict[str, list[float]] = {label: [] for label in scripts}
    with tempfile.TemporaryDirectory() as tmp:
        run(scripts["bare one-resource app"], Path(tmp) / "warm")  # warm the jsii package cache
        for i in range(args.runs):
            for j, (label, script) in enumerate(scripts.items()):
                times[label].append(run(script, Path(tmp) / f"{j}-{i}"))
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}, node {node_version()}")
    medians = {label: statistics.median(t) for label, t in times.items()}
    for label, t in times.items():
        print(f"{label:28s} median {medians[label]:.2f} s  runs {', '.join(f'{x:.2f}' for x in t)}")
    bare, full = medians["bare one-resource app"], medians["full app (app.py, cdk-nag)"]
    ratio = full / bare
    print(f"ratio full/bare: {ratio:.2f} (target <= {TARGET_RATIO}) -> {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")
    print(f"ratio full-without-cdk-nag/bare: {medians['full app without cdk-nag'] / bare:.2f}")
    return 0


def node_version() -> str:
    node = os.environ.get("JSII_NODE", "node")
    result = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "?"


if __name__ == "__main__":
    sys.exit(main())
