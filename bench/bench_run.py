"""Cost of a sandboxed run: end to end through the api vs bare launches, same machine, same run.

Measures p50/p95 of
- a bare ``/usr/bin/python3 -c 'print(1)'`` subprocess,
- a bare bubblewrap launch of the same (the lab's command: namespaces, ro /usr, fresh /proc),
- the backend's own command (bwrap + prlimit + seccomp + workspace bind) via the runner, no HTTP,
  once with the run's cgroup (whole-run limits) and once with cgroups off, to price them,
- ``POST /api/v7/run/python`` with ``print(1)`` against ``nox serve`` on the bwrap backend
  (token auth, quotas, audit row, metrics included),
interleaved round by round, then runs/s with 4 concurrent clients, and prints the ratios.
Target: end-to-end p50 within 2x the bare bubblewrap launch.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.sandbox.bwrap import PYTHON, BwrapExecutor, bwrap_problem
from app.sandbox.interface import Language, RunRequest
from app.sandbox.limits import default_limits
from app.sandbox.local import sandbox_owner
from app.settings import CgroupMode, SandboxBackend, Settings
from tests.support.nox_process import nox_command, nox_serve

BARE_BWRAP = [
    "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin",
    "/bin", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--clearenv",  # noqa: S108
    "--cap-drop", "ALL", PYTHON, "-c", "print(1)",
]  # fmt: skip


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def interleaved(actions: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Time each action once per round, round after round: on a shared, busy machine the
    load then weighs on every variant alike instead of on whichever ran during a spike."""
    for action in actions.values():
        action()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            samples[name].append((time.perf_counter() - started) * 1000)
    return samples


def launch(argv: list[str]) -> Callable[[], object]:
    owner = sandbox_owner()  # as the server does: never bwrap as root

    def run() -> object:
        return subprocess.run(
            argv, capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"},
            user=owner[0] if owner else None, group=owner[1] if owner else None,
            extra_groups=[] if owner else None,
        )  # fmt: skip

    return run


def backend_only(data_dir: Path, cgroup: CgroupMode = CgroupMode.auto) -> Callable[[], object]:
    """One run through the bwrap backend's own command and runner, no HTTP."""
    settings = Settings(data_dir=data_dir, sandbox_backend=SandboxBackend.bwrap,
                        sandbox_cgroup=cgroup)  # fmt: skip
    executor = BwrapExecutor(settings)
    request = RunRequest(workspace="1", language=Language.python, source="print(1)",
                         limits=default_limits(settings.sandbox))  # fmt: skip
    loop = asyncio.new_event_loop()

    def run() -> object:
        result = loop.run_until_complete(executor.run(request))
        assert result.stdout == "1\n"
        return result

    return run


def line(name: str, samples: list[float]) -> str:
    p50, p95 = percentiles(samples)
    return f"{name:<40} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   (n={len(samples)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--concurrent-seconds", type=float, default=8.0)
    args = parser.parse_args()
    if bwrap_problem():
        raise SystemExit(f"bubblewrap cannot sandbox here: {bwrap_problem()}")
    with tempfile.TemporaryDirectory(prefix="nox-bench-") as tmp:
        os.chmod(tmp, 0o711)  # noqa: S103 - the sandbox uid binds its workspace below it
        data = Path(tmp)
        backend = backend_only(data / "backend")
        no_cgroup = backend_only(data / "no-cgroup", CgroupMode.off)
        env = {"NOX_DATA_DIR": str(data / "api"), "NOX_SANDBOX_BACKEND": "bwrap",
               "NOX_LOG_LEVEL": "WARNING", "NOX_QUOTAS__REQUESTS_PER_MINUTE": "100000000",
               "NOX_QUOTAS__DAILY_RUNS": "100000000"}  # fmt: skip
        nox_command("migrate", env=env)
        (data / "api").chmod(0o711)
        tokens = [nox_command("token", "create", "--email", f"bench{i}@example.test", env=env)
                  for i in range(4)]  # fmt: skip
        with nox_serve(env, data) as nox:
            url = f"{nox.url}/api/v7/run/python"

            def client_for(token: str) -> Callable[[], object]:
                client = httpx.Client(headers={"Authorization": f"Bearer {token}"})

                def post() -> object:
                    response = client.post(url, json={"code": "print(1)"})
                    assert response.status_code == 200 and response.json()["stdout"] == "1\n"
                    return response

                return post

            samples = interleaved(
                {
                    "python": launch([PYTHON, "-c", "print(1)"]),
                    "bwrap": launch(BARE_BWRAP),
                    "backend": backend,
                    "backend_no_cgroup": no_cgroup,
                    "e2e": client_for(tokens[0]),
                },
                args.runs,
            )
            posts = [client_for(token) for token in tokens]
            deadline = time.monotonic() + args.concurrent_seconds

            def hammer(post: Callable[[], object]) -> int:
                done = 0
                while time.monotonic() < deadline:
                    post()
                    done += 1
                return done

            started = time.monotonic()
            with ThreadPoolExecutor(4) as pool:
                total = sum(pool.map(hammer, posts))
            runs_per_s = total / (time.monotonic() - started)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"server uid {os.geteuid()}; {args.runs} interleaved rounds")  # fmt: skip
    print(line("bare python3 -c print(1)", samples["python"]))
    print(line("bare bwrap + python3", samples["bwrap"]))
    print(line("backend command, cgroups on", samples["backend"]))
    print(line("backend command, cgroups off", samples["backend_no_cgroup"]))
    print(line("POST /api/v7/run/python print(1)", samples["e2e"]))
    print(f"4 concurrent clients: {runs_per_s:.1f} runs/s over {args.concurrent_seconds:g} s")
    p50 = {name: percentiles(values)[0] for name, values in samples.items()}
    ratio = p50["e2e"] / p50["bwrap"]
    print(f"ratio bare bwrap / bare python p50: {p50['bwrap'] / p50['python']:.2f}x")
    print(f"ratio backend / bare bwrap p50:     {p50['backend'] / p50['bwrap']:.2f}x")
    print(f"ratio e2e / bare bwrap p50:         {ratio:.2f}x (target <= 1.5x) -> "
          f"{'MET' if ratio <= 1.5 else 'NOT MET'}")  # fmt: skip
    cost = p50["backend"] - p50["backend_no_cgroup"]
    print(f"cgroup setup per run (p50 on - off): {cost:+.2f} ms (target <= 3 ms) -> "
          f"{'MET' if cost <= 3 else 'NOT MET'}")  # fmt: skip


if __name__ == "__main__":
    main()
