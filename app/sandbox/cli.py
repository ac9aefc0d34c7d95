"""``nox executor``: serve the sandbox over HTTP for api processes (see ``server.py``)."""

from __future__ import annotations

import click

from app.settings import get_settings


def register(main: click.Group) -> None:
    main.add_command(executor)


@click.command()
@click.option("--host", default=None, help="listen address (default NOX_EXECUTOR_HOST)")
@click.option("--port", type=int, default=None, help="listen port (default NOX_EXECUTOR_PORT)")
def executor(host: str | None, port: int | None) -> None:
    """Run the sandbox executor service (no database, no Redis; owns the workspaces)."""
    import uvicorn

    from app.observability.logging import configure_logging
    from app.sandbox.factory import build_executor
    from app.sandbox.local import LocalExecutor
    from app.sandbox.server import create_executor_app, executor_problems

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    problems = executor_problems(settings)
    if problems:
        raise click.ClickException("refusing to start the executor:\n- " + "\n- ".join(problems))
    backend = build_executor(settings)
    assert isinstance(backend, LocalExecutor)  # executor_problems refused "remote"
    uvicorn.run(
        create_executor_app(settings, backend),
        host=host or settings.executor_host,
        port=port or settings.executor_port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.sandbox.wall_max_s) + 5,
    )
