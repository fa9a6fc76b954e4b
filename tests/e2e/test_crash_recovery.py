"""Crash test: SIGKILL the server mid-copy at several points, restart, and check the result.

A 30,000-item tree is seeded straight into the database (SQLite in the data dir, or the run's
PostgreSQL with ``GRAPHDRIVE_TEST_BACKEND=postgres``); four copies of it are accepted (one under
an ``Idempotency-Key``, repeated across crashes); the server is killed with SIGKILL

1. right after the 202s, with no worker running (accepted work that no worker ever saw);
2. right after more 202s, while the workers are claiming and planning the first copies;
3. while the new server is building a copy (its progress rose, and is below 99.9 %);
4. while the new server is building a copy the dead one had made progress on: the dead
   server's lease expired, and the copy resumed from its checkpoint;
5. while a copy is publishing (every batch built by the new server: 99.9 %, not completed);

and restarted on the same data dir and port each time, so the monitor URLs stay the same. In the
end every accepted operation has completed exactly once, each copy is an exact replica of the
source (paths, kinds, sizes, content references), nothing is orphaned, duplicated or left over,
the folder sizes add up, and every monitor URL still answers. The reports a monitor gave never
went backwards, across the crashes too.

Each server's log is printed at teardown (pytest shows it when the test fails).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, create_engine, make_url, text

from .helpers import list_children, ok, path_url
from .server import (
    CLI_TIMEOUT_S,
    ServerProcess,
    clean_env,
    database_env,
    free_port,
    mint_token,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ITEMS = 30_000
SOURCE = "Big"
USER = "alice"
ENV = {
    "GRAPHDRIVE_COPY_BATCH_SIZE": "500",  # 60 batches, 60 checkpoints per copy
    "GRAPHDRIVE_LEASE_SECONDS": "2",  # a dead server's lease expires soon after the restart
}
IDEMPOTENCY_KEY = "crash-test-copy-b"
POINT_TIMEOUT_S = 60.0  # to reach one kill point
COMPLETE_TIMEOUT_S = 120.0  # for every copy to complete after the last restart
POLL_S = 0.01


# --- the server under test: one data dir, one port, many lives ---------------------------------


class CrashingServer:
    """Start, SIGKILL and restart `graphdrive serve` on one data dir and port; keep every log."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.server: ServerProcess | None = None
        self.label = ""
        self.logs: list[tuple[str, str]] = []

    def start(self, label: str, **env: str) -> ServerProcess:
        assert self.server is None, "the previous server is still running"
        self.label = label
        self.server = ServerProcess(self.data_dir, {**ENV, **env}, port=self.port)
        try:
            self.server.start()
        except Exception:
            self._end("failed to start")
            raise
        return self.server

    def kill(self) -> None:
        assert self.server is not None
        assert self.server.returncode is None, (
            f"{self.label}: the server died before it was killed\n{self.server.output()}"
        )
        self.server.kill()
        self._end("SIGKILL")

    def stop(self) -> None:
        assert self.server is not None
        self.server.stop()
        self._end("SIGTERM")

    def close(self) -> None:
        if self.server is not None:
            self.server.kill()
            self._end("killed at teardown")

    def _end(self, how: str) -> None:
        assert self.server is not None
        self.logs.append((f"{self.label} [{how}]", self.server.output()))
        self.server = None

    def log_excerpts(self) -> str:
        """Every run's log without the access lines (the monitor polling is most of them)."""
        parts = []
        for label, output in self.logs:
            lines = [line for line in output.splitlines() if "uvicorn.access" not in line]
            parts.append(f"===== {label} =====\n" + "\n".join(lines[-150:]))
        return "\n".join(parts)


@pytest.fixture
def crashing(tmp_path: Path) -> Iterator[CrashingServer]:
    crashing = CrashingServer(tmp_path / "data")
    try:
        yield crashing
    finally:
        crashing.close()
        print(crashing.log_excerpts())


def seed(data_dir: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "graphdrive.devtools.seed",
            "--data-dir",
            str(data_dir),
            "--user",
            USER,
            "--name",
            SOURCE,
            "--items",
            str(ITEMS),
        ],
        capture_output=True,
        text=True,
        env=clean_env(database_env(data_dir)),  # SQLite in the data dir, or the test PostgreSQL
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"seed failed:\n{proc.stdout}\n{proc.stderr}"
    seeded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(seeded, dict)
    assert seeded["items"] == ITEMS
    return seeded


