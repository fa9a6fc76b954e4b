"""The one place that wires graphdrive together from :class:`Settings`.

Nothing here runs at import time: :func:`build` is called by the app's lifespan (or a CLI
command) and :meth:`Container.close` releases what it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from graphdrive.auth import DevTokens, JwksVerifier, TokenVerifier, load_or_create_secret
from graphdrive.auth.cache import CachingVerifier
from graphdrive.operations.actions import ActionRegistry
from graphdrive.operations.copy import CopyAction
from graphdrive.operations.events import OperationEvents
from graphdrive.operations.tokens import MonitorTokens
from graphdrive.operations.worker import WorkerPool
from graphdrive.service.blob_gc import BlobCollector
from graphdrive.service.content import ContentService, DownloadLinks
from graphdrive.service.drives import DriveService
from graphdrive.service.items import ItemService
from graphdrive.service.janitor import Janitor
from graphdrive.service.operations import OperationService
from graphdrive.service.uploads import UploadService
from graphdrive.settings import Settings
from graphdrive.storage.blobs import BlobStore, S3Options, open_blob_store
from graphdrive.storage.metadata.database import Database, open_database
from graphdrive.storage.metadata.migrate import migrate


@dataclass
class Container:
    settings: Settings
    db: Database
    blobs: BlobStore
    verifier: TokenVerifier
    dev_tokens: DevTokens
    downloads: DownloadLinks
    drives: DriveService
    items: ItemService
    content: ContentService
    uploads: UploadService
    collector: BlobCollector
    operations: OperationService
    workers: WorkerPool
    janitor: Janitor
    # PostgreSQL: hears of other processes' operation changes (postgres.listen_changes).
    news: Callable[[Callable[[str], None]], Coroutine[Any, Any, None]] | None = None
    _news_task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def start_workers(self) -> None:
        """Start the in-process worker pool and housekeeping (the API process's background)."""
        await self.workers.start()
        self.janitor.start()

    def start_news(self) -> None:
        """For a process that serves monitors: wake them when another process commits a change
        of their operation (PostgreSQL; on SQLite the workers share the monitors' process)."""
        if self.news is not None and self._news_task is None:
            task = self.news(self.operations.changes.changed)
            self._news_task = asyncio.create_task(task, name="operation-news")

    async def close(self) -> None:
        if self._news_task is not None:
            self._news_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._news_task
            self._news_task = None
        await self.janitor.stop()
        await self.workers.stop()
        await self.db.dispose()


def s3_options(settings: Settings) -> S3Options:
    """Object-store settings; each one left unset falls back to boto3's usual sources."""

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value else None

    return S3Options(
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret(settings.s3_secret_access_key),
        session_token=secret(settings.s3_session_token),
        addressing_style=settings.s3_addressing_style,
        presigned_downloads=settings.s3_presigned_downloads,
        public_endpoint_url=settings.s3_public_endpoint_url,
    )


def server_secret(settings: Settings) -> bytes:
    env = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    return load_or_create_secret(settings.data_dir, env)


async def build(settings: Settings, *, apply_migrations: bool = True) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = server_secret(settings)
    db = open_database(settings.resolved_database_url)
    if apply_migrations:
        await migrate(db)
    blobs = open_blob_store(settings.resolved_blob_url, s3=s3_options(settings))
    dev_tokens = DevTokens(secret)
    verifier: TokenVerifier = dev_tokens
    if settings.jwks_file or settings.jwks_url:
        verifier = JwksVerifier(
            jwks_file=settings.jwks_file,
            jwks_url=settings.jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    verifier = CachingVerifier(verifier)
    collector = BlobCollector(db, blobs)
    drives = DriveService(db)
    content = ContentService(
        db, blobs, drives, collector, max_upload_bytes=settings.max_upload_bytes
    )
    uploads = UploadService(db, blobs, drives, content, max_upload_bytes=settings.max_upload_bytes)
    registry = ActionRegistry(CopyAction(db, settings.copy_batch_size, drives))
    listener = news = None
    if db.dialect == "postgresql":
        from graphdrive.storage.metadata import postgres

        listener = functools.partial(postgres.listen, settings.resolved_database_url)
        news = functools.partial(postgres.listen_changes, settings.resolved_database_url)
    changes = OperationEvents()
    workers = WorkerPool(
        db,
        registry,
        size=settings.workers,
        lease_seconds=settings.lease_seconds,
        retention_seconds=settings.monitor_retention_seconds,
        max_attempts=settings.max_attempts,
        max_per_owner=settings.max_active_operations_per_user,
        listener=listener,
        announce=changes.changed,
    )
    return Container(
        settings=settings,
        db=db,
        blobs=blobs,
        verifier=verifier,
        dev_tokens=dev_tokens,
        downloads=DownloadLinks(secret, settings.download_url_ttl_seconds),
        drives=drives,
        items=ItemService(db, drives, collector),
        content=content,
        uploads=uploads,
        collector=collector,
        operations=OperationService(
            db,
            drives,
            MonitorTokens(secret),
            registry,
            notify=workers.notify,
            max_per_owner=settings.max_active_operations_per_user,
            retention_seconds=settings.monitor_retention_seconds,
            changes=changes,
        ),
        workers=workers,
        janitor=Janitor(db, blobs, collector, uploads),
        news=news,
    )
