"""Admin user management: list, role, active, quotas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from app.audit.service import AuditDep, record_in
from app.auth.cache import invalidate_all
from app.auth.deps import AdminUser
from app.auth.sessions import revoke_user_sessions
from app.auth.tokens import revoke_all_tokens
from app.db import INT_MAX, SessionDep
from app.errors import NoxProblem
from app.state import StateDep
from app.users import service
from app.users.schemas import UserPage, UserPublic, UserUpdate

router = APIRouter(prefix="/api/v7/admin/users", tags=["admin"])


@router.get("")
async def list_users(
    _: AdminUser,
    session: SessionDep,
    cursor: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> UserPage:
    users = await service.list_users(session=session, after_id=cursor, limit=limit + 1)
    items = [UserPublic.model_validate(u) for u in users[:limit]]
    return UserPage(items=items, next_cursor=items[-1].id if len(users) > limit else None)


@router.patch("/{user_id}")
async def update_user(
    user_id: Annotated[int, PathParam(le=INT_MAX)],
    body: UserUpdate,
    admin: AdminUser,
    session: SessionDep,
    state: StateDep,
    audit: AuditDep,
) -> UserPublic:
    user = await service.get_user(session=session, user_id=user_id)
    if user is None:
        raise NoxProblem(404, "Not Found", f"no user {user_id}")
    if user.id == admin.id and (body.role == "user" or body.is_active is False):
        raise NoxProblem(409, "Conflict", "admins cannot demote or deactivate themselves")
    changes = body.model_dump(exclude_none=True)
    deactivating = user.is_active and body.is_active is False
    await service.update_user(session=session, user=user, **changes)
    # Deactivation ends every credential for good: reactivating does not bring them back.
    revoked = await revoke_all_tokens(session=session, user_id=user.id) if deactivating else 0
    await session.commit()
    if deactivating:
        await revoke_user_sessions(store=state.store, settings=state.settings, user_id=user.id)
        await record_in(
            state,
            audit,
            action="auth.credentials.revoke",
            outcome="success",
            actor_id=admin.id,
            target=f"user:{user_id}",
            detail={"tokens": revoked, "sessions": "all"},
        )
    await invalidate_all(state.store)
    await record_in(
        state,
        audit,
        action="admin.user.update",
        outcome="success",
        actor_id=admin.id,
        target=f"user:{user_id}",
        detail=changes,
    )
    return UserPublic.model_validate(user)
