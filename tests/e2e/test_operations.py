"""The owner's view of long-running actions (issue 3): `GET /me/drive/operations` with status
filter and paging, `GET`/`DELETE /me/drive/operations/{id}`, and isolation between users."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .helpers import (
    accepted_location,
    assert_datetime,
    assert_graph_error,
    assert_report,
    child_names,
    make_folder,
    ok,
    post_copy,
    read_report,
    start_copy,
    unique,
    upload,
    wait_for_copy,
)
from .server import ServerProcess, quick_token

pytestmark = pytest.mark.e2e

FreshUser = Callable[..., httpx.Client]


def all_pages(client: httpx.Client, url: str) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    next_url: str | None = url
    while next_url is not None:
        page = ok(client.get(next_url))
        pages.append(page["value"])
        next_url = page.get("@odata.nextLink")
        if next_url is not None:
            assert next_url.startswith(("http://", "https://")), next_url
        assert len(pages) < 50, "nextLink loop"
    return pages


@pytest.fixture
def history(fresh_user: FreshUser) -> dict[str, Any]:
    """A new user with exactly three completed copies and one failed one, oldest first."""
    me = fresh_user("ops")
    root = ok(me.get("/me/drive/root"))
    src = make_folder(me, root["id"], "src")
    upload(me, src["id"], "a.txt", b"aaa")
    dest = make_folder(me, root["id"], "dest")
    body = {"parentReference": {"id": dest["id"]}}
    locations = [
        start_copy(me, src["id"], body),
        start_copy(me, src["id"], body, conflict="rename"),
        start_copy(me, src["id"], body, conflict="rename"),
    ]
    finals = [wait_for_copy(loc) for loc in locations]
    assert [f["status"] for f in finals] == ["completed"] * 3, finals
    failing = start_copy(me, src["id"], body)
    failed = wait_for_copy(failing)
    assert failed["status"] == "failed", failed
    return {
        "client": me,
        "locations": [*locations, failing],
        "finals": [*finals, failed],
        "src": src,
        "dest": dest,
    }


REPORT_FIELDS = {
    "operation",
    "percentageComplete",
    "status",
    "resourceId",
    "resourceLocation",
    "errorCode",
    "statusDescription",
    "error",
}


def test_list_operations_newest_first(history: dict[str, Any]) -> None:
    me = history["client"]
    value = ok(me.get("/me/drive/operations"))["value"]
    assert len(value) == 4, value
    for op in value:
        assert isinstance(op["id"], str) and op["id"]
        assert_report({k: v for k, v in op.items() if k in REPORT_FIELDS})
        assert_datetime(op["createdDateTime"])
    created = [op["createdDateTime"] for op in value]
    assert created == sorted(created, reverse=True), created
    assert [op["status"] for op in value] == ["failed", "completed", "completed", "completed"]
    # Each entry reports what its monitor reports.
    for op, final in zip(value, reversed(history["finals"]), strict=True):
        assert {k: v for k, v in op.items() if k in REPORT_FIELDS} == final
    assert len({op["id"] for op in value}) == 4


def test_list_operations_status_filter(history: dict[str, Any]) -> None:
    me = history["client"]
    completed = ok(me.get("/me/drive/operations", params={"status": "completed"}))["value"]
    assert len(completed) == 3 and {op["status"] for op in completed} == {"completed"}
    resource_ids = {op["resourceId"] for op in completed}
    assert resource_ids == {f["resourceId"] for f in history["finals"][:3]}
    failed = ok(me.get("/me/drive/operations", params={"status": "failed"}))["value"]
    assert [op["status"] for op in failed] == ["failed"]
    assert failed[0]["errorCode"] == "nameAlreadyExists"
    both = ok(me.get("/me/drive/operations", params={"status": "completed,failed"}))["value"]
    assert len(both) == 4
    assert ok(me.get("/me/drive/operations", params={"status": "inProgress"}))["value"] == []
    assert_graph_error(
        me.get("/me/drive/operations", params={"status": "bogus"}), 400, "invalidRequest"
    )


def test_list_operations_paging(history: dict[str, Any]) -> None:
    me = history["client"]
    everything = [op["id"] for op in ok(me.get("/me/drive/operations"))["value"]]
    pages = all_pages(me, "/me/drive/operations?$top=3")
    assert [len(p) for p in pages] == [3, 1]
    assert [op["id"] for page in pages for op in page] == everything
    pages = all_pages(me, "/me/drive/operations?$top=1")
    assert [op["id"] for page in pages for op in page] == everything
    # The filter is kept across pages.
    pages = all_pages(me, "/me/drive/operations?$top=2&status=completed")
    assert [len(p) for p in pages] == [2, 1]
    assert {op["status"] for page in pages for op in page} == {"completed"}
    first = ok(me.get("/me/drive/operations?$top=4"))
    assert "@odata.nextLink" not in first, first


def test_get_operation_by_id(history: dict[str, Any]) -> None:
    me = history["client"]
    value = ok(me.get("/me/drive/operations"))["value"]
    for op in value:
        response = me.get(f"/me/drive/operations/{op['id']}")
        assert response.status_code in (200, 202), response.text
        body = assert_report(response.json())
        assert body["status"] == op["status"]
        assert body.get("resourceId") == op.get("resourceId")
    assert_graph_error(me.get("/me/drive/operations/NOSUCHOPERATION"), 404, "itemNotFound")


def test_operations_belong_to_their_owner(
    history: dict[str, Any], bob: httpx.Client, anonymous: httpx.Client
) -> None:
    me = history["client"]
    ids = [op["id"] for op in ok(me.get("/me/drive/operations"))["value"]]
    for op_id in ids:
        assert_graph_error(bob.get(f"/me/drive/operations/{op_id}"), 404, "itemNotFound")
        assert_graph_error(bob.delete(f"/me/drive/operations/{op_id}"), 404, "itemNotFound")
    bobs = {op["id"] for page in all_pages(bob, "/me/drive/operations?$top=1000") for op in page}
    assert not bobs & set(ids)
    assert_graph_error(anonymous.get("/me/drive/operations"), 401, "unauthenticated")
    assert_graph_error(anonymous.get(f"/me/drive/operations/{ids[0]}"), 401, "unauthenticated")
    # Bob's attempt changed nothing.
    assert [me.get(f"/me/drive/operations/{i}").json()["status"] for i in ids[:1]] == ["failed"]


def test_cancel_a_queued_operation_by_id(idle_alice: httpx.Client) -> None:
    root = ok(idle_alice.get("/me/drive/root"))
    ws = make_folder(idle_alice, root["id"], unique("ws"))
    src = make_folder(idle_alice, ws["id"], "src")
    upload(idle_alice, src["id"], "a.txt", b"a")
    dest = make_folder(idle_alice, ws["id"], "dest")
    location = accepted_location(
        post_copy(idle_alice, src["id"], {"parentReference": {"id": dest["id"]}})
    )
    queued = ok(idle_alice.get("/me/drive/operations?status=notStarted"))["value"]
    mine = [op for op in queued if op.get("monitorUrl") == location]
    assert len(mine) == 1, queued
    assert mine[0]["status"] == "notStarted"
    op_id = mine[0]["id"]

    response = idle_alice.delete(f"/me/drive/operations/{op_id}")
    assert response.status_code in (200, 202), response.text
    assert assert_report(response.json())["status"] in ("deletePending", "cancelled")
    assert read_report(location)["status"] == "cancelled"
    by_id = idle_alice.get(f"/me/drive/operations/{op_id}")
    assert by_id.json()["status"] == "cancelled"
    assert child_names(idle_alice, dest["id"]) == []
    still_queued = ok(idle_alice.get("/me/drive/operations?status=notStarted"))["value"]
    assert op_id not in [op["id"] for op in still_queued]


def test_read_only_token_can_list_but_not_cancel(
    idle_server: ServerProcess, idle_alice: httpx.Client
) -> None:
    root = ok(idle_alice.get("/me/drive/root"))
    ws = make_folder(idle_alice, root["id"], unique("ws"))
    src = upload(idle_alice, ws["id"], "a.txt", b"a")
    location = start_copy(idle_alice, src["id"], {"name": "b.txt"})
    with idle_server.client(quick_token(idle_server.data_dir, "alice", "Files.Read")) as reader:
        listed = ok(reader.get("/me/drive/operations?status=notStarted"))["value"]
        mine = [op for op in listed if op.get("monitorUrl") == location]
        assert len(mine) == 1, listed
        response = reader.delete(f"/me/drive/operations/{mine[0]['id']}")
        assert_graph_error(response, 403, "accessDenied")
    assert read_report(location)["status"] == "notStarted"
    assert idle_alice.delete(f"/me/drive/operations/{mine[0]['id']}").status_code in (200, 202)
    assert read_report(location)["status"] == "cancelled"
