"""compose.yaml end to end through the published port: token, upload, run, containment."""

from __future__ import annotations

import json

import pytest

from tests.container.conftest import Stack
from tests.container.engine import container_state, http_client, run

# Each probe prints one JSON line; the sandbox must win every one of them.
ESCAPE_PROBES = r"""
import json, os, socket
out = {}
seen = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        seen.append(pid)
        try:
            seen_env = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        out.setdefault("environ_readable", []).append(pid)
        if SECRET in seen_env:
            out["secret_found"] = True
out["pids"] = len(seen)
try:
    socket.create_connection(("postgres", 5432), timeout=2)
    out["postgres"] = "connected"
except OSError as exc:
    out["postgres"] = type(exc).__name__
for path in ("/usr/escape", "/etc/escape", "/escape"):
    try:
        open(path, "w").write("x")
        out.setdefault("wrote", []).append(path)
    except OSError:
        pass
try:
    os.setuid(0)
    out["setuid0"] = True
except OSError:
    out["setuid0"] = False
out["sees_all_workspaces"] = os.path.exists("/workspaces")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    return stack.token("container-user@example.com")


def test_upload_then_run_python_that_reads_it(stack: Stack, token: str) -> None:
    with http_client(stack.port, token) as client:
        put = client.put("/api/v7/files/data/numbers.txt", content=b"3\n4\n5\n")
        assert put.status_code == 201, put.text
        ran = client.post(
            "/api/v7/run/python",
            json={"code": "print(sum(int(x) for x in open('data/numbers.txt')))"},
        )
    assert ran.status_code == 200, ran.text
    assert ran.json()["status"] == "ok"
    assert ran.json()["stdout"].strip() == "12"


def test_escape_attempts_stay_inside_the_executor(stack: Stack, token: str) -> None:
    secret = stack.secrets["NOX_EXECUTOR_SECRET"]
    code = ESCAPE_PROBES.replace("SECRET in", f"{secret.encode()!r} in")
    with http_client(stack.port, token) as client:
        ran = client.post("/api/v7/run/python", json={"code": code})
    assert ran.status_code == 200, ran.text
    assert ran.json()["status"] == "ok", ran.json()["stderr"]
    probes = json.loads(ran.json()["stdout"])
    assert "secret_found" not in probes  # the executor's environment is out of sight
    assert probes["pids"] <= 3  # its own pid namespace: no executor or api processes
    assert probes["postgres"] != "connected"  # no network at all inside the sandbox
    assert "wrote" not in probes
    assert probes["setuid0"] is False
    assert probes["sees_all_workspaces"] is False  # only its own workspace is bound

    executor = stack.compose.container("executor")
    # the executor itself: unchanged filesystem, still healthy, and never privileged
    assert run(["docker", "diff", executor]).stdout.strip() == ""
    assert container_state(executor, "{{.State.Health.Status}}") == "healthy"
    assert container_state(executor, "{{.HostConfig.Privileged}}") == "false"
    assert container_state(executor, "{{.HostConfig.ReadonlyRootfs}}") == "true"
    assert container_state(executor, "{{.HostConfig.CapDrop}}") == "[ALL]"
    assert container_state(executor, "{{.Config.User}}") == "10001:10001"
    security = container_state(executor, "{{json .HostConfig.SecurityOpt}}")
    assert "no-new-privileges:true" in security and '"defaultAction' in security


def test_only_the_api_is_reachable_from_outside(stack: Stack) -> None:
    lines = stack.compose("ps", "--format", "json").stdout.splitlines()
    published = {
        # EXPOSEd but unpublished ports are listed with PublishedPort 0
        entry["Service"]: sorted(
            p["PublishedPort"] for p in entry["Publishers"] or [] if p["PublishedPort"]
        )
        for entry in map(json.loads, lines)
    }
    assert {name for name, ports in published.items() if ports} == {"api"}, published
    assert published["api"] == [stack.port]

    # the api sits on both networks; the database, cache and executor only on the internal one
    def networks(service: str) -> list[str]:
        container = stack.compose.container(service)
        found = container_state(container, "{{json .NetworkSettings.Networks}}")
        return sorted(json.loads(found))

    for service in ("postgres", "redis", "executor"):
        assert networks(service) == [f"{stack.compose.project}_backend"], service
    assert networks("api") == sorted(
        f"{stack.compose.project}_{name}" for name in ("backend", "frontend")
    )


def test_the_sandbox_suites_isolation_probes_hold_in_compose(stack: Stack, token: str) -> None:
    # The e2e escape suite's own programs, now through the published api and the executor
    # container (its seccomp profile, unmasked /proc, no capabilities) instead of a host rig.
    from tests.e2e.test_escape_isolation import NETWORK, PRIVILEGES, SYSCALLS

    def probe(code: str, args: list[str] | None = None) -> dict[str, object]:
        with http_client(stack.port, token) as client:
            ran = client.post("/api/v7/run/python", json={"code": code, "args": args or []})
        assert ran.status_code == 200 and ran.json()["status"] == "ok", ran.text
        return dict(json.loads(ran.json()["stdout"]))

    network = probe(NETWORK, ["8001"])  # the executor's own port, from inside the sandbox
    assert "CONNECTED" not in network.values() and network["dns"] != "RESOLVED", network
    assert network["interfaces"] == ["lo"]

    privileges = probe(PRIVILEGES)
    zero = "0000000000000000"
    assert (privileges["cap_eff"], privileges["cap_prm"], privileges["cap_bnd"]) == (zero,) * 3
    assert privileges["no_new_privs"] == "1" and privileges["uid"] != 0
    assert privileges["mount"] != 0 and privileges["userns"] != 0

    syscalls = probe(SYSCALLS)
    for name in ("keyctl", "bpf", "io_uring_setup", "userfaultfd", "perf_event_open", "ptrace"):
        assert syscalls[name] == "EPERM", syscalls
    assert syscalls["getpid"] == "ok"


def test_redis_password_is_in_no_process_command_line(stack: Stack) -> None:
    password = stack.secrets["REDIS_PASSWORD"]
    listing = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"
    argvs = stack.compose("exec", "-T", "redis", "sh", "-c", listing).stdout
    assert "redis-server" in argvs
    assert password not in argvs
    # and the password is in force: without it Redis refuses
    refused = stack.compose(
        "exec", "-T", "-e", "REDISCLI_AUTH=", "redis", "redis-cli", "ping", check=False
    )
    assert "NOAUTH" in refused.stdout + refused.stderr
