"""Group commit for accepted operations: one transaction (one fsync) records many 202s.

Every ``POST …/copy`` must be durably recorded before it is answered. Committing each one on
its own makes the metadata database's commit (an fsync with SQLite's ``synchronous=FULL``)
the limit on how many actions a process can accept. :class:`Intake` queues the rows of
operations accepted at the same time and inserts whatever has queued up while the previous
commit ran in one multi-row ``INSERT`` and one commit; each caller resumes only after the
commit that holds its row. Nothing waits for a batch to fill: an idle server commits a lone
row at once, so batching only appears under load, where it raises throughput.

If a shared commit fails, each row of the batch is retried in its own transaction, so one
row's error is reported to its own request only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from graphdrive.operations.store import OperationStore
from graphdrive.storage.metadata.database import Database

MAX_BATCH = 500  # rows per shared INSERT: keeps each write transaction short


class Intake:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def record(self, row: dict[str, Any]) -> None:
        """Insert one operation row (from ``store.new_row``); return once it is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((row, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="graphdrive-intake")
        # A caller that goes away (client hang-up) does not cancel the shared commit.
        await asyncio.shield(future)

    async def _drain(self) -> None:
        batch: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    await self._commit([row for row, _ in batch])
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch[0][1], exc)
                    else:
                        for row, future in batch:
                            await self._commit_alone(row, future)
                else:
                    for _, future in batch:
                        _settle(future, None)
                batch = []
        finally:  # cancelled (shutdown): nobody may wait forever
            for _, future in batch + self._queue:
                future.cancel()
            self._queue = []

    async def _commit(self, rows: list[dict[str, Any]]) -> None:
        async with self.db.write() as conn:
            await OperationStore(conn).create_many(rows)

    async def _commit_alone(self, row: dict[str, Any], future: asyncio.Future[None]) -> None:
        try:
            await self._commit([row])
        except Exception as exc:
            _settle(future, exc)
        else:
            _settle(future, None)


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
