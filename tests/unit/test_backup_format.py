"""Backup file formats without a database: encryption, manifest checks, progress output."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import SecretStr

from app.backup import crypto
from app.backup.manifest import BackupInvalid, Manifest, describe, verify
from app.backup.progress import Progress
from app.settings import Settings

KEY = os.urandom(32)


def roundtrip(tmp_path: Path, data: bytes) -> Path:
    plain, sealed = tmp_path / "plain", tmp_path / "sealed"
    plain.write_bytes(data)
    crypto.encrypt_file(KEY, plain, sealed)
    return sealed


@pytest.mark.parametrize("size", [0, 1, crypto.CHUNK, crypto.CHUNK * 2 + 5])
def test_encryption_round_trips_any_size(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    sealed = roundtrip(tmp_path, data)
    assert crypto.is_encrypted(sealed)
    crypto.decrypt_file(KEY, sealed, tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data


def chunks(sealed: Path) -> tuple[bytes, list[bytes]]:
    raw = sealed.read_bytes()
    head, rest, parts = raw[:16], raw[16:], []
    while rest:
        (length,) = struct.unpack(">I", rest[:4])
        parts.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return head, parts


def test_a_dropped_last_chunk_or_swapped_chunks_fail_authentication(tmp_path: Path) -> None:
    sealed = roundtrip(tmp_path, os.urandom(crypto.CHUNK * 2 + 5))
    head, parts = chunks(sealed)
    assert len(parts) == 3
    for broken in (parts[:2], [parts[1], parts[0], parts[2]]):
        sealed.write_bytes(head + b"".join(broken))
        with pytest.raises(InvalidTag):
            crypto.decrypt_file(KEY, sealed, tmp_path / "back")


def test_the_key_comes_from_the_setting_or_a_file_and_is_checked(tmp_path: Path) -> None:
    encoded = base64.urlsafe_b64encode(KEY).decode()
    assert crypto.load_key(Settings(backup_key=SecretStr(encoded))) == KEY
    (tmp_path / "key").write_text(encoded + "\n")
    assert crypto.load_key(Settings(backup_key_file=tmp_path / "key")) == KEY
    assert crypto.load_key(Settings()) is None
    with pytest.raises(crypto.BackupKeyError, match="32 bytes"):
        crypto.load_key(Settings(backup_key=SecretStr(base64.urlsafe_b64encode(b"short").decode())))


def test_verify_names_every_missing_or_changed_file(tmp_path: Path) -> None:
    (tmp_path / "postgres.dump").write_bytes(b"dump")
    (tmp_path / "redis.snapshot").write_bytes(b"keys")
    files = {n: describe(tmp_path / n) for n in ("postgres.dump", "redis.snapshot")}
    Manifest("n", "t", "7.0.0", "15", "pg_dump 15", "7", "0002", False, files).write(tmp_path)
    assert verify(tmp_path).alembic_revision == "0002"
    (tmp_path / "postgres.dump").write_bytes(b"dumq")
    (tmp_path / "redis.snapshot").unlink()
    with pytest.raises(BackupInvalid) as caught:
        verify(tmp_path)
    assert "postgres.dump: sha256 mismatch" in str(caught.value)
    assert "redis.snapshot: missing" in str(caught.value)
    raw = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**raw, "format": 99}))
    with pytest.raises(BackupInvalid, match="format 99"):
        verify(tmp_path)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_rewrites_one_line_on_a_terminal_and_writes_lines_in_logs() -> None:
    tty, log = FakeTTY(), io.StringIO()
    for stream in (tty, log):
        progress = Progress(stream, every_s=0.0)
        progress.update("postgres dump", 3 * 1024 * 1024, 10 * 1024 * 1024)
        progress.done("postgres dump", "done")
    assert tty.getvalue().startswith("\r\033[Kpostgres dump: 3.0 MiB of ~10.0 MiB")
    assert "\r" not in log.getvalue()
    assert log.getvalue().splitlines()[0].startswith("postgres dump: 3.0 MiB of ~10.0 MiB")
