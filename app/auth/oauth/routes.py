"""OAuth2/OIDC login routes: list providers, start a login, finish it, log out."""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from app.audit.service import AuditDep, record_in
from app.auth.cache import invalidate_all
from app.auth.login import complete_login
from app.auth.oauth import flow
from app.auth.oauth.accounts import user_for_login
from app.auth.oauth.errors import LoginFailedError
from app.auth.oauth.pending import (
    browser_binding,
    clear_binding_cookie,
    new_pending,
    same_browser,
    save_pending,
    set_binding_cookie,
    take_pending,
)
from app.auth.oauth.providers import ProviderConfig, ProviderKind
from app.auth.oauth.redirects import UnsafeNextError, safe_next
from app.auth.oauth.runtime import OAuthRuntime, oauth_runtime
from app.auth.oauth.schemas import ProviderPublic, ProvidersPublic
from app.auth.sessions import (
    SESSION_COOKIE,
    clear_session_cookie,
    load_session,
    revoke_session,
)
from app.db import SessionDep
from app.observability.metrics import LOGINS
from app.quotas.service import check_login_rate
from app.state import StateDep

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v7/auth", tags=["auth"])
RuntimeDep = Annotated[OAuthRuntime, Depends(oauth_runtime)]
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _provider(runtime: OAuthRuntime, name: str) -> ProviderConfig:
    provider = runtime.providers.get(name)
    if provider is None:
        raise LoginFailedError(
            "unknown_provider",
            f"no login provider {name!r} is enabled; see /api/v7/auth/providers",
            status=404,
        )
    return provider


def _failed(provider: str, exc: LoginFailedError) -> LoginFailedError:
    """Count and log a failed login; the caller raises the problem."""
    LOGINS.labels(provider=provider, outcome=exc.reason).inc()
    log.warning("login via %s failed: %s", provider, exc.reason)
    return exc


@router.get("/providers")
async def providers(runtime: RuntimeDep) -> ProvidersPublic:
    return ProvidersPublic(
        providers=[
            ProviderPublic(
                name=p.name, display_name=p.display_name, login_url=f"/api/v7/auth/login/{p.name}"
            )
            for p in runtime.providers.values()
        ]
    )


@router.get("/login/{name}", response_class=RedirectResponse, status_code=302)
async def login(
    name: str,
    request: Request,
    state: StateDep,
    runtime: RuntimeDep,
    next: Annotated[str | None, Query(max_length=4096)] = None,
) -> RedirectResponse:
    label = name if name in runtime.providers else "unknown"
    client = request.client.host if request.client else "unknown"
    await check_login_rate(store=state.store, settings=state.settings, client=client)
    try:
        provider = _provider(runtime, name)
        try:
            next_path = safe_next(next)
        except UnsafeNextError as exc:
            raise LoginFailedError("unsafe_next", f"{exc}; use a path on this site") from exc
        binding = browser_binding(request)
        state_value, pending = new_pending(
            provider=provider.name, next_path=next_path, binding=binding
        )
        url = await flow.authorization_url(runtime, provider, state=state_value, pending=pending)
    except LoginFailedError as exc:
        raise _failed(label, exc).problem() from exc
    await save_pending(
        store=state.store, settings=state.settings, state=state_value, pending=pending
    )
    LOGINS.labels(provider=provider.name, outcome="started").inc()
    response = RedirectResponse(url, status_code=302)
    set_binding_cookie(response, state.settings, binding)
    return response


def _check_callback(request: Request, provider: ProviderConfig, pending_provider: str) -> None:
    if pending_provider != provider.name:
        raise LoginFailedError(
            "wrong_provider", "this login was started with another provider; start it again"
        )
    error = request.query_params.get("error")
    if error is not None:
        code = error if _ERROR_CODE.match(error) else "invalid_error_code"
        if code == "access_denied":
            raise LoginFailedError(
                "provider_error",
                f"{provider.display_name} denied the login (access_denied)",
                status=403,
            )
        raise LoginFailedError(
            "provider_error", f"{provider.display_name} returned an error ({code})"
        )
    if not request.query_params.get("code"):
        raise LoginFailedError("code_rejected", "the callback carries no authorization code")


async def _check_issuer(runtime: OAuthRuntime, provider: ProviderConfig, request: Request) -> None:
    """RFC 9207: a provider that names itself in the callback must name the expected issuer,
    so a response from another provider (mix-up attack) is not taken for this one's."""
    sent = request.query_params.get("iss")
    if sent is None or provider.kind is not ProviderKind.oidc:
        return
    expected = str((await runtime.metadata(provider)).get("issuer", ""))
    if "{tenantid}" not in expected and sent != expected:
        raise LoginFailedError(
            "issuer_mismatch", f"the callback names issuer {sent[:200]!r}, not {expected!r}"
        )


@router.get("/callback/{name}", response_class=RedirectResponse, status_code=302)
async def callback(
    name: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    audit: AuditDep,
    runtime: RuntimeDep,
) -> RedirectResponse:
    label = name if name in runtime.providers else "unknown"
    pending = None
    try:
        provider = _provider(runtime, name)
        state_value = request.query_params.get("state")
        if not state_value:
            raise LoginFailedError("missing_state", "the callback carries no state parameter")
        # Taken (deleted) before any other check: a state is good for one callback, whatever
        # that callback's outcome.
        pending = await take_pending(store=state.store, state=state_value)
        if pending is None:
            raise LoginFailedError(
                "unknown_state", "this login is unknown, expired or already used; start again"
            )
        if not same_browser(pending, request):
            raise LoginFailedError(
                "other_browser", "this login was started in another browser; start it here"
            )
        _check_callback(request, provider, pending.provider)
        await _check_issuer(runtime, provider, request)
        person = await flow.complete(
            runtime, provider, code=request.query_params["code"], pending=pending
        )
        user, changed = await user_for_login(
            session=session, settings=state.settings, provider=provider.name, person=person
        )
    except LoginFailedError as exc:
        failure = _failed(label, exc)
        # Audited only when it belonged to a login Nox started: requests anyone can make up
        # (no or unknown state) are counted, not written to the audit chain, so they cannot
        # flood it.
        if pending is not None:
            await record_in(
                state,
                audit,
                action="auth.login",
                outcome="failure",
                actor_id=None,
                target=f"provider:{label}",
                detail={"reason": exc.reason},
            )
        raise failure.problem() from exc
    await session.commit()
    if changed:  # e.g. promoted to admin: replicas must not serve the old role from cache
        await invalidate_all(state.store)
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # never carry a session across logins
        await revoke_session(store=state.store, session_id=old)
    response = RedirectResponse(pending.next, status_code=302)
    clear_binding_cookie(response, state.settings)
    await complete_login(state, audit, response, user_id=user.id, provider=provider.name)
    log.info("login via %s: user %s", provider.name, user.id)
    return response


@router.post("/logout", status_code=204)
async def logout(request: Request, state: StateDep, audit: AuditDep) -> Response:
    """End the server-side session: the cookie stops working everywhere, at once."""
    response = Response(status_code=204)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        user_id = await load_session(
            store=state.store, settings=state.settings, session_id=session_id
        )
        await revoke_session(store=state.store, session_id=session_id)
        if user_id is not None:
            await record_in(
                state,
                audit,
                action="auth.logout",
                outcome="success",
                actor_id=user_id,
                target="session",
            )
    clear_session_cookie(response, state.settings)
    return response
