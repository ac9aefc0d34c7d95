"""Server-Sent Events as Nox writes them: one JSON object per event, named by ``event:``.

Events of a run: ``stdout`` / ``stderr`` (``{"text": …}``, one per chunk the program wrote),
then exactly one of ``result`` (the run's result, as the synchronous route returns it) or
``error`` (a problem+json object). A comment line is sent in silences so proxies keep the
connection and a departed client is noticed.
"""

from __future__ import annotations

import json
from typing import Any

MEDIA_TYPE = "text/event-stream"
HEARTBEAT = b": heartbeat\n\n"
# Response headers for every stream: no caching, and no buffering by an nginx-style proxy.
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def event(name: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def wants_stream(accept: str) -> bool:
    """Whether an ``Accept`` header asks for an event stream (q=0 excluded)."""
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() == MEDIA_TYPE and not any(
            p.replace(" ", "") in ("q=0", "q=0.0") for p in params
        ):
            return True
    return False
