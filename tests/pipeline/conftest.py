"""Loads the Dagger module in ci/ for the offline pipeline tier (no engine needed).

The module is its own uv project; the root dev group pins the same `dagger-io`, so its sources
import here directly. DAGGER_MAIN_OBJECT must be set before the SDK's module machinery is
imported: it names the class `dagger call` exposes.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_SRC = ROOT / "ci" / "src"

os.environ.setdefault("DAGGER_MAIN_OBJECT", "NoxCi")
if str(MODULE_SRC) not in sys.path:
    sys.path.insert(0, str(MODULE_SRC))


def load(name: str) -> ModuleType:
    """A module of the `nox_ci` package, e.g. load("services")."""
    return importlib.import_module(f"nox_ci.{name}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.pipeline)
