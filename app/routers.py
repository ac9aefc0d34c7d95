"""Every router the api serves, in one list (order matters only for overlapping paths)."""

from __future__ import annotations

from fastapi import APIRouter

from app.audit.router import router as audit_router
from app.auth.oauth.routes import router as oauth_router
from app.auth.router import router as auth_router
from app.files.router import router as files_router
from app.jobs.router import router as jobs_router
from app.legacy.router import router as legacy_router
from app.observability.router import router as observability_router
from app.sandbox.router import router as run_router
from app.users.router import router as users_router

ROUTERS: list[APIRouter] = [
    observability_router,
    auth_router,
    oauth_router,
    users_router,
    audit_router,
    run_router,
    jobs_router,
    files_router,
    legacy_router,
]
