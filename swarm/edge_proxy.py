"""Edge of the Swarm stack: a tiny HTTP/1.1 reverse proxy over the api's DNS round-robin.

Why it exists: this kernel has no IPVS, so Swarm's routing mesh (ingress VIPs) does not work,
and two api replicas cannot share one host-mode port. The api therefore runs with
``endpoint_mode: dnsrr`` and this proxy, published in host mode, resolves the service name on
every request and forwards to one of the current task addresses.

What makes a rolling update invisible to clients:
- the name is resolved per request, so a task Swarm removed from DNS gets no new requests;
- one upstream connection per request (``Connection: close``), so no pooled connection
  outlives a stopping task;
- a failed connect is retried on the next address, and idempotent requests are also retried
  when the upstream closed before sending a single byte (a task stopping under our feet);
- while no address answers, retry for ``EDGE_RETRY_S`` before answering 502.

Standard library only: it runs from the Nox image's own interpreter as a Docker config.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time

LISTEN_PORT = int(os.environ.get("EDGE_LISTEN_PORT", "8080"))
UPSTREAM_HOST = os.environ.get("EDGE_UPSTREAM_HOST", "api")
UPSTREAM_PORT = int(os.environ.get("EDGE_UPSTREAM_PORT", "8000"))
CONNECT_TIMEOUT_S = float(os.environ.get("EDGE_CONNECT_TIMEOUT_S", "1.0"))
RETRY_S = float(os.environ.get("EDGE_RETRY_S", "10.0"))
RESPONSE_TIMEOUT_S = float(os.environ.get("EDGE_RESPONSE_TIMEOUT_S", "120"))
MAX_HEAD = 64 * 1024
MAX_BODY = int(os.environ.get("EDGE_MAX_BODY", str(64 * 1024 * 1024)))
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "upgrade", "te"})

_turn = itertools.count()


class BadRequest(Exception):
    pass


def log(message: str) -> None:
    print(f"edge: {message}", file=sys.stderr, flush=True)


async def read_request(reader: asyncio.StreamReader) -> tuple[str, bytes] | None:
    """The request rewritten for the upstream (method, bytes); None on a closed connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as exc:
        raise BadRequest("request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    method = lines[0].split(" ", 1)[0]
    headers = [line for line in lines[1:] if line]
    names = [h.split(":", 1)[0].strip().lower() for h in headers]
    if "transfer-encoding" in names:
        raise BadRequest("chunked request bodies are not supported by the edge")
    length = 0
    for name, line in zip(names, headers, strict=True):
        if name == "content-length":
            length = int(line.split(":", 1)[1])
    if length > MAX_BODY:
        raise BadRequest("request body too large")
    body = await reader.readexactly(length) if length else b""
    kept = [h for n, h in zip(names, headers, strict=True) if n not in HOP_BY_HOP]
    upstream_head = "\r\n".join([lines[0], *kept, "Connection: close", "", ""])
    return method, upstream_head.encode("latin-1") + body


async def upstream_addresses() -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(UPSTREAM_HOST, UPSTREAM_PORT, type=1)  # SOCK_STREAM
    except OSError:
        return []
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        return []
    start = next(_turn) % len(addresses)
    return addresses[start:] + addresses[:start]


async def exchange(address: str, request: bytes, client: asyncio.StreamWriter) -> bool:
    """Send ``request`` to one task; True once any response byte reached the client.

    Connect errors propagate (always safe to retry); errors after the first response byte
    end the exchange, as the client already holds part of the answer.
    """
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(address, UPSTREAM_PORT), CONNECT_TIMEOUT_S
    )
    sent_any = False
    try:
        writer.write(request)
        await writer.drain()
        while chunk := await asyncio.wait_for(reader.read(65536), RESPONSE_TIMEOUT_S):
            client.write(chunk)
            await client.drain()
            sent_any = True
    except (OSError, TimeoutError) as exc:
        log(f"{address}: exchange failed after connect: {exc!r}")
    finally:
        writer.close()
    return sent_any


async def proxy(method: str, request: bytes, client: asyncio.StreamWriter) -> None:
    deadline = time.monotonic() + RETRY_S
    while time.monotonic() < deadline:
        for address in await upstream_addresses():
            try:
                if await exchange(address, request, client):
                    return
            except (OSError, TimeoutError) as exc:
                log(f"{address}: connect failed ({exc!r}); trying the next task")
                continue
            if method not in IDEMPOTENT:
                break  # the upstream may have acted on it: never replay a POST
            log(f"{address}: closed before answering; retrying {method} on the next task")
        else:
            await asyncio.sleep(0.1)
            continue
        break
    problem = b'{"type":"about:blank","title":"Bad Gateway","status":502}'
    client.write(
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/problem+json\r\n"
        + f"Content-Length: {len(problem)}\r\nConnection: close\r\n\r\n".encode()
        + problem
    )


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        parsed = await read_request(reader)
        if parsed is not None:
            await proxy(*parsed, writer)
    except (BadRequest, ValueError) as exc:
        writer.write(f"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n{exc}".encode())
    except (ConnectionError, TimeoutError) as exc:
        log(f"client connection ended: {exc!r}")
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "0.0.0.0", LISTEN_PORT, limit=MAX_HEAD)  # noqa: S104
    log(f"listening on :{LISTEN_PORT}, upstream {UPSTREAM_HOST}:{UPSTREAM_PORT}")
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
