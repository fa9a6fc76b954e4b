"""The ``ItemCopy`` action: a metadata-only, set-based, resumable folder copy.

Phases, each its own transaction(s):

1. **plan** — one ``INSERT … SELECT`` over a recursive CTE freezes the source tree into
   ``copy_nodes`` in parent-before-child order (``seq``), with the totals for progress.
2. **build** — batches of ``INSERT INTO items … SELECT FROM copy_nodes`` by ``seq`` range. New
   ids are ``prefix || seq``, so a parent's new id is known without a lookup. The copy's top
   item has no parent yet: the tree is built out of sight. Each batch commits with the
   checkpoint that names the next ``seq``, so a rescued copy never repeats or skips an item.
3. **publish** — one transaction attaches the top item(s) under the destination (deciding name
   conflicts now), adds the size to the destination's ancestors, and marks the operation
   completed: the moment "completed" is visible, the whole tree is readable by id and path.

Content is shared by blob key; no byte is copied. Cleanup deletes the detached tree by id.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.domain.names import name_key
from graphdrive.exceptions import ItemNotFound
from graphdrive.metrics import COPY_ITEMS
from graphdrive.operations.actions import Action
from graphdrive.operations.context import JobContext
from graphdrive.operations.model import ActionFailed, Operation
from graphdrive.operations.store import OperationStore
from graphdrive.service.clock import utcnow
from graphdrive.service.drives import located
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ItemRepository, new_id
from graphdrive.storage.metadata.schema import UTCDateTime, copy_nodes

_SNAPSHOT = """
WITH RECURSIVE tree(id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM items WHERE {top} = :source_id
    UNION ALL
    SELECT i.id, i.parent_id, t.depth + 1 FROM items i JOIN tree t ON i.parent_id = t.id
),
numbered(id, parent_id, seq) AS (
    SELECT id, parent_id, ROW_NUMBER() OVER (ORDER BY depth, id) FROM tree
)
INSERT INTO copy_nodes (op_id, seq, parent_seq, src_id, name, name_key, is_folder, size,
                        blob_key, mime_type, fs_created_at, fs_modified_at)
SELECT :op_id, n.seq, p.seq, i.id, i.name, i.name_key, i.is_folder, i.size, i.blob_key,
       i.mime_type, COALESCE(i.fs_created_at, i.created_at),
       COALESCE(i.fs_modified_at, i.modified_at)
FROM numbered n JOIN items i ON i.id = n.id LEFT JOIN numbered p ON p.id = n.parent_id
"""

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

_CLEANUP = """
DELETE FROM items WHERE id IN (
    SELECT :prefix || CAST(seq AS VARCHAR(20)) FROM copy_nodes WHERE op_id = :op_id
)
"""


class CopyAction(Action):
    name: ClassVar[str] = "copy"
    operation: ClassVar[str] = "ItemCopy"

    def __init__(self, db: Database, batch_size: int | None = None) -> None:
        self.db = db
        self.fixed_batch = batch_size

    async def run(self, ctx: JobContext, op: Operation) -> None:
        if op.checkpoint is None:
            async with self.db.write() as conn:
                op = await self._plan(ctx, conn, op)
        checkpoint = dict(op.checkpoint or {})
        prefix, count = str(checkpoint["prefix"]), int(checkpoint["count"])
        next_seq = int(checkpoint["next_seq"])
        sizer = BatchSizer(self.fixed_batch)
        while next_seq <= count:
            ctx.check_stop()
            hi = min(next_seq + sizer.size, count + 1)
            started = time.monotonic()
            async with self.db.write() as conn:
                items, size = await self._build(conn, op, prefix, next_seq, hi)
                checkpoint["next_seq"] = hi
                op = await ctx.advance(conn, op, items=items, bytes_=size, checkpoint=checkpoint)
            COPY_ITEMS.inc(items)
            sizer.observe(hi - next_seq, time.monotonic() - started)
            next_seq = hi
            await asyncio.sleep(0)  # let requests waiting for the write lock in between
        ctx.check_stop()
        async with self.db.write() as conn:
            op = await ctx.advance(conn, op)  # last look at cancel and lease
            resource_id, drive_id = await self._publish(conn, op, prefix)
            await ctx.complete(conn, op, resource_id, drive_id)

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
        await _published(repo, p["source_drive_id"], p["source_id"], "The source item")
        await _published(repo, p["dest_drive_id"], p["dest_parent_id"], "The destination folder")
        # A previous attempt may have died between plan statements: start clean.
        await conn.execute(delete(copy_nodes).where(copy_nodes.c.op_id == op.id))
        top = "parent_id" if p.get("children_only") else "id"
        await conn.execute(
            text(_SNAPSHOT.format(top=top)), {"source_id": p["source_id"], "op_id": op.id}
        )
        row = (await conn.execute(text(_TOTALS), {"op_id": op.id, "lo": 0, "hi": 2**62})).one()
        count, size = int(row[0]), int(row[1])
        checkpoint = {"prefix": new_id()[:20] + "-", "count": count, "next_seq": 1}
        return await ctx.advance(conn, op, totals=(count, size), checkpoint=checkpoint)

    async def _build(
        self, conn: AsyncConnection, op: Operation, prefix: str, lo: int, hi: int
    ) -> tuple[int, int]:
        bounds = {"op_id": op.id, "lo": lo, "hi": hi}
        count, size = (await conn.execute(text(_TOTALS), bounds)).one()
        statement = text(_BUILD).bindparams(bindparam("now", type_=UTCDateTime()))
        await conn.execute(
            statement,
            {
                **bounds,
                "prefix": prefix,
                "drive_id": op.params["dest_drive_id"],
                "now": utcnow(),
                "user_id": op.params["user_id"],
                "user_name": op.params["user_name"],
            },
        )
        return int(count), int(size)

    async def _publish(self, conn: AsyncConnection, op: Operation, prefix: str) -> tuple[str, str]:
        p = op.params
        repo = ItemRepository(conn)
        await repo.lock_drive(str(p["dest_drive_id"]))
        dest = await _published(
            repo, p["dest_drive_id"], p["dest_parent_id"], "The destination folder"
        )
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
        await repo.add_size([a.id for a in await repo.ancestors(dest.id)], added)
        await conn.execute(delete(copy_nodes).where(copy_nodes.c.op_id == op.id))
        resource = dest.id if p.get("children_only") or first is None else first
        return resource, str(p["dest_drive_id"])


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


async def _published(repo: ItemRepository, drive_id: str, item_id: str, what: str) -> Any:
    drive = await repo.drive(drive_id)
    item = await repo.get(item_id)
    if drive is None or item is None or item.drive_id != drive_id:
        raise ActionFailed("itemNotFound", f"{what} no longer exists.")
    try:
        return (await located(repo, drive, item)).item
    except ItemNotFound as exc:
        raise ActionFailed("itemNotFound", f"{what} no longer exists.") from exc
