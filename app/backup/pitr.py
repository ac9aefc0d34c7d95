"""Point-in-time recovery through pgBackRest: WAL archiving, full/diff/incr backups, restore.

Why pgBackRest rather than WAL-G: it is a Debian package (2.45, no binary to fetch), it runs
where PostgreSQL runs with a local repository volume (no object store needed), it encrypts
the repository itself (``repo1-cipher-type``), keeps retention, and ``pgbackrest verify``
checks every archived segment and names the bad ones. Nox only renders its configuration from
settings and drives its commands; everything that touches WAL is pgBackRest's.

The logical dump (``nox backup``) stays for moving data across PostgreSQL versions or hosts
of another architecture; PITR is for "restore to just before 14:02:37" and for losing at most
``pitr_archive_timeout_s`` of commits.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any, Literal

from app.settings import Settings

BackupKind = Literal["full", "diff", "incr"]
CONFIG_NAME = "pgbackrest.conf"


class PitrError(RuntimeError):
    pass


def render_config(settings: Settings) -> str:
    """pgbackrest.conf for ``settings``: one stanza, a local repository, retention, cipher."""
    repo = settings.pitr_repo_path
    lines = [
        "[global]",
        f"repo1-path={repo}",
        f"repo1-retention-full={settings.pitr_retention_full}",
        f"repo1-retention-diff={settings.pitr_retention_diff}",
        f"lock-path={repo}/lock",
        "log-level-console=warn",
        "log-level-file=off",
        "start-fast=y",
        "compress-type=lz4",
    ]
    cipher = settings.pitr_cipher_pass.get_secret_value()
    if cipher:
        lines += ["repo1-cipher-type=aes-256-cbc", f"repo1-cipher-pass={cipher}"]
    lines += [
        "",
        f"[{settings.pitr_stanza}]",
        f"pg1-path={settings.pitr_pg_data}",
        f"pg1-port={settings.pitr_pg_port}",
        f"pg1-socket-path={settings.pitr_pg_socket_path}",
    ]
    if settings.pitr_pg_user:
        lines.append(f"pg1-user={settings.pitr_pg_user}")
    return "\n".join(lines) + "\n"


def postgres_parameters(settings: Settings, config: Path) -> dict[str, str]:
    """The postgresql.conf lines that make PostgreSQL archive every WAL segment to the repo."""
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": (
            f"pgbackrest --config={config} --stanza={settings.pitr_stanza} archive-push %p"
        ),
        "archive_timeout": f"{settings.pitr_archive_timeout_s}s",
    }


def write_config(settings: Settings, target: Path) -> Path:
    """Write the config readable by its owner only: it holds the repository cipher pass."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_config(settings))
    target.chmod(0o600)
    if os.geteuid() == 0 and settings.pitr_run_as:
        shutil.chown(target, settings.pitr_run_as, settings.pitr_run_as)
    return target


def run(settings: Settings, config: Path, *args: str) -> str:
    """``pgbackrest --config --stanza ARGS`` as the data directory's owner; its stdout."""
    return _run(settings, config, *args).stdout


def _run(settings: Settings, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("pgbackrest")
    if binary is None:
        raise PitrError("pgbackrest not found: install the pgbackrest package")
    argv = [binary, f"--config={config}", f"--stanza={settings.pitr_stanza}", *args]
    if os.geteuid() == 0 and settings.pitr_run_as:
        argv = ["runuser", "-u", settings.pitr_run_as, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise PitrError(f"pgbackrest {args[0]} failed ({done.returncode}): {message}")
    return done


def backup(settings: Settings, config: Path, kind: BackupKind) -> None:
    run(settings, config, "backup", f"--type={kind}")


def info(settings: Settings, config: Path) -> dict[str, Any]:
    stanzas = json.loads(run(settings, config, "info", "--output=json"))
    found = [s for s in stanzas if s.get("name") == settings.pitr_stanza]
    if not found or found[0].get("status", {}).get("code") not in (0, 2):
        raise PitrError(f"stanza {settings.pitr_stanza!r} has no usable backup: {found}")
    return dict(found[0])


def verify(settings: Settings, config: Path) -> None:
    """Raise naming every archived WAL segment or backup file that fails its checksum."""
    # pgBackRest 2.45 exits 0 even when it finds bad files: the report's status decides
    # and its info log names each bad file
    done = _run(
        settings, config, "verify", "--output=text", "--verbose", "--log-level-console=info"
    )
    if "status: ok" not in done.stdout:
        found = "\n".join(line for line in done.stdout.splitlines() if line.strip())[-4000:]
        raise PitrError(f"pgbackrest verify found damage in the repository:\n{found}")


def system_identifier(pg_data: Path) -> int | None:
    """The cluster's system identifier: the first field of global/pg_control (a uint64 in
    the machine's byte order, see ControlFileData in PostgreSQL's pg_control.h)."""
    control = pg_data / "global" / "pg_control"
    if not control.is_file():
        return None
    return int(struct.unpack("=Q", control.read_bytes()[:8])[0])


def check_target(settings: Settings, config: Path, pg_data: Path) -> None:
    """Refuse, touching nothing, unless ``pg_data`` is empty or is the stanza's own cluster
    and is not running."""
    if (pg_data / "postmaster.pid").exists():
        raise PitrError(f"{pg_data}: PostgreSQL is running there; stop it first (nothing done)")
    if not pg_data.exists() or not any(pg_data.iterdir()):
        return
    found = system_identifier(pg_data)
    if found is None:
        raise PitrError(
            f"{pg_data} is not empty and is no PostgreSQL data directory (nothing done)"
        )
    expected = {db["system-id"] for db in info(settings, config)["db"]}
    if found not in expected:
        raise PitrError(
            f"{pg_data} belongs to cluster {found}, but stanza {settings.pitr_stanza!r} backs "
            f"up cluster {sorted(expected)}: wrong database, nothing done"
        )


def restore(
    settings: Settings,
    config: Path,
    pg_data: Path,
    *,
    to_time: str | None = None,
    to_name: str | None = None,
) -> None:
    """Restore into ``pg_data`` (to a time, a named restore point, or the end of the archive);
    PostgreSQL replays WAL and promotes at the target when next started."""
    if to_time and to_name:
        raise PitrError("give --to-time or --to-name, not both")
    check_target(settings, config, pg_data)
    args = ["restore", f"--pg1-path={pg_data}"]
    if pg_data.exists() and any(pg_data.iterdir()):
        args.append("--delta")  # check_target proved it is this stanza's own cluster
    if to_time:
        args += ["--type=time", f"--target={to_time}", "--target-action=promote"]
    elif to_name:
        args += ["--type=name", f"--target={to_name}", "--target-action=promote"]
    run(settings, config, *args)
