"""Prerequisites of a test tier: skip with one clear line locally, fail in CI.

CI installs everything a tier needs, so a missing prerequisite there is a broken install step,
never a reason to skip.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} not found: {hint}")
    assert path is not None
    return path
