"""Where a browser may be sent after login: same-origin relative paths only."""

from __future__ import annotations

import pytest

from app.auth.oauth.redirects import DEFAULT_NEXT, UnsafeNextError, safe_next


@pytest.mark.parametrize(
    "value",
    ["/", "/runs", "/files/a%20b.txt", "/a/b?x=1&y=%2F", "/page#frag", "/a//b", "/%7Euser"],
)
def test_same_origin_paths_are_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", [None, ""])
def test_missing_next_means_the_home_page(value: str | None) -> None:
    assert safe_next(value) == DEFAULT_NEXT


@pytest.mark.parametrize(
    "value",
    [
        "https://evil.test/",
        "http:/evil.test",
        "javascript:alert(1)",
        "evil.test/path",
        "//evil.test",
        "///evil.test",
        "/\\evil.test",
        "\\\\evil.test",
        "/%2Fevil.test",
        "%2F%2Fevil.test",
        "/%5Cevil.test",
        "/%252Fevil.test",
        "%252F%252Fevil.test",
        "/\t/evil.test",
        "/%09/evil.test",
        "/\r\n/evil.test",
        "/" + "a" * 3000,
        "/%25252525252F",
    ],
)
def test_anything_that_could_leave_the_site_is_refused(value: str) -> None:
    with pytest.raises(UnsafeNextError):
        safe_next(value)
