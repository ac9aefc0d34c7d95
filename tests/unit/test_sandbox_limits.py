"""Run limits: the shipped defaults, and a request that can only lower them."""

from __future__ import annotations

from pathlib import Path

from app.sandbox.bwrap import PYTHON, bwrap_argv
from app.sandbox.interface import Language, RunLimits, RunRequest
from app.sandbox.limits import clamp, default_limits, lowered
from app.sandbox.runner import prlimit_argv
from app.settings import SandboxLimits

MIB = 1024 * 1024


def test_defaults_are_the_documented_ones() -> None:
    limits = default_limits(SandboxLimits())
    assert limits.model_dump() == {
        "cpu_s": 5.0,
        "wall_s": 10.0,
        "memory_bytes": 256 * MIB,
        "processes": 64,
        "file_size_bytes": 16 * MIB,
        "open_files": 256,
        "output_bytes": 1 * MIB,
        "network": False,
    }
    assert SandboxLimits().wall_max_s == 30.0


def test_configured_wall_never_exceeds_its_maximum() -> None:
    assert default_limits(SandboxLimits(wall_s=120, wall_max_s=30)).wall_s == 30


def test_a_request_timeout_only_lowers_the_wall_clock() -> None:
    ceiling = default_limits(SandboxLimits())
    assert lowered(ceiling, timeout_s=2).wall_s == 2
    assert lowered(ceiling, timeout_s=600).wall_s == ceiling.wall_s
    assert lowered(ceiling, timeout_s=None) == ceiling


def test_clamp_caps_every_field_and_network_needs_both() -> None:
    ceiling = default_limits(SandboxLimits())
    greedy = RunLimits(cpu_s=99, wall_s=99, memory_bytes=1 << 40, processes=10_000,
                       file_size_bytes=1 << 40, open_files=1 << 20, output_bytes=1 << 40,
                       network=True)  # fmt: skip
    assert clamp(greedy, ceiling) == ceiling
    modest = ceiling.model_copy(update={"cpu_s": 1.0, "processes": 4})
    assert clamp(modest, ceiling) == modest


def test_prlimit_applies_every_rlimit() -> None:
    argv = prlimit_argv(default_limits(SandboxLimits()))
    assert argv[0] == "/usr/bin/prlimit" and argv[-1] == "--"
    assert {"--cpu=5:5", f"--as={256 * MIB}", "--nproc=64", f"--fsize={16 * MIB}",
            "--nofile=256", "--core=0"} <= set(argv)  # fmt: skip


def _request(network: bool = False) -> RunRequest:
    limits = default_limits(SandboxLimits(network=network))
    return RunRequest(workspace="1", language=Language.python, source="", limits=limits)


def test_bwrap_command_isolates_everything_by_default() -> None:
    argv = bwrap_argv(_request(), Path("/srv/ws/1"), 5)
    joined = " ".join(argv)
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
                 "--new-session", "--clearenv", "--cap-drop ALL", "--as-pid-1"):  # fmt: skip
        assert flag in joined
    assert "--share-net" not in argv
    assert "--ro-bind /usr /usr" in joined
    assert "--bind /srv/ws/1 /workspace" in joined
    assert "--remount-ro /" in joined
    assert "/etc/resolv.conf" not in joined
    program = argv[argv.index("--", argv.index("--cap-drop")) + 1 :]
    assert program[0] == "/usr/bin/prlimit"
    assert program[program.index("--") + 1] == PYTHON == "/usr/bin/python3"


def test_bwrap_shares_the_network_only_when_allowed() -> None:
    argv = bwrap_argv(_request(network=True), Path("/srv/ws/1"), 5)
    assert "--share-net" in argv
