"""Resumable upload sessions: ``createUploadSession``, fragments by ``Content-Range``, commit.

The upload URL is a capability (no token needed; only its SHA-256 is stored). Fragments must
arrive in order; each is appended to the blob store's staged data and either fully kept or cut
back. The file appears as an item only when the last byte is in (or on an explicit commit for
``deferCommit``), through the same publish step as a simple upload.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.auth import Principal
from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.domain.items import Drive, Located
from graphdrive.domain.names import name_key
from graphdrive.exceptions import (
    GraphError,
    InvalidRange,
    InvalidRequest,
    ItemNotFound,
    NameAlreadyExists,
    PayloadTooLarge,
)
from graphdrive.service.clock import utcnow
from graphdrive.service.content import ContentService, FileTarget
from graphdrive.service.drives import Address, DriveService, locate
from graphdrive.storage.blobs import BlobNotFound, BlobStore
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ItemRepository, new_id
from graphdrive.storage.metadata.schema import upload_sessions as sessions

SESSION_IDLE = timedelta(hours=1)  # a session expires this long after its last fragment
WRITER_LEASE = timedelta(minutes=10)  # how long one fragment may take to arrive
# A finished session's last fragment may be sent again for this long (see `_replay`).
REPLAY_WINDOW = timedelta(minutes=10)
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SessionState:
    expires_at: datetime
    next_expected: int
    file_size: int | None


@dataclass(frozen=True, slots=True)
class Finished:
    drive: Drive
    item: Located
    created: bool


def parse_content_range(header: str | None) -> tuple[int, int, int | None]:
    """``bytes 0-1023/4096`` → (start, end exclusive, total); total ``*`` → None."""
    match = _CONTENT_RANGE.match(header or "")
    if not match:
        raise InvalidRequest("Content-Range must look like 'bytes 0-1023/4096'.")
    start, last, total = int(match[1]), int(match[2]), match[3]
    if last < start:
        raise InvalidRange("The Content-Range ends before it starts.")
    total_size = None if total == "*" else int(total)
    if total_size is not None and last >= total_size:
        raise InvalidRange("The Content-Range reaches past the file size.")
    return start, last + 1, total_size


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UploadService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        drives: DriveService,
        content: ContentService,
        *,
        max_upload_bytes: int,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.drives = drives
        self.content = content
        self.max_upload_bytes = max_upload_bytes

    async def create(
        self,
        principal: Principal,
        address: Address,
        *,
        by_path: bool,
        conflict: ConflictBehavior,
        file_size: int | None,
        fs_times: tuple[datetime | None, datetime | None],
        defer_commit: bool,
    ) -> tuple[str, SessionState]:
        principal.require_write()
        if file_size is not None and file_size > self.max_upload_bytes:
            raise PayloadTooLarge(f"Files are limited to {self.max_upload_bytes} bytes.")
        drive = await self.drives.drive_for(principal, address.drive, write=True)
        target = await self.content.file_target(
            drive, address, by_path=by_path, principal=principal
        )
        if target.parent_id is not None and conflict is ConflictBehavior.FAIL:
            async with self.db.read() as conn:
                if await ItemRepository(conn).name_taken(target.parent_id, name_key(target.name)):
                    raise NameAlreadyExists(f"An item named '{target.name}' already exists.")
        staging = await self.blobs.open_append()
        token = secrets.token_urlsafe(32)
        now = utcnow()
        expires = now + SESSION_IDLE
        async with self.db.write() as conn:
            await conn.execute(
                insert(sessions).values(
                    id=new_id(),
                    token_hash=_digest(token),
                    owner_id=principal.user_id,
                    owner_name=principal.display_name,
                    drive_id=drive.id,
                    parent_id=target.parent_id,
                    name=target.name or None,
                    item_id=target.item_id,
                    conflict=conflict.value,
                    file_size=file_size,
                    received=0,
                    staging=staging,
                    defer_commit=defer_commit,
                    fs_created_at=fs_times[0],
                    fs_modified_at=fs_times[1],
                    created_at=now,
                    expires_at=expires,
                )
            )
        return token, SessionState(expires, 0, file_size)

    async def state(self, token: str) -> SessionState:
        async with self.db.read() as conn:
            row = await _live(conn, token)
        return SessionState(row["expires_at"], int(row["received"]), row["file_size"])

    async def put_fragment(
        self,
        token: str,
        content_range: str | None,
        content_length: int | None,
        chunks: AsyncIterable[bytes],
    ) -> SessionState | Finished:
        start, end, total = parse_content_range(content_range)
        if content_length is not None and content_length != end - start:
            raise InvalidRequest("Content-Length does not match the Content-Range.")
        if total is not None and total > self.max_upload_bytes:
            raise PayloadTooLarge(f"Files are limited to {self.max_upload_bytes} bytes.")
        try:
            row = await self._claim_writer(token, start, total)
        except ItemNotFound:
            replayed = await self._replay(token, (start, end, total), chunks)
            if replayed is None:
                raise
            return replayed
        try:
            await self.blobs.append(row["staging"], start, chunks, length=end - start)
        except ValueError as exc:
            await self._release_writer(row["id"], None)
            raise InvalidRequest(f"The fragment does not match its Content-Range: {exc}") from exc
        except BaseException:
            await self._release_writer(row["id"], None)
            raise
        expires = await self._release_writer(row["id"], end, start)
        size = total if total is not None else row["file_size"]
        if size is not None and end == size and not row["defer_commit"]:
            return await self._finish(token)
        return SessionState(expires, end, size)

    async def commit(self, token: str) -> Finished:
        """The explicit commit of a ``deferCommit`` session (``POST uploadUrl``)."""
        return await self._finish(token)

    async def cancel(self, token: str) -> None:
        async with self.db.write() as conn:
            row = await _live(conn, token)
            await conn.execute(delete(sessions).where(sessions.c.id == row["id"]))
        await self.blobs.abort_append(row["staging"])

    async def expire(self, now: datetime) -> int:
        """Remove expired sessions and their partial bytes (the janitor calls this)."""
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    delete(sessions)
                    .where(sessions.c.expires_at < now)
                    .returning(sessions.c.staging)
                )
            ).all()
        for (staging,) in rows:
            await self.blobs.abort_append(staging)
        return len(rows)

    # -- replays of the last fragment -------------------------------------------------------
    async def _replay(
        self,
        token: str,
        content_range: tuple[int, int, int | None],
        chunks: AsyncIterable[bytes],
    ) -> Finished | None:
        """Answer a repeat of the fragment that finished the session with the finished item.

        A client that lost the answer to its last fragment sends it again; msgraph-sdk's
        LargeFileUploadTask always does. The repeat is accepted (nothing is written) only until
        the finished session expires, with the very same range and bytes, and while the item
        still holds that content; anything else stays "no such session". The finished session
        lives in the database, so any API process can answer the repeat.
        """
        start, end, total = content_range
        async with self.db.read() as conn:
            row = await _session(conn, token)
            if (
                row is None
                or not row["finished_item_id"]
                or row["expires_at"] < utcnow()
                or (row["last_start"], row["file_size"]) != (start, end)
                or total not in (None, end)
            ):
                return None
            repo = ItemRepository(conn)
            drive = await repo.drive(row["drive_id"])
            if drive is None:
                return None
            try:
                loc = await locate(repo, drive, row["finished_item_id"])
            except ItemNotFound:
                return None
        if loc.item.blob_key is None:
            return None
        try:
            same = await self._same_bytes(loc.item.blob_key, start, end, chunks)
        except (BlobNotFound, InvalidRange):  # the item's content changed since
            return None
        return Finished(drive, loc, bool(row["finished_created"])) if same else None

    async def _same_bytes(
        self, blob_key: str, start: int, end: int, chunks: AsyncIterable[bytes]
    ) -> bool:
        sent, received = hashlib.sha256(), 0
        async for chunk in chunks:
            received += len(chunk)
            if received > end - start:
                return False
            sent.update(chunk)
        if received != end - start:
            return False
        kept = hashlib.sha256()
        async with aclosing(self.blobs.read(blob_key, start, end)) as stored:
            async for chunk in stored:
                kept.update(chunk)
        return sent.digest() == kept.digest()

    # -- steps ------------------------------------------------------------------------------
    async def _claim_writer(self, token: str, start: int, total: int | None) -> Any:
        now = utcnow()
        async with self.db.write() as conn:
            row = await _live(conn, token)
            declared = row["file_size"]
            if total is not None and declared is not None and total != declared:
                raise InvalidRequest(
                    f"The file size in Content-Range ({total}) differs from the session's "
                    f"({declared})."
                )
            if start != row["received"]:
                raise InvalidRange(
                    f"Expected a fragment starting at byte {row['received']}.",
                    headers={"Content-Range": f"bytes */{declared if declared else '*'}"},
                )
            claimed = await conn.execute(
                update(sessions)
                .where(
                    sessions.c.id == row["id"],
                    sessions.c.received == start,
                    or_(sessions.c.writer_until.is_(None), sessions.c.writer_until < now),
                )
                .values(writer_until=now + WRITER_LEASE, file_size=declared or total)
            )
            if claimed.rowcount == 0:
                raise InvalidRange("Another fragment of this upload is being written.")
        return row

    async def _release_writer(
        self, session_id: str, received: int | None, start: int | None = None
    ) -> datetime:
        expires = utcnow() + SESSION_IDLE
        values: dict[str, Any] = {"writer_until": None}
        if received is not None:
            values.update(received=received, expires_at=expires, last_start=start)
        async with self.db.write() as conn:
            await conn.execute(update(sessions).where(sessions.c.id == session_id).values(**values))
        return expires

    async def _finish(self, token: str) -> Finished:
        async with self.db.write() as conn:
            row = await _live(conn, token)
            if row["file_size"] is None or row["received"] != row["file_size"]:
                raise InvalidRequest("The upload is not complete yet.")
            # Claimed by marking it as publishing (""): a second commit finds no live session.
            claimed = await conn.execute(
                update(sessions)
                .where(sessions.c.id == row["id"], sessions.c.finished_item_id.is_(None))
                .values(finished_item_id="")
            )
            if claimed.rowcount == 0:
                raise ItemNotFound("This upload session does not exist or has expired.")
        try:
            finished = await self._publish(row)
        except BaseException:
            async with self.db.write() as conn:
                await conn.execute(delete(sessions).where(sessions.c.id == row["id"]))
            raise
        async with self.db.write() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == row["id"])
                .values(
                    finished_item_id=finished.item.item.id,
                    finished_created=finished.created,
                    expires_at=utcnow() + REPLAY_WINDOW,
                )
            )
        return finished

    async def _publish(self, row: Any) -> Finished:
        staged = await self.blobs.seal(row["staging"])
        owner = Principal(row["owner_id"], row["owner_name"], frozenset({"Files.ReadWrite"}))
        try:
            # Asked again: a library member removed (or made a reader) since the session was
            # created cannot finish it.
            drive = await self.drives.drive_for(owner, row["drive_id"], write=True)
        except GraphError:
            await self.blobs.discard(staged)
            raise
        target = FileTarget(row["parent_id"], row["name"] or "", row["item_id"])
        loc, created = await self.content.publish(
            owner,
            drive,
            target,
            staged,
            conflict=ConflictBehavior(row["conflict"]),
            fs_times=(row["fs_created_at"], row["fs_modified_at"]),
        )
        return Finished(drive, loc, created)


async def _session(conn: AsyncConnection, token: str) -> Any:
    stmt = select(sessions).where(sessions.c.token_hash == _digest(token))
    row = (await conn.execute(stmt)).first()
    return row._mapping if row else None


async def _live(conn: AsyncConnection, token: str) -> Any:
    """A session still receiving fragments (not expired, not finished)."""
    row = await _session(conn, token)
    if row is None or row["expires_at"] < utcnow() or row["finished_item_id"] is not None:
        raise ItemNotFound("This upload session does not exist or has expired.")
    return row
