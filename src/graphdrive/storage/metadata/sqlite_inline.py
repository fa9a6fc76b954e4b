"""SQLite reads on the event loop's own thread: the cheap path for hot point lookups.

Through aiosqlite, a unit of work with one point lookup costs about a millisecond of CPU in
thread hand-offs (BEGIN, the statement, its cursor, ROLLBACK: each a round trip to the
driver's thread) for some 20 µs of SQLite work. ``Database.glance()`` on SQLite instead runs
its statements on one plain ``sqlite3`` connection in autocommit mode: each statement is its
own snapshot and is read in full at once, and in WAL mode readers do not wait for writers, so
the loop is never held for more than a lookup.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Executable, Result, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

INLINE_BUSY_TIMEOUT_MS = 200  # WAL readers are almost never busy; never stall the loop long


class InlineReader:
    """One read-only (``query_only``) connection, opened on first use."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(_sync_url(url), poolclass=StaticPool)

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA query_only=ON")
            cursor.execute(f"PRAGMA busy_timeout={INLINE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        self._conn: InlineConnection | None = None

    def connection(self) -> AsyncConnection:
        if self._conn is None:
            self._conn = InlineConnection(self.engine.connect())
        # Duck-typed: the repositories' read methods use only ``execute`` and ``dialect``.
        return cast(AsyncConnection, self._conn)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.raw.close()
            self._conn = None
        self.engine.dispose()


class InlineConnection:
    """What a repository needs of an ``AsyncConnection`` for reads, run synchronously."""

    def __init__(self, raw: Connection) -> None:
        self.raw = raw
        self.dialect = raw.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        try:
            result = self.raw.execute(statement, parameters)
            return result.freeze()()  # every row read now: no statement stays open
        finally:
            self.raw.rollback()  # autocommit already; this only resets SQLAlchemy's state


def _sync_url(url: str) -> str:
    return url.replace("sqlite+aiosqlite:///", "sqlite:///", 1)
