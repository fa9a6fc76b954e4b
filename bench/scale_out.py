"""PostgreSQL beside SQLite, and worker processes: the scale-out figures of issue 5.

Every run starts on fresh scratch data: a data dir under the work dir (signing secret, blobs)
and, on PostgreSQL, a scratch database ``bench_<random>`` on the local server, dropped
afterwards even when a run fails. All traffic stays on loopback.

``backends`` (:func:`run_backends`), SQLite and then PostgreSQL, one after the other:

1. **Copy.** The same seeded tree (``graphdrive.devtools.seed --database-url``) copied by a
   ``graphdrive serve`` with ``GRAPHDRIVE_WORKERS=1`` (as :mod:`bench.copy_throughput`):
   items/s from the POST to the monitor's ``completed``, peak server RSS (``VmHWM``), server
   CPU, and the CPU the PostgreSQL server spent on the scratch database.
2. **Monitor.** 50 concurrent raw asyncio clients GET a completed operation's monitor (as
   :mod:`bench.monitor_throughput`).

``workers`` (:func:`run_workers`): many copies started at once. ``USERS`` users each own a
seeded tree; ``copies`` POSTs (round-robin over the users, so the per-user limit of
``GRAPHDRIVE_MAX_ACTIVE_OPERATIONS_PER_USER`` = 4 running copies never binds) are sent
together. Topologies: on PostgreSQL an API process ``graphdrive serve`` with
``GRAPHDRIVE_WORKERS=0`` plus 1 or 2 ``graphdrive worker`` processes, each with a pool of 1, 2
(the default) or 4 workers; for reference the embedded default (``serve`` with 2 in-process
workers) on SQLite and on PostgreSQL. Reported: total items/s from the first POST to the last
operation's ``finished_at`` (same machine clock), the CPU time of every process (API, each
worker process, PostgreSQL, the load generator) and what other processes used meanwhile.
Completion is detected by reading the ``operations`` table, not by polling monitors, so that
the measurement adds no HTTP load.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.copy_throughput import copy_and_wait
from bench.harness import (
    Load,
    RawClient,
    RssSampler,
    Server,
    SystemCpu,
    closed_loop,
    human,
    mint_token,
    postgres_available,
    proc_cpu_seconds,
    proc_status_kb,
    rate,
    say,
    scratch_postgres,
    seed,
)
from bench.monitor_throughput import WARMUP, completed_monitor

BACKENDS = ("sqlite", "postgres")
USERS = 4
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Topology:
    backend: str
    serve_workers: int  # in-process workers of `graphdrive serve` (0: API only)
    worker_processes: int = 0  # separate `graphdrive worker` processes
    pool: int = 0  # GRAPHDRIVE_WORKERS of each worker process

    @property
    def tag(self) -> str:
        """A folder-name-safe name of the topology."""
        return f"{self.backend}-{self.serve_workers}-{self.worker_processes}x{self.pool}"

    @property
    def label(self) -> str:
        db = "SQLite" if self.backend == "sqlite" else "PostgreSQL"
        if not self.worker_processes:
            return f"{db}, embedded: serve with {self.serve_workers} in-process workers"
        n, s = self.worker_processes, "es" if self.worker_processes > 1 else ""
        return f"{db}, serve --workers 0 + {n} worker process{s}, pool {self.pool} each"


# 1 against 2 worker processes next to each other in time, then the pool size varied.
TOPOLOGIES = (
    Topology("postgres", 0, 1, 2),
    Topology("postgres", 0, 2, 2),
    Topology("postgres", 0, 1, 1),
    Topology("postgres", 0, 2, 1),
    Topology("postgres", 0, 1, 4),
    Topology("postgres", 2),
    Topology("sqlite", 2),
)


@dataclass
class CopyRun:
    backend: str
    items: int
    attempt: int = 1
    seed_seconds: float = 0.0
    seconds: float = 0.0  # client clock: POST → monitor says completed
    server_seconds: float = 0.0  # operation created_at → finished_at
    idle_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0  # VmHWM
    server_cpu_seconds: float = 0.0
    postgres_cpu_seconds: float = 0.0
    others_cores: float = 0.0

    @property
    def rate(self) -> float:
        return rate(self.items, self.seconds)


@dataclass
class MonitorRun:
    backend: str
    load: Load
    postgres_cpu_seconds: float = 0.0


@dataclass
class ManyRun:
    topology: Topology
    copies: int
    tree: int
    attempt: int = 1
    accept_seconds: float = 0.0  # first POST sent → last 202 received
    seconds: float = 0.0  # first POST sent → last finished_at
    server_seconds: float = 0.0  # first created_at → last finished_at
    statuses: dict[str, int] = field(default_factory=dict)
    items_done: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # process → CPU seconds
    others_cores: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return rate(self.items_done, self.seconds)


def _postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds of the local PostgreSQL processes serving ``database``, by PID.

    Counted: client backends connected to ``database`` (their command line names it) and the
    server's shared background processes (checkpointer, WAL writer, autovacuum, …). Backends
    of other databases (other people's) are left out. Needs a PostgreSQL on this machine.
    """
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        client = "(" in command and ")" in command  # "… user db 127.0.0.1(port) state"
        if not client or f" {database} " in command:
            found[int(entry.name)] = proc_cpu_seconds(int(entry.name))
    return found


