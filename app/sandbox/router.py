"""``POST /api/v7/run/python`` and ``/api/v7/run/shell``: 200 whenever the sandbox ran."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator

from app.auth.deps import CurrentUser
from app.sandbox.interface import Language, RunPublic
from app.sandbox.service import run_for_user

router = APIRouter(prefix="/api/v7/run", tags=["run"])


class PythonRun(BaseModel):
    code: str
    stdin: str = ""
    args: list[str] = Field(default_factory=list, max_length=64)
    timeout_s: float | None = Field(default=None, gt=0, description="may only lower the wall limit")

    @field_validator("args")
    @classmethod
    def _args_fit_argv(cls, args: list[str]) -> list[str]:
        if any("\x00" in a or len(a) > 4096 for a in args):
            raise ValueError("each argument must be under 4096 characters without NUL")
        return args


class ShellRun(BaseModel):
    script: str
    stdin: str = ""
    timeout_s: float | None = Field(default=None, gt=0, description="may only lower the wall limit")


@router.post("/python")
async def run_python(body: PythonRun, request: Request, user: CurrentUser) -> RunPublic:
    result = await run_for_user(
        request, user=user, language=Language.python, source=body.code,
        stdin=body.stdin, args=body.args, timeout_s=body.timeout_s,
    )  # fmt: skip
    return RunPublic.model_validate(result.model_dump())


@router.post("/shell")
async def run_shell(body: ShellRun, request: Request, user: CurrentUser) -> RunPublic:
    result = await run_for_user(
        request, user=user, language=Language.shell, source=body.script,
        stdin=body.stdin, timeout_s=body.timeout_s,
    )  # fmt: skip
    return RunPublic.model_validate(result.model_dump())
