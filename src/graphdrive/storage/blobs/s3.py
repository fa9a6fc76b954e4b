"""The blob store on S3 or any S3-compatible object store (SeaweedFS, MinIO, …).

Layout under ``s3://bucket/prefix``: committed blobs at ``prefix/blobs/ab/cd/<sha256>``, staged
uploads at ``prefix/staging/<token>``. Objects cannot be appended to, so appendable staging
(upload sessions) keeps one object per fragment, ``prefix/staging/<token>/<offset:020d>``, and a
``manifest`` object holding the length; :meth:`S3BlobStore.seal` streams the fragments, in
order, into one staged object.

boto3 is synchronous: every call runs in a worker thread (:func:`_run`), and a cancelled caller
first waits for the call in flight, so clean-up never races an upload that is still landing.
Nothing is contacted, and boto3 is not even imported, before first use; the bucket is created by
the first write that finds it missing. botocore errors become
:class:`~graphdrive.exceptions.StorageError` here, at the boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import reprlib
import secrets
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterator
from contextlib import aclosing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar, TypeVarTuple
from urllib.parse import quote, urlsplit

import anyio
import anyio.to_thread

from graphdrive.exceptions import ConfigurationError, InvalidRange, PayloadTooLarge, StorageError

from ._s3_bucket import Bucket, Listed, RangeNotSatisfiable
from .base import (
    BlobNotFound,
    BlobStore,
    StagedBlob,
    resolve_range,
    validate_age,
    validate_key,
    validate_max_size,
    validate_read_args,
)
from .hashing import ContentHasher
from .s3_config import S3Options

log = logging.getLogger(__name__)

PART_SIZE = 8 << 20  # the smallest multipart part sent; parts double every 1,000 (see _Upload)
_READ_BYTES = 1 << 20  # bytes fetched per trip to a worker thread when reading
_TOKEN = re.compile(r"[0-9a-f]{32}")
_FRAGMENT = re.compile(r"[0-9]{20}")
_BLOB = re.compile(r"([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")
_MANIFEST = "manifest"

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class S3BlobStore(BlobStore):
    """Blobs as objects in ``bucket`` under ``prefix`` (``""``: the bucket's root)."""

    def __init__(self, bucket: str, prefix: str = "", options: S3Options | None = None) -> None:
        options = options or S3Options()
        if (options.access_key_id is None) != (options.secret_access_key is None):
            raise ConfigurationError(
                "set both the S3 access key id and the secret access key, or neither"
            )
        self._bucket = Bucket(bucket, options)
        self._options = options
        public = options.public_endpoint_url or options.endpoint_url
        self._presigner = Bucket(bucket, replace(options, endpoint_url=public))
        self._prefix = prefix.strip("/")
        root = f"{self._prefix}/" if self._prefix else ""
        self._blobs = f"{root}blobs/"
        self._staging = f"{root}staging/"
        self._endpoint = _safe_endpoint(options.endpoint_url)

    @property
    def bucket(self) -> str:
        return self._bucket.name

    @property
    def prefix(self) -> str:
        return self._prefix

    def __repr__(self) -> str:
        where = f"s3://{self._bucket.name}/{self._prefix}"
        return f"S3BlobStore({where!r}, endpoint={self._endpoint!r})"

    # -- staging and committing ---------------------------------------------------------------
    async def stage(
        self, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> StagedBlob:
        validate_max_size(max_size)
        token = secrets.token_hex(16)
        hasher = ContentHasher()
        size = await self._write(self._staging + token, chunks, hasher=hasher, max_size=max_size)
        digests = hasher.digests()
        return StagedBlob(token, size, digests.sha256, digests.sha1, digests.quick_xor)

    async def commit(self, staged: StagedBlob) -> None:
        temp = self._staged_key(staged)
        await _run(self._commit_sync, temp, self._blob_key(staged.sha256), staged.size)

    def _commit_sync(self, temp: str, final: str, size: int) -> None:
        bucket = self._bucket
        if bucket.head(final) is not None:
            bucket.delete(temp)  # same key, same content: drop the staged copy
            return
        staged_size = bucket.head(temp)
        if staged_size is None:
            raise StorageError(
                f"staged blob {temp.rsplit('/', 1)[-1]} is gone (discarded or swept) "
                "and was never committed"
            )
        if staged_size != size:
            raise StorageError(f"staged blob {temp} has {staged_size} bytes, not {size}")
        bucket.copy(temp, final, size)
        bucket.delete(temp)

    async def discard(self, staged: StagedBlob) -> None:
        await _run(self._bucket.delete, self._staged_key(staged))

    # -- committed blobs ----------------------------------------------------------------------
    async def exists(self, key: str) -> bool:
        return await _run(self._bucket.head, self._blob_key(key)) is not None

    async def size(self, key: str) -> int:
        size = await _run(self._bucket.head, self._blob_key(key))
        if size is None:
            raise BlobNotFound(key)
        return size

    def read(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 1 << 16
    ) -> AsyncGenerator[bytes, None]:
        object_key = self._blob_key(key)
        validate_read_args(start, end, chunk_size)
        return self._read(key, object_key, start, end, chunk_size)

    async def _read(
        self, key: str, object_key: str, start: int, end: int | None, chunk_size: int
    ) -> AsyncGenerator[bytes, None]:
        if end == start:  # nothing to fetch, but the blob must exist and hold the range
            resolve_range(start, end, await self.size(key))
            return
        try:
            opened = await _run(self._bucket.get, object_key, start, end)
        except RangeNotSatisfiable:
            # Starts at or past the end: fine only for an empty read at the very end.
            resolve_range(start, end, await self.size(key))
            return
        if opened is None:
            raise BlobNotFound(key)
        body, total = opened
        try:
            remaining = resolve_range(start, end, total) - start
            step = max(chunk_size, _READ_BYTES // chunk_size * chunk_size)
            while remaining > 0:
                data = await _fetch(body.read, min(step, remaining))
                if not data:
                    raise StorageError(f"blob {key} ended {remaining} bytes early")
                remaining -= len(data)
                for offset in range(0, len(data), chunk_size):
                    yield data[offset : offset + chunk_size]
        finally:
            body.close()

    def presigned_url(
        self, key: str, *, expires_in: int, filename: str, content_type: str
    ) -> str | None:
        if not self._options.presigned_downloads:
            return None
        return self._presigner.presign_get(
            self._blob_key(validate_key(key)),
            expires_in=expires_in,
            disposition=f"attachment; filename*=UTF-8''{quote(filename)}",
            content_type=content_type,
        )

    async def delete(self, key: str) -> None:
        await _run(self._bucket.delete, self._blob_key(key))

    async def keys(self) -> AsyncGenerator[str, None]:
        page: str | None = None
        while True:
            listed, page = await _run(self._bucket.list_page, self._blobs, page)
            for item in listed:
                match = _BLOB.fullmatch(item.key[len(self._blobs) :])
                if match and match[3].startswith(match[1] + match[2]):
                    yield match[3]
            if page is None:
                return

    # -- resumable staging (upload sessions) --------------------------------------------------
    async def open_append(self) -> str:
        token = secrets.token_hex(16)
        await _run(self._bucket.put, self._append_prefix(token) + _MANIFEST, b"0")
        return token

    async def append(
        self, token: str, offset: int, chunks: AsyncIterable[bytes], *, length: int
    ) -> int:
        prefix = self._append_prefix(token)
        current = await self._appended(prefix, token)
        if offset != current:
            raise InvalidRange(f"expected a fragment starting at byte {current}, not {offset}")
        if length < 0:
            raise ValueError(f"a fragment cannot have {length} bytes")
        if length == 0:
            async for chunk in chunks:
                if chunk:
                    raise ValueError(f"the fragment is longer than its {length} bytes")
            return offset
        fragment = f"{prefix}{offset:020d}"
        await self._write(fragment, chunks, length=length)  # removes itself if it fails
        try:
            await _run(self._bucket.put, prefix + _MANIFEST, str(offset + length).encode())
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _quietly(self._bucket.put, prefix + _MANIFEST, str(offset).encode())
                await _quietly(self._bucket.delete, fragment)
            raise
        return offset + length

    async def appended_length(self, token: str) -> int:
        return await self._appended(self._append_prefix(token), token)

    async def seal(self, token: str) -> StagedBlob:
        prefix = self._append_prefix(token)
        length = await self._appended(prefix, token)
        listed = await _run(self._bucket.list_all, prefix)
        fragments = _fragments(listed, prefix, length, token)
        sealed = secrets.token_hex(16)
        hasher = ContentHasher()
        async with aclosing(self._fragment_bytes(fragments)) as content:
            size = await self._write(self._staging + sealed, content, hasher=hasher)
        # The sealed object is complete; leftovers are only litter for sweep_staging.
        await _quietly(self._bucket.delete_many, [item.key for item in listed])
        digests = hasher.digests()
        return StagedBlob(sealed, size, digests.sha256, digests.sha1, digests.quick_xor)

    async def abort_append(self, token: str) -> None:
        prefix = self._append_prefix(token)
        for key, upload_id, _ in await _run(self._bucket.uploads, prefix):
            await _run(self._bucket.abort, key, upload_id)
        listed = await _run(self._bucket.list_all, prefix)
        await _run(self._bucket.delete_many, [item.key for item in listed])

    async def _appended(self, prefix: str, token: str) -> int:
        manifest = await _run(self._bucket.get_small, prefix + _MANIFEST)
        if manifest is None:
            raise StorageError(f"staged data {token} is gone")
        try:
            return int(manifest)
        except ValueError:
            raise StorageError(f"staged data {token} has a damaged manifest") from None

    async def _fragment_bytes(self, fragments: list[Listed]) -> AsyncGenerator[bytes, None]:
        for fragment in fragments:
            opened = await _run(self._bucket.get, fragment.key, 0, None)
            if opened is None:
                raise StorageError(f"fragment {fragment.key} vanished while sealing")
            body, remaining = opened
            try:
                if remaining != fragment.size:
                    raise StorageError(f"fragment {fragment.key} changed while sealing")
                while remaining > 0:
                    data = await _fetch(body.read, min(_READ_BYTES, remaining))
                    if not data:
                        raise StorageError(f"fragment {fragment.key} ended early")
                    remaining -= len(data)
                    yield data
            finally:
                body.close()

    # -- sweeping -----------------------------------------------------------------------------
    async def sweep_staging(self, older_than_seconds: float) -> int:
        validate_age(older_than_seconds)
        cutoff = None
        if older_than_seconds > 0:
            cutoff = _now() - timedelta(seconds=older_than_seconds)
        listed = await _run(self._bucket.list_all, self._staging)
        uploads = await _run(self._bucket.uploads, self._staging)
        latest: dict[str, datetime] = {}
        objects: dict[str, list[str]] = {}
        pending: dict[str, list[tuple[str, str]]] = {}
        for item in listed:
            token = self._staging_token(item.key)
            if token is not None:
                objects.setdefault(token, []).append(item.key)
                latest[token] = max(latest.get(token, item.modified), item.modified)
        for key, upload_id, initiated in uploads:
            token = self._staging_token(key)
            if token is not None:
                pending.setdefault(token, []).append((key, upload_id))
                latest[token] = max(latest.get(token, initiated), initiated)
        removed = 0
        for token, last in latest.items():
            if cutoff is not None and last > cutoff:
                continue
            for key, upload_id in pending.get(token, []):
                await _run(self._bucket.abort, key, upload_id)
            await _run(self._bucket.delete_many, objects.get(token, []))
            removed += 1
        return removed

    # -- writing one object -------------------------------------------------------------------
    async def _write(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        hasher: ContentHasher | None = None,
        max_size: int | None = None,
        length: int | None = None,
    ) -> int:
        """Stream ``chunks`` into object ``key``; return its size. Refuses more than
        ``max_size`` bytes (PayloadTooLarge) or anything but exactly ``length`` bytes
        (ValueError). Whatever ends it early, the object and its upload are removed."""
        upload = _Upload(self._bucket, key, hasher)
        size = 0
        try:
            batch: list[bytes] = []
            batch_bytes = 0
            async for chunk in chunks:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise PayloadTooLarge(f"the content exceeds the limit of {max_size} bytes")
                if length is not None and size > length:
                    raise ValueError(f"the fragment is longer than its {length} bytes")
                batch.append(chunk)
                batch_bytes += len(chunk)
                if batch_bytes >= upload.part_size():
                    await _run(upload.part, batch)
                    batch, batch_bytes = [], 0
            if length is not None and size != length:
                raise ValueError(f"the fragment ended after {size} of {length} bytes")
            await _run(upload.finish, batch)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _quietly(upload.abort)
            raise
        return size

    # -- names ----------------------------------------------------------------------------------
    def _blob_key(self, key: str) -> str:
        validate_key(key)
        return f"{self._blobs}{key[:2]}/{key[2:4]}/{key}"

    def _staged_key(self, staged: StagedBlob) -> str:
        # Checks the whole StagedBlob: one with a malformed field was not made by stage().
        validate_key(staged.sha256)
        return self._staging + _checked_token(staged.token)

    def _append_prefix(self, token: str) -> str:
        return f"{self._staging}{_checked_token(token)}/"

    def _staging_token(self, key: str) -> str | None:
        token = key[len(self._staging) :].split("/", 1)[0]
        return token if _TOKEN.fullmatch(token) else None


class _Upload:
    """One object being written: a single PutObject when it fits in one part, else a
    multipart upload. Parts start at :data:`PART_SIZE` and double every 1,000 parts, so S3's
    10,000-part limit is never the limit. Blocking; each method runs in a worker thread."""

    def __init__(self, bucket: Bucket, key: str, hasher: ContentHasher | None) -> None:
        self._bucket = bucket
        self._key = key
        self._hasher = hasher
        self._upload_id: str | None = None
        self._etags: list[str] = []

    def part_size(self) -> int:
        return PART_SIZE << (len(self._etags) // 1000)

    def part(self, batch: list[bytes]) -> None:
        data = self._hashed(batch)
        if self._upload_id is None:
            self._upload_id = self._bucket.create_upload(self._key)
        number = len(self._etags) + 1
        self._etags.append(self._bucket.upload_part(self._key, self._upload_id, number, data))

    def finish(self, batch: list[bytes]) -> None:
        if self._upload_id is None:
            self._bucket.put(self._key, self._hashed(batch))
            return
        if any(batch):
            self.part(batch)
        self._bucket.complete(self._key, self._upload_id, self._etags)

    def abort(self) -> None:
        if self._upload_id is not None:
            self._bucket.abort(self._key, self._upload_id)
        self._bucket.delete(self._key)

    def _hashed(self, batch: list[bytes]) -> bytes:
        data = b"".join(batch)
        if self._hasher is not None:
            self._hasher.update(data)
        return data


def _fragments(listed: list[Listed], prefix: str, length: int, token: str) -> list[Listed]:
    """The fragment objects that make up the first ``length`` bytes, in order. Any at or past
    ``length`` are leftovers of an append that crashed before its manifest was written."""
    numbered = sorted(
        (int(name), item) for item in listed if _FRAGMENT.fullmatch(name := item.key[len(prefix) :])
    )
    fragments: list[Listed] = []
    expected = 0
    for offset, item in numbered:
        if offset >= length:
            break
        if offset != expected:
            raise StorageError(f"staged data {token} is missing bytes {expected} to {offset}")
        fragments.append(item)
        expected += item.size
    if expected != length:
        raise StorageError(f"staged data {token} holds {expected} bytes, not {length}")
    return fragments


def _checked_token(token: str) -> str:
    if not isinstance(token, str) or _TOKEN.fullmatch(token) is None:
        raise ValueError(f"staging token {reprlib.repr(token)} was not made by this store")
    return token


def _safe_endpoint(url: str | None) -> str:
    if not url:
        return "aws"
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"


def _now() -> datetime:
    return datetime.now(UTC)


async def _run(func: Callable[[*_Ts], _T], *args: *_Ts) -> _T:
    """Run blocking ``func`` in a worker thread; botocore errors become ``StorageError``.

    The thread is never abandoned: a caller cancelled meanwhile waits for ``func`` to return
    before the cancellation propagates, so its clean-up cannot be overtaken by, say, a
    PutObject still in flight. (asyncio's ``Task.cancel`` would otherwise abandon the thread at
    once; the anyio shield keeps anyio cancel scopes from interrupting that wait.)
    """
    call = asyncio.ensure_future(anyio.to_thread.run_sync(func, *args))
    try:
        with _translated():
            return await asyncio.shield(call)
    except asyncio.CancelledError:
        with anyio.CancelScope(shield=True):
            while not call.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([call])
        if not call.cancelled():
            call.exception()  # retrieved: the cancellation is what propagates
        raise


async def _fetch(func: Callable[[*_Ts], _T], *args: *_Ts) -> _T:
    """Like :func:`_run`, for reads: their thread may be abandoned on cancellation."""
    with _translated():
        return await anyio.to_thread.run_sync(func, *args)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError | BotoCoreError | OSError):
            raise StorageError(f"S3 blob store: {exc}") from exc
        raise


async def _quietly(func: Callable[[*_Ts], object], *args: *_Ts) -> None:
    """Best-effort clean-up while another exception propagates; sweep_staging collects what
    remains."""
    try:
        await _run(func, *args)
    except StorageError as exc:
        log.warning("S3 clean-up failed: %s", exc, extra={"action": "s3_cleanup_failed"})
