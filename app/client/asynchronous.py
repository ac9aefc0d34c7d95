"""``AsyncNoxClient``: the asynchronous client, method for method the same as ``NoxClient``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

from app.auth.schemas import MePublic, TokenCreated, TokenPublic
from app.client import calls
from app.client.calls import Call, Language, checked
from app.client.config import ClientConfig
from app.client.errors import NoxConnectionError
from app.client.events import TERMINAL, RunEvent, SseParser
from app.client.sync import DEFAULT_TIMEOUT_S, client_headers
from app.jobs.models import RunJob
from app.sandbox.interface import FileInfo, RunPublic

T = TypeVar("T")


class AsyncNoxClient:
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

    def _request(self, call: Call[T]) -> httpx.Request:
        timeout = httpx.USE_CLIENT_DEFAULT if call.timeout_s is None else call.timeout_s
        return self._http.build_request(
            call.method,
            call.path,
            json=call.json,
            content=call.content,
            params=call.params,
            headers=call.headers,
            timeout=timeout,
        )

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(self._request(call))
        except httpx.HTTPError as exc:
            raise NoxConnectionError(self.url, exc) from exc
        return call.parse(checked(response))

    async def _events(self, call: Call[None]) -> AsyncIterator[RunEvent]:
        parser = SseParser()
        try:
            response = await self._http.send(self._request(call), stream=True)
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
    async def run(
        self,
        language: Language,
        source: str,
        *,
        stdin: str = "",
        args: list[str] | None = None,
        timeout_s: float | None = None,
    ) -> RunPublic:
        return await self._send(calls.run(language, source, stdin, args, timeout_s))

    async def run_python(self, code: str, **kwargs: object) -> RunPublic:
        return await self.run("python", code, **kwargs)  # type: ignore[arg-type]

    async def run_shell(self, script: str, **kwargs: object) -> RunPublic:
        return await self.run("shell", script, **kwargs)  # type: ignore[arg-type]

    def stream(
        self,
        language: Language,
        source: str,
        *,
        stdin: str = "",
        args: list[str] | None = None,
        timeout_s: float | None = None,
    ) -> AsyncIterator[RunEvent]:
        """Output events as the program writes them, then ``Finished`` (or ``Failed``)."""
        return self._events(calls.stream(language, source, stdin, args, timeout_s))

    async def submit(
        self,
        language: Language,
        source: str,
        *,
        stdin: str = "",
        args: list[str] | None = None,
        timeout_s: float | None = None,
    ) -> RunJob:
        return await self._send(calls.submit(language, source, stdin, args, timeout_s))

    async def job(self, job_id: str) -> RunJob:
        return await self._send(calls.job(job_id))

    async def cancel(self, job_id: str) -> None:
        await self._send(calls.cancel(job_id))

    def follow(self, job_id: str, after: int | None = None) -> AsyncIterator[RunEvent]:
        return self._events(calls.follow(job_id, after))

    async def wait(self, job_id: str, poll_s: float = 0.5, timeout_s: float = 600.0) -> RunJob:
        """Poll until the job has ended."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = await self.job(job_id)
            if state.status.terminal or time.monotonic() > deadline:
                return state
            await asyncio.sleep(poll_s)

    # Files
    async def put_file(self, path: str, data: bytes) -> FileInfo:
        return await self._send(calls.put_file(path, data))

    async def get_file(self, path: str) -> bytes:
        return await self._send(calls.get_file(path))

    async def list_files(self, prefix: str = "") -> list[FileInfo]:
        return await self._send(calls.list_files(prefix))

    async def delete_file(self, path: str) -> None:
        await self._send(calls.delete_file(path))

    # Identity and tokens
    async def me(self) -> MePublic:
        return await self._send(calls.me())

    async def create_token(self, name: str = "") -> TokenCreated:
        return await self._send(calls.create_token(name))

    async def list_tokens(self) -> list[TokenPublic]:
        return await self._send(calls.list_tokens())

    async def revoke_token(self, token_id: int) -> None:
        await self._send(calls.revoke_token(token_id))
