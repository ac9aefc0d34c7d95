"""An asynchronous run as the store keeps it and as its owner sees it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from app.sandbox.interface import Language, RunPublic

# A running job's replica refreshes its record this often; one silent for LOST_AFTER_S died.
HEARTBEAT_S = 2.0
LOST_AFTER_S = 10.0
ID_PATTERN = r"^[A-Za-z0-9_-]{22}$"  # secrets.token_urlsafe(16)


class JobStatus(StrEnum):
    queued = "queued"  # accepted; waiting for a sandbox
    running = "running"
    finished = "finished"  # the sandbox ran: ``result`` says how the program ended
    cancelled = "cancelled"  # by its owner (DELETE), its sandbox killed
    failed = "failed"  # never ran to the end: ``error`` says why (executor, api restart)

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.finished, JobStatus.cancelled, JobStatus.failed)


def now() -> datetime:
    return datetime.now(UTC)


class RunJob(BaseModel):
    """What ``GET /api/v7/runs/{id}`` answers."""

    id: str
    status: JobStatus
    language: Language
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime
    result: RunPublic | None = None
    error: dict[str, Any] | None = None  # a problem document, when ``failed``


class JobRecord(RunJob):
    """The stored record: the public fields plus who owns it and who runs it."""

    owner: int
    heartbeat: float = 0.0  # wall clock of the running replica's last refresh

    def public(self) -> RunJob:
        view = RunJob.model_validate(self.model_dump(exclude={"owner", "heartbeat"}))
        if self.status in (JobStatus.queued, JobStatus.running) and self.lost:
            detail = "the api replica running this job stopped; submit it again"
            problem = {"type": "about:blank", "title": "Job Lost", "status": 500, "detail": detail}
            view = view.model_copy(update={"status": JobStatus.failed, "error": problem})
        return view

    @property
    def lost(self) -> bool:
        return time.time() - self.heartbeat > LOST_AFTER_S
