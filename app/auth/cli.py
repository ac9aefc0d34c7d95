"""``nox token create``: a personal API token for a user, created if needed."""

from __future__ import annotations

import asyncio

import click

from app.audit.service import record_event
from app.auth.tokens import create_token
from app.db import make_engine, make_sessionmaker
from app.migrate import ensure_embedded_schema
from app.settings import get_settings
from app.users.service import get_or_create_by_email


async def _create(email: str, admin: bool, name: str) -> str:
    settings = get_settings()
    await ensure_embedded_schema(settings)
    engine = make_engine(settings.effective_database_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            user = await get_or_create_by_email(session=session, email=email, admin=admin)
            token, plaintext = await create_token(session=session, user=user, name=name)
            user_id, token_id = user.id, token.id
        await record_event(
            sessionmaker,
            action="token.create",
            outcome="success",
            actor_id=user_id,
            target=f"token:{token_id}",
            detail={"via": "cli", "admin": admin},
        )
        return plaintext
    finally:
        await engine.dispose()


def register(main: click.Group) -> None:
    @main.group()
    def token() -> None:
        """Personal API tokens."""

    @token.command("create")
    @click.option("--email", required=True, help="the user's email (created if missing)")
    @click.option("--admin", is_flag=True, help="give the user the admin role")
    @click.option("--name", default="cli", show_default=True, help="a label for the token")
    def create(email: str, admin: bool, name: str) -> None:
        """Print a new token once; only its hash is stored."""
        if "@" not in email:
            raise click.BadParameter(f"{email!r} is not an email address", param_hint="--email")
        click.echo(asyncio.run(_create(email, admin, name)))
