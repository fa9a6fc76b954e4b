"""The blob store port: content-addressed bytes, streamed in, staged, then committed.

A blob's key is the lowercase hex SHA-256 of its content, so identical content is stored once
and a key can be checked against what it names. Writing is two-phase: :meth:`BlobStore.stage`
streams an upload into private temporary data and reports its size and digests; the caller
records metadata and only then calls :meth:`BlobStore.commit` (or :meth:`BlobStore.discard`).
Deleting unreferenced blobs is the caller's garbage collector's job, driven by
:meth:`BlobStore.keys`; the store itself never knows who references a blob.

Every backend must pass ``tests/contract/test_blob_store.py``.
"""

from __future__ import annotations

import math
import re
import reprlib
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass

from graphdrive.exceptions import InvalidRange, StorageError

_KEY = re.compile(r"[0-9a-f]{64}")


class BlobNotFound(StorageError):
    """No committed blob has the requested key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"blob {key} not found")
        self.key = key


@dataclass(frozen=True, slots=True)
class StagedBlob:
    """Content written by :meth:`BlobStore.stage` and not yet committed.

    ``token`` names the temporary data inside the store that produced it; it is meaningless to
    any other store. ``sha256`` (the future key) and ``sha1`` are lowercase hex digests.
    """

    token: str
    size: int
    sha256: str
    sha1: str
    quick_xor: str = ""  # base64 quickXorHash (OneDrive's checksum)


class BlobStore(ABC):
    """Where file content lives. One implementation per backend; all methods are safe to call
    concurrently from one event loop."""

    @abstractmethod
    async def stage(
        self, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> StagedBlob:
        """Stream ``chunks`` into new temporary data and return what was written.

        The content is never held in memory as a whole; size, SHA-256 and SHA-1 are computed as
        it streams, and blocking work (hashing, writing) runs off the event loop. The staged
        data is durable enough to commit, but invisible under any key until :meth:`commit`.

        Raises :class:`~graphdrive.exceptions.PayloadTooLarge` as soon as more than ``max_size``
        bytes arrive (``None``: no limit), and ``ValueError`` for a negative ``max_size``.
        Whatever ends the stage early — the limit, an exception from ``chunks`` (a client that
        disconnected), cancellation, a storage failure (:class:`StorageError`) — the temporary
        data is removed before the exception propagates unchanged.
        """

    @abstractmethod
    async def commit(self, staged: StagedBlob) -> None:
        """Make staged content durable under the key ``staged.sha256``.

        If that key already holds a blob, the staged copy is dropped instead (same key, same
        content). Idempotent: committing the same ``staged`` twice is a no-op the second time.
        Raises :class:`StorageError` if the staged data is gone without having been committed
        (discarded, or removed by :meth:`sweep_staging`).
        """

    @abstractmethod
    async def discard(self, staged: StagedBlob) -> None:
        """Remove staged data that will not be committed. No error if it is already gone."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether a committed blob has ``key``. ``ValueError`` if ``key`` is malformed."""

    @abstractmethod
    async def size(self, key: str) -> int:
        """The size in bytes of blob ``key``; :class:`BlobNotFound` if there is none."""

    @abstractmethod
    def read(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 1 << 16
    ) -> AsyncGenerator[bytes, None]:
        """Stream bytes ``[start, end)`` of blob ``key`` (``end=None``: to the end of the blob)
        in chunks of at most ``chunk_size`` bytes, reading off the event loop.

        Arguments are checked when ``read`` is called: ``ValueError`` for a malformed key or a
        non-positive ``chunk_size``, :class:`~graphdrive.exceptions.InvalidRange` for a negative
        ``start`` or an ``end`` before ``start``. The blob is opened on the first iteration,
        which raises :class:`BlobNotFound` if it is missing and ``InvalidRange`` if the range
        reaches past its size. An empty range yields nothing. A caller that stops early closes
        the generator (``contextlib.aclosing``) so the backend releases its handle promptly.
        """

    def presigned_url(
        self, key: str, *, expires_in: int, filename: str, content_type: str
    ) -> str | None:
        """A URL anyone may ``GET`` blob ``key`` from for ``expires_in`` seconds (Range works),
        answered with ``filename`` as an attachment and ``content_type``; ``None`` when this
        store has no such URLs (then graphdrive streams the content itself). Computed locally:
        the blob's existence is not checked."""
        return None

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove blob ``key``. No error if it does not exist."""

    @abstractmethod
    def keys(self) -> AsyncGenerator[str, None]:
        """Every committed key, once each, in no promised order; staged data is not listed.

        Keys committed or deleted while iterating may or may not appear.
        """

    # -- resumable staging (upload sessions) -----------------------------------------------
    @abstractmethod
    async def open_append(self) -> str:
        """Start empty staged data that is filled by :meth:`append` calls over time (one per
        upload fragment); returns its token. It is removed by :meth:`abort_append`, by
        :meth:`sweep_staging`, or turned into a :class:`StagedBlob` by :meth:`seal`."""

    @abstractmethod
    async def append(
        self, token: str, offset: int, chunks: AsyncIterable[bytes], *, length: int
    ) -> int:
        """Write exactly ``length`` bytes from ``chunks`` at ``offset``, which must equal the
        current length (else :class:`~graphdrive.exceptions.InvalidRange`); return the new
        length. If the stream ends early, brings more than ``length`` bytes (raise
        ``ValueError``), or fails in any way, the data is cut back to ``offset``: a failed
        fragment leaves no trace. Callers serialise appends to one token."""

    @abstractmethod
    async def appended_length(self, token: str) -> int:
        """The current length of appendable staged data (:class:`StorageError` if gone)."""

    @abstractmethod
    async def seal(self, token: str) -> StagedBlob:
        """Finish appendable data: hash it (one read pass), make it durable, and return it
        as a :class:`StagedBlob` ready for :meth:`commit` or :meth:`discard`."""

    @abstractmethod
    async def abort_append(self, token: str) -> None:
        """Remove appendable staged data; no error if already gone."""

    @abstractmethod
    async def sweep_staging(self, older_than_seconds: float) -> int:
        """Remove staged data last written more than ``older_than_seconds`` ago (left behind by
        a crash or a caller that never committed nor discarded) and return how many were
        removed. ``0`` removes all staged data, including uploads still in progress; callers
        pick a threshold longer than any upload may stay idle. ``ValueError`` if negative.
        """


def validate_key(key: str) -> str:
    """Return ``key`` if it is 64 lowercase hex characters, else raise ``ValueError``.

    Backends call this before building any path or object name from a key.
    """
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        raise ValueError(f"invalid blob key {reprlib.repr(key)}: expected a lowercase hex SHA-256")
    return key


def validate_max_size(max_size: int | None) -> None:
    if max_size is not None and max_size < 0:
        raise ValueError(f"max_size must be >= 0, got {max_size}")


def validate_age(older_than_seconds: float) -> None:
    if math.isnan(older_than_seconds) or older_than_seconds < 0:
        raise ValueError(f"older_than_seconds must be >= 0, got {older_than_seconds}")


def validate_read_args(start: int, end: int | None, chunk_size: int) -> None:
    """The checks :meth:`BlobStore.read` makes before touching storage."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be > 0, got {chunk_size}")
    if start < 0:
        raise InvalidRange(f"range start {start} is negative")
    if end is not None and end < start:
        raise InvalidRange(f"range end {end} is before its start {start}")


def resolve_range(start: int, end: int | None, size: int) -> int:
    """The exclusive end of ``[start, end)`` within a blob of ``size`` bytes."""
    stop = size if end is None else end
    if start > size or stop > size:
        raise InvalidRange(f"range [{start}, {stop}) is outside a blob of {size} bytes")
    return stop
