"""What `dagger call` uploads as the module's source keeps secrets out, checked with the real
pattern matcher: BuildKit applies the module's SOURCE_IGNORE (written as a .dockerignore, the
same pattern language Dagger's Ignore uses) to a tree with planted secrets."""

from __future__ import annotations

from pathlib import Path

from tests.container.engine import BUILD_DOCKER, run
from tests.pipeline.conftest import load

PLANTED_SECRETS = [
    ".env", ".env.production", "app/.env.local", "deploy/.env", "server.key", "tls/cert.pem",
    "k8s/overlays/prod/tls.key", ".git/config", ".venv/bin/python", ".nox-data/nox.db",
    "backups/nox.dump", "node_modules/x/index.js", "ci/sdk/dagger/__init__.py",
]  # fmt: skip
KEPT = ["app/main.py", "pyproject.toml", ".github/workflows/ci.yml", "deploy/environments.toml",
        ".env.example"]  # fmt: skip


def test_no_env_or_key_file_reaches_the_module_source(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for name in [*PLANTED_SECRETS, *KEPT]:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("planted\n")
    (tree / ".dockerignore").write_text("\n".join(load("main").SOURCE_IGNORE) + "\n")
    (tree / "Dockerfile.probe").write_text("FROM scratch\nCOPY . /\n")
    out = tmp_path / "out"
    run(
        [BUILD_DOCKER, "build", "-q", "-f", str(tree / "Dockerfile.probe"),
         "--output", f"type=local,dest={out}", str(tree)],
        env={"DOCKER_BUILDKIT": "1"},
    )  # fmt: skip
    arrived = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert arrived == {*KEPT, ".dockerignore", "Dockerfile.probe"}
