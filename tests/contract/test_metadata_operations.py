"""The OperationStore contract: one suite, run against every metadata backend.

Time is passed in explicitly (``now``), so leases expire and retries come due without
sleeping. Concurrency tests run several claimers on separate engines (as separate worker
processes would) against the same database.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from graphdrive.operations.model import CancelRequested, LeaseLost, Operation, OperationStatus
from graphdrive.operations.store import OperationStore, purge_expired
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import new_id
from graphdrive.storage.metadata.schema import operations

if TYPE_CHECKING:  # imported by pytest_plugins below, which lets pytest rewrite its asserts
    from tests.contract.metadata_backends import MetadataBackend

# The metadata_backend and metadata_db fixtures (SQLite and PostgreSQL) come from here:
pytest_plugins = ["tests.contract.metadata_backends"]

T0 = datetime(2030, 6, 1, 12, 0, 0, tzinfo=UTC)
LEASE = 30.0
RETENTION = 3600.0
MANY = 1000  # a per-owner limit that never binds


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def create(db: Database, *, created: float = 0, owner: str = "alice", **values: Any) -> str:
    op_id = values.pop("id", None) or new_id()
    values.setdefault("params", {"source_id": "S", "n": created})
    values.setdefault("next_attempt_at", at(created))
    async with db.write() as conn:
        await OperationStore(conn).create(
            id=op_id,
            action="copy",
            owner_id=owner,
            created_at=at(created),
            updated_at=at(created),
            **values,
        )
    return op_id


async def get(db: Database, op_id: str) -> Operation:
    async with db.read() as conn:
        op = await OperationStore(conn).get(op_id)
    assert op is not None, op_id
    return op


async def claim(
    db: Database, worker: str, now: datetime, *, max_per_owner: int = MANY
) -> Operation | None:
    async with db.write() as conn:
        return await OperationStore(conn).claim(worker, now, LEASE, max_per_owner)


async def advance(db: Database, op: Operation, worker: str, now: datetime, **kw: Any) -> Any:
    async with db.write() as conn:
        return await OperationStore(conn).advance(op, worker, now, LEASE, **kw)


async def finish(
    db: Database, op: Operation, worker: str | None, status: OperationStatus, now: datetime,
    **kw: Any,
) -> None:  # fmt: skip
    async with db.write() as conn:
        await OperationStore(conn).finish(op, worker, status, now, RETENTION, **kw)


# -- creating and finding ---------------------------------------------------------------------
async def test_create_then_get_by_id_monitor_hash_and_idempotency_key(
    metadata_db: Database,
) -> None:
    monitor = hashlib.sha256(b"token").hexdigest()
    params = {"source_id": "S", "nested": {"list": [1, 2]}, "name": "Ünïcode"}
    op_id = await create(
        metadata_db,
        params=params,
        monitor_hash=monitor,
        idempotency_key="key-1",
        request_hash="f" * 64,
    )
    op = await get(metadata_db, op_id)
    assert (op.id, op.action, op.owner_id, op.status) == (
        op_id, "copy", "alice", OperationStatus.NOT_STARTED,
    )  # fmt: skip
    assert op.params == params
    assert op.checkpoint is None
    assert (op.total_items, op.done_items, op.total_bytes, op.done_bytes) == (0, 0, 0, 0)
    assert (op.percent, op.cancel_requested, op.attempts) == (0.0, False, 0)
    assert (op.lease_owner, op.lease_expires_at, op.finished_at, op.expires_at) == (None,) * 4
    assert op.created_at == T0 and op.created_at.tzinfo is not None

    async with metadata_db.read() as conn:
        store = OperationStore(conn)
        assert await store.by_monitor_hash(monitor) == op
        assert await store.by_monitor_hash("0" * 64) is None
        assert await store.by_idempotency_key("alice", "key-1") == (op, "f" * 64)
        assert await store.by_idempotency_key("bob", "key-1") is None
        assert await store.by_idempotency_key("alice", "key-2") is None
        assert await store.get("NOSUCHOP") is None

    async with metadata_db.write() as conn:
        await OperationStore(conn).revoke_monitor(op_id)
    async with metadata_db.read() as conn:
        assert await OperationStore(conn).by_monitor_hash(monitor) is None


async def test_idempotency_keys_are_unique_per_owner(metadata_db: Database) -> None:
    first = await create(metadata_db, idempotency_key="k", request_hash="a" * 64)
    await create(metadata_db, owner="bob", idempotency_key="k")
    await create(metadata_db)  # no key: any number of them
    await create(metadata_db)
    with pytest.raises(IntegrityError):
        await create(metadata_db, idempotency_key="k")
    async with metadata_db.write() as conn:
        await OperationStore(conn).forget_idempotency_key(first)
    second = await create(metadata_db, idempotency_key="k", request_hash="b" * 64)
    async with metadata_db.read() as conn:
        found = await OperationStore(conn).by_idempotency_key("alice", "k")
    assert found is not None and found[0].id == second and found[1] == "b" * 64


async def test_list_for_owner_pages_newest_first(metadata_db: Database) -> None:
    ids = [await create(metadata_db, created=n // 2) for n in range(7)]  # pairs share a time
    await create(metadata_db, owner="bob")
    async with metadata_db.read() as conn:
        store = OperationStore(conn)
        everything = await store.list_for_owner("alice", statuses=None, before=None, limit=100)
        pages: list[str] = []
        before = None
        while page := await store.list_for_owner("alice", statuses=None, before=before, limit=3):
            pages += [op.id for op in page]
            before = (page[-1].created_at, page[-1].id)
        assert pages == [op.id for op in everything]
        assert sorted(pages) == sorted(ids)
        keys = [(op.created_at, op.id) for op in everything]
        assert keys == sorted(keys, reverse=True)
        assert (
            await store.list_for_owner("alice", statuses=["completed"], before=None, limit=9) == []
        )


# -- claiming ----------------------------------------------------------------------------------
async def test_claim_takes_the_oldest_runnable_operation(metadata_db: Database) -> None:
    second = await create(metadata_db, created=2)
    first = await create(metadata_db, created=1, owner="bob")
    third = await create(metadata_db, created=3)
    now = at(10)
    claimed = [await claim(metadata_db, f"w{n}", now) for n in range(4)]
    assert [op.id if op else None for op in claimed] == [first, second, third, None]
    op = claimed[0]
    assert op is not None
    assert op.status is OperationStatus.IN_PROGRESS
    assert (op.lease_owner, op.lease_expires_at, op.attempts) == ("w0", at(10 + LEASE), 1)
    assert await get(metadata_db, first) == op


async def test_claim_skips_operations_not_due_yet(metadata_db: Database) -> None:
    later = await create(metadata_db, created=0, next_attempt_at=at(60))
    assert await claim(metadata_db, "w", at(59)) is None
    op = await claim(metadata_db, "w", at(60))
    assert op is not None and op.id == later


async def test_finished_operations_are_never_claimed(metadata_db: Database) -> None:
    for status in ("completed", "failed", "cancelled"):
        await create(metadata_db, status=status)
    assert await claim(metadata_db, "w", at(1)) is None


async def due(db: Database, op_id: str) -> Any:
    async with db.read() as conn:
        stmt = select(operations.c.next_attempt_at).where(operations.c.id == op_id)
        return (await conn.execute(stmt)).scalar_one()


async def test_an_operation_leaves_the_claims_index_when_it_ends(metadata_db: Database) -> None:
    """Claims walk the runnable operations by next_attempt_at: an ended one has none."""
    finished, queued_then_cancelled = await create(metadata_db), await create(metadata_db)
    op = await claim(metadata_db, "w", at(1))
    assert op is not None and op.id == finished and await due(metadata_db, finished) is not None
    await finish(metadata_db, op, "w", OperationStatus.COMPLETED, at(2))
    async with metadata_db.write() as conn:
        queued = await _get(conn, queued_then_cancelled)
        await OperationStore(conn).request_cancel(queued, at(3), RETENTION)
    assert await due(metadata_db, finished) is None
    assert await due(metadata_db, queued_then_cancelled) is None


async def test_claims_take_the_operation_due_longest(metadata_db: Database) -> None:
    """A retried operation waits its turn behind work that became due before its retry."""
    retried = await create(metadata_db, created=0)
    op = await claim(metadata_db, "w", at(1))
    assert op is not None and op.id == retried
    async with metadata_db.write() as conn:
        await OperationStore(conn).release(op, "w", at(2), retry_at=at(10))
    later = [await create(metadata_db, created=n) for n in (3, 4)]
    order = [await claim(metadata_db, f"w{n}", at(11)) for n in range(3)]
    assert [o.id for o in order if o is not None] == [*later, retried]


async def test_a_leased_operation_is_rescued_only_after_its_lease_expires(
    metadata_db: Database,
) -> None:
    op_id = await create(metadata_db)
    mine = await claim(metadata_db, "w1", at(0))
    assert mine is not None and mine.id == op_id
    mine, _ = await advance(metadata_db, mine, "w1", at(5), totals=(10, 0), items=4,
                            checkpoint={"next": 5})  # fmt: skip
    # advance renewed the lease to 5 + LEASE.
    assert await claim(metadata_db, "w2", at(5 + LEASE - 1)) is None
    assert await claim(metadata_db, "w2", at(5 + LEASE)) is None  # expires *after* this instant
    rescued = await claim(metadata_db, "w2", at(5 + LEASE + 1))
    assert rescued is not None and rescued.id == op_id
    assert rescued.status is OperationStatus.IN_PROGRESS
    assert (rescued.lease_owner, rescued.attempts) == ("w2", 2)
    assert rescued.checkpoint == {"next": 5} and rescued.done_items == 4

    # The old holder can no longer touch it.
    with pytest.raises(LeaseLost):
        await advance(metadata_db, mine, "w1", at(40), items=1)
    with pytest.raises(LeaseLost):
        await finish(metadata_db, mine, "w1", OperationStatus.COMPLETED, at(40))
    async with metadata_db.write() as conn:
        await OperationStore(conn).release(mine, "w1", at(40))
    after = await get(metadata_db, op_id)
    assert (after.lease_owner, after.attempts, after.done_items) == ("w2", 2, 4)
    assert after.status is OperationStatus.IN_PROGRESS


async def test_owner_limit_holds_back_new_work_but_not_rescues(metadata_db: Database) -> None:
    a1 = await create(metadata_db, created=1)
    a2 = await create(metadata_db, created=2)
    a3 = await create(metadata_db, created=3)
    b1 = await create(metadata_db, created=4, owner="bob")
    short = await claim(metadata_db, "w1", at(10))  # a1, lease until 10 + LEASE
    assert short is not None and short.id == a1
    async with metadata_db.write() as conn:
        long = await OperationStore(conn).claim("w2", at(10), 10 * LEASE, MANY)  # a2
    assert long is not None and long.id == a2

    later = at(10 + LEASE + 1)  # a1's lease is over, a2's is not: alice has 1 active
    with_limit_1 = await claim(metadata_db, "w3", later, max_per_owner=1)
    assert with_limit_1 is not None and with_limit_1.id == a1, "a rescue ignores the limit"
    assert with_limit_1.attempts == 2
    # Alice now holds 2 live leases: her queued a3 waits, bob's b1 does not.
    nxt = await claim(metadata_db, "w4", later, max_per_owner=2)
    assert nxt is not None and nxt.id == b1
    assert await claim(metadata_db, "w5", later, max_per_owner=2) is None
    assert (await get(metadata_db, a3)).status is OperationStatus.NOT_STARTED
    freed = await claim(metadata_db, "w5", later, max_per_owner=3)
    assert freed is not None and freed.id == a3

    async with metadata_db.read() as conn:
        assert await OperationStore(conn).active_count("alice") == 3


async def test_finishing_frees_a_slot_for_the_owner(metadata_db: Database) -> None:
    first = await create(metadata_db, created=1)
    second = await create(metadata_db, created=2)
    op = await claim(metadata_db, "w1", at(5), max_per_owner=1)
    assert op is not None and op.id == first
    assert await claim(metadata_db, "w2", at(5), max_per_owner=1) is None
    await finish(metadata_db, op, "w1", OperationStatus.COMPLETED, at(6))
    nxt = await claim(metadata_db, "w2", at(7), max_per_owner=1)
    assert nxt is not None and nxt.id == second


# -- progress ----------------------------------------------------------------------------------
async def test_advance_records_progress_checkpoint_and_a_monotonic_percent(
    metadata_db: Database,
) -> None:
    op_id = await create(metadata_db)
    op = await claim(metadata_db, "w", at(0))
    assert op is not None
    op, cancel = await advance(metadata_db, op, "w", at(1), totals=(10, 1000),
                               checkpoint={"prefix": "P-", "next_seq": 1})  # fmt: skip
    assert cancel is False
    assert (op.total_items, op.total_bytes, op.percent) == (10, 1000, 0.0)

    op, _ = await advance(metadata_db, op, "w", at(2), items=4, bytes_=600,
                          checkpoint={"prefix": "P-", "next_seq": 5})  # fmt: skip
    assert op.percent == 50.0  # (4/10 + 600/1000) / 2
    stored = await get(metadata_db, op_id)
    assert (stored.done_items, stored.done_bytes, stored.percent) == (4, 600, 50.0)
    assert stored.checkpoint == {"prefix": "P-", "next_seq": 5}
    assert stored.lease_expires_at == at(2 + LEASE)
    assert stored.updated_at == at(2)
    assert stored == op

    # Bigger totals would lower the figure: the percentage never goes back.
    op, _ = await advance(metadata_db, op, "w", at(3), totals=(100, 10_000))
    assert op.percent == 50.0
    assert (await get(metadata_db, op_id)).percent == 50.0
    # Without a checkpoint the stored one stays; progress past the totals stays below 100.
    op, _ = await advance(metadata_db, op, "w", at(4), items=500, bytes_=50_000)
    stored = await get(metadata_db, op_id)
    assert stored.checkpoint == {"prefix": "P-", "next_seq": 5}
    assert 50.0 < stored.percent < 100.0


async def test_advance_by_another_worker_raises_lease_lost(metadata_db: Database) -> None:
    op_id = await create(metadata_db)
    op = await claim(metadata_db, "owner-worker", at(0))
    assert op is not None
    with pytest.raises(LeaseLost):
        await advance(metadata_db, op, "intruder", at(1), items=3, checkpoint={"x": 1})
    stored = await get(metadata_db, op_id)
    assert (stored.done_items, stored.checkpoint, stored.lease_owner) == (0, None, "owner-worker")


# -- ending ------------------------------------------------------------------------------------
async def test_finish_completed_sets_retention_and_full_progress(metadata_db: Database) -> None:
    op_id = await create(metadata_db)
    op = await claim(metadata_db, "w", at(0))
    assert op is not None
    op, _ = await advance(metadata_db, op, "w", at(1), totals=(8, 80), items=3, bytes_=10)
    await finish(metadata_db, op, "w", OperationStatus.COMPLETED, at(2),
                 resource_id="ITEM", resource_drive_id="b!drive")  # fmt: skip
    done = await get(metadata_db, op_id)
    assert done.status is OperationStatus.COMPLETED
    assert (done.percent, done.done_items, done.done_bytes) == (100.0, 8, 80)
    assert (done.finished_at, done.expires_at) == (at(2), at(2 + RETENTION))
    assert (done.lease_owner, done.lease_expires_at) == (None, None)
    assert (done.resource_id, done.resource_drive_id) == ("ITEM", "b!drive")
    assert await claim(metadata_db, "w", at(3)) is None


async def test_finish_failed_keeps_progress_and_records_the_error(metadata_db: Database) -> None:
    op_id = await create(metadata_db)
    op = await claim(metadata_db, "w", at(0))
    assert op is not None
    op, _ = await advance(metadata_db, op, "w", at(1), totals=(4, 0), items=1)
    with pytest.raises(LeaseLost):
        await finish(metadata_db, op, "other", OperationStatus.FAILED, at(2))
    with pytest.raises(ValueError):
        await finish(metadata_db, op, "w", OperationStatus.IN_PROGRESS, at(2))
    await finish(metadata_db, op, "w", OperationStatus.FAILED, at(2),
                 error_code="nameAlreadyExists", error_message="taken")  # fmt: skip
    failed = await get(metadata_db, op_id)
    assert failed.status is OperationStatus.FAILED
    assert (failed.percent, failed.done_items) == (25.0, 1)
    assert (failed.error_code, failed.error_message) == ("nameAlreadyExists", "taken")
    assert (failed.finished_at, failed.expires_at) == (at(2), at(2 + RETENTION))


async def test_release_at_shutdown_refunds_the_attempt(metadata_db: Database) -> None:
    op_id = await create(metadata_db)
    op = await claim(metadata_db, "w1", at(0))
    assert op is not None and op.attempts == 1
    async with metadata_db.write() as conn:
        await OperationStore(conn).release(op, "w1", at(1))
    released = await get(metadata_db, op_id)
    assert (released.lease_owner, released.lease_expires_at, released.attempts) == (None, None, 0)
    assert released.status is OperationStatus.IN_PROGRESS
    again = await claim(metadata_db, "w2", at(1))  # at once: no waiting for a lease to expire
    assert again is not None and again.id == op_id
    assert (again.lease_owner, again.attempts) == ("w2", 1)


async def test_release_for_retry_keeps_the_attempt_and_waits(metadata_db: Database) -> None:
    op_id = await create(metadata_db)
    op = await claim(metadata_db, "w1", at(0))
    assert op is not None
    async with metadata_db.write() as conn:
        await OperationStore(conn).release(op, "w1", at(1), retry_at=at(9))
    released = await get(metadata_db, op_id)
    assert (released.lease_owner, released.attempts) == (None, 1)
    assert await claim(metadata_db, "w2", at(8)) is None
    again = await claim(metadata_db, "w2", at(9))
    assert again is not None and again.id == op_id and again.attempts == 2


# -- cancelling --------------------------------------------------------------------------------
async def test_cancel_before_start_ends_the_operation_at_once(metadata_db: Database) -> None:
    op_id = await create(metadata_db)
    async with metadata_db.write() as conn:
        await OperationStore(conn).request_cancel(await _get(conn, op_id), at(5), RETENTION)
    op = await get(metadata_db, op_id)
    assert op.status is OperationStatus.CANCELLED and op.cancel_requested
    assert (op.finished_at, op.expires_at) == (at(5), at(5 + RETENTION))
    assert await claim(metadata_db, "w", at(6)) is None


async def test_cancel_while_running_goes_through_delete_pending(metadata_db: Database) -> None:
    op_id = await create(metadata_db)
    running = await claim(metadata_db, "w1", at(0))
    assert running is not None
    async with metadata_db.write() as conn:
        await OperationStore(conn).request_cancel(running, at(1), RETENTION)
    op = await get(metadata_db, op_id)
    assert op.status is OperationStatus.DELETE_PENDING and op.cancel_requested
    assert op.finished_at is None and op.lease_owner == "w1"

    _, cancel = await advance(metadata_db, running, "w1", at(2), items=1)
    assert cancel is True
    # A crashed worker's cancelled operation is picked up again to be cleaned up.
    rescued = await claim(metadata_db, "w2", at(2 + LEASE + 1))
    assert rescued is not None and rescued.id == op_id
    assert rescued.status is OperationStatus.DELETE_PENDING and rescued.cancel_requested
    await finish(metadata_db, rescued, "w2", OperationStatus.CANCELLED, at(40))
    assert (await get(metadata_db, op_id)).status is OperationStatus.CANCELLED


async def test_a_cancel_request_wins_over_a_completion_not_yet_recorded(
    metadata_db: Database,
) -> None:
    """An action that does all its work in one transaction reports no progress before it
    completes: the completion itself must notice the cancel request."""
    op_id = await create(metadata_db)
    running = await claim(metadata_db, "w1", at(0))
    assert running is not None
    async with metadata_db.write() as conn:
        await OperationStore(conn).request_cancel(running, at(1), RETENTION)
    with pytest.raises(CancelRequested):
        await finish(metadata_db, running, "w1", OperationStatus.COMPLETED, at(2),
                     resource_id="ITEM", resource_drive_id="b!drive")  # fmt: skip
    op = await get(metadata_db, op_id)
    assert op.status is OperationStatus.DELETE_PENDING and op.resource_id is None
    await finish(metadata_db, running, "w1", OperationStatus.CANCELLED, at(3))
    assert (await get(metadata_db, op_id)).status is OperationStatus.CANCELLED


async def test_cancel_after_the_end_changes_nothing(metadata_db: Database) -> None:
    op_id = await create(metadata_db)
    op = await claim(metadata_db, "w", at(0))
    assert op is not None
    await finish(metadata_db, op, "w", OperationStatus.COMPLETED, at(1))
    async with metadata_db.write() as conn:
        await OperationStore(conn).request_cancel(await _get(conn, op_id), at(2), RETENTION)
    done = await get(metadata_db, op_id)
    assert done.status is OperationStatus.COMPLETED and not done.cancel_requested


async def _get(conn: Any, op_id: str) -> Operation:
    op = await OperationStore(conn).get(op_id)
    assert op is not None
    return op


# -- retention ---------------------------------------------------------------------------------
async def test_purge_expired_deletes_only_expired_finished_operations(
    metadata_db: Database,
) -> None:
    old = await create(metadata_db, created=0)
    young = await create(metadata_db, created=1)
    running = await create(metadata_db, created=2)
    queued = await create(metadata_db, created=3)
    for op_id, worker, ended in ((old, "w1", 10), (young, "w2", 20)):
        op = await claim(metadata_db, worker, at(5))
        assert op is not None and op.id == op_id
        await finish(metadata_db, op, worker, OperationStatus.COMPLETED, at(ended))
    assert await claim(metadata_db, "w3", at(5)) is not None  # running

    async with metadata_db.write() as conn:
        assert await purge_expired(conn, at(10 + RETENTION)) == 0  # not *past* it yet
    async with metadata_db.write() as conn:
        assert await purge_expired(conn, at(15 + RETENTION)) == 1
    async with metadata_db.read() as conn:
        store = OperationStore(conn)
        assert await store.get(old) is None
        for kept in (young, running, queued):
            assert await store.get(kept) is not None
    async with metadata_db.write() as conn:
        assert await purge_expired(conn, at(10**6)) == 1


# -- concurrency -------------------------------------------------------------------------------
async def _claim_all(
    dbs: list[Database], *, max_per_owner: int = MANY, now: datetime = T0
) -> dict[str, list[str]]:
    """Each worker, on its own engine, claims until nothing is left; who got what."""
    ready = asyncio.Barrier(len(dbs))
    got: dict[str, list[str]] = {f"w{n}": [] for n in range(len(dbs))}

    async def worker(name: str, db: Database) -> None:
        async with db.read() as conn:  # connect first, so that the claims start together
            await conn.exec_driver_sql("SELECT 1")
        await ready.wait()
        while (op := await claim(db, name, now, max_per_owner=max_per_owner)) is not None:
            got[name].append(op.id)
            await asyncio.sleep(0)

    workers = [worker(name, db) for name, db in zip(got, dbs, strict=True)]
    await asyncio.wait_for(asyncio.gather(*workers), 30)
    return got


async def test_concurrent_claimers_never_take_the_same_operation(
    metadata_backend: MetadataBackend, metadata_db: Database
) -> None:
    dbs = [metadata_backend.open() for _ in range(8)]
    ops = [await create(metadata_db, created=n, owner=f"user{n % 5}") for n in range(40)]
    got = await _claim_all(dbs, now=at(100))
    claimed = [op_id for ids in got.values() for op_id in ids]
    assert len(claimed) == len(set(claimed)), "an operation was claimed twice"
    assert sorted(claimed) == sorted(ops)
    for worker, ids in got.items():
        for op_id in ids:
            op = await get(metadata_db, op_id)
            assert (op.lease_owner, op.attempts) == (worker, 1)


async def test_concurrent_rescues_never_take_the_same_operation(
    metadata_backend: MetadataBackend, metadata_db: Database
) -> None:
    ops = [await create(metadata_db, created=n) for n in range(20)]
    for n in range(20):  # all claimed by workers that then die
        assert await claim(metadata_db, f"dead{n}", at(100)) is not None
    got = await _claim_all([metadata_backend.open() for _ in range(6)], now=at(100 + LEASE + 1))
    claimed = [op_id for ids in got.values() for op_id in ids]
    assert len(claimed) == len(set(claimed)), "an operation was rescued twice"
    assert sorted(claimed) == sorted(ops)
    assert {(await get(metadata_db, op_id)).attempts for op_id in ops} == {2}


async def test_concurrent_claimers_respect_the_owner_limit(
    request: pytest.FixtureRequest, metadata_backend: MetadataBackend, metadata_db: Database
) -> None:
    dbs = [metadata_backend.open() for _ in range(8)]
    over: list[int] = []
    for round_ in range(4):  # the race is probabilistic: several rounds make it certain
        owner = f"owner{round_}"
        ops = [await create(metadata_db, created=n, owner=owner) for n in range(8)]
        got = await _claim_all(dbs, max_per_owner=1, now=at(100))
        claimed = [op_id for ids in got.values() for op_id in ids]
        assert len(claimed) == len(set(claimed))
        assert set(claimed) <= set(ops)
        if len(claimed) != 1:
            over.append(len(claimed))
        # End this round's operations so that the next owner starts from a clean slate.
        for op_id in ops:
            op = await get(metadata_db, op_id)
            if op.lease_owner is not None:
                await finish(metadata_db, op, op.lease_owner, OperationStatus.COMPLETED, at(101))
            else:
                async with metadata_db.write() as conn:
                    await OperationStore(conn).request_cancel(op, at(101), RETENTION)
    assert over == [], f"with a limit of 1, one user had {over} operations running at once"
