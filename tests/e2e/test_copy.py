"""`POST …/copy` over real HTTP (issue 3): the seed's walk-through, conflicts, childrenOnly,
synchronous validation, lenient request bodies, addressing forms and Idempotency-Key.

Every copy is followed to its end on the monitor URL, polled the way rclone does (a bare GET,
no Authorization), with every report checked (`helpers.poll_monitor`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .helpers import (
    accepted_location,
    assert_graph_error,
    assert_hashes,
    child_names,
    copy_and_wait,
    download,
    get_item,
    list_children,
    make_folder,
    ok,
    path_url,
    post_copy,
    read_report,
    seg,
    start_copy,
    unique,
    upload,
    wait_for_copy,
)

pytestmark = pytest.mark.e2e

FreshUser = Callable[..., httpx.Client]


def blob(label: str, size: int) -> bytes:
    """Deterministic, label-specific bytes of the given size."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}:{counter}".encode()).digest()
        counter += 1
    return out[:size]


def tree_snapshot(client: httpx.Client, folder_id: str) -> dict[str, dict[str, Any]]:
    """Every descendant of a folder by relative path: kind, size, hashes or childCount, id."""
    out: dict[str, dict[str, Any]] = {}

    def walk(item_id: str, prefix: str) -> None:
        for child in list_children(client, item_id):
            rel = f"{prefix}{child['name']}"
            entry: dict[str, Any] = {"id": child["id"], "size": child["size"]}
            if "folder" in child:
                entry["childCount"] = child["folder"]["childCount"]
                out[rel] = entry
                walk(child["id"], rel + "/")
            else:
                entry["hashes"] = child["file"]["hashes"]
                entry["mimeType"] = child["file"]["mimeType"]
                out[rel] = entry

    walk(folder_id, "")
    return out


def without_ids(snapshot: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: {f: v for f, v in e.items() if f != "id"} for k, e in snapshot.items()}


def used_bytes(client: httpx.Client) -> int:
    return int(ok(client.get("/me/drive"))["quota"]["used"])


# --- the seed's walk-through ------------------------------------------------------------------

LARGE_FOLDER_FILES = {
    "readme.txt": blob("readme", 1200),
    "data.bin": blob("data", 40_000),
    "photos/a.jpg": blob("a", 3_000),
    "photos/b.jpg": blob("b", 7_001),
    "photos/raw/c.raw": blob("c", 20_500),
    "photos/raw/same-as-a.jpg": blob("a", 3_000),
    "docs/notes.md": b"# notes\n",
    "docs/empty.txt": b"",
}
LARGE_FOLDER_EMPTY_DIRS = ["empty", "docs/deep/deeper"]


