"""Fuzz the policy review: N generated templates (default 10,000), no crash, no hang.

    .venv/bin/python bench/fuzz_review.py [N]        # make fuzz-review

Templates come from the property tests' generators (``tests/policy_review/generators.py``): every
resource type the review reads, well formed or with arbitrary JSON and intrinsics in any property,
conditions, mappings, embedded template bodies, policies as objects or JSON strings. Each is read
from a file like a synth output, reviewed (simulation and every rule) and rendered in every report
format. Prints the count, the time, the slowest template and the rules seen; exits 1 on the first
exception (hypothesis shrinks it and prints the smallest failing template) or when one template
takes longer than ``--hang`` seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from policy_review import inventory, query, reports  # noqa: E402
from policy_review.engine import review  # noqa: E402
from tests.policy_review.generators import iot_policies, templates  # noqa: E402


def standalone(document: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": {"P": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": document}}}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    parser.add_argument("--hang", type=float, default=60.0, help="seconds one template may take")
    args = parser.parse_args(argv)
    seen: Counter[str] = Counter()
    stats = {"count": 0, "slowest": 0.0, "findings": 0}
    started = time.perf_counter()

    @settings(
        max_examples=args.count,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
    )
    @given(st.one_of(templates(), templates(), templates(), iot_policies().map(standalone)))
    def one(template: dict[str, Any]) -> None:
        began = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "stk.template.json"
            path.write_text(json.dumps(template))
            inv = inventory.load(path)
        findings = review(inv)
        reports.as_json(findings)
        reports.sarif(findings)
        reports.markdown(inv, findings)
        reports.html_page(inv, findings)
        try:
            query.can(inv, "dev-1", "iot:Publish", "topic/dt/dev-1")
        except query.QueryError:
            pass
        took = time.perf_counter() - began
        assert took < args.hang, f"one template took {took:.1f} s: {json.dumps(template)[:2000]}"
        stats["count"] += 1
        stats["slowest"] = max(stats["slowest"], took)
        stats["findings"] += len(findings)
        seen.update(f.rule for f in findings)

    one()
    elapsed = time.perf_counter() - started
    print(
        f"fuzzed {stats['count']:,} generated templates in {elapsed:.0f} s "
        f"({1000 * elapsed / max(stats['count'], 1):.1f} ms each, slowest {stats['slowest']:.2f} s): "
        f"no crash, no hang; {stats['findings']:,} findings"
    )
    print("rules seen:", ", ".join(f"{rule} {n}" for rule, n in seen.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
