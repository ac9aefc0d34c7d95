"""``nox audit verify``: check the audit log's hash chain."""

from __future__ import annotations

import asyncio

import click

from app.audit.chain import ChainReport, verify_chain
from app.db import session_scope
from app.settings import get_settings


async def _verify() -> ChainReport:
    async with session_scope(get_settings()) as session:
        return await verify_chain(session)


def register(main: click.Group) -> None:
    @main.group()
    def audit() -> None:
        """The audit log."""

    @audit.command("verify")
    def verify() -> None:
        """Exit 0 when the chain is intact, 1 naming each broken event otherwise."""
        report = asyncio.run(_verify())
        if report.ok:
            click.echo(f"audit chain intact: {report.checked} events verified")
            return
        for problem in report.problems:
            click.echo(problem, err=True)
        raise SystemExit(1)
