"""pgBackRest configuration rendered from settings, and the Redis restore's credential rules."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from app.backup import pitr, redis_snapshot
from tests.conftest import make_settings


def test_config_encrypts_the_repository_only_with_a_cipher_pass(tmp_path: Path) -> None:
    plain = pitr.render_config(make_settings(tmp_path))
    assert "cipher" not in plain
    # pitr_run_as="": no chown, so the test holds where no `postgres` user exists (test image)
    settings = make_settings(
        tmp_path, pitr_cipher_pass=SecretStr("s3cret"), pitr_stanza="prod", pitr_run_as=""
    )
    rendered = pitr.render_config(settings)
    assert "repo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=s3cret" in rendered
    assert "\n[prod]\npg1-path=" in rendered
    written = pitr.write_config(settings, tmp_path / "etc" / pitr.CONFIG_NAME)
    assert written.stat().st_mode & 0o777 == 0o600


def test_archive_timeout_and_command_come_from_settings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, pitr_archive_timeout_s=45)
    params = pitr.postgres_parameters(settings, Path("/etc/pgbackrest/x.conf"))
    assert params["archive_timeout"] == "45s"
    assert params["archive_command"] == (
        "pgbackrest --config=/etc/pgbackrest/x.conf --stanza=nox archive-push %p"
    )


def test_credentials_and_runs_in_flight_are_never_restored() -> None:
    for key in (b"sess:ab12", b"oauth:state:xy", b"q:conc:1", b"auth:epoch"):
        assert not redis_snapshot.is_restorable(key)
    assert redis_snapshot.is_restorable(b"q:runs:1:2026-11-28")


def test_ttls_shrink_by_the_backups_age_and_expired_keys_are_dropped() -> None:
    assert redis_snapshot._remaining_ms(10_000, age_s=3) == 7_000
    assert redis_snapshot._remaining_ms(2_000, age_s=3) is None
    assert redis_snapshot._remaining_ms(-1, age_s=3) == 0  # persistent stays persistent
    assert redis_snapshot._remaining_ms(-2, age_s=0) is None  # gone before it was dumped


def test_a_data_directory_without_pg_control_has_no_identifier(tmp_path: Path) -> None:
    assert pitr.system_identifier(tmp_path) is None
    (tmp_path / "global").mkdir()
    (tmp_path / "global" / "pg_control").write_bytes((1234567).to_bytes(8, "little") + b"\0" * 8)
    assert pitr.system_identifier(tmp_path) == 1234567
