"""The BlobStore contract: one suite, run against every backend.

Add a backend by adding a builder to ``BACKENDS`` (skip inside it when the service it needs is
not configured). Tests observe leftover staged data through ``sweep_staging(0)``, which every
backend implements, so none of them looks inside a backend.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import pytest

from graphdrive.exceptions import (
    ConfigurationError,
    InvalidRange,
    PayloadTooLarge,
    StorageError,
)
from graphdrive.storage.blobs import (
    BlobNotFound,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    S3Options,
    StagedBlob,
    _s3_bucket,
    open_blob_store,
)
from graphdrive.storage.blobs import s3 as s3_module
from tests.support.seaweed import SeaweedS3

S3_BUCKET = "graphdrive-contract"


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return open_blob_store((tmp_path / "blobs").as_uri())


def _s3(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    # One SeaweedFS server and bucket for the session (skips if weed is not installed); a
    # prefix of its own for each test.
    server: SeaweedS3 = request.getfixturevalue("seaweed_s3")
    return open_blob_store(f"s3://{S3_BUCKET}/{uuid.uuid4().hex}", s3=server.options())


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], BlobStore]] = {
    "local": _local,
    "s3": _s3,
}
MARKS = {"s3": pytest.mark.s3}


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, ())) for name in BACKENDS])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BACKENDS[request.param](request, tmp_path)


class ClientGone(Exception):
    """Stands in for the server's "client disconnected" error."""


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


async def stream(data: bytes, chunk_size: int = 65_521) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), chunk_size):
        yield data[offset : offset + chunk_size]


