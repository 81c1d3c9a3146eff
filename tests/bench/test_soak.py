"""The soak's growth rule: a leak is a floor that rises, not a connection caught in flight."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))  # the script's own imports (harness) are siblings
    try:
        spec = importlib.util.spec_from_file_location("soak_under_test", ROOT / "bench" / "soak.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


def _rows(fds: list[int], rss: float = 50.0, threads: int = 7) -> list[tuple[float, float, int, int]]:
    return [(12.0 + 2 * i, rss, fd, threads) for i, fd in enumerate(fds)]


def test_a_connection_in_flight_in_some_late_samples_is_not_growth(soak: ModuleType) -> None:
    # The CI run that flagged "15 -> 15.5": two of the last four samples caught a socket in flight.
    fds = [15] * 20 + [15, 16, 16, 15]
    assert soak.growth(_rows(fds), 60.0) == []


def test_a_floor_that_rises_above_everything_seen_early_is_growth(soak: ModuleType) -> None:
    fds = [15, 16, 15, 15] + [15] * 16 + [17, 18, 17, 19]
    (found,) = soak.growth(_rows(fds), 60.0)
    assert "open files grew" in found


def test_threads_and_rss_are_judged_too(soak: ModuleType) -> None:
    rows = [(12.0 + 2 * i, 50.0 if i < 10 else 56.0, 15, 7 if i < 10 else 9) for i in range(20)]
    found = soak.growth(rows, 60.0)
    assert any(f.startswith("RSS grew 12.0%") for f in found)
    assert any(f.startswith("threads grew") for f in found)
