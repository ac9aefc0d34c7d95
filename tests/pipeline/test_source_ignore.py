"""One ignore list: what .dockerignore keeps out of images, `dagger call` keeps out of its upload.

The module cannot read .dockerignore (it runs in its own container), so the two lists are held
together here. The pipeline deliberately uploads a few things an image build does not need.
"""

from __future__ import annotations

from tests.pipeline.conftest import ROOT, load

main = load("main")
# Needed by `dagger call lint` (workflow schemas, git's own ignore rules) but not by images.
UPLOADED_FOR_LINT = {".github", ".gitignore"}
SECRET_PATTERNS = {".env", ".env.*", "**/.env", "**/.env.*", "*.pem", "*.key"}


def dockerignore() -> set[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_the_upload_ignores_everything_dockerignore_does() -> None:
    missing = dockerignore() - set(main.SOURCE_IGNORE) - UPLOADED_FOR_LINT
    assert missing == set(), f"add to SOURCE_IGNORE in ci/src/nox_ci/main.py: {sorted(missing)}"


def test_secret_patterns_are_in_both_lists() -> None:
    assert dockerignore() >= SECRET_PATTERNS
    assert set(main.SOURCE_IGNORE) >= SECRET_PATTERNS | {"**/*.pem", "**/*.key"}
