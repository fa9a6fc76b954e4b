"""SQL for drives and items: every query the drive service runs, on one connection.

Plain SQLAlchemy Core, portable between SQLite and PostgreSQL. Tree walks use recursive CTEs
over ``parent_id``; folder sizes are kept up to date by adding deltas along the ancestor chain.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.domain.items import LIBRARY, PERSONAL, Drive, Item
from graphdrive.domain.names import first_free_name, name_key
from graphdrive.exceptions import Conflict, ItemNotFound, NameAlreadyExists
from graphdrive.storage.metadata.schema import blobs, copy_nodes, drives, items


def new_id() -> str:
    """A random, URL-safe item or drive id (120 bits, upper-case base32 like Graph's)."""
    return base64.b32encode(secrets.token_bytes(15)).decode()


_ITEM_COLUMNS = (
    *items.c,
    blobs.c.sha1,
    blobs.c.quick_xor,
)


def _item_select() -> Select[Any]:
    return select(*_ITEM_COLUMNS).select_from(
        items.outerjoin(blobs, items.c.blob_key == blobs.c.key)
    )


def _ancestors_statement() -> Select[Any]:
    """An item and its ancestors, nearest first: built once, run with ``item_id`` bound (it is
    on every request's path, and building the CTE costs more than running it)."""
    chain = (
        select(
            items.c.id,
            items.c.parent_id,
            items.c.name,
            items.c.is_folder,
            literal(0, Integer).label("depth"),
        )
        .where(items.c.id == bindparam("item_id"))
        .cte("chain", recursive=True)
    )
    chain = chain.union_all(
        select(
            items.c.id,
            items.c.parent_id,
            items.c.name,
            items.c.is_folder,
            (chain.c.depth + 1).label("depth"),
        ).where(items.c.id == chain.c.parent_id)
    )
    return select(chain.c.id, chain.c.parent_id, chain.c.name, chain.c.is_folder).order_by(
        chain.c.depth
    )


_ANCESTORS = _ancestors_statement()


def _to_item(row: Row[Any]) -> Item:
    m = row._mapping
    return Item(
        id=m["id"],
        drive_id=m["drive_id"],
        parent_id=m["parent_id"],
        name=m["name"],
        is_folder=bool(m["is_folder"]),
        size=int(m["size"]),
        blob_key=m["blob_key"],
        mime_type=m["mime_type"],
        sha1=m["sha1"],
        quick_xor=m["quick_xor"],
        version=int(m["version"]),
        content_version=int(m["content_version"]),
        created_at=m["created_at"],
        modified_at=m["modified_at"],
        created_by_id=m["created_by_id"],
        created_by_name=m["created_by_name"],
        modified_by_id=m["modified_by_id"],
        modified_by_name=m["modified_by_name"],
        fs_created_at=m["fs_created_at"],
        fs_modified_at=m["fs_modified_at"],
    )


def to_drive(row: Row[Any]) -> Drive:
    m = row._mapping
    return Drive(
        id=m["id"],
        owner_id=m["owner_id"],
        owner_name=m["owner_name"],
        root_id=m["root_id"],
        created_at=m["created_at"],
        kind=m["kind"],
    )


def _integrity_error(exc: IntegrityError, name: object) -> Exception:
    """Only a clash on (parent, name) is a name conflict; a vanished parent or blob (a foreign
    key) means the target is gone; anything else is a server fault and stays as it is."""
    text = str(exc.orig).lower()
    if "uq_items_parent_id_name_key" in text or "items.parent_id, items.name_key" in text:
        label = f"named '{name}'" if name else "with that name"
        return NameAlreadyExists(f"An item {label} already exists here.")
    if "foreign key" in text:
        return ItemNotFound("The parent folder or content no longer exists.")
    return exc


@dataclass(frozen=True, slots=True)
class Ancestor:
    id: str
    parent_id: str | None
    name: str
    is_folder: bool


# Orderings for children listings: the column and whether it sorts case-insensitively.
ORDER_COLUMNS: dict[str, ColumnElement[Any]] = {
    "name": items.c.name_key,
    "lastModifiedDateTime": items.c.modified_at,
    "size": items.c.size,
}


class ItemRepository:
    """Drive and item persistence on one connection (inside a unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- drives -------------------------------------------------------------------------
    async def drive_by_owner(self, owner_id: str) -> Drive | None:
        """A user's personal drive."""
        stmt = select(drives).where(drives.c.owner_id == owner_id, drives.c.kind == PERSONAL)
        row = (await self.conn.execute(stmt)).first()
        return to_drive(row) if row else None

    async def drive(self, drive_id: str) -> Drive | None:
        row = (await self.conn.execute(select(drives).where(drives.c.id == drive_id))).first()
        return to_drive(row) if row else None

    async def lock_drive(self, drive_id: str) -> None:
        """Hold the drive's row lock until the unit of work ends: serialises a drive's tree
        writes on PostgreSQL, where two crossing moves could otherwise each pass the cycle check
        and concurrent size deltas could be computed from stale sizes (SQLite writers are
        serialised already and SQLite renders no ``FOR UPDATE``).
        ``FOR NO KEY UPDATE`` leaves inserts alone: their foreign-key check only takes
        ``KEY SHARE`` on the drive row. On SQLite it sends nothing."""
        if self.conn.dialect.name == "sqlite":
            return
        stmt = select(drives.c.id).where(drives.c.id == drive_id).with_for_update(key_share=True)
        await self.conn.execute(stmt)

    async def create_drive(
        self, owner_id: str, owner_name: str, now: datetime, *, kind: str = PERSONAL
    ) -> Drive:
        """A drive with its root folder. A library's ``owner_id`` is made from its new id."""
        drive_id, root_id = "b!" + new_id().lower(), new_id()
        if kind == LIBRARY:
            owner_id = f"library:{drive_id}"
        await self.conn.execute(
            insert(drives).values(
                id=drive_id,
                owner_id=owner_id,
                owner_name=owner_name,
                root_id=root_id,
                created_at=now,
                kind=kind,
            )
        )
        await self.conn.execute(
            insert(items).values(
                id=root_id,
                drive_id=drive_id,
                parent_id=None,
                name="root",
                name_key="root",
                is_folder=True,
                size=0,
                version=1,
                content_version=1,
                created_at=now,
                modified_at=now,
                created_by_id=owner_id,
                created_by_name=owner_name,
                modified_by_id=owner_id,
                modified_by_name=owner_name,
            )
        )
        return Drive(drive_id, owner_id, owner_name, root_id, now, kind)

    # -- reading items ------------------------------------------------------------------
    async def get(self, item_id: str) -> Item | None:
        row = (await self.conn.execute(_item_select().where(items.c.id == item_id))).first()
        return _to_item(row) if row else None

    async def child(self, parent_id: str, key: str) -> Item | None:
        stmt = _item_select().where(items.c.parent_id == parent_id, items.c.name_key == key)
        row = (await self.conn.execute(stmt)).first()
        return _to_item(row) if row else None

    async def name_taken(self, parent_id: str, key: str) -> bool:
        stmt = select(items.c.id).where(items.c.parent_id == parent_id, items.c.name_key == key)
        return (await self.conn.execute(stmt)).first() is not None

    async def keys_like(self, parent_id: str, prefix_key: str) -> set[str]:
        """Name keys in a folder that start with ``prefix_key`` (for picking a free name)."""
        stmt = select(items.c.name_key).where(
            items.c.parent_id == parent_id,
            func.substr(items.c.name_key, 1, len(prefix_key)) == prefix_key,
        )
        return set((await self.conn.execute(stmt)).scalars())

    async def ancestors(self, item_id: str) -> list[Ancestor]:
        """The item and its ancestors, nearest first, up to an item with no parent."""
        rows = await self.conn.execute(_ANCESTORS, {"item_id": item_id})
        return [Ancestor(r.id, r.parent_id, r.name, bool(r.is_folder)) for r in rows]

    async def children(
        self,
        parent_id: str,
        *,
        order: str,
        descending: bool,
        after: tuple[Any, str] | None,
        limit: int,
    ) -> list[Item]:
        column = ORDER_COLUMNS[order]
        stmt = _item_select().where(items.c.parent_id == parent_id)
        if after is not None:
            value, last_id = after
            if descending:
                stmt = stmt.where(or_(column < value, and_(column == value, items.c.id < last_id)))
            else:
                stmt = stmt.where(or_(column > value, and_(column == value, items.c.id > last_id)))
        if descending:
            stmt = stmt.order_by(column.desc(), items.c.id.desc())
        else:
            stmt = stmt.order_by(column, items.c.id)
        rows = await self.conn.execute(stmt.limit(limit))
        return [_to_item(r) for r in rows]

    async def child_counts(self, folder_ids: Sequence[str]) -> dict[str, int]:
        if not folder_ids:
            return {}
        stmt = (
            select(items.c.parent_id, func.count())
            .where(items.c.parent_id.in_(folder_ids))
            .group_by(items.c.parent_id)
        )
        return {pid: int(n) for pid, n in await self.conn.execute(stmt)}

    # -- writing items ------------------------------------------------------------------
    async def insert(self, **values: Any) -> None:
        try:
            await self.conn.execute(insert(items).values(**values))
        except IntegrityError as exc:
            raise _integrity_error(exc, values.get("name")) from exc

    async def insert_folder(
        self,
        drive_id: str,
        parent_id: str,
        name: str,
        user_id: str,
        user_name: str,
        now: datetime,
    ) -> str:
        item_id = new_id()
        await self.insert(
            id=item_id,
            drive_id=drive_id,
            parent_id=parent_id,
            name=name,
            name_key=name_key(name),
            is_folder=True,
            size=0,
            version=1,
            content_version=1,
            created_at=now,
            modified_at=now,
            created_by_id=user_id,
            created_by_name=user_name,
            modified_by_id=user_id,
            modified_by_name=user_name,
        )
        return item_id

    async def update(self, item_id: str, **values: Any) -> None:
        try:
            await self.conn.execute(update(items).where(items.c.id == item_id).values(**values))
        except IntegrityError as exc:
            raise _integrity_error(exc, values.get("name")) from exc

    async def add_size(self, item_ids: Iterable[str], delta: int) -> None:
        ids = list(item_ids)
        if delta and ids:
            await self.conn.execute(
                update(items).where(items.c.id.in_(ids)).values(size=items.c.size + delta)
            )

    async def delete_subtree(self, item_id: str) -> list[str]:
        """Delete an item and all its descendants; return the blob keys they referenced."""
        tree = select(items.c.id).where(items.c.id == item_id).cte("tree", recursive=True)
        tree = tree.union_all(select(items.c.id).where(items.c.parent_id == tree.c.id))
        ids = select(tree.c.id)
        keys = await self.conn.execute(
            select(items.c.blob_key)
            .where(items.c.id.in_(ids), items.c.blob_key.is_not(None))
            .distinct()
        )
        blob_keys = [k for (k,) in keys]
        try:
            await self.conn.execute(delete(items).where(items.c.id.in_(ids)))
        except IntegrityError as exc:  # PostgreSQL: a child was added after the tree was read
            if "foreign key" not in str(exc.orig).lower():
                raise
            raise Conflict("The folder changed while it was being deleted; try again.") from exc
        return blob_keys

    async def free_name(self, parent_id: str, name: str, *, is_folder: bool) -> str:
        """``name`` if free in the folder, else the lowest free ``name N`` (``report 1.txt``)."""
        stem = name.rsplit(".", 1)[0] if not is_folder and "." in name[1:] else name
        taken = await self.keys_like(parent_id, name_key(stem))
        return first_free_name(name, is_folder=is_folder, taken=taken.__contains__)

    async def remove(self, item: Item) -> list[str]:
        """Delete ``item`` with its subtree and fix ancestor sizes; return blob keys to collect."""
        if item.parent_id is not None:
            chain = [a.id for a in await self.ancestors(item.parent_id)]
            await self.add_size(chain, -item.size)
        return await self.delete_subtree(item.id)

    # -- blobs ----------------------------------------------------------------------------
    async def ensure_blob(
        self, key: str, size: int, sha1: str, quick_xor: str | None, now: datetime
    ) -> None:
        # INSERT … ON CONFLICT DO NOTHING: two uploads of the same content may race here, and
        # on PostgreSQL it waits for a collector deleting the same row to commit first.
        values = {"key": key, "size": size, "sha1": sha1, "quick_xor": quick_xor, "created_at": now}
        if self.conn.dialect.name == "postgresql":
            stmt: Any = pg_insert(blobs).values(**values).on_conflict_do_nothing()
        else:
            stmt = sqlite_insert(blobs).values(**values).on_conflict_do_nothing()
        await self.conn.execute(stmt)

    async def unreferenced_blobs(self, candidates: Iterable[str] | None = None) -> list[str]:
        referenced = select(items.c.id).where(items.c.blob_key == blobs.c.key).exists()
        snapshotted = select(copy_nodes.c.op_id).where(copy_nodes.c.blob_key == blobs.c.key)
        stmt = select(blobs.c.key).where(~referenced, ~snapshotted.exists())
        if candidates is not None:
            stmt = stmt.where(blobs.c.key.in_(list(candidates)))
        return list((await self.conn.execute(stmt)).scalars())

    async def forget_blobs(self, keys: Sequence[str]) -> list[str]:
        """Delete the rows of ``keys`` (chosen by :meth:`unreferenced_blobs`); return the keys
        forgotten. None are when one gained a reference since it was chosen (PostgreSQL: an
        upload of the same content committed in between); the unit of work stays usable."""
        if not keys:
            return []
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(delete(blobs).where(blobs.c.key.in_(keys)))
        except IntegrityError:
            return []
        return list(keys)

    async def unknown_blobs(self, keys: Sequence[str]) -> list[str]:
        """Those of ``keys`` that have no ``blobs`` row (as far as this read can see)."""
        known = select(blobs.c.key).where(blobs.c.key.in_(list(keys)))
        found = set((await self.conn.execute(known)).scalars())
        return [key for key in keys if key not in found]

    async def hold_blob_key(self, key: str, now: datetime) -> bool:
        """Claim a key no blob row has, until the unit of work ends: insert a placeholder row
        (``size`` -1, never committed: the caller deletes it with :meth:`release_blob_key`).
        False if a row exists; on PostgreSQL an upload that has inserted the key but not
        committed yet is waited for first, so a claimed key is one no upload is writing."""
        values = {"key": key, "size": -1, "sha1": "", "quick_xor": None, "created_at": now}
        if self.conn.dialect.name == "postgresql":
            stmt: Any = pg_insert(blobs).values(**values).on_conflict_do_nothing()
        else:
            stmt = sqlite_insert(blobs).values(**values).on_conflict_do_nothing()
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT DO NOTHING.
        return (await self.conn.execute(stmt.returning(blobs.c.key))).first() is not None

    async def release_blob_key(self, key: str) -> None:
        await self.conn.execute(delete(blobs).where(blobs.c.key == key, blobs.c.size == -1))

    async def blob_known(self, key: str) -> bool:
        row = await self.conn.execute(select(blobs.c.key).where(blobs.c.key == key))
        return row.first() is not None
