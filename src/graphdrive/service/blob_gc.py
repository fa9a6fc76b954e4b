"""Reclaiming content no item references any more.

Safety: a blob's row and file are deleted inside a write unit of work, and uploads commit their
file inside one too, so a collector can never delete content that an upload has just started
to reference (the two are serialized by the database's write lock).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from graphdrive.storage.blobs import BlobStore
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ItemRepository

log = logging.getLogger(__name__)


class BlobCollector:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs

    async def collect(self, candidates: Iterable[str] | None) -> int:
        """Delete unreferenced blobs among ``candidates`` (``None``: all of them)."""
        wanted = None if candidates is None else sorted(set(candidates))
        if wanted == []:
            return 0
        async with self.db.write() as conn:
            repo = ItemRepository(conn)
            keys = await repo.forget_blobs(await repo.unreferenced_blobs(wanted))
            for key in keys:
                await self.blobs.delete(key)
        if keys:
            log.info("reclaimed blobs", extra={"action": "blob_gc", "count": len(keys)})
        return len(keys)
