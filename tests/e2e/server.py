"""Start and stop a real `graphdrive serve` process, and mint tokens with the real CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 60.0


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any GRAPHDRIVE_* setting, plus `extra`.

    A developer's own GRAPHDRIVE_DATA_DIR or GRAPHDRIVE_JWT_SECRET must never leak into a test.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHDRIVE_")}
    env.update(extra or {})
    return env


POSTGRES_ENV = "GRAPHDRIVE_TEST_POSTGRES_URL"
BACKEND_ENV = "GRAPHDRIVE_TEST_BACKEND"  # "postgres" to run the servers on PostgreSQL
_created_databases: set[str] = set()


def postgres_admin_url() -> str | None:
    """The PostgreSQL server this run's test servers use, or None when they use SQLite."""
    if os.environ.get(BACKEND_ENV, "sqlite") != "postgres":
        return None
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        raise RuntimeError(f"{BACKEND_ENV}=postgres needs {POSTGRES_ENV}=postgresql://…")
    return url


def database_env(data_dir: Path) -> dict[str, str]:
    """``GRAPHDRIVE_DATABASE_URL`` for a server on ``data_dir``: empty (SQLite in the data dir)
    unless the run targets PostgreSQL (``GRAPHDRIVE_TEST_BACKEND=postgres``), in which case each
    data dir gets its own fresh database, kept across restarts within this test run."""
    admin_url = postgres_admin_url()
    if not admin_url:
        return {}
    import hashlib

    import psycopg

    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:12]
    name = f"gdt_{os.getpid()}_{digest}"
    if name not in _created_databases:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        _created_databases.add(name)
    base = admin_url.rsplit("/", 1)[0]
    return {"GRAPHDRIVE_DATABASE_URL": f"{base}/{name}"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `python -m graphdrive ARGS...` and return the finished process."""
    proc = subprocess.run(
        [sys.executable, "-m", "graphdrive", *args],
        capture_output=True,
        text=True,
        env=clean_env(env),
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"graphdrive {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def mint_token(data_dir: Path, user: str, scopes: str | None = None) -> str:
    args = ["token", "--user", user, "--data-dir", str(data_dir)]
    if scopes is not None:
        args += ["--scopes", scopes]
    return run_cli(*args).stdout.strip()


class ServerProcess:
    """One `graphdrive serve` process on an ephemeral port with its own data dir."""

    def __init__(
        self, data_dir: Path, env: Mapping[str, str] | None = None, port: int | None = None
    ) -> None:
        self.data_dir = data_dir
        # A given port lets a restarted server answer the URLs (monitor Locations) of a dead one.
        self.port = port or free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.origin}/v1.0"
        self._env = clean_env({**database_env(data_dir), **(env or {})})
        self._stdout_path = data_dir.parent / f"{data_dir.name}.stdout.log"
        self._stderr_path = data_dir.parent / f"{data_dir.name}.stderr.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Log files, not pipes: a chatty server must never block on a full pipe buffer.
        with self._stdout_path.open("wb") as out, self._stderr_path.open("wb") as err:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "graphdrive",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=out,
                stderr=err,
                env=self._env,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"graphdrive serve exited with {self._proc.returncode} before it was ready\n"
                    f"{self.output()}"
                )
            try:
                if httpx.get(f"{self.origin}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"graphdrive serve not ready after {READY_TIMEOUT_S} s\n{self.output()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL the server: a crash, with no shutdown, checkpoint or lease release."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait()

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def stdout(self) -> str:
        return self._stdout_path.read_text(errors="replace") if self._stdout_path.exists() else ""

    def stderr(self) -> str:
        return self._stderr_path.read_text(errors="replace") if self._stderr_path.exists() else ""

    def output(self) -> str:
        return f"--- stdout ---\n{self.stdout()}\n--- stderr ---\n{self.stderr()}"

    def token(self, user: str, scopes: str | None = None) -> str:
        return mint_token(self.data_dir, user, scopes)

    def client(self, token: str | None = None) -> httpx.Client:
        """A client rooted at `/v1.0`, sending `token` as a bearer token when given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.api, headers=headers, timeout=60.0)


@contextmanager
def running_server(data_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def quick_token(data_dir: Path, user: str, scopes: str | None = None) -> str:
    """The token `graphdrive token` would print, minted in-process (no CLI start-up cost).

    Uses the same signing code and the secret kept in the data dir; for tests that need many
    users or servers. Only valid for servers that do not set GRAPHDRIVE_JWT_SECRET.
    """
    from graphdrive.auth import DevTokens
    from graphdrive.auth.tokens import load_or_create_secret

    wanted = [s for s in (scopes or "Files.ReadWrite").replace(",", " ").split() if s]
    return DevTokens(load_or_create_secret(data_dir, None)).issue(user, wanted)
