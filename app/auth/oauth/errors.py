"""Why a login failed: a bounded reason (metric label, log field) and a detail for the user."""

from __future__ import annotations

from app.errors import NoxProblem

# Every reason a login can fail; used as the ``outcome`` label of the LOGINS metric.
REASONS = frozenset(
    {
        "unknown_provider",
        "unsafe_next",
        "missing_state",
        "unknown_state",
        "wrong_provider",
        "issuer_mismatch",
        "other_browser",
        "provider_error",
        "code_rejected",
        "invalid_id_token",
        "unverified_email",
        "account_disabled",
        "provider_unreachable",
    }
)


class LoginFailedError(Exception):
    """A login that must stop: nothing is stored and the browser gets a problem document."""

    def __init__(self, reason: str, detail: str, *, status: int = 400) -> None:
        assert reason in REASONS, reason
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status

    def problem(self) -> NoxProblem:
        return NoxProblem(
            self.status, "Login failed", self.detail, type_=f"urn:nox:login:{self.reason}"
        )
