"""The pgBackRest-enabled PostgreSQL image (scripts/pitr) against the settings it mirrors."""

from __future__ import annotations

import re
from pathlib import Path

from app.backup import pitr
from app.settings import Settings
from tests.conftest import make_settings

PITR = Path(__file__).resolve().parents[2] / "scripts" / "pitr"


def _without_comments(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))


def test_image_config_is_what_nox_pitr_config_renders(tmp_path: Path) -> None:
    """One fact: stanza, repository, retention and paths come from the NOX_PITR_* defaults
    (the containers' cluster has only the nox superuser, hence pg1-user)."""
    shipped = _without_comments((PITR / "pgbackrest.conf").read_text())
    assert shipped == pitr.render_config(make_settings(tmp_path, pitr_pg_user="nox"))


def test_image_config_holds_no_cipher_pass() -> None:
    """The pass comes from a secret mounted in conf.d, never from the image."""
    assert "cipher" not in _without_comments((PITR / "pgbackrest.conf").read_text())


def test_image_archives_with_the_settings_archive_timeout() -> None:
    entrypoint = (PITR / "pitr-entrypoint.sh").read_text()
    default = re.search(r"archive_timeout=\$\{PITR_ARCHIVE_TIMEOUT_S:-(\d+)\}s", entrypoint)
    assert default is not None
    assert int(default.group(1)) == Settings.model_fields["pitr_archive_timeout_s"].default
    # pgBackRest refuses to back up unless archive_command names it
    assert re.search(r"archive_command=nox-pgbackrest-archive-push %p", entrypoint)
    assert (PITR / "nox-pgbackrest-archive-push").stat().st_mode & 0o111


def test_image_base_defaults_to_the_postgres_image_compose_runs() -> None:
    """The pinned PostgreSQL fact lives in ci/src/nox_ci/facts.py and compose's default
    (tests/pipeline/test_facts.py ties those two); the image's own default follows compose."""
    compose = (PITR.parents[1] / "compose.yaml").read_text()
    compose_default = re.search(r"POSTGRES_IMAGE: \$\{POSTGRES_IMAGE:-([^}]+)\}", compose)
    image_default = re.search(
        r"^ARG POSTGRES_IMAGE=(\S+)$", (PITR / "Dockerfile").read_text(), re.M
    )
    assert compose_default and image_default
    assert image_default.group(1) == compose_default.group(1)
