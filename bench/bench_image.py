"""Image figures on the real engine: size vs base, cold build, one-line rebuild, start to healthy.

    uv run python -m bench.bench_image [--runs 3] [--python-image IMAGE]

Targets (issue 5): rebuild after a one-line code change <= 20 % of a cold build; container
start to healthy <= 5 s; dev hot reload of an edit in app/ <= 3 s. "Cold" is `--no-cache`: no
layer is reused, but BuildKit's cache mounts (uv/pip downloads) stay warm, as on any machine
that has built once; a first build ever also pays for the downloads.
Works on a copy of the tree, so no edit touches the real sources.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.container.engine import PREFIX, REPO, build, free_port, health, run

TAG = f"{PREFIX}/nox:bench"
# the container's own /tmp as a tmpfs (the root filesystem is read-only), not the host's
READ_ONLY = ["--read-only", "--tmpfs", "/tmp", "--tmpfs", "/data:uid=10001,gid=10001"]  # noqa: S108
DEV_TAG = f"{PREFIX}/nox:bench-dev"
TREE = [
    "app", "migrations", "alembic.ini", "pyproject.toml", "uv.lock", "README.md",
    "Dockerfile", "Dockerfile.dev", ".dockerignore",
]  # fmt: skip


def copy_tree(into: Path) -> None:
    for name in TREE:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, into / name)


def size_mb(image: str) -> float:
    return int(run(["docker", "image", "inspect", "-f", "{{.Size}}", image]).stdout) / 1e6


def timed_build(tree: Path, python_image: str, *extra: str) -> float:
    started = time.monotonic()
    build(TAG, python_image=python_image, target="runtime", extra=extra, context=tree)
    return time.monotonic() - started


def start_to_healthy(image: str) -> tuple[float, float]:
    """Seconds from `docker run` to the first /healthz 200, and to Docker's `healthy`."""
    port = free_port()
    name = f"{PREFIX}-bench-{port}"
    started = time.monotonic()
    run([
        "docker", "run", "-d", "--name", name, *READ_ONLY, "-e", "NOX_ENV=development",
        "-p", f"127.0.0.1:{port}:8000", image,
    ])  # fmt: skip
    first_ok = healthy = 0.0
    try:
        while time.monotonic() - started < 60 and not healthy:
            if not first_ok:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                        first_ok = time.monotonic() - started
                except httpx.TransportError:
                    pass
            if health(name) == "healthy":
                healthy = time.monotonic() - started
            time.sleep(0.05)
    finally:
        run(["docker", "rm", "-f", name], check=False)
    return first_ok, healthy


def hot_reload(tree: Path, python_image: str) -> float:
    """Seconds from an edit in the bind-mounted app/ to the dev server answering with it."""
    build(DEV_TAG, python_image=python_image, dockerfile="Dockerfile.dev", context=tree)
    port = free_port()
    name = f"{PREFIX}-bench-dev-{port}"
    run([
        "docker", "run", "-d", "--name", name, *READ_ONLY, "-e", "DEBUGPY_PORT=",
        "-v", f"{tree / 'app'}:/app/app:ro", "-p", f"127.0.0.1:{port}:8000", DEV_TAG,
    ])  # fmt: skip
    url = f"http://127.0.0.1:{port}/bench-reload"
    try:
        deadline = time.monotonic() + 120
        while health(name) != "healthy" and time.monotonic() < deadline:
            time.sleep(0.2)
        with (tree / "app" / "routers.py").open("a") as routers:
            routers.write(
                "\n_bench = APIRouter()\n_bench.get('/bench-reload')(lambda: {'ok': True})\n"
                "ROUTERS.append(_bench)\n"
            )
        edited = time.monotonic()
        while time.monotonic() - edited < 60:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return time.monotonic() - edited
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        return float("nan")
    finally:
        run(["docker", "rm", "-f", name], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repeats of the quick measurements")
    parser.add_argument("--python-image", default=None, help="base image (default: stand-in)")
    args = parser.parse_args()
    python_image = (
        args.python_image
        or dict(
            line.split("=", 1)
            for line in run(["bash", "scripts/airgap-images.sh", "--print-env"]).stdout.split()
        )["PYTHON_IMAGE"]
    )

    with tempfile.TemporaryDirectory(prefix="nox-bench-image-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        cold = timed_build(tree, python_image, "--no-cache")
        rebuilds = []
        for i in range(args.runs):
            (tree / "app" / "main.py").open("a").write(f"# bench edit {i}\n")
            rebuilds.append(timed_build(tree, python_image))
        rebuild = statistics.median(rebuilds)
        starts = [start_to_healthy(TAG) for _ in range(args.runs)]
        reload_s = hot_reload(tree, python_image)

    base, image = size_mb(python_image), size_mb(TAG)
    first_ok = statistics.median(s[0] for s in starts)
    healthy = statistics.median(s[1] for s in starts)
    print(f"base image      {python_image}: {base:.0f} MB")
    print(f"runtime image   {TAG}: {image:.0f} MB  "
          f"(x{image / base:.2f} the base, +{image - base:.0f} MB)")  # fmt: skip
    print(f"cold build      {cold:.1f} s  (--no-cache, download caches warm)")
    print(f"rebuild         {rebuild:.1f} s after a one-line edit in app/ (median of {args.runs}; "
          f"{rebuild / cold:.0%} of cold, target <= 20 %)")  # fmt: skip
    print(f"start           first /healthz 200 after {first_ok:.1f} s; Docker 'healthy' after "
          f"{healthy:.1f} s (median of {args.runs}; target <= 5 s)")  # fmt: skip
    print(f"dev hot reload  edit served after {reload_s:.2f} s (target <= 3 s)")


if __name__ == "__main__":
    main()
