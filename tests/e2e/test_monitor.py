"""The monitor URL over real HTTP (issue 3): asyncJobStatus reports without authentication,
headers, progress on a large copy, cancel, failure reporting, long-poll, event stream,
finished-status modes, retention and revocation, and the monitor on its own listener.

Large trees come from `graphdrive.devtools.seed`, written into a data dir before its server
starts; with GRAPHDRIVE_COPY_BATCH_SIZE=200 a 32,000-item copy takes a few seconds, long enough
to watch it progress and to cancel it half-way.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from .helpers import (
    FINISHED_STATUSES,
    accepted_location,
    assert_graph_error,
    assert_report,
    child_names,
    copy_and_wait,
    download,
    get_item,
    make_folder,
    monitor_request,
    ok,
    poll_monitor,
    read_events,
    read_report,
    start_copy,
    unique,
    upload,
    wait_for_copy,
)
from .server import ServerProcess, clean_env, database_env, free_port, quick_token

pytestmark = pytest.mark.e2e

BIG_ITEMS = 32_000  # more than the real service's 30,000-item limit on one copy


def small_source(client: httpx.Client, parent_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A folder with a few files and a subfolder, and an empty destination folder."""
    src = make_folder(client, parent_id, "src")
    upload(client, src["id"], "one.txt", b"one")
    sub = make_folder(client, src["id"], "sub")
    upload(client, sub["id"], "two.txt", b"two two")
    dest = make_folder(client, parent_id, "dest")
    return src, dest


def token_of(location: str) -> str:
    return urlsplit(location).path.rsplit("/", 1)[-1]


def rebase(location: str, origin: str) -> str:
    """The same monitor path on another listener."""
    return origin + urlsplit(location).path


# --- the monitor on the session server --------------------------------------------------------


def test_monitor_needs_no_authorization_and_ignores_any_sent(
    server: ServerProcess, alice: httpx.Client, alice_token: str, workspace: dict[str, Any]
) -> None:
    src, dest = small_source(alice, workspace["id"])
    location = start_copy(alice, src["id"], {"parentReference": {"id": dest["id"]}})
    assert location.startswith(f"{server.origin}/monitor/"), location
    final = wait_for_copy(location)
    assert final["status"] == "completed", final
    for authorization in (
        "Bearer garbage",
        "Bearer aaaa.bbbb.cccc",
        "Basic YWxpY2U6c2VjcmV0",
        "nonsense",
        f"Bearer {alice_token}",
    ):
        assert read_report(location, {"Authorization": authorization}) == final, authorization


