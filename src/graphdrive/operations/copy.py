"""The ``ItemCopy`` action: a metadata-only, set-based, resumable folder copy.

Phases, each its own transaction(s):

1. **plan** — freezes the source tree into ``copy_nodes`` level by level, one
   ``INSERT … SELECT`` per tree level, so every parent's ``seq`` is smaller than its children's
   and a child row takes its parent's ``seq`` straight from the level above (no sort, no
   self-join). All levels are read in the one plan transaction: on SQLite it holds the write
   lock, on PostgreSQL it holds the source drive's row lock, which every tree write takes first.
2. **build** — batches of ``INSERT INTO items … SELECT FROM copy_nodes`` by ``seq`` range. New
   ids are ``prefix || seq``, so a parent's new id is known without a lookup. The copy's top
   item has no parent yet: the tree is built out of sight. Each batch commits with the
   checkpoint that names the next ``seq``, so a rescued copy never repeats or skips an item.
3. **publish** — one transaction attaches the top item(s) under the destination (deciding name
   conflicts now), adds the size to the destination's ancestors, and marks the operation
   completed: the moment "completed" is visible, the whole tree is readable by id and path.
4. **forget** — follow-up transactions delete the snapshot. A crash before they run leaves the
   rows of a finished operation, which the janitor sweeps (:func:`sweep_finished_snapshots`).

Content is shared by blob key; no byte is copied. Blob GC keeps every blob a snapshot refers to
(``service/blob_gc.py``). Cleanup deletes the detached tree by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import Any, ClassVar

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.domain.items import Drive
from graphdrive.domain.names import name_key
from graphdrive.exceptions import AccessDenied, ItemNotFound
from graphdrive.metrics import COPY_ITEMS
from graphdrive.operations.actions import Action
from graphdrive.operations.context import JobContext
from graphdrive.operations.model import ActionFailed, Operation
from graphdrive.operations.store import OperationStore
from graphdrive.service.clock import utcnow
from graphdrive.service.drives import DriveService, check_access, published_chain
from graphdrive.storage.metadata import sqlite
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import Ancestor, ItemRepository, new_id
from graphdrive.storage.metadata.schema import UTCDateTime, copy_nodes
from graphdrive.storage.metadata.sqlite import bulk_writes

log = logging.getLogger(__name__)

# Level 0: the source itself (top = "id") or its children (top = "parent_id"), seq 1…n.
_SNAPSHOT_TOP = """
INSERT INTO copy_nodes (op_id, seq, parent_seq, src_id, name, name_key, is_folder, size,
                        blob_key, mime_type, fs_created_at, fs_modified_at)
SELECT :op_id, ROW_NUMBER() OVER (ORDER BY i.name_key), NULL, i.id, i.name, i.name_key,
       i.is_folder, i.size, i.blob_key, i.mime_type, COALESCE(i.fs_created_at, i.created_at),
       COALESCE(i.fs_modified_at, i.modified_at)
FROM items i WHERE i.{top} = :source_id
"""

# Level k+1: the children of the folders of level k (seq in [lo, hi)), numbered from hi on.
# Within a level any numbering will do: parents always precede their children. The join's own
# order (ROW_NUMBER() OVER ()) keeps siblings together, which keeps the build's index writes
# local.
_SNAPSHOT_LEVEL = """
INSERT INTO copy_nodes (op_id, seq, parent_seq, src_id, name, name_key, is_folder, size,
                        blob_key, mime_type, fs_created_at, fs_modified_at)
SELECT p.op_id, :base + ROW_NUMBER() OVER (), p.seq, i.id, i.name, i.name_key, i.is_folder,
       i.size, i.blob_key, i.mime_type, COALESCE(i.fs_created_at, i.created_at),
       COALESCE(i.fs_modified_at, i.modified_at)
