"""``Database.glance()``: cheap reads that see the latest commit, on every metadata backend.

On SQLite a glance runs on the event loop's own thread (``sqlite_inline.py``); it must never
wait for a writer, never see uncommitted rows, and never write.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError

from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ItemRepository
from graphdrive.storage.metadata.schema import drives

pytest_plugins = ["tests.contract.metadata_backends"]

NOW = datetime(2030, 1, 1, tzinfo=UTC)


async def drive_name(db: Database, drive_id: str) -> str:
    async with db.glance() as conn:
        drive = await ItemRepository(conn).drive(drive_id)
    assert drive is not None
    return drive.owner_name


async def test_a_glance_sees_the_latest_commit(metadata_db: Database) -> None:
    async with metadata_db.write() as conn:
        drive = await ItemRepository(conn).create_drive("alice", "Alice", NOW)
    assert await drive_name(metadata_db, drive.id) == "Alice"

    async with metadata_db.write() as conn:
        await conn.execute(update(drives).values(owner_name="Alice B"))
    assert await drive_name(metadata_db, drive.id) == "Alice B"


async def test_a_glance_neither_waits_for_nor_sees_an_open_write(metadata_db: Database) -> None:
    async with metadata_db.write() as conn:
        drive = await ItemRepository(conn).create_drive("alice", "Alice", NOW)
    writing, release = asyncio.Event(), asyncio.Event()

    async def slow_writer() -> None:
        async with metadata_db.write() as conn:
            await conn.execute(update(drives).values(owner_name="uncommitted"))
            writing.set()
            await release.wait()

    writer = asyncio.create_task(slow_writer())
    await writing.wait()
    try:
        name = await asyncio.wait_for(drive_name(metadata_db, drive.id), timeout=5)
    finally:
        release.set()
        await writer
    assert name == "Alice"
    assert await drive_name(metadata_db, drive.id) == "uncommitted"


async def test_results_are_read_in_full_at_once(metadata_db: Database) -> None:
    async with metadata_db.write() as conn:
        for n in range(5):
            await ItemRepository(conn).create_drive(f"user{n}", f"User {n}", NOW)
    async with metadata_db.glance() as conn:
        first = await conn.execute(select(drives.c.owner_id).order_by(drives.c.owner_id))
        second = await conn.execute(select(drives.c.owner_id).order_by(drives.c.owner_id))
        assert [r.owner_id for r in second] == [r.owner_id for r in first]
    assert len([r for r in first]) == 0  # already consumed above


async def test_a_glance_on_sqlite_cannot_write(metadata_db: Database) -> None:
    if metadata_db.dialect != "sqlite":
        pytest.skip("PostgreSQL glances are autocommit reads (no read-only mode)")
    with pytest.raises(DBAPIError, match="readonly"):
        async with metadata_db.glance() as conn:
            await conn.execute(
                insert(drives).values(
                    id="d", owner_id="o", owner_name="n", root_id="r", created_at=NOW
                )
            )
