"""Where the suite's time goes, per tier: written by the pytest process that reports results.

Under pytest-xdist the tiers run interleaved on several workers, so a tier has no wall time of
its own; this plugin records, per tier, how many tests ran, their summed duration (setup, call
and teardown: the work the tier costs) and the span from its first test's start to its last
test's end. `.ci/run` prints the table (`scripts/ci_timings.py`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

TIERS_FILE_ENV = "NOX_TIER_TIMINGS"  # where to write the JSON; unset: nothing is written


@dataclass
class TierTiming:
    tests: int = 0
    busy_s: float = 0.0
    first_start: float = 0.0
    last_stop: float = 0.0

    def add(self, report: pytest.TestReport) -> None:
        self.busy_s += report.duration
        if report.when == "setup":
            self.tests += 1
        if not self.first_start or report.start < self.first_start:
            self.first_start = report.start
        self.last_stop = max(self.last_stop, report.stop)


def tier_of(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


class TierTimings:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tiers: dict[str, TierTiming] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.tiers.setdefault(tier_of(report.nodeid), TierTiming()).add(report)

    @pytest.hookimpl
    def pytest_sessionfinish(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = {
            name: {**asdict(t), "span_s": t.last_stop - t.first_start}
            for name, t in sorted(self.tiers.items())
        }
        self.path.write_text(json.dumps(rows, indent=2) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    target = os.environ.get(TIERS_FILE_ENV)
    if target and not hasattr(config, "workerinput"):  # the controller, not an xdist worker
        config.pluginmanager.register(TierTimings(Path(target)), "nox-tier-timings")
