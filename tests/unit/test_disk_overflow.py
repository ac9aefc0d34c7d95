"""When the kernel's inotify queue overflows, events are lost: the watch must still bound
what the run leaves (read back from the disk), not trust a tally that missed entries."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from app.sandbox.disk import DiskWatch, WorkspaceIndex

QUEUE = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())


def test_a_queue_overflow_is_recounted_and_trimmed_newest_first(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "kept.txt").write_bytes(b"k" * 10)  # there before the run: never trimmed
    index = WorkspaceIndex.build(root)
    watch = DiskWatch(index, max_bytes=1 << 30, max_files=100)
    # Not started: nobody reads the queue, so past QUEUE events the kernel drops them.
    for i in range(QUEUE + 2000):
        os.mkdir(root / f"d{i}")

    def remove(relative: str) -> None:
        target = root / relative
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()

    watch.stop(remove)
    left = WorkspaceIndex.build(root).usage()
    assert watch.exceeded
    assert left.files <= 100, left.files
    assert (root / "kept.txt").exists()
    assert (root / "d0").exists() and not (root / f"d{QUEUE + 1999}").exists()  # newest went
    assert index.usage() == left  # the index the next run checks against is exact
