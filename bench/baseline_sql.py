"""Baseline: a plain SQL ``INSERT INTO t2 SELECT * FROM t1`` in SQLite, same rows, same pragmas.

``t1`` holds ``rows`` real rows of graphdrive's ``items`` table (taken from the seeded database,
so the width is exactly that of a copied item). Two targets are timed, each in one transaction
under graphdrive's own PRAGMAs (journal mode, ``synchronous``), commit included:

- ``bare``: ``t2`` has the same columns and no index at all — the plainest possible copy;
- ``indexed``: ``t2`` also has the indexes ``items`` has (unique ``id``, and those
  ``storage/metadata/schema.py`` declares) — the same index maintenance a copy into ``items``
  cannot avoid (foreign-key checks excluded).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

from bench.harness import apply_pragmas
from graphdrive.storage.metadata.schema import items


def indexes() -> list[str]:
    """``CREATE INDEX`` statements giving ``t2`` the indexes of graphdrive's ``items``."""
    statements = ["CREATE UNIQUE INDEX t2_id ON t2 (id)"]
    for index in sorted(items.indexes, key=lambda ix: str(ix.name)):
        columns = ", ".join(column.name for column in index.columns)
        unique = "UNIQUE " if index.unique else ""
        statements.append(f"CREATE {unique}INDEX t2_{index.name} ON t2 ({columns})")
    return statements


def _remove(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def measure(
    source_db: Path, rows: int, work: Path, pragmas: Mapping[str, str], *, repeat: int = 1
) -> dict[str, float]:
    """Rows per second of ``INSERT INTO t2 SELECT * FROM t1`` per shape (best of ``repeat``)."""
    db = work / "baseline-sql.db"
    _remove(db)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        apply_pragmas(conn, pragmas)
        conn.execute("ATTACH DATABASE ? AS src", (str(source_db),))
        conn.execute("CREATE TABLE t1 AS SELECT * FROM src.items LIMIT ?", (rows,))
        conn.execute("DETACH DATABASE src")
        copied = conn.execute("SELECT COUNT(*) FROM t1").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        results: dict[str, float] = {"rows": float(copied)}
        for shape in ("bare", "indexed") * repeat:
            conn.execute("DROP TABLE IF EXISTS t2")
            conn.execute("CREATE TABLE t2 AS SELECT * FROM t1 WHERE 0")
            if shape == "indexed":
                for statement in indexes():
                    conn.execute(statement)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t2 SELECT * FROM t1")
            conn.execute("COMMIT")
            rows_per_second = copied / (time.perf_counter() - started)
            results[shape] = max(results.get(shape, 0.0), rows_per_second)
        return results
    finally:
        conn.close()
        _remove(db)
