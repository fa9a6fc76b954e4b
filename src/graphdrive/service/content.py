"""File content: streamed uploads (create or replace) and pre-authenticated download links."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime

import jwt

from graphdrive.auth import Principal
from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.domain.items import Drive, Item, Located
from graphdrive.domain.names import name_key, validate_name
from graphdrive.exceptions import (
    InvalidRequest,
    ItemNotFound,
    NameAlreadyExists,
    PreconditionFailed,
)
from graphdrive.service.blob_gc import BlobCollector
from graphdrive.service.clock import utcnow
from graphdrive.service.drives import Address, DriveService, locate, located, split_parent
from graphdrive.service.items import check_if_match
from graphdrive.storage.blobs import BlobNotFound, BlobStore, StagedBlob
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ItemRepository, new_id

_DOWNLOAD_AUDIENCE = "graphdrive:download"


def guess_mime_type(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


@dataclass(frozen=True, slots=True)
class DownloadTicket:
    """What a pre-authenticated download URL grants: one blob, under one name."""

    blob_key: str
    size: int
    name: str
    mime_type: str
    etag: str
    expires_at: int = 0  # Unix time the link stops working

    def seconds_left(self) -> int:
        return max(0, self.expires_at - int(time.time()))


class DownloadLinks:
    """Signs and checks the short-lived capability tokens in download URLs."""

    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def __repr__(self) -> str:
        return f"DownloadLinks(ttl_seconds={self.ttl_seconds})"

    def token(self, item: Item) -> str:
        if item.blob_key is None:
            raise InvalidRequest("Folders have no content to download.")
        claims = {
            "aud": _DOWNLOAD_AUDIENCE,
            "exp": int(time.time()) + self.ttl_seconds,
            "k": item.blob_key,
            "s": item.size,
            "n": item.name,
            "m": item.mime_type or guess_mime_type(item.name),
            "e": item.ctag,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def check(self, token: str) -> DownloadTicket:
        try:
            c = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=_DOWNLOAD_AUDIENCE,
                options={"require": ["exp", "aud"]},
            )
            return DownloadTicket(c["k"], int(c["s"]), c["n"], c["m"], c["e"], int(c["exp"]))
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            raise ItemNotFound("This download link is invalid or has expired.") from exc


async def open_download(
    blobs: BlobStore, ticket: DownloadTicket, start: int, end: int
) -> AsyncIterator[bytes]:
    """The bytes ``[start, end)`` a download link grants, opened before any response starts.

    A link outlives its content when the file is replaced or deleted and the blob reclaimed:
    that is :class:`ItemNotFound` now, not a 200 whose body breaks off.
    """
    stream = blobs.read(ticket.blob_key, start, end)
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        first = b""
    except BlobNotFound as exc:
        raise ItemNotFound("The content of this download link no longer exists.") from exc
    return _after(first, stream)


async def _after(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    async with aclosing(rest):
        yield first
        async for chunk in rest:
            yield chunk


class ContentService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        drives: DriveService,
        collector: BlobCollector,
        *,
        max_upload_bytes: int,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.drives = drives
        self.collector = collector
        self.max_upload_bytes = max_upload_bytes

    async def upload(
        self,
        principal: Principal,
        address: Address,
        chunks: AsyncIterable[bytes],
        *,
        by_path: bool,
        conflict: ConflictBehavior,
        if_match: str | None = None,
    ) -> tuple[Drive, Located, bool]:
        """Store a file's bytes; returns the item and whether it was created (vs replaced).

        ``by_path``: the address's last path segment names the file inside its parent (it may
        not exist yet); otherwise the address is an existing file whose content is replaced.
        """
        principal.require_write()
        drive = await self.drives.drive_for(principal, address.drive, write=True)
        target = await self.file_target(drive, address, by_path=by_path, principal=principal)
        staged = await self.blobs.stage(chunks, max_size=self.max_upload_bytes)
        loc, created = await self.publish(
            principal, drive, target, staged, conflict=conflict, if_match=if_match
        )
        return drive, loc, created

    async def file_target(
        self, drive: Drive, address: Address, *, by_path: bool, principal: Principal
    ) -> FileTarget:
        """Where an upload goes, resolved before its bytes are read (fail fast). Missing
        folders on the way to a path-addressed file are created, as OneDrive does."""
        async with self.db.read() as conn:
            repo = ItemRepository(conn)
            if not by_path:
                item = (await locate(repo, drive, address.item, address.path)).item
                if item.is_folder:
                    raise InvalidRequest("A folder has no content to replace.")
                return FileTarget(item_id=item.id)
            parent_path, name = split_parent(address.path)
            validate_name(name)
            for segment in parent_path:
                validate_name(segment)
            base = (await locate(repo, drive, address.item)).item
            parent = await _walk(repo, base, parent_path)
        if parent is None:
            async with self.db.write() as conn:
                repo = ItemRepository(conn)
                await repo.lock_drive(drive.id)
                parent = await _make_folders(repo, drive, address.item, parent_path, principal)
        if not parent.is_folder:
            raise InvalidRequest("Files can only be uploaded into a folder.")
        return FileTarget(parent_id=parent.id, name=name)

    async def publish(
        self,
        principal: Principal,
        drive: Drive,
        target: FileTarget,
        staged: StagedBlob,
        *,
        conflict: ConflictBehavior,
        if_match: str | None = None,
        fs_times: tuple[datetime | None, datetime | None] = (None, None),
    ) -> tuple[Located, bool]:
        """Make staged content a file: create or replace the item and commit the blob, in one
        unit of work. The staged data is discarded if anything fails."""
        try:
            async with self.db.write() as conn:
                repo = ItemRepository(conn)
                await repo.lock_drive(drive.id)
                write = _FileWrite(repo, principal, staged, conflict, if_match, fs_times)
                if target.item_id is not None:
                    existing = (await locate(repo, drive, target.item_id)).item
                    item_id, old_key = await write.replace(existing)
                else:
                    parent = (await locate(repo, drive, target.parent_id or "root")).item
                    item_id, old_key = await write.into_folder(parent, target.name)
                # Committed inside the unit of work: see blob_gc.py for why.
                await self.blobs.commit(staged)
                item = await repo.get(item_id)
                if item is None:  # pragma: no cover - written just above
                    raise RuntimeError("file vanished inside its own transaction")
                result = await located(repo, drive, item)
        except BaseException:
            await self.blobs.discard(staged)
            raise
        if old_key and old_key != staged.sha256:
            await self.collector.collect([old_key])
        return result, write.created


async def _walk(repo: ItemRepository, base: Item, path: tuple[str, ...]) -> Item | None:
    """Follow ``path`` down from ``base``; None if a segment is missing."""
    item = base
    for segment in path:
        if not item.is_folder:
            raise InvalidRequest(f"'{item.name}' is a file, not a folder.")
        child = await repo.child(item.id, name_key(segment))
        if child is None:
            return None
        item = child
    return item


async def _make_folders(
    repo: ItemRepository,
    drive: Drive,
    base_id: str,
    path: tuple[str, ...],
    principal: Principal,
) -> Item:
    item = (await locate(repo, drive, base_id)).item
    now = utcnow()
    for segment in path:
        if not item.is_folder:
            raise InvalidRequest(f"'{item.name}' is a file, not a folder.")
        child = await repo.child(item.id, name_key(segment))
        if child is None:
            folder_id = await repo.insert_folder(
                drive.id, item.id, segment, principal.user_id, principal.display_name, now
            )
            child = await repo.get(folder_id)
            if child is None:  # pragma: no cover - inserted just above
                raise RuntimeError("folder vanished inside its own transaction")
        item = child
    return item


@dataclass(frozen=True, slots=True)
class FileTarget:
    """An upload's destination: a new file ``name`` in folder ``parent_id``, or ``item_id``."""

    parent_id: str | None = None
    name: str = ""
    item_id: str | None = None


