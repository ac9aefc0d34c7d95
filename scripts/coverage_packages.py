"""Coverage per package from `coverage json`, and the per-package floor.

The overall gate is coverage.py's own `fail_under` (pyproject.toml); this adds what coverage.py
cannot express: no package (a directory of measured sources) below FLOOR_PERCENT, so a well
tested majority cannot hide an untested package. Prints one line per package, weakest first.

    python scripts/coverage_packages.py build/coverage/coverage.json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

FLOOR_PERCENT = 80.0


@dataclass
class Package:
    name: str
    statements: int = 0
    covered: int = 0

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.statements if self.statements else 100.0


def package_of(path: str) -> str:
    """`app/auth/oauth/flow.py` -> `app.auth.oauth`; `ci/src/nox_ci/x.py` -> `nox_ci`."""
    parts = PurePosixPath(path).parent.parts
    if "src" in parts:
        parts = parts[parts.index("src") + 1 :]
    return ".".join(parts) or "."


def packages(report: dict[str, Any]) -> list[Package]:
    by_name: dict[str, Package] = {}
    for path, data in report["files"].items():
        summary = data["summary"]
        package = by_name.setdefault(package_of(path), Package(package_of(path)))
        package.statements += summary["num_statements"]
        package.covered += summary["covered_lines"]
    return sorted(by_name.values(), key=lambda p: (p.percent, p.name))


def below_floor(report: dict[str, Any], floor: float = FLOOR_PERCENT) -> list[Package]:
    return [p for p in packages(report) if p.percent < floor]


def main(argv: list[str]) -> int:
    with open(argv[1]) as f:
        report = json.load(f)
    for p in packages(report):
        mark = "  BELOW FLOOR" if p.percent < FLOOR_PERCENT else ""
        print(f"{p.percent:6.1f} %  {p.covered:5}/{p.statements:<5}  {p.name}{mark}")
    total = report["totals"]["percent_covered"]
    print(f"{total:6.1f} %  total (gate: fail_under in pyproject.toml)")
    low = below_floor(report)
    if low:
        names = ", ".join(p.name for p in low)
        print(f"coverage: packages below {FLOOR_PERCENT:.0f} %: {names}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
