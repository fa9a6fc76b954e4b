"""The ItemRepository contract: one suite, run against every metadata backend.

Every test gets a fresh migrated database (``metadata_db``, SQLite and PostgreSQL) and works
through the repository inside ``Database.write()``/``read()`` units of work, as services do.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from graphdrive.domain.items import Drive, Item
from graphdrive.domain.names import name_key
from graphdrive.exceptions import NameAlreadyExists
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ORDER_COLUMNS, ItemRepository, new_id
from graphdrive.storage.metadata.schema import blobs, copy_nodes, items, operations

# The metadata_backend and metadata_db fixtures (SQLite and PostgreSQL) come from here:
pytest_plugins = ["tests.contract.metadata_backends"]

T0 = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
USER, USER_NAME = "user-1", "User One"


def blob_key(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()


async def new_drive(db: Database, owner: str = USER) -> Drive:
    async with db.write() as conn:
        return await ItemRepository(conn).create_drive(owner, f"{owner} name", T0)


async def add_blob(repo: ItemRepository, tag: str, size: int) -> str:
    key = blob_key(tag)
    await repo.ensure_blob(key, size, hashlib.sha1(tag.encode()).hexdigest(), None, T0)
    return key


async def add_item(
    repo: ItemRepository,
    drive: Drive,
    parent_id: str,
    name: str,
    *,
    size: int = 0,
    folder: bool = False,
    blob: str | None = None,
    modified: datetime = T0,
    grow_ancestors: bool = True,
) -> str:
    """Insert a file (with a blob) or folder the way services do, keeping folder sizes exact."""
    item_id = new_id()
    if not folder and blob is None:
        blob = await add_blob(repo, f"{name}:{size}", size)
    await repo.insert(
        id=item_id,
        drive_id=drive.id,
        parent_id=parent_id,
        name=name,
        name_key=name_key(name),
        is_folder=folder,
        size=0 if folder else size,
        blob_key=None if folder else blob,
        mime_type=None if folder else "application/octet-stream",
        version=1,
        content_version=1,
        created_at=T0,
        modified_at=modified,
        created_by_id=USER,
        created_by_name=USER_NAME,
        modified_by_id=USER,
        modified_by_name=USER_NAME,
    )
    if grow_ancestors and not folder and size:
        await repo.add_size([a.id for a in await repo.ancestors(parent_id)], size)
    return item_id


async def get(db: Database, item_id: str) -> Item | None:
    async with db.read() as conn:
        return await ItemRepository(conn).get(item_id)


async def count_items(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(items))).scalar_one())


# -- drives -------------------------------------------------------------------------------------
async def test_create_drive_makes_a_root_folder(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    assert drive.id.startswith("b!")
    async with metadata_db.read() as conn:
        repo = ItemRepository(conn)
        assert await repo.drive(drive.id) == drive
        assert await repo.drive_by_owner(USER) == drive
        assert await repo.drive_by_owner("nobody") is None
        assert await repo.drive("b!nothing") is None
        root = await repo.get(drive.root_id)
    assert root is not None
    assert (root.is_root, root.is_folder, root.name, root.size) == (True, True, "root", 0)
    assert root.drive_id == drive.id
    assert root.created_at == T0 and root.created_at.tzinfo is not None
    assert (root.version, root.content_version) == (1, 1)


async def test_drives_have_separate_roots(metadata_db: Database) -> None:
    one, two = await new_drive(metadata_db, "u1"), await new_drive(metadata_db, "u2")
    assert one.root_id != two.root_id
    async with metadata_db.read() as conn:
        repo = ItemRepository(conn)
        assert (await repo.get(one.root_id)).drive_id == one.id  # type: ignore[union-attr]
        assert (await repo.get(two.root_id)).drive_id == two.id  # type: ignore[union-attr]


# -- reading and writing items ------------------------------------------------------------------
async def test_insert_then_get_round_trips_every_field(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    modified = T0 + timedelta(seconds=90, microseconds=5)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        key = await add_blob(repo, "hello", 5)
        await repo.ensure_blob(blob_key("other"), 1, "0" * 40, "qx" * 14, T0)
        file_id = await add_item(repo, drive, drive.root_id, "Hello.TXT", size=5, blob=key,
                                 modified=modified)  # fmt: skip
    item = await get(metadata_db, file_id)
    assert item is not None
    assert (item.id, item.drive_id, item.parent_id) == (file_id, drive.id, drive.root_id)
    assert (item.name, item.is_folder, item.size, item.blob_key) == ("Hello.TXT", False, 5, key)
    assert item.sha1 == hashlib.sha1(b"hello").hexdigest()
    assert item.quick_xor is None
    assert item.mime_type == "application/octet-stream"
    assert (item.created_at, item.modified_at) == (T0, modified)
    assert item.modified_at.utcoffset() == timedelta(0)
    assert (item.created_by_id, item.modified_by_name) == (USER, USER_NAME)
    assert await get(metadata_db, "NOSUCHITEM") is None


async def test_child_is_found_by_casefolded_key(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        file_id = await add_item(repo, drive, drive.root_id, "Straße.TXT", size=3)
        folder_id = await repo.insert_folder(drive.id, drive.root_id, "Docs", USER, USER_NAME, T0)
    async with metadata_db.read() as conn:
        repo = ItemRepository(conn)
        for spelling in ("Straße.TXT", "strasse.txt", "STRASSE.txt"):
            found = await repo.child(drive.root_id, name_key(spelling))
            assert found is not None and found.id == file_id, spelling
            assert await repo.name_taken(drive.root_id, name_key(spelling))
        folder = await repo.child(drive.root_id, name_key("DOCS"))
        assert folder is not None and folder.id == folder_id and folder.is_folder
        assert await repo.child(drive.root_id, name_key("missing")) is None
        assert not await repo.name_taken(drive.root_id, name_key("missing"))
        assert await repo.child(folder_id, name_key("strasse.txt")) is None


async def test_names_are_unique_per_folder_case_insensitively(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        await add_item(repo, drive, drive.root_id, "a.txt", size=1)
        other = await repo.insert_folder(drive.id, drive.root_id, "other", USER, USER_NAME, T0)
        b_id = await add_item(repo, drive, drive.root_id, "b.txt", size=1)
    before = await count_items(metadata_db)

    with pytest.raises(NameAlreadyExists):
        async with metadata_db.write() as conn:
            await add_item(ItemRepository(conn), drive, drive.root_id, "A.TXT", size=2)
    with pytest.raises(NameAlreadyExists):
        async with metadata_db.write() as conn:
            await ItemRepository(conn).insert_folder(
                drive.id, drive.root_id, "A.txt", USER, USER_NAME, T0
            )
    with pytest.raises(NameAlreadyExists):
        async with metadata_db.write() as conn:
            await ItemRepository(conn).update(b_id, name="A.Txt", name_key=name_key("A.Txt"))
    assert await count_items(metadata_db) == before
    assert (await get(metadata_db, b_id)).name == "b.txt"  # type: ignore[union-attr]

    # The same name in another folder is fine, as are several parentless items (roots).
    async with metadata_db.write() as conn:
        await add_item(ItemRepository(conn), drive, other, "A.TXT", size=1)
    await new_drive(metadata_db, "second-user")


async def test_a_failed_unit_of_work_leaves_nothing_behind(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    before = await count_items(metadata_db)
    with pytest.raises(NameAlreadyExists):
        async with metadata_db.write() as conn:
            repo = ItemRepository(conn)
            await add_item(repo, drive, drive.root_id, "first.txt", size=10)
            await add_item(repo, drive, drive.root_id, "FIRST.txt", size=10)
    assert await count_items(metadata_db) == before
    assert (await get(metadata_db, drive.root_id)).size == 0  # type: ignore[union-attr]


async def test_only_a_name_clash_is_reported_as_name_already_exists(
    metadata_db: Database,
) -> None:
    drive = await new_drive(metadata_db)
    with pytest.raises(Exception) as raised:
        async with metadata_db.write() as conn:
            repo = ItemRepository(conn)
            await repo.insert_folder(drive.id, "NOSUCHPARENT", "orphan", USER, USER_NAME, T0)
    assert not isinstance(raised.value, NameAlreadyExists), "the parent does not exist"


# -- listing children ---------------------------------------------------------------------------
def _sort_value(item: Item, order: str) -> Any:
    """The value a page's last item gives as the keyset ``after`` (names sort by their key)."""
    if order == "name":
        return name_key(item.name)
    return item.size if order == "size" else item.modified_at


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("order", sorted(ORDER_COLUMNS))
async def test_children_keyset_pages_cover_every_child_once(
    metadata_db: Database, order: str, descending: bool
) -> None:
    drive = await new_drive(metadata_db)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        folder = await repo.insert_folder(drive.id, drive.root_id, "f", USER, USER_NAME, T0)
        decoy = await repo.insert_folder(drive.id, drive.root_id, "g", USER, USER_NAME, T0)
        await add_item(repo, drive, decoy, "decoy.bin", size=7)
        for n in range(23):
            # Few distinct sizes and times: many ties, which the id must break.
            name = f"{'Ab'[n % 2]}item{n:02d}.bin"
            modified = T0 + timedelta(minutes=n % 3, microseconds=n % 2)
            await add_item(repo, drive, folder, name, size=(n * 7) % 4, modified=modified)
        await repo.insert_folder(drive.id, folder, "sub", USER, USER_NAME, T0)

    async with metadata_db.read() as conn:
        repo = ItemRepository(conn)
        everything = await repo.children(
            folder, order=order, descending=descending, after=None, limit=1000
        )
        pages: list[list[Item]] = []
        after: tuple[Any, str] | None = None
        while True:
            page = await repo.children(
                folder, order=order, descending=descending, after=after, limit=4
            )
            if not page:
                break
            assert len(page) <= 4
            pages.append(page)
            last = page[-1]
            after = (_sort_value(last, order), last.id)

    paged = [item.id for page in pages for item in page]
    assert len(everything) == 24
    assert len(paged) == len(set(paged)) == 24, "an item was repeated or skipped across pages"
    assert paged == [item.id for item in everything]
    expected = sorted(everything, key=lambda i: (_sort_value(i, order), i.id), reverse=descending)
    assert [i.id for i in everything] == [i.id for i in expected]
    assert all(item.parent_id == folder for item in everything)


