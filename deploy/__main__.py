"""Command line of the deploy tooling (scripts/deploy.sh runs ``python3 -m deploy``).

  deploy   --target swarm|k8s --env ENV --image REF   migrate, roll, smoke, record (or roll back)
  rollback --target swarm|k8s --env ENV               back to the previous image the target records
  smoke    --url URL                                  GET /healthz, /readyz, /api/v7/status
  preflight --env ENV                                 (k8s) can the cluster isolate the executor?
  history  --target swarm|k8s --env ENV               this machine's JSON-lines log
  init-secrets --env ENV                              (swarm) random Docker secrets, once
  remove   --env ENV                                  (swarm) stack and executor down; data kept

Environment: NOX_DEPLOY_STATE_DIR (the log, the executor secret's copy; default
~/.local/state/nox-deploy),
NOX_STACK (default nox-ENV), NOX_SECRETS (secret name prefix, default STACK-v1),
NOX_SWARM_OVERLAYS (comma-separated: logs, pitr, monitoring; deploy/overlays.py),
NOX_EDGE_PORT (HTTPS), NOX_EDGE_IMAGE (first deploy), NOX_SMOKE_URL, NOX_API_REPLICAS,
DOCKER, KUBECTL (Kubernetes namespaces: as the overlay names them); init-secrets:
NOX_TLS_CERT_FILE and NOX_TLS_KEY_FILE (the edge's PEM certificate chain and key, stored as
the secrets PREFIX-tls-cert/-tls-key).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

from deploy import executor
from deploy.history import load
from deploy.k8s import Kubernetes, namespaces
from deploy.overlays import OverlayError, chosen
from deploy.rollout import DeployFailed, Target, deploy, rollback
from deploy.smoke import SmokeFailed, smoke
from deploy.swarm import RolloutFailed, Swarm

REPO = Path(__file__).resolve().parent.parent


def stack_name(env: str) -> str:
    return os.environ.get("NOX_STACK", f"nox-{env}")


def make_target(kind: str, env: str, state_dir: Path, preview_url: str | None = None) -> Target:
    if kind == "swarm":
        stack = stack_name(env)
        return Swarm(
            stack=stack,
            stack_file=REPO / "swarm" / "stack.yaml",
            api_replicas=int(os.environ.get("NOX_API_REPLICAS", "2")),
            docker=os.environ.get("DOCKER", "docker"),
            secrets_prefix=secrets_prefix(env),
            state_dir=state_dir,
            edge_image=os.environ.get("NOX_EDGE_IMAGE") or None,
            overlays=chosen(os.environ),
        )
    app, sandbox = namespaces(REPO / "k8s", env)  # as the overlay names them
    return Kubernetes(
        env=env, k8s_dir=REPO / "k8s", namespace=app, sandbox_namespace=sandbox,
        kubectl=os.environ.get("KUBECTL", "kubectl"),
        preview_url=preview_url or os.environ.get("NOX_PREVIEW_URL") or None,
    )  # fmt: skip


def secrets_prefix(env: str) -> str:
    return os.environ.get("NOX_SECRETS", f"{stack_name(env)}-v1")


def smoke_url(kind: str, given: str | None) -> str:
    if given or os.environ.get("NOX_SMOKE_URL"):
        return given or os.environ["NOX_SMOKE_URL"]
    if kind == "swarm":
        return f"https://127.0.0.1:{os.environ.get('NOX_EDGE_PORT', '443')}"
    raise DeployFailed("set --smoke-url (or NOX_SMOKE_URL) to the public URL of this environment")


def init_secrets(env: str, state_dir: Path) -> None:
    """Random values for every secret the stack references; existing ones are kept.
    The executor's copy of its secret goes to the state dir (it is not a Swarm service)."""
    docker = os.environ.get("DOCKER", "docker")
    prefix = secrets_prefix(env)
    pg, rd = secrets.token_hex(24), secrets.token_hex(24)
    values = {
        "secret-key": secrets.token_urlsafe(48),
        "executor-secret": secrets.token_urlsafe(48),
        "postgres-password": pg,
        "redis-password": rd,
        "database-url": f"postgresql+asyncpg://nox:{pg}@postgres:5432/nox",
        "redis-url": f"redis://:{rd}@redis:6379/0",
    }
    existing = subprocess.run(
        [docker, "secret", "ls", "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    tls_secrets(docker, prefix, existing)
    if any(f"{prefix}-{n}" in existing for n in values):
        print(f"secrets {prefix}-* exist already; rotate by choosing a new NOX_SECRETS prefix")
        return
    for name, value in values.items():
        subprocess.run(
            [docker, "secret", "create", f"{prefix}-{name}", "-"], input=value, text=True,
            check=True, capture_output=True,
        )  # fmt: skip
        print(f"created secret {prefix}-{name}")
    executor.write_secret(state_dir, prefix, values["executor-secret"])


def tls_secrets(docker: str, prefix: str, existing: list[str]) -> None:
    """The edge's certificate and key come from the operator's files (ACME or a CA), never
    generated here: a made-up certificate would only teach clients to skip verification."""
    files = {"tls-cert": "NOX_TLS_CERT_FILE", "tls-key": "NOX_TLS_KEY_FILE"}
    for name, variable in files.items():
        if f"{prefix}-{name}" in existing:
            continue
        path = os.environ.get(variable)
        if not path:
            print(f"secret {prefix}-{name} missing: set {variable} to its PEM file")
            continue
        subprocess.run(
            [docker, "secret", "create", f"{prefix}-{name}", path], check=True, capture_output=True
        )
        print(f"created secret {prefix}-{name} from {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/deploy.sh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command",
        choices=["deploy", "rollback", "smoke", "preflight", "history", "init-secrets", "remove"],
    )
    parser.add_argument("--target", choices=["swarm", "k8s"], default="swarm")
    parser.add_argument("--env", default="staging")
    parser.add_argument("--image")
    parser.add_argument("--smoke-url", "--url", dest="url")
    parser.add_argument("--preview-url", help="k8s: URL of Service/api-preview (NOX_PREVIEW_URL)")
    parser.add_argument("--state-dir", type=Path)
    args = parser.parse_args(argv)
    state_dir = args.state_dir or Path(
        os.environ.get("NOX_DEPLOY_STATE_DIR", Path.home() / ".local/state/nox-deploy")
    )
    try:
        if args.command == "smoke":
            smoke(smoke_url(args.target, args.url))
        elif args.command == "preflight":
            kube = make_target("k8s", args.env, state_dir)
            assert isinstance(kube, Kubernetes)
            print(
                f"preflight of {args.env}: the cluster can run the executor isolated\n"
                + kube.preflight()
            )
        elif args.command == "history":
            for entry in load(state_dir, env=args.env, target=args.target):
                print(
                    f"{entry.time} {entry.status:9} {entry.action:8} {entry.image} {entry.detail}"
                )
        elif args.command == "init-secrets":
            init_secrets(args.env, state_dir)
        elif args.command == "remove":
            target = make_target("swarm", args.env, state_dir)
            assert isinstance(target, Swarm)
            target.remove()
        elif args.command == "deploy":
            if not args.image:
                parser.error("deploy needs --image REF (ideally ref@sha256:...)")
            target = make_target(args.target, args.env, state_dir, args.preview_url)
            deploy(
                target, image=args.image, env=args.env,
                kind=args.target, state_dir=state_dir, smoke_url=smoke_url(args.target, args.url),
            )  # fmt: skip
        else:
            target = make_target(args.target, args.env, state_dir, args.preview_url)
            rollback(
                target, env=args.env, kind=args.target,
                state_dir=state_dir, smoke_url=smoke_url(args.target, args.url),
            )  # fmt: skip
    except (DeployFailed, RolloutFailed, SmokeFailed, OverlayError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
