"""Drives, the root folder, and the ways to address an item: by id, by path, percent-encoded."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .helpers import (
    assert_graph_error,
    download_location,
    fetch_download,
    make_folder,
    ok,
    path_url,
    seg,
    unique,
    upload,
)

pytestmark = pytest.mark.e2e


# --- drives ---------------------------------------------------------------------------------


def test_me_drive_is_a_personal_drive(alice: httpx.Client) -> None:
    drive = ok(alice.get("/me/drive"))
    assert isinstance(drive["id"], str) and drive["id"]
    assert isinstance(drive["driveType"], str) and drive["driveType"]


def test_me_drive_is_stable_across_requests(alice: httpx.Client) -> None:
    assert ok(alice.get("/me/drive"))["id"] == ok(alice.get("/me/drive"))["id"]


def test_me_drives_lists_the_personal_drive(
    alice: httpx.Client, alice_drive: dict[str, Any]
) -> None:
    body = ok(alice.get("/me/drives"))
    assert isinstance(body["value"], list)
    assert alice_drive["id"] in [d["id"] for d in body["value"]]


def test_drive_by_id_equals_me_drive(alice: httpx.Client, alice_drive: dict[str, Any]) -> None:
    drive = ok(alice.get(f"/drives/{alice_drive['id']}"))
    assert drive["id"] == alice_drive["id"]
    assert drive["driveType"] == alice_drive["driveType"]


def test_each_user_gets_their_own_drive(
    alice_drive: dict[str, Any], bob: httpx.Client, carol: httpx.Client
) -> None:
    bob_drive = ok(bob.get("/me/drive"))
    carol_drive = ok(carol.get("/me/drive"))
    assert len({alice_drive["id"], bob_drive["id"], carol_drive["id"]}) == 3


def test_unknown_drive_id_is_404(alice: httpx.Client) -> None:
    assert_graph_error(alice.get("/drives/no-such-drive-0000"), 404, "itemNotFound")


# --- root -----------------------------------------------------------------------------------


def test_root_is_a_folder(alice: httpx.Client, alice_root: dict[str, Any]) -> None:
    assert alice_root["id"]
    assert "folder" in alice_root
    assert isinstance(alice_root["folder"]["childCount"], int)
    assert "file" not in alice_root


def test_root_through_drive_id_route(
    alice: httpx.Client, alice_drive: dict[str, Any], alice_root: dict[str, Any]
) -> None:
    root = ok(alice.get(f"/drives/{alice_drive['id']}/root"))
    assert root["id"] == alice_root["id"]


def test_root_by_its_id(alice: httpx.Client, alice_root: dict[str, Any]) -> None:
    assert ok(alice.get(f"/me/drive/items/{alice_root['id']}"))["id"] == alice_root["id"]


def test_root_alias_in_items_route(alice: httpx.Client, alice_root: dict[str, Any]) -> None:
    """Graph accepts `items/root` as an alias of the root item."""
    assert ok(alice.get("/me/drive/items/root"))["id"] == alice_root["id"]


def test_root_children_lists_new_folder(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    names = []
    url: str | None = "/me/drive/root/children"
    while url:
        page = ok(alice.get(url))
        names += [item["name"] for item in page["value"]]
        url = page.get("@odata.nextLink")
    assert workspace["name"] in names


# --- addressing by id and by path -----------------------------------------------------------


@pytest.fixture
def tree(alice: httpx.Client, workspace: dict[str, Any]) -> dict[str, Any]:
    """workspace/sub/b.txt and workspace/a.txt."""
    sub = make_folder(alice, workspace["id"], "sub")
    b = upload(alice, sub["id"], "b.txt", b"bee")
    a = upload(alice, workspace["id"], "a.txt", b"ay")
    return {"ws": workspace, "sub": sub, "a": a, "b": b}


def test_item_by_id(alice: httpx.Client, tree: dict[str, Any]) -> None:
    item = ok(alice.get(f"/me/drive/items/{tree['b']['id']}"))
    assert item["name"] == "b.txt"
    assert item["size"] == 3


def test_item_by_id_through_drive_route(
    alice: httpx.Client, alice_drive: dict[str, Any], tree: dict[str, Any]
) -> None:
    item = ok(alice.get(f"/drives/{alice_drive['id']}/items/{tree['b']['id']}"))
    assert item["id"] == tree["b"]["id"]


@pytest.mark.parametrize("trailing_colon", ["", ":"], ids=["no-colon", "colon"])
def test_item_by_root_path(alice: httpx.Client, tree: dict[str, Any], trailing_colon: str) -> None:
    ws = seg(tree["ws"]["name"])
    item = ok(alice.get(f"/me/drive/root:/{ws}/sub/b.txt{trailing_colon}"))
    assert item["id"] == tree["b"]["id"]
    folder = ok(alice.get(f"/me/drive/root:/{ws}/sub{trailing_colon}"))
    assert folder["id"] == tree["sub"]["id"]


@pytest.mark.parametrize("trailing_colon", ["", ":"], ids=["no-colon", "colon"])
def test_item_by_path_relative_to_item(
    alice: httpx.Client, tree: dict[str, Any], trailing_colon: str
) -> None:
    item = ok(alice.get(f"/me/drive/items/{tree['ws']['id']}:/sub/b.txt{trailing_colon}"))
    assert item["id"] == tree["b"]["id"]


def test_item_by_path_through_drive_route(
    alice: httpx.Client, alice_drive: dict[str, Any], tree: dict[str, Any]
) -> None:
    ws = seg(tree["ws"]["name"])
    item = ok(alice.get(f"/drives/{alice_drive['id']}/root:/{ws}/a.txt:"))
    assert item["id"] == tree["a"]["id"]
    item = ok(alice.get(f"/drives/{alice_drive['id']}/items/{tree['ws']['id']}:/sub/b.txt:"))
    assert item["id"] == tree["b"]["id"]


def test_path_children_route(alice: httpx.Client, tree: dict[str, Any]) -> None:
    ws = seg(tree["ws"]["name"])
    page = ok(alice.get(f"/me/drive/root:/{ws}:/children"))
    assert sorted(item["name"] for item in page["value"]) == ["a.txt", "sub"]


def test_percent_encoded_segments_are_decoded(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    item = upload(alice, workspace["id"], "my file #1 & ü.txt", b"spaces")
    assert item["name"] == "my file #1 & ü.txt"
    found = ok(alice.get(f"/me/drive/root:/{path_url(workspace['name'] + '/' + item['name'])}"))
    assert found["id"] == item["id"]


def test_whole_path_segment_percent_encoded(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    """Some SDKs encode the whole segment: `items/root%3A%2Fa%2Fa.txt%3A/content`."""
    data = b"encoded whole segment"
    item = upload(alice, workspace["id"], "a.txt", data)
    encoded = seg(f"root:/{workspace['name']}/a.txt:")
    assert "%3A" in encoded and "%2F" in encoded
    assert ok(alice.get(f"/me/drive/items/{encoded}"))["id"] == item["id"]
    location = download_location(alice, f"/me/drive/items/{encoded}/content")
    assert fetch_download(location).content == data


def test_missing_path_is_404(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    ws = seg(workspace["name"])
    assert_graph_error(alice.get(f"/me/drive/root:/{ws}/nope.txt"), 404, "itemNotFound")
    assert_graph_error(alice.get(f"/me/drive/root:/{ws}/nope/deeper:"), 404, "itemNotFound")


def test_path_through_a_file_is_404(alice: httpx.Client, tree: dict[str, Any]) -> None:
    ws = seg(tree["ws"]["name"])
    assert_graph_error(alice.get(f"/me/drive/root:/{ws}/a.txt/x"), 404, "itemNotFound")


def test_unknown_item_id_is_404(alice: httpx.Client) -> None:
    assert_graph_error(alice.get(f"/me/drive/items/{unique('nope')}"), 404, "itemNotFound")
