"""Stored content that no ``blobs`` row describes — what a crash between an upload's file commit
and its metadata commit leaves — is swept, on every metadata backend; content an upload is
committing right now never is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from sqlalchemy import select

from graphdrive.bootstrap import Container
from graphdrive.service.clock import utcnow
from graphdrive.storage.blobs import StagedBlob
from graphdrive.storage.metadata.items import ItemRepository
from graphdrive.storage.metadata.schema import blobs
from tests.contract.test_metadata_copy_engine import container

if TYPE_CHECKING:  # imported by pytest_plugins below, which lets pytest rewrite its asserts
    from tests.contract.metadata_backends import MetadataBackend  # noqa: F401

pytest_plugins = ["tests.contract.metadata_backends"]
__all__ = ["container"]  # a fixture: a container on every metadata backend


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def stored(app: Container, data: bytes) -> StagedBlob:
    """Content committed to the blob store, with no ``blobs`` row (as a crash leaves it)."""
    staged = await app.blobs.stage(_chunks(data))
    await app.blobs.commit(staged)
    return staged


async def rows(app: Container) -> dict[str, int]:
    async with app.db.read() as conn:
        return dict((await conn.execute(select(blobs.c.key, blobs.c.size))).all())


async def test_content_without_a_blob_row_is_swept(container: Container) -> None:
    app = container
    orphan = await stored(app, b"left behind by a crash")
    described = await stored(app, b"an ordinary blob")
    async with app.db.write() as conn:
        await ItemRepository(conn).ensure_blob(
            described.sha256, described.size, described.sha1, None, utcnow()
        )

    assert await app.collector.sweep_orphans() == 1

    assert not await app.blobs.exists(orphan.sha256)
    assert await app.blobs.exists(described.sha256)
    assert await rows(app) == {described.sha256: described.size}  # no placeholder left
    assert await app.collector.sweep_orphans() == 0


async def test_content_an_upload_is_committing_is_kept(container: Container) -> None:
    """The upload has inserted its row and committed its file, but not its unit of work: the
    sweeper must wait for it rather than take the file for an orphan."""
    app = container
    staged = await app.blobs.stage(_chunks(b"being uploaded"))
    file_committed, finish = asyncio.Event(), asyncio.Event()

    async def upload() -> None:
        async with app.db.write() as conn:
            repo = ItemRepository(conn)
            await repo.ensure_blob(staged.sha256, staged.size, staged.sha1, None, utcnow())
            await app.blobs.commit(staged)
            file_committed.set()
            await finish.wait()

    uploading = asyncio.create_task(upload())
    await file_committed.wait()
    sweeping = asyncio.create_task(app.collector.sweep_orphans())
    await asyncio.sleep(0.3)
    assert not sweeping.done()  # waiting for the upload's unit of work
    assert await app.blobs.exists(staged.sha256)
    finish.set()
    await uploading

    assert await sweeping == 0
    assert await app.blobs.exists(staged.sha256)
    assert await rows(app) == {staged.sha256: staged.size}


async def test_the_janitor_sweeps_at_its_first_run_then_once_per_interval(
    container: Container,
) -> None:
    app = container
    first = await stored(app, b"found at start")
    await app.janitor.run_once()
    assert not await app.blobs.exists(first.sha256)

    later = await stored(app, b"left by a later crash")
    await app.janitor.run_once()  # the listing is not repeated every few minutes
    assert await app.blobs.exists(later.sha256)


async def test_the_janitor_sweeps_again_once_the_interval_has_passed(
    container: Container,
) -> None:
    app = container
    app.janitor.orphan_interval = 0.0
    await app.janitor.run_once()
    later = await stored(app, b"left by a later crash")
    await app.janitor.run_once()
    assert not await app.blobs.exists(later.sha256)
