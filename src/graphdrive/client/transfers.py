"""Moving bytes: simple and resumable uploads, streaming downloads that resume with ``Range``.

Upload and download URLs are capabilities (``HttpCore.bare``): they never see the token.
Both survive a broken connection in the middle of a transfer — the upload asks its session
where to go on (``GET uploadUrl`` → ``nextExpectedRanges``), the download asks for the rest
(``Range: bytes=N-``) — and both can be resumed by a later call: an upload from its session URL
(``resume_url``), a download from the ``.part`` file it leaves next to the destination.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from graphdrive.client.errors import (
    ApiError,
    GraphClientError,
    NotFoundError,
    ProtocolError,
    ThrottledError,
    TransportError,
)
from graphdrive.client.http import HttpCore, json_body
from graphdrive.client.models import DriveItem
from graphdrive.client.retry import Backoff
from graphdrive.client.urls import ItemSpec, describe, item_url

ByteProgress = Callable[[int, int], None]
"""Called with ``(bytes_done, bytes_total)`` as a transfer advances."""

Source = str | os.PathLike[str] | bytes
"""What can be uploaded: a local file's path, or the bytes themselves."""

FRAGMENT_UNIT = 320 * 1024  # Graph wants upload fragments in multiples of 320 KiB
DEFAULT_CHUNK_SIZE = 32 * FRAGMENT_UNIT  # 10 MiB
SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024  # Graph's limit for a single PUT …/content
MAX_CONSECUTIVE_FAILURES = 5


@dataclass(frozen=True, slots=True)
class UploadOptions:
    conflict: str = "replace"
    chunk_size: int = DEFAULT_CHUNK_SIZE
    simple_limit: int = SIMPLE_UPLOAD_LIMIT
    on_progress: ByteProgress | None = None
    resume_url: str | None = None
    on_session: Callable[[str], None] | None = None


class _Reader:
    """Random access to the bytes being uploaded, without blocking the event loop."""

    def __init__(self, source: Source) -> None:
        self._data = source if isinstance(source, bytes) else None
        self._path = None if isinstance(source, bytes) else Path(source)

    async def size(self) -> int:
        if self._data is not None:
            return len(self._data)
        return (await anyio.Path(self._path or "").stat()).st_size

    async def read(self, offset: int, length: int) -> bytes:
        if self._data is not None:
            return self._data[offset : offset + length]
        async with await anyio.open_file(self._path or "", "rb") as f:
            await f.seek(offset)
            return await f.read(length)