FROM copy_nodes p JOIN items i ON i.parent_id = p.src_id
WHERE p.op_id = :op_id AND p.seq >= :lo AND p.seq < :hi AND p.is_folder
"""

_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM copy_nodes WHERE op_id = :op_id"

_TOTALS = """
SELECT COUNT(*), COALESCE(SUM(CASE WHEN is_folder THEN 0 ELSE size END), 0)
FROM copy_nodes WHERE op_id = :op_id AND seq >= :lo AND seq < :hi
"""

_BUILD = """
INSERT INTO items (id, drive_id, parent_id, name, name_key, is_folder, size, blob_key,
                   mime_type, version, content_version, created_at, modified_at,
                   created_by_id, created_by_name, modified_by_id, modified_by_name,
                   fs_created_at, fs_modified_at)
SELECT :prefix || CAST(c.seq AS VARCHAR(20)), :drive_id,
       CASE WHEN c.parent_seq IS NULL THEN NULL
            ELSE :prefix || CAST(c.parent_seq AS VARCHAR(20)) END,
       c.name, c.name_key, c.is_folder, c.size, c.blob_key, c.mime_type, 1, 1, :now, :now,
       :user_id, :user_name, :user_id, :user_name, c.fs_created_at, c.fs_modified_at
FROM copy_nodes c WHERE c.op_id = :op_id AND c.seq >= :lo AND c.seq < :hi
"""

# A file copied in one statement, straight from the source row (no snapshot: one row is read
# in one statement). Returns the size, or no row if the source is gone or became a folder.
_COPY_FILE = """
INSERT INTO items (id, drive_id, parent_id, name, name_key, is_folder, size, blob_key,
                   mime_type, version, content_version, created_at, modified_at,
                   created_by_id, created_by_name, modified_by_id, modified_by_name,
                   fs_created_at, fs_modified_at)
SELECT :new_id, :drive_id, :parent_id, :name, :name_key, i.is_folder, i.size, i.blob_key,
       i.mime_type, 1, 1, :now, :now, :user_id, :user_name, :user_id, :user_name,
       COALESCE(i.fs_created_at, i.created_at), COALESCE(i.fs_modified_at, i.modified_at)
