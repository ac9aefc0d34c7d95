"""``nox remote`` against a real ``nox serve``: every command, exit codes, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.client.cli import (
    EX_CONFIG,
    EX_DATAERR,
    EX_NOINPUT,
    EX_NOPERM,
    EX_UNAVAILABLE,
    EXIT_TIMEOUT,
)
from tests.support.nox_process import Served, embedded_env, served

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def nox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("cli")
    with served(embedded_env(), tmp_path) as running:
        yield running


def remote(
    nox: Served, *args: str, stdin: str = "", token: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NOX_")}
    clean |= {
        "NOX_URL": nox.url,
        "NOX_TOKEN": nox.alice if token is None else token,
        "XDG_CONFIG_HOME": "/nonexistent",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "remote", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean,
        timeout=60,
        check=False,
    )


def test_run_passes_output_arguments_and_the_exit_code(nox: Served, tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text(
        "import sys\nprint(sys.argv[1:], input())\nprint('e', file=sys.stderr)\nsys.exit(7)\n"
    )
    feed = tmp_path / "in.txt"
    feed.write_text("fed\n")
    for extra in ([], ["--no-stream"]):
        done = remote(nox, "run", *extra, "--stdin", str(feed), str(program), "a", "b")
        assert (done.returncode, done.stdout, done.stderr) == (7, "['a', 'b'] fed\n", "e\n")


def test_run_reads_standard_input_and_picks_the_language(nox: Served, tmp_path: Path) -> None:
    assert remote(nox, "run", "-", stdin="print(6 * 7)").stdout == "42\n"
    assert remote(nox, "run", "--shell", "-", stdin="echo $((6 * 7))").stdout == "42\n"
    script = tmp_path / "s.sh"
    script.write_text("echo from-sh; exit 3\n")
    done = remote(nox, "run", str(script))
    assert (done.returncode, done.stdout) == (3, "from-sh\n")


def test_a_timeout_exits_like_timeout_1(nox: Served) -> None:
    slow = remote(nox, "run", "--timeout", "1", "-", stdin="while True: pass")
    assert slow.returncode == EXIT_TIMEOUT
    assert "timeout" in slow.stderr


def test_detach_then_job_status_follow_and_cancel(nox: Served) -> None:
    job_id = remote(nox, "run", "--detach", "--shell", "-", stdin="echo later; exit 5").stdout
    job_id = job_id.strip()
    followed = remote(nox, "job", "follow", job_id)
    assert (followed.returncode, followed.stdout) == (5, "later\n")
    assert '"status": "finished"' in remote(nox, "job", "status", job_id).stdout
    assert remote(nox, "job", "cancel", job_id).returncode == 0  # ended: forgotten
    gone = remote(nox, "job", "status", job_id)
    assert gone.returncode == EX_NOINPUT and "404" in gone.stderr


def test_files_put_get_ls_rm(nox: Served, tmp_path: Path) -> None:
    local = tmp_path / "data.bin"
    local.write_bytes(b"\x00\x01payload")
    assert remote(nox, "files", "put", str(local), "dir/data.bin").stdout == "dir/data.bin\t9\n"
    assert "dir/data.bin\t9" in remote(nox, "files", "ls", "dir/").stdout
    copy = tmp_path / "copy.bin"
    assert remote(nox, "files", "get", "dir/data.bin", str(copy)).returncode == 0
    assert copy.read_bytes() == b"\x00\x01payload"
    assert remote(nox, "files", "rm", "dir/data.bin").returncode == 0
    missing = remote(nox, "files", "get", "dir/data.bin")
    assert (missing.returncode == EX_NOINPUT and "File not found" in missing.stderr) or (
        missing.returncode == EX_NOINPUT and "no such file" in missing.stderr
    )
    bad = remote(nox, "files", "put", str(local), "../escape")
    assert bad.returncode == EX_DATAERR and bad.stderr.startswith("nox: 422")


def test_tokens_create_list_revoke_and_whoami(nox: Served) -> None:
    assert remote(nox, "whoami").stdout.startswith("alice@example.test\t")
    made = remote(nox, "token", "create", "--name", "ci").stdout.strip()
    assert made.startswith("nox_")
    assert remote(nox, "whoami", token=made).returncode == 0
    listed = [line.split("\t") for line in remote(nox, "token", "list").stdout.splitlines()]
    token_id = next(row[0] for row in listed if row[1] == "ci")
    assert remote(nox, "token", "revoke", token_id).returncode == 0
    refused = remote(nox, "whoami", token=made)
    assert refused.returncode == EX_NOPERM
    assert refused.stderr.startswith("nox: 401 Unauthorized:")


def test_configuration_errors_are_clear(nox: Served, tmp_path: Path) -> None:
    no_token = remote(nox, "whoami", token="")
    assert no_token.returncode == EX_CONFIG and "NOX_TOKEN" in no_token.stderr
    unreachable = remote(nox, "whoami", NOX_URL="http://127.0.0.1:9")
    assert unreachable.returncode == EX_UNAVAILABLE and "cannot reach" in unreachable.stderr
    config = tmp_path / "client.toml"
    config.write_text(f'url = "{nox.url}"\ntoken = "{nox.alice}"\n')
    config.chmod(0o644)
    loose = remote(nox, "--config", str(config), "whoami", token="", NOX_URL="")
    assert loose.returncode == EX_CONFIG and "chmod 600" in loose.stderr
    config.chmod(0o600)
    ok = remote(nox, "--config", str(config), "whoami", token="", NOX_URL="")
    assert ok.returncode == 0 and ok.stdout.startswith("alice@example.test")
