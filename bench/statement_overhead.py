"""What one small SQL statement costs through graphdrive's database layer, in process.

The request paths (``POST …/copy``, the monitor ``GET``) run a handful of tiny statements each;
their cost is per statement, not per row. This times the same point lookup several ways on a
seeded database: stdlib ``sqlite3`` (SQLite itself); graphdrive's ``Database.read()`` with a
SQLAlchemy Core ``select`` (async engine over aiosqlite, one thread hop per call);
``Database.glance()`` with the same ``select`` (the hot paths' read: on SQLite a read-only
``sqlite3`` connection on the event loop's thread); and a single read unit of work running the
lookup several times (connection checkout and ``BEGIN`` paid once). Also timed: a write unit of
work updating one row of a scratch table (``BEGIN IMMEDIATE`` … ``COMMIT``, with the fsync
``synchronous`` asks for).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, text

from bench.harness import apply_pragmas, say
from graphdrive.storage.metadata.database import open_database
from graphdrive.storage.metadata.schema import items

ROUNDS = 500


@dataclass
class Overhead:
    sqlite3_ms: float
    unit_of_work_ms: float  # Database.read() + one select
    glance_ms: float  # Database.glance() + one select
    statement_ms: float  # one more select inside an open unit of work
    write_commit_ms: float  # Database.write() with a one-row UPDATE: lock, BEGIN, commit+fsync


def _sqlite3_ms(db: Path, pragmas: Mapping[str, str], item_id: str) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        apply_pragmas(conn, pragmas)
        started = time.perf_counter()
        for _ in range(ROUNDS):
            conn.execute("BEGIN")
            conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
            conn.execute("COMMIT")
        return (time.perf_counter() - started) / ROUNDS * 1000
    finally:
        conn.close()


async def _graphdrive_ms(db: Path, item_id: str) -> tuple[float, float, float, float]:
    database = open_database(f"sqlite:///{db}")
    query = select(items).where(items.c.id == item_id)
    try:
        async with database.read() as conn:  # warm the pool and the statement cache
            (await conn.execute(query)).first()
        started = time.perf_counter()
        for _ in range(ROUNDS):
            async with database.read() as conn:
                (await conn.execute(query)).first()
        unit = (time.perf_counter() - started) / ROUNDS * 1000
        async with database.glance() as conn:
            (await conn.execute(query)).first()
        started = time.perf_counter()
        for _ in range(ROUNDS):
            async with database.glance() as conn:
                (await conn.execute(query)).first()
        glance = (time.perf_counter() - started) / ROUNDS * 1000
        async with database.read() as conn:
            started = time.perf_counter()
            for _ in range(ROUNDS):
                (await conn.execute(query)).first()
            statement = (time.perf_counter() - started) / ROUNDS * 1000
        touch = text("UPDATE bench_touch SET n = n + 1")
        writes = ROUNDS // 5
        started = time.perf_counter()
        for _ in range(writes):
            async with database.write() as conn:
                await conn.execute(touch)
        write = (time.perf_counter() - started) / writes * 1000
        return unit, glance, statement, write
    finally:
        await database.dispose()


def run(db: Path, pragmas: Mapping[str, str]) -> Overhead:
    conn = sqlite3.connect(db)
    try:
        item_id = str(conn.execute("SELECT id FROM items LIMIT 1 OFFSET 5").fetchone()[0])
        conn.execute("CREATE TABLE IF NOT EXISTS bench_touch (n INTEGER)")
        conn.execute("INSERT INTO bench_touch VALUES (0)")
        conn.commit()
    finally:
        conn.close()
    raw = _sqlite3_ms(db, pragmas, item_id)
    unit, glance, statement, write = asyncio.run(_graphdrive_ms(db, item_id))
    result = Overhead(raw, unit, glance, statement, write)
    say("one point lookup (SELECT … WHERE id = ?), per call:")
    say(f"  stdlib sqlite3, BEGIN + SELECT + COMMIT:         {raw:6.3f} ms")
    say(f"  graphdrive Database.read() + SQLAlchemy select:  {unit:6.3f} ms")
    say(f"  graphdrive Database.glance() + the same select:  {glance:6.3f} ms")
    say(f"  one more select inside an open unit of work:     {statement:6.3f} ms")
    say(f"  Database.write(), one-row UPDATE, commit+fsync:  {write:6.3f} ms")
    return result