def test_seed_walkthrough_copy_large_folder_to_documents(fresh_user: FreshUser) -> None:
    me = fresh_user("walker")
    root = ok(me.get("/me/drive/root"))
    large = make_folder(me, root["id"], "LargeFolder1")
    documents = make_folder(me, root["id"], "Documents")
    folders = {"": large["id"]}
    for rel in sorted({f.rsplit("/", 1)[0] for f in LARGE_FOLDER_FILES if "/" in f}) + sorted(
        LARGE_FOLDER_EMPTY_DIRS
    ):
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            if sub not in folders:
                parent = folders["/".join(parts[: depth - 1])]
                folders[sub] = make_folder(me, parent, parts[depth - 1])["id"]
    for rel, data in LARGE_FOLDER_FILES.items():
        parent_rel, _, name = rel.rpartition("/")
        upload(me, folders[parent_rel], name, data)
    source = ok(get_item(me, large["id"]))
    source_tree = tree_snapshot(me, large["id"])
    assert source["size"] == sum(len(d) for d in LARGE_FOLDER_FILES.values())

    # POST …/items/{folder-item-id}/copy, exactly the seed's body.
    response = me.post(
        f"/me/drive/items/{large['id']}/copy",
        json={
            "parentReference": {"path": "/drive/root:/Documents"},
            "name": "Copy of LargeFolder1",
        },
    )
    location = accepted_location(response)

    # Poll the monitor without authentication until completed.
    final = wait_for_copy(location)
    assert final["status"] == "completed", final
    assert final["percentageComplete"] == 100.0
    resource_id = final["resourceId"]

    # GET /me/drive/items/{resourceId}: the new copy, at once, the same as its source.
    copy = ok(get_item(me, resource_id))
    assert copy["name"] == "Copy of LargeFolder1"
    assert "folder" in copy and "file" not in copy
    assert copy["size"] == source["size"]
    assert copy["folder"]["childCount"] == source["folder"]["childCount"]
    assert copy["parentReference"]["id"] == documents["id"]
    assert copy["parentReference"]["path"] == "/drive/root:/Documents"
    assert copy["id"] != large["id"]

    # resourceLocation is the absolute URL of the same item.
    assert final["resourceLocation"].startswith(("http://", "https://")), final
    assert ok(me.get(final["resourceLocation"]))["id"] == resource_id

    # Readable by path too, with every descendant in place: same names, sizes, hashes.
    by_path = ok(me.get(f"/me/drive/root:/{path_url('Documents/Copy of LargeFolder1')}"))
    assert by_path["id"] == resource_id
    copied_tree = tree_snapshot(me, resource_id)
    assert without_ids(copied_tree) == without_ids(source_tree)
    assert not {e["id"] for e in copied_tree.values()} & {e["id"] for e in source_tree.values()}
    for rel, entry in copied_tree.items():
        item = ok(me.get(f"/me/drive/root:/{path_url('Documents/Copy of LargeFolder1/' + rel)}"))
        assert item["id"] == entry["id"], rel
        if rel in LARGE_FOLDER_FILES:
            assert item["size"] == len(LARGE_FOLDER_FILES[rel]), rel
            assert_hashes(item, LARGE_FOLDER_FILES[rel])

    # Downloading a copied file gives the same bytes.
    for rel in ("data.bin", "photos/raw/c.raw", "docs/empty.txt"):
        assert download(me, copied_tree[rel]["id"]) == LARGE_FOLDER_FILES[rel], rel

    # Sizes roll up; the source is untouched.
    assert ok(get_item(me, documents["id"]))["size"] == source["size"]
    assert used_bytes(me) == 2 * source["size"]
    again = ok(get_item(me, large["id"]))
    assert (again["size"], again["folder"]["childCount"]) == (
        source["size"],
        source["folder"]["childCount"],
    )
    assert tree_snapshot(me, large["id"]) == source_tree


# --- conflicts (decided when the copy is published, reported by the monitor) -----------------


@pytest.mark.parametrize("conflict", [None, "fail"])
def test_conflict_fail_reports_name_already_exists(
    alice: httpx.Client, workspace: dict[str, Any], conflict: str | None
) -> None:
    src_dir = make_folder(alice, workspace["id"], "src")
    dest = make_folder(alice, workspace["id"], "dest")
    src = upload(alice, src_dir["id"], "report.txt", b"new report")
    existing = upload(alice, dest["id"], "REPORT.txt", b"the old report, keep me")

    response = post_copy(
        alice, src["id"], {"parentReference": {"id": dest["id"]}}, conflict=conflict
    )
    final = wait_for_copy(accepted_location(response))
    assert final["status"] == "failed", final
    assert final["errorCode"] == "nameAlreadyExists", final
    assert final["error"]["code"] == "nameAlreadyExists", final
    assert final["statusDescription"], final

    children = list_children(alice, dest["id"])
    assert [c["id"] for c in children] == [existing["id"]]
    assert download(alice, existing["id"]) == b"the old report, keep me"
    assert ok(get_item(alice, dest["id"]))["size"] == len(b"the old report, keep me")


