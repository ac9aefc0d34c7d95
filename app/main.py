"""The api application factory: ``app.main:create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.auth.cache import AuthCache
from app.contract import install_contract
from app.db import make_engine, make_sessionmaker
from app.errors import install_problem_handlers
from app.jobs.runner import JobRunner
from app.observability.metrics import BUILD_INFO
from app.observability.middleware import ObservabilityMiddleware
from app.request_limits import RequestLimits
from app.routers import ROUTERS
from app.sandbox.factory import build_executor
from app.settings import Settings, check_production, check_workers, get_settings
from app.state import AppState
from app.store import make_store


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_production(settings)
    check_workers(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.effective_database_url)
        state = AppState(
            settings=settings,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            store=make_store(settings),
            executor=build_executor(settings),
            auth_cache=AuthCache(settings.auth_cache_ttl_s),
        )
        app.state.nox = state
        app.state.jobs = JobRunner()
        BUILD_INFO.labels(version=__version__, environment=settings.env.value).set(1)
        try:
            yield
        finally:
            await app.state.jobs.aclose()  # interrupts the asynchronous runs still going here
            await state.executor.aclose()
            await state.store.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Nox",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    install_problem_handlers(app)
    app.add_middleware(RequestLimits)  # inside the observability one: refusals are logged too
    install_contract(app)
    app.add_middleware(ObservabilityMiddleware)
    for router in ROUTERS:
        app.include_router(router)
    return app
