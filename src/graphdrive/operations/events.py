"""In-process news that an operation's report may have changed, so a long-polling monitor
answers at once instead of at its next poll.

Announced after the change commits: by the worker pool when an operation ends, by an action
after each batch of progress, by the service after a cancel request. A monitor waiting on an
operation that another process works on hears nothing and keeps polling the database, so a
lost or missing announcement only delays an answer by one poll.
"""

from __future__ import annotations

import asyncio
import contextlib


class OperationEvents:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def changed(self, op_id: str) -> None:
        """Wake everyone waiting on ``op_id`` (call after the change has committed)."""
        for waiter in self._waiters.pop(op_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, op_id: str, timeout: float) -> bool:
        """Wait until ``op_id`` is announced or ``timeout`` seconds pass; True if announced."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self._waiters.setdefault(op_id, set())
        waiting.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, timeout)
            return waiter.done() and not waiter.cancelled()
        finally:
            waiting.discard(waiter)
            if not waiting and self._waiters.get(op_id) is waiting:
                del self._waiters[op_id]