FROM items i WHERE i.id = :source_id AND NOT i.is_folder
RETURNING size
"""

# How many items a copy of the source holds, counting no further than :limit.
_BOUNDED_COUNT = """
WITH RECURSIVE tree(id, is_folder) AS (
    SELECT id, is_folder FROM items WHERE {top} = :source_id
    UNION ALL
    SELECT i.id, i.is_folder FROM items i JOIN tree t ON i.parent_id = t.id WHERE t.is_folder
)
SELECT COUNT(*) FROM (SELECT 1 FROM tree LIMIT :limit) AS bounded
"""

_CLEANUP = """
DELETE FROM items WHERE id IN (
    SELECT :prefix || CAST(seq AS VARCHAR(20)) FROM copy_nodes WHERE op_id = :op_id
)
"""


SMALL_COPY = 1_000  # items: up to this many, the copy is one transaction


class CopyAction(Action):
    name: ClassVar[str] = "copy"
    operation: ClassVar[str] = "ItemCopy"

    def __init__(
        self, db: Database, batch_size: int | None = None, drives: DriveService | None = None
    ) -> None:
        self.db = db
        # Drives never change once created: their rows are remembered, not read per copy.
        self.drives = drives or DriveService(db)
        self.fixed_batch = batch_size
        # A copy that fits in one batch is done in one transaction.
        self.small_copy = min(SMALL_COPY, batch_size) if batch_size else SMALL_COPY

    async def run(self, ctx: JobContext, op: Operation) -> None:
        if op.checkpoint is None:
            if op.params.get("source_is_folder") is False:
                await self._copy_file(ctx, op)
                return
            if await self._looks_small(op):
                op, done = await self._copy_small(ctx, op)
                if done:
                    return
            else:
                with bulk_writes():
                    async with self.db.write() as conn:
                        op = await self._plan(ctx, conn, op)
            ctx.announce(op.id)  # the totals are known now
        checkpoint = dict(op.checkpoint or {})
        prefix, count = str(checkpoint["prefix"]), int(checkpoint["count"])
        next_seq = int(checkpoint["next_seq"])
        sizer = BatchSizer(self.fixed_batch)
        while next_seq <= count:
            ctx.check_stop()
            hi = min(next_seq + sizer.size, count + 1)
            started = time.monotonic()
            with bulk_writes():  # SQLite: no foreign-key checks (see _build)
                async with self.db.write() as conn:
                    items, size = await self._build(conn, op, prefix, next_seq, hi)
                    checkpoint["next_seq"] = hi
                    op = await ctx.advance(
                        conn, op, items=items, bytes_=size, checkpoint=checkpoint
                    )
            COPY_ITEMS.inc(items)
            ctx.announce(op.id)
            sizer.observe(hi - next_seq, time.monotonic() - started)
            next_seq = hi
            await asyncio.sleep(0)  # let requests waiting for the write lock in between
        ctx.check_stop()
        async with self.db.write() as conn:
            op = await ctx.advance(conn, op)  # last look at cancel and lease
            resource_id, drive_id = await self._publish(conn, op, prefix)
            await ctx.complete(conn, op, resource_id, drive_id)
        # Completed and visible; the snapshot is garbage now. Should this fail or the process
        # die first, the janitor sweeps it (the operation is finished).
        try:
            await forget_snapshot(self.db, op.id, count)
        except Exception:
            log.warning(
                "could not delete a finished copy's snapshot; the janitor will",
                exc_info=True,
                extra={"action": "copy_snapshot_left", "operation_id": op.id},
            )
        if self.db.dialect == "sqlite":
            # Bulk writes checkpoint rarely: do it now, off the write lock, rather than in the
            # commit of whichever request comes next. Best effort: any later commit will do.
            with contextlib.suppress(Exception):
                async with self.db.read() as conn:
                    await sqlite.checkpoint(conn)

    async def _looks_small(self, op: Operation) -> bool:
        """Whether the source has at most :data:`SMALL_COPY` items (a bounded count)."""
        p = op.params
        top = "parent_id" if p.get("children_only") else "id"
        async with self.db.glance() as conn:
            found = (
                await conn.execute(
                    text(_BOUNDED_COUNT.format(top=top)),
                    {"source_id": p["source_id"], "limit": self.small_copy + 1},
                )
            ).scalar_one()
        return int(found) <= self.small_copy

    async def _copy_file(self, ctx: JobContext, op: Operation) -> None:
        """Copy a file (the source was a file when the copy was accepted, and a file never
        becomes a folder) in one transaction: one row, no snapshot, no progress to report
        before "completed"."""
        p = op.params
        async with self.db.write() as conn:
            repo = ItemRepository(conn)
            await repo.lock_drive(str(p["dest_drive_id"]))
            source = await self._source(repo, p)
            chain = await self._destination(repo, p)
            dest, item_id = chain[0].id, new_id()
            wanted = p.get("name") or source[0].name
            # No conflict (the usual case): the row goes straight into place. Otherwise it is
            # made detached first, so that "replace" may even replace the source itself.
            free = await repo.child(dest, name_key(wanted)) is None
            size = await self._insert_file(conn, op, item_id, dest if free else None, wanted)
            if not free:
                conflict = ConflictBehavior(p.get("conflict", "fail"))
                name = await _settle_name(repo, dest, wanted, False, conflict)
                await repo.update(item_id, parent_id=dest, name=name, name_key=name_key(name))
            await repo.add_size([a.id for a in chain], size)
            op = replace(op, total_items=1, total_bytes=size)
            await ctx.complete(conn, op, item_id, str(p["dest_drive_id"]))
        COPY_ITEMS.inc(1)

    async def _insert_file(
        self, conn: AsyncConnection, op: Operation, item_id: str, parent_id: str | None, name: str
    ) -> int:
        p = op.params
        statement = text(_COPY_FILE).bindparams(bindparam("now", type_=UTCDateTime()))
        values = {
            "new_id": item_id,
            "drive_id": p["dest_drive_id"],
            "parent_id": parent_id,
            "name": name,
            "name_key": name_key(name),
            "now": utcnow(),
            "user_id": p["user_id"],
            "user_name": p["user_name"],
            "source_id": p["source_id"],
        }
        size = (await conn.execute(statement, values)).scalar()
        if size is None:
            raise ActionFailed("itemNotFound", "The source item no longer exists.")
        return int(size)

    async def _copy_small(self, ctx: JobContext, op: Operation) -> tuple[Operation, bool]:
        """Plan, build, publish and forget in one transaction: a small copy then costs one
        commit instead of four, and records no progress before "completed" (nobody can see
        it). Should the source have grown past :data:`SMALL_COPY` since it was counted, only
        the plan commits and the copy goes on in batches. Returns the operation and whether it
        is completed."""
        p = op.params
        async with self.db.write() as conn:
            repo = ItemRepository(conn)
            # Both drives' tree writes wait for this copy (PostgreSQL), taken in one order so
            # that two copies crossing between the same drives cannot deadlock.
            for drive_id in sorted({str(p["source_drive_id"]), str(p["dest_drive_id"])}):
                await repo.lock_drive(drive_id)
            await self._source(repo, p)
            chain = await self._destination(repo, p)
            count, size = await self._snapshot(conn, op)
            if count > self.small_copy:
                return await _planned(ctx, conn, op, count, size), False
            prefix = new_prefix()
            await self._insert(conn, op, prefix, 1, count + 1)
            op = replace(op, total_items=count, total_bytes=size)
            resource_id, drive_id = await self._publish(conn, op, prefix, chain)
            await ctx.complete(conn, op, resource_id, drive_id)
            await conn.execute(delete(copy_nodes).where(copy_nodes.c.op_id == op.id))
        COPY_ITEMS.inc(count)
        return op, True

    async def cleanup(self, conn: AsyncConnection, op: Operation) -> None:
        current = await OperationStore(conn).get(op.id)
        checkpoint = (current.checkpoint if current else None) or {}
        if "prefix" in checkpoint:
            await conn.execute(text(_CLEANUP), {"prefix": checkpoint["prefix"], "op_id": op.id})
        await conn.execute(delete(copy_nodes).where(copy_nodes.c.op_id == op.id))

    # -- phases ------------------------------------------------------------------------------
    async def _plan(self, ctx: JobContext, conn: AsyncConnection, op: Operation) -> Operation:
        p = op.params
        repo = ItemRepository(conn)
        # PostgreSQL: no tree write on the source drive commits while the levels are read, so
        # they all see one state of the tree (SQLite: the write lock does that already).
        await repo.lock_drive(str(p["source_drive_id"]))
        await self._source(repo, p)
        await self._destination(repo, p)
        count, size = await self._snapshot(conn, op)
        return await _planned(ctx, conn, op, count, size)

    async def _snapshot(self, conn: AsyncConnection, op: Operation) -> tuple[int, int]:
        """Freeze the source tree into ``copy_nodes``; returns its items and bytes."""
        p = op.params
        # A previous attempt may have died between plan statements: start clean.
        await conn.execute(delete(copy_nodes).where(copy_nodes.c.op_id == op.id))
        top = "parent_id" if p.get("children_only") else "id"
        await conn.execute(
            text(_SNAPSHOT_TOP.format(top=top)), {"source_id": p["source_id"], "op_id": op.id}
        )
        lo, hi = 1, await _last_seq(conn, op.id) + 1
        while hi > lo:  # one statement per tree level
            await conn.execute(
                text(_SNAPSHOT_LEVEL), {"op_id": op.id, "base": hi - 1, "lo": lo, "hi": hi}
            )
            lo, hi = hi, await _last_seq(conn, op.id) + 1
        row = (await conn.execute(text(_TOTALS), {"op_id": op.id, "lo": 0, "hi": hi})).one()
        return int(row[0]), int(row[1])

    async def _build(
        self, conn: AsyncConnection, op: Operation, prefix: str, lo: int, hi: int
    ) -> tuple[int, int]:
        """Insert the items of ``seq`` in [lo, hi). Every reference is right by construction,
        which is why SQLite may skip foreign-key checks here: ``parent_id`` names a smaller
        ``seq`` of this copy (built in this batch or an earlier one, and only cleanup deletes
        it), ``drive_id`` the destination drive checked at plan (drives are never deleted), and
        ``blob_key`` a blob that blob GC keeps while a snapshot refers to it."""
        bounds = {"op_id": op.id, "lo": lo, "hi": hi}
        count, size = (await conn.execute(text(_TOTALS), bounds)).one()
        await self._insert(conn, op, prefix, lo, hi)
        return int(count), int(size)

    async def _insert(
        self, conn: AsyncConnection, op: Operation, prefix: str, lo: int, hi: int
    ) -> None:
        statement = text(_BUILD).bindparams(bindparam("now", type_=UTCDateTime()))
        await conn.execute(
            statement,
            {
                "op_id": op.id,
                "lo": lo,
                "hi": hi,
                "prefix": prefix,
                "drive_id": op.params["dest_drive_id"],
                "now": utcnow(),
                "user_id": op.params["user_id"],
                "user_name": op.params["user_name"],
            },
        )

    async def _publish(
        self,
        conn: AsyncConnection,
        op: Operation,
        prefix: str,
        chain: list[Ancestor] | None = None,
    ) -> tuple[str, str]:
        """Attach the copy under the destination; ``chain``: the destination's ancestor chain
        if this transaction has already read it (with the drive locked)."""
        p = op.params
        repo = ItemRepository(conn)
        if chain is None:
            await repo.lock_drive(str(p["dest_drive_id"]))
            chain = await self._destination(repo, p)
        dest = chain[0]
        conflict = ConflictBehavior(p.get("conflict", "fail"))
        tops = (
            await conn.execute(
                select(
                    copy_nodes.c.seq, copy_nodes.c.name, copy_nodes.c.is_folder, copy_nodes.c.size
                )
                .where(copy_nodes.c.op_id == op.id, copy_nodes.c.parent_seq.is_(None))
                .order_by(copy_nodes.c.seq)
            )
        ).all()
        added = 0
        first: str | None = None
        for seq, src_name, is_folder, size in tops:
            item_id = f"{prefix}{seq}"
            wanted = p.get("name") or src_name if not p.get("children_only") else src_name
            name = await _settle_name(repo, dest.id, wanted, bool(is_folder), conflict)
            await repo.update(item_id, parent_id=dest.id, name=name, name_key=name_key(name))
            added += int(size)
            first = first or item_id
        await repo.add_size([a.id for a in chain], added)
        resource = dest.id if p.get("children_only") or first is None else first
        return resource, str(p["dest_drive_id"])

    async def _source(self, repo: ItemRepository, p: dict[str, Any]) -> list[Ancestor]:
        """The source's chain, which the copy's user may still read."""
        drive = await self.drives.drive(str(p["source_drive_id"]))
        return await _published(repo, drive, p["source_id"], "The source item", user=p["user_id"])

    async def _destination(self, repo: ItemRepository, p: dict[str, Any]) -> list[Ancestor]:
        """The destination folder's chain, which the copy's user may still change."""
        drive = await self.drives.drive(str(p["dest_drive_id"]))
        return await _published(
            repo,
            drive,
            p["dest_parent_id"],
            "The destination folder",
            user=p["user_id"],
            write=True,
        )


class BatchSizer:
    """Batch sizes for about ``TARGET_SECONDS`` of work each: big enough that commits do not
    dominate, small enough that progress, cancellation and lease renewal stay prompt. A size
    given in the settings is used as it is."""

    TARGET_SECONDS = 0.25
    START, SMALLEST, LARGEST = 2_000, 500, 50_000

    def __init__(self, fixed: int | None) -> None:
        self.fixed = fixed
        self.size = fixed or self.START

    def observe(self, items: int, seconds: float) -> None:
        if self.fixed or items <= 0:
            return
        rate = items / max(seconds, 1e-3)
        wanted = int(rate * self.TARGET_SECONDS)
        # Grow at most 4x a step, so one fast batch cannot make the next one huge.
        self.size = max(self.SMALLEST, min(self.LARGEST, wanted, self.size * 4))


# Snapshots are deleted in slices of this many rows, one transaction each, so that deleting a
# big one never holds the write lock for long.
FORGET_SLICE = 50_000


def new_prefix() -> str:
    """The prefix of a copy's new item ids (``prefix || seq``)."""
    return new_id()[:20] + "-"


