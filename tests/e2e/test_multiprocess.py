"""The scaled-out topology: PostgreSQL + SeaweedFS S3 + 2 API + 2 worker + 1 monitor process.

Several large copies are started through both API processes; one worker is SIGKILLed while it
holds a copy's lease. Every operation must complete exactly once with a correct tree, and the
monitor URLs, served by the separate monitor process, must answer throughout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.server import BACKEND_ENV, POSTGRES_ENV, clean_env, free_port
from tests.support.seaweed import SeaweedS3, seaweed_s3  # noqa: F401 - the fixture

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.s3]

TREE_ITEMS = 20_000
COPIES_PER_API = 2
READY_TIMEOUT_S = 30.0
FINISH_TIMEOUT_S = 180.0


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        pytest.skip(
            f"set {POSTGRES_ENV}=postgresql://postgres@127.0.0.1:5432/test to run the "
            "multi-process test (CI does)"
        )
    if os.environ.get(BACKEND_ENV) == "postgres":
        pytest.skip("runs once, in the first pass of `make test`")
    import psycopg

    name = f"gdmp_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{admin.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def topology(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str,
    seaweed_s3: SeaweedS3,  # noqa: F811 - the fixture imported above
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("multiprocess")
    monitor_port = free_port()
    shared = {
        "GRAPHDRIVE_DATABASE_URL": postgres_url,
        "GRAPHDRIVE_BLOB_URL": f"s3://graphdrive-mp-{uuid.uuid4().hex[:8]}/content",
        "GRAPHDRIVE_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "GRAPHDRIVE_MONITOR_URL": f"http://127.0.0.1:{monitor_port}",
        "GRAPHDRIVE_LEASE_SECONDS": "2",
        "GRAPHDRIVE_COPY_BATCH_SIZE": "250",
        **seaweed_s3.env(),
    }
    env = clean_env(shared)
    subprocess.run(
        [sys.executable, "-m", "graphdrive", "migrate", "--data-dir", str(root / "migrate")],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    seeded = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "graphdrive.devtools.seed",
                "--data-dir",
                str(root / "seed"),
                "--user",
                "alice",
                "--name",
                "Big",
                "--items",
                str(TREE_ITEMS),
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        ).stdout
    )
    procs: list[Proc] = []

    def start(name: str, *args: str, port: int | None = None) -> Proc:
        port = port or free_port()
        log = root / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [
                    *(sys.executable, "-m", "graphdrive", *args),
                    *("--port", str(port), "--host", "127.0.0.1", "--data-dir", str(root / name)),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        proc = Proc(name, popen, port, log)
        procs.append(proc)
        return proc

    try:
        apis = [start(f"api{n}", "serve", "--workers", "0") for n in (1, 2)]
        workers = [start(f"worker{n}", "worker", "--workers", "2") for n in (1, 2)]
        monitor = start("monitor", "monitor", port=monitor_port)
        for proc in procs:
            _wait_ready(proc)
        yield {
            "apis": apis,
            "workers": workers,
            "monitor": monitor,
            "seeded": seeded,
            "token": quick_token_for(shared["GRAPHDRIVE_JWT_SECRET"], "alice"),
            "database_url": postgres_url,
        }
    finally:
        for proc in procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()


def quick_token_for(secret: str, user: str) -> str:
    from graphdrive.auth import DevTokens

    return DevTokens(secret.encode()).issue(user)


def _wait_ready(proc: Proc) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log.read_text()}")
        try:
            if httpx.get(f"{proc.origin}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} not ready:\n{proc.log.read_text()}")


def _lease_holders(database_url: str) -> list[str]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT lease_owner FROM operations WHERE status = 'inProgress' "
                    "AND lease_owner IS NOT NULL"
                )
            )
            return [r[0] for r in rows]
    finally:
        engine.dispose()


def test_copies_survive_a_worker_killed_mid_copy(topology: dict[str, Any]) -> None:
    apis: list[Proc] = topology["apis"]
    workers: list[Proc] = topology["workers"]
    monitor: Proc = topology["monitor"]
    auth = {"Authorization": f"Bearer {topology['token']}"}
    source_id = topology["seeded"]["id"]

    # Real content through one API process, read back through the other (shared S3 blobs).
    payload = os.urandom(3 * 1024 * 1024 + 17)
    put = httpx.put(
        f"{apis[0].origin}/v1.0/me/drive/root:/blob-check.bin:/content",
        content=payload,
        headers=auth,
        timeout=60,
    )
    assert put.status_code == 201, put.text
    got = httpx.get(
        f"{apis[1].origin}/v1.0/me/drive/items/{put.json()['id']}/content",
        headers=auth,
        follow_redirects=True,
        timeout=60,
    )
    assert got.content == payload

    monitors: dict[str, str] = {}
    for n, api in enumerate(apis):
        for k in range(COPIES_PER_API):
            name = f"Copy {n}-{k}"
            response = httpx.post(
                f"{api.origin}/v1.0/me/drive/items/{source_id}/copy",
                json={"name": name},
                headers=auth,
                timeout=30,
            )
            assert response.status_code == 202, response.text
            location = response.headers["location"]
            assert location.startswith(monitor.origin + "/monitor/")
            monitors[name] = location

    # Kill the worker process holding a lease on a copy that has made progress.
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline:
        reports = [httpx.get(url, timeout=10).json() for url in monitors.values()]
        if any(0 < r["percentageComplete"] < 90 for r in reports):
            for owner in _lease_holders(topology["database_url"]):
                pid = int(owner.split(":")[1])
                victim = next((w for w in workers if w.popen.pid == pid), None)
                if victim is not None:
                    victim.popen.kill()
                    victim.popen.wait()
                    killed = victim
                    break
        time.sleep(0.1)
    assert killed is not None, "no worker was seen holding a lease mid-copy"

    # Every monitor answers from the monitor process until its copy completes.
    finished: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + FINISH_TIMEOUT_S
    while len(finished) < len(monitors) and time.monotonic() < deadline:
        for name, url in monitors.items():
            response = httpx.get(url, headers={"Prefer": "wait=2"}, timeout=10)
            assert response.status_code == 202, response.text
            body = response.json()
            assert body["status"] not in ("failed", "cancelled"), body
            if body["status"] == "completed":
                finished[name] = body
    assert len(finished) == len(monitors), f"unfinished: {set(monitors) - set(finished)}"

    source = httpx.get(f"{apis[1].origin}/v1.0/me/drive/items/{source_id}", headers=auth).json()
    for name, report in finished.items():
        item = httpx.get(
            f"{apis[1].origin}/v1.0/me/drive/items/{report['resourceId']}", headers=auth
        ).json()
        assert item["name"] == name
        assert item["size"] == source["size"]
        by_path = httpx.get(f"{apis[0].origin}/v1.0/me/drive/root:/{name}", headers=auth)
        assert by_path.json()["id"] == report["resourceId"]

    engine = create_engine(
        topology["database_url"].replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        with engine.connect() as conn:

            def scalar(sql: str, **params: Any) -> Any:
                return conn.execute(text(sql), params).scalar_one()

            tree = """
                WITH RECURSIVE t(id) AS (SELECT CAST(:id AS VARCHAR)
                    UNION ALL SELECT i.id FROM items i JOIN t ON i.parent_id = t.id)
                SELECT count(*) FROM t
            """
            source_count = scalar(tree, id=source_id)
            assert source_count == TREE_ITEMS
            for report in finished.values():
                assert scalar(tree, id=report["resourceId"]) == source_count
            # Exactly once: no extra copies, nothing detached, nothing left staged.
            drives = scalar("SELECT count(*) FROM drives")
            assert scalar("SELECT count(*) FROM items WHERE parent_id IS NULL") == drives
            # Each copy deletes its snapshot just after it completes: give that a moment.
            deadline = time.monotonic() + 30
            while scalar("SELECT count(*) FROM copy_nodes") and time.monotonic() < deadline:
                time.sleep(0.1)
            assert scalar("SELECT count(*) FROM copy_nodes") == 0
            assert scalar("SELECT count(*) FROM operations WHERE status = 'completed'") == len(
                monitors
            )
            # The killed worker's copy was rescued by a surviving worker (a second claim).
            assert scalar("SELECT max(attempts) FROM operations") >= 2
            total = scalar("SELECT count(*) FROM items")
            assert total == drives + source_count * (1 + len(monitors)) + 1  # + blob-check.bin
    finally:
        engine.dispose()
    assert killed.popen.returncode == -signal.SIGKILL
