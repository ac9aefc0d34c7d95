"""The compose backup profile's point-in-time recovery, end to end on the real engine.

PostgreSQL runs from the pgBackRest image (scripts/pitr); the ``pitr-backup`` scheduler makes
its first backup at start. Proven here: the backup lands encrypted in the repository volume
and is recorded (the api exports its age), a WAL segment is archived within archive_timeout,
and ``nox-pitr-restore --to-time`` (the documented container entry point) brings back exactly
the rows committed before the target.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.conftest import Stack, stack_env
from tests.container.engine import PREFIX, Compose, free_port, http_client, wait_for

pytestmark = pytest.mark.container

ARCHIVE_TIMEOUT_S = 5


@pytest.fixture(scope="module")
def pitr_stack(
    compose_v2: None,
    base_images: dict[str, str],
    runtime_image: str,
    postgres_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    cipher = tmp_path_factory.mktemp("pitr") / "cipher.conf"
    cipher.write_text(
        f"[global]\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass={secrets.token_hex(32)}\n"
    )
    cipher.chmod(0o644)  # a bind-mounted compose secret: uid 999 must read it
    port = free_port()
    env = {
        **stack_env(base_images, runtime_image, port, postgres_image=postgres_image),
        "PITR_CIPHER_FILE": str(cipher),
        "NOX_PITR_ARCHIVE_TIMEOUT_S": str(ARCHIVE_TIMEOUT_S),
    }
    compose = Compose(f"{PREFIX}-pitr-{os.getpid()}", ["compose.yaml"], env, profiles=["backup"])
    try:
        up = compose(
            "up", "-d", "--wait", "--wait-timeout", "240", "--no-build",
            "api", "pitr-backup", check=False, timeout=900,
        )  # fmt: skip
        if up.returncode != 0:
            logs = compose("logs", "--no-color", "--tail", "40", check=False).stdout
            pytest.fail(f"compose up failed:\n{up.stderr[-3000:]}\n{logs[-6000:]}")
        yield Stack(compose=compose, port=port, secrets=env)
    finally:
        compose.down()


def psql(stack: Stack, query: str) -> str:
    done = stack.compose(
        "exec", "-T", "-u", "postgres", "postgres",
        "psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-U", "nox", "-d", "nox",
        "-c", query,
    )  # fmt: skip
    return done.stdout.strip()


def test_scheduled_backup_lands_encrypted_and_the_api_reports_its_age(pitr_stack: Stack) -> None:
    def recorded() -> bool:
        return psql(pitr_stack, "SELECT count(*) FROM backups WHERE ok AND kind = 'full'") == "1"

    wait_for(recorded, 180, "the scheduler's first (full) backup")
    label = psql(pitr_stack, "SELECT name FROM backups WHERE kind = 'full'").removeprefix("pitr-")
    listed = pitr_stack.compose(
        "exec", "-T", "-u", "postgres", "postgres", "ls", "/var/lib/pgbackrest/backup/nox"
    ).stdout.split()
    assert label in listed
    head = pitr_stack.compose(
        "exec", "-T", "-u", "postgres", "postgres",
        "head", "-c", "8", "/var/lib/pgbackrest/backup/nox/backup.info",
    ).stdout  # fmt: skip
    assert head == "Salted__"  # encrypted at rest (OpenSSL's aes-256-cbc envelope)
    with http_client(pitr_stack.port) as client:
        metrics = client.get("/metrics").text
    line = next(
        x
        for x in metrics.splitlines()
        if x.startswith('nox_pitr_backup_last_success_timestamp_seconds{type="full"}')
    )
    assert abs(float(line.split()[-1]) - time.time()) < 600


def test_wal_is_archived_within_archive_timeout(pitr_stack: Stack) -> None:
    wait_for(
        lambda: psql(pitr_stack, "SELECT count(*) FROM backups WHERE ok") != "0", 180, "a backup"
    )
    psql(pitr_stack, "CREATE TABLE IF NOT EXISTS pitr_probe (v int)")
    segment = psql(
        pitr_stack,
        "INSERT INTO pitr_probe VALUES (1); SELECT pg_walfile_name(pg_current_wal_insert_lsn())",
    )
    started = time.monotonic()
    wait_for(
        lambda: (
            psql(pitr_stack, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
            >= segment
        ),
        ARCHIVE_TIMEOUT_S * 6,
        f"segment {segment} archived",
    )
    took = time.monotonic() - started
    # archive_timeout, plus the archiver's own wake-up and the polling through docker exec
    assert took <= ARCHIVE_TIMEOUT_S + 10, took
    archived = pitr_stack.compose(
        "exec", "-T", "-u", "postgres", "postgres",
        "find", "/var/lib/pgbackrest/archive/nox", "-name", f"{segment}-*",
    ).stdout  # fmt: skip
    assert segment in archived


def test_restore_refuses_while_postgresql_runs(pitr_stack: Stack) -> None:
    refused = pitr_stack.compose(
        "exec", "-T", "-u", "postgres", "postgres", "nox-pitr-restore", "--latest", check=False
    )
    assert refused.returncode != 0
    assert "PostgreSQL is running there" in refused.stderr


def test_restore_refuses_another_cluster_and_touches_nothing(pitr_stack: Stack) -> None:
    """A data directory of another cluster (its own initdb, so another system identifier)."""
    wait_for(
        lambda: psql(pitr_stack, "SELECT count(*) FROM backups WHERE ok") != "0", 180, "a backup"
    )
    script = (
        "initdb -D /tmp/other -U nox >/dev/null; fingerprint() { find /tmp/other -type f "
        "-exec md5sum {} + | sort; }; before=$(fingerprint); nox-pitr-restore --latest; "
        'rc=$?; [ "$before" = "$(fingerprint)" ] && echo untouched; exit $rc'
    )
    refused = pitr_stack.compose(
        "run", "--rm", "--no-deps", "-T", "-e", "PGBACKREST_PG1_PATH=/tmp/other",
        "--entrypoint", "bash", "pitr-backup", "-c", script, check=False, timeout=300,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "wrong database, nothing done" in refused.stderr
    assert "untouched" in refused.stdout


def test_cipher_pass_is_in_no_argv_or_environment(pitr_stack: Stack) -> None:
    secret_file = Path(pitr_stack.secrets["PITR_CIPHER_FILE"])
    cipher_pass = secret_file.read_text().split("repo1-cipher-pass=")[1].strip()
    for service in ("postgres", "pitr-backup"):
        inspected = pitr_stack.compose(
            "exec", "-T", service, "sh", "-c", "cat /proc/*/cmdline; env"
        ).stdout  # fmt: skip
        assert cipher_pass not in inspected
    logs = pitr_stack.compose("logs", "--no-color", check=False).stdout
    assert cipher_pass not in logs


def test_restore_to_time_brings_back_exactly_the_rows_before_it(pitr_stack: Stack) -> None:
    c = pitr_stack.compose
    wait_for(
        lambda: psql(pitr_stack, "SELECT count(*) FROM backups WHERE ok") != "0", 180, "a backup"
    )
    psql(pitr_stack, "CREATE TABLE drill (n int, at timestamptz DEFAULT clock_timestamp())")
    psql(pitr_stack, "INSERT INTO drill (n) SELECT generate_series(1, 50)")
    psql(pitr_stack, "CREATE TABLE mistake AS SELECT 1 AS v")
    time.sleep(1.5)
    target = psql(pitr_stack, "SELECT clock_timestamp()")
    time.sleep(1.5)
    psql(pitr_stack, "INSERT INTO drill (n) SELECT generate_series(51, 80)")
    psql(pitr_stack, "DROP TABLE mistake")  # the mistake to undo
    segment = psql(pitr_stack, "SELECT pg_walfile_name(pg_switch_wal())")
    wait_for(
        lambda: (
            psql(pitr_stack, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
            >= segment
        ),
        60,
        "the WAL past the target archived",
    )
    c("stop", "-t", "30", "api", "pitr-backup", "postgres")
    started = time.monotonic()
    restored = c(
        "run", "--rm", "--no-deps", "-T", "--entrypoint", "nox-pitr-restore", "pitr-backup",
        "--to-time", target, check=False, timeout=600,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    up = c("up", "-d", "--wait", "--wait-timeout", "180", "--no-build", "postgres", check=False)
    assert up.returncode == 0, up.stderr
    wait_for(
        lambda: c("exec", "-T", "-u", "postgres", "postgres", "psql", "-XAtq", "-U", "nox",
                  "-d", "nox", "-c", "SELECT pg_is_in_recovery()", check=False).stdout.strip()
        == "f",
        120,
        "recovery to the target and promotion",
    )  # fmt: skip
    rto = time.monotonic() - started
    assert psql(pitr_stack, "SELECT count(*), max(n) FROM drill") == "50|50"
    assert psql(pitr_stack, "SELECT count(*) FROM mistake") == "1"  # the drop is undone
    print(f"container restore to time, started and promoted: {rto:.1f} s")
