"""The audit chain detects an edited, deleted, reordered or truncated log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.chain import verify_chain
from app.audit.service import record_event
from app.db import make_engine, make_sessionmaker
from app.migrate import migrate
from app.settings import Settings
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgres"])
async def audited(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    settings: Settings = make_settings(tmp_path)
    if request.param == "postgres":
        settings = make_settings(tmp_path, database_url=request.getfixturevalue("postgres_url"))
    await migrate(settings)
    engine = make_engine(settings.effective_database_url)
    sessionmaker = make_sessionmaker(engine)
    for n in range(5):
        await record_event(
            sessionmaker,
            action="run.python",
            outcome="success",
            actor_id=n,
            target=f"workspace:{n}",
            duration_ms=1.5 * n,
            detail={"n": n},
        )
    yield sessionmaker
    await engine.dispose()


async def _problems(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        report = await verify_chain(session)
    return report.problems


async def _sql(sessionmaker: async_sessionmaker[AsyncSession], statement: str) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(text(statement))


async def test_an_untouched_chain_verifies(audited: async_sessionmaker[AsyncSession]) -> None:
    async with audited() as session:
        report = await verify_chain(session)
    assert report.ok
    assert report.checked == 5


async def test_an_edited_row_is_detected(audited: async_sessionmaker[AsyncSession]) -> None:
    await _sql(audited, "UPDATE audit_events SET outcome = 'failure' WHERE id = 3")
    assert await _problems(audited) == ["event 3: content does not match its hash (edited)"]


async def test_a_deleted_row_is_detected(audited: async_sessionmaker[AsyncSession]) -> None:
    await _sql(audited, "DELETE FROM audit_events WHERE id = 2")
    problems = await _problems(audited)
    assert problems and "event 3: link to the previous event (id 1) is broken" in problems[0]


async def test_reordered_rows_are_detected(audited: async_sessionmaker[AsyncSession]) -> None:
    await _sql(audited, "UPDATE audit_events SET id = 100 WHERE id = 2")
    await _sql(audited, "UPDATE audit_events SET id = 2 WHERE id = 4")
    await _sql(audited, "UPDATE audit_events SET id = 4 WHERE id = 100")
    problems = await _problems(audited)
    assert any("event 2" in p for p in problems)
    assert any("broken" in p for p in problems)


async def test_a_deleted_tail_is_detected(audited: async_sessionmaker[AsyncSession]) -> None:
    await _sql(audited, "DELETE FROM audit_events WHERE id = 5")
    assert await _problems(audited) == [
        "chain head names event 5 but the log ends at event 4 "
        "(newest events were deleted or the head was edited)"
    ]


async def test_replicas_appending_at_once_keep_one_intact_chain(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, database_url=postgres_url)
    await migrate(settings)
    engines = [make_engine(postgres_url) for _ in range(3)]  # one pool per "replica"

    async def replica(number: int) -> None:
        sessionmaker = make_sessionmaker(engines[number])
        for n in range(15):
            await record_event(
                sessionmaker,
                action="run.shell",
                outcome="success",
                actor_id=number,
                target=f"r{number}:{n}",
            )

    await asyncio.gather(*(replica(number) for number in range(3)))
    async with make_sessionmaker(engines[0])() as session:
        report = await verify_chain(session)
    for engine in engines:
        await engine.dispose()
    assert report.ok, report.problems
    assert report.checked == 45
