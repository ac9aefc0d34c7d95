"""``/api/v7/files``: upload, download, list and delete files of the caller's workspace."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel

from app.audit.service import AuditDep
from app.auth.deps import CurrentUser
from app.files import service
from app.sandbox.interface import FileInfo
from app.sandbox.workspace import PATH_PATTERN, PREFIX_PATTERN
from app.state import StateDep

router = APIRouter(prefix="/api/v7/files", tags=["files"])
# The pattern is documented, not checked here: the workspace checks it, so a refused path is
# still counted and audited like any other refusal.
FilePath = Annotated[str, PathParam(json_schema_extra={"pattern": PATH_PATTERN})]


class FileList(BaseModel):
    files: list[FileInfo]


@router.put("/{path:path}", status_code=201)
async def upload(
    path: FilePath, request: Request, user: CurrentUser, state: StateDep, audit: AuditDep
) -> FileInfo:
    data = await service.read_body(request, state.settings.sandbox.upload_bytes)
    return await service.put_file(state, audit, user=user, path=path, data=data)


@router.get(
    "/{path:path}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download(path: FilePath, user: CurrentUser, state: StateDep) -> Response:
    if not path:
        return await listing(user, state)
    data = await service.get_file(state, user=user, path=path)
    return Response(data, media_type="application/octet-stream")


@router.get("")
async def listing(
    user: CurrentUser,
    state: StateDep,
    prefix: Annotated[str, Query(json_schema_extra={"pattern": PREFIX_PATTERN})] = "",
) -> Response:
    files = await service.list_files(state, user=user, prefix=prefix)
    return Response(FileList(files=files).model_dump_json(), media_type="application/json")


@router.delete("/{path:path}", status_code=204)
async def delete(path: FilePath, user: CurrentUser, state: StateDep, audit: AuditDep) -> Response:
    await service.delete_file(state, audit, user=user, path=path)
    return Response(status_code=204)
