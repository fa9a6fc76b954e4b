"""Copy snapshots (``copy_nodes``) on every metadata backend: their shape, their removal once a
copy is published (by the copy, or by the janitor after a crash), and the blobs they hold."""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from graphdrive.bootstrap import Container
from graphdrive.domain.names import name_key
from graphdrive.operations import copy as copy_module
from graphdrive.operations.copy import sweep_finished_snapshots
from graphdrive.operations.model import OperationStatus
from graphdrive.service.clock import utcnow
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ItemRepository
from graphdrive.storage.metadata.schema import blobs, copy_nodes, items
from tests.contract.test_metadata_copy_engine import (
    LEASE,
    SOURCE_ITEMS,
    StopAfterBatches,
    Tree,
    claim,
    container,
    context,
    count,
    create_copy,
    get_op,
    pool,
    seed,
)

if TYPE_CHECKING:  # imported by pytest_plugins below, which lets pytest rewrite its asserts
    from tests.contract.metadata_backends import MetadataBackend  # noqa: F401

pytest_plugins = ["tests.contract.metadata_backends"]
__all__ = ["container"]  # a fixture: the copy engine's tests' container, on every backend


async def pause_after_first_batch(db: Database, tree: Tree, **params: Any) -> str:
    """Start a copy and stop its worker after one build batch: the snapshot is in place."""
    op_id = await create_copy(db, tree, **params)
    op = await claim(db, "w1")
    assert op is not None and op.id == op_id
    ctx = StopAfterBatches(db, "w1", LEASE, 3600, asyncio.Event(), batches=1)
    await pool(db).execute(ctx, op)
    assert (await get_op(db, op_id)).status is OperationStatus.IN_PROGRESS
    return op_id


async def snapshot(db: Database, op_id: str) -> list[Any]:
    async with db.read() as conn:
        stmt = (
            select(copy_nodes.c.seq, copy_nodes.c.parent_seq, copy_nodes.c.src_id)
            .where(copy_nodes.c.op_id == op_id)
            .order_by(copy_nodes.c.seq)
        )
        return list((await conn.execute(stmt)).all())


async def source_parents(db: Database) -> dict[str, str | None]:
    async with db.read() as conn:
        rows = (await conn.execute(select(items.c.id, items.c.parent_id))).all()
    return {item_id: parent_id for item_id, parent_id in rows}


@pytest.mark.parametrize("children_only", [False, True])
async def test_snapshot_holds_every_source_item_once_parents_first(
    metadata_db: Database, children_only: bool
) -> None:
    tree = await seed(metadata_db)
    op_id = await pause_after_first_batch(metadata_db, tree, children_only=children_only)

    rows = await snapshot(metadata_db, op_id)
    expected = SOURCE_ITEMS - 1 if children_only else SOURCE_ITEMS
    assert [seq for seq, _, _ in rows] == list(range(1, expected + 1))
    assert len({src for _, _, src in rows}) == expected
    parents = await source_parents(metadata_db)
    by_seq = {seq: src for seq, _, src in rows}
    tops = [src for _, parent_seq, src in rows if parent_seq is None]
    if children_only:
        assert sorted(tops) == sorted(i for i, p in parents.items() if p == tree.src)
    else:
        assert tops == [tree.src]
    for seq, parent_seq, src in rows:
        if parent_seq is not None:
            assert parent_seq < seq, "a child numbered before its parent"
            assert by_seq[parent_seq] == parents[src], "a child under the wrong parent"


