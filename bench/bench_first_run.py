"""Time from a fresh clone to the first `GET /healthz` 200, with the README's first command
before (`uv run nox serve`: every dependency group) and after (`uv run --no-dev nox serve`:
what serving needs). Each try gets a new clone, a new virtualenv and an EMPTY uv cache, so
every package is downloaded and installed as on a new machine (PyPI must be reachable).
Prints seconds to the first 200 and the number of packages each command installed.
Run under `flock /tmp/nox-bench.lock`; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.net import free_port

REPO = Path(__file__).resolve().parent.parent
COMMANDS = {
    "before: uv run nox serve": ["uv", "run", "nox", "serve"],
    "after:  uv run --no-dev nox serve": ["uv", "run", "--no-dev", "nox", "serve"],
}


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return int(r.status) == 200
    except OSError:
        return False


def first_run(command: list[str], work: Path) -> tuple[float, int]:
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", "--no-local", str(REPO), str(clone)], check=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_", "NOX_"))}
    env |= {"UV_CACHE_DIR": str(work / "uv-cache"), "NOX_PORT": str(port)}
    env |= {"NOX_DATA_DIR": str(work / "data")}
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=clone, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while not healthy(port):
            if process.poll() is not None:
                raise SystemExit(f"{' '.join(command)} exited with {process.returncode}")
            if time.monotonic() - started > 600:
                raise SystemExit(f"{' '.join(command)}: no /healthz 200 within 600 s")
            time.sleep(0.2)
        took = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    site = next((clone / ".venv" / "lib").glob("python*/site-packages"))
    return took, len(list(site.glob("*.dist-info")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    if shutil.which("uv") is None:
        raise SystemExit("uv not found: pip install uv")
    for name, command in COMMANDS.items():
        with tempfile.TemporaryDirectory(prefix="nox-first-run-") as tmp:
            took, packages = first_run(command, Path(tmp))
        print(f"{name:<36} first /healthz 200 after {took:6.1f} s, {packages} packages installed")
    print("load average (1/5/15 min): " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
