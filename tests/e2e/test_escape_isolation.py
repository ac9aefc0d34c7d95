"""Escape suite, isolation: no network, no privileges, no view of the host or of other runs."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import subprocess
from collections.abc import Iterator

import pytest

from app.sandbox.local import sandbox_owner
from tests.e2e.sandbox_rig import Rig, rig_fixture  # noqa: F401

pytestmark = pytest.mark.e2e

NETWORK = """
import json, socket, sys
out = {}
for name, host, port in [("loopback", "127.0.0.1", int(sys.argv[1])),
                         ("public", "1.1.1.1", 443), ("public_dns", "8.8.8.8", 53)]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        out[name] = "CONNECTED"
    except OSError as exc:
        out[name] = exc.errno
try:
    socket.getaddrinfo("example.com", 443)
    out["dns"] = "RESOLVED"
except OSError as exc:
    out["dns"] = str(exc)
out["interfaces"] = [name for _, name in socket.if_nameindex()]
print(json.dumps(out))
"""

PRIVILEGES = r"""
import json, os, subprocess
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines()
              if ":\t" in line)
mounts = [line.split() for line in open("/proc/self/mounts")]
def tried(argv):
    return subprocess.run(argv, capture_output=True).returncode
print(json.dumps({
    "uid": os.getuid(),
    "cap_eff": status["CapEff"].strip(), "cap_prm": status["CapPrm"].strip(),
    "cap_bnd": status["CapBnd"].strip(), "no_new_privs": status["NoNewPrivs"].strip(),
    "suid_mounts": [m[1] for m in mounts if "nosuid" not in m[3].split(",")],
    "su_is_setuid": bool(os.stat("/usr/bin/su").st_mode & 0o4000)
    if os.path.exists("/usr/bin/su") else False,
    "mount": tried(["/usr/bin/mount", "-t", "tmpfs", "none", "/tmp"]),
    "userns": tried(["/usr/bin/unshare", "--user", "--map-root-user", "true"]),
    "su": tried(["/usr/bin/su", "-c", "id"]) if os.path.exists("/usr/bin/su") else "absent",
}))
"""

SYSCALLS = r"""
import ctypes, errno, json, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    return "ok" if libc.syscall(nr, *args) >= 0 else errno.errorcode[ctypes.get_errno()]
out = {name: call(nr, 0, 0, 0, 0, 0) for name, nr in
       [("keyctl", 250), ("bpf", 321), ("io_uring_setup", 425), ("userfaultfd", 323),
        ("perf_event_open", 298), ("ptrace", 101), ("x32_getpid", 0x40000000 + 39)]}
out["getpid"] = call(39)
try:
    socket.socket(40, socket.SOCK_STREAM)  # AF_VSOCK: no network namespace covers it
    out["vsock"] = "ok"
except OSError as exc:
    out["vsock"] = errno.errorcode[exc.errno]
print(json.dumps(out))
"""

SEE_OTHERS = """
import json, os, sys, time
open(sys.argv[1], "w").write("mine")
time.sleep(1.5)
procs = [p for p in os.listdir("/proc") if p.isdigit()]
print(json.dumps({"files": sorted(os.listdir("/workspace")), "procs": len(procs),
                  "hostname": os.uname().nodename}))
"""


@pytest.fixture
def loopback_listener() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


@pytest.fixture
def canary() -> Iterator[subprocess.Popen[bytes]]:
    """A host process with the sandbox's own host uid: ``kill -9 -1`` would reach it
    if the run were not in its own pid namespace."""
    owner = sandbox_owner()
    proc = subprocess.Popen(
        ["sleep", "30"],
        user=owner[0] if owner else None,
        group=owner[1] if owner else None,
        extra_groups=[] if owner else None,
    )
    yield proc
    proc.kill()
    proc.wait()


async def test_no_network_loopback_public_or_dns(rig: Rig, loopback_listener: int) -> None:
    body = await rig.python(rig.alice, NETWORK, args=[str(loopback_listener)])
    out = json.loads(body["stdout"])
    assert "CONNECTED" not in out.values() and out["dns"] != "RESOLVED", out
    assert out["interfaces"] == ["lo"]  # an empty namespace: its own loopback, down


async def test_no_capabilities_and_no_setuid_escalation(rig: Rig) -> None:
    body = await rig.python(rig.alice, PRIVILEGES)
    assert body["status"] == "ok", body
    out = json.loads(body["stdout"])
    zero = "0000000000000000"
    assert (out["cap_eff"], out["cap_prm"], out["cap_bnd"]) == (zero, zero, zero)
    assert out["no_new_privs"] == "1"
    assert out["uid"] != 0
    # setuid files exist under /usr (su, mount...), but every mount is nosuid and
    # no_new_privs is set, so none of them can raise privileges: mount, su and a nested user
    # namespace all fail.
    assert out["suid_mounts"] == []
    assert out["mount"] != 0 and out["userns"] != 0 and out["su"] != 0
    assert out["su"] == "absent" or out["su_is_setuid"], "su is not setuid: the check proves less"


async def test_kill_minus_one_reaches_nothing_outside_the_run(
    rig: Rig, canary: subprocess.Popen[bytes]
) -> None:
    body = await rig.shell(rig.alice, "kill -9 -1; echo survived")
    assert body["stdout"] == "survived\n"
    assert canary.poll() is None
    os.kill(os.getpid(), 0)
    after = await rig.python(rig.alice, "print('next run fine')")
    assert after["stdout"] == "next run fine\n"


async def test_two_users_at_once_see_neither_files_nor_processes(rig: Rig) -> None:
    alice, bob = await asyncio.gather(
        rig.python(rig.alice, SEE_OTHERS, args=["alice-was-here"]),
        rig.python(rig.bob, SEE_OTHERS, args=["bob-was-here"]),
    )
    seen_by_alice, seen_by_bob = json.loads(alice["stdout"]), json.loads(bob["stdout"])
    assert "alice-was-here" in seen_by_alice["files"]
    assert "bob-was-here" not in seen_by_alice["files"]
    assert "bob-was-here" in seen_by_bob["files"]
    assert "alice-was-here" not in seen_by_bob["files"]
    # Only the run itself (pid 1, the interpreter) lives in each pid namespace.
    assert seen_by_alice["procs"] == 1 and seen_by_bob["procs"] == 1
    assert seen_by_alice["hostname"] == "nox-sandbox"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the probe uses x86-64 numbers")
async def test_dangerous_syscalls_are_refused_by_the_filter(rig: Rig) -> None:
    out = json.loads((await rig.python(rig.alice, SYSCALLS))["stdout"])
    assert out.pop("getpid") == "ok"
    assert set(out.values()) == {"EPERM"}, out
