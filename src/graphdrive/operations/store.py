"""SQL for the operations table: create, claim, advance, finish, cancel, list.

Every method runs on a connection inside the caller's unit of work, so an action's batch of
work and the progress that describes it commit together. Claims are one atomic statement
(``UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING``; ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL); a lease is only renewed or released by the worker that holds it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningUpdate, Update
from sqlalchemy.sql.elements import BindParameter

from graphdrive.operations.model import (
    FINISHED,
    CancelRequested,
    LeaseLost,
    Operation,
    OperationStatus,
    progress_percent,
)
from graphdrive.storage.metadata.schema import UTCDateTime
from graphdrive.storage.metadata.schema import operations as ops

_ACTIVE = (OperationStatus.IN_PROGRESS, OperationStatus.DELETE_PENDING)
NOTIFY_CHANNEL = "graphdrive_operations"  # see storage/metadata/postgres.py
CHANGES_CHANNEL = "graphdrive_operation_changes"  # the same
CLAIM_LOCK = 7245002  # advisory lock key serialising claims on PostgreSQL
IDEMPOTENCY_LOCK = 7245003  # with a hash of (owner, key): serialises requests sharing a key


def new_row(**values: Any) -> dict[str, Any]:
    """A complete ``operations`` row for a newly accepted operation (not started yet)."""
    row = dict(values)
    row["params"] = json.dumps(row["params"], sort_keys=True)
    row.setdefault("status", OperationStatus.NOT_STARTED.value)
    for column in ("total_items", "done_items", "total_bytes", "done_bytes", "attempts"):
        row.setdefault(column, 0)
    row.setdefault("percent", 0.0)
    row.setdefault("cancel_requested", False)
    for nullable in ops.c:  # every row of a multi-row INSERT must name the same columns
        if nullable.name not in row and nullable.nullable:
            row[nullable.name] = None
    return row


class OperationStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def create(self, **values: Any) -> None:
        await self.create_many([new_row(**values)])

    async def create_many(self, rows: list[dict[str, Any]]) -> None:
        """Insert operations built by :func:`new_row`, all in one statement."""
        await self.conn.execute(insert(ops), rows)
        if self.conn.dialect.name == "postgresql":
            # Delivered to LISTENing workers when this transaction commits, not before.
            await self.conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, rows[-1]["id"])))

    async def get(self, op_id: str) -> Operation | None:
        row = (await self.conn.execute(select(ops).where(ops.c.id == op_id))).first()
        return Operation.from_row(row._mapping) if row else None

    async def by_monitor_hash(self, monitor_hash: str) -> Operation | None:
        stmt = select(ops).where(ops.c.monitor_hash == monitor_hash)
        row = (await self.conn.execute(stmt)).first()
        return Operation.from_row(row._mapping) if row else None

    async def lock_idempotency_key(self, owner_id: str, key: str) -> None:
        """Until the unit of work ends, make other requests with the same key wait: on
        PostgreSQL two of them could otherwise both find no earlier operation and both insert
        (SQLite writers are serialised already)."""
        if self.conn.dialect.name == "postgresql":
            digest = func.hashtext(f"{owner_id}\n{key}")
            await self.conn.execute(select(func.pg_advisory_xact_lock(IDEMPOTENCY_LOCK, digest)))

    async def by_idempotency_key(self, owner_id: str, key: str) -> tuple[Operation, str] | None:
        stmt = select(ops).where(ops.c.owner_id == owner_id, ops.c.idempotency_key == key)
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            return None
        return Operation.from_row(row._mapping), row._mapping["request_hash"] or ""

    async def forget_idempotency_key(self, op_id: str) -> None:
        await self.conn.execute(
            update(ops).where(ops.c.id == op_id).values(idempotency_key=None, request_hash=None)
        )

    async def active_count(self, owner_id: str) -> int:
        stmt = select(func.count()).where(ops.c.owner_id == owner_id, ops.c.status.in_(_ACTIVE))
        return int((await self.conn.execute(stmt)).scalar_one())

    async def list_for_owner(
        self,
        owner_id: str,
        *,
        statuses: list[str] | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Operation]:
        stmt = select(ops).where(ops.c.owner_id == owner_id)
        if statuses:
            stmt = stmt.where(ops.c.status.in_(statuses))
        if before is not None:
            at, last_id = before
            stmt = stmt.where(
                or_(ops.c.created_at < at, and_(ops.c.created_at == at, ops.c.id < last_id))
            )
        stmt = stmt.order_by(ops.c.created_at.desc(), ops.c.id.desc()).limit(limit)
        return [Operation.from_row(r._mapping) for r in await self.conn.execute(stmt)]

    # -- the worker's side ------------------------------------------------------------------
    async def claim(
        self, worker_id: str, now: datetime, lease_seconds: float, max_per_owner: int
    ) -> Operation | None:
        """Take the runnable operation due longest whose lease is free or expired."""
        postgres = self.conn.dialect.name == "postgresql"
        if postgres:
            # Claims are short: serialising them makes the per-owner limit exact (two claimers
            # in READ COMMITTED would each see the owner below it). Released at commit.
            await self.conn.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))
        stmt = _claim_statement(postgres)
        values = {
            "now": now,
            "lease_until": now + timedelta(seconds=lease_seconds),
            "worker_id": worker_id,
            "max_per_owner": max_per_owner,
        }
        row = (await self.conn.execute(stmt, values)).first()
        return Operation.from_row(row._mapping) if row else None

    async def advance(
        self,
        op: Operation,
        worker_id: str,
        now: datetime,
        lease_seconds: float,
        *,
        items: int = 0,
        bytes_: int = 0,
        totals: tuple[int, int] | None = None,
        checkpoint: dict[str, Any] | None = None,
    ) -> tuple[Operation, bool]:
        """Record progress and renew the lease; returns the operation and "cancel requested".

        Raises :class:`LeaseLost` if this worker no longer holds the lease.
        """
        total_items, total_bytes = totals or (op.total_items, op.total_bytes)
        done_items, done_bytes = op.done_items + items, op.done_bytes + bytes_
        percent = max(
            op.percent, progress_percent(done_items, total_items, done_bytes, total_bytes)
        )
        values: dict[str, Any] = {
            "op_id": op.id,
            "worker_id": worker_id,
            "done_items": done_items,
            "done_bytes": done_bytes,
            "total_items": total_items,
            "total_bytes": total_bytes,
            "percent": percent,
            "lease_expires_at": now + timedelta(seconds=lease_seconds),
            "updated_at": now,
            "checkpoint": None if checkpoint is None else json.dumps(checkpoint),
        }
        row = (await self.conn.execute(_ADVANCE, values)).first()
        if row is None:
            raise LeaseLost(op.id)
        await self._announce(op.id)
        cancel = bool(row[0])
        new = replace(
            op,
            done_items=done_items,
            done_bytes=done_bytes,
            total_items=total_items,
            total_bytes=total_bytes,
            percent=percent,
            lease_expires_at=values["lease_expires_at"],
            updated_at=now,
            checkpoint=op.checkpoint if checkpoint is None else checkpoint,
            cancel_requested=cancel,
        )
        return new, cancel

    async def finish(
        self,
        op: Operation,
        worker_id: str | None,
        status: OperationStatus,
        now: datetime,
        retention_seconds: float,
        *,
        resource_id: str | None = None,
        resource_drive_id: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        if status not in FINISHED:
            raise ValueError(f"{status} is not a finished status")
        completed = status is OperationStatus.COMPLETED
        values: dict[str, Any] = {
            "op_id": op.id,
            "worker_id": worker_id,
            "status": status.value,
            "now": now,
            "expires_at": now + timedelta(seconds=retention_seconds),
            "resource_id": resource_id,
            "resource_drive_id": resource_drive_id,
            "error_code": error_code,
            "error_message": error_message,
        }
        if completed:
            # The totals come from ``op``: an action that did all its work in this transaction
            # may pass them without recording progress first.
            values.update(total_items=op.total_items, total_bytes=op.total_bytes)
        stmt = _finish_statement(leased=worker_id is not None, completed=completed)
        result = await self.conn.execute(stmt, values)
        if result.rowcount == 0:
            if completed and await self._cancel_requested(op.id):
                raise CancelRequested()
            raise LeaseLost(op.id)
        await self._announce(op.id)

    async def _announce(self, op_id: str) -> None:
        """PostgreSQL: tell other processes' monitors, when this transaction commits, that the
        operation's report changed (this process's own are told by operations/events.py)."""
        if self.conn.dialect.name == "postgresql":
            await self.conn.execute(select(func.pg_notify(CHANGES_CHANNEL, op_id)))

    async def _cancel_requested(self, op_id: str) -> bool:
        found = await self.conn.execute(select(ops.c.cancel_requested).where(ops.c.id == op_id))
        return bool(found.scalar())

    async def release(
        self, op: Operation, worker_id: str, now: datetime, *, retry_at: datetime | None = None
    ) -> None:
        """Give the lease back: with ``retry_at`` after a transient error (the attempt
        counts), without it at shutdown (the attempt is refunded: stopping is no failure)."""
        values: dict[str, Any] = {
            "lease_owner": None,
            "lease_expires_at": None,
            "next_attempt_at": retry_at or now,
            "updated_at": now,
        }
        if retry_at is None:
            values["attempts"] = ops.c.attempts - 1
        await self.conn.execute(
            update(ops).where(ops.c.id == op.id, ops.c.lease_owner == worker_id).values(**values)
        )

    # -- the owner's side -------------------------------------------------------------------
    async def request_cancel(self, op: Operation, now: datetime, retention: float) -> None:
        """Ask to cancel: queued work ends at once, running work goes through deletePending."""
        if op.status is OperationStatus.NOT_STARTED:
            stmt = (
                update(ops)
                .where(ops.c.id == op.id, ops.c.status == OperationStatus.NOT_STARTED.value)
                .values(
                    status=OperationStatus.CANCELLED.value,
                    next_attempt_at=None,
                    cancel_requested=True,
                    updated_at=now,
                    finished_at=now,
                    expires_at=now + timedelta(seconds=retention),
                )
            )
            if (await self.conn.execute(stmt)).rowcount:
                await self._announce(op.id)
                return
        await self.conn.execute(
            update(ops)
            .where(ops.c.id == op.id, ops.c.status.in_((*_ACTIVE, OperationStatus.NOT_STARTED)))
            .values(
                status=OperationStatus.DELETE_PENDING.value,
                cancel_requested=True,
                updated_at=now,
            )
        )
        await self._announce(op.id)

    async def revoke_monitor(self, op_id: str) -> None:
        await self.conn.execute(update(ops).where(ops.c.id == op_id).values(monitor_hash=None))


async def purge_expired(conn: AsyncConnection, now: datetime) -> int:
    """Delete finished operations whose retention has passed (their monitors already 404)."""
    result = await conn.execute(
        ops.delete().where(ops.c.expires_at.is_not(None), ops.c.expires_at < now)
    )
    return int(result.rowcount)


# -- the worker's statements, built once ---------------------------------------------------------
# Building a statement of this size costs more CPU than running it (~0.7 ms for the claim);
# SQLAlchemy memoises a statement's cache key, so one built once with bound parameters is
# looked up in the compiled cache for free.
def _at(name: str) -> BindParameter[datetime]:
    return bindparam(name, type_=UTCDateTime())


@functools.cache
def _claim_statement(postgres: bool) -> ReturningUpdate[Any]:
    now = _at("now")
    busy = (
        select(ops.c.owner_id)
        .where(
            ops.c.status.in_(_ACTIVE),
            ops.c.lease_expires_at.is_not(None),
            ops.c.lease_expires_at >= now,
        )
        .group_by(ops.c.owner_id)
        .having(func.count() >= bindparam("max_per_owner"))
    )
    free_lease = or_(ops.c.lease_expires_at.is_(None), ops.c.lease_expires_at < now)
    # Only runnable operations have a next_attempt_at (see schema.py): walking
    # ix_operations_due in order, the first row that passes the other tests is the one. The
    # status test is a safeguard, written NOT IN so that no status index looks better.
    candidate = (
        select(ops.c.id)
        .where(
            ops.c.next_attempt_at <= now,
            ops.c.status.not_in(FINISHED),
            free_lease,
            # Rescues (already in progress) go first; new work waits for the owner's limit.
            or_(ops.c.status != OperationStatus.NOT_STARTED, ops.c.owner_id.not_in(busy)),
        )
        .order_by(ops.c.next_attempt_at, ops.c.created_at)
        .limit(1)
    )
    if postgres:
        candidate = candidate.with_for_update(skip_locked=True)
    return (
        update(ops)
        .where(ops.c.id == candidate.scalar_subquery(), free_lease)
        .values(
            status=func.coalesce(
                func.nullif(ops.c.status, OperationStatus.NOT_STARTED.value),
                OperationStatus.IN_PROGRESS.value,
            ),
            lease_owner=bindparam("worker_id"),
            lease_expires_at=_at("lease_until"),
            attempts=ops.c.attempts + 1,
            updated_at=now,
        )
        .returning(*ops.c)
    )


_ADVANCE = (
    update(ops)
    .where(ops.c.id == bindparam("op_id"), ops.c.lease_owner == bindparam("worker_id"))
    .values(
        done_items=bindparam("done_items"),
        done_bytes=bindparam("done_bytes"),
        total_items=bindparam("total_items"),
        total_bytes=bindparam("total_bytes"),
        percent=bindparam("percent"),
        lease_expires_at=_at("lease_expires_at"),
        updated_at=_at("updated_at"),
        checkpoint=func.coalesce(bindparam("checkpoint", type_=Text()), ops.c.checkpoint),
    )
    .returning(ops.c.cancel_requested)
)


@functools.cache
def _finish_statement(*, leased: bool, completed: bool) -> Update:
    now = _at("now")
    stmt = update(ops).where(ops.c.id == bindparam("op_id"))
    if leased:
        stmt = stmt.where(ops.c.lease_owner == bindparam("worker_id"))
    stmt = stmt.values(
        status=bindparam("status"),
        next_attempt_at=None,  # never runnable again
        lease_owner=None,
        lease_expires_at=None,
        updated_at=now,
        finished_at=now,
        expires_at=_at("expires_at"),
        resource_id=bindparam("resource_id"),
        resource_drive_id=bindparam("resource_drive_id"),
        error_code=bindparam("error_code"),
        error_message=bindparam("error_message"),
    )
    if completed:
        stmt = stmt.values(
            percent=100.0,
            done_items=bindparam("total_items"),
            done_bytes=bindparam("total_bytes"),
            total_items=bindparam("total_items"),
            total_bytes=bindparam("total_bytes"),
        )
        # A completion never overrides a cancel request that committed before it.
        stmt = stmt.where(ops.c.cancel_requested.is_(False))
    return stmt
