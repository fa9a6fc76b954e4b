"""Shared machinery: a real ``graphdrive serve`` process, tokens, seeding, /proc sampling.

Everything talks to the server over loopback HTTP, exactly as a client would. Process figures
(RSS, CPU time) are read from ``/proc`` without third-party packages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent


# -- processes ------------------------------------------------------------------------------
def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any GRAPHDRIVE_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHDRIVE_")}
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def graphdrive(*args: str, timeout: float = 3600.0) -> str:
    """Run ``python -m graphdrive ARGS`` (or a ``graphdrive.*`` module) and return stdout."""
    command = [sys.executable, "-m", *args]
    proc = subprocess.run(
        command, capture_output=True, text=True, env=clean_env(), timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout


def mint_token(data_dir: Path, user: str = "alice") -> str:
    return graphdrive("graphdrive", "token", "--user", user, "--data-dir", str(data_dir)).strip()


def seed(
    data_dir: Path,
    items: int,
    *,
    user: str = "alice",
    name: str = "Big",
    database_url: str | None = None,
) -> dict[str, Any]:
    """Bulk-load a tree of ``items`` items; returns {id, items, size, seconds}.

    ``database_url`` seeds that database (e.g. a PostgreSQL scratch database) instead of the
    data dir's SQLite file; the data dir still holds the signing secret and the blobs.
    """
    started = time.perf_counter()
    extra = ["--database-url", database_url] if database_url else []
    out = graphdrive(
        "graphdrive.devtools.seed",
        "--data-dir",
        str(data_dir),
        "--user",
        user,
        "--name",
        name,
        "--items",
        str(items),
        *extra,
    )
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - started
    return result


def proc_status_kb(pid: int, field: str) -> int:
    """A ``kB`` field (VmRSS, VmHWM, …) of /proc/PID/status; 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


class SystemCpu:
    """CPU use of the whole machine over a span: how busy it was, and by whom."""

    def __init__(self) -> None:
        self.busy_cores = 0.0
        self._start = (0, 0)

    def __enter__(self) -> SystemCpu:
        self._start = system_cpu_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, total = system_cpu_ticks()
        cores = len(os.sched_getaffinity(0))
        span = total - self._start[1]
        self.busy_cores = (busy - self._start[0]) / span * cores if span else 0.0


