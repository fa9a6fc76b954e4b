"""Item use cases: list children, create folders, rename/move, delete."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graphdrive.auth import Principal
from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.domain.items import Drive, Item, Located
from graphdrive.domain.names import name_key, storable, validate_name
from graphdrive.exceptions import InvalidRequest, NameAlreadyExists, PreconditionFailed
from graphdrive.service.blob_gc import BlobCollector
from graphdrive.service.clock import utcnow
from graphdrive.service.drives import Address, DriveService, locate, located
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ORDER_COLUMNS, ItemRepository


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Located]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class ItemChanges:
    name: str | None = None
    parent_id: str | None = None
    parent_path: tuple[str, ...] | None = None
    fs_created_at: datetime | None = None
    fs_modified_at: datetime | None = None


def parse_orderby(value: str | None) -> tuple[str, bool]:
    if not value:
        return "name", False
    field, _, direction = value.strip().partition(" ")
    if field not in ORDER_COLUMNS:
        raise InvalidRequest(
            f"$orderby supports {', '.join(ORDER_COLUMNS)}; '{field}' is not one of them."
        )
    direction = direction.strip().lower()
    if direction not in ("", "asc", "desc"):
        raise InvalidRequest("$orderby direction must be asc or desc.")
    return field, direction == "desc"


def _encode_token(order: str, desc: bool, item: Item) -> str:
    value: Any
    if order == "name":
        value = name_key(item.name)
    elif order == "size":
        value = item.size
    else:
        value = item.modified_at.isoformat()
    raw = json.dumps([order, desc, value, item.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_INT64 = range(-(2**63), 2**63)


def _decode_token(token: str, order: str, desc: bool) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        t_order, t_desc, value, last_id = json.loads(raw)
        if (t_order, t_desc) != (order, desc) or not isinstance(last_id, str):
            raise ValueError("token/order mismatch")
        expected = {"name": str, "size": int, "lastModifiedDateTime": str}[order]
        if not isinstance(value, expected) or isinstance(value, bool):
            raise TypeError("cursor value of the wrong type")
        if not storable(last_id) or (isinstance(value, str) and not storable(value)):
            raise ValueError("cursor text that no item holds")
        if isinstance(value, int) and value not in _INT64:
            raise ValueError("cursor size out of range")
        if order == "lastModifiedDateTime":
            at = datetime.fromisoformat(str(value))
            return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC), last_id
        return value, last_id
    # RecursionError: absurdly nested JSON; OverflowError: a date beyond datetime's range in UTC.
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise InvalidRequest("The $skiptoken is not valid for this request.") from exc


_ETAG = re.compile(r'"[^"]*"')


def check_if_match(item: Item, if_match: str | None) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    tags = set(_ETAG.findall(if_match)) or {if_match.strip()}
    if item.etag not in tags and item.ctag not in tags:
        raise PreconditionFailed("The item has changed since the eTag given in If-Match.")


class ItemService:
    def __init__(self, db: Database, drives: DriveService, collector: BlobCollector) -> None:
        self.db = db
        self.drives = drives
        self.collector = collector

    async def children(
        self,
        principal: Principal,
        address: Address,
        *,
        top: int,
        orderby: str | None,
        skiptoken: str | None,
    ) -> tuple[Drive, Page]:
        order, desc = parse_orderby(orderby)
        after = _decode_token(skiptoken, order, desc) if skiptoken else None
        drive = await self.drives.drive_for(principal, address.drive)
        async with self.db.read() as conn:
            repo = ItemRepository(conn)
            parent = await locate(repo, drive, address.item, address.path)
            if not parent.item.is_folder:
                return drive, Page([], None)
            rows = await repo.children(
                parent.item.id, order=order, descending=desc, after=after, limit=top + 1
            )
            counts = await repo.child_counts([r.id for r in rows[:top] if r.is_folder])
        path = (*parent.path, parent.item.name) if not parent.item.is_root else ()
        page = [Located(r, path, counts.get(r.id, 0)) for r in rows[:top]]
        token = _encode_token(order, desc, rows[top - 1]) if len(rows) > top else None
        return drive, Page(page, token)

    async def create_folder(
        self, principal: Principal, address: Address, name: str, conflict: ConflictBehavior
    ) -> tuple[Drive, Located]:
        principal.require_write()
        validate_name(name)
        drive = await self.drives.drive_for(principal, address.drive, write=True)
        now = utcnow()
        async with self.db.write() as conn:
            repo = ItemRepository(conn)
            await repo.lock_drive(drive.id)
            parent = await locate(repo, drive, address.item, address.path)
            if not parent.item.is_folder:
                raise InvalidRequest("Folders can only be created inside a folder.")
            existing = await repo.child(parent.item.id, name_key(name))
            freed: list[str] = []
            if existing is not None:
                if conflict is ConflictBehavior.FAIL:
                    raise NameAlreadyExists(f"An item named '{name}' already exists.")
                if conflict is ConflictBehavior.RENAME:
                    name = await repo.free_name(parent.item.id, name, is_folder=True)
                else:
                    freed = await repo.remove(existing)
            item_id = await repo.insert_folder(
                drive.id, parent.item.id, name, principal.user_id, principal.display_name, now
            )
            item = await repo.get(item_id)
            if item is None:  # pragma: no cover - inserted just above
                raise RuntimeError("folder vanished inside its own transaction")
            result = await located(repo, drive, item)
        await self.collector.collect(freed)
        return drive, result

    async def update(
        self,
        principal: Principal,
        address: Address,
        changes: ItemChanges,
        *,
        if_match: str | None,
        conflict: ConflictBehavior,
    ) -> tuple[Drive, Located]:
        principal.require_write()
        if changes.name is not None:
            validate_name(changes.name)
        drive = await self.drives.drive_for(principal, address.drive, write=True)
        now = utcnow()
        async with self.db.write() as conn:
            repo = ItemRepository(conn)
            # Before anything is read: the cycle check and size deltas must see earlier writes.
            await repo.lock_drive(drive.id)
            target = await locate(repo, drive, address.item, address.path)
            item = target.item
            check_if_match(item, if_match)
            values: dict[str, Any] = {}
            parent_id = item.parent_id
            if changes.parent_id is not None or changes.parent_path is not None:
                if item.is_root:
                    raise InvalidRequest("The root folder cannot be moved.")
                new_parent = await locate(
                    repo, drive, changes.parent_id or "root", changes.parent_path or ()
                )
                if not new_parent.item.is_folder:
                    raise InvalidRequest("The new parent must be a folder.")
                chain = await repo.ancestors(new_parent.item.id)
                if any(a.id == item.id for a in chain):
                    raise InvalidRequest("A folder cannot be moved into itself or its children.")
                parent_id = new_parent.item.id
            name = changes.name if changes.name is not None else item.name
            if changes.name is not None and item.is_root:
                raise InvalidRequest("The root folder cannot be renamed.")
            moved = parent_id != item.parent_id
            renamed = name != item.name
            if (moved or name_key(name) != name_key(item.name)) and parent_id is not None:
                clash = await repo.child(parent_id, name_key(name))
                if clash is not None and clash.id != item.id:
                    if conflict is ConflictBehavior.RENAME:
                        name = await repo.free_name(parent_id, name, is_folder=item.is_folder)
                    else:
                        raise NameAlreadyExists(f"An item named '{name}' already exists.")
            if moved and item.parent_id is not None and parent_id is not None:
                old_chain = [a.id for a in await repo.ancestors(item.parent_id)]
                new_chain = [a.id for a in await repo.ancestors(parent_id)]
                await repo.add_size(old_chain, -item.size)
                await repo.add_size(new_chain, item.size)
                values["parent_id"] = parent_id
            if renamed:
                values.update(name=name, name_key=name_key(name))
            if changes.fs_created_at is not None:
                values["fs_created_at"] = changes.fs_created_at
            if changes.fs_modified_at is not None:
                values["fs_modified_at"] = changes.fs_modified_at
            if values:
                values.update(
                    version=item.version + 1,
                    modified_at=now,
                    modified_by_id=principal.user_id,
                    modified_by_name=principal.display_name,
                )
                await repo.update(item.id, **values)
            updated = await repo.get(item.id)
            if updated is None:  # pragma: no cover
                raise RuntimeError("item vanished inside its own transaction")
            return drive, await located(repo, drive, updated)

    async def delete(self, principal: Principal, address: Address, *, if_match: str | None) -> None:
        principal.require_write()
        drive = await self.drives.drive_for(principal, address.drive, write=True)
        async with self.db.write() as conn:
            repo = ItemRepository(conn)
            await repo.lock_drive(drive.id)
            target = await locate(repo, drive, address.item, address.path)
            if target.item.is_root:
                raise InvalidRequest("The root folder cannot be deleted.")
            check_if_match(target.item, if_match)
            freed = await repo.remove(target.item)
        await self.collector.collect(freed)
