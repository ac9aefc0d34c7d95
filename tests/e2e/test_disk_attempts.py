"""Disk during the run, on the real bubblewrap backend, every way of writing we know of: whatever
a run does, its workspace ends within the quota (bytes and entries), and the executor's
accounted usage is exactly what a full walk finds afterwards."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.sandbox.bwrap import BwrapExecutor
from app.sandbox.disk import WorkspaceIndex
from app.sandbox.interface import (
    Language,
    RunRequest,
    RunStatus,
    WorkspaceQuota,
    WorkspaceUsage,
)
from app.sandbox.limits import default_limits
from app.settings import QuotaLimits, SandboxBackend
from tests.conftest import make_settings
from tests.e2e.sandbox_rig import CPU_BOUND, SUITE_LIMITS, require_bwrap, traversable_dir

pytestmark = [pytest.mark.e2e, CPU_BOUND]

MIB = 1024 * 1024
FILE_LIMIT = SUITE_LIMITS.file_size_bytes  # 16 MiB
QUOTA = QuotaLimits().workspace_bytes  # 256 MiB, the shipped default
FILES = QuotaLimits().workspace_files


def walked(path: Path) -> WorkspaceUsage:
    """What is on disk, by a full walk: regular files' bytes, and every entry."""
    return WorkspaceIndex.build(path).usage()


# Each writes far past 256 MiB or 10,000 entries in a different way; RLIMIT_FSIZE caps any
# one file at 16 MiB, so only the number of files (or entries) can grow without bound.
ATTEMPTS = {
    "many_small_files": (
        "for i in range(30_000):\n    open(f'f{i}', 'w').close()\n",
        "files",
    ),
    "empty_directories": (
        "import os\nfor i in range(30_000):\n    os.mkdir(f'd{i}')\n",
        "files",
    ),
    "nested_directories": (
        "import os\n"
        "for i in range(400):\n"
        "    os.makedirs(f'n{i}/a/b', exist_ok=True)\n"
        "    with open(f'n{i}/a/b/x', 'wb') as out:\n"
        "        out.write(b'x' * 4_000_000)\n",
        "bytes",
    ),
    "sparse_ftruncate": (
        "import os\n"
        "for i in range(400):\n"
        "    fd = os.open(f's{i}', os.O_CREAT | os.O_WRONLY)\n"
        "    os.ftruncate(fd, 16 * 1024 * 1024)\n"
        "    os.close(fd)\n",
        "bytes",
    ),
    "mmap_writes": (
        "import mmap, os\n"
        "for i in range(400):\n"
        "    fd = os.open(f'm{i}', os.O_CREAT | os.O_RDWR)\n"
        "    os.ftruncate(fd, 8 * 1024 * 1024)\n"
        "    with mmap.mmap(fd, 8 * 1024 * 1024) as m:\n"
        "        m[:] = b'y' * (8 * 1024 * 1024)\n"
        "    os.close(fd)\n",
        "bytes",
    ),
    "fallocate": (
        "import os\n"
        "for i in range(400):\n"
        "    fd = os.open(f'a{i}', os.O_CREAT | os.O_WRONLY)\n"
        "    os.posix_fallocate(fd, 0, 16 * 1024 * 1024)\n"
        "    os.close(fd)\n",
        "bytes",
    ),
    "hard_links": (
        "import os\n"
        "with open('base', 'wb') as out:\n"
        "    out.write(b'h' * 16_000_000)\n"
        "for i in range(400):\n"
        "    os.link('base', f'l{i}')\n",
        "bytes",
    ),
    "renames_into_subdirs": (
        "import os\n"
        "block = b'r' * 16_000_000\n"
        "for i in range(400):\n"
        "    with open('tmp', 'wb') as out:\n"
        "        out.write(block)\n"
        "    os.makedirs(f'r{i}', exist_ok=True)\n"
        "    os.rename('tmp', f'r{i}/kept')\n",
        "bytes",
    ),
    "write_then_delete_then_refill": (
        "import os\n"
        "block = b'w' * 16_000_000\n"
        "for i in range(400):\n"
        "    with open(f'w{i}', 'wb') as out:\n"
        "        out.write(block)\n"
        "    if i % 2:\n"
        "        os.unlink(f'w{i - 1}')\n",
        "bytes",
    ),
}


@pytest.fixture(scope="module")
async def executor(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BwrapExecutor]:
    require_bwrap()
    workspaces = traversable_dir("nox-disk-ws-")
    settings = make_settings(
        tmp_path_factory.mktemp("disk"),
        sandbox_backend=SandboxBackend.bwrap,
        workspaces_dir=workspaces,
        sandbox=SUITE_LIMITS.model_copy(update={"wall_s": 20.0, "cpu_s": 10.0}),
    )
    executor = BwrapExecutor(settings)
    try:
        yield executor
    finally:
        await executor.aclose()
        shutil.rmtree(workspaces, ignore_errors=True)


