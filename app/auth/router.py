"""The caller, personal API tokens, and the development-only login."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from fastapi import Path as PathParam

from app.audit.service import AuditDep, record_in
from app.auth import tokens
from app.auth.cache import invalidate_all
from app.auth.caller import Caller
from app.auth.deps import CurrentUser
from app.auth.login import complete_login
from app.auth.schemas import DevLogin, MePublic, TokenCreate, TokenCreated, TokenPublic
from app.db import INT_MAX, SessionDep
from app.errors import NoxProblem
from app.state import StateDep
from app.users.service import get_or_create_by_email

router = APIRouter(prefix="/api/v7/auth", tags=["auth"])


def me_public(user: Caller) -> MePublic:
    return MePublic(
        id=user.id, email=user.email, name=user.name, role=user.role, providers=list(user.providers)
    )


@router.get("/me", response_model=MePublic)
async def me(user: CurrentUser) -> Response:
    # Serialized once here; returning the model would make FastAPI validate it again.
    return Response(me_public(user).model_dump_json(), media_type="application/json")


@router.post("/tokens", status_code=201)
async def create_token(
    body: TokenCreate, user: CurrentUser, session: SessionDep, state: StateDep, audit: AuditDep
) -> TokenCreated:
    token, plaintext = await tokens.create_token(session=session, user=user, name=body.name)
    await session.commit()
    await record_in(
        state,
        audit,
        action="token.create",
        outcome="success",
        actor_id=user.id,
        target=f"token:{token.id}",
    )
    return TokenCreated(
        **TokenPublic.model_validate(token, from_attributes=True).model_dump(), token=plaintext
    )


@router.get("/tokens")
async def list_tokens(user: CurrentUser, session: SessionDep) -> list[TokenPublic]:
    found = await tokens.list_tokens(session=session, user=user)
    return [TokenPublic.model_validate(t, from_attributes=True) for t in found]


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(
    token_id: Annotated[int, PathParam(le=INT_MAX)],
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
    audit: AuditDep,
) -> Response:
    token = await tokens.revoke_token(session=session, user=user, token_id=token_id)
    if token is None:
        raise NoxProblem(404, "Not Found", f"you have no token {token_id}")
    await session.commit()
    await invalidate_all(state.store)
    await record_in(
        state,
        audit,
        action="token.revoke",
        outcome="success",
        actor_id=user.id,
        target=f"token:{token_id}",
    )
    return Response(status_code=204)


@router.post("/dev-login")
async def dev_login(
    body: DevLogin, session: SessionDep, state: StateDep, audit: AuditDep, response: Response
) -> MePublic:
    """Log in as any email without a provider: local development only."""
    if not state.settings.dev_login_enabled or state.settings.is_production:
        raise NoxProblem(404, "Not Found", "development login is disabled")
    user = await get_or_create_by_email(session=session, email=body.email, admin=body.admin)
    await session.commit()
    if body.admin:  # may have promoted an existing user: no replica may keep the old role
        await invalidate_all(state.store)
    await session.refresh(user, ["identities"])
    caller = Caller.of(user)
    await complete_login(state, audit, response, user_id=user.id, provider="dev")
    return me_public(caller)
