"""A login that succeeded, whatever proved it (the development login, an OIDC provider): one
session, its cookie, the logins metric and the audit event."""

from __future__ import annotations

from fastapi import Response

from app.audit.service import AuditContext, record_in
from app.auth.sessions import create_session, set_session_cookie
from app.observability.metrics import LOGINS
from app.state import AppState


async def complete_login(
    state: AppState, audit: AuditContext, response: Response, *, user_id: int, provider: str
) -> None:
    session_id = await create_session(store=state.store, settings=state.settings, user_id=user_id)
    set_session_cookie(response, state.settings, session_id)
    LOGINS.labels(provider=provider, outcome="success").inc()
    await record_in(
        state,
        audit,
        action="auth.login",
        outcome="success",
        actor_id=user_id,
        target=f"provider:{provider}",
    )
