"""docs/oauth.md names only settings that exist: each NOX_ name is a field of Settings."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import ENV_PREFIX, Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "oauth.md"


def test_every_environment_name_in_the_login_guide_is_a_setting() -> None:
    names = set(re.findall(rf"\b{ENV_PREFIX}([A-Z][A-Z0-9_]*)\b", DOC.read_text()))
    assert {"GOOGLE_CLIENT_ID", "MICROSOFT_TENANT", "OIDC_PROVIDERS"} <= names
    unknown = sorted(n for n in names if n.lower() not in Settings.model_fields)
    assert unknown == []
