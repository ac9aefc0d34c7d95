"""Escape suite, files and secrets: nothing outside /workspace is reachable, through a run or
through the file endpoints (planted symlinks included)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.sandbox_rig import Rig, rig_fixture, traversable_dir, user_id  # noqa: F401

pytestmark = pytest.mark.e2e

SENTINEL = "NOX_SBX_SENTINEL"

PROBE = """
import json, os, sys
result = {}
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        result[path] = "READ"
    except OSError as exc:
        result[path] = type(exc).__name__
print(json.dumps(result))
"""


@pytest.fixture
def host_secret() -> Iterator[Path]:
    directory = traversable_dir("nox-sbx-host-")
    secret = directory / "host-secret.txt"
    secret.write_text("host secret")
    secret.chmod(0o644)
    yield secret
    secret.unlink(missing_ok=True)
    directory.rmdir()


@pytest.fixture
def server_secret_env() -> Iterator[str]:
    os.environ[SENTINEL] = "s3cr3t-in-the-server-environment"
    yield os.environ[SENTINEL]
    del os.environ[SENTINEL]


async def test_server_environment_is_not_visible(rig: Rig, server_secret_env: str) -> None:
    body = await rig.shell(rig.alice, "env; cat /proc/1/environ; cat /proc/*/environ; true")
    assert server_secret_env not in body["stdout"]
    assert "NOX_" not in body["stdout"] and "PYENV" not in body["stdout"]
    names = await rig.python(rig.alice, "import json, os; print(json.dumps(sorted(os.environ)))")
    allowed = {"PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH", "PYTHONUNBUFFERED", "PWD"}
    assert set(json.loads(names["stdout"])) <= allowed


async def test_data_dir_database_and_host_files_do_not_exist_inside(
    rig: Rig, host_secret: Path
) -> None:
    bob = await user_id(rig, rig.bob)
    await rig.python(rig.bob, "open('bob.txt', 'w').write('bob only')")
    data_dir = rig.settings.data_dir.resolve()
    targets = [
        str(data_dir),
        str(data_dir / "nox.db"),
        str(host_secret),
        str(rig.workspace(bob)),
        str(rig.workspace(bob) / "bob.txt"),
        str(rig.settings.effective_workspaces_dir),
        "/etc/shadow",
        "/etc/passwd",
        "/root",
        "/home",
        "/workspace/../workspaces",
    ]
    body = await rig.python(rig.alice, PROBE, args=targets)
    outcome = json.loads(body["stdout"])
    assert "READ" not in outcome.values(), outcome


async def test_nothing_outside_workspace_and_tmp_is_writable(rig: Rig) -> None:
    code = (
        "import os\n"
        "for d in ['/', '/usr', '/usr/bin', '/etc', '/dev', '/proc', '/sandbox', '/bin']:\n"
        "    try:\n"
        "        open(os.path.join(d, 'nox-escape'), 'w').write('x'); print('WROTE', d)\n"
        "    except OSError: pass\n"
        "open('/workspace/ok', 'w').write('x'); open('/tmp/ok', 'w').write('x'); print('done')\n"
    )
    body = await rig.python(rig.alice, code)
    assert body["stdout"] == "done\n", body


async def test_planted_symlinks_are_never_followed_by_file_endpoints(
    rig: Rig, host_secret: Path
) -> None:
    plant = f"ln -s {host_secret} host; ln -s / root; ln -s .. up; ln -s {host_secret} gone"
    assert (await rig.shell(rig.alice, plant))["status"] == "ok"
    auth = rig.auth(rig.alice)
    for name in ("host", "root/etc/passwd", "up/x", "root"):
        response = await rig.client.get(f"/api/v7/files/{name}", headers=auth)
        assert response.status_code in {404, 422}, (name, response.status_code)
        assert b"host secret" not in response.content and b"root:" not in response.content
    for name in ("root/etc/nox-escape", "up/nox-escape"):
        response = await rig.client.put(f"/api/v7/files/{name}", content=b"x", headers=auth)
        assert response.status_code in {404, 422}, (name, response.status_code)
    overwrite = await rig.client.put("/api/v7/files/host", content=b"replaced", headers=auth)
    assert overwrite.status_code == 201
    assert host_secret.read_text() == "host secret"
    assert (await rig.client.get("/api/v7/files/host", headers=auth)).content == b"replaced"
    delete = await rig.client.delete("/api/v7/files/gone", headers=auth)
    assert delete.status_code == 204
    assert host_secret.read_text() == "host secret"
    assert not Path("/etc/nox-escape").exists()


@pytest.mark.parametrize(
    "raw_path",
    [
        "/api/v7/files/%2e%2e/%2e%2e/etc/passwd",
        "/api/v7/files/..%2f..%2fetc%2fpasswd",
        "/api/v7/files//etc/passwd",
        "/api/v7/files/a%00b",
        "/api/v7/files/" + "x" * 300,
        "/api/v7/files/ok/" + "/".join(["d"] * 600),
    ],
)
async def test_traversal_names_are_refused(rig: Rig, raw_path: str) -> None:
    auth = rig.auth(rig.alice)
    read = await rig.client.get(raw_path, headers=auth)
    write = await rig.client.put(raw_path, content=b"x", headers=auth)
    assert read.status_code in {404, 422} and write.status_code in {404, 422}
    assert read.headers["content-type"] == "application/problem+json"
    assert b"root:" not in read.content


async def test_files_round_trip_and_legacy_routes_share_the_workspace(rig: Rig) -> None:
    auth = rig.auth(rig.alice)
    put = await rig.client.put("/api/v7/files/data/in.txt", content=b"41", headers=auth)
    assert put.status_code == 201 and put.json()["size"] == 2
    run = await rig.python(rig.alice, "print(int(open('data/in.txt').read()) + 1)")
    assert run["stdout"] == "42\n"
    legacy = await rig.client.get("/cat", params={"path": "data/in.txt"}, headers=auth)
    assert legacy.json() == {"content": "41"}
    upload = await rig.client.post(
        "/put", params={"path": "up.txt"}, files={"f": ("up.txt", b"hi")}, headers=auth
    )
    assert upload.status_code == 200
    run_sh = await rig.client.post("/run_sh", json={"cmd": "cat up.txt"}, headers=auth)
    assert run_sh.json() == {"returncode": 0, "stdout": "hi", "stderr": ""}
    listing = await rig.client.get("/api/v7/files", params={"prefix": "data/"}, headers=auth)
    assert [f["path"] for f in listing.json()["files"]] == ["data/in.txt"]
    gone = await rig.client.delete("/api/v7/files/data/in.txt", headers=auth)
    assert gone.status_code == 204
    missing = await rig.client.get("/api/v7/files/data/in.txt", headers=auth)
    assert missing.status_code == 404


async def test_oversized_code_and_upload_are_refused_with_413(rig: Rig) -> None:
    auth = rig.auth(rig.alice)
    code = "#" * (rig.settings.sandbox.code_bytes + 1)
    run = await rig.client.post("/api/v7/run/python", json={"code": code}, headers=auth)
    assert run.status_code == 413
    big = b"x" * (rig.settings.sandbox.upload_bytes + 1)
    upload = await rig.client.put("/api/v7/files/big", content=big, headers=auth)
    assert upload.status_code == 413