# --- monitors ----------------------------------------------------------------------------------


class Monitors:
    """The accepted copies' monitor URLs, polled without any Authorization header.

    Every report is checked as it arrives: 202, a well-formed asyncJobStatus, never failed or
    cancelled, and a percentageComplete that never goes backwards (also across crashes).
    """

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}  # copy name -> monitor URL
        self.last: dict[str, dict[str, Any]] = {}  # copy name -> last report
        self.highest: dict[str, float] = {}
        self.before: dict[str, float] = {}  # the last progress seen from the dead server
        self.baseline: dict[str, float] = {}  # the first progress seen from the new server

    def mark(self, before: dict[str, float]) -> None:
        """A new server is up and has answered every monitor once."""
        self.before, self.baseline = before, dict(self.highest)

    def add(self, name: str, url: str) -> None:
        assert url not in self.urls.values(), f"{name} got the monitor URL of another copy: {url}"
        self.urls[name] = url
        self.highest[name] = 0.0

    def unfinished(self) -> list[str]:
        return [n for n in self.urls if self.last.get(n, {}).get("status") != "completed"]

    def poll(self, client: httpx.Client, names: list[str] | None = None) -> dict[str, Any]:
        for name in self.unfinished() if names is None else names:
            response = client.get(self.urls[name])
            assert response.status_code == 202, (
                f"monitor of {name} ({self.urls[name]}) -> {response.status_code}: "
                f"{response.text[:1000]}"
            )
            assert response.headers.get("cache-control") == "no-store", response.headers
            report = response.json()
            assert report.get("operation") == "ItemCopy", report
            status, percent = report.get("status"), report.get("percentageComplete")
            assert status in ("notStarted", "waiting", "inProgress", "completed"), (
                f"{name}: {report}"
            )
            assert isinstance(percent, int | float) and 0 <= percent <= 100, report
            assert (percent == 100) == (status == "completed"), f"{name}: {report}"
            assert percent >= self.highest[name], (
                f"{name}: percentageComplete went back from {self.highest[name]} to {percent}"
            )
            if status == "completed":
                assert isinstance(report.get("resourceId"), str) and report["resourceId"], report
            else:
                assert response.headers.get("retry-after"), response.headers
            self.highest[name] = percent
            self.last[name] = report
        return self.last

    def state(self) -> dict[str, tuple[str, float]]:
        return {n: (r["status"], r["percentageComplete"]) for n, r in self.last.items()}

    def wait_for(self, client: httpx.Client, point: str, hit: Callable[[str], bool]) -> list[str]:
        """Poll until ``hit(name)`` holds for some copy: the moment to pull the plug."""
        deadline = time.monotonic() + POINT_TIMEOUT_S
        while True:
            self.poll(client)
            hits = [name for name in self.urls if hit(name)]
            if hits:
                return hits
            assert self.unfinished(), (
                f"every copy completed before the kill point '{point}' was reached: {self.state()}"
            )
            assert time.monotonic() < deadline, (
                f"kill point '{point}' not reached in {POINT_TIMEOUT_S} s: {self.state()}"
            )
            time.sleep(POLL_S)

    # Kill points. Only progress beyond the first report of the new server is surely its own
    # (it may have built a batch or two before that report; the dead server built none after).
    def _now(self, name: str) -> tuple[str, float, float]:
        report = self.last[name]
        return report["status"], report["percentageComplete"], self.baseline.get(name, 0.0)

    def building(self, name: str) -> bool:
        """This server has built batches of the copy, and has more to build."""
        status, percent, base = self._now(name)
        return status == "inProgress" and base < percent < 99.9

    def rebuilding(self, name: str) -> bool:
        """Building a copy resumed from a dead server's checkpoint (its lease had to expire)."""
        return self.before.get(name, 0.0) > 0 and self.building(name)

    def publishing(self, name: str) -> bool:
        """This server has built every batch (99.9 %) but not yet committed the completion."""
        status, percent, base = self._now(name)
        return status == "inProgress" and percent >= 99.9 > base


