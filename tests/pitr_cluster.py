"""Throwaway PostgreSQL clusters archiving WAL through real pgBackRest, and restores of them.

Shared by tests/integration/test_pitr_drill.py and bench/bench_pitr.py. The repository and
config live in a directory the postgres user owns (the archiver runs as that user).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.backup import pitr
from app.settings import Settings
from tests.conftest import make_settings
from tests.prereq import require, require_binary
from tests.support.net import free_port
from tests.support.postgres import PostgresServer, postgres_bin_dir, postgres_server


@dataclass
class Archived:
    server: PostgresServer
    settings: Settings
    config: Path


def _owned_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    return path


@contextmanager
def archived_cluster(tmp_path: Path, archive_timeout_s: int) -> Iterator[Archived]:
    require_binary("pgbackrest", "apt-get install pgbackrest")
    bin_dir = postgres_bin_dir()
    require(bin_dir is not None, "PostgreSQL server not found: apt-get install postgresql")
    assert bin_dir is not None
    # the repository and config live where the postgres user can reach (tmp_path is root's)
    home = _owned_dir(Path(tempfile.mkdtemp(prefix="nox-pgbackrest-")))
    with postgres_server(bin_dir) as server:
        server.psql("CREATE DATABASE nox")
        settings = make_settings(
            tmp_path,
            database_url=server.url("nox"),
            pitr_repo_path=_owned_dir(home / "repo"),
            pitr_pg_data=server.data_dir,
            pitr_pg_port=server.port,
            pitr_pg_socket_path=server.data_dir.parent,
            pitr_archive_timeout_s=archive_timeout_s,
            pitr_run_as="postgres" if os.geteuid() == 0 else "",
        )
        config = pitr.write_config(settings, _owned_dir(home / "etc") / pitr.CONFIG_NAME)
        with (server.data_dir / "postgresql.conf").open("a") as conf:
            for name, value in pitr.postgres_parameters(settings, config).items():
                conf.write(f"{name} = '{value}'\n")
        server.stop()
        server.start()
        pitr.run(settings, config, "stanza-create")
        try:
            yield Archived(server, settings, config)
        finally:
            shutil.rmtree(home, ignore_errors=True)


def nox(archived: Archived, *args: str) -> subprocess.CompletedProcess[str]:
    """The `nox` CLI with the settings operators give it through the environment."""
    settings = archived.settings
    env = {
        **os.environ,
        "NOX_ENV": "test",
        "NOX_DATA_DIR": str(settings.data_dir),
        "NOX_DATABASE_URL": settings.database_url,
        "NOX_PITR_CONFIG_PATH": str(archived.config),
        "NOX_PITR_RUN_AS": settings.pitr_run_as,
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@contextmanager
def restored_cluster(
    archived: Archived, tmp_path: Path, *, cli: bool = False, **target: str
) -> Iterator[PostgresServer]:
    """Restore into a fresh data directory, start it on another port, wait for promotion;
    through `nox restore --to-time/--to-name` when ``cli``."""
    data = _owned_dir(_owned_dir(Path(tempfile.mkdtemp(prefix="nox-pitr-"))) / "data")
    data.chmod(0o700)
    if cli:
        flags = [f"--{name.replace('_', '-')}={value}" for name, value in target.items()]
        done = nox(archived, "restore", *flags, f"--pg-data={data}", "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "nox pitr reapply-revocations" in done.stdout
    else:
        pitr.restore(archived.settings, archived.config, data, **target)
    server = PostgresServer(port=free_port(), data_dir=data, bin_dir=archived.server.bin_dir)
    server.start()
    try:
        deadline = time.monotonic() + 60
        while server.psql("SELECT pg_is_in_recovery()") == "t":
            assert time.monotonic() < deadline, "recovery did not finish in 60 s"
            time.sleep(0.2)
        yield server
    finally:
        server.stop()
        shutil.rmtree(data.parent, ignore_errors=True)


def kill_hard(server: PostgresServer) -> None:
    """SIGKILL the postmaster and every backend, as a host losing power would."""
    pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    os.kill(pid, signal.SIGKILL)
    for each in map(int, children.split()):
        # a backend may have ended between pgrep and now (seen under parallel load)
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)
