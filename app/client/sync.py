"""``NoxClient``: the synchronous client (each method is one call of ``app.client.calls``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

from app import __version__
from app.auth.schemas import MePublic, TokenCreated, TokenPublic
from app.client import calls
from app.client.calls import Call, Language, checked
from app.client.config import ClientConfig
from app.client.errors import NoxConnectionError
from app.client.events import TERMINAL, RunEvent, SseParser
from app.jobs.models import RunJob
from app.sandbox.interface import FileInfo, RunPublic

T = TypeVar("T")
USER_AGENT = f"nox-client/{__version__}"
DEFAULT_TIMEOUT_S = 30.0


def client_headers(token: str) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class NoxClient:
    def __init__(
        self,
        url: str,
        token: str = "",
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str = True,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers=client_headers(token),
            timeout=timeout_s,
            transport=transport,
            verify=verify,
        )

    @classmethod
    def from_config(
        cls, url: str | None = None, token: str | None = None, config: Path | None = None
    ) -> NoxClient:
        resolved = ClientConfig.resolve(url, token, config)
        return cls(resolved.url, resolved.token)

    def __enter__(self) -> NoxClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

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

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.send(self._request(call))
        except httpx.HTTPError as exc:
            raise NoxConnectionError(self.url, exc) from exc
        return call.parse(checked(response))

    def _events(self, call: Call[None]) -> Iterator[RunEvent]:
        parser = SseParser()
        try:
            response = self._http.send(self._request(call), stream=True)
        except httpx.HTTPError as exc:
            raise NoxConnectionError(self.url, exc) from exc
        try:
            if response.status_code >= 400:
                response.read()
                checked(response)
            for line in response.iter_lines():
                event = parser.feed(line)
                if event is not None:
                    yield event
                    if isinstance(event, TERMINAL):
                        return
        except httpx.HTTPError as exc:
            raise NoxConnectionError(self.url, exc) from exc
        finally:
            response.close()  # leaving early closes the stream: the server stops the run

    # Runs
    def run(
        self,
        language: Language,
        source: str,
        *,
        stdin: str = "",
        args: list[str] | None = None,
        timeout_s: float | None = None,
    ) -> RunPublic:
        return self._send(calls.run(language, source, stdin, args, timeout_s))

    def run_python(self, code: str, **kwargs: object) -> RunPublic:
        return self.run("python", code, **kwargs)  # type: ignore[arg-type]

    def run_shell(self, script: str, **kwargs: object) -> RunPublic:
        return self.run("shell", script, **kwargs)  # type: ignore[arg-type]

    def stream(
        self,
        language: Language,
        source: str,
        *,
        stdin: str = "",
        args: list[str] | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[RunEvent]:
        """Output events as the program writes them, then ``Finished`` (or ``Failed``)."""
        return self._events(calls.stream(language, source, stdin, args, timeout_s))

    def submit(
        self,
        language: Language,
        source: str,
        *,
        stdin: str = "",
        args: list[str] | None = None,
        timeout_s: float | None = None,
    ) -> RunJob:
        return self._send(calls.submit(language, source, stdin, args, timeout_s))

    def job(self, job_id: str) -> RunJob:
        return self._send(calls.job(job_id))

    def cancel(self, job_id: str) -> None:
        self._send(calls.cancel(job_id))

    def follow(self, job_id: str, after: int | None = None) -> Iterator[RunEvent]:
        return self._events(calls.follow(job_id, after))

    def wait(self, job_id: str, poll_s: float = 0.5, timeout_s: float = 600.0) -> RunJob:
        """Poll until the job has ended."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.job(job_id)
            if state.status.terminal or time.monotonic() > deadline:
                return state
            time.sleep(poll_s)

    # Files
    def put_file(self, path: str, data: bytes) -> FileInfo:
        return self._send(calls.put_file(path, data))

    def get_file(self, path: str) -> bytes:
        return self._send(calls.get_file(path))

    def list_files(self, prefix: str = "") -> list[FileInfo]:
        return self._send(calls.list_files(prefix))

    def delete_file(self, path: str) -> None:
        self._send(calls.delete_file(path))

    # Identity and tokens
    def me(self) -> MePublic:
        return self._send(calls.me())

    def create_token(self, name: str = "") -> TokenCreated:
        return self._send(calls.create_token(name))

    def list_tokens(self) -> list[TokenPublic]:
        return self._send(calls.list_tokens())

    def revoke_token(self, token_id: int) -> None:
        self._send(calls.revoke_token(token_id))
