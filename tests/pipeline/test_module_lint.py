"""The Dagger module passes its own ruff and mypy --strict (root lint config excludes ci/)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.pipeline.conftest import ROOT

MODULE = ROOT / "ci"


@pytest.mark.parametrize(
    "tool",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_module_is_lint_clean_with_its_own_config(tool: list[str]) -> None:
    # cwd=ci: both tools pick up ci/pyproject.toml, not the root configuration.
    run = subprocess.run(
        [sys.executable, "-m", *tool], cwd=MODULE, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_module_lint_config_is_strict() -> None:
    config = (MODULE / "pyproject.toml").read_text()
    assert "strict = true" in config
    assert 'select = ["E", "F", "W", "I", "B", "UP", "S"' in config
