"""Group commit of accepted operations (``operations/intake.py``) on every metadata backend.

Concurrent accepts share a transaction, but every caller resumes only once its own row is
committed, and a row that cannot be written fails its own request only.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from graphdrive.operations.intake import Intake
from graphdrive.operations.store import OperationStore, new_row
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import new_id
from graphdrive.storage.metadata.schema import operations

if TYPE_CHECKING:
    from tests.contract.metadata_backends import MetadataBackend

pytest_plugins = ["tests.contract.metadata_backends"]

T0 = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)


def row(op_id: str | None = None, **values: Any) -> dict[str, Any]:
    return new_row(
        id=op_id or new_id(),
        action="copy",
        owner_id="alice",
        params={"source_id": "S"},
        monitor_hash=new_id(),
        next_attempt_at=T0,
        created_at=T0,
        updated_at=T0,
        **values,
    )


async def count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(operations))).scalar())


def count_commits(db: Database) -> list[int]:
    commits: list[int] = []
    event.listen(db.engine.sync_engine, "commit", lambda _conn: commits.append(1))
    return commits


async def test_concurrent_accepts_share_commits_and_all_land(metadata_db: Database) -> None:
    intake = Intake(metadata_db)
    commits = count_commits(metadata_db)
    rows = [row() for _ in range(60)]

    await asyncio.gather(*(intake.record(r) for r in rows))

    assert await count(metadata_db) == 60
    # All 60 queued before the first commit began, so they share one or two commits.
    assert 1 <= len(commits) <= 2
    async with metadata_db.read() as conn:
        stored = await OperationStore(conn).get(rows[17]["id"])
    assert stored is not None and stored.params == {"source_id": "S"}


async def test_a_lone_accept_commits_without_waiting_for_company(metadata_db: Database) -> None:
    intake = Intake(metadata_db)
    await asyncio.wait_for(intake.record(row()), timeout=10)
    assert await count(metadata_db) == 1


async def test_a_bad_row_fails_only_its_own_caller(metadata_db: Database) -> None:
    intake = Intake(metadata_db)
    taken = new_id()
    await intake.record(row(taken))
    batch = [row() for _ in range(5)] + [row(taken)] + [row() for _ in range(5)]

    results = await asyncio.gather(*(intake.record(r) for r in batch), return_exceptions=True)

    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], IntegrityError)
    assert isinstance(results[5], IntegrityError)
    assert await count(metadata_db) == 1 + 10


async def test_a_caller_that_goes_away_does_not_undo_the_commit(
    metadata_db: Database,
) -> None:
    intake = Intake(metadata_db)
    first = asyncio.create_task(intake.record(row()))
    second = asyncio.create_task(intake.record(row()))
    await asyncio.sleep(0)
    second.cancel()
    await first
    with pytest.raises(asyncio.CancelledError):
        await second
    for _ in range(100):  # the shared commit finishes on its own
        if await count(metadata_db) == 2:
            break
        await asyncio.sleep(0.01)
    assert await count(metadata_db) == 2


async def test_rows_past_one_batch_are_split(
    metadata_backend: MetadataBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("graphdrive.operations.intake.MAX_BATCH", 4)
    db = metadata_backend.open()
    intake = Intake(db)
    commits = count_commits(db)

    await asyncio.gather(*(intake.record(row()) for _ in range(13)))

    assert await count(db) == 13
    assert len(commits) >= 1 + 3  # the first alone, then at most 4 rows per commit
