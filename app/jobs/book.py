"""Where asynchronous runs live: records, events and cancel requests in the shared store.

Every api replica reads and writes the same keys (Redis in production, the in-process store
on embedded defaults), so a job submitted through one replica can be read, followed and
cancelled through any other.
"""

from __future__ import annotations

import json
from typing import Any

from app.jobs.models import JobRecord
from app.store.base import Store

TERMINAL_EVENTS = ("result", "error", "cancelled")


class JobBook:
    def __init__(self, store: Store, keep_s: int) -> None:
        self.store = store
        self.keep_s = keep_s

    @staticmethod
    def _record_key(job_id: str) -> str:
        return f"job:{job_id}"

    @staticmethod
    def _events_key(job_id: str) -> str:
        return f"job:{job_id}:events"

    @staticmethod
    def _cancel_key(job_id: str) -> str:
        return f"job:{job_id}:cancel"

    async def save(self, record: JobRecord, ttl_s: int) -> None:
        await self.store.set(self._record_key(record.id), record.model_dump_json(), ttl_s)

    async def load(self, job_id: str) -> JobRecord | None:
        raw = await self.store.get(self._record_key(job_id))
        return JobRecord.model_validate_json(raw) if raw else None

    async def append(self, job_id: str, name: str, data: dict[str, Any], ttl_s: int) -> None:
        event = json.dumps({"event": name, "data": data}, separators=(",", ":"))
        await self.store.append(self._events_key(job_id), event, ttl_s)

    async def events(self, job_id: str, start: int) -> list[tuple[str, dict[str, Any]]]:
        raw = await self.store.items(self._events_key(job_id), start)
        return [(e["event"], e["data"]) for e in map(json.loads, raw)]

    async def request_cancel(self, job_id: str, ttl_s: int) -> None:
        await self.store.set(self._cancel_key(job_id), b"1", ttl_s)

    async def cancel_requested(self, job_id: str) -> bool:
        return await self.store.get(self._cancel_key(job_id)) is not None

    async def remove(self, job_id: str) -> None:
        for key in (self._record_key, self._events_key, self._cancel_key):
            await self.store.delete(key(job_id))