def post_copy(
    client: httpx.Client, source_id: str, parent_id: str, name: str, key: str | None = None
) -> str:
    headers = {"Idempotency-Key": key} if key else {}
    response = client.post(
        f"/me/drive/items/{source_id}/copy",
        json={"parentReference": {"id": parent_id}, "name": name},
        headers=headers,
    )
    assert response.status_code == 202, (
        f"POST copy {name} -> {response.status_code}: {response.text[:1000]}"
    )
    location = response.headers.get("location", "")
    assert location.startswith(("http://", "https://")) and "/monitor/" in location, location
    return location


# --- the database, read after the last (clean) stop ------------------------------------------


def database_url(data_dir: Path) -> str:
    """A synchronous, read-only where possible, URL of the database the servers used."""
    url = database_env(data_dir).get("GRAPHDRIVE_DATABASE_URL")
    if url is None:
        return f"sqlite:///file:{data_dir / 'graphdrive.db'}?mode=ro&uri=true"
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


_SUBTREE = """
WITH RECURSIVE tree(id, path) AS (
    SELECT id, '' FROM items WHERE id = :top
    UNION ALL
    SELECT i.id, t.path || '/' || i.name FROM items i JOIN tree t ON i.parent_id = t.id
)
SELECT t.path, i.is_folder, i.size, i.blob_key FROM tree t JOIN items i ON i.id = t.id
"""

_REACHABLE = """
WITH RECURSIVE tree(id) AS (
    SELECT id FROM items WHERE parent_id IS NULL
    UNION ALL
    SELECT i.id FROM items i JOIN tree t ON i.parent_id = t.id
)
SELECT count(*) FROM tree
"""

_FOLDER_SIZES = """
SELECT f.id, f.name, f.size, COALESCE(SUM(c.size), 0) FROM items f
LEFT JOIN items c ON c.parent_id = f.id
WHERE f.is_folder GROUP BY f.id HAVING f.size != COALESCE(SUM(c.size), 0)
"""


def subtree(db: Connection, top: str) -> list[tuple[str, int, int, str]]:
    rows = db.execute(text(_SUBTREE), {"top": top}).all()
    return sorted((str(p), int(f), int(s), b or "") for p, f, s, b in rows)


def check_database(url: str, source_id: str, copies: dict[str, str]) -> None:
    """Whole-database invariants, and every copy (name -> item id) a replica of the source."""
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            _check_database(db, source_id, copies)
    finally:
        engine.dispose()


