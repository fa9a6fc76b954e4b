"""The blocking face over the async core, item operations' wire format, and the models."""

from __future__ import annotations

import json

import pytest

from graphdrive.client import (
    ById,
    ConflictError,
    DriveClient,
    DriveItem,
    JobReport,
    JobStatus,
    NotFoundError,
    Operation,
)
from graphdrive.client.urls import item_url, split_path

from .test_client_fakes import API, MONITOR, TOKEN, FakeClock, FakeGraph, graph_error, item, reply

ROOT = item("ROOT", "root", folder=True, root={})


def sync_drive(graph: FakeGraph) -> DriveClient:
    return DriveClient("https://graph.test", TOKEN, transport=graph.transport(), clock=FakeClock())


def test_children_follow_every_next_link() -> None:
    next_url = f"{API}/me/drive/root:/docs:/children?$skiptoken=abc"
    graph = FakeGraph()
    graph.on(
        "GET",
        f"{API}/me/drive/root:/docs:/children",
        reply(200, {"value": [item("1", "a")], "@odata.nextLink": next_url}),
        reply(200, {"value": [item("2", "b"), item("3", "c")]}),
    )
    with sync_drive(graph) as drive:
        names = [c.name for c in drive.children("/docs")]
    assert names == ["a", "b", "c"]
    assert graph.requests[1].url.params["$skiptoken"] == "abc"


def test_mkdir_with_parents_creates_only_what_is_missing() -> None:
    graph = FakeGraph()
    graph.on("GET", f"{API}/me/drive/root", reply(200, ROOT))
    graph.on("GET", f"{API}/me/drive/root:/a", reply(200, item("A", "a", folder=True)))
    graph.on("GET", f"{API}/me/drive/root:/a/b", graph_error(404, "itemNotFound"))
    graph.on(
        "POST",
        f"{API}/drives/d1/items/A/children",
        reply(201, item("B", "b", folder=True, parent="/drive/root:/a")),
    )
    with sync_drive(graph) as drive:
        made = drive.mkdir("/a/b", parents=True)
    assert (made.id, made.path) == ("B", "/a/b")
    (post,) = graph.sent("POST")
    assert json.loads(post.content) == {
        "name": "b",
        "folder": {},
        "@microsoft.graph.conflictBehavior": "fail",
    }


def test_mkdir_without_parents_reports_a_taken_name() -> None:
    graph = FakeGraph().on(
        "POST", f"{API}/me/drive/root:/a:/children", graph_error(409, "nameAlreadyExists")
    )
    with sync_drive(graph) as drive, pytest.raises(ConflictError):
        drive.mkdir("/a/b")


def test_move_and_rename_send_graph_patches() -> None:
    graph = FakeGraph()
    graph.on("GET", f"{API}/me/drive/root:/dst", reply(200, item("DST", "dst", folder=True)))
    graph.on("PATCH", f"{API}/me/drive/root:/x.txt", reply(200, item("X", "y.txt")))
    graph.on("PATCH", f"{API}/me/drive/items/X", reply(200, item("X", "z.txt")))
    with sync_drive(graph) as drive:
        drive.move("/x.txt", "/dst", name="y.txt")
        drive.rename(ById("X"), "z.txt")
    bodies = [json.loads(r.content) for r in graph.sent("PATCH")]
    assert bodies == [{"parentReference": {"id": "DST"}, "name": "y.txt"}, {"name": "z.txt"}]


def test_not_found_names_the_item() -> None:
    with sync_drive(FakeGraph()) as drive:
        with pytest.raises(NotFoundError, match="/missing/file"):
            drive.get("missing/file")
        assert drive.find("/missing") is None


def test_copy_returns_a_blocking_operation() -> None:
    graph = FakeGraph()
    graph.on("GET", f"{API}/me/drive/root", reply(200, ROOT))
    graph.on("POST", f"{API}/me/drive/items/SRC/copy", reply(202, headers={"Location": MONITOR}))
    graph.on(
        "GET",
        MONITOR,
        reply(202, {"status": "inProgress", "percentageComplete": 50.0}),
        reply(202, {"status": "completed", "percentageComplete": 100.0, "resourceId": "NEW"}),
    )
    graph.on("GET", f"{API}/me/drive/items/NEW", reply(200, item("NEW", "copy")))
    seen: list[float | None] = []
    with sync_drive(graph) as drive:
        op = drive.copy(ById("SRC"), "/", name="copy")
        assert isinstance(op, Operation) and op.monitor_url == MONITOR
        assert op.wait(on_progress=lambda r: seen.append(r.percent)).resource_id == "NEW"
        assert op.result().id == "NEW"
        assert op.last_report is not None and op.last_report.finished
    assert seen == [50.0, 100.0]


def test_a_blocking_operation_from_a_monitor_url_alone() -> None:
    graph = FakeGraph().on(
        "GET", MONITOR, reply(200, {"status": "completed", "percentageComplete": 100.0})
    )
    with Operation.from_monitor_url(MONITOR, transport=graph.transport()) as op:
        assert op.status().status is JobStatus.COMPLETED
    assert "authorization" not in graph.requests[0].headers


def test_the_client_is_usable_after_an_error() -> None:
    graph = FakeGraph().on("GET", f"{API}/me/drive/root", reply(200, ROOT))
    with sync_drive(graph) as drive:
        with pytest.raises(NotFoundError):
            drive.get("/nope")
        assert drive.get("/").is_root


# --- pure parts -----------------------------------------------------------------------------


def test_item_urls_encode_each_segment() -> None:
    assert item_url("/me/drive", "/") == "/me/drive/root"
    assert item_url("/me/drive", "/", "children") == "/me/drive/root/children"
    assert item_url("/me/drive", "a b/c#d.txt") == "/me/drive/root:/a%20b/c%23d.txt"
    assert item_url("/me/drive", "/a/b", "copy") == "/me/drive/root:/a/b:/copy"
    assert item_url("/me/drive", ById("X1")) == "/me/drive/items/X1"
    assert item_url("/me/drive", ById("X1", "d2"), "content") == "/drives/d2/items/X1/content"
    with pytest.raises(ValueError):
        split_path("/a/../b")


def test_drive_item_paths_from_parent_references() -> None:
    assert DriveItem.from_json(item("1", "f.txt", parent="/drive/root:/a/b")).path == "/a/b/f.txt"
    assert DriveItem.from_json(item("1", "f.txt", parent="/drives/x/root:")).path == "/f.txt"
    root = DriveItem.from_json(ROOT)
    assert (root.path, root.is_folder, root.is_root) == ("/", True, True)


def test_job_reports_read_graph_and_graphdrive_fields() -> None:
    report = JobReport.from_json(
        {
            "status": "failed",
            "percentageComplete": 12,
            "errorCode": "nameAlreadyExists",
            "statusDescription": "taken",
            "itemsDone": 3,
            "itemsTotal": 9,
        }
    )
    assert (report.status, report.percent, report.error_code, report.error_message) == (
        JobStatus.FAILED,
        12.0,
        "nameAlreadyExists",
        "taken",
    )
    assert (report.items_done, report.items_total, report.finished) == (3, 9, True)
    assert JobReport.from_json({"status": "weird"}).status is JobStatus.UNKNOWN