class PostgresCpu:
    """CPU time the local PostgreSQL server spent on one database over a span (see above).

    A backend that exits inside the span loses its CPU time; pooled connections live as long as
    the graphdrive processes, so sample before stopping them. ``database=None`` measures nothing.
    """

    def __init__(self, database: str | None) -> None:
        self.database = database
        self.seconds = 0.0
        self._start: dict[int, float] = {}

    def __enter__(self) -> PostgresCpu:
        if self.database:
            self._start = _postgres_cpu(self.database)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.database:
            end = _postgres_cpu(self.database)
            self.seconds = sum(cpu - self._start.get(pid, 0.0) for pid, cpu in end.items())


# -- data -----------------------------------------------------------------------------------
def _db_env(url: str | None) -> dict[str, str]:
    return {"GRAPHDRIVE_DATABASE_URL": url} if url else {}


def _utc(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _operations(data: Path, url: str | None) -> list[tuple[str, datetime, datetime | None, int]]:
    """(status, created_at, finished_at, total_items) of every operation."""
    query = "SELECT status, created_at, finished_at, total_items FROM operations"
    if url:
        import psycopg

        with psycopg.connect(url) as pg:
            rows: list[Any] = pg.execute(query).fetchall()
    else:
        lite = sqlite3.connect(data / "graphdrive.db")
        try:
            rows = lite.execute(query).fetchall()
        finally:
            lite.close()
    return [
        (str(s), _utc(c), _utc(f) if f is not None else None, int(t or 0)) for s, c, f, t in rows
    ]


class _Finished:
    """Counts finished operations straight from the database (cheap; no HTTP, no monitor)."""

    QUERY = "SELECT COUNT(*) FROM operations WHERE status IN ('completed', 'failed', 'cancelled')"

    def __init__(self, data: Path, url: str | None) -> None:
        self._pg: Any = None
        self._lite: sqlite3.Connection | None = None
        if url:
            import psycopg

            self._pg = psycopg.connect(url, autocommit=True)
        else:
            self._lite = sqlite3.connect(data / "graphdrive.db", isolation_level=None)

    def count(self) -> int:
        conn: Any = self._pg if self._pg is not None else self._lite
        return int(conn.execute(self.QUERY).fetchone()[0])

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._lite is not None:
            self._lite.close()


@contextlib.contextmanager
def _database(backend: str, admin_url: str, template: str | None = None) -> Any:
    """(url, name) of a scratch PostgreSQL database, or (None, None) for SQLite."""
    if backend == "sqlite":
        yield None, None
        return
    with scratch_postgres(admin_url, template=template) as scratch:
        yield scratch


# -- 1 + 2: SQLite beside PostgreSQL ----------------------------------------------------------
def _copy_run(
    work: Path, backend: str, items: int, admin_url: str, timeout: float, attempt: int
) -> CopyRun:
    result = CopyRun(backend, items, attempt)
    data = work / f"scale-copy-{backend}-{items}-{attempt}"
    with _database(backend, admin_url) as (url, name):
        say(f"  {backend}: seeding {items:,} items …")
        seeded = seed(data, items, database_url=url)
        result.seed_seconds = seeded["seconds"]
        token = mint_token(data)
        env = {"GRAPHDRIVE_WORKERS": "1", **_db_env(url)}
        with Server(data, env) as server, server.client(token) as client:
            time.sleep(0.5)
            result.idle_rss_mb = proc_status_kb(server.pid, "VmRSS") / 1024
            cpu_before = proc_cpu_seconds(server.pid)
            with RssSampler(server.pid), SystemCpu() as system, PostgresCpu(name) as pg:
                seconds, status = copy_and_wait(client, seeded["id"], "Copy", timeout)
                result.server_cpu_seconds = proc_cpu_seconds(server.pid) - cpu_before
                result.peak_rss_mb = proc_status_kb(server.pid, "VmHWM") / 1024
            if status != "completed":
                raise RuntimeError(f"{backend} copy of {items} items ended {status!r}")
            result.seconds = seconds
            result.postgres_cpu_seconds = pg.seconds
            mine = (result.server_cpu_seconds + pg.seconds) / seconds
            result.others_cores = max(0.0, system.busy_cores - mine)
        ops = [op for op in _operations(data, url) if op[0] == "completed" and op[2]]
        if ops:
            _, created, finished, _ = ops[0]
            result.server_seconds = (finished - created).total_seconds() if finished else 0.0
    shutil.rmtree(data, ignore_errors=True)
    say(
        f"    copy {seconds:.2f} s → {human(result.rate)} items/s (server clock "
        f"{result.server_seconds:.2f} s); server CPU {result.server_cpu_seconds:.2f} s, "
        f"PostgreSQL CPU {result.postgres_cpu_seconds:.2f} s, other processes "
        f"{result.others_cores:.1f} cores; RSS idle {result.idle_rss_mb:.0f} MB, peak "
        f"{result.peak_rss_mb:.0f} MB (VmHWM); seeding took {result.seed_seconds:.1f} s"
    )
    return result


def _monitor_run(
    work: Path, backend: str, admin_url: str, concurrency: int, requests: int, max_s: float
) -> MonitorRun:
    data = work / f"scale-monitor-{backend}"
    with _database(backend, admin_url) as (url, name):
        token = mint_token(data)
        with Server(data, {"GRAPHDRIVE_WORKERS": "1", **_db_env(url)}) as server:
            path = urlsplit(completed_monitor(server, token)).path

            async def get(client: RawClient, _: int) -> Any:
                return await client.get(path)

            async def measure() -> MonitorRun:
                raw = RawClient(server.origin)
                common: dict[str, Any] = {
                    "server_pid": server.pid,
                    "concurrency": concurrency,
                    "max_seconds": max_s,
                }
                try:
                    await closed_loop(raw, get, total=WARMUP, **common)
                    with PostgresCpu(name) as pg:
                        load = await closed_loop(raw, get, total=requests, **common)
                    return MonitorRun(backend, load, pg.seconds)
                finally:
                    await raw.aclose()

            measured = asyncio.run(measure())
    pg_ms = measured.postgres_cpu_seconds / max(1, measured.load.count) * 1000
    say(f"  {backend}: {measured.load.describe()}; PostgreSQL CPU {pg_ms:.2f} ms/request")
    return measured


def run_backends(
    work: Path,
    sizes: list[int],
    *,
    admin_url: str,
    concurrency: int,
    requests: int,
    max_seconds: float,
    repeat: int = 1,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Copies (each size, SQLite then PostgreSQL, ``repeat`` rounds), then monitor GETs."""
    why = postgres_available(admin_url)
    if why:
        say(f"backends: skipped, PostgreSQL at {admin_url} is not reachable ({why})")
        return {}
    copies: list[CopyRun] = []
    for attempt in range(1, repeat + 1):
        for items in sizes:
            say(f"copy throughput, SQLite beside PostgreSQL, {items:,} items (round {attempt})")
            for backend in BACKENDS:
                copies.append(_copy_run(work, backend, items, admin_url, timeout, attempt))
    say(f"monitor GET throughput (completed operation, {concurrency} raw clients)")
    monitors = [
        _monitor_run(work, backend, admin_url, concurrency, requests, max_seconds)
        for backend in BACKENDS
    ]
    return {"copy": copies, "monitor": monitors}


# -- 3: many concurrent copies ----------------------------------------------------------------
async def _post_all(
    api: str, sources: list[tuple[str, str]], copies: int, tag: str
) -> tuple[float, list[int], str]:
    """POST ``copies`` copies at once, round-robin over the users.

    Returns (seconds until the last answer, statuses, the body of one refusal if any).
    """
    clients = [
        httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {t}"}, timeout=120)
        for t, _ in sources
    ]

    async def post(i: int) -> int:
        client, (_, source) = clients[i % len(sources)], sources[i % len(sources)]
        answer = await client.post(f"/me/drive/items/{source}/copy", json={"name": f"{tag} {i}"})
        if answer.status_code != 202:
            refusals.append(answer.text[:300])
        return answer.status_code

    refusals: list[str] = []
    started = time.perf_counter()
    try:
        statuses = await asyncio.gather(*(post(i) for i in range(copies)))
    finally:
        for client in clients:
            await client.aclose()
    return time.perf_counter() - started, list(statuses), (refusals or [""])[0]


def _many_run(
    data: Path,
    topology: Topology,
    url: str | None,
    name: str | None,
    sources: list[tuple[str, str]],
    copies: int,
    tree: int,
    timeout: float,
) -> ManyRun:
    result = ManyRun(topology, copies, tree)
    env = _db_env(url)
    with contextlib.ExitStack() as stack:
        api = stack.enter_context(
            Server(data, {**env, "GRAPHDRIVE_WORKERS": str(topology.serve_workers)}, name="api")
        )
        processes = {"API" if not topology.serve_workers else "serve": api.pid}
        for n in range(topology.worker_processes):
            worker = Server(
                data,
                {**env, "GRAPHDRIVE_WORKERS": str(topology.pool)},
                role="worker",
                name=f"worker{n + 1}",
            )
            processes[f"worker {n + 1}"] = stack.enter_context(worker).pid
        finished = _Finished(data, url)
        stack.callback(finished.close)
        already = finished.count()
        time.sleep(0.5)  # let start-up settle (migrations, LISTEN connections)
        before = {label: proc_cpu_seconds(pid) for label, pid in processes.items()}
        client_cpu = time.process_time()
        with SystemCpu() as system, PostgresCpu(name) as pg:
            wall_start = datetime.now(UTC)
            started = time.perf_counter()
            result.accept_seconds, posted, refusal = asyncio.run(
                _post_all(api.api, sources, copies, f"Copy {topology.tag}")
            )
            accepted = sum(1 for code in posted if code == 202)
            if accepted < copies:
                result.notes.append(f"POST statuses {sorted(posted)}: {refusal}")
            while finished.count() - already < accepted:
                if time.perf_counter() - started > timeout:
                    result.notes.append(f"stopped waiting after {timeout:.0f} s")
                    break
                time.sleep(POLL_SECONDS)
            elapsed = time.perf_counter() - started
            result.cpu = {
                label: proc_cpu_seconds(pid) - before[label] for label, pid in processes.items()
            }
        result.cpu["PostgreSQL"] = pg.seconds
        result.cpu["load generator"] = time.process_time() - client_cpu
        result.others_cores = max(0.0, system.busy_cores - sum(result.cpu.values()) / elapsed)
    ops = [op for op in _operations(data, url) if op[1] >= wall_start]
    for status, _, _, _ in ops:
        result.statuses[status] = result.statuses.get(status, 0) + 1
    done = [op for op in ops if op[0] == "completed" and op[2] is not None]
    result.items_done = sum(op[3] for op in done)
    if done:
        last = max(op[2] for op in done if op[2] is not None)
        result.seconds = (last - wall_start).total_seconds()
        result.server_seconds = (last - min(op[1] for op in ops)).total_seconds()
    else:
        result.seconds = elapsed
    if result.items_done != copies * tree:
        result.notes.append(f"{result.items_done:,} items copied, expected {copies * tree:,}")
    cpu = ", ".join(f"{k} {v:.1f} s" for k, v in result.cpu.items())
    say(
        f"  {topology.label}: {result.items_done:,} items in {result.seconds:.1f} s → "
        f"{human(result.rate)} items/s (accepts took {result.accept_seconds:.1f} s); "
        f"CPU: {cpu}; other processes {result.others_cores:.1f} cores; {result.statuses}"
    )
    for note in result.notes:
        say(f"    NOTE: {note}")
    return result


def _seed_users(data: Path, tree: int, url: str | None) -> list[tuple[str, str]]:
    """One tree per user; returns [(token, source folder id)] in user order."""
    sources = []
    for n in range(USERS):
        user = f"user{n + 1}"
        seeded = seed(data, tree, user=user, name="Tree", database_url=url)
        sources.append((mint_token(data, user), str(seeded["id"])))
    return sources


def run_workers(
    work: Path,
    *,
    admin_url: str,
    copies: int,
    tree: int,
    repeat: int = 1,
    timeout: float = 180.0,
) -> list[ManyRun]:
    """Every topology once per repetition, interleaved, each on a fresh copy of the seed."""
    why = postgres_available(admin_url)
    backends = ["sqlite"] if why else list(BACKENDS)
    if why:
        say(f"workers: PostgreSQL topologies skipped, {admin_url} is not reachable ({why})")
    say(
        f"many concurrent copies: {copies} copies of a {tree:,}-item tree, {USERS} users "
        f"(round-robin), all POSTed at once"
    )
    results: list[ManyRun] = []
    with contextlib.ExitStack() as stack:
        seeded: dict[str, tuple[Path, str | None, list[tuple[str, str]]]] = {}
        for backend in backends:
            url, template = stack.enter_context(_database(backend, admin_url))
            data = work / f"scale-many-{backend}"
            say(f"  seeding {USERS} trees of {tree:,} items on {backend} …")
            seeded[backend] = (data, template, _seed_users(data, tree, url))
        sqlite_seed = work / "scale-many-sqlite.seed.db"
        if "sqlite" in seeded:
            _backup(seeded["sqlite"][0] / "graphdrive.db", sqlite_seed)
        for attempt in range(repeat):
            for topology in (t for t in TOPOLOGIES if t.backend in seeded):
                data, template, sources = seeded[topology.backend]
                if topology.backend == "sqlite":
                    _backup(sqlite_seed, data / "graphdrive.db")
                    run = _many_run(data, topology, None, None, sources, copies, tree, timeout)
                else:
                    # A fresh database per run, cloned from the seeded one (no connection is
                    # open to the template: CREATE DATABASE … TEMPLATE needs that).
                    with scratch_postgres(admin_url, template=template) as (url, name):
                        run = _many_run(data, topology, url, name, sources, copies, tree, timeout)
                run.attempt = attempt + 1
                results.append(run)
    return results


def _backup(source: Path, target: Path) -> None:
    """Copy a SQLite database with the backup API (consistent; replaces ``target``)."""
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


# -- summary ----------------------------------------------------------------------------------
def _rates(runs: list[Any]) -> str:
    """The best rate, and every run's when there were several."""
    rates = [run.rate for run in runs]
    every = f" (runs: {', '.join(f'{r:,.0f}' for r in rates)})" if len(rates) > 1 else ""
    return f"{max(rates):>9,.0f}{every}"


def summarize(backends: dict[str, Any], many: list[ManyRun]) -> None:
    if backends:
        say("SQLite beside PostgreSQL, one copy (GRAPHDRIVE_WORKERS=1), best run")
        say(
            f"{'backend':>10} {'items':>9} {'peak RSS':>9} {'srv CPU':>8} {'PG CPU':>7} "
            f"{'others':>7} {'items/s':>9}"
        )
        copies: list[CopyRun] = backends["copy"]
        for key in dict.fromkeys((c.items, c.backend) for c in copies):
            runs = [c for c in copies if (c.items, c.backend) == key]
            c = max(runs, key=lambda run: run.rate)
            say(
                f"{c.backend:>10} {c.items:>9,} {c.peak_rss_mb:>6.0f} MB "
                f"{c.server_cpu_seconds:>7.1f}s {c.postgres_cpu_seconds:>6.1f}s "
                f"{c.others_cores:>7.1f} {_rates(runs)}"
            )
        for m in backends["monitor"]:
            say(
                f"{m.backend:>10} monitor GET: {m.load.throughput:,.0f}/s, p50 {m.load.ms(50):.0f}"
                f" ms, p99 {m.load.ms(99):.0f} ms, server CPU "
                f"{m.load.server_cpu_seconds / max(1, m.load.count) * 1000:.2f} ms/GET, PostgreSQL "
                f"{m.postgres_cpu_seconds / max(1, m.load.count) * 1000:.2f} ms/GET"
            )
    if many:
        say("many concurrent copies (best run; CPU seconds of that run)")
        for topology in dict.fromkeys(r.topology for r in many):
            many_runs = [r for r in many if r.topology == topology]
            r = max(many_runs, key=lambda run: run.rate)
            cpu = ", ".join(f"{k} {v:.1f}s" for k, v in r.cpu.items())
            say(f"  {topology.label}: {_rates(many_runs).strip()} items/s")
            say(f"      {r.seconds:.1f} s; CPU {cpu}; others {r.others_cores:.1f} cores")
