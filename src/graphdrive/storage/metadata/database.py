"""The metadata database: an async SQLAlchemy engine with read and write units of work.

``Database.write()`` is the unit of work: it commits when the block ends normally and rolls
back on any exception, so nothing half-written survives a failed request. The backend modules
(``sqlite.py``, ``postgres.py``) hold what differs between engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from graphdrive.exceptions import ConfigurationError, ServiceNotAvailable

if TYPE_CHECKING:
    from graphdrive.storage.metadata.sqlite_inline import InlineReader


class Database:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        serialize_writes: bool,
        inline: InlineReader | None = None,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite has one writer at a time: queueing writers here avoids busy-waiting in the
        # driver. PostgreSQL writers run concurrently.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if serialize_writes else None
        self._inline = inline

    @asynccontextmanager
    async def glance(self) -> AsyncIterator[AsyncConnection]:
        """A read of a few point lookups that need no shared snapshot: each statement sees
        the latest commit. On SQLite it runs on the event loop's thread (``sqlite_inline.py``),
        the cheapest read there is; on PostgreSQL it is a :meth:`read` in autocommit mode."""
        if self._inline is None:
            # No BEGIN/ROLLBACK round trips: each statement commits on its own.
            async with self.read() as raw:
                yield await raw.execution_options(isolation_level="AUTOCOMMIT")
            return
        try:
            yield self._inline.connection()
        except OperationalError as exc:
            if _is_busy(exc):
                raise _busy() from exc
            raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise ServiceNotAvailable("The metadata database is busy; retry.") from exc

    @asynccontextmanager
    async def write(self, *, durable: bool = True) -> AsyncIterator[AsyncConnection]:
        """A write unit of work. ``durable=False`` lets the commit return before it reaches
        the disk (SQLite ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit=off``): a
        power loss may then undo it, never corrupt or reorder it. Only for writes that are
        safe to lose, such as a worker's claim (a lost claim is claimed again)."""
        if self._write_lock is None:
            async with self._begin(durable) as conn:
                yield conn
            return
        async with self._write_lock, self._begin(durable) as conn:
            yield conn

    @asynccontextmanager
    async def _begin(self, durable: bool = True) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as raw:
                conn = await raw.execution_options(
                    graphdrive_write=True, graphdrive_durable=durable
                )
                async with conn.begin():
                    yield conn
        except OperationalError as exc:
            if _is_busy(exc):
                raise _busy() from exc
            raise

    async def dispose(self) -> None:
        if self._inline is not None:
            self._inline.close()
        await self.engine.dispose()


# PostgreSQL: deadlock detected, serialization failure, lock not available.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def _busy() -> ServiceNotAvailable:
    """What a client sees of a conflict a retry resolves: 503 with ``Retry-After``."""
    return ServiceNotAvailable(
        "The metadata database is busy; retry.", headers={"Retry-After": "1"}
    )


def _is_busy(exc: DBAPIError) -> bool:
    """A conflict a retry resolves: SQLite's busy/locked, PostgreSQL's retryable states."""
    if getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


def open_database(url: str) -> Database:
    """Create (not connect) the engine for ``url``; the one place that picks a backend."""
    if url.startswith("sqlite"):
        from graphdrive.storage.metadata import sqlite
        from graphdrive.storage.metadata.sqlite_inline import InlineReader

        engine = sqlite.create_engine(url)
        inline = None if ":memory:" in url else InlineReader(engine.url.render_as_string())
        return Database(engine, serialize_writes=True, inline=inline)
    if url.startswith("postgresql"):
        from graphdrive.storage.metadata import postgres

        return Database(postgres.create_engine(url), serialize_writes=False)
    raise ConfigurationError(f"Unsupported database URL scheme: {url.split(':', 1)[0]}")
