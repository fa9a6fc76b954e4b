"""The copy engine end to end on every metadata backend: plan, build in batches, publish.

A small tree is built with ``ItemRepository``; copies run through ``WorkerPool.execute`` and
``CopyAction`` with a tiny batch size, so that interruptions between batches (a graceful
shutdown, a crashed worker whose lease runs out, a cancel) can be placed exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.auth import Principal
from graphdrive.bootstrap import Container, build
from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.domain.items import LIBRARY, READ, Drive
from graphdrive.domain.names import name_key
from graphdrive.operations.actions import ActionRegistry
from graphdrive.operations.context import JobContext
from graphdrive.operations.copy import CopyAction
from graphdrive.operations.model import Interrupted, Operation, OperationStatus
from graphdrive.operations.store import OperationStore
from graphdrive.operations.worker import WorkerPool
from graphdrive.service.clock import utcnow
from graphdrive.service.drives import Address
from graphdrive.service.operations import CopyRequest
from graphdrive.settings import Settings
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ItemRepository, new_id
from graphdrive.storage.metadata.members import MemberRepository
from graphdrive.storage.metadata.schema import copy_nodes, items

if TYPE_CHECKING:  # imported by pytest_plugins below, which lets pytest rewrite its asserts
    from tests.contract.metadata_backends import MetadataBackend

# The metadata_backend and metadata_db fixtures (SQLite and PostgreSQL) come from here:
pytest_plugins = ["tests.contract.metadata_backends"]

USER, USER_NAME = "copy-user", "Copy User"
BATCH = 2
LEASE = 30.0
# src/{a.txt 3, b.bin 5, docs/{c.md 7, d.md 11 (a.txt's content), deep/{e.txt 13, deeper/}},
#      empty/}
SOURCE_ITEMS, SOURCE_BYTES = 10, 39


@dataclass
class Tree:
    drive: Drive
    src: str
    dest: str


async def seed(db: Database) -> Tree:
    now = utcnow()
    async with db.write() as conn:
        repo = ItemRepository(conn)
        drive = await repo.create_drive(USER, USER_NAME, now)

        async def folder(parent: str, name: str) -> str:
            return await repo.insert_folder(drive.id, parent, name, USER, USER_NAME, now)

        async def file(parent: str, name: str, size: int, content: str | None = None) -> None:
            key = hashlib.sha256((content or name).encode()).hexdigest()
            await repo.ensure_blob(key, size, "0" * 40, None, now)
            await repo.insert(
                id=new_id(), drive_id=drive.id, parent_id=parent, name=name,
                name_key=name_key(name), is_folder=False, size=size, blob_key=key,
                mime_type="text/plain", version=1, content_version=1, created_at=now,
                modified_at=now, created_by_id=USER, created_by_name=USER_NAME,
                modified_by_id=USER, modified_by_name=USER_NAME,
            )  # fmt: skip
            await repo.add_size([a.id for a in await repo.ancestors(parent)], size)

        src = await folder(drive.root_id, "src")
        await file(src, "a.txt", 3)
        await file(src, "b.bin", 5)
        docs = await folder(src, "docs")
        await file(docs, "c.md", 7)
        await file(docs, "d.md", 11, content="a.txt")
        deep = await folder(docs, "deep")
        await file(deep, "e.txt", 13)
        await folder(deep, "deeper")
        await folder(src, "empty")
        dest = await folder(drive.root_id, "dest")
        await file(dest, "existing.txt", 2)
    return Tree(drive, src, dest)


async def shape(conn: AsyncConnection, item_id: str) -> dict[str, Any]:
    """A subtree as nested dicts of (kind, size, content) by name; ids left out."""
    repo = ItemRepository(conn)
    out: dict[str, Any] = {}
    for child in await repo.children(item_id, order="name", descending=False, after=None,
                                     limit=10_000):  # fmt: skip
        if child.is_folder:
            out[child.name] = ("folder", child.size, await shape(conn, child.id))
        else:
            out[child.name] = ("file", child.size, child.blob_key)
    return out


async def count(conn: AsyncConnection, table: Any, *where: Any) -> int:
    stmt = select(func.count()).select_from(table).where(*where)
    return int((await conn.execute(stmt)).scalar_one())


async def create_copy(db: Database, tree: Tree, **params: Any) -> str:
    """Record a copy of ``src`` into ``dest`` as ``OperationService.start_copy`` does."""
    now, op_id = utcnow(), new_id()
    async with db.write() as conn:
        await OperationStore(conn).create(
            id=op_id,
            action="copy",
            owner_id=USER,
            params={
                "source_id": tree.src,
                "source_drive_id": tree.drive.id,
                "dest_parent_id": tree.dest,
                "dest_drive_id": tree.drive.id,
                "name": None,
                "children_only": False,
                "conflict": "fail",
                "user_id": USER,
                "user_name": USER_NAME,
                **params,
            },
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    return op_id


@dataclass(frozen=True)
class StopAfterBatches(JobContext):
    """A worker that starts shutting down once ``batches`` build batches have committed."""

    batches: int = 1
    seen: list[int] = field(default_factory=list)

    async def advance(self, conn: AsyncConnection, op: Operation, **kw: Any) -> Operation:
        op = await super().advance(conn, op, **kw)
        if kw.get("items"):
            self.seen.append(kw["items"])
            if len(self.seen) >= self.batches:
                self.stopping.set()
        return op


def pool(db: Database, batch_size: int | None = BATCH) -> WorkerPool:
    return WorkerPool(
        db,
        ActionRegistry(CopyAction(db, batch_size=batch_size)),
        size=0,
        lease_seconds=LEASE,
        retention_seconds=3600,
        max_attempts=3,
        max_per_owner=4,
    )


def context(db: Database, worker: str) -> JobContext:
    return JobContext(db, worker, LEASE, 3600, asyncio.Event())


async def claim(db: Database, worker: str, later: float = 0) -> Operation | None:
    async with db.write() as conn:
        return await OperationStore(conn).claim(
            worker, utcnow() + timedelta(seconds=later), LEASE, 4
        )


async def get_op(db: Database, op_id: str) -> Operation:
    async with db.read() as conn:
        op = await OperationStore(conn).get(op_id)
    assert op is not None
    return op


async def assert_copied_once(db: Database, tree: Tree, op_id: str, items_before: int) -> None:
    op = await get_op(db, op_id)
    assert op.status is OperationStatus.COMPLETED, (op.status, op.error_code, op.error_message)
    assert (op.total_items, op.done_items) == (SOURCE_ITEMS, SOURCE_ITEMS)
    assert (op.total_bytes, op.done_bytes, op.percent) == (SOURCE_BYTES, SOURCE_BYTES, 100.0)
    async with db.read() as conn:
        repo = ItemRepository(conn)
        assert await count(conn, items) == items_before + SOURCE_ITEMS, "missing or extra items"
        assert await count(conn, items, items.c.parent_id.is_(None)) == 1, "a detached tree"
        assert await count(conn, copy_nodes) == 0
        copy = await repo.child(tree.dest, name_key("src"))
        assert copy is not None and copy.id == op.resource_id and copy.id != tree.src
        assert op.resource_drive_id == tree.drive.id
        assert copy.size == SOURCE_BYTES
        source_shape = await shape(conn, tree.src)
        assert await shape(conn, copy.id) == source_shape
        assert set(await shape(conn, tree.dest)) == {"existing.txt", "src"}
        assert (await repo.get(tree.dest)).size == 2 + SOURCE_BYTES  # type: ignore[union-attr]
        root = await repo.get(tree.drive.root_id)
        assert root is not None and root.size == 2 * SOURCE_BYTES + 2
        assert (await repo.get(tree.src)).size == SOURCE_BYTES  # type: ignore[union-attr]


# -- tests ---------------------------------------------------------------------------------------
@pytest.fixture
async def container(metadata_backend: MetadataBackend, tmp_path: Path) -> AsyncIterator[Container]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=metadata_backend.url,
        workers=0,
        copy_batch_size=BATCH,
        lease_seconds=LEASE,
    )
    built = await build(settings)
    yield built
    await built.close()


async def test_copy_started_by_the_service_runs_to_completion(container: Container) -> None:
    db = container.db
    tree = await seed(db)
    async with db.read() as conn:
        before = await count(conn, items)
    principal = Principal(USER, USER_NAME, frozenset({"Files.ReadWrite"}))
    request = CopyRequest(
        dest_drive=None, dest_id=tree.dest, dest_path=None, name=None, children_only=False,
        conflict=ConflictBehavior.FAIL,
    )  # fmt: skip
    token = await container.operations.start_copy(principal, Address("me", tree.src), request)
    queued = (await container.operations.by_token(token)).operation
    assert queued.status is OperationStatus.NOT_STARTED

    op = await claim(db, "worker-1")
    assert op is not None and op.id == queued.id
    await container.workers.execute(context(db, "worker-1"), op)
    await assert_copied_once(db, tree, op.id, before)
    report = await container.operations.by_token(token)
    assert report.operation.status is OperationStatus.COMPLETED

    # The same copy again with "rename": a second, independent tree named "src 1".
    again = CopyRequest(
        dest_drive=None, dest_id=tree.dest, dest_path=None, name=None, children_only=False,
        conflict=ConflictBehavior.RENAME,
    )  # fmt: skip
    await container.operations.start_copy(principal, Address("me", tree.src), again)
    op = await claim(db, "worker-2")
    assert op is not None
    await container.workers.execute(context(db, "worker-2"), op)
    async with db.read() as conn:
        repo = ItemRepository(conn)
        second = await repo.child(tree.dest, name_key("src 1"))
        assert second is not None and second.size == SOURCE_BYTES
        assert await shape(conn, second.id) == await shape(conn, tree.src)
        assert await count(conn, items) == before + 2 * SOURCE_ITEMS
        assert await count(conn, copy_nodes) == 0


async def test_copy_released_between_batches_resumes_on_another_worker(
    metadata_db: Database,
) -> None:
    tree = await seed(metadata_db)
    async with metadata_db.read() as conn:
        before = await count(conn, items)
    op_id = await create_copy(metadata_db, tree)
    workers = pool(metadata_db)

    op = await claim(metadata_db, "w1")
    assert op is not None and op.id == op_id
    ctx = StopAfterBatches(metadata_db, "w1", LEASE, 3600, asyncio.Event(), batches=2)
    await workers.execute(ctx, op)  # Interrupted after 2 batches → lease released

    paused = await get_op(metadata_db, op_id)
    assert paused.status is OperationStatus.IN_PROGRESS
    assert (paused.lease_owner, paused.attempts) == (None, 0), "a shutdown is no failed attempt"
    assert paused.checkpoint is not None and paused.checkpoint["next_seq"] == 1 + 2 * BATCH
    assert paused.done_items == 2 * BATCH
    async with metadata_db.read() as conn:
        # Built so far, but out of sight: nothing new under dest yet.
        assert await count(conn, items) == before + 2 * BATCH
        assert set(await shape(conn, tree.dest)) == {"existing.txt"}
        assert await count(conn, copy_nodes) == SOURCE_ITEMS

    op = await claim(metadata_db, "w2")
    assert op is not None and op.id == op_id and op.attempts == 1
    await workers.execute(context(metadata_db, "w2"), op)
    await assert_copied_once(metadata_db, tree, op_id, before)


async def test_copy_of_a_crashed_worker_is_rescued_after_its_lease(
    metadata_db: Database,
) -> None:
    tree = await seed(metadata_db)
    async with metadata_db.read() as conn:
        before = await count(conn, items)
    op_id = await create_copy(metadata_db, tree)
    workers = pool(metadata_db)
    action = CopyAction(metadata_db, batch_size=BATCH)

    stale = await claim(metadata_db, "w1")
    assert stale is not None
    ctx = StopAfterBatches(metadata_db, "w1", LEASE, 3600, asyncio.Event(), batches=3)
    with pytest.raises(Interrupted):
        await action.run(ctx, stale)  # then the process dies: no release
    assert await claim(metadata_db, "w2") is None, "the lease is still held"

    rescued = await claim(metadata_db, "w2", later=LEASE + 1)
    assert rescued is not None and rescued.id == op_id and rescued.attempts == 2
    assert rescued.checkpoint is not None and rescued.checkpoint["next_seq"] == 1 + 3 * BATCH

    # The old worker wakes up and tries to go on: its batch is rolled back (lease lost).
    await workers.execute(context(metadata_db, "w1"), stale)
    async with metadata_db.read() as conn:
        assert await count(conn, items) == before + 3 * BATCH
    assert (await get_op(metadata_db, op_id)).lease_owner == "w2"

    await workers.execute(context(metadata_db, "w2"), rescued)
    await assert_copied_once(metadata_db, tree, op_id, before)


async def test_cancelled_copy_leaves_no_trace(metadata_db: Database) -> None:
    tree = await seed(metadata_db)
    async with metadata_db.read() as conn:
        before = await count(conn, items)
        dest_before = await shape(conn, tree.dest)
    op_id = await create_copy(metadata_db, tree)
    workers = pool(metadata_db)

    op = await claim(metadata_db, "w1")
    assert op is not None
    ctx = StopAfterBatches(metadata_db, "w1", LEASE, 3600, asyncio.Event(), batches=1)
    await workers.execute(ctx, op)
    async with metadata_db.write() as conn:
        store = OperationStore(conn)
        current = await store.get(op_id)
        assert current is not None
        await store.request_cancel(current, utcnow(), 3600)
    assert (await get_op(metadata_db, op_id)).status is OperationStatus.DELETE_PENDING

    op = await claim(metadata_db, "w2")
    assert op is not None and op.id == op_id
    await workers.execute(context(metadata_db, "w2"), op)
    done = await get_op(metadata_db, op_id)
    assert done.status is OperationStatus.CANCELLED and done.finished_at is not None
    async with metadata_db.read() as conn:
        assert await count(conn, items) == before
        assert await count(conn, copy_nodes) == 0
        assert await shape(conn, tree.dest) == dest_before


# -- small copies: one transaction ---------------------------------------------------------------
def count_commits(db: Database) -> list[int]:
    commits: list[int] = []
    event.listen(db.engine.sync_engine, "commit", lambda _conn: commits.append(1))
    return commits


async def test_a_small_copy_is_planned_built_and_published_in_one_commit(
    metadata_db: Database,
) -> None:
    tree = await seed(metadata_db)
    async with metadata_db.read() as conn:
        before = await count(conn, items)
    op_id = await create_copy(metadata_db, tree)
    op = await claim(metadata_db, "w1")
    assert op is not None and op.id == op_id
    commits = count_commits(metadata_db)

    await pool(metadata_db, batch_size=None).execute(context(metadata_db, "w1"), op)

    await assert_copied_once(metadata_db, tree, op_id, before)  # snapshot gone too
    assert len(commits) == 1


@dataclass
class FileCopy:
    source_id: str
    op: Operation
    commits: int  # while the claimed copy ran


async def copy_file(db: Database, tree: Tree, file: str, **params: Any) -> FileCopy:
    """Copy ``src/<file>`` (recorded as the service records a file's copy) and run it."""
    async with db.read() as conn:
        source = await ItemRepository(conn).child(tree.src, name_key(file))
    assert source is not None
    params = {"source_id": source.id, "source_is_folder": False, **params}
    op_id = await create_copy(db, tree, **params)
    op = await claim(db, "w1")
    assert op is not None and op.id == op_id
    commits = count_commits(db)
    await pool(db).execute(context(db, "w1"), op)
    return FileCopy(source.id, await get_op(db, op_id), len(commits))


async def test_a_file_is_copied_in_one_commit_without_a_snapshot(metadata_db: Database) -> None:
    tree = await seed(metadata_db)
    async with metadata_db.read() as conn:
        before = await count(conn, items)
    snapshot_statements: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "copy_nodes" in statement:
            snapshot_statements.append(statement)

    event.listen(metadata_db.engine.sync_engine, "before_cursor_execute", spy)
    try:
        done = await copy_file(metadata_db, tree, "b.bin", name="copied.bin")
    finally:
        event.remove(metadata_db.engine.sync_engine, "before_cursor_execute", spy)

    op = done.op
    assert op.status is OperationStatus.COMPLETED, (op.error_code, op.error_message)
    assert (op.total_items, op.done_items, op.total_bytes, op.done_bytes) == (1, 1, 5, 5)
    assert op.percent == 100.0 and op.resource_drive_id == tree.drive.id
    assert done.commits == 1
    assert snapshot_statements == []
    async with metadata_db.read() as conn:
        repo = ItemRepository(conn)
        assert await count(conn, items) == before + 1
        copy, source = await repo.get(op.resource_id or ""), await repo.get(done.source_id)
        assert copy is not None and source is not None
        assert (copy.parent_id, copy.name, copy.is_folder) == (tree.dest, "copied.bin", False)
        assert (copy.size, copy.blob_key, copy.mime_type) == (5, source.blob_key, "text/plain")
        assert (await repo.get(tree.dest)).size == 2 + 5  # type: ignore[union-attr]
        root = await repo.get(tree.drive.root_id)
        assert root is not None and root.size == SOURCE_BYTES + 2 + 5


async def test_a_file_copied_onto_itself_with_replace_replaces_it(metadata_db: Database) -> None:
    tree = await seed(metadata_db)
    async with metadata_db.read() as conn:
        before = await count(conn, items)
    done = await copy_file(metadata_db, tree, "a.txt", dest_parent_id=tree.src, conflict="replace")
    op = done.op
    assert op.status is OperationStatus.COMPLETED, (op.error_code, op.error_message)
    async with metadata_db.read() as conn:
        repo = ItemRepository(conn)
        assert await count(conn, items) == before
        assert await repo.get(done.source_id) is None
        copy = await repo.child(tree.src, name_key("a.txt"))
        assert copy is not None and copy.id == op.resource_id and copy.size == 3
        assert (await repo.get(tree.src)).size == SOURCE_BYTES  # type: ignore[union-attr]


@pytest.mark.parametrize("conflict", ["fail", "rename"])
async def test_a_file_copy_decides_name_conflicts(metadata_db: Database, conflict: str) -> None:
    tree = await seed(metadata_db)
    op = (await copy_file(metadata_db, tree, "a.txt", name="existing.txt", conflict=conflict)).op
    if conflict == "fail":
        assert (op.status, op.error_code) == (OperationStatus.FAILED, "nameAlreadyExists")
        expected = {"existing.txt"}
    else:
        assert op.status is OperationStatus.COMPLETED
        expected = {"existing.txt", "existing 1.txt"}
    async with metadata_db.read() as conn:
        assert set(await shape(conn, tree.dest)) == expected
        assert await count(conn, items, items.c.parent_id.is_(None)) == 1, "a detached copy"


async def test_a_source_larger_than_counted_goes_on_in_batches(
    metadata_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bounded count and the plan are separate reads: should the source have grown past
    the small-copy limit in between, the plan commits alone and batches follow."""
    tree = await seed(metadata_db)
    async with metadata_db.read() as conn:
        before = await count(conn, items)
    op_id = await create_copy(metadata_db, tree)

    async def looks_small(self: CopyAction, op: Operation) -> bool:
        return True

    monkeypatch.setattr(CopyAction, "_looks_small", looks_small)
    op = await claim(metadata_db, "w1")
    assert op is not None
    commits = count_commits(metadata_db)

    await pool(metadata_db).execute(context(metadata_db, "w1"), op)

    await assert_copied_once(metadata_db, tree, op_id, before)
    # plan, SOURCE_ITEMS / BATCH build batches, publish (+ the snapshot's deletion)
    assert len(commits) >= 2 + SOURCE_ITEMS // BATCH


@pytest.mark.parametrize("source", ["folder, one transaction", "folder, in batches", "file"])
async def test_a_copy_into_a_library_its_user_may_only_read_fails(
    metadata_db: Database, source: str
) -> None:
    """Access is asked again when the copy runs: here the user became a reader of the
    destination library after the copy was accepted."""
    tree = await seed(metadata_db)
    async with metadata_db.write() as conn:
        library = await ItemRepository(conn).create_drive("", "Team", utcnow(), kind=LIBRARY)
        await MemberRepository(conn).add(library.id, USER, READ)
    async with metadata_db.read() as conn:
        before = await count(conn, items)
        a_file = await ItemRepository(conn).child(tree.src, name_key("a.txt"))
    assert a_file is not None
    params: dict[str, Any] = {"dest_drive_id": library.id, "dest_parent_id": library.root_id}
    if source == "file":
        params.update(source_id=a_file.id, source_is_folder=False)
    op_id = await create_copy(metadata_db, tree, **params)
    op = await claim(metadata_db, "w1")
    assert op is not None and op.id == op_id
    batch = BATCH if source == "folder, in batches" else None
    await pool(metadata_db, batch_size=batch).execute(context(metadata_db, "w1"), op)

    op = await get_op(metadata_db, op_id)
    assert (op.status, op.error_code) == (OperationStatus.FAILED, "accessDenied")
    async with metadata_db.read() as conn:
        assert await count(conn, items) == before
        assert await count(conn, copy_nodes) == 0


async def test_monitors_of_this_process_hear_of_each_batch_and_of_the_end(
    metadata_db: Database,
) -> None:
    tree = await seed(metadata_db)
    op_id = await create_copy(metadata_db, tree)
    op = await claim(metadata_db, "w1")
    assert op is not None
    heard: list[str] = []
    workers = pool(metadata_db)  # batches of BATCH items
    workers.announce = heard.append
    ctx = JobContext(metadata_db, "w1", LEASE, 3600, asyncio.Event(), heard.append)

    await workers.execute(ctx, op)

    assert (await get_op(metadata_db, op_id)).status is OperationStatus.COMPLETED
    # The plan, each build batch, and the end.
    assert heard == [op_id] * (1 + SOURCE_ITEMS // BATCH + 1)