def test_conflict_fail_on_a_folder_leaves_nothing(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    src = make_folder(alice, workspace["id"], "Data")
    sub = make_folder(alice, src["id"], "inner")
    upload(alice, sub["id"], "x.txt", b"xxxx")
    dest = make_folder(alice, workspace["id"], "dest")
    existing = make_folder(alice, dest["id"], "data")
    upload(alice, existing["id"], "keep.txt", b"keep")

    final = copy_and_wait(alice, src["id"], {"parentReference": {"id": dest["id"]}})
    assert final["status"] == "failed", final
    assert final["errorCode"] == "nameAlreadyExists", final
    assert child_names(alice, dest["id"]) == ["data"]
    assert child_names(alice, existing["id"]) == ["keep.txt"]
    assert ok(get_item(alice, dest["id"]))["size"] == 4
    assert ok(get_item(alice, workspace["id"]))["size"] == 8


def test_conflict_rename_picks_lowest_free_suffix(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    src_dir = make_folder(alice, workspace["id"], "src")
    dest = make_folder(alice, workspace["id"], "dest")
    src = upload(alice, src_dir["id"], "report.txt", b"the report")
    upload(alice, dest["id"], "report.txt", b"old")
    upload(alice, dest["id"], "report 2.txt", b"old 2")
    body = {"parentReference": {"id": dest["id"]}}

    first = copy_and_wait(alice, src["id"], body, conflict="rename")
    assert first["status"] == "completed", first
    renamed = ok(get_item(alice, first["resourceId"]))
    assert renamed["name"] == "report 1.txt"
    assert download(alice, renamed["id"]) == b"the report"

    second = copy_and_wait(alice, src["id"], body, conflict="rename")
    assert second["status"] == "completed", second
    assert ok(get_item(alice, second["resourceId"]))["name"] == "report 3.txt"
    assert sorted(child_names(alice, dest["id"])) == sorted(
        ["report.txt", "report 1.txt", "report 2.txt", "report 3.txt"]
    )
    assert ok(get_item(alice, dest["id"]))["size"] == len(b"old" + b"old 2") + 2 * len(
        b"the report"
    )

    # A copy next to its source (no parentReference) under rename.
    beside = copy_and_wait(alice, src["id"], {}, conflict="rename")
    assert beside["status"] == "completed", beside
    assert ok(get_item(alice, beside["resourceId"]))["name"] == "report 1.txt"
    assert sorted(child_names(alice, src_dir["id"])) == ["report 1.txt", "report.txt"]


def test_conflict_rename_on_a_folder(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src = make_folder(alice, workspace["id"], "Data")
    upload(alice, src["id"], "x.txt", b"xyz")
    dest = make_folder(alice, workspace["id"], "dest")
    make_folder(alice, dest["id"], "Data")

    final = copy_and_wait(
        alice, src["id"], {"parentReference": {"id": dest["id"]}}, conflict="rename"
    )
    assert final["status"] == "completed", final
    copy = ok(get_item(alice, final["resourceId"]))
    assert copy["name"] == "Data 1"
    assert child_names(alice, copy["id"]) == ["x.txt"]
    assert copy["size"] == 3


def test_conflict_replace_replaces_a_file(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src_dir = make_folder(alice, workspace["id"], "src")
    dest = make_folder(alice, workspace["id"], "dest")
    new = b"the new report"
    old = b"an old report that is longer than the new one"
    src = upload(alice, src_dir["id"], "report.txt", new)
    existing = upload(alice, dest["id"], "report.txt", old)
    upload(alice, dest["id"], "other.txt", b"other")

    final = copy_and_wait(
        alice, src["id"], {"parentReference": {"id": dest["id"]}}, conflict="replace"
    )
    assert final["status"] == "completed", final
    replaced = ok(get_item(alice, final["resourceId"]))
    assert replaced["name"] == "report.txt"
    assert replaced["size"] == len(new)
    assert_hashes(replaced, new)
    assert download(alice, replaced["id"]) == new

    children = {c["name"]: c for c in list_children(alice, dest["id"])}
    assert sorted(children) == ["other.txt", "report.txt"]
    assert children["report.txt"]["id"] == final["resourceId"]
    assert_graph_error(get_item(alice, existing["id"]), 404, "itemNotFound")
    by_path = ok(alice.get(f"/me/drive/items/{dest['id']}:/report.txt"))
    assert by_path["id"] == final["resourceId"]
    # Folder sizes account for the replaced file.
    assert ok(get_item(alice, dest["id"]))["size"] == len(new) + len(b"other")
    assert ok(get_item(alice, workspace["id"]))["size"] == 2 * len(new) + len(b"other")
    assert download(alice, src["id"]) == new


@pytest.mark.parametrize(
    "case", ["folder-onto-folder", "file-onto-folder", "folder-onto-file"], ids=str
)
def test_conflict_replace_fails_on_a_folder(
    alice: httpx.Client, workspace: dict[str, Any], case: str
) -> None:
    src_dir = make_folder(alice, workspace["id"], "src")
    dest = make_folder(alice, workspace["id"], "dest")
    if case.startswith("folder"):
        src = make_folder(alice, src_dir["id"], "Data")
        upload(alice, src["id"], "new.txt", b"new")
    else:
        src = upload(alice, src_dir["id"], "Data", b"a file named Data")
    if case.endswith("folder"):
        existing = make_folder(alice, dest["id"], "Data")
        upload(alice, existing["id"], "keep.txt", b"keep")
        kept_size = 4
    else:
        existing = upload(alice, dest["id"], "Data", b"an existing file")
        kept_size = len(b"an existing file")

    final = copy_and_wait(
        alice, src["id"], {"parentReference": {"id": dest["id"]}}, conflict="replace"
    )
    assert final["status"] == "failed", final
    assert final["errorCode"] == "nameAlreadyExists", final
    assert [c["id"] for c in list_children(alice, dest["id"])] == [existing["id"]]
    assert ok(get_item(alice, dest["id"]))["size"] == kept_size
    if case.endswith("folder"):
        assert child_names(alice, existing["id"]) == ["keep.txt"]


# --- childrenOnly -------------------------------------------------------------------------------


def test_children_only_copies_the_children_into_the_destination(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    src = make_folder(alice, workspace["id"], "src")
    upload(alice, src["id"], "a.txt", b"aaa")
    upload(alice, src["id"], "b.txt", b"bbbbb")
    sub = make_folder(alice, src["id"], "sub")
    upload(alice, sub["id"], "c.txt", b"c")
    dest = make_folder(alice, workspace["id"], "dest")
    upload(alice, dest["id"], "already.txt", b"here")
    before = tree_snapshot(alice, src["id"])

    final = copy_and_wait(
        alice, src["id"], {"parentReference": {"id": dest["id"]}, "childrenOnly": True}
    )
    assert final["status"] == "completed", final
    ok(get_item(alice, final["resourceId"]))
    assert sorted(child_names(alice, dest["id"])) == ["a.txt", "already.txt", "b.txt", "sub"]
    copied = tree_snapshot(alice, dest["id"])
    copied.pop("already.txt")
    assert without_ids(copied) == without_ids(before)
    assert ok(alice.get(f"/me/drive/items/{dest['id']}:/sub/c.txt"))["size"] == 1
    assert ok(get_item(alice, dest["id"]))["size"] == 4 + 9
    assert tree_snapshot(alice, src["id"]) == before
    assert not any(name == "src" for name in child_names(alice, dest["id"]))


def test_children_only_conflict_fails_as_a_whole(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    src = make_folder(alice, workspace["id"], "src")
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        upload(alice, src["id"], name, name.encode())
    dest = make_folder(alice, workspace["id"], "dest")
    upload(alice, dest["id"], "c.txt", b"mine")

    final = copy_and_wait(
        alice, src["id"], {"parentReference": {"id": dest["id"]}, "childrenOnly": True}
    )
    assert final["status"] == "failed", final
    assert final["errorCode"] == "nameAlreadyExists", final
    assert child_names(alice, dest["id"]) == ["c.txt"]
    assert ok(get_item(alice, dest["id"]))["size"] == 4


def test_children_only_on_a_file_is_400(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src = upload(alice, workspace["id"], "file.txt", b"x")
    dest = make_folder(alice, workspace["id"], "dest")
    response = post_copy(
        alice, src["id"], {"parentReference": {"id": dest["id"]}, "childrenOnly": True}
    )
    assert_graph_error(response, 400, "invalidRequest")
    assert child_names(alice, dest["id"]) == []


def test_children_only_with_a_name_is_400(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src = make_folder(alice, workspace["id"], "src")
    upload(alice, src["id"], "a.txt", b"a")
    dest = make_folder(alice, workspace["id"], "dest")
    response = post_copy(
        alice,
        src["id"],
        {"parentReference": {"id": dest["id"]}, "childrenOnly": True, "name": "renamed"},
    )
    assert_graph_error(response, 400, "invalidRequest")
    assert child_names(alice, dest["id"]) == []


# --- synchronous validation -------------------------------------------------------------------


def test_copying_the_root_is_400(
    alice: httpx.Client, alice_root: dict[str, Any], workspace: dict[str, Any]
) -> None:
    body = {"parentReference": {"id": workspace["id"]}, "name": "root copy"}
    assert_graph_error(alice.post("/me/drive/root/copy", json=body), 400, "invalidRequest")
    assert_graph_error(post_copy(alice, alice_root["id"], body), 400, "invalidRequest")
    assert child_names(alice, workspace["id"]) == []


def test_copying_a_folder_into_itself_or_a_descendant_is_400(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    src = make_folder(alice, workspace["id"], "src")
    child = make_folder(alice, src["id"], "child")
    grandchild = make_folder(alice, child["id"], "grandchild")
    for target in (src, child, grandchild):
        response = post_copy(
            alice, src["id"], {"parentReference": {"id": target["id"]}, "name": "loop"}
        )
        assert_graph_error(response, 400, "invalidRequest")
    by_path = {"path": f"/drive/root:/{workspace['name']}/src/child", "id": ""}
    assert_graph_error(
        post_copy(alice, src["id"], {"parentReference": by_path, "name": "loop"}),
        400,
        "invalidRequest",
    )
    assert child_names(alice, src["id"]) == ["child"]
    assert child_names(alice, child["id"]) == ["grandchild"]
    assert child_names(alice, grandchild["id"]) == []
    # A file may be copied into its own folder (it is not a folder into itself).
    file = upload(alice, src["id"], "f.txt", b"f")
    final = copy_and_wait(
        alice, file["id"], {"parentReference": {"id": src["id"]}, "name": "g.txt"}
    )
    assert final["status"] == "completed", final


@pytest.mark.parametrize(
    "name",
    ["a/b", "a\\b", "bad:name", "what?", "star*", 'quote"', "<x>", "pipe|", " lead", "trail ",
     "CON", "nul", "COM1", "LPT9", ".lock", "desktop.ini", "x_vti_y", ".", ".."],
)  # fmt: skip
def test_invalid_name_is_400(alice: httpx.Client, workspace: dict[str, Any], name: str) -> None:
    src = upload(alice, workspace["id"], "file.txt", b"x")
    response = post_copy(
        alice, src["id"], {"parentReference": {"id": workspace["id"]}, "name": name}
    )
    assert_graph_error(response, 400, "invalidRequest")
    assert child_names(alice, workspace["id"]) == ["file.txt"]


def test_unknown_item_or_destination_is_404(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src = upload(alice, workspace["id"], "file.txt", b"x")
    body = {"parentReference": {"id": workspace["id"]}, "name": "copy.txt"}
    assert_graph_error(post_copy(alice, "NOSUCHITEM0000000000", body), 404, "itemNotFound")
    assert_graph_error(
        alice.post(f"/me/drive/root:/{seg(workspace['name'])}/nope.txt:/copy", json=body),
        404,
        "itemNotFound",
    )
    for reference in (
        {"id": "NOSUCHFOLDER00000000"},
        {"path": f"/drive/root:/{workspace['name']}/no/such/folder"},
    ):
        response = post_copy(alice, src["id"], {"parentReference": reference})
        assert_graph_error(response, 404, "itemNotFound")
    assert child_names(alice, workspace["id"]) == ["file.txt"]


def test_destination_that_is_a_file_is_400(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    src = upload(alice, workspace["id"], "file.txt", b"x")
    target = upload(alice, workspace["id"], "target.txt", b"y")
    response = post_copy(alice, src["id"], {"parentReference": {"id": target["id"]}})
    assert_graph_error(response, 400, "invalidRequest")


def test_read_only_token_is_403(
    carol: httpx.Client, carol_rw: httpx.Client, anonymous: httpx.Client
) -> None:
    root = ok(carol_rw.get("/me/drive/root"))
    ws = make_folder(carol_rw, root["id"], unique("carolws"))
    src = upload(carol_rw, ws["id"], "file.txt", b"carol's")
    body = {"parentReference": {"id": ws["id"]}, "name": "copy.txt"}
    assert_graph_error(post_copy(carol, src["id"], body), 403, "accessDenied")
    assert_graph_error(post_copy(anonymous, src["id"], body), 401, "unauthenticated")
    assert child_names(carol_rw, ws["id"]) == ["file.txt"]


def test_destination_in_another_users_drive_is_refused(
    alice: httpx.Client, bob: httpx.Client, workspace: dict[str, Any]
) -> None:
    src = upload(alice, workspace["id"], "file.txt", b"alice's")
    bob_drive = ok(bob.get("/me/drive"))
    bob_root = ok(bob.get("/me/drive/root"))
    response = post_copy(
        alice, src["id"], {"parentReference": {"driveId": bob_drive["id"], "id": bob_root["id"]}}
    )
    assert_graph_error(response, (403, 404))
    assert "file.txt" not in child_names(bob, bob_root["id"])


# --- lenient bodies, addressing forms ---------------------------------------------------------


def test_empty_strings_are_absent_and_unknown_fields_are_ignored(
    alice: httpx.Client, alice_drive: dict[str, Any], workspace: dict[str, Any]
) -> None:
    src = upload(alice, workspace["id"], "file.txt", b"lenient")
    dest = make_folder(alice, workspace["id"], "dest")
    # What real clients send: empty strings for unused fields, @odata.type, driveType.
    body = {
        "@odata.type": "#microsoft.graph.driveItem",
        "parentReference": {
            "@odata.type": "#microsoft.graph.itemReference",
            "driveId": "",
            "driveType": "business",
            "id": dest["id"],
            "path": "",
            "siteId": "",
            "name": "",
        },
        "name": "",
        "description": "ignored",
    }
    final = copy_and_wait(alice, src["id"], body)
    assert final["status"] == "completed", final
    copy = ok(get_item(alice, final["resourceId"]))
    assert copy["name"] == "file.txt"  # "name": "" means the source's name
    assert copy["parentReference"]["id"] == dest["id"]

    by_path = {
        "driveId": alice_drive["id"],
        "driveType": "personal",
        "id": "",
        "path": f"/drive/root:/{workspace['name']}/dest",
    }
    final = copy_and_wait(alice, src["id"], {"parentReference": by_path, "name": "second.txt"})
    assert final["status"] == "completed", final
    assert sorted(child_names(alice, dest["id"])) == ["file.txt", "second.txt"]
    assert download(alice, final["resourceId"]) == b"lenient"


def test_conflict_behavior_is_read_from_the_query(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    src = upload(alice, workspace["id"], "q.txt", b"q")
    dest = make_folder(alice, workspace["id"], "dest")
    upload(alice, dest["id"], "q.txt", b"old")
    url = f"/me/drive/items/{src['id']}/copy?%40microsoft.graph.conflictBehavior=rename"
    final = wait_for_copy(
        accepted_location(alice.post(url, json={"parentReference": {"id": dest["id"]}}))
    )
    assert final["status"] == "completed", final
    assert ok(get_item(alice, final["resourceId"]))["name"] == "q 1.txt"


def test_path_addressed_and_drive_addressed_copies(
    alice: httpx.Client, alice_drive: dict[str, Any], workspace: dict[str, Any]
) -> None:
    folder = make_folder(alice, workspace["id"], "a")
    sub = make_folder(alice, folder["id"], "b")
    upload(alice, sub["id"], "deep.txt", b"deep")
    dest = make_folder(alice, workspace["id"], "dest")
    ws = seg(workspace["name"])

    # /me/drive/root:/a/b:/copy (a folder), with Prefer: respond-async as some clients send.
    location = accepted_location(
        alice.post(
            f"/me/drive/root:/{ws}/a/b:/copy",
            json={"parentReference": {"id": dest["id"]}},
            headers={"Prefer": "respond-async"},
        )
    )
    final = wait_for_copy(location)
    assert final["status"] == "completed", final
    assert ok(get_item(alice, final["resourceId"]))["name"] == "b"

    # /me/drive/items/{id}:/rel/path:/copy (a file).
    final = copy_and_wait(
        alice, f"{folder['id']}:/b/deep.txt:", {"parentReference": {"id": dest["id"]}}
    )
    assert final["status"] == "completed", final
    assert ok(get_item(alice, final["resourceId"]))["name"] == "deep.txt"

    # /drives/{drive-id}/items/{id}/copy with parentReference.driveId.
    drive = f"/drives/{alice_drive['id']}"
    final = copy_and_wait(
        alice,
        sub["id"],
        {"parentReference": {"driveId": alice_drive["id"], "id": dest["id"]}, "name": "c"},
        drive=drive,
    )
    assert final["status"] == "completed", final
    copy = ok(alice.get(f"{drive}/items/{final['resourceId']}"))
    assert copy["name"] == "c" and copy["size"] == 4
    assert sorted(child_names(alice, dest["id"])) == ["b", "c", "deep.txt"]
    assert ok(alice.get(f"/me/drive/root:/{ws}/dest/b/deep.txt"))["size"] == 4


# --- Idempotency-Key --------------------------------------------------------------------------


def test_idempotency_key_same_request_same_monitor(
    fresh_user: FreshUser, bob: httpx.Client
) -> None:
    me = fresh_user("idem")
    root = ok(me.get("/me/drive/root"))
    src = make_folder(me, root["id"], "src")
    upload(me, src["id"], "a.txt", b"aaaa")
    dest = make_folder(me, root["id"], "dest")
    body = {"parentReference": {"id": dest["id"]}, "name": "once"}
    key = {"Idempotency-Key": unique("key")}

    first = accepted_location(post_copy(me, src["id"], body, headers=key))
    second = accepted_location(post_copy(me, src["id"], body, headers=key))
    assert second == first
    final = wait_for_copy(first)
    assert final["status"] == "completed", final
    # A retry after completion still answers the same monitor, and copies nothing more.
    third = accepted_location(post_copy(me, src["id"], body, headers=key))
    assert third == first
    assert read_report(third) == final
    assert child_names(me, dest["id"]) == ["once"]
    operations = ok(me.get("/me/drive/operations"))["value"]
    assert len(operations) == 1, operations
    assert operations[0]["status"] == "completed"

    # The same key with a different body: 422, and nothing new is started.
    other = {"parentReference": {"id": dest["id"]}, "name": "twice"}
    assert_graph_error(post_copy(me, src["id"], other, headers=key), 422)
    assert_graph_error(post_copy(me, src["id"], body, conflict="rename", headers=key), 422)
    # Another key is another operation.
    fourth = accepted_location(
        post_copy(me, src["id"], body, conflict="rename", headers={"Idempotency-Key": unique("k")})
    )
    assert fourth != first
    assert wait_for_copy(fourth)["status"] == "completed"
    assert sorted(child_names(me, dest["id"])) == ["once", "once 1"]
    assert len(ok(me.get("/me/drive/operations"))["value"]) == 2

    # Keys belong to a user: bob's use of the same key is his own operation.
    bob_root = ok(bob.get("/me/drive/root"))
    bob_src = upload(bob, bob_root["id"], unique("bobsrc") + ".txt", b"b")
    bob_location = start_copy(bob, bob_src["id"], {"name": unique("bobcopy") + ".txt"}, headers=key)
    assert bob_location != first
    assert wait_for_copy(bob_location)["status"] == "completed"
