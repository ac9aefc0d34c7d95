"""The parallel suite relies on `--dist loadgroup` keeping an xdist_group on one worker (the
Swarm, the compose stack, CPU-bound sandboxes). pytest 9.2 broke that silently
(pytest-xdist#1386): this runs a small suite the way `task test:pytest` does and checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SUITE = """
import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.mark.parametrize("i", range(8))
def test_in_the_group(i):
    pass
"""


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(SUITE)
    (tmp_path / "none.ini").write_text("[pytest]\n")  # not the project's configuration
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", str(tmp_path / "none.ini"),
         "--rootdir", str(tmp_path), "-n", "2", "--dist", "loadgroup", "-v", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    workers = re.findall(r"^\[(gw\d+)\] .*PASSED .*test_in_the_group", done.stdout, re.M)
    assert len(workers) == 8, done.stdout
    assert len(set(workers)) == 1, workers