async def test_a_snapshot_left_after_publishing_is_swept_by_the_janitor(
    metadata_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = await seed(metadata_db)

    async def die(*_: Any, **__: Any) -> None:
        raise RuntimeError("the process died right after publishing")

    monkeypatch.setattr(copy_module, "forget_snapshot", die)
    done = await create_copy(metadata_db, tree, name="second")
    op = await claim(metadata_db, "w2")
    assert op is not None and op.id == done
    await pool(metadata_db).execute(context(metadata_db, "w2"), op)
    monkeypatch.undo()
    # Completed all the same: the snapshot is garbage once the copy is published.
    assert (await get_op(metadata_db, done)).status is OperationStatus.COMPLETED
    assert len(await snapshot(metadata_db, done)) == SOURCE_ITEMS
    running = await pause_after_first_batch(metadata_db, tree, name="third")

    assert await sweep_finished_snapshots(metadata_db) == 1
    assert await snapshot(metadata_db, done) == []
    assert len(await snapshot(metadata_db, running)) == SOURCE_ITEMS, "a running copy's snapshot"
    assert await sweep_finished_snapshots(metadata_db) == 0

    op = await claim(metadata_db, "w3")
    assert op is not None and op.id == running
    await pool(metadata_db).execute(context(metadata_db, "w3"), op)
    assert (await get_op(metadata_db, running)).status is OperationStatus.COMPLETED
    async with metadata_db.read() as conn:
        assert await count(conn, copy_nodes) == 0


async def blob_exists(db: Database, key: str) -> bool:
    async with db.read() as conn:
        return await count(conn, blobs, blobs.c.key == key) == 1


async def test_blobs_held_by_a_snapshot_outlive_their_last_item(container: Container) -> None:
    db, collector = container.db, container.collector
    tree = await seed(db)
    op_id = await pause_after_first_batch(db, tree)
    orphan = hashlib.sha256(b"nobody refers to this").hexdigest()
    async with db.write() as conn:
        repo = ItemRepository(conn)
        await repo.ensure_blob(orphan, 1, "0" * 40, None, utcnow())
        # Delete every source file whose content only the source refers to.
        held = []
        for folder, name in ((tree.src, "docs"), (tree.src, "b.bin")):
            item = await repo.child(folder, name_key(name))
            assert item is not None
            held += await repo.remove(item)
    held = sorted(set(held) - {hashlib.sha256(b"a.txt").hexdigest()})
    assert len(held) == 3  # b.bin, c.md, e.txt (d.md shares a.txt's content, which stays)

    # A targeted collection waits while a snapshot exists; the full one scans snapshots.
    assert await collector.collect([*held, orphan]) == 0
    assert await collector.collect(None) == 1
    assert not await blob_exists(db, orphan)
    assert all([await blob_exists(db, key) for key in held])

    op = await claim(db, "w2")
    assert op is not None and op.id == op_id
    await pool(db).execute(context(db, "w2"), op)
    assert (await get_op(db, op_id)).status is OperationStatus.COMPLETED
    # The copy refers to them now; without snapshots, targeted collections run at once.
    assert await collector.collect(held) == 0
    assert all([await blob_exists(db, key) for key in held])
    async with db.write() as conn:
        repo = ItemRepository(conn)
        copy = await repo.child(tree.dest, name_key("src"))
        assert copy is not None
        freed = await repo.remove(copy)
    assert await collector.collect(freed) == len(held)


async def test_a_copy_built_without_foreign_key_checks_satisfies_them(
    metadata_db: Database,
) -> None:
    """On SQLite the build runs as bulk writes, with no foreign-key checks: every reference
    must be right by construction (PostgreSQL checks them as always)."""
    tree = await seed(metadata_db)
    await create_copy(metadata_db, tree)
    op = await claim(metadata_db, "w1")
    assert op is not None
    await pool(metadata_db).execute(context(metadata_db, "w1"), op)
    assert (await get_op(metadata_db, op.id)).status is OperationStatus.COMPLETED
    async with metadata_db.read() as conn:
        if metadata_db.dialect == "sqlite":
            assert (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all() == []
        dangling = (
            await conn.exec_driver_sql(
                "SELECT count(*) FROM items i WHERE (i.parent_id IS NOT NULL AND NOT EXISTS"
                " (SELECT 1 FROM items p WHERE p.id = i.parent_id)) OR (i.blob_key IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.key = i.blob_key))"
            )
        ).scalar_one()
        assert dangling == 0
