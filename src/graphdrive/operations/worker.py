"""The worker pool: claims operations, runs their actions, retries, cleans up, shuts down.

Workers wake on :meth:`WorkerPool.notify` (an in-process signal sent when an operation is
accepted) and otherwise poll, so a lost signal only delays work by ``poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from graphdrive.metrics import CLAIM_LATENCY, OPERATIONS_FINISHED
from graphdrive.operations.actions import ActionRegistry
from graphdrive.operations.context import JobContext
from graphdrive.operations.model import (
    ActionFailed,
    CancelRequested,
    Interrupted,
    LeaseLost,
    Operation,
    OperationStatus,
)
from graphdrive.operations.store import OperationStore
from graphdrive.service.clock import utcnow
from graphdrive.storage.metadata.database import Database

log = logging.getLogger(__name__)


def backoff_seconds(attempt: int) -> float:
    """Retry delay after the ``attempt``-th failed try: 1, 2, 4, … capped at 60 s."""
    return float(min(2 ** max(attempt - 1, 0), 60))


class WorkerPool:
    def __init__(
        self,
        db: Database,
        registry: ActionRegistry,
        *,
        size: int,
        lease_seconds: float,
        retention_seconds: float,
        max_attempts: int,
        max_per_owner: int,
        poll_seconds: float = 1.0,
        listener: Callable[[Callable[[], None]], Coroutine[Any, Any, None]] | None = None,
        announce: Callable[[str], None] = lambda op_id: None,
    ) -> None:
        self.announce = announce
        self.listener = listener
        self.db = db
        self.registry = registry
        self.size = size
        self.lease_seconds = lease_seconds
        self.retention_seconds = retention_seconds
        self.max_attempts = max_attempts
        self.max_per_owner = max_per_owner
        self.poll_seconds = poll_seconds
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def notify(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if self.size and self.listener is not None:
            # Wakes this process's workers when another process accepts an operation.
            listening = asyncio.create_task(self.listener(self.notify), name="listener")
            self._tasks.append(listening)
        for n in range(self.size):
            task = asyncio.create_task(self._loop(f"{self.instance}:{n}"), name=f"worker-{n}")
            self._tasks.append(task)

    async def stop(self, grace_seconds: float = 20.0) -> None:
        """Stop claiming; running actions checkpoint at their next batch and release."""
        self._stopping.set()
        self._wake.set()
        if not self._tasks:
            return
        for task in self._tasks:
            if task.get_name() == "listener":
                task.cancel()
        _, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _loop(self, worker_id: str) -> None:
        ctx = JobContext(
            self.db,
            worker_id,
            self.lease_seconds,
            self.retention_seconds,
            self._stopping,
            self.announce,
        )
        while not self._stopping.is_set():
            try:
                op = await self._claim(worker_id)
            except Exception:
                log.exception("claim failed", extra={"action": "claim_error"})
                op = None
            if op is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                continue
            if op.attempts == 1:
                CLAIM_LATENCY.observe(max((utcnow() - op.created_at).total_seconds(), 0.0))
            await self.execute(ctx, op)

    async def _claim(self, worker_id: str) -> Operation | None:
        # Not durable: a claim a power loss undoes is claimed again (its lease only says who
        # works on the operation), and saving its fsync halves a small copy's.
        async with self.db.write(durable=False) as conn:
            return await OperationStore(conn).claim(
                worker_id, utcnow(), self.lease_seconds, self.max_per_owner
            )

    async def execute(self, ctx: JobContext, op: Operation) -> None:
        """Run one claimed operation to an end state (or hand it back)."""
        try:
            await self._execute(ctx, op)
        finally:
            self.announce(op.id)

    async def _execute(self, ctx: JobContext, op: Operation) -> None:
        action = self.registry.get(op.action)
        extra = {"operation_id": op.id, "attempt": op.attempts}
        try:
            if op.cancel_requested or op.status is OperationStatus.DELETE_PENDING:
                raise CancelRequested()
            log.info("operation started", extra={"action": "op_start", **extra})
            await action.run(ctx, op)
            OPERATIONS_FINISHED.labels(OperationStatus.COMPLETED.value).inc()
            log.info("operation completed", extra={"action": "op_completed", **extra})
        except CancelRequested:
            await self._end(ctx, op, OperationStatus.CANCELLED)
            log.info("operation cancelled", extra={"action": "op_cancelled", **extra})
        except ActionFailed as exc:
            await self._end(ctx, op, OperationStatus.FAILED, exc.code, exc.message)
            log.info("operation failed", extra={"action": "op_failed", "code": exc.code, **extra})
        except LeaseLost:
            log.warning("lease lost; another worker has it", extra={"action": "op_lease_lost"})
        except Interrupted:
            async with self.db.write() as conn:
                await OperationStore(conn).release(op, ctx.worker_id, utcnow())
            log.info("operation released at shutdown", extra={"action": "op_released", **extra})
        except Exception as exc:
            await self._retry_or_fail(ctx, op, exc)

    async def _retry_or_fail(self, ctx: JobContext, op: Operation, exc: Exception) -> None:
        extra = {"operation_id": op.id, "attempt": op.attempts}
        if op.attempts >= self.max_attempts:
            log.exception("operation failed for good", extra={"action": "op_gave_up", **extra})
            message = f"The operation failed after {op.attempts} attempts: {type(exc).__name__}."
            await self._end(ctx, op, OperationStatus.FAILED, "generalException", message)
            return
        delay = backoff_seconds(op.attempts)
        log.warning(
            "operation attempt failed; will retry",
            exc_info=exc,
            extra={"action": "op_retry", "delay": delay, **extra},
        )
        with contextlib.suppress(Exception):
            async with self.db.write() as conn:
                await OperationStore(conn).release(
                    op, ctx.worker_id, utcnow(), retry_at=utcnow() + timedelta(seconds=delay)
                )

    async def _end(
        self,
        ctx: JobContext,
        op: Operation,
        status: OperationStatus,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        action = self.registry.get(op.action)
        OPERATIONS_FINISHED.labels(status.value).inc()
        try:
            async with self.db.write() as conn:
                await action.cleanup(conn, op)
                await OperationStore(conn).finish(
                    op,
                    ctx.worker_id,
                    status,
                    utcnow(),
                    self.retention_seconds,
                    error_code=code,
                    error_message=message,
                )
        except LeaseLost:
            log.warning("lease lost while ending", extra={"action": "op_lease_lost"})