async def read_all(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    async with aclosing(store.read(key, start, end)) as chunks:
        return b"".join([chunk async for chunk in chunks])


async def all_keys(store: BlobStore) -> list[str]:
    return sorted([key async for key in store.keys()])  # noqa: SIM118 - not a dict


async def put(store: BlobStore, data: bytes) -> str:
    staged = await store.stage(stream(data))
    await store.commit(staged)
    return staged.sha256


def quick_xor_reference(data: bytes) -> str:
    """OneDrive's quickXorHash, transcribed directly from the published algorithm: byte i is
    XORed into a 160-bit circular register at bit (11 * i) mod 160; the length (64-bit little
    endian) is XORed into the last 8 bytes. Slow, but independent of the implementation."""
    state, mask = 0, (1 << 160) - 1
    # Bytes 160 apart land on the same bit offset: fold them first to keep this fast enough.
    folded = [0] * 160
    for i, byte in enumerate(data):
        folded[i % 160] ^= byte
    for i, byte in enumerate(folded):
        shifted = byte << ((i * 11) % 160)
        state ^= (shifted | (shifted >> 160)) & mask
    out = bytearray(state.to_bytes(20, "little"))
    for i, length_byte in enumerate(len(data).to_bytes(8, "little")):
        out[12 + i] ^= length_byte
    return base64.b64encode(bytes(out)).decode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- staging and committing ---------------------------------------------------------------


async def test_stage_then_commit_round_trips_content_and_digests(blob_store: BlobStore) -> None:
    data = payload(3 * (1 << 20) + 12_345)  # several batches, ragged end

    staged = await blob_store.stage(stream(data))

    assert staged == StagedBlob(
        token=staged.token,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        quick_xor=quick_xor_reference(data),
    )
    assert not await blob_store.exists(staged.sha256)
    assert await all_keys(blob_store) == []

    await blob_store.commit(staged)

    assert await blob_store.exists(staged.sha256)
    assert await blob_store.size(staged.sha256) == len(data)
    assert await read_all(blob_store, staged.sha256) == data
    assert await all_keys(blob_store) == [staged.sha256]
    assert await blob_store.sweep_staging(0) == 0


async def test_empty_content_is_a_blob(blob_store: BlobStore) -> None:
    staged = await blob_store.stage(stream(b""))

    assert (staged.size, staged.sha256, staged.sha1) == (
        0,
        hashlib.sha256(b"").hexdigest(),
        hashlib.sha1(b"").hexdigest(),
    )
    await blob_store.commit(staged)
    assert await blob_store.size(staged.sha256) == 0
    assert await read_all(blob_store, staged.sha256) == b""


async def test_digests_do_not_depend_on_chunking(blob_store: BlobStore) -> None:
    data = payload(100_000, seed=1)

    one = await blob_store.stage(stream(data, chunk_size=len(data)))
    tiny = await blob_store.stage(stream(data, chunk_size=1_000))

    assert (one.size, one.sha256, one.sha1) == (tiny.size, tiny.sha256, tiny.sha1)
    assert one.token != tiny.token
    await blob_store.discard(one)
    await blob_store.discard(tiny)


async def test_identical_content_is_stored_once(blob_store: BlobStore) -> None:
    data = payload(50_000, seed=2)
    first = await blob_store.stage(stream(data))
    second = await blob_store.stage(stream(data, chunk_size=999))

    await blob_store.commit(first)
    await blob_store.commit(second)

    assert first.sha256 == second.sha256
    assert await all_keys(blob_store) == [first.sha256]
    assert await blob_store.sweep_staging(0) == 0  # the duplicate's staged copy was dropped
    assert await read_all(blob_store, first.sha256) == data


async def test_commit_is_idempotent(blob_store: BlobStore) -> None:
    data = payload(10_000, seed=3)
    staged = await blob_store.stage(stream(data))

    await blob_store.commit(staged)
    await blob_store.commit(staged)

    assert await all_keys(blob_store) == [sha256(data)]
    assert await read_all(blob_store, staged.sha256) == data


async def test_concurrent_stages_do_not_mix(blob_store: BlobStore) -> None:
    contents = [payload(200_000 + n, seed=n) for n in range(8)]

    staged = await asyncio.gather(*(blob_store.stage(stream(c, 4_096)) for c in contents))
    await asyncio.gather(*(blob_store.commit(s) for s in staged))

    assert [s.sha256 for s in staged] == [sha256(c) for c in contents]
    for content in contents:
        assert await read_all(blob_store, sha256(content)) == content


# --- limits and failures while staging ------------------------------------------------------


async def test_content_at_max_size_is_accepted(blob_store: BlobStore) -> None:
    data = payload(1_000, seed=4)
    staged = await blob_store.stage(stream(data, 100), max_size=1_000)
    assert staged.size == 1_000


async def test_content_over_max_size_is_refused_and_removed(blob_store: BlobStore) -> None:
    with pytest.raises(PayloadTooLarge, match="1000 bytes"):
        await blob_store.stage(stream(payload(1_001), 100), max_size=1_000)

    assert await blob_store.sweep_staging(0) == 0
    assert await all_keys(blob_store) == []


async def test_max_size_stops_an_endless_stream(blob_store: BlobStore) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1 << 16
            yield bytes(1 << 16)

    with pytest.raises(PayloadTooLarge):
        await blob_store.stage(endless(), max_size=5 << 20)

    assert sent <= (5 << 20) + (1 << 16)
    assert await blob_store.sweep_staging(0) == 0


async def test_negative_max_size_is_a_value_error(blob_store: BlobStore) -> None:
    with pytest.raises(ValueError, match="max_size"):
        await blob_store.stage(stream(b"x"), max_size=-1)


async def test_error_mid_stream_propagates_and_leaves_nothing(blob_store: BlobStore) -> None:
    head = payload(3 << 20, seed=5)  # past one write batch, so data reached storage

    async def disconnecting() -> AsyncIterator[bytes]:
        async for chunk in stream(head):
            yield chunk
        raise ClientGone("client went away")

    with pytest.raises(ClientGone, match="client went away"):
        await blob_store.stage(disconnecting())

    assert await blob_store.sweep_staging(0) == 0
    assert await all_keys(blob_store) == []
    assert not await blob_store.exists(sha256(head))


async def test_task_cancelled_mid_stream_leaves_nothing(blob_store: BlobStore) -> None:
    reached_stall = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        async for chunk in stream(payload(2 << 20, seed=6)):
            yield chunk
        reached_stall.set()
        await asyncio.Event().wait()  # the client stops sending, then disconnects
        yield b"never"

    task = asyncio.create_task(blob_store.stage(stalling()))
    await asyncio.wait_for(reached_stall.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await blob_store.sweep_staging(0) == 0
    assert await all_keys(blob_store) == []


async def test_cancel_scope_timeout_mid_stream_leaves_nothing(blob_store: BlobStore) -> None:
    async def slow() -> AsyncIterator[bytes]:
        while True:
            yield bytes(1 << 18)
            await anyio.sleep(0.001)

    with anyio.move_on_after(0.3) as scope:
        await blob_store.stage(slow())

    assert scope.cancelled_caught
    assert await blob_store.sweep_staging(0) == 0
    assert await all_keys(blob_store) == []


async def test_discard_removes_staged_data(blob_store: BlobStore) -> None:
    staged = await blob_store.stage(stream(payload(10_000, seed=7)))

    await blob_store.discard(staged)
    await blob_store.discard(staged)  # already gone: no error

    assert await blob_store.sweep_staging(0) == 0
    with pytest.raises(StorageError):
        await blob_store.commit(staged)
    assert await all_keys(blob_store) == []


async def test_discard_after_commit_keeps_the_blob(blob_store: BlobStore) -> None:
    data = payload(10_000, seed=8)
    staged = await blob_store.stage(stream(data))
    await blob_store.commit(staged)

    await blob_store.discard(staged)

    assert await read_all(blob_store, staged.sha256) == data


# --- reading --------------------------------------------------------------------------------

RANGE_DATA = payload(100_000, seed=9)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, None),  # everything
        (10, 20),  # inside
        (0, 1),  # first byte
        (99_999, None),  # last byte
        (12_345, None),  # to the end
        (0, 100_000),  # explicit full
        (500, 500),  # empty, inside
        (100_000, None),  # empty, at the end
        (100_000, 100_000),
    ],
)
async def test_range_reads(blob_store: BlobStore, start: int, end: int | None) -> None:
    key = await put(blob_store, RANGE_DATA)

    got = await read_all(blob_store, key, start, end)

    assert got == RANGE_DATA[start:end]


