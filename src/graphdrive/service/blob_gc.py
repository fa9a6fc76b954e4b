"""Reclaiming content no item references any more.

Safety: a blob's row and file are deleted inside a write unit of work, and uploads commit their
file inside one too, so a collector can never delete content that an upload has just started
to reference (the two are serialized by the database's write lock).

Copy snapshots (``copy_nodes``) hold blobs too: an item deleted while a copy of it is being
built must keep its content until the copy has built its own reference. ``copy_nodes`` has no
index on ``blob_key`` (every copied item would pay for one), so while any snapshot exists a
collection of a few candidates (after a delete or an overwrite) is left to the janitor's
periodic full collection, which finds the blobs snapshots hold with one scan of ``copy_nodes``.
The check and the collection share one unit of work: on SQLite no snapshot can appear in
between, and on PostgreSQL the query that picks the blobs checks ``copy_nodes`` itself.

Orphaned content: an upload inserts its ``blobs`` row, then commits its file, then commits the
unit of work. A crash between the last two leaves a stored file with no row, which
:meth:`BlobCollector.sweep_orphans` deletes. Each candidate is claimed first by inserting a
placeholder row for its key in a write unit of work (:meth:`ItemRepository.hold_blob_key`):
on SQLite no upload is half-way while the sweeper holds the write lock, and on PostgreSQL the
insert waits for an upload of the same content that has not committed yet and then finds its
row. A key that could be claimed is one no upload is writing, so its file can go.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.service.clock import utcnow
from graphdrive.storage.blobs import BlobStore
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ItemRepository
from graphdrive.storage.metadata.schema import blobs, copy_nodes, items

log = logging.getLogger(__name__)


class BlobCollector:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs

    async def collect(self, candidates: Iterable[str] | None) -> int:
        """Delete unreferenced blobs among ``candidates`` (``None``: all of them).

        With ``candidates`` given and a copy snapshot in existence, nothing is collected now:
        the janitor's full collection (``candidates=None``) reclaims them later."""
        wanted = None if candidates is None else sorted(set(candidates))
        if wanted == []:
            return 0
        async with self.db.write() as conn:
            repo = ItemRepository(conn)
            if not await snapshots_exist(conn):
                chosen = await repo.unreferenced_blobs(wanted)
            elif wanted is None:
                chosen = await unreferenced_during_copies(conn)
            else:
                log.debug("blob collection deferred: copy snapshots exist")
                return 0
            keys = await repo.forget_blobs(chosen)
            for key in keys:
                await self.blobs.delete(key)
        if keys:
            log.info("reclaimed blobs", extra={"action": "blob_gc", "count": len(keys)})
        return len(keys)

    async def sweep_orphans(self) -> int:
        """Delete stored content that no ``blobs`` row describes (see the module docstring);
        returns how many files were deleted. Lists every stored key: run it rarely."""
        swept, batch = 0, []
        async for key in self.blobs.keys():
            batch.append(key)
            if len(batch) >= ORPHAN_BATCH:
                swept += await self._sweep(batch)
                batch = []
        if batch:
            swept += await self._sweep(batch)
        if swept:
            log.warning(
                "deleted stored content no blob row describes (left by a crash)",
                extra={"action": "blob_orphans", "count": swept},
            )
        return swept

    async def _sweep(self, keys: list[str]) -> int:
        async with self.db.read() as conn:
            unknown = await ItemRepository(conn).unknown_blobs(keys)
        swept = 0
        for key in unknown:
            async with self.db.write() as conn:
                repo = ItemRepository(conn)
                if await repo.hold_blob_key(key, utcnow()):
                    await self.blobs.delete(key)
                    await repo.release_blob_key(key)
                    swept += 1
        return swept


ORPHAN_BATCH = 500  # stored keys looked up in one read


async def snapshots_exist(conn: AsyncConnection) -> bool:
    return (await conn.execute(select(copy_nodes.c.op_id).limit(1))).first() is not None


async def unreferenced_during_copies(conn: AsyncConnection) -> list[str]:
    """Every blob neither an item nor a copy snapshot refers to, without an index on
    ``copy_nodes.blob_key``: SQLite evaluates the uncorrelated ``NOT IN`` once (one scan of
    ``copy_nodes`` into a temporary index); PostgreSQL turns ``NOT EXISTS`` into an anti-join
    (what ``ItemRepository.unreferenced_blobs`` asks for)."""
    if conn.dialect.name != "sqlite":
        return await ItemRepository(conn).unreferenced_blobs()
    referenced = select(items.c.id).where(items.c.blob_key == blobs.c.key).exists()
    held = select(copy_nodes.c.blob_key).where(copy_nodes.c.blob_key.is_not(None))
    stmt = select(blobs.c.key).where(~referenced, blobs.c.key.not_in(held))
    return list((await conn.execute(stmt)).scalars())
