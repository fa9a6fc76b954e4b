"""Where a copy's time goes: graphdrive's own copy SQL, timed statement by statement.

Runs the statements of :mod:`graphdrive.operations.copy` (imported, not re-typed) with the
stdlib ``sqlite3`` driver on a scratch copy of a seeded database, in the engine's transaction
shape: one plan transaction (one snapshot ``INSERT … SELECT`` per tree level + totals), one
transaction per build batch (range totals + ``INSERT … SELECT`` + a progress ``UPDATE``; batch
sizes from the engine's own ``BatchSizer`` unless a variant fixes them), one publish transaction
(attach the top item), then — after "completed", so not counted in the copy's time — the
snapshot's ``DELETE``. No HTTP, asyncio or SQLAlchemy: the difference from the server's figure
is what the rest of the stack costs.

The plan and build transactions run under the engine's bulk PRAGMAs
(``graphdrive.storage.metadata.sqlite.BULK_PRAGMAS``: no foreign-key checks, a 64 MB page
cache, rare automatic checkpoints), the rest under the normal ones. Variants show what each of
those is worth, what no automatic checkpoint at all would add, and fixed 2,000-item batches.
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
from graphdrive.storage.metadata.sqlite import BULK_PRAGMAS, NORMAL_PRAGMAS

# The adaptive sizer starts here (graphdrive.operations.copy.BatchSizer).
DEFAULT_BATCH = BatchSizer.START
# Steps reported apart from the copy's time: they run after the operation is completed.
AFTER_COMPLETED = (
    "forget: DELETE copy_nodes (after completed)",
    "WAL checkpoint (after completed)",
)


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
    batch_size: int | None = None,
    bulk: Mapping[str, str] = BULK_PRAGMAS,
) -> dict[str, float]:
    """Seconds per statement kind for one complete copy of ``source_id`` (attached under the
    source's parent, never marked completed). ``batch_size`` None: the engine's adaptive sizes.
    ``bulk``: the PRAGMAs of the plan and build transactions (the engine's bulk writes)."""
    spent: dict[str, float] = defaultdict(float)
    conn = sqlite3.connect(db, isolation_level=None)
    apply_pragmas(conn, {**pragmas, **NORMAL_PRAGMAS})
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
        apply_pragmas(conn, bulk)
        timed("plan: BEGIN IMMEDIATE", "BEGIN IMMEDIATE")
        timed(
            "plan: snapshot → copy_nodes",
            copy_action._SNAPSHOT_TOP.format(top="id"),
            {"source_id": source_id, "op_id": op_id},
        )
        lo, hi = 1, 2
        while hi > lo:
            timed(
                "plan: snapshot → copy_nodes",
                copy_action._SNAPSHOT_LEVEL,
                {"op_id": op_id, "base": hi - 1, "lo": lo, "hi": hi},
            )
            started = time.perf_counter()
            last = conn.execute(copy_action._LAST_SEQ, {"op_id": op_id}).fetchone()[0]
            spent["plan: snapshot → copy_nodes"] += time.perf_counter() - started
            lo, hi = hi, int(last) + 1
        started = time.perf_counter()
        count = conn.execute(copy_action._TOTALS, {"op_id": op_id, "lo": 0, "hi": 2**62})
        total = int(count.fetchone()[0])
        spent["plan: totals"] += time.perf_counter() - started
        timed("plan: COMMIT", "COMMIT")
        # build
        lo = 1
        sizer = BatchSizer(batch_size)
        while lo <= total:
            hi = min(lo + sizer.size, total + 1)
            batch_started = time.perf_counter()
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
            sizer.observe(hi - lo, time.perf_counter() - batch_started)
            lo = hi
        apply_pragmas(conn, NORMAL_PRAGMAS)
        # publish
        timed("publish: BEGIN IMMEDIATE", "BEGIN IMMEDIATE")
        timed(
            "publish: attach top item",
            "UPDATE items SET parent_id = ?, name = 'PhaseCopy', name_key = 'phasecopy' "
            "WHERE id = ?",
            (parent_id, f"{prefix}1"),
        )
        timed("publish: COMMIT", "COMMIT")
        timed(AFTER_COMPLETED[0], "BEGIN IMMEDIATE")
        timed(AFTER_COMPLETED[0], "DELETE FROM copy_nodes WHERE op_id = ?", (op_id,))
        timed(AFTER_COMPLETED[0], "COMMIT")
        timed(AFTER_COMPLETED[1], "PRAGMA wal_checkpoint(PASSIVE)")
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
    shapes: dict[str, dict[str, Any]] = {
        "as configured (adaptive batches, bulk PRAGMAs)": {},
    }
    if variants:
        shapes["no bulk PRAGMAs (FK checks on, 2 MB cache, checkpoint every 1,000 pages)"] = {
            "bulk": NORMAL_PRAGMAS
        }
        shapes["bulk PRAGMAs but FK checks on"] = {"bulk": {**BULK_PRAGMAS, "foreign_keys": "ON"}}
        shapes["bulk PRAGMAs but 2 MB cache"] = {"bulk": {**BULK_PRAGMAS, "cache_size": "-2000"}}
        shapes["bulk PRAGMAs, no auto-checkpoint"] = {
            "bulk": {**BULK_PRAGMAS, "wal_autocheckpoint": "0"}
        }
        shapes[f"fixed batches of {DEFAULT_BATCH}"] = {"batch_size": DEFAULT_BATCH}
    scratch = work / "phases.db"
    best: dict[str, dict[str, float]] = {}
    try:
        for _ in range(repeat):
            for label, options in shapes.items():
                _scratch(seeded_db, scratch)
                spent = time_copy(scratch, source_id, pragmas, **options)
                items = int(spent.pop("items"))
                total = sum(v for k, v in spent.items() if k not in AFTER_COMPLETED)
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
                if kind in AFTER_COMPLETED:
                    say(f"      {seconds:8.3f} s      -  {kind}, not in the copy's time")
                elif seconds >= 0.005 * total:
                    say(f"      {seconds:8.3f} s {seconds / total:5.0%}  {kind}")
        return best
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
