"""The executor next to a Swarm stack: a plain container, because only `docker run` can give
it what bubblewrap needs (our seccomp profile, unmasked system paths) on this engine.

It joins the stack's attachable backend network under the alias ``executor``, so the api's
``NOX_EXECUTOR_URL=http://executor:8001`` finds it. Replacement is start-first: the new
container shares the alias and must be healthy before the old one is stopped.
It logs the way the api service does (the api's log driver and options, tag ``executor``),
so the logs overlay (swarm/logs-shipping.yaml) is one fact for both.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECCOMP = REPO / "seccomp" / "executor.json"
RUNNING = (
    '{{.Config.Image}} {{index .Config.Labels "nox.secrets"}} '
    '{{index .Config.Labels "nox.logging"}} {{.State.Running}}'
)
TAG = "executor"  # the name its log lines are filed under by the collector
HEALTH_CMD = "python -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8001/healthz')\""


class ExecutorFailed(Exception):
    pass


def secret_file(state_dir: Path, prefix: str) -> Path:
    return state_dir / "secrets" / f"{prefix}-executor-secret"


def write_secret(state_dir: Path, prefix: str, value: str) -> None:
    path = secret_file(state_dir, prefix)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.touch(mode=0o600)
    path.write_text(value)


def _docker(docker: str, *args: str) -> str:
    proc = subprocess.run([docker, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ExecutorFailed(f"docker {' '.join(args[:2])}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def containers(docker: str, stack: str) -> list[str]:
    out = _docker(docker, "ps", "-a", "-q", "--filter", f"label=nox.executor-of={stack}")
    return out.split()


def log_args(logging: dict[str, object] | None) -> list[str]:
    """``docker run`` options for a Swarm LogDriver (``{"Name", "Options"}``), with the
    executor's own tag; none for the engine's default."""
    if not logging:
        return []
    given = logging.get("Options")
    options = {**(given if isinstance(given, dict) else {}), "tag": TAG}
    args = ["--log-driver", str(logging["Name"])]
    args += [arg for key in sorted(options) for arg in ("--log-opt", f"{key}={options[key]}")]
    # a changed driver or option needs a new container: ensure() compares this label
    return [*args, "--label", f"nox.logging={logging_label(logging)}"]


def logging_label(logging: dict[str, object] | None) -> str:
    return json.dumps(logging, sort_keys=True, separators=(",", ":")) if logging else ""


def run_args(
    *,
    stack: str,
    image: str,
    name: str,
    env_file: Path,
    prefix: str = "",
    logging: dict[str, object] | None = None,
) -> list[str]:
    """The container's options. Nothing is bind-mounted from the deploying machine, which
    may reach the engine remotely (DOCKER_HOST=ssh://...): the client itself reads the
    seccomp profile and the env file and sends their contents."""
    return [
        "run", *log_args(logging), "--detach", "--name", name, "--restart", "unless-stopped",
        "--label", f"nox.executor-of={stack}", "--label", f"nox.secrets={prefix}",
        "--network", f"{stack}_backend", "--network-alias", "executor",
        "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",  # noqa: S108 (container path)
        "--security-opt", "no-new-privileges",
        "--security-opt", f"seccomp={SECCOMP}",
        "--security-opt", "systempaths=unconfined",
        "--memory", "1g", "--cpus", "1", "--pids-limit", "512",
        "--volume", f"{stack}_workspaces:/workspaces",
        "--env-file", str(env_file),  # NOX_EXECUTOR_SECRET, never on a command line
        "--env", "NOX_ENV=production", "--env", "NOX_SANDBOX_BACKEND=bwrap",
        # No cgroup subtree is delegated to a Swarm executor yet: per-process limits only,
        # accepted explicitly (docs/sandbox.md, "Which deployment gets which guarantee").
        "--env", "NOX_SANDBOX_ALLOW_PER_PROCESS_LIMITS=true",
        "--env", "NOX_EXECUTOR_HOST=0.0.0.0", "--env", "NOX_WORKSPACES_DIR=/workspaces",
        "--health-cmd", HEALTH_CMD,
        "--health-interval", "2s", "--health-retries", "3", "--health-start-period", "5s",
        "--stop-timeout", "40",
        image, "nox", "executor",
    ]  # fmt: skip


def ensure(
    *,
    docker: str,
    stack: str,
    image: str,
    state_dir: Path,
    prefix: str,
    timeout_s: float,
    logging: dict[str, object] | None = None,
) -> None:
    """Run ``image`` as the stack's executor; keep the old one until the new one is healthy."""
    old = containers(docker, stack)
    wanted = f"{image} {prefix} {logging_label(logging)} true"
    for cid in old:
        # a secret rotation or another log driver needs a new container
        if _docker(docker, "inspect", "--format", RUNNING, cid) == wanted:
            return
    secret = current_secret(docker, old, state_dir, prefix)
    name = f"{stack}-executor-{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="nox-executor-") as tmp:
        env_file = Path(tmp) / "env"
        env_file.touch(mode=0o600)
        env_file.write_text(f"NOX_EXECUTOR_SECRET={secret}\n")
        args = run_args(
            stack=stack, image=image, name=name, env_file=env_file, prefix=prefix, logging=logging
        )
        new = _docker(docker, *args)
    deadline = time.monotonic() + timeout_s
    while (health := _docker(docker, "inspect", "--format", "{{.State.Health.Status}}", new)) != (
        "healthy"
    ):
        if health == "unhealthy" or time.monotonic() > deadline:
            logs = subprocess.run(
                [docker, "logs", "--tail", "20", new], capture_output=True, text=True
            )
            _docker(docker, "rm", "--force", new)
            raise ExecutorFailed(f"executor {image} {health}: {logs.stdout}{logs.stderr}")
        time.sleep(1)
    for cid in old:
        _docker(docker, "stop", "--time", "40", cid)
        _docker(docker, "rm", cid)


def current_secret(docker: str, running: list[str], state_dir: Path, prefix: str) -> str:
    """The executor's secret: the state directory's copy, or else the one the running executor
    of the same secret generation holds (a Docker secret cannot be read back, and a machine
    with no local state, such as a fresh CI runner rolling back, must still replace it)."""
    path = secret_file(state_dir, prefix)
    if path.exists():
        return path.read_text().strip()
    for cid in running:
        found = _docker(
            docker, "inspect", "--format",
            '{{index .Config.Labels "nox.secrets"}}{{range .Config.Env}} {{.}}{{end}}', cid,
        )  # fmt: skip
        label, *env = found.split()
        for pair in env:
            key, _, value = pair.partition("=")
            if label == prefix and key == "NOX_EXECUTOR_SECRET" and value:
                return value
    raise ExecutorFailed(
        f"{path} missing and no running executor holds the secret {prefix}: "
        "run `scripts/deploy.sh init-secrets` first"
    )


def remove_all(docker: str, stack: str) -> None:
    for cid in containers(docker, stack):
        _docker(docker, "rm", "--force", cid)