async def test_child_counts(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        a = await repo.insert_folder(drive.id, drive.root_id, "a", USER, USER_NAME, T0)
        b = await repo.insert_folder(drive.id, drive.root_id, "b", USER, USER_NAME, T0)
        empty = await repo.insert_folder(drive.id, drive.root_id, "empty", USER, USER_NAME, T0)
        for n in range(2):
            await add_item(repo, drive, a, f"{n}.txt", size=1)
        for n in range(3):
            await repo.insert_folder(drive.id, b, f"sub{n}", USER, USER_NAME, T0)
        await add_item(repo, drive, a, "third.txt", size=1)
    async with metadata_db.read() as conn:
        repo = ItemRepository(conn)
        counts = await repo.child_counts([a, b, empty])
        assert counts == {a: 3, b: 3}
        assert counts.get(empty, 0) == 0
        assert await repo.child_counts([]) == {}
        assert await repo.child_counts([drive.root_id]) == {drive.root_id: 3}


async def test_ancestors_nearest_first_up_to_the_root(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        a = await repo.insert_folder(drive.id, drive.root_id, "a", USER, USER_NAME, T0)
        b = await repo.insert_folder(drive.id, a, "b", USER, USER_NAME, T0)
        c = await repo.insert_folder(drive.id, b, "c", USER, USER_NAME, T0)
        f = await add_item(repo, drive, c, "f.txt", size=4)
    async with metadata_db.read() as conn:
        repo = ItemRepository(conn)
        chain = await repo.ancestors(f)
        assert [x.id for x in chain] == [f, c, b, a, drive.root_id]
        assert [x.name for x in chain] == ["f.txt", "c", "b", "a", "root"]
        assert [x.is_folder for x in chain] == [False, True, True, True, True]
        assert [x.parent_id for x in chain] == [c, b, a, drive.root_id, None]
        assert [x.id for x in await repo.ancestors(drive.root_id)] == [drive.root_id]
        assert await repo.ancestors("NOSUCHITEM") == []


async def test_add_size_adds_a_delta_to_each_item(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        a = await repo.insert_folder(drive.id, drive.root_id, "a", USER, USER_NAME, T0)
        await repo.add_size([a, drive.root_id], 10)
        await repo.add_size([a], -3)
        await repo.add_size([], 5)
        await repo.add_size([a], 0)
        await repo.add_size(iter([drive.root_id]), 2**40)  # sizes are 64-bit
    assert (await get(metadata_db, a)).size == 7  # type: ignore[union-attr]
    assert (await get(metadata_db, drive.root_id)).size == 10 + 2**40  # type: ignore[union-attr]


async def _tree(db: Database, drive: Drive) -> dict[str, str]:
    """root/{top/{x.bin 10, sub/{y.bin 20, z.bin 30 (same content as x), deep/{w.bin 40}}},
    keep.bin 5}"""
    ids: dict[str, str] = {}
    async with db.write() as conn:
        repo = ItemRepository(conn)
        shared = await add_blob(repo, "shared", 10)
        ids["top"] = await repo.insert_folder(drive.id, drive.root_id, "top", USER, USER_NAME, T0)
        ids["x"] = await add_item(repo, drive, ids["top"], "x.bin", size=10, blob=shared)
        ids["sub"] = await repo.insert_folder(drive.id, ids["top"], "sub", USER, USER_NAME, T0)
        ids["y"] = await add_item(repo, drive, ids["sub"], "y.bin", size=20)
        ids["z"] = await add_item(repo, drive, ids["sub"], "z.bin", size=30, blob=shared)
        ids["deep"] = await repo.insert_folder(drive.id, ids["sub"], "deep", USER, USER_NAME, T0)
        ids["w"] = await add_item(repo, drive, ids["deep"], "w.bin", size=40)
        ids["keep"] = await add_item(repo, drive, drive.root_id, "keep.bin", size=5)
    return ids


async def test_delete_subtree_removes_descendants_and_returns_blob_keys(
    metadata_db: Database,
) -> None:
    drive = await new_drive(metadata_db)
    ids = await _tree(metadata_db, drive)
    async with metadata_db.write() as conn:
        keys = await ItemRepository(conn).delete_subtree(ids["sub"])
    assert len(keys) == len(set(keys)), "blob keys must be distinct"
    # z.bin shares its content with x.bin, which stays: the caller decides what to collect.
    assert set(keys) == {blob_key("shared"), blob_key("y.bin:20"), blob_key("w.bin:40")}
    for gone in ("sub", "y", "z", "deep", "w"):
        assert await get(metadata_db, ids[gone]) is None, gone
    for kept in ("top", "x", "keep"):
        assert await get(metadata_db, ids[kept]) is not None, kept
    async with metadata_db.write() as conn:
        keep = await ItemRepository(conn).delete_subtree(ids["keep"])
        assert keep == [blob_key("keep.bin:5")]
        assert await ItemRepository(conn).delete_subtree("NOSUCHITEM") == []


async def test_remove_fixes_ancestor_sizes(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    ids = await _tree(metadata_db, drive)
    sizes = {k: (await get(metadata_db, v)).size for k, v in ids.items()}  # type: ignore[union-attr]
    assert (sizes["sub"], sizes["top"]) == (90, 100)
    assert (await get(metadata_db, drive.root_id)).size == 105  # type: ignore[union-attr]

    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        sub = await repo.get(ids["sub"])
        assert sub is not None
        keys = await repo.remove(sub)
    assert set(keys) == {blob_key("shared"), blob_key("y.bin:20"), blob_key("w.bin:40")}
    assert (await get(metadata_db, ids["top"])).size == 10  # type: ignore[union-attr]
    assert (await get(metadata_db, drive.root_id)).size == 15  # type: ignore[union-attr]
    assert await get(metadata_db, ids["w"]) is None

    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        x = await repo.get(ids["x"])
        assert x is not None
        assert await repo.remove(x) == [blob_key("shared")]
    assert (await get(metadata_db, ids["top"])).size == 0  # type: ignore[union-attr]
    assert (await get(metadata_db, drive.root_id)).size == 5  # type: ignore[union-attr]


# -- picking a free name ------------------------------------------------------------------------
async def test_free_name_appends_the_lowest_free_number(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        root = drive.root_id
        other = await repo.insert_folder(drive.id, root, "other", USER, USER_NAME, T0)
        assert await repo.free_name(root, "x", is_folder=True) == "x"
        assert await repo.free_name(root, "x.txt", is_folder=False) == "x.txt"

        await repo.insert_folder(drive.id, root, "x", USER, USER_NAME, T0)
        assert await repo.free_name(root, "x", is_folder=True) == "x 1"
        assert await repo.free_name(root, "X", is_folder=True) == "X 1"
        await repo.insert_folder(drive.id, root, "X 1", USER, USER_NAME, T0)
        assert await repo.free_name(root, "x", is_folder=True) == "x 2"
        await repo.insert_folder(drive.id, root, "x 3", USER, USER_NAME, T0)
        assert await repo.free_name(root, "x", is_folder=True) == "x 2"

        await add_item(repo, drive, root, "x.txt", size=1)
        assert await repo.free_name(root, "x.txt", is_folder=False) == "x 1.txt"
        await add_item(repo, drive, root, "X 1.TXT", size=1)
        await add_item(repo, drive, other, "x 2.txt", size=1)  # another folder: no effect
        assert await repo.free_name(root, "x.txt", is_folder=False) == "x 2.txt"
        assert await repo.free_name(root, "X.Txt", is_folder=False) == "X 2.Txt"

        # Only the last extension is kept; a leading dot is not an extension.
        await add_item(repo, drive, root, "a.tar.gz", size=1)
        assert await repo.free_name(root, "a.tar.gz", is_folder=False) == "a.tar 1.gz"
        await add_item(repo, drive, root, ".env", size=1)
        assert await repo.free_name(root, ".env", is_folder=False) == ".env 1"
        # A folder's dot is part of its name.
        await repo.insert_folder(drive.id, root, "v1.2", USER, USER_NAME, T0)
        assert await repo.free_name(root, "v1.2", is_folder=True) == "v1.2 1"


# -- blobs --------------------------------------------------------------------------------------
async def test_ensure_blob_is_idempotent(metadata_db: Database) -> None:
    key = blob_key("content")
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        assert not await repo.blob_known(key)
        await repo.ensure_blob(key, 7, "a" * 40, "q" * 28, T0)
        await repo.ensure_blob(key, 7, "a" * 40, "q" * 28, T0)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        # A later identical upload (possibly with another timestamp) changes nothing.
        await repo.ensure_blob(key, 7, "a" * 40, "q" * 28, T0 + timedelta(hours=1))
        assert await repo.blob_known(key)
    async with metadata_db.read() as conn:
        rows = (await conn.execute(select(blobs))).all()
    assert len(rows) == 1
    row = rows[0]._mapping
    assert (row["key"], row["size"], row["sha1"], row["quick_xor"]) == (key, 7, "a" * 40, "q" * 28)
    assert row["created_at"] == T0


async def test_unreferenced_blobs_ignores_items_and_copy_snapshots(metadata_db: Database) -> None:
    drive = await new_drive(metadata_db)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        by_item = await add_blob(repo, "by-item", 1)
        by_copy = await add_blob(repo, "by-copy", 2)
        by_both = await add_blob(repo, "by-both", 3)
        orphan = await add_blob(repo, "orphan", 4)
        orphan2 = await add_blob(repo, "orphan2", 5)
        await add_item(repo, drive, drive.root_id, "a.bin", size=1, blob=by_item)
        await add_item(repo, drive, drive.root_id, "c.bin", size=3, blob=by_both)
        op_id = new_id()
        await conn.execute(
            insert(operations).values(
                id=op_id, action="copy", owner_id=USER, status="inProgress", params="{}",
                next_attempt_at=T0, created_at=T0, updated_at=T0,
            )
        )  # fmt: skip
        for seq, key in enumerate((by_copy, by_both), start=1):
            await conn.execute(
                insert(copy_nodes).values(
                    op_id=op_id, seq=seq, parent_seq=None, src_id=new_id(), name=f"n{seq}",
                    name_key=f"n{seq}", is_folder=False, size=1, blob_key=key,
                )
            )  # fmt: skip
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        assert sorted(await repo.unreferenced_blobs()) == sorted([orphan, orphan2])
        assert await repo.unreferenced_blobs([by_item, by_copy, orphan]) == [orphan]
        assert await repo.unreferenced_blobs([]) == []
        assert await repo.unreferenced_blobs(["0" * 64]) == []
        assert await repo.forget_blobs([orphan]) == [orphan]
        assert await repo.forget_blobs([]) == []
        assert not await repo.blob_known(orphan)
        assert await repo.unreferenced_blobs() == [orphan2]


async def test_forget_blobs_skips_a_blob_referenced_since_it_was_chosen(
    metadata_db: Database,
) -> None:
    """On PostgreSQL an upload of the same content can reference a blob between the collector's
    choice and its delete; the delete then forgets nothing instead of failing the request that
    triggered the collection (and the unit of work goes on)."""
    drive = await new_drive(metadata_db)
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        key = await add_blob(repo, "taken-meanwhile", 1)
        await add_item(repo, drive, drive.root_id, "late.bin", size=1, blob=key)
        assert await repo.forget_blobs([key]) == []
        assert await repo.blob_known(key)
        orphan = await add_blob(repo, "still-orphan", 2)
        assert await repo.forget_blobs([orphan]) == [orphan]
    async with metadata_db.read() as conn:
        repo = ItemRepository(conn)
        assert await repo.blob_known(key)
        assert not await repo.blob_known(orphan)
