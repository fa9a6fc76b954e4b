"""SQLite backend: WAL, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` for writes.

pysqlite's own transaction handling is turned off so that SQLAlchemy's ``begin()`` emits the
``BEGIN`` itself: a write unit of work takes the write lock up front instead of failing with
"database is locked" when it upgrades from a read lock half-way.

Bulk writes (:func:`bulk_writes`, used by the copy engine for its plan and build transactions)
run on a connection switched to :data:`BULK_PRAGMAS` before its ``BEGIN``: no foreign-key checks
(the copy guarantees its references by construction), a larger page cache, and automatic WAL
checkpoints only every 64 MB instead of every 4 MB. The next unit of work on that connection
that is not a bulk write switches it back to :data:`NORMAL_PRAGMAS` first. The pool hands out
the most recently returned connection, so a copy's batches keep reusing one warm connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

BUSY_TIMEOUT_MS = 30_000
# After a checkpoint has reset it, a WAL that grew past this is truncated back to it.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

# SQLite's defaults, which every connection starts with, and what bulk writes use instead.
NORMAL_PRAGMAS = {"foreign_keys": "ON", "cache_size": "-2000", "wal_autocheckpoint": "1000"}
BULK_PRAGMAS = {"foreign_keys": "OFF", "cache_size": "-65536", "wal_autocheckpoint": "16384"}

_bulk: ContextVar[bool] = ContextVar("graphdrive_sqlite_bulk_writes", default=False)
_BULK_STATE = "graphdrive_bulk"  # key in the DBAPI connection's pool record info
_DURABLE_STATE = "graphdrive_durable"  # the same, for synchronous=FULL (True) or NORMAL


@contextmanager
def bulk_writes() -> Iterator[None]:
    """Write units of work opened in this block (in this task) are bulk writes on SQLite.

    Only for writers whose every reference is right by construction: foreign keys are not
    checked. Other engines ignore this."""
    token = _bulk.set(True)
    try:
        yield
    finally:
        _bulk.reset(token)


async def checkpoint(conn: AsyncConnection) -> None:
    """A ``PASSIVE`` WAL checkpoint, as the first statement of a read unit of work: it copies
    what no reader still needs into the database file and waits for nobody."""
    await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def _async_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


def create_engine(url: str) -> AsyncEngine:
    url = _async_url(url)
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, pool_size=8, max_overflow=8, pool_pre_ping=False, pool_use_lifo=True
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # FULL: a commit (an accepted operation, a checkpoint) survives power loss too.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        for name, value in NORMAL_PRAGMAS.items():
            cursor.execute(f"PRAGMA {name}={value}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options: dict[str, Any] = conn.get_execution_options()
        write = bool(options.get("graphdrive_write"))
        bulk = write and _bulk.get()
        if conn.info.get(_BULK_STATE, False) is not bulk:
            # Outside any transaction: SQLite ignores foreign_keys inside one.
            for name, value in (BULK_PRAGMAS if bulk else NORMAL_PRAGMAS).items():
                conn.exec_driver_sql(f"PRAGMA {name}={value}")
            conn.info[_BULK_STATE] = bulk
        durable = bool(options.get("graphdrive_durable", True))
        if write and conn.info.get(_DURABLE_STATE, True) is not durable:
            # NORMAL in WAL mode: the commit is not synced; a later FULL commit syncs it.
            conn.exec_driver_sql(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            conn.info[_DURABLE_STATE] = durable
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