async def _planned(
    ctx: JobContext, conn: AsyncConnection, op: Operation, count: int, size: int
) -> Operation:
    """Record a snapshot's totals and the checkpoint the batches start from."""
    checkpoint = {"prefix": new_prefix(), "count": count, "next_seq": 1}
    return await ctx.advance(conn, op, totals=(count, size), checkpoint=checkpoint)


async def _last_seq(conn: AsyncConnection, op_id: str) -> int:
    return int((await conn.execute(text(_LAST_SEQ), {"op_id": op_id})).scalar_one())


async def forget_snapshot(db: Database, op_id: str, count: int | None = None) -> None:
    """Delete an operation's ``copy_nodes`` rows, highest ``seq`` first, a slice at a time."""
    if count is None:
        async with db.read() as conn:
            count = await _last_seq(conn, op_id)
    hi = count + 1
    while True:
        lo = max(hi - FORGET_SLICE, 0)
        async with db.write() as conn:
            await conn.execute(
                delete(copy_nodes).where(copy_nodes.c.op_id == op_id, copy_nodes.c.seq >= lo)
            )
        if lo == 0:
            return
        hi = lo
        await asyncio.sleep(0)


async def sweep_finished_snapshots(db: Database) -> int:
    """Delete the snapshots of operations that ended (or are gone): what a crash between
    publishing a copy and forgetting its snapshot leaves. Returns how many were swept."""
    swept, after = 0, ""
    while True:
        async with db.read() as conn:
            op_id = (
                await conn.execute(
                    select(copy_nodes.c.op_id)
                    .where(copy_nodes.c.op_id > after)
                    .order_by(copy_nodes.c.op_id)
                    .limit(1)
                )
            ).scalar()
            if op_id is None:
                return swept
            current = await OperationStore(conn).get(op_id)
        after = op_id
        if current is None or current.status.finished:
            await forget_snapshot(db, op_id)
            swept += 1