class _FileWrite:
    """The metadata half of one upload, inside its unit of work."""

    def __init__(
        self,
        repo: ItemRepository,
        principal: Principal,
        staged: StagedBlob,
        conflict: ConflictBehavior,
        if_match: str | None,
        fs_times: tuple[datetime | None, datetime | None] = (None, None),
    ) -> None:
        self.fs_created_at, self.fs_modified_at = fs_times
        self.repo = repo
        self.principal = principal
        self.staged = staged
        self.conflict = conflict
        self.if_match = if_match
        self.created = False
        self.now = utcnow()

    async def into_folder(self, parent: Item, name: str) -> tuple[str, str | None]:
        if not parent.is_folder:
            raise InvalidRequest("Files can only be uploaded into a folder.")
        existing = await self.repo.child(parent.id, name_key(name))
        replaceable = existing is not None and not existing.is_folder
        if existing is not None and replaceable and self.conflict is ConflictBehavior.REPLACE:
            return await self.replace(existing)
        if existing is not None:
            if self.conflict is not ConflictBehavior.RENAME:
                raise NameAlreadyExists(f"An item named '{name}' already exists.")
            name = await self.repo.free_name(parent.id, name, is_folder=False)
        check_if_match_absent(self.if_match)
        item_id = new_id()
        await self._record_blob()
        await self.repo.insert(
            id=item_id,
            drive_id=parent.drive_id,
            parent_id=parent.id,
            name=name,
            name_key=name_key(name),
            is_folder=False,
            size=self.staged.size,
            blob_key=self.staged.sha256,
            mime_type=guess_mime_type(name),
            version=1,
            content_version=1,
            created_at=self.now,
            modified_at=self.now,
            created_by_id=self.principal.user_id,
            created_by_name=self.principal.display_name,
            modified_by_id=self.principal.user_id,
            modified_by_name=self.principal.display_name,
            fs_created_at=self.fs_created_at,
            fs_modified_at=self.fs_modified_at,
        )
        chain = [a.id for a in await self.repo.ancestors(parent.id)]
        await self.repo.add_size(chain, self.staged.size)
        self.created = True
        return item_id, None

    async def _record_blob(self) -> None:
        staged = self.staged
        await self.repo.ensure_blob(
            staged.sha256, staged.size, staged.sha1, staged.quick_xor or None, self.now
        )

    def _fs_values(self) -> dict[str, datetime]:
        values = {}
        if self.fs_created_at is not None:
            values["fs_created_at"] = self.fs_created_at
        if self.fs_modified_at is not None:
            values["fs_modified_at"] = self.fs_modified_at
        return values

    async def replace(self, item: Item) -> tuple[str, str | None]:
        if item.is_folder:
            raise InvalidRequest("A folder has no content to replace.")
        check_if_match(item, self.if_match)
        await self._record_blob()
        await self.repo.update(
            item.id,
            blob_key=self.staged.sha256,
            size=self.staged.size,
            version=item.version + 1,
            content_version=item.content_version + 1,
            modified_at=self.now,
            modified_by_id=self.principal.user_id,
            modified_by_name=self.principal.display_name,
            **self._fs_values(),
        )
        if item.parent_id is not None:
            chain = [a.id for a in await self.repo.ancestors(item.parent_id)]
            await self.repo.add_size(chain, self.staged.size - item.size)
        return item.id, item.blob_key


def check_if_match_absent(if_match: str | None) -> None:
    """``If-Match`` on a file that does not exist yet can only be ``*``-less nonsense."""
    if if_match is not None and if_match.strip() not in ("", "*"):
        raise PreconditionFailed("If-Match was given but the item does not exist.")
