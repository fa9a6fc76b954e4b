"""SQLite bulk writes: the PRAGMAs switch for bulk write units of work and switch back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.storage.metadata.database import Database, open_database
from graphdrive.storage.metadata.migrate import migrate
from graphdrive.storage.metadata.sqlite import BULK_PRAGMAS, NORMAL_PRAGMAS, bulk_writes

ORPHAN = (
    "INSERT INTO items (id, drive_id, parent_id, name, name_key, is_folder, size, version,"
    " content_version, created_at, modified_at, created_by_id, created_by_name, modified_by_id,"
    " modified_by_name) VALUES (:id, 'no drive', 'no parent', 'x', 'x', 0, 0, 1, 1,"
    " '2024-01-01 00:00:00', '2024-01-01 00:00:00', 'u', 'u', 'u', 'u')"
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path}/b.db")
    await migrate(database)
    yield database
    await database.dispose()


async def pragmas(conn: AsyncConnection) -> dict[str, str]:
    return {
        name: str((await conn.exec_driver_sql(f"PRAGMA {name}")).scalar())
        for name in NORMAL_PRAGMAS
    }


def numeric(values: dict[str, str]) -> dict[str, str]:
    return {k: {"ON": "1", "OFF": "0"}.get(v, v) for k, v in values.items()}


async def test_bulk_writes_switch_the_connection_and_the_next_unit_switches_it_back(
    db: Database,
) -> None:
    with bulk_writes():
        async with db.write() as conn:
            assert await pragmas(conn) == numeric(BULK_PRAGMAS)
            # No foreign-key checks: the writer vouches for its references.
            await conn.execute(text(ORPHAN), {"id": "bulk"})
            await conn.execute(text("DELETE FROM items WHERE id = 'bulk'"))
    async with db.write() as conn:
        assert await pragmas(conn) == numeric(NORMAL_PRAGMAS)
        with pytest.raises(Exception, match="FOREIGN KEY"):
            await conn.execute(text(ORPHAN), {"id": "normal"})
    with bulk_writes():
        async with db.read() as conn:  # reads are never bulk
            assert await pragmas(conn) == numeric(NORMAL_PRAGMAS)