def request(workspace: str, code: str, quota: WorkspaceQuota | None) -> RunRequest:
    ceiling = default_limits(SUITE_LIMITS.model_copy(update={"wall_s": 20.0, "cpu_s": 10.0}))
    return RunRequest(
        workspace=workspace,
        language=Language.python,
        source=code,
        limits=ceiling,
        workspace_quota=quota,
    )


@pytest.mark.parametrize("attempt", sorted(ATTEMPTS))
async def test_no_way_of_writing_passes_the_quota_by_more_than_one_file(
    executor: BwrapExecutor, attempt: str
) -> None:
    code, what = ATTEMPTS[attempt]
    workspace = str(1000 + sorted(ATTEMPTS).index(attempt))
    quota = WorkspaceQuota(bytes=QUOTA, files=FILES)
    result = await executor.run(request(workspace, code, quota))
    assert result.status is RunStatus.disk_limit, (result.status, result.stderr[-500:])
    on_disk = walked(executor.workspaces.root / workspace)
    # What the run made last is removed until the workspace is within its quota again.
    assert on_disk.bytes <= QUOTA, on_disk.bytes - QUOTA
    assert on_disk.files <= FILES, on_disk.files - FILES
    # ... and not more than that: it was filled to within one file of the quota.
    if what == "bytes":
        assert on_disk.bytes > QUOTA - FILE_LIMIT
    else:
        assert on_disk.files == FILES
    # The index the next quota check uses is what is on disk, to the byte and the entry.
    assert await executor.usage(workspace) == on_disk


async def test_usage_is_exact_after_uploads_deletes_and_runs(executor: BwrapExecutor) -> None:
    workspace = "77"
    root = executor.workspaces.root / workspace
    assert (await executor.usage(workspace)).bytes == 0  # the one walk: an empty workspace
    await executor.write_file(workspace, "a.txt", b"a" * 1000)
    await executor.write_file(workspace, "deep/er/b.txt", b"b" * 2000)
    await executor.write_file(workspace, "a.txt", b"a" * 10)  # replaced: 10 bytes now
    assert await executor.usage(workspace) == walked(root)
    assert (await executor.usage(workspace)).bytes == 2010
    await executor.delete_file(workspace, "deep/er/b.txt")
    assert await executor.usage(workspace) == walked(root)
    code = (
        "import os, shutil\n"
        "os.makedirs('x/y', exist_ok=True)\n"
        "for i in range(50):\n"
        "    open(f'x/y/{i}', 'wb').write(b'z' * i)\n"
        "os.rename('x', 'moved')\n"
        "for i in range(0, 50, 2):\n"
        "    os.unlink(f'moved/y/{i}')\n"
        "open('grow', 'wb').write(b'g' * 5000)\n"
        "os.truncate('grow', 100)\n"
        "os.makedirs('gone/sub')\n"
        "open('gone/sub/f', 'wb').write(b'f' * 300)\n"
        "shutil.rmtree('gone')\n"
        "os.symlink('/etc/passwd', 'link')\n"
    )
    result = await executor.run(request(workspace, code, WorkspaceQuota(bytes=QUOTA, files=FILES)))
    assert result.status is RunStatus.ok, result.stderr
    usage = await executor.usage(workspace)
    assert usage == walked(root)
    assert usage.bytes == 10 + sum(range(1, 50, 2)) + 100
    # A run that only reads keeps the tally as it is, without a walk.
    again = await executor.run(request(workspace, "print(len(open('grow').read()))", None))
    assert again.stdout == "100\n"
    assert await executor.usage(workspace) == usage


async def test_concurrent_runs_in_one_workspace_share_the_quota(executor: BwrapExecutor) -> None:
    """Two runs of one user filling the same workspace at once: one watch counts both."""
    import asyncio

    workspace = "78"
    code = (
        "import os\n"
        "block = b'c' * 8_000_000\n"
        "for i in range(40):\n"
        "    with open(f'c{os.getpid()}_{i}', 'wb') as out:\n"
        "        out.write(block)\n"
    )
    quota = WorkspaceQuota(bytes=100 * MIB, files=FILES)
    results = await asyncio.gather(
        executor.run(request(workspace, code, quota)),
        executor.run(request(workspace, code, quota)),
    )
    assert {r.status for r in results} == {RunStatus.disk_limit}, [r.stderr for r in results]
    on_disk = walked(executor.workspaces.root / workspace)
    assert on_disk.bytes <= 100 * MIB
    assert await executor.usage(workspace) == on_disk
