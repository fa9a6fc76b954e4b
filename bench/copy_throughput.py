"""Copy throughput: a seeded tree of N items copied by a real server, beside two baselines.

For each size: seed a fresh data dir, start ``graphdrive serve`` (``GRAPHDRIVE_WORKERS=1``,
default settings otherwise), ``POST …/copy``, poll the monitor until ``completed``. Reported:

- items/s from sending the POST to seeing ``completed`` (client clock, polling with short
  sleeps of ≤ 2% of the elapsed time), and from the operation's own ``created_at`` →
  ``finished_at`` (server clock: accept commit → publish commit);
- the server's peak RSS (``VmHWM`` from /proc, plus the largest ``VmRSS`` sampled every
  50 ms) and its RSS when idle before the copy; its CPU time during the copy;
- in the same run on the same disk, with the server stopped: the plain SQL
  ``INSERT … SELECT`` rate (:mod:`bench.baseline_sql`) and the ``cp -r`` rate
  (:mod:`bench.baseline_cp`), and the ratios.
"""

from __future__ import annotations

import math
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from bench import baseline_cp, baseline_sql
from bench.harness import (
    RssSampler,
    Server,
    SystemCpu,
    graphdrive_pragmas,
    human,
    mint_token,
    proc_cpu_seconds,
    proc_status_kb,
    rate,
    say,
    seed,
)


@dataclass
class CopyResult:
    items: int
    seed_seconds: float = 0.0
    client_seconds: float = 0.0
    server_seconds: float = 0.0
    idle_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0  # VmHWM: the kernel's high-water mark of the server process
    sampled_rss_mb: float = 0.0
    server_cpu_seconds: float = 0.0
    others_cores: float = 0.0  # cores busy with other processes during the copy
    items_added: int = 0
    sql_bare_rate: float = float("nan")
    sql_indexed_rate: float = float("nan")
    cp_rate: float = float("nan")
    runs: list[float] = field(default_factory=list)  # client seconds of each repeat
    notes: list[str] = field(default_factory=list)

    @property
    def client_rate(self) -> float:
        return rate(self.items, self.client_seconds)

    @property
    def server_rate(self) -> float:
        return rate(self.items, self.server_seconds)

    @property
    def vs_sql_bare(self) -> float:
        return self.client_rate / self.sql_bare_rate

    @property
    def vs_sql_indexed(self) -> float:
        return self.client_rate / self.sql_indexed_rate

    @property
    def vs_cp(self) -> float:
        return self.client_rate / self.cp_rate


def ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}x"


def _item_count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    finally:
        conn.close()


