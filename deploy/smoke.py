"""Smoke test of a running Nox on its real routes: /healthz, /readyz, /api/v7/status."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

ROUTES = ("/healthz", "/readyz", "/api/v7/status")


class SmokeFailed(Exception):
    pass


def _get(url: str, timeout_s: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, repr(exc).encode()


def check_once(base_url: str, *, timeout_s: float = 5.0) -> list[str]:
    """Every problem found in one pass (empty when healthy)."""
    problems = []
    for route in ROUTES:
        status, body = _get(base_url.rstrip("/") + route, timeout_s)
        if status != 200:
            problems.append(f"GET {route} -> {status or 'no answer'}: {body[:200]!r}")
            continue
        if route == "/api/v7/status":
            version = json.loads(body).get("version", "")
            if not str(version).startswith("7."):
                problems.append(f"GET {route}: version {version!r} is not 7.x.y")
    return problems


def smoke(base_url: str, *, within_s: float | None = None, interval_s: float = 1.0) -> None:
    """Pass once every route answers; readiness may take a few seconds after a rollout
    (NOX_SMOKE_TIMEOUT_S, default 60)."""
    if within_s is None:
        within_s = float(os.environ.get("NOX_SMOKE_TIMEOUT_S", "60"))
    deadline = time.monotonic() + within_s
    while True:
        problems = check_once(base_url)
        if not problems:
            return
        if time.monotonic() >= deadline:
            raise SmokeFailed(f"smoke test of {base_url} failed: " + "; ".join(problems))
        time.sleep(interval_s)