async def _settle_name(
    repo: ItemRepository, parent_id: str, name: str, is_folder: bool, conflict: ConflictBehavior
) -> str:
    existing = await repo.child(parent_id, name_key(name))
    if existing is None:
        return name
    if conflict is ConflictBehavior.RENAME:
        return await repo.free_name(parent_id, name, is_folder=is_folder)
    if conflict is ConflictBehavior.REPLACE and not (is_folder or existing.is_folder):
        await repo.remove(existing)
        return name
    raise ActionFailed(
        "nameAlreadyExists",
        f"An item named '{name}' already exists in the destination folder.",
    )


async def _published(
    repo: ItemRepository,
    drive: Drive | None,
    item_id: str,
    what: str,
    *,
    user: str,
    write: bool = False,
) -> list[Ancestor]:
    """The item and its ancestors up to its drive's root, or the failure of a copy whose end
    no longer exists (deleted, or moved out of the published tree) or that ``user`` may no
    longer read (or, with ``write``, change): library memberships are asked again."""
    if drive is None:
        raise ActionFailed("itemNotFound", f"{what} no longer exists.")
    try:
        await check_access(repo.conn, drive, user, write=write)
        return await published_chain(repo, drive, item_id)
    except ItemNotFound as exc:
        raise ActionFailed("itemNotFound", f"{what} no longer exists.") from exc
    except AccessDenied as exc:
        raise ActionFailed("accessDenied", f"{what} is in a library you can only read.") from exc
