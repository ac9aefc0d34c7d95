"""The Nox user behind a provider identity: found by (provider, subject), linked by email
only when the provider verified that email, created otherwise.

An unverified email is recorded on the identity but never becomes the user's email, never
links to an existing account and never grants admin: anyone can type any address into a
provider that does not check it. When such an email names an existing account or an admin,
the login is refused outright, so nobody ends up in a fresh empty account believing it is theirs.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.oauth.errors import LoginFailedError
from app.auth.oauth.profile import ProviderIdentity
from app.settings import Settings
from app.users.models import ROLE_ADMIN, ROLE_USER, Identity, User
from app.users.service import get_by_email


async def _identity(session: AsyncSession, provider: str, subject: str) -> Identity | None:
    result = await session.execute(
        select(Identity).where(Identity.provider == provider, Identity.subject == subject)
    )
    return result.scalar_one_or_none()


async def _user_for_new_identity(
    session: AsyncSession, verified_email: str | None, name: str
) -> User:
    if verified_email:
        existing = await get_by_email(session=session, email=verified_email)
        if existing is not None:
            return existing
    user = User(email=verified_email, name=name, role=ROLE_USER)
    session.add(user)
    await session.flush()
    return user


async def _link(
    session: AsyncSession, provider: str, person: ProviderIdentity, verified_email: str | None
) -> Identity:
    user = await _user_for_new_identity(session, verified_email, person.name)
    identity = Identity(
        user_id=user.id,
        provider=provider,
        subject=person.subject,
        email=person.email,
        email_verified=person.email_verified,
    )
    session.add(identity)
    await session.flush()
    return identity


async def _refuse_claimed_email(
    session: AsyncSession, settings: Settings, provider: str, email: str, owner_id: int | None
) -> None:
    holder = await get_by_email(session=session, email=email)
    if email in settings.admin_emails or (holder is not None and holder.id != owner_id):
        raise LoginFailedError(
            "unverified_email",
            f"the email {email} is not verified by {provider} and belongs to an existing or "
            "admin account; verify it at the provider, then log in again",
            status=403,
        )


async def user_for_login(
    *, session: AsyncSession, settings: Settings, provider: str, person: ProviderIdentity
) -> tuple[User, bool]:
    """Upsert the user and identity for a completed login (flushed, not committed); the flag
    says whether an existing user's email or role changed (cached callers must be dropped)."""
    verified_email = person.email if person.email and person.email_verified else None
    identity = await _identity(session, provider, person.subject)
    if person.email and not verified_email:
        owner = identity.user_id if identity else None
        await _refuse_claimed_email(session, settings, provider, person.email, owner)
    if identity is None:
        try:
            async with session.begin_nested():
                identity = await _link(session, provider, person, verified_email)
        except IntegrityError:  # the same identity or email created by a concurrent login
            identity = await _identity(session, provider, person.subject)
            if identity is None:
                async with session.begin_nested():
                    identity = await _link(session, provider, person, verified_email)
    else:
        identity.email, identity.email_verified = person.email, person.email_verified
    user = await session.get(User, identity.user_id)
    assert user is not None  # identities cascade with their user
    if not user.is_active:
        raise LoginFailedError("account_disabled", "this account is deactivated", status=403)
    before = (user.email, user.role)
    if (
        verified_email
        and user.email is None
        and await get_by_email(session=session, email=verified_email) is None
    ):
        user.email = verified_email
    if verified_email and verified_email in settings.admin_emails and user.role != ROLE_ADMIN:
        user.role = ROLE_ADMIN
    if not user.name and person.name:
        user.name = person.name
    await session.flush()
    return user, (user.email, user.role) != before
