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
    env = dict(os.environ, CDK_OUTDIR=str(outdir), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    started = time.perf_counter()
    subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    full: list[float] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        run(ROOT / "bench" / "bare_app.py", Path(tmp) / "warm")  # warm the jsii package cache
        for i in range(args.runs):
            bare.append(run(ROOT / "bench" / "bare_app.py", Path(tmp) / f"bare{i}"))
            full.append(run(ROOT / "app.py", Path(tmp) / f"full{i}"))
    full_median, bare_median = statistics.median(full), statistics.median(bare)
    ratio = full_median / bare_median
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"bare one-resource app synth: median {bare_median:.2f} s  runs {', '.join(f'{t:.2f}' for t in bare)}")
    print(f"full app synth (+cdk-nag):   median {full_median:.2f} s  runs {', '.join(f'{t:.2f}' for t in full)}")
    print(f"ratio full/bare: {ratio:.2f} (target <= {TARGET_RATIO}) -> {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
