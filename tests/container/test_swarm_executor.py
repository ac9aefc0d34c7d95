"""Why the executor is not a Swarm service: proven on the engine, both ways.

A stack file's security_opt is dropped by `docker stack deploy` (the service API of this
engine has no seccomp and no masked-paths fields), and bubblewrap then cannot create its
namespaces. The options deploy/executor.py gives its plain container make it work.
If a future engine carries the options into Swarm, the first test fails: time to move
the executor back into the stack.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from deploy import executor
from tests.container.swarm_support import PREFIX, docker, nox_image, swarm_node

pytestmark = [pytest.mark.container, pytest.mark.swarm]

BWRAP = (
    "bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/lib /lib "
    "--symlink usr/lib64 /lib64 --symlink usr/bin /bin --proc /proc --dev /dev --tmpfs /tmp "
    "/usr/bin/true && echo BWRAP-OK || echo BWRAP-FAILED"
)


def test_swarm_drops_security_opt_and_bwrap_cannot_start(tmp_path: Path) -> None:
    image = nox_image()
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(
        'version: "3.8"\nservices:\n  probe:\n'
        f"    image: {image}\n"
        f'    command: ["sh", "-c", "{BWRAP}; sleep 300"]\n'
        f"    security_opt: ['seccomp:{executor.SECCOMP}', 'systempaths=unconfined']\n"
        "    deploy: {restart_policy: {condition: none}}\n"
    )
    name = f"nox-dep-sec-{uuid.uuid4().hex[:6]}"
    with swarm_node():
        deployed = subprocess.run(
            ["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(stack_file), name],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        try:
            assert "Ignoring unsupported options: security_opt" in deployed.stderr
            deadline, output = time.monotonic() + 60, ""
            while "BWRAP-" not in output and time.monotonic() < deadline:
                time.sleep(1)
                ids = docker("ps", "-aq", "--filter", f"name={name}_probe").split()
                output = docker("logs", ids[0]) if ids else ""
            cid = docker("ps", "-aq", "--filter", f"name={name}_probe").split()[0]
            assert docker("inspect", "--format", "{{json .HostConfig.SecurityOpt}}", cid) == "null"
            assert "BWRAP-FAILED" in output
        finally:
            docker("stack", "rm", name, check=False)


def test_the_executor_container_options_let_bwrap_run() -> None:
    args = executor.run_args(stack="s", image="i", name="n", env_file=Path("/x"))
    security = [
        item for flag, value in itertools.pairwise(args)
        if flag in ("--security-opt", "--cap-drop") for item in (flag, value)
    ]  # fmt: skip
    out = docker(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", *security, nox_image(), "sh", "-c", BWRAP
    )
    assert "BWRAP-OK" in out


# Runs inside the executor container (beside the server, not in a sandbox): the e2e escape
# suite's probes through the executor's own /v1/run, then the syscall probe once more
# directly under the container's seccomp profile, outside bubblewrap and Nox's own filter.
IN_EXECUTOR = r"""
import json, os, sys, urllib.request
probes = json.loads(sys.stdin.read())
limits = {"cpu_s": 10, "wall_s": 20, "memory_bytes": 256 << 20, "processes": 32,
          "file_size_bytes": 1 << 20, "open_files": 64, "output_bytes": 1 << 16}
out = {}
for name, (source, args) in probes.items():
    body = {"workspace": "7", "language": "python", "source": source, "args": args,
            "limits": limits}
    request = urllib.request.Request(
        "http://127.0.0.1:8001/v1/run", json.dumps(body).encode(),
        {"Authorization": "Bearer " + os.environ["NOX_EXECUTOR_SECRET"],
         "Content-Type": "application/json"})
    result = json.load(urllib.request.urlopen(request, timeout=60))
    out[name] = json.loads(result["stdout"]) if result["status"] == "ok" else result
scope = {}
exec(probes["syscalls"][0].replace("print(", "printed = ("), scope)
out["container"] = json.loads(scope["printed"])
print(json.dumps(out))
"""


def test_the_swarm_executor_holds_the_escape_probes_under_its_seccomp_profile(
    tmp_path: Path,
) -> None:
    from tests.e2e.test_escape_isolation import NETWORK, PRIVILEGES, SYSCALLS

    stack = f"{PREFIX}-probe-{uuid.uuid4().hex[:6]}"
    env_file = tmp_path / "env"
    env_file.write_text(f"NOX_EXECUTOR_SECRET={uuid.uuid4().hex}\n")
    name = f"{stack}-executor"
    docker("network", "create", f"{stack}_backend")
    try:
        docker(*executor.run_args(stack=stack, image=nox_image(), name=name, env_file=env_file))
        deadline = time.monotonic() + 90
        while docker("inspect", "--format", "{{.State.Health.Status}}", name) != "healthy":
            assert time.monotonic() < deadline, docker("logs", name, check=False)
            time.sleep(1)
        probes = {"network": [NETWORK, ["8001"]], "privileges": [PRIVILEGES, []],
                  "syscalls": [SYSCALLS, []]}  # fmt: skip
        out = json.loads(
            docker("exec", "-i", name, "python", "-c", IN_EXECUTOR, input_=json.dumps(probes))
        )
    finally:
        docker("rm", "-f", "-v", name, check=False)
        docker("network", "rm", f"{stack}_backend", check=False)
        docker("volume", "rm", f"{stack}_workspaces", check=False)
    network, privileges, syscalls = out["network"], out["privileges"], out["syscalls"]
    assert "CONNECTED" not in network.values() and network["dns"] != "RESOLVED", network
    assert network["interfaces"] == ["lo"]
    zero = "0000000000000000"
    assert (privileges["cap_eff"], privileges["cap_prm"], privileges["cap_bnd"]) == (zero,) * 3
    assert privileges["no_new_privs"] == "1" and privileges["uid"] != 0
    assert privileges["mount"] != 0 and privileges["userns"] != 0
    assert syscalls.pop("getpid") == "ok" and set(syscalls.values()) == {"EPERM"}, syscalls
    # The container's own profile (default ERRNO) refuses them too, outside any sandbox.
    container = out["container"]
    # Docker's default (so ours) allows getpid in every ABI; a kernel without x32 says ENOSYS.
    assert container.pop("x32_getpid") in {"ok", "ENOSYS"}, container
    assert container.pop("getpid") == "ok" and set(container.values()) == {"EPERM"}, container
