"""Escape suite, disk: a run cannot fill the shared volume past its owner's workspace quota
while it runs, and the quota's accounting stays exact without walking the workspace per run."""

from __future__ import annotations

import pytest

from app.sandbox.disk import WorkspaceIndex
from tests.conftest import app_state
from tests.e2e.sandbox_rig import Rig, rig_fixture, user_id  # noqa: F401

pytestmark = pytest.mark.e2e

MB = 1 << 20
# Plain bytes, not os.urandom: the rig's 1 s of CPU must go to writing, not to random data.
FILL = """
block = b"x" * (1 << 20)
for i in range(40):
    with open(f"fill-{i}.bin", "wb") as out:
        for _ in range(16):
            out.write(block)
print("wrote everything")
"""


async def test_a_run_filling_its_workspace_is_stopped_within_one_file_of_the_quota(
    rig: Rig,
) -> None:
    quota = rig.settings.quotas.workspace_bytes
    body = await rig.python(rig.alice, FILL, timeout_s=5)
    assert body["status"] == "disk_limit", body
    assert "wrote everything" not in body["stdout"]
    written = rig.workspace(await user_id(rig, rig.alice))
    on_disk = sum(p.stat().st_size for p in written.rglob("*") if p.is_file())
    # What the run made last went: within the quota, and filled to within one file of it.
    assert quota - rig.settings.sandbox.file_size_bytes < on_disk <= quota, on_disk - quota
    assert (await rig.python(rig.alice, "print(1)"))["status"] == "ok"
    await clean_by_api(rig, rig.alice)


async def clean_by_api(rig: Rig, token: str) -> None:
    listing = (await rig.client.get("/api/v7/files", headers=rig.auth(token))).json()["files"]
    for item in listing:
        await rig.client.delete(f"/api/v7/files/{item['path']}", headers=rig.auth(token))


async def test_accounted_usage_equals_a_fresh_walk_after_uploads_deletes_and_runs(
    rig: Rig,
) -> None:
    auth = rig.auth(rig.bob)
    for name, size in (("a.txt", 1000), ("b/c.txt", 2500), ("b/d.txt", 10)):
        put = await rig.client.put(f"/api/v7/files/{name}", content=b"x" * size, headers=auth)
        assert put.status_code == 201
    assert (await rig.client.delete("/api/v7/files/b/d.txt", headers=auth)).status_code == 204
    script = (
        "head -c 4096 /dev/zero > new.bin; mkdir -p m/n; echo hi > m/n/x; rm a.txt;"
        " mv b moved; truncate -s 777 moved/c.txt; ln m/n/x m/hard"
    )
    assert (await rig.shell(rig.bob, script))["status"] == "ok"
    accounted = await app_state(rig.client).executor.usage(str(await user_id(rig, rig.bob)))
    walked = WorkspaceIndex.build(rig.workspace(await user_id(rig, rig.bob))).usage()
    assert accounted == walked
    # new.bin, m/n/x, m/hard, moved/c.txt and the folders m, m/n, moved
    assert (accounted.bytes, accounted.files) == (4096 + 3 + 777 + 3, 7)
