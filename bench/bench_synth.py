"""Synth cost of the full app (all stacks + cdk-nag) against a bare one-resource CDK app.

Both run as a fresh ``python`` process with the same interpreter and environment (jsii start-up
is most of a synth), interleaved so drift hits both alike. Prints each median of N runs and the
ratio; target: ratio <= 1.5. Also the full app on the example config with its edge-access parts
switched off (no Greengrass core fleet, no tunneling operator, no attribute conditions, trusted
parameters or discovery): the difference is what those parts add to a synth.

    .venv/bin/python bench/bench_synth.py [--runs 5]
    .venv/bin/python bench/bench_synth.py --in-process [--runs 9]   # the edge-access share only

``--in-process`` builds and synthesizes both configs alternately in one process (jsii started
once), so what the edge-access parts add is measured without the process start-up's noise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5


def run(script: Path, outdir: Path, config: Path | None = None) -> float:
    env = dict(
        os.environ, CDK_OUTDIR=str(outdir), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", PYTHONPATH=str(ROOT)
    )
    if config is not None:
        env["CDK_CONTEXT_JSON"] = json.dumps({"fleet_config": str(config)})
    started = time.perf_counter()
    subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--in-process", action="store_true", help="measure the edge-access share in one process")
    args = parser.parse_args()
    if args.in_process:
        return in_process(args.runs)
    edge_off = "full app, edge access off"
    scripts = {
        "bare one-resource app": ROOT / "bench" / "bare_app.py",
        "full app without cdk-nag": ROOT / "bench" / "app_without_checks.py",
        "full app (app.py, cdk-nag)": ROOT / "app.py",
        edge_off: ROOT / "app.py",
    }
    times: dict[str, list[float]] = {label: [] for label in scripts}
    with tempfile.TemporaryDirectory() as tmp:
        without_edge = Path(tmp) / "fleet-without-edge-access.yaml"
        without_edge.write_text(yaml.safe_dump(edge_access_off(), sort_keys=False))
        run(scripts["bare one-resource app"], Path(tmp) / "warm")  # warm the jsii package cache
        for i in range(args.runs):
            for j, (label, script) in enumerate(scripts.items()):
                config = without_edge if label == edge_off else None
                times[label].append(run(script, Path(tmp) / f"{j}-{i}", config))
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}, node {node_version()}")
    medians = {label: statistics.median(t) for label, t in times.items()}
    for label, t in times.items():
        print(f"{label:28s} median {medians[label]:.2f} s  min {min(t):.2f} s  runs {', '.join(f'{x:.2f}' for x in t)}")
    bare, full = medians["bare one-resource app"], medians["full app (app.py, cdk-nag)"]
    ratio = full / bare
    print(f"ratio full/bare: {ratio:.2f} (target <= {TARGET_RATIO}) -> {'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")
    print(f"ratio full-without-cdk-nag/bare: {medians['full app without cdk-nag'] / bare:.2f}")
    added = full - medians[edge_off]
    fastest = min(times["full app (app.py, cdk-nag)"]) - min(times[edge_off])
    print(
        f"edge access (Greengrass cores, tunneling, registry authorization) adds {added:+.2f} s "
        f"({added / medians[edge_off]:+.1%}) to the full synth by medians, {fastest:+.2f} s by fastest runs "
        "(on a loaded machine the fastest runs are the steadier estimate)"
    )
    return 0


def in_process(runs: int) -> int:
    """Build and synth (cdk-nag and the review included) the example and its edge-access-off variant."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import app as cdk_app
    import config as fleet_config

    with tempfile.TemporaryDirectory() as tmp:
        off_path = Path(tmp) / "fleet-without-edge-access.yaml"
        off_path.write_text(yaml.safe_dump(edge_access_off(), sort_keys=False))
        configs = {"example (edge access on)": fleet_config.DEFAULT_CONFIG, "edge access off": off_path}
        times: dict[str, list[float]] = {label: [] for label in configs}

        def once(label: str, path: Path, i: int) -> float:
            started = time.perf_counter()
            app = cdk_app.new_app(outdir=str(Path(tmp) / f"{len(times[label])}-{i}-{label[:4]}"))
            cdk_app.build(app, fleet_config.load(path))
            cdk_app.add_checks(app)
            app.synth()
            return time.perf_counter() - started

        for label, path in configs.items():
            once(label, path, -1)  # warm-up of each
        for i in range(runs):
            for label, path in configs.items():
                times[label].append(once(label, path, i))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()} (in process)")
    for label, t in times.items():
        print(
            f"{label:26s} median {statistics.median(t):.2f} s  min {min(t):.2f} s  runs {', '.join(f'{x:.2f}' for x in t)}"
        )
    on, off = (times[label] for label in configs)
    added, fastest = statistics.median(on) - statistics.median(off), min(on) - min(off)
    print(
        f"edge access adds {added:+.2f} s ({added / statistics.median(off):+.1%}) by medians, "
        f"{fastest:+.2f} s ({fastest / min(off):+.1%}) by fastest runs, to build + synth + checks"
    )
    return 0


def edge_access_off() -> dict[str, Any]:
    """The example config without the Greengrass core fleet, tunneling and attribute authorization."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "config" / "fleet.yaml").read_text())
    fleets = [f for f in data["fleets"] if f.get("kind", "device") == "device"]
    for fleet in fleets:
        fleet.pop("authorization", None)
        fleet["features"].pop("greengrass_discovery", None)
        fleet["features"]["tunnel_notify"] = False
        for parameter in fleet["parameters"].values():
            parameter.pop("trusted", None)
    data["fleets"] = fleets
    data["tunneling"] = {"enabled": False}
    return data


def node_version() -> str:
    node = os.environ.get("JSII_NODE", "node")
    result = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "?"


if __name__ == "__main__":
    sys.exit(main())