async def test_reads_stream_in_chunks_of_at_most_chunk_size(blob_store: BlobStore) -> None:
    key = await put(blob_store, RANGE_DATA)

    async with aclosing(blob_store.read(key, 7, 1_007, chunk_size=64)) as reader:
        chunks = [chunk async for chunk in reader]

    assert all(0 < len(chunk) <= 64 for chunk in chunks)
    assert len(chunks) == 16
    assert b"".join(chunks) == RANGE_DATA[7:1_007]


async def test_a_reader_closed_early_can_be_read_again(blob_store: BlobStore) -> None:
    key = await put(blob_store, RANGE_DATA)

    async with aclosing(blob_store.read(key, chunk_size=1_000)) as reader:
        first = await anext(reader)

    assert first == RANGE_DATA[:1_000]
    assert await read_all(blob_store, key) == RANGE_DATA


@pytest.mark.parametrize(("start", "end"), [(-1, None), (10, 9), (-5, -1)])
async def test_malformed_ranges_are_refused_on_call(
    blob_store: BlobStore, start: int, end: int | None
) -> None:
    key = await put(blob_store, RANGE_DATA)
    with pytest.raises(InvalidRange):
        blob_store.read(key, start, end)


@pytest.mark.parametrize(("start", "end"), [(100_001, None), (0, 100_001), (100_001, 100_002)])
async def test_ranges_past_the_end_are_refused(
    blob_store: BlobStore, start: int, end: int | None
) -> None:
    key = await put(blob_store, RANGE_DATA)
    with pytest.raises(InvalidRange):
        await read_all(blob_store, key, start, end)


