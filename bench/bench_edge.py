"""The HAProxy edge against one api replica straight, same run: what TLS and the proxy cost.

Brings up compose.yaml with the `edge` profile (PostgreSQL, Redis, executor, one api, the
edge with a certificate from a CA made here), creates a token, then drives
`GET /api/v7/auth/me` with wrk in interleaved rounds:
- direct: http://127.0.0.1:<api port> (the api's own published port, plain HTTP/1.1);
- edge:   https://127.0.0.1:<edge port> (TLS, HAProxy, keep-alive HTTP/1.1 to the api).
Prints requests/s, p50/p95 per round, the median ratio (target: the edge keeps >= 0.85x of
the direct throughput) and the TLS handshake time of fresh connections (no resumption).
The per-user rate limit is raised for the run, since wrk would otherwise measure 429s.
Run under `flock /tmp/nox-bench.lock`; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wrk import Load, run_wrk
from tests.container.engine import PREFIX, Compose
from tests.container.swarm_support import free_port, make_test_ca, nox_image, stand_in_env

OVERRIDE = """services:
  api:
    environment:
      NOX_QUOTAS__REQUESTS_PER_MINUTE: "100000000"
"""


def handshake_ms(port: int, context: ssl.SSLContext, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            started = time.perf_counter()
            with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                times.append((time.perf_counter() - started) * 1000)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nox-bench-edge-"))
    ca = make_test_ca(work / "tls")
    work.chmod(0o755)
    (work / "tls").chmod(0o755)
    ca.key.chmod(0o644)  # a throwaway key: the edge's uid 990 must read the bind-mounted file
    (work / "override.yaml").write_text(OVERRIDE)
    stand_ins = stand_in_env()
    api_port, edge_port, http_port = free_port(), free_port(), free_port()
    env = {
        **stand_ins,
        "NOX_IMAGE": nox_image(),
        "API_PUBLISHED_PORT": str(api_port),
        "EDGE_HTTPS_PORT": str(edge_port),
        "EDGE_HTTP_PORT": str(http_port),
        "EDGE_TLS_CERT_FILE": str(ca.cert),
        "EDGE_TLS_KEY_FILE": str(ca.key),
        "NOX_SECRET_KEY": secrets.token_hex(32),
        "NOX_EXECUTOR_SECRET": secrets.token_hex(32),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "REDIS_PASSWORD": secrets.token_hex(16),
        "COMPOSE_ENV_FILES": os.devnull,
    }
    compose = Compose(
        project=f"{PREFIX}-bench-edge",
        files=["compose.yaml", str(work / "override.yaml")],
        env=env,
        profiles=["edge"],
    )
    try:
        compose("up", "-d", "--wait", "--wait-timeout", "180", "--no-build")
        made = compose("exec", "-T", "api", "nox", "token", "create", "--email", "b@nox.test")
        token = made.stdout.strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {token}"}
        urls = {
            "direct": f"http://127.0.0.1:{api_port}/api/v7/auth/me",
            "edge": f"https://127.0.0.1:{edge_port}/api/v7/auth/me",
        }
        # wrk does not verify certificates; the handshake check below does
        results: dict[str, list[Load]] = {name: [] for name in urls}
        for url in urls.values():  # warm-up
            run_wrk(url, seconds=2, connections=args.connections, headers=headers)
        for _ in range(args.rounds):
            for name, url in urls.items():
                load = run_wrk(
                    url, seconds=args.seconds, connections=args.connections, headers=headers
                )
                results[name].append(load)
                print(load.line(name), flush=True)
        context = ca.context()
        tls = handshake_ms(edge_port, context, 200)
        tcp = []
        for _ in range(200):
            started = time.perf_counter()
            socket.create_connection(("127.0.0.1", api_port), timeout=10).close()
            tcp.append((time.perf_counter() - started) * 1000)
    finally:
        compose.down()

    ratios = [e.rps / d.rps for d, e in zip(results["direct"], results["edge"], strict=True)]
    for name in urls:
        loads = results[name]
        print(
            f"{name:<8} median {statistics.median(x.rps for x in loads):8.0f} req/s  "
            f"p50 {statistics.median(x.p50_ms for x in loads):6.2f} ms  "
            f"p95 {statistics.median(x.p95_ms for x in loads):6.2f} ms  "
            f"errors {sum(x.errors for x in loads)}"
        )
    print("edge/direct throughput per round: " + ", ".join(f"{r:.2f}" for r in ratios))
    median = statistics.median(ratios)
    print(f"median {median:.2f}x (target >= 0.85x: {'met' if median >= 0.85 else 'NOT met'})")
    print(
        f"TLS handshake to the edge (new connection, no resumption, 200 tries): "
        f"p50 {pct(tls, 0.5):.2f} ms p95 {pct(tls, 0.95):.2f} ms; "
        f"plain TCP connect to the api p50 {pct(tcp, 0.5):.2f} ms"
    )
    print("load average (1/5/15 min): " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
