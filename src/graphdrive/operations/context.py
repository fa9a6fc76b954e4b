"""The frozen context a running action receives: progress, lease renewal, stop signals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.operations.model import CancelRequested, Interrupted, Operation, OperationStatus
from graphdrive.operations.store import OperationStore
from graphdrive.service.clock import utcnow
from graphdrive.storage.metadata.database import Database


@dataclass(frozen=True)
class JobContext:
    db: Database
    worker_id: str
    lease_seconds: float
    retention_seconds: float
    stopping: asyncio.Event
    # Tells waiting monitors of this process that an operation's report changed: call it
    # after the change commits (see operations/events.py).
    announce: Callable[[str], None] = lambda op_id: None

    def check_stop(self) -> None:
        """Raise :class:`Interrupted` if the worker is shutting down (call between batches)."""
        if self.stopping.is_set():
            raise Interrupted()

    async def advance(
        self,
        conn: AsyncConnection,
        op: Operation,
        *,
        items: int = 0,
        bytes_: int = 0,
        totals: tuple[int, int] | None = None,
        checkpoint: dict[str, Any] | None = None,
    ) -> Operation:
        """Record progress with the work in ``conn``'s transaction; renews the lease.

        Raises :class:`CancelRequested` when the owner asked to cancel (the transaction then
        rolls back, and cleanup removes what earlier batches built).
        """
        op, cancel = await OperationStore(conn).advance(
            op,
            self.worker_id,
            utcnow(),
            self.lease_seconds,
            items=items,
            bytes_=bytes_,
            totals=totals,
            checkpoint=checkpoint,
        )
        if cancel:
            raise CancelRequested()
        return op

    async def complete(
        self, conn: AsyncConnection, op: Operation, resource_id: str, resource_drive_id: str
    ) -> None:
        """Mark the operation completed, in the transaction that publishes its result."""
        await OperationStore(conn).finish(
            op,
            self.worker_id,
            OperationStatus.COMPLETED,
            utcnow(),
            self.retention_seconds,
            resource_id=resource_id,
            resource_drive_id=resource_drive_id,
        )
