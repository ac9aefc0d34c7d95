"""Where a browser may be sent after login: same-origin relative paths only.

Browsers are lenient: they treat ``\\`` like ``/``, drop tabs and newlines inside URLs, and some
proxies decode ``%2F`` before routing. So the value is checked as given and again after each
round of percent-decoding, and anything that could name another host is refused.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

DEFAULT_NEXT = "/"
MAX_NEXT_LENGTH = 2048
_DECODE_ROUNDS = 4


class UnsafeNextError(ValueError):
    """A ``next`` value that could leave this origin; the message says why."""


def _check_once(value: str) -> None:
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in value):
        raise UnsafeNextError("next contains control characters")
    if "\\" in value:
        raise UnsafeNextError("next contains a backslash")
    if not value.startswith("/"):
        raise UnsafeNextError("next must be a relative path starting with '/'")
    if value.startswith("//"):
        raise UnsafeNextError("next must not start with '//' (another host)")
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        raise UnsafeNextError("next must not name a scheme or host")


def safe_next(value: str | None) -> str:
    """Return ``value`` when it is a same-origin relative path, else raise UnsafeNextError."""
    if value is None or value == "":
        return DEFAULT_NEXT
    if len(value) > MAX_NEXT_LENGTH:
        raise UnsafeNextError(f"next is longer than {MAX_NEXT_LENGTH} characters")
    current = value
    for _ in range(_DECODE_ROUNDS):
        _check_once(current)
        decoded = unquote(current)
        if decoded == current:
            return value
        current = decoded
    raise UnsafeNextError("next is percent-encoded too many times")
