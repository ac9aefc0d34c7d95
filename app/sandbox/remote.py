"""The api's client of the ``nox executor`` service (same ``Executor`` interface, over HTTP).

Any failure to reach or use the executor becomes ``ExecutorUnavailable`` (the api answers 503);
a refused file operation comes back as the same ``WorkspaceError`` the local backends raise.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from app.observability.context import request_id_var
from app.observability.middleware import REQUEST_ID_HEADER
from app.sandbox.admission import SandboxesBusy
from app.sandbox.interface import (
    ExecutorHealth,
    ExecutorUnavailable,
    FileInfo,
    RunObserver,
    RunRequest,
    RunResult,
    WorkspaceError,
    WorkspaceUsage,
)
from app.sandbox.workspace import validate_workspace_id

RUN_MARGIN_S = 10.0
CALL_TIMEOUT_S = 30.0


def _is_json(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.startswith("application/json")


class RemoteExecutor:
    def __init__(
        self,
        base_url: str,
        secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        queue_wait_s: float = 0.0,
    ):
        self.queue_wait_s = queue_wait_s  # how long the executor may hold a run in its queue
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {secret}"},
            timeout=CALL_TIMEOUT_S,
            transport=transport,
        )

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            headers = {REQUEST_ID_HEADER: request_id_var.get()} if request_id_var.get() else None
            response = await self._client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ExecutorUnavailable(f"executor unreachable: {type(exc).__name__}") from exc
        return self._checked(response)

    def _checked(self, response: httpx.Response) -> httpx.Response:
        if response.status_code == 422 and response.headers.get("x-nox-workspace-error"):
            body = response.json()
            raise WorkspaceError(body["kind"], body["detail"])
        if response.status_code == 401:
            raise ExecutorUnavailable("executor refused the shared secret (NOX_EXECUTOR_SECRET)")
        if response.status_code == 503:
            body = response.json() if _is_json(response) else {}
            if body.get("busy"):  # admission: every sandbox slot taken, not an outage
                retry = int(body.get("retry_after", 1))
                raise SandboxesBusy(body["busy"], body.get("detail", ""), retry)
            detail = body.get("detail", "")
            raise ExecutorUnavailable(f"executor answered 503: {detail}"[:300])
        if response.status_code >= 400:
            raise ExecutorUnavailable(f"executor answered {response.status_code}")
        return response

    async def run(self, request: RunRequest, observer: RunObserver | None = None) -> RunResult:
        timeout = self.queue_wait_s + request.limits.wall_s + RUN_MARGIN_S
        if observer is not None:
            return await self._run_streamed(request, observer, timeout)
        response = await self._call("POST", "/v1/run", json=request.model_dump(), timeout=timeout)
        return RunResult.model_validate(response.json())

    async def _run_streamed(
        self, request: RunRequest, observer: RunObserver, wait_s: float
    ) -> RunResult:
        """``/v1/run/stream``: NDJSON events; leaving early (cancelled) closes the connection,
        and the executor stops the run at its next write."""
        body = request.model_dump()
        try:
            async with self._client.stream(
                "POST", "/v1/run/stream", json=body, timeout=wait_s
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    self._checked(response)
                async for line in response.aiter_lines():
                    message = json.loads(line)
                    event = message["event"]
                    if event == "started":
                        observer.started()
                    elif event == "output":
                        observer.output(message["stream"], message["text"])
                    elif event == "result":
                        return RunResult.model_validate(message["result"])
                    elif event == "error":
                        raise ExecutorUnavailable(f"executor failed the run: {message['detail']}")
        except httpx.HTTPError as exc:
            raise ExecutorUnavailable(f"executor unreachable: {type(exc).__name__}") from exc
        raise ExecutorUnavailable("executor ended the run's stream without a result")

    async def health(self) -> ExecutorHealth:
        try:
            response = await self._call("GET", "/v1/health", timeout=2.0)
        except ExecutorUnavailable as exc:
            return ExecutorHealth(backend="remote", ok=False, detail=str(exc))
        inner = ExecutorHealth.model_validate(response.json())
        detail = f"{inner.backend}" + (f": {inner.detail}" if inner.detail else "")
        return ExecutorHealth(backend="remote", ok=inner.ok, detail=detail)

    def _file_url(self, workspace: str) -> str:
        return f"/v1/workspaces/{validate_workspace_id(workspace)}/file"

    async def write_file(self, workspace: str, path: str, data: bytes) -> FileInfo:
        url = self._file_url(workspace)
        response = await self._call("PUT", url, params={"path": path}, content=data)
        return FileInfo.model_validate(response.json())

    async def read_file(self, workspace: str, path: str) -> bytes:
        response = await self._call("GET", self._file_url(workspace), params={"path": path})
        return response.content

    async def list_files(self, workspace: str, prefix: str = "") -> list[FileInfo]:
        response = await self._call(
            "GET",
            f"/v1/workspaces/{validate_workspace_id(workspace)}/files",
            params={"prefix": prefix},
        )
        return [FileInfo.model_validate(item) for item in response.json()]

    async def delete_file(self, workspace: str, path: str) -> None:
        await self._call("DELETE", self._file_url(workspace), params={"path": path})

    async def usage(self, workspace: str) -> WorkspaceUsage:
        response = await self._call(
            "GET", f"/v1/workspaces/{validate_workspace_id(workspace)}/usage"
        )
        return WorkspaceUsage.model_validate(response.json())

    async def aclose(self) -> None:
        await self._client.aclose()
