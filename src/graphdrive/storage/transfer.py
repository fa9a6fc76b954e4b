"""Move a whole graphdrive installation to other storage (e.g. the embedded SQLite + local
files → PostgreSQL + S3): metadata row by row in batches, content blob by blob.

Run it with the server stopped: it refuses a source with unfinished operations (their partial
work would not survive the move) and a target that already holds drives. Content is streamed;
nothing is held in memory as a whole.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, insert, select, text

from graphdrive.exceptions import ConfigurationError
from graphdrive.operations.model import FINISHED
from graphdrive.storage.blobs import BlobStore
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.migrate import migrate
from graphdrive.storage.metadata.schema import blobs, drive_members, drives, items, operations

log = logging.getLogger(__name__)
BATCH = 2000

# Items parents-first, so the target's foreign keys hold after every batch.
_ITEMS_IN_TREE_ORDER = """
WITH RECURSIVE tree(id, depth) AS (
    SELECT id, 0 FROM items WHERE parent_id IS NULL
    UNION ALL
    SELECT i.id, t.depth + 1 FROM items i JOIN tree t ON i.parent_id = t.id
)
SELECT items.* FROM items JOIN tree ON tree.id = items.id ORDER BY tree.depth, items.id
"""


@dataclass
class TransferReport:
    rows: dict[str, int] = field(default_factory=dict)
    blobs_copied: int = 0
    blobs_present: int = 0


async def transfer(
    source: Database, source_blobs: BlobStore, target: Database, target_blobs: BlobStore
) -> TransferReport:
    await migrate(target)
    await _check(source, target)
    report = TransferReport()
    async with source.read() as conn:
        keys = [key for (key,) in await conn.execute(select(blobs.c.key))]
    for key in keys:
        if await target_blobs.exists(key):
            report.blobs_present += 1
            continue
        staged = await target_blobs.stage(source_blobs.read(key))
        if staged.sha256 != key:
            await target_blobs.discard(staged)
            raise ConfigurationError(f"blob {key} does not match its content in the source")
        await target_blobs.commit(staged)
        report.blobs_copied += 1
    for table in (drives, drive_members, blobs):
        report.rows[table.name] = await _copy_rows(
            source, target, table, select(table).order_by(*table.primary_key.columns)
        )
    in_tree_order = text(_ITEMS_IN_TREE_ORDER).columns(*items.c)
    report.rows["items"] = await _copy_rows(source, target, items, in_tree_order)
    report.rows["operations"] = await _copy_rows(
        source, target, operations, select(operations).order_by(operations.c.id)
    )
    log.info("transfer complete", extra={"action": "transfer", **report.rows})
    return report


async def _check(source: Database, target: Database) -> None:
    async with source.read() as conn:
        unfinished = await conn.execute(
            select(func.count()).where(operations.c.status.not_in([s.value for s in FINISHED]))
        )
        if unfinished.scalar_one():
            raise ConfigurationError(
                "The source has operations that are not finished: let them finish (or cancel "
                "them) and stop the server before transferring."
            )
    async with target.read() as conn:
        if (await conn.execute(select(func.count()).select_from(drives))).scalar_one():
            raise ConfigurationError("The target already holds drives; transfer into an empty one.")


async def _copy_rows(source: Database, target: Database, table: Table, query: Any) -> int:
    copied = 0
    async for batch in _batches(source, query):
        async with target.write() as conn:
            await conn.execute(insert(table), batch)
        copied += len(batch)
    return copied


async def _batches(source: Database, query: Any) -> AsyncIterator[list[dict[str, Any]]]:
    async with source.read() as conn:
        result = await conn.stream(query)
        async for partition in result.mappings().partitions(BATCH):
            yield [dict(row) for row in partition]
