"""The earlier Nox routes (``/health /put /run_py /run_sh /list /cat /delete``), same auth as v7.

Response shapes follow the old API so its clients keep working; all the work is done by the
same services as the v7 routes (sandbox, quotas, audit). ``/run_py``'s ``filename`` is
accepted and ignored: code is no longer written into the workspace before it runs.
"""

from __future__ import annotations

import shlex
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as StarletteUpload

from app.audit.service import AuditDep
from app.auth.deps import CurrentUser
from app.errors import NoxProblem
from app.files import service as files
from app.sandbox.interface import Language, RunResult
from app.sandbox.service import run_for_user
from app.sandbox.workspace import PATH_PATTERN, PREFIX_PATTERN
from app.state import StateDep

router = APIRouter(tags=["legacy"])


class LegacyPython(BaseModel):
    code: str
    filename: str = "run.py"


class LegacyShell(BaseModel):
    # Not blank: the earlier Nox answered an empty command with 400, kept below.
    cmd: Annotated[str, Field(pattern=r"\S")] | Annotated[list[str], Field(min_length=1)]


def _legacy_result(result: RunResult) -> JSONResponse:
    body = {"returncode": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
    # The old API answered a timeout with 408; its clients look for that.
    return JSONResponse(body, status_code=408 if result.timed_out else 200)


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


# Declared by hand: a part may come with or without a filename (a text part is the file's
# content too), and FastAPI's generated schema would call a text part invalid.
PUT_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "f": {"type": "string", "format": "binary", "description": "the file"},
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "the file (the shape the earlier Nox's tests sent)",
                    },
                    "path": {
                        "type": "string",
                        "pattern": f"^$|{PATH_PATTERN}",
                        "description": "where to store it; ?path= or the part's filename also work",
                    },
                },
                "additionalProperties": False,
                "anyOf": [{"required": ["f"]}, {"required": ["file"]}],
            }
        }
    },
}


@router.post("/put", openapi_extra={"requestBody": PUT_BODY})
async def put(
    request: Request,
    user: CurrentUser,
    state: StateDep,
    audit: AuditDep,
    path: Annotated[
        str,
        Query(
            description="where to store the file (or the form's path, or the filename)",
            json_schema_extra={"pattern": f"^$|{PATH_PATTERN}"},
        ),
    ] = "",
) -> dict[str, str]:
    limit = state.settings.sandbox.upload_bytes
    async with request.form(max_files=8, max_fields=8, max_part_size=limit + 1) as form:
        unknown = sorted(set(form.keys()) - {"f", "file", "path"})
        if unknown:
            raise NoxProblem(422, "Unprocessable Content", f"unknown form fields {unknown}")
        upload = form.get("f") or form.get("file")
        if upload is None or upload == "":
            raise NoxProblem(422, "Unprocessable Content", "send the file as multipart field 'f'")
        if isinstance(upload, StarletteUpload):
            data = await upload.read(limit + 1)
            filename = upload.filename or ""
        else:
            data, filename = upload.encode(), ""
        form_path = form.get("path")
    if len(data) > limit:
        raise NoxProblem(413, "Content Too Large", f"upload is over {limit} bytes")
    target = path or (form_path if isinstance(form_path, str) else "") or filename
    info = await files.put_file(state, audit, user=user, path=target, data=data)
    return {"message": f"Uploaded {info.size} bytes to {info.path}"}


@router.post("/run_py")
async def run_py(
    body: LegacyPython, user: CurrentUser, state: StateDep, audit: AuditDep
) -> JSONResponse:
    result = await run_for_user(
        state,
        audit,
        user=user,
        language=Language.python,
        source=body.code,
    )
    return _legacy_result(result)


@router.post("/run_sh")
async def run_sh(
    body: LegacyShell, user: CurrentUser, state: StateDep, audit: AuditDep
) -> JSONResponse:
    script = body.cmd if isinstance(body.cmd, str) else shlex.join(body.cmd)
    if not script.strip():
        raise NoxProblem(400, "Bad Request", "cmd is empty")
    result = await run_for_user(
        state,
        audit,
        user=user,
        language=Language.shell,
        source=script,
    )
    return _legacy_result(result)


@router.get("/list")
async def list_(
    user: CurrentUser,
    state: StateDep,
    path: str = Query("", json_schema_extra={"pattern": PREFIX_PATTERN}),
) -> dict[str, Any]:
    """A directory's files, or the file itself; a path that is neither answers 404 "Path not
    found", as the earlier Nox did."""
    name = path.strip("/")
    found = await files.list_files(state, user=user, prefix=name)
    for entry in found:
        if name and entry.path == name:
            return {"type": "file", "name": name, "size": entry.size, "modified": entry.modified}
    prefix = name + "/" if name else ""
    inside = [f for f in found if f.path.startswith(prefix)]
    if name and not inside:
        raise NoxProblem(404, "Not Found", "Path not found")
    entries = [
        {"type": "file", "name": f.path[len(prefix) :], "size": f.size, "modified": f.modified}
        for f in inside
    ]
    return {"type": "directory", "path": path, "files": entries}


@router.get("/cat")
async def cat(
    user: CurrentUser,
    state: StateDep,
    path: str = Query(json_schema_extra={"pattern": PATH_PATTERN}),
) -> dict[str, str]:
    try:
        data = await files.get_file(state, user=user, path=path)
    except NoxProblem as problem:
        if problem.status != 404:
            raise
        raise NoxProblem(404, "Not Found", f"File not found: {path}") from problem
    try:
        return {"content": data.decode()}
    except UnicodeDecodeError:
        return {"content": f"<binary file, {len(data)} bytes>"}


@router.delete("/delete")
async def delete(
    user: CurrentUser,
    state: StateDep,
    audit: AuditDep,
    path: str = Query(json_schema_extra={"pattern": PATH_PATTERN}),
) -> dict[str, str]:
    await files.delete_file(state, audit, user=user, path=path)
    return {"message": f"Deleted {path}"}
