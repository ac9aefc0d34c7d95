"""Why the executor is not a Swarm service: proven on the engine, both ways.

A stack file's security_opt is dropped by `docker stack deploy` (the service API of this
engine has no seccomp and no masked-paths fields), and bubblewrap then cannot create its
namespaces. The options deploy/executor.py gives its plain container make it work.
If a future engine carries the options into Swarm, the first test fails: time to move
the executor back into the stack.
"""

from __future__ import annotations

import itertools
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from deploy import executor
from tests.container.swarm_support import docker, nox_image, swarm_node

pytestmark = pytest.mark.container

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
