"""OperationEvents: a monitor waiting on an operation wakes when this process announces it."""

from __future__ import annotations

import asyncio

from graphdrive.operations.events import OperationEvents


async def test_an_announcement_wakes_every_waiter_of_that_operation_only() -> None:
    events = OperationEvents()
    first = asyncio.create_task(events.wait("op-1", timeout=30))
    second = asyncio.create_task(events.wait("op-1", timeout=30))
    other = asyncio.create_task(events.wait("op-2", timeout=0.05))
    await asyncio.sleep(0)
    events.changed("op-1")
    assert await first is True and await second is True
    assert await other is False  # timed out: nobody announced op-2
    assert events._waiters == {}  # nothing left behind


async def test_a_wait_times_out_and_an_announcement_nobody_awaits_is_dropped() -> None:
    events = OperationEvents()
    events.changed("op-1")  # nobody waits: nothing is kept for later
    assert await events.wait("op-1", timeout=0.01) is False
    assert events._waiters == {}


async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    events = OperationEvents()
    waiting = asyncio.create_task(events.wait("op-1", timeout=30))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert events._waiters == {}
    events.changed("op-1")
