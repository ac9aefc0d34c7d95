"""The HAProxy edge of the Swarm stack, for real: HTTPS with HTTP/2 and HSTS, 301 from plain
HTTP, 413 for a body over the limit before the api sees it, 400 for an oversized head, a
slow client cut by the edge's timeout while others are served, and X-Forwarded-For believed
only from the edge.

One stack (deployed by scripts/deploy.sh) serves the whole module; its edge limits are set
small so the tests stay fast: a 1 MiB body limit and a 3 s request-head timeout.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator

import pytest

from tests.container.swarm_support import (
    SwarmStack,
    docker,
    make_test_ca,
    nox_image,
    swarm_node,
    task_logs,
)
from tests.prereq import require_binary

pytestmark = [pytest.mark.container, pytest.mark.swarm]

MAX_BODY = 1024 * 1024
CLIENT_S = 3
FORGED = "203.0.113.9"  # TEST-NET-3: no client here has this address


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmStack]:
    tmp = tmp_path_factory.mktemp("edge")
    with swarm_node():
        created = SwarmStack(
            tmp / "state",
            make_test_ca(tmp / "tls"),
            NOX_EDGE_MAX_BODY=str(MAX_BODY),
            NOX_EDGE_CLIENT_S=str(CLIENT_S),
        )
        try:
            init = created.deploy_sh("init-secrets")
            assert init.returncode == 0, init.stderr
            deployed = created.deploy_sh("deploy", "--image", nox_image())
            assert deployed.returncode == 0, deployed.stderr
            yield created
        finally:
            created.remove()


def https(stack: SwarmStack) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        "127.0.0.1", stack.port, timeout=15, context=stack.ca.context()
    )


def test_plain_http_is_redirected_to_https_with_301(stack: SwarmStack) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=10)
    conn.request("GET", "/api/v7/status?x=1", headers={"Host": "nox.example"})
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 301
    assert response.getheader("Location") == "https://nox.example/api/v7/status?x=1"


def test_https_negotiates_h2_and_modern_tls_and_sends_hsts(stack: SwarmStack) -> None:
    context = stack.ca.context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", stack.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # a client that offers nothing newer than TLS 1.1 is refused by the edge (the client's
    # own security level is lowered, so the refusal can only come from the server)
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # deprecated on purpose: this is the client to refuse
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version, old.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
    with (
        socket.create_connection(("127.0.0.1", stack.port), timeout=10) as raw,
        pytest.raises(ssl.SSLError, match=r"(?i)protocol.version"),
    ):
        old.wrap_socket(raw, server_hostname="127.0.0.1")
    # a whole request over HTTP/2, certificate verified against the test CA
    curl = require_binary("curl", "apt-get install curl (see .ci/install-deploy.sh)")
    url = f"https://127.0.0.1:{stack.port}/api/v7/status"
    args = ["-sS", "--http2", "-D", "-", "-o", "/dev/null", "-w", "%{http_version} %{http_code}"]
    out = subprocess.run(
        [curl, *args, "--cacert", str(stack.ca.ca), url], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[-1] == "2 200"
    assert re.search(r"(?im)^strict-transport-security: max-age=\d{8,}", out), out


def test_a_body_over_the_limit_gets_413_from_the_edge(stack: SwarmStack) -> None:
    conn = https(stack)
    # only the head is sent: the edge must answer without waiting for the body
    conn.putrequest("PUT", "/api/v7/files/big.bin")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()
    started = time.monotonic()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 413
    assert time.monotonic() - started < 5
    # HAProxy's own page, not the api's problem+json
    assert "problem+json" not in (response.getheader("Content-Type") or "")
    assert b"413" in body
    # a body at the limit passes the edge: the api answers it (no token: its own 401 problem)
    conn = https(stack)
    conn.request("PUT", "/api/v7/files/ok.bin", body=b"x" * MAX_BODY)
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 401
    assert response.getheader("Content-Type") == "application/problem+json"


def test_oversized_request_heads_are_refused_by_the_edge(stack: SwarmStack) -> None:
    # one 20 KiB header (the edge buffers 15 KiB of head), then 150 small headers (cap 100)
    for headers in ({"X-Big": "a" * 20_000}, {f"X-H{i}": "1" for i in range(150)}):
        conn = https(stack)
        conn.request("GET", "/api/v7/status", headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 400, (len(headers), response.status)
        assert "problem+json" not in (response.getheader("Content-Type") or "")
    # an ordinary head passes
    conn = https(stack)
    conn.request("GET", "/api/v7/status", headers={"X-Small": "a" * 1000})
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200


def test_a_slow_client_is_cut_by_the_edge_while_others_are_served(stack: SwarmStack) -> None:
    with stack.load() as load:
        time.sleep(1)
        raw = socket.create_connection(("127.0.0.1", stack.port), timeout=30)
        tls = stack.ca.context().wrap_socket(raw, server_hostname="127.0.0.1")
        started = time.monotonic()
        tls.sendall(b"GET /api/v7/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer = b""
        tls.settimeout(0.5)
        # a header line every half second: each byte arrives, the head never ends
        while time.monotonic() - started < 30:
            try:
                tls.sendall(b"X-Slow: 1\r\n")
                chunk = tls.recv(4096)
                if not chunk:
                    break
                answer += chunk
            except TimeoutError:
                continue
            except (ssl.SSLError, OSError):
                break
        cut_after = time.monotonic() - started
        tls.close()
        time.sleep(1)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert CLIENT_S - 0.5 <= cut_after < CLIENT_S + 5, cut_after
    print(f"\nslow client cut after {cut_after:.1f}s; meanwhile {load.summary()}")
    assert load.failures == []
    assert load.ok >= 20


def service_logs(stack: SwarmStack, service: str) -> str:
    return task_logs(f"{stack.name}_{service}")


def api_client_of(stack: SwarmStack, request_id: str) -> str:
    """The client address the api logged for one request (its JSON request log)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in service_logs(stack, "api").splitlines():
            if request_id in line and line.lstrip().startswith("{"):
                record = json.loads(line)
                if record.get("request_id") == request_id and "client" in record:
                    return str(record["client"])
        time.sleep(1)
    raise AssertionError(f"no api log line for request {request_id}")


