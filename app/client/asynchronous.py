"""``AsyncNoxClient``: the asynchronous client, method for method the same as ``NoxClient``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from app.client import calls
from app.client.calls import Call, build, checked, method_like
from app.client.config import ClientConfig
from app.client.errors import NoxConnectionError
from app.client.events import TERMINAL, RunEvent, SseParser
from app.client.sync import DEFAULT_TIMEOUT_S, client_headers
from app.jobs.models import RunJob

T = TypeVar("T")
P = ParamSpec("P")


def _sends(
    call: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncNoxClient, P], Coroutine[Any, Any, T]]:
    """The method that sends ``call`` and answers its parsed result."""

    async def method(self: AsyncNoxClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._send(call(*args, **kwargs))

    return method_like(method, call)


def _streams(
    call: Callable[P, Call[None]],
) -> Callable[Concatenate[AsyncNoxClient, P], AsyncIterator[RunEvent]]:
    """The method that sends ``call`` and yields its events as they arrive."""

    def method(
        self: AsyncNoxClient, /, *args: P.args, **kwargs: P.kwargs
    ) -> AsyncIterator[RunEvent]:
        return self._events(call(*args, **kwargs))

    return method_like(method, call)


class AsyncNoxClient:
    """``NoxClient``'s methods, awaited (``stream`` and ``follow`` are async iterators)."""

    def __init__(
        self,
        url: str,
        token: str = "",
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str = True,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=client_headers(token),
            timeout=timeout_s,
            transport=transport,
            verify=verify,
        )

    @classmethod
    def from_config(
        cls, url: str | None = None, token: str | None = None, config: Path | None = None
    ) -> AsyncNoxClient:
        resolved = ClientConfig.resolve(url, token, config)
        return cls(resolved.url, resolved.token)

    async def __aenter__(self) -> AsyncNoxClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(build(self._http, call))
        except httpx.HTTPError as exc:
            raise NoxConnectionError(self.url, exc) from exc
        return call.parse(checked(response))

    async def _events(self, call: Call[None]) -> AsyncIterator[RunEvent]:
        parser = SseParser()
        try:
            response = await self._http.send(build(self._http, call), stream=True)
        except httpx.HTTPError as exc:
            raise NoxConnectionError(self.url, exc) from exc
        try:
            if response.status_code >= 400:
                await response.aread()
                checked(response)
            async for line in response.aiter_lines():
                event = parser.feed(line)
                if event is not None:
                    yield event
                    if isinstance(event, TERMINAL):
                        return
        except httpx.HTTPError as exc:
            raise NoxConnectionError(self.url, exc) from exc
        finally:
            await response.aclose()  # leaving early closes the stream: the server stops the run

    # Runs
    run = _sends(calls.run)
    run_python = _sends(calls.run_python)
    run_shell = _sends(calls.run_shell)
    stream = _streams(calls.stream)
    submit = _sends(calls.submit)
    job = _sends(calls.job)
    cancel = _sends(calls.cancel)
    follow = _streams(calls.follow)

    async def wait(self, job_id: str, poll_s: float = 0.5, timeout_s: float = 600.0) -> RunJob:
        """Poll until the job has ended."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = await self.job(job_id)
            if state.status.terminal or time.monotonic() > deadline:
                return state
            await asyncio.sleep(poll_s)

    # Files
    put_file = _sends(calls.put_file)
    get_file = _sends(calls.get_file)
    list_files = _sends(calls.list_files)
    delete_file = _sends(calls.delete_file)

    # Identity and tokens
    me = _sends(calls.me)
    create_token = _sends(calls.create_token)
    list_tokens = _sends(calls.list_tokens)
    revoke_token = _sends(calls.revoke_token)
