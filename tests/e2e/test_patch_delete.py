"""PATCH (rename, move, If-Match) and DELETE (files, folders recursively)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .helpers import (
    assert_graph_error,
    child_names,
    download,
    make_folder,
    ok,
    seg,
    unique,
    upload,
)

pytestmark = pytest.mark.e2e


def patch(client: httpx.Client, item_id: str, body: Any, **headers: str) -> httpx.Response:
    return client.patch(f"/me/drive/items/{item_id}", json=body, headers=headers)


# --- rename ---------------------------------------------------------------------------------


def test_rename_file(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    item = upload(alice, workspace["id"], "old.txt", b"content")
    renamed = ok(patch(alice, item["id"], {"name": "new.txt"}))
    assert renamed["id"] == item["id"]
    assert renamed["name"] == "new.txt"
    assert renamed["eTag"] != item["eTag"]
    assert child_names(alice, workspace["id"]) == ["new.txt"]
    ws = seg(workspace["name"])
    assert_graph_error(alice.get(f"/me/drive/root:/{ws}/old.txt"), 404, "itemNotFound")
    assert ok(alice.get(f"/me/drive/root:/{ws}/new.txt"))["id"] == item["id"]
    assert download(alice, item["id"]) == b"content"


def test_rename_folder_updates_descendant_paths(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    folder = make_folder(alice, workspace["id"], "before")
    inner = make_folder(alice, folder["id"], "inner")
    leaf = upload(alice, inner["id"], "leaf.txt", b"leaf")
    ok(patch(alice, folder["id"], {"name": "after"}))
    moved_leaf = ok(alice.get(f"/me/drive/items/{leaf['id']}"))
    assert moved_leaf["parentReference"]["path"] == f"/drive/root:/{workspace['name']}/after/inner"
    ws = seg(workspace["name"])
    assert ok(alice.get(f"/me/drive/root:/{ws}/after/inner/leaf.txt"))["id"] == leaf["id"]


def test_rename_onto_existing_name_is_409(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    a = upload(alice, workspace["id"], "a.txt", b"a")
    upload(alice, workspace["id"], "b.txt", b"b")
    assert_graph_error(patch(alice, a["id"], {"name": "b.txt"}), 409, "nameAlreadyExists")
    assert sorted(child_names(alice, workspace["id"])) == ["a.txt", "b.txt"]
    assert download(alice, a["id"]) == b"a"


def test_rename_to_same_name_is_fine(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    a = upload(alice, workspace["id"], "same.txt", b"a")
    assert ok(patch(alice, a["id"], {"name": "same.txt"}))["name"] == "same.txt"


# --- move -----------------------------------------------------------------------------------


def test_move_by_parent_reference_id(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src = make_folder(alice, workspace["id"], "src")
    dst = make_folder(alice, workspace["id"], "dst")
    item = upload(alice, src["id"], "m.txt", b"moving")
    moved = ok(patch(alice, item["id"], {"parentReference": {"id": dst["id"]}}))
    assert moved["id"] == item["id"]
    assert moved["name"] == "m.txt"
    assert moved["parentReference"]["id"] == dst["id"]
    assert moved["parentReference"]["path"] == f"/drive/root:/{workspace['name']}/dst"
    assert child_names(alice, src["id"]) == []
    assert child_names(alice, dst["id"]) == ["m.txt"]
    assert download(alice, item["id"]) == b"moving"


def test_move_and_rename_at_once(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    dst = make_folder(alice, workspace["id"], "dst")
    item = upload(alice, workspace["id"], "a.txt", b"a")
    moved = ok(patch(alice, item["id"], {"name": "z.txt", "parentReference": {"id": dst["id"]}}))
    assert moved["name"] == "z.txt"
    assert moved["parentReference"]["id"] == dst["id"]
    ws = seg(workspace["name"])
    assert ok(alice.get(f"/me/drive/root:/{ws}/dst/z.txt"))["id"] == item["id"]


def test_move_folder_with_contents_updates_sizes(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    src = make_folder(alice, workspace["id"], "src")
    dst = make_folder(alice, workspace["id"], "dst")
    box = make_folder(alice, src["id"], "box")
    upload(alice, box["id"], "a.bin", b"a" * 30)
    upload(alice, src["id"], "stay.bin", b"s" * 5)
    ok(patch(alice, box["id"], {"parentReference": {"id": dst["id"]}}))
    src_now = ok(alice.get(f"/me/drive/items/{src['id']}"))
    dst_now = ok(alice.get(f"/me/drive/items/{dst['id']}"))
    assert (src_now["size"], src_now["folder"]["childCount"]) == (5, 1)
    assert (dst_now["size"], dst_now["folder"]["childCount"]) == (30, 1)
    ws = seg(workspace["name"])
    assert ok(alice.get(f"/me/drive/root:/{ws}/dst/box/a.bin"))["size"] == 30


def test_move_onto_existing_name_is_409(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    dst = make_folder(alice, workspace["id"], "dst")
    upload(alice, dst["id"], "a.txt", b"already there")
    item = upload(alice, workspace["id"], "a.txt", b"mover")
    response = patch(alice, item["id"], {"parentReference": {"id": dst["id"]}})
    assert_graph_error(response, 409, "nameAlreadyExists")
    assert (
        ok(alice.get(f"/me/drive/items/{item['id']}"))["parentReference"]["id"] == workspace["id"]
    )


def test_move_folder_into_itself_is_400(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    folder = make_folder(alice, workspace["id"], "loop")
    response = patch(alice, folder["id"], {"parentReference": {"id": folder["id"]}})
    assert_graph_error(response, 400)
    assert (
        ok(alice.get(f"/me/drive/items/{folder['id']}"))["parentReference"]["id"] == workspace["id"]
    )


def test_move_folder_into_its_descendant_is_400(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    top = make_folder(alice, workspace["id"], "top")
    child = make_folder(alice, top["id"], "child")
    grandchild = make_folder(alice, child["id"], "grandchild")
    for target in (child, grandchild):
        response = patch(alice, top["id"], {"parentReference": {"id": target["id"]}})
        assert_graph_error(response, 400)
    assert ok(alice.get(f"/me/drive/items/{top['id']}"))["parentReference"]["id"] == workspace["id"]
    ws = seg(workspace["name"])
    assert ok(alice.get(f"/me/drive/root:/{ws}/top/child/grandchild"))["id"] == grandchild["id"]


def test_move_under_a_file_fails(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    file = upload(alice, workspace["id"], "f.txt", b"f")
    other = upload(alice, workspace["id"], "g.txt", b"g")
    response = patch(alice, other["id"], {"parentReference": {"id": file["id"]}})
    assert_graph_error(response, (400, 409))


def test_move_to_missing_parent_fails(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    item = upload(alice, workspace["id"], "f.txt", b"f")
    response = patch(alice, item["id"], {"parentReference": {"id": unique("nope")}})
    assert_graph_error(response, (400, 404))
    assert child_names(alice, workspace["id"]) == ["f.txt"]


# --- If-Match -------------------------------------------------------------------------------


def test_if_match_mismatch_is_412(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    item = upload(alice, workspace["id"], "guarded.txt", b"g")
    response = patch(alice, item["id"], {"name": "changed.txt"}, **{"If-Match": '"not-the-etag"'})
    assert_graph_error(response, 412)
    assert ok(alice.get(f"/me/drive/items/{item['id']}"))["name"] == "guarded.txt"


def test_if_match_stale_etag_is_412(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    item = upload(alice, workspace["id"], "guarded.txt", b"g")
    ok(patch(alice, item["id"], {"name": "first.txt"}))
    response = patch(alice, item["id"], {"name": "second.txt"}, **{"If-Match": item["eTag"]})
    assert_graph_error(response, 412)
    assert ok(alice.get(f"/me/drive/items/{item['id']}"))["name"] == "first.txt"


def test_if_match_current_etag_succeeds(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    item = upload(alice, workspace["id"], "guarded.txt", b"g")
    current = ok(alice.get(f"/me/drive/items/{item['id']}"))
    renamed = ok(patch(alice, item["id"], {"name": "ok.txt"}, **{"If-Match": current["eTag"]}))
    assert renamed["name"] == "ok.txt"


# --- DELETE ---------------------------------------------------------------------------------


def test_delete_file(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    item = upload(alice, workspace["id"], "gone.txt", b"bye")
    response = alice.delete(f"/me/drive/items/{item['id']}")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_graph_error(alice.get(f"/me/drive/items/{item['id']}"), 404, "itemNotFound")
    assert child_names(alice, workspace["id"]) == []
    content = alice.get(f"/me/drive/items/{item['id']}/content", follow_redirects=False)
    assert_graph_error(content, 404, "itemNotFound")


def test_delete_twice_is_404(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    item = upload(alice, workspace["id"], "gone.txt", b"bye")
    assert alice.delete(f"/me/drive/items/{item['id']}").status_code == 204
    assert_graph_error(alice.delete(f"/me/drive/items/{item['id']}"), 404, "itemNotFound")


def test_delete_by_path(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    item = upload(alice, workspace["id"], "p.txt", b"p")
    response = alice.delete(f"/me/drive/root:/{seg(workspace['name'])}/p.txt:")
    assert response.status_code == 204, response.text
    assert_graph_error(alice.get(f"/me/drive/items/{item['id']}"), 404, "itemNotFound")


def test_delete_folder_is_recursive(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    top = make_folder(alice, workspace["id"], "top")
    sub = make_folder(alice, top["id"], "sub")
    a = upload(alice, top["id"], "a.txt", b"a")
    b = upload(alice, sub["id"], "b.txt", b"bb")
    keep = upload(alice, workspace["id"], "keep.txt", b"keep")

    assert alice.delete(f"/me/drive/items/{top['id']}").status_code == 204
    for gone in (top, sub, a, b):
        assert_graph_error(alice.get(f"/me/drive/items/{gone['id']}"), 404, "itemNotFound")
    ws = seg(workspace["name"])
    assert_graph_error(alice.get(f"/me/drive/root:/{ws}/top/sub/b.txt"), 404, "itemNotFound")
    assert child_names(alice, workspace["id"]) == ["keep.txt"]
    ws_now = ok(alice.get(f"/me/drive/items/{workspace['id']}"))
    assert (ws_now["size"], ws_now["folder"]["childCount"]) == (4, 1)
    assert download(alice, keep["id"]) == b"keep"


def test_name_is_free_again_after_delete(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    first = upload(alice, workspace["id"], "again.txt", b"1")
    assert alice.delete(f"/me/drive/items/{first['id']}").status_code == 204
    second = upload(alice, workspace["id"], "again.txt", b"2")
    assert second["id"] != first["id"]
    assert download(alice, second["id"]) == b"2"


def test_delete_missing_item_is_404(alice: httpx.Client) -> None:
    assert_graph_error(alice.delete(f"/me/drive/items/{unique('nope')}"), 404, "itemNotFound")