async def upload(
    http: HttpCore, drive: str, source: Source, remote: ItemSpec, opts: UploadOptions
) -> DriveItem:
    if opts.chunk_size <= 0 or opts.chunk_size % FRAGMENT_UNIT:
        raise ValueError(f"chunk_size must be a positive multiple of 320 KiB ({FRAGMENT_UNIT}).")
    reader = _Reader(source)
    size = await reader.size()
    if size <= opts.simple_limit and opts.resume_url is None:
        data = await reader.read(0, size)
        response = await http.api(
            "PUT",
            item_url(drive, remote, "content"),
            params={"@microsoft.graph.conflictBehavior": opts.conflict},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if opts.on_progress:
            opts.on_progress(size, size)
        return DriveItem.from_json(json_body(response))
    return await _session_upload(http, drive, reader, size, remote, opts)


async def _session_upload(
    http: HttpCore, drive: str, reader: _Reader, size: int, remote: ItemSpec, opts: UploadOptions
) -> DriveItem:
    url, offset = opts.resume_url, None
    if url is not None:
        offset = await session_offset(http, url)
    if url is None or offset is None:
        body = {"item": {"@microsoft.graph.conflictBehavior": opts.conflict, "fileSize": size}}
        created = await http.api("POST", item_url(drive, remote, "createUploadSession"), json=body)
        url, offset = _upload_url(json_body(created)), 0
        if opts.on_session:
            opts.on_session(url)
    if opts.on_progress:
        opts.on_progress(offset, size)
    backoff = Backoff(0.5, 10.0)
    failures = 0
    while True:
        length = min(opts.chunk_size, size - offset)
        chunk = await reader.read(offset, length)
        headers = {"Content-Range": f"bytes {offset}-{offset + length - 1}/{size}"}
        try:
            response = await http.bare("PUT", url, content=chunk, headers=headers)
            if response.status_code in (200, 201):
                if opts.on_progress:
                    opts.on_progress(size, size)
                return DriveItem.from_json(json_body(response))
            if response.status_code == 202:
                offset = _next_expected(json_body(response), default=offset + length)
                failures = 0
                backoff.reset()
                if opts.on_progress:
                    opts.on_progress(offset, size)
                continue
            raise http.error(response)
        except (TransportError, ApiError) as exc:
            # Ask the session where it stands, a bounded number of times in a row: a 416
            # (not where the server is) as much as a broken connection or a 5xx.
            failures += 1
            if not _worth_resuming(exc) or failures >= MAX_CONSECUTIVE_FAILURES:
                raise
            await http.clock.sleep(backoff.next())
        resumed = await session_offset(http, url)
        if resumed is None:
            if offset + length == size:  # the last fragment did arrive: the session is done
                return await _finished_item(http, drive, remote, size)
            raise NotFoundError(404, "itemNotFound", "The upload session expired.")
        offset = resumed


async def session_offset(http: HttpCore, upload_url: str) -> int | None:
    """Where an upload session wants the next byte (None if it expired or finished)."""
    response = await http.bare("GET", upload_url)
    if response.status_code in (404, 410):
        return None
    if response.is_error:
        raise http.error(response)
    return _next_expected(json_body(response), default=0)


async def _finished_item(http: HttpCore, drive: str, remote: ItemSpec, size: int) -> DriveItem:
    item = DriveItem.from_json(json_body(await http.api("GET", item_url(drive, remote))))
    if item.size != size:
        raise NotFoundError(404, "itemNotFound", "The upload session expired.")
    return item


def _upload_url(body: object) -> str:
    url = body.get("uploadUrl") if isinstance(body, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ProtocolError("createUploadSession answered without an absolute uploadUrl.")
    return url


def _next_expected(body: object, *, default: int) -> int:
    """``{"nextExpectedRanges": ["26-", …]}`` → 26."""
    ranges = body.get("nextExpectedRanges") if isinstance(body, dict) else None
    if isinstance(ranges, list) and ranges and isinstance(ranges[0], str):
        start = ranges[0].split("-", 1)[0]
        if start.isdigit():
            return int(start)
    return default


def _worth_resuming(exc: Exception) -> bool:
    if isinstance(exc, TransportError | ThrottledError):
        return True
    return isinstance(exc, ApiError) and (exc.status >= 500 or exc.status == 416)


# --- download ------------------------------------------------------------------------------


def part_path(dest: Path, item: DriveItem) -> Path:
    """Where a download collects its bytes; the name pins the item's version, so a partial
    file is only ever resumed against the same content."""
    version = hashlib.sha256(f"{item.id}\0{item.ctag or item.etag}".encode()).hexdigest()[:12]
    return dest.with_name(f".{dest.name}.{version}.part")


async def download(
    http: HttpCore,
    drive: str,
    item: ItemSpec,
    dest: Path,
    *,
    on_progress: ByteProgress | None = None,
    resume: bool = True,
) -> Path:
    meta = DriveItem.from_json(json_body(await http.api("GET", item_url(drive, item))))
    if meta.is_folder:
        raise ValueError(f"{describe(item)} is a folder; download its files one by one.")
    if await anyio.Path(dest).is_dir():
        dest = dest / meta.name
    part = part_path(dest, meta)
    apart = anyio.Path(part)
    offset = (await apart.stat()).st_size if resume and await apart.exists() else 0
    if offset > meta.size:
        offset = 0
    if offset == 0:
        await apart.write_bytes(b"")
    url = meta.download_url or await _content_location(http, drive, meta)
    backoff = Backoff(0.5, 10.0)
    failures = 0
    refreshed = False
    while offset < meta.size:
        try:
            offset, retry_link = await _fetch(http, url, part, offset, meta.size, on_progress)
        except (TransportError, ThrottledError, httpx.TransportError) as exc:
            failures += 1
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise _translated(exc) from exc
            await http.clock.sleep(backoff.next())
            offset = (await apart.stat()).st_size  # what did arrive is kept
            continue
        if retry_link:  # the link expired: a fresh item carries a fresh one, once
            if refreshed:
                raise NotFoundError(404, "itemNotFound", "The download link does not work.")
            refreshed = True
            meta = DriveItem.from_json(json_body(await http.api("GET", item_url(drive, meta))))
            url = meta.download_url or await _content_location(http, drive, meta)
    if on_progress:
        on_progress(meta.size, meta.size)
    if (await apart.stat()).st_size != meta.size:
        raise ProtocolError(f"Downloaded {offset} bytes of {meta.size}.")
    await apart.replace(dest)
    return dest


async def _fetch(
    http: HttpCore,
    url: str,
    part: Path,
    offset: int,
    size: int,
    on_progress: ByteProgress | None,
) -> tuple[int, bool]:
    """Append the rest of the content to ``part``; (new offset, whether the link is dead)."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    async with http.bare_stream("GET", url, headers=headers) as response:
        if response.status_code in (401, 403, 404, 410):
            return offset, True
        if response.status_code == 416 and offset >= size:
            return offset, False
        if response.is_error:
            raise http.error(response)
        if response.status_code == 200 or not _range_starts_at(response, offset):
            offset = 0  # the server sent the whole content: start over
        async with await anyio.open_file(part, "r+b" if offset else "wb") as f:
            await f.seek(offset)
            async for chunk in response.aiter_bytes():  # as it arrives: a break loses nothing
                await f.write(chunk)
                offset += len(chunk)
                if on_progress:
                    on_progress(offset, size)
    return offset, False


def _range_starts_at(response: httpx.Response, offset: int) -> bool:
    content_range = str(response.headers.get("content-range", ""))
    return content_range.startswith(f"bytes {offset}-")


async def _content_location(http: HttpCore, drive: str, item: DriveItem) -> str:
    """``GET …/content`` answers 302 to a pre-authenticated URL; read it, don't follow it."""
    response = await http.api("GET", item_url(drive, item, "content"))
    location = response.headers.get("location")
    if response.status_code not in (301, 302, 303, 307) or not location:
        raise ProtocolError("GET …/content did not redirect to a download URL.")
    return str(location)


def _translated(exc: Exception) -> GraphClientError:
    if isinstance(exc, GraphClientError):
        return exc
    return TransportError(f"The download broke off: {type(exc).__name__}: {exc}")
