"""PostgreSQL backend: pooled connections with a statement timeout, and LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

STATEMENT_TIMEOUT_MS = 60_000


def _async_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql+asyncpg://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def create_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(
        _async_url(url),
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"},
    )

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Database.write(durable=False): this transaction's commit does not wait for its WAL
        # flush (a crash may undo it, never corrupt it).
        if not conn.get_execution_options().get("graphdrive_durable", True):
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    return engine


# Operations announce themselves on this channel when their creating transaction commits
# (pg_notify is transactional); worker processes LISTEN and wake at once. Workers also poll,
# so a notification lost while a listener reconnects only delays work.
CHANNEL = "graphdrive_operations"
# An operation's report changed (progress, end, cancel request): the payload is its id. API and
# monitor processes LISTEN and wake their long-polling monitors (operations/events.py).
CHANGES_CHANNEL = "graphdrive_operation_changes"


def plain_url(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql{sep}{rest}" if scheme.startswith("postgresql") else url


async def listen(url: str, wake: Callable[[], None]) -> None:
    """LISTEN for new operations until cancelled, reconnecting with backoff."""
    # On (re)connecting, catch up with whatever arrived while not listening.
    await _listen(url, CHANNEL, lambda _payload: wake(), connected=wake)


async def listen_changes(url: str, changed: Callable[[str], None]) -> None:
    """LISTEN for operations whose report changed until cancelled; ``changed(op_id)`` for
    each. A change missed while reconnecting costs a waiting monitor one poll."""
    await _listen(url, CHANGES_CHANNEL, changed)


async def _listen(
    url: str,
    channel: str,
    received: Callable[[str], None],
    connected: Callable[[], None] | None = None,
) -> None:
    import psycopg

    delay = 0.5
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(plain_url(url), autocommit=True)
            async with conn:
                await conn.execute(f"LISTEN {channel}")
                delay = 0.5
                if connected is not None:
                    connected()
                async for notification in conn.notifies():
                    received(notification.payload)
        except (psycopg.Error, OSError) as exc:
            log.warning(
                "LISTEN connection lost; polling until it is back",
                extra={"action": "listen_retry", "error": type(exc).__name__},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
