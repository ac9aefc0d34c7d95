"""The Swarm edge proxy (swarm/edge_proxy.py) on loopback: skips dead tasks, never replays a
POST, answers 502 when no task is left. The rollout itself is proven in the container tier."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.services import free_port

PATH = Path(__file__).resolve().parents[2] / "swarm" / "edge_proxy.py"


def load_edge() -> ModuleType:
    spec = importlib.util.spec_from_file_location("edge_proxy", PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Upstream:
    """A task: answers 200 with its name, or (``slam``) closes without answering."""

    def __init__(self, host: str, name: str, *, slam: bool = False) -> None:
        self.host, self.name, self.slam, self.seen = host, name, slam, 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.seen += 1
        if not self.slam:
            body = self.name.encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        writer.close()


@pytest.fixture
async def edge(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[ModuleType, str]]:
    module = load_edge()
    port = free_port()
    monkeypatch.setattr(module, "UPSTREAM_PORT", free_port())
    monkeypatch.setattr(module, "RETRY_S", 1.0)
    server = await asyncio.start_server(module.handle, "127.0.0.1", port)
    yield module, f"http://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


async def serve(module: ModuleType, *upstreams: Upstream) -> list[asyncio.Server]:
    async def addresses() -> list[str]:
        return ["127.0.0.2", *(u.host for u in upstreams)]  # .2: a task already gone

    setattr(module, "upstream_addresses", addresses)  # noqa: B010 - a loaded file, untyped
    return [
        await asyncio.start_server(u.handle, u.host, module.__dict__["UPSTREAM_PORT"])
        for u in upstreams
    ]


async def test_requests_skip_a_task_that_refuses_connections(edge: tuple[ModuleType, str]) -> None:
    module, url = edge
    live = Upstream("127.0.0.3", "live")
    servers = await serve(module, live)
    async with httpx.AsyncClient() as client:
        answers = [await client.get(f"{url}/api/v7/status") for _ in range(5)]
    assert [(a.status_code, a.text) for a in answers] == [(200, "live")] * 5
    for server in servers:
        server.close()


async def test_get_is_retried_but_post_is_never_replayed(edge: tuple[ModuleType, str]) -> None:
    module, url = edge
    slamming, live = Upstream("127.0.0.3", "slam", slam=True), Upstream("127.0.0.4", "live")
    servers = await serve(module, slamming, live)
    async with httpx.AsyncClient() as client:
        got = await client.get(f"{url}/healthz")
        assert (got.status_code, got.text) == (200, "live")
        live.seen = slamming.seen = 0
        posts = [
            await client.post(f"{url}/api/v7/run/python", json={"code": "1"}) for _ in range(4)
        ]
    # the slamming task may have acted on each POST: answer 502, never run it a second time
    assert (slamming.seen, live.seen) == (4, 0)
    assert [p.status_code for p in posts] == [502] * 4
    for server in servers:
        server.close()


async def test_no_task_left_answers_502_problem_json(edge: tuple[ModuleType, str]) -> None:
    module, url = edge
    await serve(module)
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{url}/healthz")
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"