async def test_non_positive_chunk_size_is_a_value_error(blob_store: BlobStore) -> None:
    key = await put(blob_store, b"abc")
    with pytest.raises(ValueError, match="chunk_size"):
        blob_store.read(key, chunk_size=0)


# --- missing blobs, deleting, listing -------------------------------------------------------

MISSING = sha256(b"never stored")


async def test_missing_blob_raises_blob_not_found(blob_store: BlobStore) -> None:
    assert not await blob_store.exists(MISSING)
    with pytest.raises(BlobNotFound) as size_error:
        await blob_store.size(MISSING)
    with pytest.raises(BlobNotFound):
        await read_all(blob_store, MISSING)
    with pytest.raises(BlobNotFound):
        await read_all(blob_store, MISSING, 0, 0)

    assert size_error.value.key == MISSING
    assert isinstance(size_error.value, StorageError)


async def test_delete_removes_only_that_blob(blob_store: BlobStore) -> None:
    kept = await put(blob_store, b"kept")
    gone = await put(blob_store, b"gone")

    await blob_store.delete(gone)
    await blob_store.delete(gone)  # already gone: no error
    await blob_store.delete(MISSING)

    assert not await blob_store.exists(gone)
    with pytest.raises(BlobNotFound):
        await blob_store.size(gone)
    with pytest.raises(BlobNotFound):
        await read_all(blob_store, gone)
    assert await all_keys(blob_store) == [kept]
    assert await read_all(blob_store, kept) == b"kept"


async def test_content_can_be_stored_again_after_delete(blob_store: BlobStore) -> None:
    key = await put(blob_store, b"phoenix")
    await blob_store.delete(key)

    assert await put(blob_store, b"phoenix") == key
    assert await read_all(blob_store, key) == b"phoenix"


async def test_keys_lists_committed_blobs_only(blob_store: BlobStore) -> None:
    assert await all_keys(blob_store) == []  # a store never used lists nothing
    contents = [payload(1_000, seed=n) for n in range(20)]
    for content in contents:
        await put(blob_store, content)
    uncommitted = await blob_store.stage(stream(b"staged, not committed"))

    keys = await all_keys(blob_store)

    assert keys == sorted(sha256(c) for c in contents)
    assert uncommitted.sha256 not in keys


# --- sweeping staged data -------------------------------------------------------------------


async def test_sweep_staging_removes_only_data_older_than_the_threshold(
    blob_store: BlobStore,
) -> None:
    first = await blob_store.stage(stream(b"first"))
    second = await blob_store.stage(stream(b"second"))
    committed = await put(blob_store, b"committed")

    assert await blob_store.sweep_staging(3_600) == 0
    assert await blob_store.sweep_staging(0) == 2
    assert await blob_store.sweep_staging(0) == 0

    for staged in (first, second):
        with pytest.raises(StorageError):
            await blob_store.commit(staged)
    assert await all_keys(blob_store) == [committed]


async def test_sweep_staging_of_an_unused_store_finds_nothing(blob_store: BlobStore) -> None:
    assert await blob_store.sweep_staging(0) == 0


@pytest.mark.parametrize("age", [-1.0, float("nan")])
async def test_sweep_staging_rejects_a_bad_age(blob_store: BlobStore, age: float) -> None:
    with pytest.raises(ValueError, match="older_than_seconds"):
        await blob_store.sweep_staging(age)


# --- keys are validated ---------------------------------------------------------------------

