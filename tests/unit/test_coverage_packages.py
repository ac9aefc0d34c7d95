"""scripts/coverage_packages.py: the per-package floor under the overall coverage gate."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "coverage_packages.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("coverage_packages", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


checker = load_script()


def report(files: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """A `coverage json` report: path -> (statements, covered lines)."""
    total_statements = sum(s for s, _ in files.values())
    total_covered = sum(c for _, c in files.values())
    return {
        "files": {
            path: {"summary": {"num_statements": s, "covered_lines": c}}
            for path, (s, c) in files.items()
        },
        "totals": {"percent_covered": 100.0 * total_covered / total_statements},
    }


def test_packages_are_directories_and_the_dagger_module_is_named_by_its_import_name() -> None:
    assert checker.package_of("app/main.py") == "app"
    assert checker.package_of("app/auth/oauth/flow.py") == "app.auth.oauth"
    assert checker.package_of("ci/src/nox_ci/suite.py") == "nox_ci"
    assert checker.package_of("migrations/versions/0001_users.py") == "migrations.versions"


def test_a_package_below_the_floor_is_named_even_when_the_total_is_high() -> None:
    files = {"app/a.py": (1000, 990), "app/b.py": (500, 500), "app/files/s.py": (10, 7)}
    low = checker.below_floor(report(files))
    assert [(p.name, p.statements, p.covered) for p in low] == [("app.files", 10, 7)]


def test_the_cli_fails_on_a_package_below_the_floor_and_passes_at_it(tmp_path: Path) -> None:
    def run(files: dict[str, tuple[int, int]]) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "coverage.json"
        path.write_text(json.dumps(report(files)))
        return subprocess.run(
            [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False
        )

    failed = run({"app/a.py": (100, 100), "deploy/k8s.py": (100, 79)})
    assert failed.returncode == 1
    assert "deploy" in failed.stderr and "BELOW FLOOR" in failed.stdout
    passed = run({"app/a.py": (100, 100), "deploy/k8s.py": (100, 80)})
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.splitlines()[0].split()[-1] == "deploy"  # weakest first
