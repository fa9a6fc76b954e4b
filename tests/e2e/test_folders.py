"""Creating folders, conflict behaviours, and the driveItem fields of folders."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .helpers import (
    assert_datetime,
    assert_graph_error,
    child_names,
    create_folder,
    make_folder,
    ok,
    seg,
    unique,
    upload,
)

pytestmark = pytest.mark.e2e


def test_create_folder_returns_201_with_driveitem(
    alice: httpx.Client, alice_drive: dict[str, Any], workspace: dict[str, Any]
) -> None:
    folder = ok(create_folder(alice, workspace["id"], "docs"), 201)
    assert folder["name"] == "docs"
    assert folder["id"] and folder["id"] != workspace["id"]
    assert folder["folder"]["childCount"] == 0
    assert folder["size"] == 0
    assert "file" not in folder
    parent = folder["parentReference"]
    assert parent["id"] == workspace["id"]
    assert parent["driveId"] == alice_drive["id"]
    assert parent["driveType"] == alice_drive["driveType"]
    assert parent["path"] == f"/drive/root:/{workspace['name']}"
    assert ok(alice.get(f"/me/drive/items/{folder['id']}"))["name"] == "docs"


def test_folder_under_root_has_root_parent_path(
    workspace: dict[str, Any], alice_root: dict[str, Any]
) -> None:
    assert workspace["parentReference"]["id"] == alice_root["id"]
    assert workspace["parentReference"]["path"] == "/drive/root:"


def test_nested_parent_reference_path(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    a = make_folder(alice, workspace["id"], "a")
    b = make_folder(alice, a["id"], "b")
    c = make_folder(alice, b["id"], "c")
    assert c["parentReference"]["path"] == f"/drive/root:/{workspace['name']}/a/b"
    assert c["parentReference"]["id"] == b["id"]


def test_folder_core_fields(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    folder = ok(alice.get(f"/me/drive/items/{workspace['id']}"))
    assert isinstance(folder["eTag"], str) and folder["eTag"]
    assert isinstance(folder["cTag"], str) and folder["cTag"]
    created = assert_datetime(folder["createdDateTime"])
    modified = assert_datetime(folder["lastModifiedDateTime"])
    assert modified >= created
    assert folder["createdBy"]["user"]["displayName"]
    assert folder["lastModifiedBy"]["user"]["displayName"]
    assert_datetime(folder["fileSystemInfo"]["createdDateTime"])
    assert_datetime(folder["fileSystemInfo"]["lastModifiedDateTime"])


def test_create_folder_through_path_and_drive_routes(
    alice: httpx.Client, alice_drive: dict[str, Any], workspace: dict[str, Any]
) -> None:
    ws = seg(workspace["name"])
    by_path = alice.post(f"/me/drive/root:/{ws}:/children", json={"name": "p", "folder": {}})
    assert ok(by_path, 201)["parentReference"]["id"] == workspace["id"]
    by_drive = create_folder(alice, workspace["id"], "d", drive=f"/drives/{alice_drive['id']}")
    assert ok(by_drive, 201)["parentReference"]["id"] == workspace["id"]
    assert sorted(child_names(alice, workspace["id"])) == ["d", "p"]


def test_create_folder_in_root(alice: httpx.Client, alice_root: dict[str, Any]) -> None:
    name = unique("rootchild")
    folder = ok(alice.post("/me/drive/root/children", json={"name": name, "folder": {}}), 201)
    assert folder["parentReference"]["id"] == alice_root["id"]


# --- conflict behaviour ---------------------------------------------------------------------


def test_conflict_default_is_fail(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    make_folder(alice, workspace["id"], "x")
    assert_graph_error(create_folder(alice, workspace["id"], "x"), 409, "nameAlreadyExists")
    assert child_names(alice, workspace["id"]) == ["x"]


def test_conflict_fail(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    make_folder(alice, workspace["id"], "x")
    response = create_folder(alice, workspace["id"], "x", conflict="fail")
    assert_graph_error(response, 409, "nameAlreadyExists")


def test_conflict_with_a_file_fails(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    upload(alice, workspace["id"], "x", b"file named x")
    response = create_folder(alice, workspace["id"], "x", conflict="fail")
    assert_graph_error(response, 409, "nameAlreadyExists")


def test_conflict_rename_appends_lowest_free_number(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    make_folder(alice, workspace["id"], "x")
    first = ok(create_folder(alice, workspace["id"], "x", conflict="rename"), 201)
    second = ok(create_folder(alice, workspace["id"], "x", conflict="rename"), 201)
    assert first["name"] == "x 1"
    assert second["name"] == "x 2"
    assert sorted(child_names(alice, workspace["id"])) == ["x", "x 1", "x 2"]


def test_conflict_rename_without_conflict_keeps_name(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    folder = ok(create_folder(alice, workspace["id"], "fresh", conflict="rename"), 201)
    assert folder["name"] == "fresh"


def test_conflict_names_are_case_insensitive(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    """OneDrive names are case-insensitive: `Docs` and `docs` cannot live side by side."""
    make_folder(alice, workspace["id"], "Docs")
    assert_graph_error(create_folder(alice, workspace["id"], "docs"), 409, "nameAlreadyExists")


def test_conflict_replace(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    old = make_folder(alice, workspace["id"], "x")
    upload(alice, old["id"], "inside.txt", b"old content")
    new = ok(create_folder(alice, workspace["id"], "x", conflict="replace"), 201)
    assert new["name"] == "x"
    assert child_names(alice, workspace["id"]) == ["x"]
    assert ok(alice.get(f"/me/drive/items/{workspace['id']}"))["folder"]["childCount"] == 1


def test_unknown_conflict_behaviour_is_400(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    response = create_folder(alice, workspace["id"], "x", conflict="explode")
    assert_graph_error(response, 400, "invalidRequest")


# --- validation -----------------------------------------------------------------------------


def test_create_without_name_is_400(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    response = alice.post(f"/me/drive/items/{workspace['id']}/children", json={"folder": {}})
    assert_graph_error(response, 400, "invalidRequest")


def test_create_with_non_string_name_is_400(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    response = alice.post(
        f"/me/drive/items/{workspace['id']}/children", json={"name": 42, "folder": {}}
    )
    assert_graph_error(response, 400, "invalidRequest")


def test_create_under_a_file_fails(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    file = upload(alice, workspace["id"], "f.txt", b"x")
    response = create_folder(alice, file["id"], "child")
    assert_graph_error(response, (400, 409))


def test_create_under_missing_parent_is_404(alice: httpx.Client) -> None:
    assert_graph_error(create_folder(alice, "no-such-parent-id", "x"), 404, "itemNotFound")


# --- folder size and childCount -------------------------------------------------------------


def test_folder_size_is_total_of_descendants(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    top = make_folder(alice, workspace["id"], "top")
    upload(alice, top["id"], "a.bin", b"a" * 10)
    sub = make_folder(alice, top["id"], "sub")
    upload(alice, sub["id"], "b.bin", b"b" * 20)
    deeper = make_folder(alice, sub["id"], "deeper")
    upload(alice, deeper["id"], "c.bin", b"c" * 30)
    make_folder(alice, top["id"], "empty")

    top_now = ok(alice.get(f"/me/drive/items/{top['id']}"))
    assert top_now["size"] == 60
    assert top_now["folder"]["childCount"] == 3
    sub_now = ok(alice.get(f"/me/drive/items/{sub['id']}"))
    assert sub_now["size"] == 50
    assert sub_now["folder"]["childCount"] == 2
    ws_now = ok(alice.get(f"/me/drive/items/{workspace['id']}"))
    assert ws_now["size"] == 60
    assert ws_now["folder"]["childCount"] == 1


def test_folder_size_in_children_listing(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    sub = make_folder(alice, workspace["id"], "sub")
    upload(alice, sub["id"], "a.bin", b"a" * 7)
    upload(alice, sub["id"], "b.bin", b"b" * 5)
    (listed,) = ok(alice.get(f"/me/drive/items/{workspace['id']}/children"))["value"]
    assert listed["size"] == 12
    assert listed["folder"]["childCount"] == 2


def test_folder_size_follows_replace_and_delete(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    sub = make_folder(alice, workspace["id"], "sub")
    a = upload(alice, sub["id"], "a.bin", b"a" * 100)
    upload(alice, sub["id"], "b.bin", b"b" * 50)
    assert ok(alice.get(f"/me/drive/items/{workspace['id']}"))["size"] == 150

    ok(alice.put(f"/me/drive/items/{a['id']}/content", content=b"a" * 10))
    assert ok(alice.get(f"/me/drive/items/{workspace['id']}"))["size"] == 60

    assert alice.delete(f"/me/drive/items/{a['id']}").status_code == 204
    ws_now = ok(alice.get(f"/me/drive/items/{workspace['id']}"))
    assert ws_now["size"] == 50
    sub_now = ok(alice.get(f"/me/drive/items/{sub['id']}"))
    assert sub_now["folder"]["childCount"] == 1