class RssSampler:
    """Samples a process's VmRSS in a thread; ``peak_kb`` is the largest sample."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, proc_status_kb(self.pid, "VmRSS"))
            self._stop.wait(self.interval)


class Server:
    """One ``graphdrive serve`` process on an ephemeral loopback port with its own data dir.

    ``role="worker"`` starts ``graphdrive worker`` instead (no API; ``/healthz`` on the same
    port), so several processes can share one data dir and database; give each a ``name`` so
    that their logs do not overwrite each other.
    """

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        role: str = "serve",
        name: str = "server",
    ) -> None:
        self.data_dir = data_dir
        self.role = role
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.origin}/v1.0"
        self.env = clean_env(env)
        self.log = data_dir.parent / f"{data_dir.name}.{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "graphdrive",
                    self.role,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"graphdrive {self.role} exited early; see {self.log}")
            try:
                if httpx.get(f"{self.origin}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(
            f"graphdrive {self.role} not ready after {READY_TIMEOUT_S} s; see {self.log}"
        )

    def __exit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.api, headers={"Authorization": f"Bearer {token}"}, timeout=120.0
        )


# -- PostgreSQL ------------------------------------------------------------------------------
def postgres_available(admin_url: str) -> str | None:
    """None if the server at ``admin_url`` answers, else why not (one line)."""
    import psycopg

    try:
        with psycopg.connect(admin_url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, OSError) as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def database_url(admin_url: str, name: str) -> str:
    """``admin_url`` with its database name replaced by ``name``."""
    base, _, _ = admin_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}"


@contextlib.contextmanager
def scratch_postgres(admin_url: str, *, template: str | None = None) -> Iterator[tuple[str, str]]:
    """A new database ``bench_<random>`` (optionally a copy of ``template``): (url, name).

    Dropped on exit, even after a failure, with ``WITH (FORCE)`` so that a connection left
    behind by a killed process cannot keep it alive.
    """
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}'.encode())
    try:
        yield database_url(admin_url, name), name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


# -- graphdrive's SQLite settings -----------------------------------------------------------
def graphdrive_pragmas(scratch: Path) -> dict[str, str]:
    """The PRAGMAs graphdrive's own engine sets on its connections, read back from one.

    Read at run time, so the SQL baseline follows whatever ``storage/metadata/sqlite.py``
    currently configures (journal mode, synchronous level, foreign keys).
    """
    from graphdrive.storage.metadata.sqlite import create_engine

    async def read() -> dict[str, str]:
        engine = create_engine(f"sqlite:///{scratch}")
        try:
            async with engine.connect() as conn:
                values = {}
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
                    raw = (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                    values[name] = str(raw)
                return values
        finally:
            await engine.dispose()

    values = asyncio.run(read())
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    return values


SYNCHRONOUS_NAMES = {"0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA"}


def apply_pragmas(conn: sqlite3.Connection, pragmas: Mapping[str, str]) -> None:
    for name, value in pragmas.items():
        conn.execute(f"PRAGMA {name}={value}")


# -- figures ----------------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu: str
    memory_gb: float
    python: str
    sqlite: str
    revision: str
    load: str

    def describe(self) -> str:
        return (
            f"{self.cores} cores ({self.cpu}), {self.memory_gb:.0f} GB RAM, "
            f"Python {self.python}, SQLite {self.sqlite}, graphdrive {self.revision}, "
            f"load average at start {self.load}"
        )


def machine() -> Machine:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip()
        revision = f"{head}{' + uncommitted src changes' if dirty else ''}" or "unknown"
    except OSError:
        revision = "unknown"
    import graphdrive

    source = Path(graphdrive.__file__).resolve().parent.parent
    if source != REPO / "src":
        revision += f" (code imported from {source}, via PYTHONPATH)"
    return Machine(
        cores=len(os.sched_getaffinity(0)),
        cpu=cpu,
        memory_gb=memory_gb,
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        revision=revision,
        load=" ".join(f"{x:.2f}" for x in os.getloadavg()),
    )


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


def human(value: float, unit: str = "") -> str:
    if math.isnan(value):
        return "n/a"
    for threshold, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.1f}{suffix}{unit}"
    return f"{value:.0f}{unit}" if abs(value) >= 10 else f"{value:.2f}{unit}"


def say(*parts: object) -> None:
    print(*parts, flush=True)


# -- HTTP load ------------------------------------------------------------------------------
@dataclass
class Load:
    """Latencies (seconds, sorted) and status counts of a closed-loop load run.

    Status 0 counts transport errors (connection reset and the like); they are not timed.
    """

    latencies: list[float]
    statuses: dict[int, int]
    seconds: float
    server_cpu_seconds: float
    client_cpu_seconds: float
    machine_busy_cores: float

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return rate(self.count, self.seconds)

    def ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000

    def describe(self) -> str:
        codes = ", ".join(f"{code}x{n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{self.count} requests in {self.seconds:.1f} s ({self.throughput:.0f}/s) [{codes}]; "
            f"p50 {self.ms(50):.1f} ms, p95 {self.ms(95):.1f} ms, p99 {self.ms(99):.1f} ms, "
            f"max {self.ms(100):.1f} ms; server CPU {self.server_cpu_seconds / self.seconds:.0%}"
            f" of a core ({self.server_cpu_seconds / max(1, self.count) * 1000:.2f} ms/request),"
            f" client CPU {self.client_cpu_seconds / self.seconds:.0%}, other processes "
            f"{self.others_cores:.1f} cores"
        )

    @property
    def others_cores(self) -> float:
        """Cores busy with processes other than this server and this client."""
        mine = (self.server_cpu_seconds + self.client_cpu_seconds) / self.seconds
        return max(0.0, self.machine_busy_cores - mine)


async def closed_loop(
    client: Any,
    send: Any,
    *,
    concurrency: int,
    total: int,
    max_seconds: float,
    server_pid: int,
    first: int = 0,
    pace: float | None = None,
) -> Load:
    """``concurrency`` clients each send ``await send(client, i)`` back to back.

    Stops after ``total`` requests or ``max_seconds``, whichever comes first. ``i`` counts
    from ``first``, so each request can be made unique. With ``pace`` (requests per second in
    all), request ``i`` is not sent before its slot ``i / pace``: the clients are paced below
    saturation, and a latency then shows service time plus whatever queueing remains.
    """
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = first
    begin = time.perf_counter()
    deadline = begin + max_seconds

    async def one_client() -> None:
        nonlocal next_index
        while next_index < first + total and time.perf_counter() < deadline:
            index, next_index = next_index, next_index + 1
            if pace:
                await asyncio.sleep(max(0.0, begin + (index - first) / pace - time.perf_counter()))
            started = time.perf_counter()
            try:
                code = (await send(client, index)).status_code
            except (OSError, asyncio.IncompleteReadError, httpx.TransportError):
                code = 0  # a transport error: counted as status 0, not timed
            else:
                latencies.append(time.perf_counter() - started)
            statuses[code] = statuses.get(code, 0) + 1

    cpu_server, cpu_client = proc_cpu_seconds(server_pid), time.process_time()
    started = begin = time.perf_counter()
    with SystemCpu() as system:
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return Load(
        latencies=sorted(latencies),
        statuses=statuses,
        seconds=seconds,
        server_cpu_seconds=proc_cpu_seconds(server_pid) - cpu_server,
        client_cpu_seconds=time.process_time() - cpu_client,
        machine_busy_cores=system.busy_cores,
    )


def async_client(base_url: str, token: str | None, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=60.0)


class RawResponse:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, one connection per task.

    httpx costs the load generator 2-4 ms of CPU per request on a small machine, enough to make
    the client, not the server, the bottleneck of a throughput test. This sends fixed requests
    and reads ``Content-Length`` bodies (all the monitor, ``/healthz`` and ``POST …/copy``
    answer).
    """

    def __init__(self, origin: str, headers: Mapping[str, str] | None = None) -> None:
        host, port = origin.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str) -> RawResponse:
        return await self.request("GET", path)

    async def post_json(self, path: str, body: object) -> RawResponse:
        return await self.request("POST", path, json.dumps(body).encode())

    async def request(self, method: str, path: str, body: bytes | None = None) -> RawResponse:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        message = head.encode() + b"\r\n" + (body or b"")
        while self._idle:  # a kept-alive connection the server closed while idle: next one
            reader, writer = self._idle.pop()
            writer.write(message)
            try:
                answer = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
                continue
            return await self._finish(reader, writer, answer, method, path)
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(message)
        answer = await reader.readuntil(b"\r\n\r\n")
        return await self._finish(reader, writer, answer, method, path)

    async def _finish(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        answer: bytes,
        method: str,
        path: str,
    ) -> RawResponse:
        lines = answer.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            writer.close()
            raise RuntimeError(f"no Content-Length in the answer to {method} {path}")
        await reader.readexactly(length)
        self._idle.append((reader, writer))
        return RawResponse(status)

    async def aclose(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
