"""Every call the client makes, described once: the sync and async clients only send them.

A ``Call`` says method, path and body; ``parse`` turns a successful response into the typed
result. Errors become ``NoxError`` from the problem document, in one place. Each function here
is a method of ``NoxClient`` and ``AsyncNoxClient`` with the same parameters (``app.client.sync``
and ``app.client.asynchronous`` derive them), so a parameter list is written only here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from app.auth.schemas import MePublic, TokenCreated, TokenPublic
from app.client.errors import NoxError
from app.jobs.models import RunJob
from app.sandbox.interface import FileInfo, RunPublic

T = TypeVar("T")
M = TypeVar("M", bound=Callable[..., Any])
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


def build(http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
    """The request for ``call`` on either client (its own timeout, else the client's)."""
    timeout = httpx.USE_CLIENT_DEFAULT if call.timeout_s is None else call.timeout_s
    return http.build_request(
        call.method,
        call.path,
        json=call.json,
        content=call.content,
        params=call.params,
        headers=call.headers,
        timeout=timeout,
    )


def method_like(method: M, call: Callable[..., Call[Any]]) -> M:
    """``method``, named, documented and signed at run time as ``call`` with ``self`` first:
    what ``help()`` and ``inspect.signature`` show (type checkers see it through ParamSpec)."""
    signature = inspect.signature(call)
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    target: Any = method
    target.__name__ = target.__qualname__ = call.__name__
    target.__doc__ = call.__doc__
    target.__signature__ = signature.replace(
        parameters=[this, *signature.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )
    return method


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


class RunOptions(TypedDict, total=False):
    """What a run may add to its source, by keyword; left out, the server's default applies."""

    stdin: str
    args: list[str] | None  # Python runs only
    timeout_s: float | None  # may only lower the wall-clock limit


def _body(language: Language, source: str, options: RunOptions) -> dict[str, Any]:
    args = options.get("args")
    timeout_s = options.get("timeout_s")
    body: dict[str, Any] = {"stdin": options.get("stdin", "")}
    if language == "python":
        body |= {"code": source, "args": args or []}
    elif args:
        raise ValueError("shell runs take no arguments")
    else:
        body["script"] = source
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    return body


def _run_wait(options: RunOptions) -> float:
    """How long the client waits for a synchronous run: the run, queueing, and a margin."""
    return (options.get("timeout_s") or 300.0) + 60.0


def run(language: Language, source: str, **options: Unpack[RunOptions]) -> Call[RunPublic]:
    return Call(
        "POST",
        f"/api/v7/run/{language}",
        _model(RunPublic),
        json=_body(language, source, options),
        timeout_s=_run_wait(options),
    )


def run_python(code: str, **options: Unpack[RunOptions]) -> Call[RunPublic]:
    return run("python", code, **options)


def run_shell(script: str, **options: Unpack[RunOptions]) -> Call[RunPublic]:
    return run("shell", script, **options)


def stream(language: Language, source: str, **options: Unpack[RunOptions]) -> Call[None]:
    """Output events as the program writes them, then ``Finished`` (or ``Failed``)."""
    return Call(
        "POST",
        f"/api/v7/run/{language}",
        _nothing,
        json=_body(language, source, options),
        headers={"Accept": EVENT_STREAM},
        timeout_s=_run_wait(options),
    )


def submit(language: Language, source: str, **options: Unpack[RunOptions]) -> Call[RunJob]:
    """An asynchronous run: answered at once with the job to follow, wait for or cancel."""
    body = _body(language, source, options) | {"language": language}
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
