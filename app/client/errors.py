"""What the client raises: Nox's problem documents as exceptions, and unreachable servers."""

from __future__ import annotations

from typing import Any

import httpx


class NoxError(Exception):
    """Nox answered an error (a problem document: status, title, detail, type)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type_: str = "about:blank",
        retry_after: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.retry_after = retry_after
        self.extra = extra or {}

    @classmethod
    def from_problem(cls, problem: dict[str, Any], retry_after: float | None = None) -> NoxError:
        known = {"status", "title", "detail", "type"}
        return cls(
            int(problem.get("status", 500)),
            str(problem.get("title", "Error")),
            str(problem.get("detail", "")),
            type_=str(problem.get("type", "about:blank")),
            retry_after=retry_after,
            extra={k: v for k, v in problem.items() if k not in known},
        )

    @classmethod
    def from_response(cls, response: httpx.Response) -> NoxError:
        retry = response.headers.get("retry-after")
        retry_after = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = response.text[:200] or response.reason_phrase
            body = {"status": response.status_code, "title": response.reason_phrase, "detail": text}
        body.setdefault("status", response.status_code)
        return cls.from_problem(body, retry_after)


class NoxConnectionError(NoxError):
    """Nox could not be reached (refused, DNS, TLS, timeout)."""

    def __init__(self, url: str, cause: Exception) -> None:
        super().__init__(0, "Unreachable", f"cannot reach {url}: {type(cause).__name__}: {cause}")