BAD_KEYS = [
    "",
    "abc",
    MISSING[:-1],
    MISSING + "0",
    MISSING.upper(),
    MISSING[:-1] + "g",
    MISSING + "\n",
    "../" * 21 + "a",
    "/" + MISSING[1:],
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_malformed_keys_are_a_value_error(blob_store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        await blob_store.exists(key)
    with pytest.raises(ValueError, match="invalid blob key"):
        await blob_store.size(key)
    with pytest.raises(ValueError, match="invalid blob key"):
        blob_store.read(key)
    with pytest.raises(ValueError, match="invalid blob key"):
        await blob_store.delete(key)


async def test_a_forged_staged_blob_is_refused(blob_store: BlobStore) -> None:
    real = await blob_store.stage(stream(b"real"))
    escaping = StagedBlob(token="../../escape", size=4, sha256=real.sha256, sha1=real.sha1)
    bad_key = StagedBlob(token=real.token, size=4, sha256="../" * 21 + "a", sha1=real.sha1)

    for forged in (escaping, bad_key):
        with pytest.raises(ValueError):
            await blob_store.commit(forged)
        with pytest.raises(ValueError):
            await blob_store.discard(forged)

    assert await all_keys(blob_store) == []
    await blob_store.commit(real)
    assert await read_all(blob_store, real.sha256) == b"real"


# --- resumable staging (upload sessions) ----------------------------------------------------


async def append_all(store: BlobStore, token: str, data: bytes, fragment: int) -> None:
    for offset in range(0, len(data), fragment):
        piece = data[offset : offset + fragment]
        end = await store.append(token, offset, stream(piece), length=len(piece))
        assert end == offset + len(piece)


async def test_appended_fragments_seal_into_one_staged_blob(blob_store: BlobStore) -> None:
    data = payload(3 * 327_680 + 1_234, seed=20)
    token = await blob_store.open_append()
    assert await blob_store.appended_length(token) == 0

    await append_all(blob_store, token, data, 327_680)
    assert await blob_store.appended_length(token) == len(data)
    staged = await blob_store.seal(token)

    assert staged == StagedBlob(
        token=staged.token,
        size=len(data),
        sha256=sha256(data),
        sha1=hashlib.sha1(data).hexdigest(),
        quick_xor=quick_xor_reference(data),
    )
    assert await all_keys(blob_store) == []
    await blob_store.commit(staged)
    assert await read_all(blob_store, staged.sha256) == data
    assert await blob_store.sweep_staging(0) == 0


async def test_a_fragment_larger_than_an_upload_part_is_appended(blob_store: BlobStore) -> None:
    data = payload((9 << 20) + 17, seed=21)  # S3 writes it as a multipart upload
    token = await blob_store.open_append()

    await append_all(blob_store, token, data, len(data) - 5)
    staged = await blob_store.seal(token)

    assert (staged.size, staged.sha256) == (len(data), sha256(data))
    await blob_store.commit(staged)
    assert await read_all(blob_store, staged.sha256) == data


async def test_empty_appendable_data_seals_to_the_empty_blob(blob_store: BlobStore) -> None:
    token = await blob_store.open_append()

    staged = await blob_store.seal(token)

    assert (staged.size, staged.sha256) == (0, sha256(b""))
    await blob_store.discard(staged)
    assert await blob_store.sweep_staging(0) == 0


async def test_an_append_at_the_wrong_offset_is_refused(blob_store: BlobStore) -> None:
    token = await blob_store.open_append()
    await blob_store.append(token, 0, stream(b"abc"), length=3)

    for offset in (0, 2, 4):
        with pytest.raises(InvalidRange):
            await blob_store.append(token, offset, stream(b"x"), length=1)

    assert await blob_store.appended_length(token) == 3


@pytest.mark.parametrize("sent", [b"short", b"much too long"])
async def test_a_fragment_of_the_wrong_length_leaves_no_trace(
    blob_store: BlobStore, sent: bytes
) -> None:
    token = await blob_store.open_append()
    await blob_store.append(token, 0, stream(b"head"), length=4)

    with pytest.raises(ValueError, match="fragment"):
        await blob_store.append(token, 4, stream(sent, 3), length=8)

    assert await blob_store.appended_length(token) == 4
    assert await blob_store.append(token, 4, stream(b"tail-end"), length=8) == 12
    staged = await blob_store.seal(token)
    assert staged.sha256 == sha256(b"headtail-end")


async def test_a_failing_fragment_stream_leaves_no_trace(blob_store: BlobStore) -> None:
    head = payload(1_000, seed=22)
    token = await blob_store.open_append()
    await blob_store.append(token, 0, stream(head), length=len(head))

    async def disconnecting() -> AsyncIterator[bytes]:
        async for chunk in stream(payload(9 << 20, seed=23), 1 << 20):
            yield chunk
        raise ClientGone("client went away")

    with pytest.raises(ClientGone):
        await blob_store.append(token, len(head), disconnecting(), length=10 << 20)

    assert await blob_store.appended_length(token) == len(head)
    staged = await blob_store.seal(token)
    assert (staged.size, staged.sha256) == (len(head), sha256(head))


async def test_a_cancelled_fragment_leaves_no_trace(blob_store: BlobStore) -> None:
    token = await blob_store.open_append()
    await blob_store.append(token, 0, stream(b"head"), length=4)
    reached_stall = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        async for chunk in stream(payload(9 << 20, seed=24), 1 << 20):
            yield chunk
        reached_stall.set()
        await asyncio.Event().wait()
        yield b"never"

    task = asyncio.create_task(blob_store.append(token, 4, stalling(), length=10 << 20))
    await asyncio.wait_for(reached_stall.wait(), timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await blob_store.appended_length(token) == 4
    assert (await blob_store.seal(token)).sha256 == sha256(b"head")


async def test_abort_append_removes_the_data(blob_store: BlobStore) -> None:
    token = await blob_store.open_append()
    await blob_store.append(token, 0, stream(b"partial"), length=7)

    await blob_store.abort_append(token)
    await blob_store.abort_append(token)  # already gone: no error

    with pytest.raises(StorageError):
        await blob_store.appended_length(token)
    with pytest.raises(StorageError):
        await blob_store.append(token, 7, stream(b"more"), length=4)
    assert await blob_store.sweep_staging(0) == 0


async def test_sweep_staging_removes_appendable_data(blob_store: BlobStore) -> None:
    token = await blob_store.open_append()
    await blob_store.append(token, 0, stream(b"partial"), length=7)

    assert await blob_store.sweep_staging(3_600) == 0
    assert await blob_store.sweep_staging(0) == 1

    with pytest.raises(StorageError):
        await blob_store.appended_length(token)


@pytest.mark.parametrize("token", ["", "../" * 11, "A" * 32, "0" * 31])
async def test_malformed_append_tokens_are_a_value_error(blob_store: BlobStore, token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        await blob_store.appended_length(token)
    with pytest.raises(ValueError, match="token"):
        await blob_store.append(token, 0, stream(b"x"), length=1)
    with pytest.raises(ValueError, match="token"):
        await blob_store.seal(token)
    with pytest.raises(ValueError, match="token"):
        await blob_store.abort_append(token)


# --- the local backend's own promises -------------------------------------------------------


async def test_local_layout_and_lazy_directories(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    assert not root.exists()  # nothing on disk until first use
    assert await all_keys(store) == []
    assert not root.exists()

    staged = await store.stage(stream(b"hello"))
    assert [p.name for p in (root / ".staging").iterdir()] == [staged.token]
    await store.commit(staged)

    key = staged.sha256
    assert (root / key[:2] / key[2:4] / key).read_bytes() == b"hello"
    assert list((root / ".staging").iterdir()) == []


async def test_local_sweep_uses_file_age(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    old = await store.stage(stream(b"old"))
    new = await store.stage(stream(b"new"))
    an_hour_ago = time.time() - 3_600
    os.utime(tmp_path / ".staging" / old.token, (an_hour_ago, an_hour_ago))

    assert await store.sweep_staging(600) == 1

    await store.commit(new)
    with pytest.raises(StorageError):
        await store.commit(old)


# --- the factory ----------------------------------------------------------------------------


def test_open_blob_store_accepts_file_urls_and_plain_paths(tmp_path: Path) -> None:
    target = tmp_path / "with space"

    for url in (target.as_uri(), str(target), f"file://localhost{target}"):
        store = open_blob_store(url)
        assert isinstance(store, LocalBlobStore)
        assert store.root == target
    assert not target.exists()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "gs://bucket/prefix",
        "https://example.com/blobs",
        "file://otherhost/srv/blobs",
        "file:relative/path",
        "file:///srv/blobs?x=1",
        "s3://",
        "s3:///prefix",
        "s3://bucket/prefix?x=1",
        "s3://bucket/a/../b",
    ],
)
def test_open_blob_store_rejects_other_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_blob_store(url)


def test_open_blob_store_keeps_credentials_out_of_errors() -> None:
    with pytest.raises(ConfigurationError) as error:
        open_blob_store("s3://AKIDSECRET:hunter2@bucket/prefix")
    assert "hunter2" not in str(error.value)


# --- the S3 backend's own promises ----------------------------------------------------------


def s3_store(server: SeaweedS3) -> S3BlobStore:
    store = open_blob_store(f"s3://{S3_BUCKET}/{uuid.uuid4().hex}", s3=server.options())
    assert isinstance(store, S3BlobStore)
    return store


def object_keys(server: SeaweedS3, bucket: str, prefix: str) -> list[str]:
    listed = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def pending_uploads(server: SeaweedS3, store: S3BlobStore) -> list[str]:
    listed = server.client().list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
    return [upload["Key"] for upload in listed.get("Uploads", [])]


@pytest.mark.s3
async def test_s3_layout_and_lazy_bucket(seaweed_s3: SeaweedS3) -> None:
    bucket = f"lazy-{uuid.uuid4().hex[:12]}"
    store = S3BlobStore(bucket, "some/prefix", seaweed_s3.options())
    client = seaweed_s3.client()
    try:
        # Reading a bucket that does not exist finds nothing, and does not create it.
        assert await all_keys(store) == []
        assert not await store.exists(MISSING)
        with pytest.raises(BlobNotFound):
            await read_all(store, MISSING)
        assert await store.sweep_staging(0) == 0
        assert bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]

        staged = await store.stage(stream(b"hello"))  # the first write creates it
        assert object_keys(seaweed_s3, bucket, "") == [f"some/prefix/staging/{staged.token}"]
        await store.commit(staged)

        key = staged.sha256
        assert object_keys(seaweed_s3, bucket, "") == [
            f"some/prefix/blobs/{key[:2]}/{key[2:4]}/{key}"
        ]
    finally:
        client.delete_bucket(Bucket=bucket)


@pytest.mark.s3
async def test_s3_multipart_upload_and_copy(
    seaweed_s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Commit copies past COPY_LIMIT with UploadPartCopy; lower it to take that path here.
    monkeypatch.setattr(_s3_bucket, "COPY_LIMIT", 1 << 20)
    monkeypatch.setattr(_s3_bucket, "COPY_PART", 5 << 20)
    store = s3_store(seaweed_s3)
    data = payload((16 << 20) + 3, seed=30)  # two 8 MiB parts and a ragged tail

    staged = await store.stage(stream(data, 1 << 20))
    await store.commit(staged)

    assert (staged.size, staged.sha256) == (len(data), sha256(data))
    assert await read_all(store, staged.sha256) == data
    boundary = 8 << 20
    assert (
        await read_all(store, staged.sha256, boundary - 9, boundary + 9)
        == data[boundary - 9 : boundary + 9]
    )
    assert pending_uploads(seaweed_s3, store) == []


@pytest.mark.s3
@pytest.mark.parametrize("ending", ["error", "cancel"])
async def test_s3_a_failed_multipart_stage_leaves_no_upload(
    seaweed_s3: SeaweedS3, ending: str
) -> None:
    store = s3_store(seaweed_s3)
    stalled = asyncio.Event()

    async def content() -> AsyncIterator[bytes]:
        async for chunk in stream(payload(9 << 20, seed=31), 1 << 20):
            yield chunk  # past one part: a multipart upload has begun
        if ending == "error":
            raise ClientGone("client went away")
        stalled.set()
        await asyncio.Event().wait()
        yield b"never"

    task = asyncio.create_task(store.stage(content()))
    if ending == "cancel":
        await asyncio.wait_for(stalled.wait(), timeout=30)
        task.cancel()
    with pytest.raises((ClientGone, asyncio.CancelledError)):
        await task

    assert pending_uploads(seaweed_s3, store) == []
    assert object_keys(seaweed_s3, store.bucket, store.prefix) == []


@pytest.mark.s3
async def test_s3_sweep_uses_last_modified_and_aborts_stale_uploads(
    seaweed_s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_store(seaweed_s3)
    await store.stage(stream(b"staged"))
    token = await store.open_append()
    await store.append(token, 0, stream(b"partial"), length=7)
    orphan = f"{store.prefix}/staging/{'f' * 32}"  # a crashed stage's multipart upload
    seaweed_s3.client().create_multipart_upload(Bucket=store.bucket, Key=orphan)
    two_hours_on = datetime.now(UTC) + timedelta(hours=2)
    monkeypatch.setattr(s3_module, "_now", lambda: two_hours_on)

    assert await store.sweep_staging(3 * 3_600) == 0
    assert await store.sweep_staging(3_600) == 3

    assert pending_uploads(seaweed_s3, store) == []
    assert object_keys(seaweed_s3, store.bucket, store.prefix) == []


def test_open_blob_store_reads_s3_urls() -> None:
    options = S3Options(
        endpoint_url="http://127.0.0.1:9",
        access_key_id="AKIDEXAMPLE",
        secret_access_key="hunter2",
        session_token="sessiontoken",
    )

    store = open_blob_store("s3://my-bucket/a/b/", s3=options)  # nothing is contacted

    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("my-bucket", "a/b")
    for text in (repr(store), repr(options)):
        assert "hunter2" not in text
        assert "AKIDEXAMPLE" not in text
        assert "sessiontoken" not in text
    bare = open_blob_store("s3://my-bucket")
    assert isinstance(bare, S3BlobStore)
    assert bare.prefix == ""


def test_open_blob_store_needs_both_s3_keys_or_neither() -> None:
    with pytest.raises(ConfigurationError, match="both"):
        open_blob_store("s3://bucket/prefix", s3=S3Options(access_key_id="AKIDEXAMPLE"))


async def test_only_a_store_configured_for_it_presigns(blob_store: BlobStore) -> None:
    key = await put(blob_store, b"content")
    url = blob_store.presigned_url(key, expires_in=60, filename="a.txt", content_type="text/plain")
    assert url is None  # local files never; S3 only when presigned downloads are switched on


@pytest.mark.s3
async def test_s3_presigned_download_serves_ranges_under_the_file_name(
    seaweed_s3: SeaweedS3,
) -> None:
    options = dataclasses.replace(seaweed_s3.options(), presigned_downloads=True)
    store = open_blob_store(f"s3://{S3_BUCKET}/{uuid.uuid4().hex}", s3=options)
    data = payload(100_000, seed=7)
    key = await put(store, data)

    url = store.presigned_url(key, expires_in=120, filename="ré port.bin", content_type="x/y")

    assert url is not None and url.startswith(seaweed_s3.endpoint_url)
    with httpx.Client(timeout=30) as bare:  # no credentials: the URL is the capability
        whole = bare.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["content-type"] == "x/y"
        assert "r%C3%A9%20port.bin" in whole.headers["content-disposition"]
        part = bare.get(url, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == data[10:20]
        tampered = bare.get(url.replace(key[:8], "0" * 8, 1))
        assert tampered.status_code in (403, 404)


@pytest.mark.s3
async def test_s3_presigned_urls_name_the_public_endpoint(seaweed_s3: SeaweedS3) -> None:
    options = dataclasses.replace(
        seaweed_s3.options(),
        presigned_downloads=True,
        public_endpoint_url="https://files.example.test",
    )
    store = open_blob_store(f"s3://{S3_BUCKET}/{uuid.uuid4().hex}", s3=options)
    url = store.presigned_url("a" * 64, expires_in=60, filename="f", content_type="x/y")
    assert url is not None and url.startswith("https://files.example.test/")
