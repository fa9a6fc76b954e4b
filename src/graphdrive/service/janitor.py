"""Periodic housekeeping: expired operations, snapshots of finished copies, unreferenced blobs,
stale staging data, and (at start, then every few hours) stored content a crash left without a
blob row."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from graphdrive.operations.copy import sweep_finished_snapshots
from graphdrive.operations.store import purge_expired
from graphdrive.service.blob_gc import BlobCollector
from graphdrive.service.clock import utcnow
from graphdrive.service.uploads import UploadService
from graphdrive.storage.blobs import BlobStore
from graphdrive.storage.metadata.database import Database

log = logging.getLogger(__name__)

# Staged uploads idle longer than this are leftovers of a crash.
STAGING_MAX_AGE_SECONDS = 6 * 3600
# Finding orphaned content lists every stored key: at start (a crash is what leaves it), then
# this often.
ORPHAN_SWEEP_SECONDS = 6 * 3600


class Janitor:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        collector: BlobCollector,
        uploads: UploadService,
        interval: float = 300.0,
        orphan_interval: float = ORPHAN_SWEEP_SECONDS,
    ) -> None:
        self.orphan_interval = orphan_interval
        self._next_orphan_sweep = 0.0  # time.monotonic() of the next one; 0: the first run
        self.uploads = uploads
        self.db = db
        self.blobs = blobs
        self.collector = collector
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        async with self.db.write() as conn:
            purged = await purge_expired(conn, utcnow())
        expired = await self.uploads.expire(utcnow())
        # Before collecting blobs: a leftover snapshot would hold its blobs (and defer
        # every targeted collection) for nothing.
        snapshots = await sweep_finished_snapshots(self.db)
        reclaimed = await self.collector.collect(None)
        swept = await self.blobs.sweep_staging(STAGING_MAX_AGE_SECONDS)
        orphans = 0
        if time.monotonic() >= self._next_orphan_sweep:
            orphans = await self.collector.sweep_orphans()
            self._next_orphan_sweep = time.monotonic() + self.orphan_interval
        if purged or expired or snapshots or reclaimed or swept or orphans:
            log.info(
                "housekeeping",
                extra={
                    "action": "janitor",
                    "purged": purged,
                    "uploads": expired,
                    "snapshots": snapshots,
                    "blobs": reclaimed,
                    "staged": swept,
                    "orphans": orphans,
                },
            )

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="janitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("housekeeping failed", extra={"action": "janitor_error"})
            await asyncio.sleep(self.interval)
