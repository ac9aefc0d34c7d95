"""Point-in-time recovery drill on real PostgreSQL with WAL archived by real pgBackRest.

Each test starts a throwaway cluster from Debian's binaries with archiving to a private
repository (archive_timeout 2 s so the drill stays short), and restores into a fresh data
directory on another port: the disaster-on-a-new-host case.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import Gauge

from app.audit.service import record_event
from app.auth.tokens import authenticate_token, create_token, revoke_token
from app.backup import pitr
from app.backup.service import refresh_archiver_metrics
from app.db import make_engine, make_sessionmaker, session_scope
from app.migrate import migrate
from app.observability.metrics import REGISTRY, WAL_ARCHIVE_FAILED, WAL_ARCHIVED
from app.settings import Settings
from app.users.service import get_or_create_by_email
from tests.conftest import make_settings
from tests.pitr_cluster import archived_cluster, kill_hard, nox, restored_cluster
from tests.support.postgres import PostgresServer, postgres_server

pytestmark = pytest.mark.integration
ARCHIVE_TIMEOUT_S = 2


async def _write_users_and_events(settings: Settings, prefix: str, n: int) -> None:
    async with session_scope(settings) as session:
        for i in range(n):
            await get_or_create_by_email(session=session, email=f"{prefix}{i}@example.com")
    engine = make_engine(settings.database_url)
    try:
        for i in range(n):
            await record_event(
                make_sessionmaker(engine),
                action="admin.user",
                outcome="ok",
                actor_id=None,
                target=f"{prefix}{i}",
            )
    finally:
        await engine.dispose()


def _audit_verify(database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOX_ENV": "test", "NOX_DATABASE_URL": database_url}
    env["NOX_DATA_DIR"] = str(tmp_path / "verify-data")
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "audit", "verify"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


async def test_restore_to_time_keeps_every_row_up_to_t_and_none_after(tmp_path: Path) -> None:
    with archived_cluster(tmp_path, ARCHIVE_TIMEOUT_S) as archived:
        server, settings = archived.server, archived.settings
        await migrate(settings)
        server.psql("CREATE TABLE ticks (id int PRIMARY KEY, at timestamptz)", "nox")
        pitr.backup(settings, archived.config, "full")
        time.sleep(1.5)  # pgBackRest picks the backup that stopped before T, to the second
        await _write_users_and_events(settings, "before", 10)
        async with session_scope(settings) as session:
            owner = await get_or_create_by_email(session=session, email="before0@example.com")
            token, plaintext = await create_token(session=session, user=owner)
        server.psql(
            "INSERT INTO ticks SELECT g, clock_timestamp() FROM generate_series(1, 50) g", "nox"
        )
        target = server.psql("SELECT clock_timestamp()")
        time.sleep(0.05)
        server.psql(
            "INSERT INTO ticks SELECT g, clock_timestamp() FROM generate_series(51, 80) g", "nox"
        )
        await _write_users_and_events(settings, "after", 5)
        async with session_scope(settings) as session:  # revoked after T
            assert await revoke_token(session=session, user=owner, token_id=token.id)
        server.psql("DROP TABLE ticks", "nox")  # the mistake
        pitr.run(settings, archived.config, "check")  # switches WAL and waits for its archive

        with restored_cluster(archived, tmp_path, cli=True, to_time=target) as restored:
            assert restored.psql("SELECT count(*), max(id) FROM ticks", "nox") == "50|50"
            emails = restored.psql("SELECT string_agg(email, ',') FROM users", "nox")
            assert emails.count("before") == 10 and "after" not in emails
            verified = _audit_verify(restored.url("nox"), tmp_path)
            assert verified.returncode == 0, verified.stdout + verified.stderr
            assert "10 events verified" in verified.stdout
            restored_settings = make_settings(tmp_path, database_url=restored.url("nox"))
            async with session_scope(restored_settings) as session:  # valid at T ...
                assert await authenticate_token(session=session, plaintext=plaintext)
            saved = restored.data_dir.parent / "nox-revocations.json"
            reapplied = subprocess.run(
                [sys.executable, "-m", "app.cli", "pitr", "reapply-revocations", str(saved)],
                capture_output=True,
                text=True,
                check=False,
                env={
                    **os.environ,
                    "NOX_ENV": "test",
                    "NOX_DATABASE_URL": restored.url("nox"),
                    "NOX_DATA_DIR": str(tmp_path / "data"),
                },
            )
            assert "1 revocations re-applied" in reapplied.stdout, reapplied.stderr
            async with session_scope(restored_settings) as session:  # ... revoked for good
                assert await authenticate_token(session=session, plaintext=plaintext) is None


async def test_restore_to_a_named_restore_point(tmp_path: Path) -> None:
    with archived_cluster(tmp_path, ARCHIVE_TIMEOUT_S) as archived:
        server, settings = archived.server, archived.settings
        server.psql("CREATE TABLE ticks (id int PRIMARY KEY)", "nox")
        pitr.backup(settings, archived.config, "full")
        server.psql("INSERT INTO ticks SELECT generate_series(1, 7)", "nox")
        server.psql("SELECT pg_create_restore_point('before-upgrade')", "nox")
        server.psql("INSERT INTO ticks SELECT generate_series(8, 9)", "nox")
        pitr.run(settings, archived.config, "check")
        with restored_cluster(archived, tmp_path, to_name="before-upgrade") as restored:
            assert restored.psql("SELECT count(*) FROM ticks", "nox") == "7"


def _gauge(gauge: Gauge) -> float:
    return REGISTRY.get_sample_value(gauge._name) or 0.0


async def test_archiving_failures_reach_the_metrics_the_alert_reads(tmp_path: Path) -> None:
    with archived_cluster(tmp_path, ARCHIVE_TIMEOUT_S) as archived:
        server, settings = archived.server, archived.settings
        pitr.run(settings, archived.config, "check")
        engine = make_engine(settings.database_url)
        try:
            await refresh_archiver_metrics(make_sessionmaker(engine))
            assert _gauge(WAL_ARCHIVED) > 0
            assert _gauge(WAL_ARCHIVE_FAILED) == 0
            archive = settings.pitr_repo_path / "archive"
            archive.chmod(0)  # the repository becomes unwritable for the archiver
            try:
                server.psql("CREATE TABLE t AS SELECT 1; SELECT pg_switch_wal()", "nox")
                deadline = time.monotonic() + 30
                while _gauge(WAL_ARCHIVE_FAILED) <= _gauge(WAL_ARCHIVED):
                    assert time.monotonic() < deadline, "no archive failure reported in 30 s"
                    time.sleep(0.5)
                    await refresh_archiver_metrics(make_sessionmaker(engine))
            finally:
                archive.chmod(0o750)
        finally:
            await engine.dispose()


def _writer(
    server: PostgresServer, stop: threading.Event, committed: list[tuple[int, float]]
) -> None:
    """One row per transaction; records (id, wall time) once PostgreSQL confirmed the commit."""
    i = 0
    while not stop.is_set():
        i += 1
        try:
            server.psql(f"INSERT INTO ticks VALUES ({i})", "nox")  # noqa: S608 - an int
        except subprocess.CalledProcessError:
            return  # the server was killed under us
        committed.append((i, time.time()))


async def test_hard_kill_loses_at_most_the_archive_timeout_of_commits(tmp_path: Path) -> None:
    with archived_cluster(tmp_path, ARCHIVE_TIMEOUT_S) as archived:
        server, settings = archived.server, archived.settings
        server.psql("CREATE TABLE ticks (id int PRIMARY KEY)", "nox")
        pitr.backup(settings, archived.config, "full")
        committed: list[tuple[int, float]] = []
        stop = threading.Event()
        writer = threading.Thread(target=_writer, args=(server, stop, committed))
        writer.start()
        time.sleep(4 * ARCHIVE_TIMEOUT_S)
        killed_at = time.time()
        kill_hard(server)
        stop.set()
        writer.join(timeout=30)
        with restored_cluster(archived, tmp_path) as restored:
            present = {int(r) for r in restored.psql("SELECT id FROM ticks", "nox").split()}
        missing = [(i, at) for i, at in committed if i not in present]
        print(f"committed {len(committed)}, restored {len(present)}, missing {len(missing)}")
        assert len(committed) > 20 and present
        # an archived segment is a prefix of history: what is missing is the tail, and the
        # tail is no older than archive_timeout plus the archiver's own latency (1 s slack)
        assert all(i > max(present) for i, _ in missing)
        assert all(at > killed_at - ARCHIVE_TIMEOUT_S - 1 for _, at in missing), missing[:3]


def test_a_corrupted_archive_segment_is_detected_and_named(tmp_path: Path) -> None:
    with archived_cluster(tmp_path, ARCHIVE_TIMEOUT_S) as archived:
        server, settings = archived.server, archived.settings
        server.psql("CREATE TABLE ticks (id int PRIMARY KEY)", "nox")
        pitr.backup(settings, archived.config, "full")
        server.psql("INSERT INTO ticks SELECT generate_series(1, 1000)", "nox")
        pitr.run(settings, archived.config, "check")
        pitr.verify(settings, archived.config)  # intact so far
        segments = sorted((settings.pitr_repo_path / "archive").rglob("0000000*-*"))
        victim = segments[-1]
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
        with pytest.raises(pitr.PitrError) as refused:
            pitr.verify(settings, archived.config)
        assert victim.name.split("-")[0] in str(refused.value), str(refused.value)


def test_restore_refuses_another_clusters_data_directory_touching_nothing(
    tmp_path: Path,
) -> None:
    with archived_cluster(tmp_path, ARCHIVE_TIMEOUT_S) as archived:
        pitr.backup(archived.settings, archived.config, "full")
        bin_dir = archived.server.bin_dir
        with postgres_server(bin_dir) as other:
            other.stop()
            before = sorted((p, p.stat().st_mtime_ns) for p in other.data_dir.rglob("*"))
            with pytest.raises(pitr.PitrError, match="wrong database, nothing done"):
                pitr.restore(archived.settings, archived.config, other.data_dir)
            refused = nox(
                archived,
                "restore",
                "--to-time=2026-01-01 00:00:00+00",
                f"--pg-data={other.data_dir}",
                "--yes",
            )
            assert refused.returncode == 1 and "wrong database" in refused.stderr
            assert not (other.data_dir.parent / "nox-revocations.json").exists()
            after = sorted((p, p.stat().st_mtime_ns) for p in other.data_dir.rglob("*"))
            assert after == before
        with pytest.raises(pitr.PitrError, match="running"):  # its own, but live
            pitr.restore(archived.settings, archived.config, archived.server.data_dir)
