"""A run's events as the client hands them out, parsed from Server-Sent Events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from app.client.errors import NoxError
from app.sandbox.interface import RunPublic


@dataclass(frozen=True)
class Output:
    stream: Literal["stdout", "stderr"]
    text: str
    id: int | None = None


@dataclass(frozen=True)
class Finished:
    result: RunPublic
    id: int | None = None


@dataclass(frozen=True)
class Failed:
    """The run could not finish (executor lost, api restarted): ``error`` says why."""

    error: NoxError
    id: int | None = None


@dataclass(frozen=True)
class Cancelled:
    id: int | None = None


RunEvent = Output | Finished | Failed | Cancelled


def _event(name: str, data: dict[str, Any], event_id: int | None) -> RunEvent | None:
    if name in ("stdout", "stderr"):
        return Output(name, str(data.get("text", "")), event_id)  # type: ignore[arg-type]
    if name == "result":
        return Finished(RunPublic.model_validate(data), event_id)
    if name == "error":
        return Failed(NoxError.from_problem(data), event_id)
    if name == "cancelled":
        return Cancelled(event_id)
    return None  # an event type this client does not know yet: skipped


class SseParser:
    """Feed it the lines of an event stream; it returns each complete event (RFC: WHATWG SSE)."""

    def __init__(self) -> None:
        self._name = ""
        self._data: list[str] = []
        self._id: int | None = None

    def feed(self, line: str) -> RunEvent | None:
        if line == "":
            if not self._data:
                self._name = ""
                return None
            name, data, event_id = self._name or "message", "\n".join(self._data), self._id
            self._name, self._data, self._id = "", [], None
            return _event(name, json.loads(data), event_id)
        if line.startswith(":"):
            return None  # a comment: the server's heartbeat
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and value.isdigit():
            self._id = int(value)
        return None


TERMINAL = (Finished, Failed, Cancelled)