def _server_seconds(db: Path) -> list[tuple[float, int]]:
    """(created → finished seconds, total_items) of each completed operation."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT created_at, finished_at, total_items FROM operations "
            "WHERE status = 'completed' ORDER BY created_at"
        ).fetchall()
    finally:
        conn.close()
    return [
        ((datetime.fromisoformat(f) - datetime.fromisoformat(c)).total_seconds(), int(total))
        for c, f, total in rows
    ]


def copy_once(work: Path, items: int, timeout: float, repeat: int = 1) -> CopyResult:
    result = CopyResult(items)
    data = work / f"copy-{items}"
    say(f"  seeding {items:,} items …")
    seeded = seed(data, items)
    result.seed_seconds = seeded["seconds"]
    db = data / "graphdrive.db"
    before = _item_count(db)
    token = mint_token(data)
    with Server(data, {"GRAPHDRIVE_WORKERS": "1"}) as server, server.client(token) as client:
        time.sleep(0.5)  # let start-up work (migrations, worker start) settle
        result.idle_rss_mb = proc_status_kb(server.pid, "VmRSS") / 1024
        cpu_before = proc_cpu_seconds(server.pid)
        with RssSampler(server.pid) as sampler, SystemCpu() as system:
            busy = 0.0
            for attempt in range(repeat):
                seconds, status = copy_and_wait(
                    client, seeded["id"], f"Copy {attempt + 1}", timeout
                )
                if status != "completed":
                    raise RuntimeError(f"copy of {items} items ended {status!r} ({server.log})")
                result.runs.append(seconds)
                busy += seconds
            result.server_cpu_seconds = proc_cpu_seconds(server.pid) - cpu_before
            result.peak_rss_mb = proc_status_kb(server.pid, "VmHWM") / 1024
        result.sampled_rss_mb = sampler.peak_kb / 1024
        result.others_cores = max(0.0, system.busy_cores - result.server_cpu_seconds / busy)
    result.client_seconds = min(result.runs)
    server_runs = _server_seconds(db)
    result.server_seconds = min(seconds for seconds, _ in server_runs)
    result.items_added = _item_count(db) - before
    if any(total != items for _, total in server_runs) or result.items_added != items * repeat:
        result.notes.append(
            f"operations counted {[t for _, t in server_runs]}, "
            f"items table grew by {result.items_added}"
        )
    return result


def copy_and_wait(
    client: httpx.Client, source_id: str, name: str, timeout: float
) -> tuple[float, str]:
    """POST a copy and poll its monitor until it ends: (seconds, final status)."""
    started = time.perf_counter()
    answer = client.post(f"/me/drive/items/{source_id}/copy", json={"name": name})
    if answer.status_code != 202:
        raise RuntimeError(f"POST copy answered {answer.status_code}: {answer.text}")
    monitor = answer.headers["Location"]
    status = "notStarted"
    while time.perf_counter() - started < timeout:
        status = client.get(monitor).json()["status"]
        if status in ("completed", "failed", "cancelled"):
            break
        time.sleep(min(0.25, max(0.005, (time.perf_counter() - started) / 50)))
    return time.perf_counter() - started, status


def run(
    work: Path, sizes: list[int], *, cp_max_items: int, repeat: int = 1, timeout: float = 3600.0
) -> list[CopyResult]:
    pragmas = graphdrive_pragmas(work / "pragmas.db")
    say(f"graphdrive's SQLite PRAGMAs (used for the SQL baseline too): {pragmas}")
    results = []
    for items in sizes:
        say(f"copy throughput, {items:,} items")
        result = copy_once(work, items, timeout, repeat)
        say(
            f"  graphdrive copy: {result.client_seconds:.2f} s → "
            f"{human(result.client_rate)} items/s "
            f"(server clock {result.server_seconds:.2f} s → {human(result.server_rate)} items/s); "
            f"server CPU {result.server_cpu_seconds:.2f} s, other processes "
            f"{result.others_cores:.1f} cores; RSS idle {result.idle_rss_mb:.0f} MB, "
            f"peak {result.peak_rss_mb:.0f} MB (VmHWM), sampled max {result.sampled_rss_mb:.0f} MB"
        )
        sql = baseline_sql.measure(
            work / f"copy-{items}" / "graphdrive.db", items, work, pragmas, repeat=repeat
        )
        result.sql_bare_rate, result.sql_indexed_rate = sql["bare"], sql["indexed"]
        say(
            f"  SQL INSERT…SELECT of {int(sql['rows']):,} item rows: bare "
            f"{human(sql['bare'])} rows/s, with items' indexes {human(sql['indexed'])} rows/s"
        )
        if items <= cp_max_items:
            cp = baseline_cp.measure(work, items, repeat=repeat)
            result.cp_rate = cp["rate"]
            say(
                f"  cp -r of the same tree: {cp['seconds']:.2f} s → {human(cp['rate'])} items/s, "
                f"best of {max(repeat, baseline_cp.MIN_RUNS)} (slowest "
                f"{human(cp['slowest'])} items/s; creating it took {cp['create_seconds']:.1f} s)"
            )
        else:
            say(f"  cp -r: skipped above --cp-max-items={cp_max_items:,}")
        say(
            f"  ratios: copy/SQL bare {result.vs_sql_bare:.0%}, copy/SQL indexed "
            f"{result.vs_sql_indexed:.0%}, copy/cp -r {ratio(result.vs_cp)}"
        )
        for note in result.notes:
            say(f"  NOTE: {note}")
        results.append(result)
    return results
