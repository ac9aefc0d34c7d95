"""Reports that survive failure: each gate's files plus an `outcome` line, returned either way.

A function that raised before returning would leave CI nothing to upload exactly when the report
matters. So `test` and `scan` always return their report directory; the workflow exports it,
uploads it, and only then fails the job on the outcome (`.github/workflows/ci.yml`).
"""

from __future__ import annotations

import signal
from typing import Final

import dagger

from .scanning import FINDINGS_EXIT
from .scanning import REPORTS as SCAN_REPORTS
from .suite import REPORTS as SUITE_REPORTS

OUTCOME: Final = "outcome"
PASSED: Final = "passed"
# pytest's exit codes (pytest.ExitCode): what a red run was.
PYTEST_EXITS: Final = {
    1: "tests failed",
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no tests collected",
}


def died_of(code: int) -> str | None:
    """A shell reports a child killed by signal N as 128 + N (137: SIGKILL, e.g. the OOM killer)."""
    if code <= 128:
        return None
    try:
        return f"killed by {signal.Signals(code - 128).name}"
    except ValueError:
        return None


def suite_outcome(code: int) -> str:
    if code == 0:
        return PASSED
    return f"failed: {died_of(code) or PYTEST_EXITS.get(code, 'the runner failed')} (exit {code})"


def scan_outcome(code: int) -> str:
    if code == 0:
        return PASSED
    if code == FINDINGS_EXIT:
        return f"failed: fixable HIGH/CRITICAL findings (exit {code}); see trivy.sarif"
    return f"failed: the scanner itself failed, {died_of(code) or 'see its log'} (exit {code})"


async def suite_report(ctr: dagger.Container) -> tuple[dagger.Directory, bool]:
    code = await ctr.exit_code()
    report = ctr.directory(SUITE_REPORTS).with_new_file(OUTCOME, suite_outcome(code) + "\n")
    return report, code == 0


async def scan_report(ctr: dagger.Container) -> tuple[dagger.Directory, bool]:
    code = await ctr.exit_code()
    report = ctr.directory(SCAN_REPORTS).with_new_file(OUTCOME, scan_outcome(code) + "\n")
    return report, code == 0
