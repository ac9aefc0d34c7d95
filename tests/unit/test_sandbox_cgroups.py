"""cgroup v2, written by the kernel's delegation rules and checked against a fake cgroupfs
(a plain directory with the files the kernel would show: this machine has only cgroup v1,
which the e2e tier exercises for real), plus detection and its refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.sandbox.cgroups import Cgroups, CgroupUnavailable, RunGroup, detect
from app.sandbox.interface import RunLimits

LIMITS = RunLimits(cpu_s=2, wall_s=5, memory_bytes=128 << 20, processes=32,
                   file_size_bytes=1 << 20, open_files=64, output_bytes=1 << 16)  # fmt: skip


def fake_v2(tmp_path: Path, controllers: str = "cpuset cpu io memory pids") -> Path:
    """A delegated v2 subtree as a container would get it, with this process inside it."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.procs").write_text(f"{os.getpid()}\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


def v2(tmp_path: Path) -> Cgroups:
    cgroups = detect(fake_v2(tmp_path), "nox", "v2")
    assert cgroups.version == 2
    return cgroups


def test_v2_moves_the_executor_to_a_leaf_and_delegates_controllers(tmp_path: Path) -> None:
    cgroups = v2(tmp_path)
    for directory in (
        cgroups.bases["unified"] / "nox",
        cgroups.bases["unified"] / "nox" / cgroups.instance,
    ):
        directory.mkdir(parents=True)
        (directory / "cgroup.subtree_control").write_text("")
    cgroups.prepare()
    base = cgroups.bases["unified"]
    # No internal processes: the executor left the group that now enables controllers.
    assert (base / "nox-executor" / "cgroup.procs").read_text() == str(os.getpid())
    for directory in (base, base / "nox", base / "nox" / cgroups.instance):
        assert (directory / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"


def test_v2_run_group_gets_memory_swap_and_pids_limits(tmp_path: Path) -> None:
    cgroups = v2(tmp_path)
    (cgroups.bases["unified"] / "nox" / cgroups.instance).mkdir(parents=True)
    group = cgroups.create(LIMITS)
    run = group.dirs["unified"]
    assert run.parent.name == cgroups.instance and run.name == "run-0"
    assert (run / "memory.max").read_text() == str(128 << 20)
    assert (run / "memory.swap.max").read_text() == "0"
    assert (run / "pids.max").read_text() == "32"
    assert group.procs_files == [run / "cgroup.procs"]


def test_v2_usage_comes_from_the_kernel_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "memory.peak").write_text("104857600\n")
    (run / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
    (run / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1400000\nsystem_usec 100000\n")
    usage = RunGroup({"unified": run}, 2).usage()
    assert (usage.memory_peak_bytes, usage.cpu_ns, usage.oom_kills) == (104857600, 1_500_000_000, 2)


def test_v2_kill_uses_cgroup_kill(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    RunGroup({"unified": run}, 2).kill()
    assert (run / "cgroup.kill").read_text() == "1"


def test_v2_without_the_needed_controllers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CgroupUnavailable, match="memory, pids, cpu"):
        detect(fake_v2(tmp_path, controllers="cpuset io"), "nox", "v2")


def test_v1_without_writable_hierarchies_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    with pytest.raises(CgroupUnavailable, match="no writable pids, cpuacct hierarchy"):
        detect(tmp_path, "nox", "v1")


def test_v1_usage_reads_peak_oom_kills_and_cpu(tmp_path: Path) -> None:
    memory, cpuacct, pids = (tmp_path / n for n in ("memory", "cpuacct", "pids"))
    for directory in (memory, cpuacct, pids):
        directory.mkdir()
    (memory / "memory.max_usage_in_bytes").write_text("268435456\n")
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n")
    (cpuacct / "cpuacct.usage").write_text("987654321\n")
    usage = RunGroup({"memory": memory, "cpuacct": cpuacct, "pids": pids}, 1).usage()
    assert (usage.memory_peak_bytes, usage.cpu_ns, usage.oom_kills) == (268435456, 987654321, 5)
