"""Liveness, readiness, metrics and the status document."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import __version__
from app.backup.pitr_metrics import refresh_pitr_backup_metric
from app.backup.service import refresh_archiver_metrics, refresh_backup_metric
from app.observability.checks import (
    READINESS_COMPONENTS,
    check_components,
    is_ready,
    refresh_disk_metrics,
)
from app.observability.metrics import REGISTRY
from app.state import StateDep

router = APIRouter(tags=["observability"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    components = await check_components(state)
    ready = is_ready(components)
    body = {
        "status": "ready" if ready else "not ready",
        "required": list(READINESS_COMPONENTS),
        "components": {name: c.model_dump() for name, c in components.items()},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(state: StateDep) -> Response:
    await check_components(state)
    refresh_disk_metrics(state)
    await refresh_backup_metric(state.sessionmaker)
    await refresh_archiver_metrics(state.sessionmaker)
    await refresh_pitr_backup_metric(state.sessionmaker)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v7/status")
async def status(state: StateDep) -> dict[str, object]:
    components = await check_components(state)
    return {
        "service": "nox",
        "version": __version__,
        "environment": state.settings.env.value,
        "components": {name: c.model_dump() for name, c in components.items()},
    }
