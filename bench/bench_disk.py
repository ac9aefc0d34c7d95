"""Disk during a run: how far past its quota a workspace-filling run gets, and what the watch
costs, on the bwrap backend (no HTTP), side by side in one run.

- overshoot: 40 files x 16 MiB of random bytes into a 256 MiB workspace (the issue measured
  611 MB written, 355 MiB over, before this watch), repeated; the most the workspace held over
  its quota while the run went (the watch's peak) and what it holds after the run (a stopped
  run loses what it made last until within its quota); the same for 400 files grown to
  16 MiB each by ftruncate, which outrun the watch;
- cost: ``print(1)`` p50 with the watch (a quota in the request) vs without, interleaved.
Target: overshoot <= one file-size limit (16 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.sandbox.bwrap import BwrapExecutor, bwrap_problem
from app.sandbox.disk import DiskWatch
from app.sandbox.interface import Language, RunRequest, WorkspaceQuota
from app.sandbox.limits import default_limits
from app.settings import SandboxBackend, Settings

FILL = """
import os
for i in range(40):
    with open(f"fill-{i}.bin", "wb") as out:
        for _ in range(16):
            out.write(os.urandom(1 << 20))
"""
SPARSE = """
import os
for i in range(400):
    fd = os.open(f"s{i}", os.O_CREAT | os.O_WRONLY)
    os.ftruncate(fd, 16 << 20)
    os.close(fd)
"""
MIB = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fills", type=int, default=5)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    if bwrap_problem():
        raise SystemExit(f"bubblewrap cannot sandbox here: {bwrap_problem()}")
    with tempfile.TemporaryDirectory(prefix="nox-bench-disk-") as tmp:
        os.chmod(tmp, 0o711)  # noqa: S103 - the sandbox uid binds its workspace below it
        settings = Settings(data_dir=Path(tmp), sandbox_backend=SandboxBackend.bwrap)
        executor = BwrapExecutor(settings)
        limits = default_limits(settings.sandbox).model_copy(update={"wall_s": 20.0})
        quota = WorkspaceQuota(bytes=256 * MIB, files=10_000)
        loop = asyncio.new_event_loop()
        watches: list[DiskWatch] = []
        make_watch = executor._disk_watch

        async def kept_watch(request: RunRequest, workspace: Path) -> DiskWatch | None:
            watch = await make_watch(request, workspace)
            if watch is not None:
                watches.append(watch)
            return watch

        executor._disk_watch = kept_watch  # type: ignore[method-assign]
        overshoots, peaks, statuses = [], [], []
        for n in range(args.fills + 1):
            source = FILL if n < args.fills else SPARSE
            request = RunRequest(workspace=str(100 + n), language=Language.python, source=source,
                                 limits=limits, workspace_quota=quota)  # fmt: skip
            result = loop.run_until_complete(executor.run(request))
            root = settings.effective_workspaces_dir / str(100 + n)
            held = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
            overshoots.append(held - quota.bytes)
            peaks.append(watches[-1].peak_bytes - quota.bytes)
            statuses.append(result.status.value)
            shutil.rmtree(root)
        sparse_after, sparse_peak = overshoots.pop(), peaks.pop()
        timings: dict[str, list[float]] = {"watched": [], "unwatched": []}
        for _ in range(args.runs):
            for name, watched in (("watched", quota), ("unwatched", None)):
                request = RunRequest(workspace="7", language=Language.python, source="print(1)",
                                     limits=limits, workspace_quota=watched)  # fmt: skip
                started = time.perf_counter()
                loop.run_until_complete(executor.run(request))
                timings[name].append((time.perf_counter() - started) * 1000)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"fill runs: {statuses}")
    worst = max(overshoots)
    print(
        f"fill: over a 256 MiB quota after the run: max {worst / MIB:+.1f} MiB, "
        f"median {statistics.median(overshoots) / MIB:+.1f} MiB over {len(overshoots)} runs "
        f"(target <= 16 MiB; before: ~355 MiB) -> {'MET' if worst <= 16 * MIB else 'NOT MET'}"
    )
    print(
        f"fill: most held over the quota while running: max {max(peaks) / MIB:+.1f} MiB, "
        f"median {statistics.median(peaks) / MIB:+.1f} MiB"
    )
    print(
        f"400 x ftruncate 16 MiB ({statuses[-1]}): {sparse_peak / MIB:+.1f} MiB over while "
        f"running, {sparse_after / MIB:+.1f} MiB after the run"
    )
    on, off = (statistics.median(timings[k]) for k in ("watched", "unwatched"))
    print(
        f"print(1) backend p50 with the watch {on:.2f} ms, without {off:.2f} ms: "
        f"{on - off:+.2f} ms per run"
    )


if __name__ == "__main__":
    main()