def _check_database(db: Connection, source_id: str, copies: dict[str, str]) -> None:
    def rows(sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in db.execute(text(sql), params)]

    def scalar(sql: str, **params: Any) -> Any:
        return db.execute(text(sql), params).scalar_one()

    drives = rows("SELECT id, root_id FROM drives")
    roots = {root_id for _, root_id in drives}
    parentless = {r[0] for r in rows("SELECT id FROM items WHERE parent_id IS NULL")}
    assert parentless == roots, (
        f"detached items (parent_id NULL, not a drive root): {sorted(parentless - roots)[:20]}"
        f" (of {len(parentless - roots)}); roots without an item: {roots - parentless}"
    )
    dangling = scalar(
        "SELECT count(*) FROM items i LEFT JOIN items p ON p.id = i.parent_id "
        "WHERE i.parent_id IS NOT NULL AND p.id IS NULL"
    )
    assert dangling == 0, f"{dangling} items have a parent_id that does not exist"
    total = scalar("SELECT count(*) FROM items")
    reachable = scalar(_REACHABLE)
    assert reachable == total, f"{total - reachable} items are not reachable from a root"
    expected = len(roots) + ITEMS * (1 + len(copies))
    assert total == expected, (
        f"{total} items for {len(roots)} drive(s), a {ITEMS}-item source and "
        f"{len(copies)} copies: expected {expected}"
    )
    # A copy deletes its snapshot just after it completes; a crash in between leaves it to the
    # janitor (which sweeps snapshots of finished operations). A snapshot of an operation that
    # is not completed would be a leak.
    leftovers = rows(
        "SELECT c.op_id, count(*) FROM copy_nodes c LEFT JOIN operations o ON o.id = c.op_id "
        "WHERE o.id IS NULL OR o.status != 'completed' GROUP BY c.op_id"
    )
    assert leftovers == [], f"copy_nodes rows of unfinished copies (op_id, rows): {leftovers}"
    duplicates = rows(
        "SELECT parent_id, name_key, count(*) FROM items WHERE parent_id IS NOT NULL "
        "GROUP BY parent_id, name_key HAVING count(*) > 1"
    )
    assert duplicates == [], f"duplicate names in a folder: {duplicates[:20]}"
    unknown_blobs = scalar(
        "SELECT count(*) FROM items WHERE NOT is_folder AND blob_key NOT IN (SELECT key FROM blobs)"
    )
    assert unknown_blobs == 0, f"{unknown_blobs} files refer to content that does not exist"
    wrong_sizes = rows(_FOLDER_SIZES)
    assert wrong_sizes == [], (
        f"{len(wrong_sizes)} folders whose size is not the sum of their children's "
        f"(id, name, size, sum): {wrong_sizes[:20]}"
    )
    for drive_id, root_id in drives:
        root_size = scalar("SELECT size FROM items WHERE id = :id", id=root_id)
        files = scalar(
            "SELECT COALESCE(SUM(size), 0) FROM items WHERE NOT is_folder AND drive_id = :d",
            d=drive_id,
        )
        assert root_size == files, f"drive {drive_id}: root size {root_size}, files {files}"

    source = subtree(db, source_id)
    assert len(source) == ITEMS, f"the source has {len(source)} items, not {ITEMS}"
    for name, item_id in copies.items():
        replica = subtree(db, item_id)
        assert len(replica) == ITEMS, f"{name}: {len(replica)} items, expected {ITEMS}"
        if replica != source:
            missing = sorted(set(source) - set(replica))[:10]
            extra = sorted(set(replica) - set(source))[:10]
            raise AssertionError(
                f"{name} is not a replica of the source: missing {missing}, extra {extra}"
            )

    ops = rows(
        "SELECT id, status, resource_id, total_items, done_items, lease_owner, error_code, "
        "error_message, attempts, idempotency_key FROM operations ORDER BY created_at"
    )
    summary = "\n".join(str(op) for op in ops)
    assert len(ops) == len(copies), (
        f"{len(ops)} operations for {len(copies)} accepted copies:\n{summary}"
    )
    for op_id, status, _, total_items, done_items, lease, code, msg, _, _ in ops:
        assert status == "completed", f"operation {op_id}: {status} {code} {msg}\n{summary}"
        assert total_items == done_items == ITEMS, f"operation {op_id}\n{summary}"
        assert lease is None, f"operation {op_id} still leased by {lease}"
    assert sorted(op[2] for op in ops) == sorted(copies.values()), (
        f"the operations' results are not the copies:\n{summary}\ncopies: {copies}"
    )
    keyed = [op for op in ops if op[9] == IDEMPOTENCY_KEY]
    assert len(keyed) == 1, f"the Idempotency-Key made {len(keyed)} operations:\n{summary}"
    print("operations (id, status, resource, total, done, lease, code, msg, attempts, key):")
    print(summary)


# --- the test ---------------------------------------------------------------------------------


