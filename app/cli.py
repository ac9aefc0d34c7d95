"""The ``nox`` command line: serve, migrate, tokens, audit; domain commands plug in below."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import click

from app.settings import UnsafeSettingsError, check_production, check_workers, get_settings

# Domain modules that add their own commands to ``nox``: each defines ``register(main)``.
DOMAIN_CLIS = (
    "app.auth.cli",
    "app.audit.cli",
    "app.sandbox.cli",
    "app.backup.cli",
    "app.client.cli",
)


@click.group()
@click.version_option(package_name="nox")
def main() -> None:
    """Nox 7: run Python and shell in a kernel-isolated sandbox."""


@main.command()
@click.option("--host", default=None, help="listen address (default NOX_HOST)")
@click.option("--port", type=int, default=None, help="listen port (default NOX_PORT)")
@click.option("--reload", is_flag=True, help="restart on code changes (development)")
def serve(host: str | None, port: int | None, reload: bool) -> None:
    """Run the api (embedded defaults: SQLite, in-process store and executor)."""
    import uvicorn

    from app.observability.logging import configure_logging

    settings = get_settings()
    try:
        check_production(settings)
        check_workers(settings)
    except UnsafeSettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log_level, settings.log_format)
    from app.migrate import ensure_embedded_schema

    asyncio.run(ensure_embedded_schema(settings))
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=None if reload else settings.workers,
        reload=reload,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=int(settings.sandbox.wall_max_s) + 5,
    )


@main.command()
@click.option("--revision", default="head", show_default=True)
@click.option("--downgrade", is_flag=True, help="go down to --revision instead of up")
def migrate(revision: str, downgrade: bool) -> None:
    """Bring the database schema to a revision; safe to run from several replicas at once."""
    from app.migrate import migrate as run_migrate

    before, after = asyncio.run(run_migrate(get_settings(), revision, downgrade=downgrade))
    if before == after:
        click.echo(f"schema already at {after}; nothing to apply")
    else:
        click.echo(f"schema migrated from {before} to {after}")


@main.command("dev-env")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="the checkout holding .env.example",
)
def dev_env(directory: Path) -> None:
    """Write a development .env with fresh random secrets for compose (never overwrites)."""
    from app.devenv import write_dev_env

    written = write_dev_env(directory)
    if written is None:
        click.echo(f"{directory / '.env'} exists; left unchanged")
    else:
        click.echo(f"wrote {written} with fresh random secrets (development only)")


@main.command()
@click.option("--check", is_flag=True, help="fail if docs/openapi.json is not current")
@click.option(
    "--output", type=click.Path(dir_okay=False), default=None, help="default docs/openapi.json"
)
def openapi(check: bool, output: str | None) -> None:
    """Write the OpenAPI document the api serves (docs/openapi.json unless --output)."""

    from app.contract import COMMITTED, render
    from app.main import create_app

    target = Path(output) if output else COMMITTED
    text = render(create_app())
    if check:
        if not target.is_file() or target.read_text() != text:
            raise click.ClickException(f"{target} is stale; run `nox openapi` and commit it")
        click.echo(f"{target} is current")
        return
    target.write_text(text)
    click.echo(f"wrote {target}")


def _register_domains() -> None:
    for name in DOMAIN_CLIS:
        importlib.import_module(name).register(main)


_register_domains()

if __name__ == "__main__":
    sys.exit(main())