def test_the_api_believes_x_forwarded_for_only_from_the_edge(stack: SwarmStack) -> None:
    # through the edge: the forged header is dropped, the edge's own view is passed on
    through = f"edge-{uuid.uuid4().hex}"
    conn = https(stack)
    conn.request(
        "GET",
        f"/api/v7/status?probe={through}",
        headers={"X-Forwarded-For": FORGED, "X-Request-ID": through},
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200
    seen_by_api = api_client_of(stack, through)
    edge_logs = service_logs(stack, "edge")
    access = [ln for ln in edge_logs.splitlines() if f"probe={through}" in ln]
    assert len(access) == 1, edge_logs[-2000:]
    # NCSA Common Log Format: client address first, then the request line
    assert re.match(r'^\S+ - - \[[^]]+\] "GET /api/v7/status\?probe=\S+ HTTP/\S+" 200 ', access[0])
    assert seen_by_api == access[0].split()[0] != FORGED

    # straight to the api from another container (on the backend network, not the edge's):
    # the same forged header is ignored and the api logs the real peer
    direct = f"direct-{uuid.uuid4().hex}"
    probe = (
        "import http.client, socket\n"
        "c = http.client.HTTPConnection('api', 8000, timeout=10)\n"
        f"c.request('GET', '/api/v7/status', headers={{'X-Forwarded-For': '{FORGED}',"
        f" 'X-Request-ID': '{direct}'}})\n"
        "assert c.getresponse().status == 200\n"
        "print(c.sock.getsockname()[0])\n"
    )
    own_address = docker(
        "run", "--rm", "--network", f"{stack.name}_backend", nox_image(), "python", "-c", probe
    )
    assert api_client_of(stack, direct) == own_address != FORGED
