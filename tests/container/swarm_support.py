"""Helpers of the Swarm and registry tests: a swarm node, Nox images, a request load."""

from __future__ import annotations

import http.client
import os
import random
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.container.engine import PREFIX as PREFIX
from tests.container.engine import building
from tests.prereq import require, require_binary

REPO = Path(__file__).resolve().parents[2]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# BuildKit works only through Docker 20.10's own client here (no buildx for newer clients)
BUILD_DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


def docker(*args: str, check: bool = True, input_: str | None = None) -> str:
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, input=input_, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


def task_logs(service: str) -> str:
    """What a Swarm service's tasks printed, read container by container with a timeout:
    `docker service logs` hung for minutes on this engine (single node, json-file logs)."""
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.swarm.service.name={service}"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    output = []
    for cid in listed.stdout.split():
        logs = subprocess.run(
            ["docker", "logs", cid], capture_output=True, text=True, check=False, timeout=30
        )
        output.append(logs.stdout + logs.stderr)
    return "\n".join(output)


def require_engine() -> None:
    require_binary("docker", "apt-get install docker.io, then start dockerd")
    ok = subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    require(ok, "Docker engine not reachable: start dockerd (see .ci/install-container.sh)")


@contextmanager
def swarm_node() -> Iterator[None]:
    """An active single-node swarm; one this test created is left again afterwards."""
    require_engine()
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}")
    created = state != "active"
    if created:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        if created:
            docker("swarm", "leave", "--force", check=False)


def stand_in_env() -> dict[str, str]:
    """PYTHON_IMAGE / POSTGRES_IMAGE / REDIS_IMAGE of the air-gapped stand-ins, built if
    missing (scripts/airgap-images.sh skips tags that exist)."""
    script = REPO / "scripts" / "airgap-images.sh"
    printed = subprocess.run(
        ["bash", str(script), "--print-env"], capture_output=True, text=True, check=True
    ).stdout
    env = dict(line.split("=", 1) for line in printed.split())
    if not all(docker("images", "-q", ref) for ref in env.values()):
        subprocess.run(["bash", str(script)], check=True, capture_output=True)
    return env


def nox_image(tag: str = f"{PREFIX}-dep/nox:test") -> str:
    """The Nox runtime image: NOX_TEST_IMAGE when CI built it already, else built here."""
    given = os.environ.get("NOX_TEST_IMAGE")
    if given:
        return given
    args = [BUILD_DOCKER, "build", "-q", "--target", "runtime", "-t", tag]
    args += ["--build-arg", f"PYTHON_IMAGE={stand_in_env()['PYTHON_IMAGE']}"]
    if CA_BUNDLE.exists():  # a TLS-intercepting proxy needs the host CA (no-op otherwise)
        args += ["--secret", f"id=ca,src={CA_BUNDLE}"]
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    with building("Dockerfile", "runtime"):
        proc = subprocess.run([*args, str(REPO)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"building the Nox image failed:\n{proc.stderr[-3000:]}"
    return tag


def derive_image(tag: str, dockerfile: str) -> str:
    """A small image on top of another (labels, env, a broken HEALTHCHECK)."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    proc = subprocess.run(
        [BUILD_DOCKER, "build", "-q", "-t", tag, "-"],
        input=dockerfile, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return tag


@dataclass(frozen=True)
class EdgeCA:
    """A CA made for one test run and an edge certificate it signed (127.0.0.1, localhost)."""

    ca: Path
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        """A client context that trusts this CA alone (and verifies the host name)."""
        return ssl.create_default_context(cafile=str(self.ca))


def make_test_ca(directory: Path) -> EdgeCA:
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "edge.pem", directory / "edge.key", directory / "edge.csr"
    ext = directory / "edge.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=CA:FALSE\n"
    )
    ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
    steps = [
        f"req -x509 {ec} -subj /CN=nox-test-CA -keyout {ca_key} -out {ca}",
        f"req {ec} -subj /CN=localhost -keyout {key} -out {csr}",
        f"x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -days 2 -extfile {ext}"
        f" -out {cert}",
    ]
    for step in steps:  # paths come from pytest's tmp_path: no spaces
        subprocess.run(["openssl", *step.split()], check=True, capture_output=True)
    return EdgeCA(ca=ca, cert=cert, key=key)


class SwarmStack:
    """A stack deployed by scripts/deploy.sh, HTTPS at its edge with a test CA."""

    def __init__(self, state_dir: Path, ca: EdgeCA, **env: str) -> None:
        self.name = f"{PREFIX}-dep-{uuid.uuid4().hex[:6]}"
        self.port, self.http_port = free_port(), free_port()
        self.ca = ca
        stand_ins = stand_in_env()
        # every stack gets its own edge subnet: several may run on one engine
        subnet = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"
        self.env = {
            **os.environ,
            "NOX_STACK": self.name,
            "NOX_EDGE_PORT": str(self.port),
            "NOX_EDGE_HTTP_PORT": str(self.http_port),
            "NOX_EDGE_SUBNET": subnet,
            "NOX_EDGE_IMAGE": stand_ins["NOX_EDGE_IMAGE"],
            "NOX_TLS_CERT_FILE": str(ca.cert),
            "NOX_TLS_KEY_FILE": str(ca.key),
            "SSL_CERT_FILE": str(ca.ca),  # deploy.sh's smoke test verifies the edge with it
            "NOX_DEPLOY_STATE_DIR": str(state_dir),
            "POSTGRES_IMAGE": stand_ins["POSTGRES_IMAGE"],
            "REDIS_IMAGE": stand_ins["REDIS_IMAGE"],
            **env,
        }

    def load(self) -> Load:
        return Load(self.port, tls=self.ca.context())

    def deploy_sh(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(REPO / "scripts" / "deploy.sh"), *args, "--target", "swarm", "--env", "test"]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, check=False)

    def api(self, template: str) -> str:
        return docker("service", "inspect", "--format", template, f"{self.name}_api")

    def remove(self) -> None:
        removed = self.deploy_sh("remove")
        for kind in ("secret", "volume"):
            names = docker(kind, "ls", "-q", "--filter", f"name={self.name}").split()
            if names:
                docker(kind, "rm", *names, check=False)
        assert removed.returncode == 0, removed.stderr
        label = f"label=com.docker.stack.namespace={self.name}"
        assert not docker("ps", "-aq", "--filter", label)
        assert not docker("network", "ls", "-q", "--filter", label)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Load:
    """A steady GET loop on loopback: a new connection per request, like separate clients
    (a new TLS handshake each, verified against ``tls`` when given)."""

    port: int
    path: str = "/api/v7/status"
    tls: ssl.SSLContext | None = None
    max_requests: int = 50_000
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set() and self.ok + len(self.failures) < self.max_requests:
            conn = (
                http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=self.tls)
                if self.tls
                else http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            )
            started = time.perf_counter()
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    self.ok += 1
                    self.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    self.failures.append(f"{time.strftime('%T')} HTTP {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(f"{time.strftime('%T')} {exc!r}")
            finally:
                conn.close()
            time.sleep(0.02)

    def summary(self) -> str:
        ordered = sorted(self.latencies_ms) or [0.0]
        p50, p95 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95)]
        return (
            f"{self.ok} ok, {len(self.failures)} failed, "
            f"latency p50 {p50:.1f} ms p95 {p95:.1f} ms max {ordered[-1]:.0f} ms"
        )

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)
