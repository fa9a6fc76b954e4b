"""Where a copy's time goes: graphdrive's own copy SQL, timed statement by statement.

Runs the statements of :mod:`graphdrive.operations.copy` (imported, not re-typed) with the
stdlib ``sqlite3`` driver on a scratch copy of a seeded database, in the engine's transaction
shape: one plan transaction (snapshot CTE + totals), one transaction per build batch (range
totals + ``INSERT … SELECT`` + a progress ``UPDATE``), one publish transaction (attach the top
item + ``DELETE`` the snapshot). No HTTP, asyncio or SQLAlchemy: the difference from the
server's figure is what the rest of the stack costs.

Variants show what would change the figure: foreign-key checks off during the build, a larger
page cache, no automatic WAL checkpoints during the copy (one at the end), a 10x larger batch.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import apply_pragmas, human, rate, say
from graphdrive.operations import copy as copy_action
from graphdrive.operations.copy import BatchSizer

# The adaptive sizer starts here (graphdrive.operations.copy.BatchSizer).
DEFAULT_BATCH = BatchSizer.START


def _scratch(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def time_copy(
    db: Path,
    source_id: str,
    pragmas: Mapping[str, str],
    *,
    batch_size: int,
    foreign_keys: bool = True,
    extra_pragmas: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Seconds per statement kind for one complete copy of ``source_id`` (never published)."""
    spent: dict[str, float] = defaultdict(float)
    conn = sqlite3.connect(db, isolation_level=None)
    apply_pragmas(conn, {**pragmas, **(extra_pragmas or {})})
    op_id, prefix = "BENCHPHASES", "BENCHPHASESPREFIX000-"
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    parent_id, drive_id, progress_row = conn.execute(
        "SELECT parent_id, drive_id, (SELECT id FROM operations LIMIT 1) FROM items WHERE id = ?",
        (source_id,),
    ).fetchone()

    def timed(kind: str, sql: str, params: Mapping[str, object] | tuple[object, ...] = ()) -> None:
        started = time.perf_counter()
        conn.execute(sql, params)
        spent[kind] += time.perf_counter() - started

    try:
        # plan
        timed("plan: BEGIN IMMEDIATE", "BEGIN IMMEDIATE")
        timed(
            "plan: snapshot CTE → copy_nodes",
            copy_action._SNAPSHOT.format(top="id"),
            {"source_id": source_id, "op_id": op_id},
        )
        started = time.perf_counter()
        count = conn.execute(copy_action._TOTALS, {"op_id": op_id, "lo": 0, "hi": 2**62})
        total = int(count.fetchone()[0])
        spent["plan: totals"] += time.perf_counter() - started
        timed("plan: COMMIT", "COMMIT")
        # build
        conn.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        lo = 1
        while lo <= total:
            hi = min(lo + batch_size, total + 1)
            bounds = {"op_id": op_id, "lo": lo, "hi": hi}
            timed("build: BEGIN IMMEDIATE", "BEGIN IMMEDIATE")
            timed("build: range totals", copy_action._TOTALS, bounds)
            timed(
                "build: INSERT items … SELECT copy_nodes",
                copy_action._BUILD,
                {
                    **bounds,
                    "prefix": prefix,
                    "drive_id": drive_id,
                    "now": now,
                    "user_id": "alice",
                    "user_name": "alice",
                },
            )
            if progress_row is not None:
                timed(
                    "build: progress UPDATE",
                    "UPDATE operations SET checkpoint = ?, updated_at = ? WHERE id = ?",
                    (f'{{"next_seq": {hi}}}', now, progress_row),
                )
            timed("build: COMMIT", "COMMIT")
            lo = hi
        conn.execute(f"PRAGMA foreign_keys={pragmas.get('foreign_keys', '1')}")
        # publish
        timed("publish: BEGIN IMMEDIATE", "BEGIN IMMEDIATE")
        timed(
            "publish: attach top item",
            "UPDATE items SET parent_id = ?, name = 'PhaseCopy', name_key = 'phasecopy' "
            "WHERE id = ?",
            (parent_id, f"{prefix}1"),
        )
        timed(
            "publish: DELETE copy_nodes",
            "DELETE FROM copy_nodes WHERE op_id = ?",
            (op_id,),
        )
        timed("publish: COMMIT", "COMMIT")
        if (extra_pragmas or {}).get("wal_autocheckpoint") == "0":
            timed("checkpoint (deferred)", "PRAGMA wal_checkpoint(TRUNCATE)")
        spent["items"] = total
        return dict(spent)
    finally:
        conn.close()


def run(
    work: Path,
    seeded_db: Path,
    source_id: str,
    pragmas: Mapping[str, str],
    *,
    variants: bool = True,
    repeat: int = 1,
) -> dict[str, dict[str, float]]:
    """Time the copy SQL on scratch copies of ``seeded_db``; print a breakdown per variant.

    With ``repeat`` > 1 the variants run round-robin and each keeps its fastest run, so a
    burst of load from other processes does not decide a comparison.
    """
    big_cache = {"cache_size": "-65536"}
    shapes: dict[str, dict[str, Any]] = {
        f"first adaptive batch size ({DEFAULT_BATCH}, FKs on)": {"batch_size": DEFAULT_BATCH},
    }
    if variants:
        shapes["FK checks off in build"] = {"batch_size": DEFAULT_BATCH, "foreign_keys": False}
        shapes["64 MB page cache"] = {"batch_size": DEFAULT_BATCH, "extra_pragmas": big_cache}
        shapes["no auto-checkpoint (one checkpoint at the end)"] = {
            "batch_size": DEFAULT_BATCH,
            "extra_pragmas": {"wal_autocheckpoint": "0"},
        }
        shapes[f"batch {DEFAULT_BATCH * 10}"] = {"batch_size": DEFAULT_BATCH * 10}
        shapes[f"batch {DEFAULT_BATCH * 10} + 64 MB cache + no auto-checkpoint"] = {
            "batch_size": DEFAULT_BATCH * 10,
            "extra_pragmas": {**big_cache, "wal_autocheckpoint": "0"},
        }
    scratch = work / "phases.db"
    best: dict[str, dict[str, float]] = {}
    try:
        for _ in range(repeat):
            for label, options in shapes.items():
                _scratch(seeded_db, scratch)
                spent = time_copy(scratch, source_id, pragmas, **options)
                items = int(spent.pop("items"))
                total = sum(spent.values())
                if label not in best or total < best[label]["total"]:
                    best[label] = {**spent, "total": total, "items": items}
        for label, figures in best.items():
            spent = {k: v for k, v in figures.items() if k not in ("total", "items")}
            total, items = figures["total"], int(figures["items"])
            say(
                f"  copy SQL, {label}: {total:.2f} s for {items:,} items → "
                f"{human(rate(items, total))} items/s"
            )
            for kind, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
                if seconds >= 0.005 * total:
                    say(f"      {seconds:8.3f} s {seconds / total:5.0%}  {kind}")
        return best
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
