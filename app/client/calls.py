"""Every call the client makes, described once: the sync and async clients only send them.

A ``Call`` says method, path and body; ``parse`` turns a successful response into the typed
result. Errors become ``NoxError`` from the problem document, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from app.auth.schemas import MePublic, TokenCreated, TokenPublic
from app.client.errors import NoxError
from app.jobs.models import RunJob
from app.sandbox.interface import FileInfo, RunPublic

T = TypeVar("T")
Language = Literal["python", "shell"]
EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None  # None: the client's default


def checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise NoxError.from_response(response)
    return response


def _model(model: type[BaseModel]) -> Callable[[httpx.Response], Any]:
    return lambda response: model.model_validate_json(response.content)


def _list(model: type[T]) -> Callable[[httpx.Response], list[T]]:
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    return lambda response: adapter.validate_json(response.content)


def _nothing(_response: httpx.Response) -> None:
    return None


def _body(
    language: Language, source: str, stdin: str, args: list[str] | None, timeout_s: float | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"stdin": stdin}
    if language == "python":
        body |= {"code": source, "args": args or []}
    elif args:
        raise ValueError("shell runs take no arguments")
    else:
        body["script"] = source
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    return body


def _run_wait(timeout_s: float | None) -> float:
    """How long the client waits for a synchronous run: the run, queueing, and a margin."""
    return (timeout_s or 300.0) + 60.0


def run(
    language: Language,
    source: str,
    stdin: str = "",
    args: list[str] | None = None,
    timeout_s: float | None = None,
) -> Call[RunPublic]:
    return Call(
        "POST",
        f"/api/v7/run/{language}",
        _model(RunPublic),
        json=_body(language, source, stdin, args, timeout_s),
        timeout_s=_run_wait(timeout_s),
    )


def stream(
    language: Language,
    source: str,
    stdin: str = "",
    args: list[str] | None = None,
    timeout_s: float | None = None,
) -> Call[None]:
    return Call(
        "POST",
        f"/api/v7/run/{language}",
        _nothing,
        json=_body(language, source, stdin, args, timeout_s),
        headers={"Accept": EVENT_STREAM},
        timeout_s=_run_wait(timeout_s),
    )


def submit(
    language: Language,
    source: str,
    stdin: str = "",
    args: list[str] | None = None,
    timeout_s: float | None = None,
) -> Call[RunJob]:
    body = _body(language, source, stdin, args, timeout_s) | {"language": language}
    return Call("POST", "/api/v7/runs", _model(RunJob), json=body)


def job(job_id: str) -> Call[RunJob]:
    return Call("GET", f"/api/v7/runs/{quote(job_id, safe='')}", _model(RunJob))


def cancel(job_id: str) -> Call[None]:
    return Call("DELETE", f"/api/v7/runs/{quote(job_id, safe='')}", _nothing)


def follow(job_id: str, after: int | None = None) -> Call[None]:
    headers = {"Accept": EVENT_STREAM}
    if after is not None:
        headers["Last-Event-ID"] = str(after)
    return Call(
        "GET",
        f"/api/v7/runs/{quote(job_id, safe='')}/events",
        _nothing,
        headers=headers,
        timeout_s=None,
    )


def _segment(segment: str) -> str:
    # Dot segments are percent-encoded: URL normalisation would otherwise resolve them here
    # and send another path than the one asked for (the server refuses them with 422).
    return segment.replace(".", "%2E") if segment in (".", "..") else quote(segment, safe="")


def _file(path: str) -> str:
    return "/api/v7/files/" + "/".join(map(_segment, path.lstrip("/").split("/")))


def put_file(path: str, data: bytes) -> Call[FileInfo]:
    return Call(
        "PUT",
        _file(path),
        _model(FileInfo),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def get_file(path: str) -> Call[bytes]:
    return Call("GET", _file(path), lambda response: response.content)


def list_files(prefix: str = "") -> Call[list[FileInfo]]:
    def parse(response: httpx.Response) -> list[FileInfo]:
        return [FileInfo.model_validate(f) for f in response.json()["files"]]

    return Call("GET", "/api/v7/files", parse, params={"prefix": prefix} if prefix else {})


def delete_file(path: str) -> Call[None]:
    return Call("DELETE", _file(path), _nothing)


def me() -> Call[MePublic]:
    return Call("GET", "/api/v7/auth/me", _model(MePublic))


def create_token(name: str = "") -> Call[TokenCreated]:
    return Call("POST", "/api/v7/auth/tokens", _model(TokenCreated), json={"name": name})


def list_tokens() -> Call[list[TokenPublic]]:
    return Call("GET", "/api/v7/auth/tokens", _list(TokenPublic))


def revoke_token(token_id: int) -> Call[None]:
    return Call("DELETE", f"/api/v7/auth/tokens/{token_id}", _nothing)