def test_completed_report_shape_and_headers(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src, dest = small_source(alice, workspace["id"])
    location = start_copy(alice, src["id"], {"parentReference": {"id": dest["id"]}})
    wait_for_copy(location)
    response = monitor_request("GET", location)
    assert response.status_code == 202  # the seed: 202 for the completed report too
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "retry-after" not in response.headers
    body = response.json()
    assert set(body) == {
        "operation",
        "percentageComplete",
        "status",
        "resourceId",
        "resourceLocation",
    }, body
    assert body["operation"] == "ItemCopy"
    assert body["status"] == "completed"
    assert body["percentageComplete"] == 100.0
    assert ok(alice.get(body["resourceLocation"]))["id"] == body["resourceId"]


def test_failed_report_shape(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src, dest = small_source(alice, workspace["id"])
    make_folder(alice, dest["id"], "src")
    location = start_copy(alice, src["id"], {"parentReference": {"id": dest["id"]}})
    final = wait_for_copy(location)
    assert final["status"] == "failed"
    assert set(final) >= {"operation", "percentageComplete", "status", "errorCode", "error"}
    assert final["errorCode"] == "nameAlreadyExists"
    assert final["error"]["code"] == "nameAlreadyExists"
    assert isinstance(final["statusDescription"], str) and final["statusDescription"]
    assert "resourceId" not in final and "resourceLocation" not in final


def test_monitor_tokens_are_unguessable(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src, dest = small_source(alice, workspace["id"])
    locations = [
        start_copy(alice, src["id"], {"parentReference": {"id": dest["id"]}}, conflict="rename")
        for _ in range(3)
    ]
    tokens = [token_of(loc) for loc in locations]
    assert len(set(tokens)) == 3
    for token in tokens:
        # At least 128 bits: 22+ characters of base64url (or 32+ hex digits).
        alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
        assert set(token) <= alphabet, token
        assert len(token.rstrip("=")) >= 22, token
    for location in locations:
        assert wait_for_copy(location)["status"] == "completed"
    token = tokens[0]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    origin = locations[0].rsplit("/monitor/", 1)[0]
    for guess in (flipped, token[:-1], token + "A", "0" * len(token), "nope"):
        response = monitor_request("GET", f"{origin}/monitor/{guess}")
        assert_graph_error(response, 404, "itemNotFound")
        assert_graph_error(monitor_request("DELETE", f"{origin}/monitor/{guess}"), 404)
    assert read_report(locations[0])["status"] == "completed"


def test_revoking_a_finished_monitor(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src, dest = small_source(alice, workspace["id"])
    location = start_copy(alice, src["id"], {"parentReference": {"id": dest["id"]}})
    final = wait_for_copy(location)
    assert final["status"] == "completed"
    response = monitor_request("DELETE", location)
    assert response.status_code == 204, (response.status_code, response.text)
    assert_graph_error(monitor_request("GET", location), 404, "itemNotFound")
    assert_graph_error(monitor_request("DELETE", location), 404, "itemNotFound")
    # Revoking the monitor undoes nothing: the copy stays.
    assert ok(get_item(alice, final["resourceId"]))["name"] == "src"
    assert child_names(alice, dest["id"]) == ["src"]


def test_event_stream_ends_with_the_completed_report(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    src, dest = small_source(alice, workspace["id"])
    location = start_copy(alice, src["id"], {"parentReference": {"id": dest["id"]}})
    response, events = read_events(location, {"Authorization": "Bearer garbage"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert events, "no events"
    assert all(name == "status" for name, _ in events), events
    reports = [assert_report(body) for _, body in events]
    assert reports[-1]["status"] == "completed", reports
    assert all(r["status"] not in FINISHED_STATUSES for r in reports[:-1]), reports
    percents = [r["percentageComplete"] for r in reports]
    assert percents == sorted(percents), percents
    assert reports[-1] == read_report(location)
    # On a finished monitor the stream is the final report, then the end.
    _, again = read_events(location)
    assert [body for _, body in again] == [reports[-1]]


def test_long_poll_on_a_finished_monitor_answers_at_once(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    src, dest = small_source(alice, workspace["id"])
    location = start_copy(alice, src["id"], {"parentReference": {"id": dest["id"]}})
    final = wait_for_copy(location)
    started = time.monotonic()
    response = monitor_request("GET", location, {"Prefer": "wait=10"})
    assert time.monotonic() - started < 3
    assert response.json() == final


# --- a queued operation: a server without workers ----------------------------------------------


def test_queued_copy_reports_not_started(idle_alice: httpx.Client) -> None:
    root = ok(idle_alice.get("/me/drive/root"))
    ws = make_folder(idle_alice, root["id"], unique("ws"))
    src, dest = small_source(idle_alice, ws["id"])
    location = start_copy(idle_alice, src["id"], {"parentReference": {"id": dest["id"]}})
    for _ in range(3):
        body = read_report(location)  # 202 + Retry-After while not finished
        assert body == {"operation": "ItemCopy", "percentageComplete": 0.0, "status": "notStarted"}
        time.sleep(0.1)
    assert child_names(idle_alice, dest["id"]) == []
    assert monitor_request("DELETE", location).json()["status"] == "cancelled"


def test_cancel_a_queued_copy(idle_alice: httpx.Client) -> None:
    root = ok(idle_alice.get("/me/drive/root"))
    ws = make_folder(idle_alice, root["id"], unique("ws"))
    src, dest = small_source(idle_alice, ws["id"])
    size_before = ok(get_item(idle_alice, ws["id"]))["size"]
    location = start_copy(idle_alice, src["id"], {"parentReference": {"id": dest["id"]}})
    assert read_report(location)["status"] == "notStarted"

    response = monitor_request("DELETE", location, {"Authorization": "Bearer garbage"})
    assert response.status_code in (200, 202), (response.status_code, response.text)
    body = assert_report(response.json())
    assert body["status"] in ("deletePending", "cancelled"), body
    final = wait_for_copy(location)
    assert final["status"] == "cancelled", final
    assert final["percentageComplete"] < 100
    assert child_names(idle_alice, dest["id"]) == []
    assert ok(get_item(idle_alice, ws["id"]))["size"] == size_before

    listed = ok(idle_alice.get("/me/drive/operations?status=cancelled"))["value"]
    assert any(op["status"] == "cancelled" for op in listed), listed
    # Cancelling again revokes the (finished) monitor.
    assert monitor_request("DELETE", location).status_code == 204
    assert_graph_error(monitor_request("GET", location), 404, "itemNotFound")


def test_long_poll_waits_about_n_seconds_when_nothing_changes(idle_alice: httpx.Client) -> None:
    root = ok(idle_alice.get("/me/drive/root"))
    ws = make_folder(idle_alice, root["id"], unique("ws"))
    src, dest = small_source(idle_alice, ws["id"])
    location = start_copy(idle_alice, src["id"], {"parentReference": {"id": dest["id"]}})
    try:
        started = time.monotonic()
        response = monitor_request("GET", location, {"Prefer": "wait=1"})
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < 4, elapsed
        assert response.status_code == 202
        assert response.headers.get("preference-applied") == "wait=1", dict(response.headers)
        assert response.headers.get("retry-after", "").isdigit()
        assert assert_report(response.json())["status"] == "notStarted"
        # Without Prefer: wait the monitor answers at once.
        started = time.monotonic()
        read_report(location)
        assert time.monotonic() - started < 1.5
    finally:
        monitor_request("DELETE", location)


def test_long_poll_returns_early_when_the_status_changes(idle_alice: httpx.Client) -> None:
    root = ok(idle_alice.get("/me/drive/root"))
    ws = make_folder(idle_alice, root["id"], unique("ws"))
    src, dest = small_source(idle_alice, ws["id"])
    location = start_copy(idle_alice, src["id"], {"parentReference": {"id": dest["id"]}})
    result: dict[str, Any] = {}

    def long_poll() -> None:
        started = time.monotonic()
        result["response"] = monitor_request("GET", location, {"Prefer": "wait=20"})
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=long_poll)
    thread.start()
    time.sleep(0.7)
    cancelled_at = time.monotonic()
    assert monitor_request("DELETE", location).status_code in (200, 202)
    thread.join(timeout=25)
    assert not thread.is_alive()
    response = result["response"]
    assert result["elapsed"] >= 0.6, result  # it did wait while nothing changed
    assert time.monotonic() - cancelled_at < 3, result  # and returned soon after the change
    assert response.headers.get("preference-applied", "").startswith("wait="), response.headers
    assert assert_report(response.json())["status"] in ("deletePending", "cancelled")


# --- a large copy: progress, cancel, failure ---------------------------------------------------


@dataclass
class BigTree:
    server: ServerProcess
    client: httpx.Client
    monitor_port: int
    folder_id: str
    items: int
    size: int

    def count_items(self) -> tuple[int, int, int]:
        """(items rows, parentless items, drives) read from the server's database.

        Over HTTP a detached (unpublished) tree is invisible, so "no partial tree is left" is
        checked where it would hide: every item but a drive's root has a parent.
        """
        queries = (
            "SELECT COUNT(*) FROM items",
            "SELECT COUNT(*) FROM items WHERE parent_id IS NULL",
            "SELECT COUNT(*) FROM drives",
        )
        url = database_env(self.server.data_dir).get("GRAPHDRIVE_DATABASE_URL")
        if url:
            import psycopg

            with psycopg.connect(url.replace("+psycopg", "")) as pg:
                counts = [pg.execute(q).fetchone() for q in queries]
        else:
            path = self.server.data_dir / "graphdrive.db"
            with closing(sqlite3.connect(path, timeout=30)) as db:
                counts = [db.execute(q).fetchone() for q in queries]
        items, loose, drives = (int(row[0]) if row else 0 for row in counts)
        return items, loose, drives

    def used(self) -> int:
        return int(ok(self.client.get("/me/drive"))["quota"]["used"])

    def dest(self) -> dict[str, Any]:
        root = ok(self.client.get("/me/drive/root"))
        return make_folder(self.client, root["id"], unique("dest"))


def seed_tree(data_dir: Path, user: str, name: str, items: int) -> dict[str, Any]:
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "graphdrive.devtools.seed", "--data-dir", str(data_dir)),
            *("--user", user, "--name", name, "--items", str(items)),
        ],
        capture_output=True,
        text=True,
        env=clean_env(database_env(data_dir)),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, spawn_server: Any) -> Iterator[BigTree]:
    data_dir = tmp_path_factory.mktemp("bigcopy") / "data"
    seeded = seed_tree(data_dir, "alice", "Big", BIG_ITEMS)
    monitor_port = free_port()
    env = {
        "GRAPHDRIVE_COPY_BATCH_SIZE": "200",
        "GRAPHDRIVE_MAX_ACTIVE_OPERATIONS_PER_USER": "1",
        # The monitor also listens on its own port, and Locations point there.
        "GRAPHDRIVE_MONITOR_PORT": str(monitor_port),
    }
    with (
        spawn_server(env, data_dir=data_dir) as srv,
        srv.client(quick_token(data_dir, "alice")) as client,
    ):
        yield BigTree(
            srv, client, monitor_port, seeded["id"], int(seeded["items"]), int(seeded["size"])
        )


def test_progress_of_a_large_copy(big: BigTree) -> None:
    c = big.client
    source = ok(get_item(c, big.folder_id))
    assert source["size"] == big.size
    dest = big.dest()
    items_before, _, drives = big.count_items()
    used_before = big.used()

    location = start_copy(c, big.folder_id, {"parentReference": {"id": dest["id"]}})
    assert urlsplit(location).port == big.monitor_port, location
    streamed: dict[str, Any] = {}

    def stream() -> None:
        streamed["response"], streamed["events"] = read_events(location)

    sse = threading.Thread(target=stream)
    sse.start()

    reports = poll_monitor(location, timeout=90, interval=0.1)
    final = reports[-1]
    assert final["status"] == "completed", final
    statuses = [r["status"] for r in reports]
    assert set(statuses) <= {"notStarted", "inProgress", "completed"}, statuses
    midway = [r["percentageComplete"] for r in reports if r["status"] == "inProgress"]
    assert any(0 < p < 100 for p in midway), f"never saw progress: {statuses} {midway}"
    assert len({p for p in midway if p > 0}) >= 3, f"progress too coarse: {midway}"

    # The copy is complete the moment it says so.
    copy = ok(get_item(c, final["resourceId"]))
    assert copy["name"] == "Big"
    assert copy["size"] == big.size
    assert copy["folder"]["childCount"] == source["folder"]["childCount"]
    assert ok(c.get(f"/me/drive/root:/{dest['name']}/Big"))["id"] == copy["id"]
    leaf = ok(c.get(f"/me/drive/root:/{dest['name']}/Big/file-1.txt"))
    assert download(c, leaf["id"]) == download(c, ok(c.get("/me/drive/root:/Big/file-1.txt"))["id"])
    assert ok(get_item(c, dest["id"]))["size"] == big.size
    assert big.used() == used_before + big.size
    items_after, loose, _ = big.count_items()
    assert items_after == items_before + big.items  # exactly once: no duplicates, no orphans
    assert loose == drives

    sse.join(timeout=30)
    assert not sse.is_alive()
    assert streamed["response"].headers["content-type"].startswith("text/event-stream")
    events = [assert_report(body) for _, body in streamed["events"]]
    assert events[-1] == final, events[-1]
    assert len(events) >= 3, events
    percents = [e["percentageComplete"] for e in events]
    assert percents == sorted(percents), percents


def test_long_poll_during_a_large_copy_returns_on_progress(big: BigTree) -> None:
    dest = big.dest()
    location = start_copy(big.client, big.folder_id, {"parentReference": {"id": dest["id"]}})
    try:
        first = read_report(location)
        started = time.monotonic()
        response = monitor_request("GET", location, {"Prefer": "wait=30"})
        elapsed = time.monotonic() - started
        body = assert_report(response.json())
        assert body != first, (first, body)
        assert elapsed < 10, elapsed
        assert response.headers.get("preference-applied") == "wait=30", response.headers
    finally:
        monitor_request("DELETE", location)
        final = wait_for_copy(location, timeout=60)
    assert final["status"] in ("cancelled", "completed"), final


def test_cancel_a_large_copy_mid_flight_leaves_nothing(big: BigTree) -> None:
    c = big.client
    dest = big.dest()
    items_before, _, drives = big.count_items()
    used_before = big.used()

    location = start_copy(c, big.folder_id, {"parentReference": {"id": dest["id"]}})
    listed = ok(c.get("/me/drive/operations?status=notStarted,inProgress"))["value"]
    mine = [op for op in listed if op.get("monitorUrl") == location]
    assert len(mine) == 1, listed
    op_id = mine[0]["id"]

    # Wait until some batches are built, then cancel.
    before_cancel = poll_until(location, lambda r: r["percentageComplete"] > 0)
    assert before_cancel["status"] == "inProgress", before_cancel
    assert before_cancel["percentageComplete"] < 60, before_cancel
    response = monitor_request("DELETE", location)
    assert response.status_code == 202, (response.status_code, response.text)
    assert assert_report(response.json())["status"] in ("deletePending", "cancelled")

    reports = poll_monitor(location, timeout=60)
    final = reports[-1]
    assert final["status"] == "cancelled", reports
    assert {r["status"] for r in reports} <= {"deletePending", "cancelled"}, reports
    assert "resourceId" not in final

    assert child_names(c, dest["id"]) == []
    assert ok(get_item(c, dest["id"]))["size"] == 0
    assert big.used() == used_before
    items_after, loose, _ = big.count_items()
    assert (items_after, loose) == (items_before, drives)

    by_id = c.get(f"/me/drive/operations/{op_id}")
    assert by_id.status_code in (200, 202), by_id.text
    assert by_id.json()["status"] == "cancelled"
    cancelled = ok(c.get("/me/drive/operations?status=cancelled"))["value"]
    assert op_id in [op["id"] for op in cancelled]
    running = ok(c.get("/me/drive/operations?status=inProgress,deletePending"))["value"]
    assert op_id not in [op["id"] for op in running]


def test_per_user_limit_reports_waiting(big: BigTree) -> None:
    """The big server allows one active operation per user: the next one is `waiting`."""
    first = start_copy(big.client, big.folder_id, {"parentReference": {"id": big.dest()["id"]}})
    second = None
    try:
        poll_until(first, lambda r: r["status"] == "inProgress")
        second = start_copy(
            big.client, big.folder_id, {"parentReference": {"id": big.dest()["id"]}}
        )
        body = read_report(second)
        assert body["status"] == "waiting", body
        assert body["percentageComplete"] == 0.0
    finally:
        for location in (second, first):
            if location:
                monitor_request("DELETE", location)
        for location in (second, first):
            if location:
                assert wait_for_copy(location, timeout=60)["status"] == "cancelled"


def test_failure_when_the_destination_disappears(big: BigTree) -> None:
    c = big.client
    dest = big.dest()
    items_before, _, drives = big.count_items()
    used_before = big.used()
    location = start_copy(c, big.folder_id, {"parentReference": {"id": dest["id"]}})
    response = c.delete(f"/me/drive/items/{dest['id']}")
    assert response.status_code == 204, response.text

    final = wait_for_copy(location, timeout=90)
    assert final["status"] == "failed", final
    assert final["errorCode"] == "itemNotFound", final
    assert final["error"]["code"] == "itemNotFound", final
    assert final["statusDescription"]
    assert big.used() == used_before
    items_after, loose, _ = big.count_items()
    assert (items_after, loose) == (items_before - 1, drives)  # only the deleted folder is gone


def poll_until(location: str, condition: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = read_report(location)
        if condition(body) or body["status"] in FINISHED_STATUSES:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


# --- failure reported when the source is gone before a worker runs ---------------------------


def test_failure_when_the_source_is_deleted_before_a_worker_runs(
    idle_server: ServerProcess, idle_alice: httpx.Client, spawn_server: Any
) -> None:
    root = ok(idle_alice.get("/me/drive/root"))
    ws = make_folder(idle_alice, root["id"], unique("ws"))
    src, dest = small_source(idle_alice, ws["id"])
    location = start_copy(idle_alice, src["id"], {"parentReference": {"id": dest["id"]}})
    assert read_report(location)["status"] == "notStarted"
    assert idle_alice.delete(f"/me/drive/items/{src['id']}").status_code == 204
    # A server with workers on the same data: the accepted operation runs and fails cleanly.
    with spawn_server({}, data_dir=idle_server.data_dir) as worker:
        final = wait_for_copy(rebase(location, worker.origin), timeout=30)
    assert final["status"] == "failed", final
    assert final["errorCode"] == "itemNotFound", final
    assert final["error"]["code"] == "itemNotFound"
    assert read_report(location) == final
    assert child_names(idle_alice, dest["id"]) == []
    assert child_names(idle_alice, ws["id"]) == ["dest"]


# --- finished-status modes, retention ---------------------------------------------------------


def test_finished_status_303_points_at_the_item(spawn_server: Any) -> None:
    with (
        spawn_server({"GRAPHDRIVE_MONITOR_FINISHED_STATUS": "303"}) as srv,
        srv.client(quick_token(srv.data_dir, "alice")) as c,
    ):
        root = ok(c.get("/me/drive/root"))
        src, dest = small_source(c, root["id"])
        location = start_copy(c, src["id"], {"parentReference": {"id": dest["id"]}})
        final = wait_for_copy(location, finished_status=303)
        assert final["status"] == "completed"
        response = monitor_request("GET", location)
        assert response.status_code == 303
        target = response.headers["location"]
        assert target.startswith(srv.origin), target
        assert target == final["resourceLocation"]
        item = ok(c.get(target))
        assert item["id"] == final["resourceId"] and item["name"] == "src"
        # A failed operation has nothing to point at: still a report with the error.
        make_folder(c, dest["id"], "again")
        failing = start_copy(c, src["id"], {"parentReference": {"id": dest["id"]}, "name": "again"})
        deadline = time.monotonic() + 30
        while True:
            response = monitor_request("GET", failing)
            body = assert_report(response.json())
            if body["status"] in FINISHED_STATUSES:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert body["status"] == "failed" and body["errorCode"] == "nameAlreadyExists"
        assert response.status_code in (200, 202), response.status_code  # nothing to point at
        assert "location" not in response.headers, dict(response.headers)


def test_monitor_retention_then_404(spawn_server: Any) -> None:
    with (
        spawn_server({"GRAPHDRIVE_MONITOR_RETENTION_SECONDS": "2"}) as srv,
        srv.client(quick_token(srv.data_dir, "alice")) as c,
    ):
        root = ok(c.get("/me/drive/root"))
        src, dest = small_source(c, root["id"])
        location = start_copy(c, src["id"], {"parentReference": {"id": dest["id"]}})
        final = wait_for_copy(location)
        seen_at = time.monotonic()
        assert final["status"] == "completed"
        assert read_report(location) == final  # still kept
        time.sleep(max(0.0, seen_at + 2.5 - time.monotonic()))
        assert_graph_error(monitor_request("GET", location), 404, "itemNotFound")
        assert_graph_error(
            monitor_request("GET", location, {"Prefer": "wait=5"}), 404, "itemNotFound"
        )
        # The monitor expired; the copy did not.
        assert ok(get_item(c, final["resourceId"]))["name"] == "src"


# --- the monitor on its own listener -----------------------------------------------------------


def test_finished_status_200(spawn_server: Any) -> None:
    with (
        spawn_server({"GRAPHDRIVE_MONITOR_FINISHED_STATUS": "200"}) as srv,
        srv.client(quick_token(srv.data_dir, "alice")) as c,
    ):
        root = ok(c.get("/me/drive/root"))
        src, dest = small_source(c, root["id"])
        final = wait_for_copy(
            start_copy(c, src["id"], {"parentReference": {"id": dest["id"]}}), finished_status=200
        )
        assert final["status"] == "completed", final
        failed = wait_for_copy(
            start_copy(c, src["id"], {"parentReference": {"id": dest["id"]}}), finished_status=200
        )
        assert failed["status"] == "failed" and failed["errorCode"] == "nameAlreadyExists"


def test_monitor_on_its_own_port(big: BigTree) -> None:
    c = big.client
    root = ok(c.get("/me/drive/root"))
    ws = make_folder(c, root["id"], unique("ws"))
    src, dest = small_source(c, ws["id"])
    location = start_copy(c, src["id"], {"parentReference": {"id": dest["id"]}})
    parts = urlsplit(location)
    assert (parts.scheme, parts.hostname, parts.port) == ("http", "127.0.0.1", big.monitor_port)
    garbage = {"Authorization": "Bearer garbage"}
    final = wait_for_copy(location, headers=garbage)
    assert final["status"] == "completed", final
    # resourceLocation points back at the API listener, not the monitor's.
    assert final["resourceLocation"].startswith(big.server.api + "/"), final
    assert ok(c.get(final["resourceLocation"]))["id"] == final["resourceId"]
    for authorization in ("Bearer garbage", "Basic Zm9vOmJhcg==", "x"):
        assert read_report(location, {"Authorization": authorization}) == final
    _, events = read_events(location, garbage)
    assert [body for _, body in events] == [final]
    failing = start_copy(c, src["id"], {"parentReference": {"id": dest["id"]}})
    assert urlsplit(failing).port == big.monitor_port
    failed = wait_for_copy(failing, headers=garbage)
    assert failed["status"] == "failed" and failed["errorCode"] == "nameAlreadyExists"
    assert monitor_request("DELETE", failing, garbage).status_code == 204
    assert_graph_error(monitor_request("GET", failing), 404, "itemNotFound")


@contextmanager
def standalone_monitor(data_dir: Path, port: int, api_origin: str) -> Iterator[str]:
    """`graphdrive monitor` alone, on its own port, sharing the API server's data dir."""
    log = data_dir.parent / "monitor.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "graphdrive", "monitor", "--host", "127.0.0.1"),
                *("--port", str(port), "--data-dir", str(data_dir)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env({**database_env(data_dir), "GRAPHDRIVE_PUBLIC_URL": api_origin}),
        )
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(f"{origin}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        yield origin
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_standalone_monitor_process_at_the_configured_url(
    tmp_path: Path, spawn_server: Any
) -> None:
    data_dir = tmp_path / "data"
    monitor_port = free_port()
    monitor_origin = f"http://127.0.0.1:{monitor_port}"
    env = {"GRAPHDRIVE_MONITOR_URL": monitor_origin}
    with (
        spawn_server(env, data_dir=data_dir) as srv,
        standalone_monitor(data_dir, monitor_port, srv.origin),
        srv.client(quick_token(data_dir, "alice")) as c,
    ):
        root = ok(c.get("/me/drive/root"))
        src, dest = small_source(c, root["id"])
        location = start_copy(c, src["id"], {"parentReference": {"id": dest["id"]}})
        assert location.startswith(f"{monitor_origin}/monitor/"), location
        final = wait_for_copy(location, headers={"Authorization": "Bearer garbage"})
        assert final["status"] == "completed", final
        assert ok(c.get(final["resourceLocation"]))["id"] == final["resourceId"]
        assert (
            copy_and_wait(c, src["id"], {"parentReference": {"id": dest["id"]}})["errorCode"]
            == "nameAlreadyExists"
        )
        assert accepted_location(
            c.post(f"/me/drive/items/{src['id']}/copy", json={"name": "x"})
        ).startswith(monitor_origin)
