"""The blob store on a local filesystem.

Layout under ``root``: committed blobs at ``ab/cd/<sha256>`` (two levels of fan-out keep
directories small), staged uploads at ``.staging/<token>``. Staged files are fsynced when
staging ends, so a commit is one atomic ``os.replace`` plus a directory fsync. Directories are
created on first use, never by the constructor. Every blocking call runs in a worker thread,
and ``OSError`` becomes :class:`~graphdrive.exceptions.StorageError` here, at the boundary.
"""

from __future__ import annotations

import contextlib
import os
import re
import reprlib
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from pathlib import Path
from typing import BinaryIO, TypeVar, TypeVarTuple

import anyio.to_thread

from graphdrive.exceptions import InvalidRange, PayloadTooLarge, StorageError

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
from .hashing import ContentHasher, Digests

_STAGING = ".staging"
_TOKEN = re.compile(r"[0-9a-f]{32}")
_FANOUT = re.compile(r"[0-9a-f]{2}")
_KEY = re.compile(r"[0-9a-f]{64}")
# Chunks are gathered up to this many bytes before one trip to a worker thread: small HTTP
# chunks (often 64 KiB) would otherwise pay a thread hop each.
_BATCH_BYTES = 1 << 20

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class LocalBlobStore(BlobStore):
    """Blobs as files under ``root``, which need not exist yet."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._staging = self._root / _STAGING

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self._root)!r})"

    async def stage(
        self, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> StagedBlob:
        validate_max_size(max_size)
        writer = _StagingWriter(self._staging / secrets.token_hex(16))
        size = 0
        try:
            await _run(writer.open)
            batch: list[bytes] = []
            batch_bytes = 0
            async for chunk in chunks:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise PayloadTooLarge(f"the content exceeds the limit of {max_size} bytes")
                batch.append(chunk)
                batch_bytes += len(chunk)
                if batch_bytes >= _BATCH_BYTES:
                    await _run(writer.write, batch)
                    batch, batch_bytes = [], 0
            await _run(writer.write, batch)
            digests = await _run(writer.finish)
        except BaseException:
            # Synchronous on purpose: an await here could itself be cancelled and leak the file.
            writer.abort()
            raise
        return StagedBlob(
            token=writer.path.name,
            size=size,
            sha256=digests.sha256,
            sha1=digests.sha1,
            quick_xor=digests.quick_xor,
        )

    async def commit(self, staged: StagedBlob) -> None:
        temp = self._temp_path(staged)
        final = self._blob_path(staged.sha256)
        await _run(self._commit_sync, temp, final, staged.size)

    async def discard(self, staged: StagedBlob) -> None:
        await _run(_unlink, self._temp_path(staged))

    async def exists(self, key: str) -> bool:
        return await _run(os.path.isfile, self._blob_path(key))

    async def size(self, key: str) -> int:
        size = await _run(_file_size, self._blob_path(key))
        if size is None:
            raise BlobNotFound(key)
        return size

    def read(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 1 << 16
    ) -> AsyncGenerator[bytes, None]:
        path = self._blob_path(key)
        validate_read_args(start, end, chunk_size)
        return self._read(key, path, start, end, chunk_size)

    async def _read(
        self, key: str, path: Path, start: int, end: int | None, chunk_size: int
    ) -> AsyncGenerator[bytes, None]:
        opened = await _run(_open_for_read, path)
        if opened is None:
            raise BlobNotFound(key)
        file, size = opened
        try:
            remaining = resolve_range(start, end, size) - start
            if remaining and start:
                await _run(file.seek, start)
            while remaining > 0:
                data = await _run(file.read, min(chunk_size, remaining))
                if not data:
                    raise StorageError(f"blob {key} ended {remaining} bytes early")
                remaining -= len(data)
                yield data
        finally:
            file.close()

    async def delete(self, key: str) -> None:
        await _run(_unlink, self._blob_path(key))

    async def keys(self) -> AsyncGenerator[str, None]:
        for top in await _run(_list_fanout, self._root):
            for sub in await _run(_list_fanout, self._root / top):
                for key in await _run(_list_keys, self._root / top / sub, top + sub):
                    yield key

    async def open_append(self) -> str:
        token = secrets.token_hex(16)
        await _run(_create_empty, self._staging / token)
        return token

    async def append(
        self, token: str, offset: int, chunks: AsyncIterable[bytes], *, length: int
    ) -> int:
        path = self._append_path(token)
        current = await _run(_existing_size, path)
        if offset != current:
            raise InvalidRange(f"expected a fragment starting at byte {current}, not {offset}")
        file = await _run(_open_append, path)
        written = 0
        try:
            batch: list[bytes] = []
            batch_bytes = 0
            async for chunk in chunks:
                written += len(chunk)
                if written > length:
                    raise ValueError(f"the fragment is longer than its {length} bytes")
                batch.append(chunk)
                batch_bytes += len(chunk)
                if batch_bytes >= _BATCH_BYTES:
                    await _run(_write_all, file, batch)
                    batch, batch_bytes = [], 0
            await _run(_write_all, file, batch)
            if written != length:
                raise ValueError(f"the fragment ended after {written} of {length} bytes")
            await _run(_flush_sync, file)
        except BaseException:
            # Cut back to where the fragment started, synchronously (see stage()).
            with contextlib.suppress(OSError, ValueError):
                file.truncate(offset)
                file.close()
            raise
        file.close()
        return offset + length

    async def appended_length(self, token: str) -> int:
        return await _run(_existing_size, self._append_path(token))

    async def seal(self, token: str) -> StagedBlob:
        path = self._append_path(token)
        size, digests = await _run(_hash_file, path)
        return StagedBlob(
            token=token,
            size=size,
            sha256=digests.sha256,
            sha1=digests.sha1,
            quick_xor=digests.quick_xor,
        )

    async def abort_append(self, token: str) -> None:
        await _run(_unlink, self._append_path(token))

    def _append_path(self, token: str) -> Path:
        if not isinstance(token, str) or _TOKEN.fullmatch(token) is None:
            raise ValueError(f"staging token {reprlib.repr(token)} was not made by this store")
        return self._staging / token

    async def sweep_staging(self, older_than_seconds: float) -> int:
        validate_age(older_than_seconds)
        return await _run(_sweep, self._staging, older_than_seconds)

    def _temp_path(self, staged: StagedBlob) -> Path:
        # Checks the whole StagedBlob: one with a malformed field was not made by stage().
        validate_key(staged.sha256)
        token = staged.token
        if not isinstance(token, str) or _TOKEN.fullmatch(token) is None:
            raise ValueError(f"staging token {reprlib.repr(token)} was not made by this store")
        return self._staging / token

    def _blob_path(self, key: str) -> Path:
        validate_key(key)
        return self._root / key[:2] / key[2:4] / key

    def _commit_sync(self, temp: Path, final: Path, size: int) -> None:
        if final.is_file():
            _unlink(temp)
            return
        try:
            staged_size = temp.stat().st_size
        except FileNotFoundError:
            raise StorageError(
                f"staged blob {temp.name} is gone (discarded or swept) and was never committed"
            ) from None
        if staged_size != size:
            raise StorageError(f"staged blob {temp.name} has {staged_size} bytes, not {size}")
        self._make_dirs(final.parent)
        os.replace(temp, final)
        _fsync_dir(final.parent)

    def _make_dirs(self, leaf: Path) -> None:
        # Each directory created is fsynced into its parent, so a crash cannot lose the path
        # to a blob whose commit returned.
        for directory in (leaf.parent, leaf):
            if not directory.is_dir():
                with contextlib.suppress(FileExistsError):
                    directory.mkdir()
                _fsync_dir(directory.parent)


async def _run(func: Callable[[*_Ts], _T], *args: *_Ts) -> _T:
    """Run blocking ``func`` in a worker thread, translating ``OSError`` to ``StorageError``."""
    try:
        return await anyio.to_thread.run_sync(func, *args)
    except OSError as exc:
        raise StorageError(f"local blob store: {exc}") from exc


def _create_empty(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb"):
        pass


def _existing_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        raise StorageError(f"staged data {path.name} is gone") from None


def _open_append(path: Path) -> BinaryIO:
    return open(path, "r+b")


def _write_all(file: BinaryIO, batch: list[bytes]) -> None:
    file.seek(0, os.SEEK_END)
    for chunk in batch:
        file.write(chunk)


def _flush_sync(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())


def _hash_file(path: Path) -> tuple[int, Digests]:
    hasher = ContentHasher()
    size = 0
    with open(path, "rb") as file:
        while chunk := file.read(_BATCH_BYTES):
            hasher.update(chunk)
            size += len(chunk)
    return size, hasher.digests()


class _StagingWriter:
    """One staged file: hashes and writes batches of chunks. Blocking; run in a worker thread,
    except :meth:`abort`, which is cheap enough to run anywhere."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._hasher = ContentHasher()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "xb")  # noqa: SIM115 - closed by finish() or abort()

    def write(self, batch: list[bytes]) -> None:
        file = self._opened()
        for chunk in batch:
            self._hasher.update(chunk)
            file.write(chunk)

    def finish(self) -> Digests:
        """Flush and fsync the file, close it; return the content's digests."""
        file = self._opened()
        file.flush()
        os.fsync(file.fileno())
        file.close()
        return self._hasher.digests()

    def abort(self) -> None:
        # Best effort while another exception propagates; sweep_staging collects what remains.
        if self._file is not None:
            with contextlib.suppress(OSError, ValueError):
                self._file.close()
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)

    def _opened(self) -> BinaryIO:
        if self._file is None:
            raise RuntimeError("staging file is not open")
        return self._file


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return None


def _open_for_read(path: Path) -> tuple[BinaryIO, int] | None:
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed by the reading generator
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return file, os.fstat(file.fileno()).st_size
    except BaseException:
        file.close()
        raise


def _list_fanout(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            names = [e.name for e in entries if _FANOUT.fullmatch(e.name) and e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(names)


def _list_keys(directory: Path, prefix: str) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            names = [
                e.name
                for e in entries
                if _KEY.fullmatch(e.name) and e.name.startswith(prefix) and e.is_file()
            ]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(names)


def _sweep(staging: Path, older_than_seconds: float) -> int:
    cutoff = time.time() - older_than_seconds
    removed = 0
    try:
        with os.scandir(staging) as entries:
            candidates = [e for e in entries if _TOKEN.fullmatch(e.name)]
    except FileNotFoundError:
        return 0
    for entry in candidates:
        try:
            if entry.stat().st_mtime <= cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue  # discarded, committed or swept meanwhile
    return removed
