"""``NoxClient``: the synchronous client (each method is one call of ``app.client.calls``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Concatenate, ParamSpec, TypeVar

import httpx

from app import __version__
from app.client import calls
from app.client.calls import Call, build, checked, method_like
from app.client.config import ClientConfig
from app.client.errors import NoxConnectionError
from app.client.events import TERMINAL, RunEvent, SseParser
from app.jobs.models import RunJob

T = TypeVar("T")
P = ParamSpec("P")
USER_AGENT = f"nox-client/{__version__}"
DEFAULT_TIMEOUT_S = 30.0


def client_headers(token: str) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _sends(call: Callable[P, Call[T]]) -> Callable[Concatenate[NoxClient, P], T]:
    """The method that sends ``call`` and answers its parsed result."""

    def method(self: NoxClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._send(call(*args, **kwargs))

    return method_like(method, call)


def _streams(
    call: Callable[P, Call[None]],
) -> Callable[Concatenate[NoxClient, P], Iterator[RunEvent]]:
    """The method that sends ``call`` and yields its events as they arrive."""

    def method(self: NoxClient, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[RunEvent]:
        return self._events(call(*args, **kwargs))

    return method_like(method, call)


class NoxClient:
    """A method named like a function of ``app.client.calls`` sends that call, with the same
    parameters; ``wait`` polls ``job``."""

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

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.send(build(self._http, call))
        except httpx.HTTPError as exc:
            raise NoxConnectionError(self.url, exc) from exc
        return call.parse(checked(response))

    def _events(self, call: Call[None]) -> Iterator[RunEvent]:
        parser = SseParser()
        try:
            response = self._http.send(build(self._http, call), stream=True)
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
    run = _sends(calls.run)
    run_python = _sends(calls.run_python)
    run_shell = _sends(calls.run_shell)
    stream = _streams(calls.stream)
    submit = _sends(calls.submit)
    job = _sends(calls.job)
    cancel = _sends(calls.cancel)
    follow = _streams(calls.follow)

    def wait(self, job_id: str, poll_s: float = 0.5, timeout_s: float = 600.0) -> RunJob:
        """Poll until the job has ended."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.job(job_id)
            if state.status.terminal or time.monotonic() > deadline:
                return state
            time.sleep(poll_s)

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