def test_sigkill_mid_copy_then_restart(crashing: CrashingServer) -> None:
    started = time.monotonic()
    data_dir = crashing.data_dir
    seeded = seed(data_dir)
    token = mint_token(data_dir, USER)
    monitors = Monitors()
    timeline: list[str] = []

    def note(event: str) -> None:
        timeline.append(f"{time.monotonic() - started:6.1f}s {event}: {monitors.state()}")
        print(timeline[-1])

    def crash(point: str, hits: list[str] | None = None) -> None:
        crashing.kill()
        note(f"SIGKILL {point}" + (f" ({', '.join(hits)})" if hits else ""))

    @contextmanager
    def restart(label: str, **env: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
        server = crashing.start(label, **env)
        with server.client(token) as api, httpx.Client(timeout=30.0) as bare:
            # Every monitor URL the dead server handed out answers the new one, with no token.
            before = dict(monitors.highest)
            monitors.poll(bare, list(monitors.urls))
            monitors.mark(before)
            note(f"{label} up")
            yield api, bare

    # 1. API only: the copies are accepted and recorded; no worker ever sees them.
    with restart("run 1 (no workers)", GRAPHDRIVE_WORKERS="0") as (api, bare):
        root = ok(api.get("/me/drive/root"))
        source = ok(api.get(f"/me/drive/root:/{path_url(SOURCE)}"))
        assert source["id"] == seeded["id"]
        assert source["size"] == seeded["size"] > 0, source
        monitors.add("Copy A", post_copy(api, source["id"], root["id"], "Copy A"))
        url_b = post_copy(api, source["id"], root["id"], "Copy B", IDEMPOTENCY_KEY)
        monitors.add("Copy B", url_b)
        assert post_copy(api, source["id"], root["id"], "Copy B", IDEMPOTENCY_KEY) == url_b
        monitors.poll(bare, list(monitors.urls))
        assert all(r["status"] in ("notStarted", "waiting") for r in monitors.last.values()), (
            monitors.state()
        )
        crash("right after the 202s, no worker running")

    # 2. Workers on: they rescue A and B at once; more 202s, then SIGKILL straight away.
    with restart("run 2") as (api, bare):
        assert post_copy(api, source["id"], root["id"], "Copy B", IDEMPOTENCY_KEY) == url_b
        monitors.add("Copy C", post_copy(api, source["id"], root["id"], "Copy C"))
        monitors.add("Copy D", post_copy(api, source["id"], root["id"], "Copy D"))
        crash("right after the 202s, workers claiming and planning")

    # 3. SIGKILL while this server is building a copy.
    with restart("run 3") as (api, bare):
        crash("mid-build", monitors.wait_for(bare, "building", monitors.building))

    # 4. SIGKILL while a copy resumed from the last crash's checkpoint is being built again.
    with restart("run 4") as (api, bare):
        crash(
            "mid-build of a resumed copy",
            monitors.wait_for(bare, "a resumed copy building", monitors.rebuilding),
        )

    # 5. SIGKILL while a copy is publishing (every batch built; completion not committed).
    with restart("run 5") as (api, bare):
        crash("publishing", monitors.wait_for(bare, "publishing", monitors.publishing))

    # 6. The last restart: everything completes, exactly once.
    with restart("run 6 (final)") as (api, bare):
        deadline = time.monotonic() + COMPLETE_TIMEOUT_S
        while monitors.unfinished():
            assert time.monotonic() < deadline, (
                f"not completed {COMPLETE_TIMEOUT_S} s after the last restart: {monitors.state()}"
            )
            monitors.poll(bare)
            time.sleep(0.1)
        note("all completed")
        # The monitors keep answering once finished, and the idempotent repeat still gets B's.
        reports = monitors.poll(bare, list(monitors.urls))
        assert post_copy(api, source["id"], root["id"], "Copy B", IDEMPOTENCY_KEY) == url_b
        resource_ids = {name: r["resourceId"] for name, r in reports.items()}
        assert len(set(resource_ids.values())) == len(resource_ids), resource_ids

        for name, report in reports.items():
            item = ok(api.get(f"/me/drive/items/{report['resourceId']}"))
            assert item["name"] == name, item
            assert item["size"] == source["size"], f"{name}: {item['size']} != {source['size']}"
            assert item["folder"]["childCount"] == source["folder"]["childCount"], item
            assert item["parentReference"]["id"] == root["id"], item
            by_path = ok(api.get(f"/me/drive/root:/{path_url(name)}"))
            assert by_path["id"] == item["id"], (name, by_path["id"], item["id"])
            location = report.get("resourceLocation")
            assert location and ok(api.get(location))["id"] == item["id"], report
        names = sorted(child["name"] for child in list_children(api, root["id"]))
        assert names == sorted([SOURCE, *monitors.urls]), f"root children: {names}"
        drive_root = ok(api.get("/me/drive/root"))
        assert drive_root["size"] == source["size"] * (1 + len(monitors.urls)), drive_root

        listed = ok(api.get("/me/drive/operations", params={"$top": 100}))["value"]
        assert len(listed) == len(monitors.urls), listed
        assert all(op["status"] == "completed" for op in listed), listed
        assert sorted(op["resourceId"] for op in listed) == sorted(resource_ids.values())
        assert all(op["itemsDone"] == op["itemsTotal"] == ITEMS for op in listed), listed
    crashing.stop()

    check_database(database_url(data_dir), source["id"], resource_ids)
    print("\n".join(timeline))
    print(f"crash test took {time.monotonic() - started:.1f} s")
