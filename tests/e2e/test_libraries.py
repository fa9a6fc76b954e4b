"""Shared libraries (`graphdrive library …`) and copies across drives, over real HTTP.

A library is a drive its members read and write (readers only read) at `/drives/{id}`;
`/me/drives` lists it. A copy may take its source from any drive the caller can read and its
destination in another they can write.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .helpers import (
    assert_graph_error,
    child_names,
    copy_and_wait,
    download,
    list_children,
    make_folder,
    ok,
    unique,
    upload,
)
from .server import ServerProcess, database_env, run_cli


def cli(server: ServerProcess, *args: str) -> str:
    env = database_env(server.data_dir)
    return run_cli("library", *args, "--data-dir", str(server.data_dir), env=env).stdout


@pytest.fixture(scope="module")
def library(server: ServerProcess, alice: httpx.Client, bob: httpx.Client) -> dict[str, Any]:
    ok(alice.get("/me/drive"))  # both users exist before the library
    ok(bob.get("/me/drive"))
    name = unique("Team ")
    drive_id = cli(server, "create", name, "--member", "alice", "--member", "bob").strip()
    drive = ok(alice.get(f"/drives/{drive_id}"))
    root = ok(alice.get(f"/drives/{drive_id}/root"))
    return {"id": drive_id, "name": name, "drive": drive, "root": root}


def test_a_library_is_listed_and_described_for_its_members(
    server: ServerProcess, alice: httpx.Client, library: dict[str, Any]
) -> None:
    drive = library["drive"]
    assert drive["driveType"] == "documentLibrary"
    assert drive["name"] == library["name"]
    assert drive["owner"]["group"]["displayName"] == library["name"]
    listed = ok(alice.get("/me/drives"))["value"]
    assert listed[0]["driveType"] != "documentLibrary"  # the user's own drive comes first
    assert library["id"] in {d["id"] for d in listed}
    assert library["root"]["parentReference"]["driveType"] == "documentLibrary"
    assert library["name"] in cli(server, "list")


def test_members_share_the_library_and_others_cannot_see_it(
    server: ServerProcess,
    alice: httpx.Client,
    bob: httpx.Client,
    carol_rw: httpx.Client,
    library: dict[str, Any],
) -> None:
    lib = f"/drives/{library['id']}"
    folder = make_folder(alice, library["root"]["id"], unique("shared-"), drive=lib)
    upload(alice, folder["id"], "plan.txt", b"the plan", drive=lib)
    assert ok(bob.get(f"{lib}/items/{folder['id']}"))["name"] == folder["name"]
    assert child_names(bob, folder["id"], drive=lib) == ["plan.txt"]
    ok(bob.patch(f"{lib}/items/{folder['id']}", json={"description": "x"}))  # a write works

    assert_graph_error(carol_rw.get(lib), 404, "itemNotFound")
    assert_graph_error(carol_rw.get(f"{lib}/items/{folder['id']}"), 404, "itemNotFound")
    assert library["id"] not in {d["id"] for d in ok(carol_rw.get("/me/drives"))["value"]}


def test_copy_from_a_personal_drive_into_a_library_and_back(
    alice: httpx.Client, bob: httpx.Client, library: dict[str, Any]
) -> None:
    mine = ok(alice.get("/me/drive/root"))
    source = make_folder(alice, mine["id"], unique("src-"))
    sub = make_folder(alice, source["id"], "sub")
    upload(alice, source["id"], "a.txt", b"alpha")
    upload(alice, sub["id"], "b.bin", b"b" * 300)

    into_library = copy_and_wait(
        alice,
        source["id"],
        {"parentReference": {"driveId": library["id"], "id": library["root"]["id"]}},
    )
    assert into_library["status"] == "completed", into_library
    lib = f"/drives/{library['id']}"
    copied = ok(bob.get(f"{lib}/items/{into_library['resourceId']}"))
    assert copied["name"] == source["name"]
    assert copied["parentReference"]["driveId"] == library["id"]
    assert copied["size"] == 305
    assert child_names(bob, copied["id"], drive=lib) == ["a.txt", "sub"]
    inner = {c["name"]: c for c in list_children(bob, copied["id"], drive=lib)}
    assert download(bob, inner["a.txt"]["id"], drive=lib) == b"alpha"
    assert ok(bob.get(f"{lib}/root"))["size"] >= 305

    # Bob copies the library's copy to the root of his own drive (by path): a second
    # cross-drive copy. Without a driveId the destination would be in the source's drive.
    bobs_drive = ok(bob.get("/me/drive"))["id"]
    back = copy_and_wait(
        bob,
        copied["id"],
        {
            "parentReference": {"driveId": bobs_drive, "path": "/drive/root:"},
            "name": unique("from-lib-"),
        },
        drive=lib,
    )
    assert back["status"] == "completed", back
    mine_now = ok(bob.get(f"/me/drive/items/{back['resourceId']}"))
    assert mine_now["parentReference"]["driveId"] == bobs_drive
    assert mine_now["size"] == 305
    assert child_names(bob, mine_now["id"]) == ["a.txt", "sub"]


def test_a_copy_into_a_drive_the_caller_cannot_use_is_not_found(
    carol_rw: httpx.Client, library: dict[str, Any]
) -> None:
    mine = ok(carol_rw.get("/me/drive/root"))
    item = upload(carol_rw, mine["id"], unique("c-") + ".txt", b"carol")
    response = carol_rw.post(
        f"/me/drive/items/{item['id']}/copy",
        json={"parentReference": {"driveId": library["id"], "id": library["root"]["id"]}},
    )
    assert_graph_error(response, 404, "itemNotFound")


def test_a_removed_member_loses_access_at_once(
    server: ServerProcess, alice: httpx.Client, bob: httpx.Client
) -> None:
    drive_id = cli(server, "create", unique("Short-lived "), "--member", "bob").strip()
    ok(bob.get(f"/drives/{drive_id}/root"))
    assert_graph_error(alice.get(f"/drives/{drive_id}"), 404, "itemNotFound")
    assert cli(server, "remove-member", drive_id, "bob").strip() == "removed"
    assert_graph_error(bob.get(f"/drives/{drive_id}/root"), 404, "itemNotFound")
    assert cli(server, "add-member", drive_id, "alice").strip() == "alice is a member (write)"
    ok(alice.get(f"/drives/{drive_id}/root"))


@pytest.fixture(scope="module")
def readable(server: ServerProcess, alice: httpx.Client, bob: httpx.Client) -> dict[str, Any]:
    """A library alice writes and bob only reads, holding folder `docs` with `a.txt`."""
    ok(bob.get("/me/drive"))
    drive_id = cli(
        server, "create", unique("Handbook "), "--member", "alice", "--reader", "bob"
    ).strip()
    lib = f"/drives/{drive_id}"
    root = ok(alice.get(f"{lib}/root"))
    docs = make_folder(alice, root["id"], "docs", drive=lib)
    item = upload(alice, docs["id"], "a.txt", b"read me", drive=lib)
    return {"id": drive_id, "lib": lib, "root": root, "docs": docs, "item": item}


def test_a_reader_reads_a_library_and_copies_out_of_it(
    server: ServerProcess, bob: httpx.Client, readable: dict[str, Any]
) -> None:
    lib = readable["lib"]
    assert readable["id"] in {d["id"] for d in ok(bob.get("/me/drives"))["value"]}
    assert child_names(bob, readable["docs"]["id"], drive=lib) == ["a.txt"]
    assert download(bob, readable["item"]["id"], drive=lib) == b"read me"
    assert "bob\tread" in cli(server, "show", readable["id"])

    mine = ok(bob.get("/me/drive/root"))
    target = make_folder(bob, mine["id"], unique("from-handbook-"))
    final = copy_and_wait(
        bob,
        readable["docs"]["id"],
        {"parentReference": {"driveId": ok(bob.get("/me/drive"))["id"], "id": target["id"]}},
        drive=lib,
    )
    assert final["status"] == "completed", final
    copied = ok(bob.get(f"/me/drive/items/{final['resourceId']}"))
    assert copied["name"] == "docs" and copied["folder"]["childCount"] == 1
    assert child_names(bob, copied["id"]) == ["a.txt"]


def test_a_reader_cannot_change_a_library(bob: httpx.Client, readable: dict[str, Any]) -> None:
    lib, docs, item = readable["lib"], readable["docs"], readable["item"]
    denied = [
        bob.post(f"{lib}/items/{docs['id']}/children", json={"name": "x", "folder": {}}),
        bob.put(f"{lib}/items/{docs['id']}:/new.txt:/content", content=b"no"),
        bob.put(f"{lib}/items/{item['id']}/content", content=b"no"),
        bob.patch(f"{lib}/items/{item['id']}", json={"name": "renamed.txt"}),
        bob.delete(f"{lib}/items/{item['id']}"),
        bob.post(f"{lib}/items/{docs['id']}:/big.bin:/createUploadSession", json={}),
        # A copy inside the library, and one from bob's own drive into it.
        bob.post(f"{lib}/items/{item['id']}/copy", json={"name": "again.txt"}),
        bob.post(
            f"/me/drive/items/{ok(bob.get('/me/drive/root'))['id']}/copy",
            json={"parentReference": {"driveId": readable["id"], "id": docs["id"]}},
        ),
    ]
    for response in denied:
        assert_graph_error(response, 403, "accessDenied")
    assert child_names(bob, docs["id"], drive=lib) == ["a.txt"]
    assert download(bob, item["id"], drive=lib) == b"read me"


def test_an_upload_session_cannot_finish_once_its_writer_is_only_a_reader(
    server: ServerProcess, alice: httpx.Client, readable: dict[str, Any]
) -> None:
    lib, docs = readable["lib"], readable["docs"]
    name = unique("late-") + ".bin"
    session = ok(alice.post(f"{lib}/items/{docs['id']}:/{name}:/createUploadSession", json={}))
    data = b"0123456789"
    first = httpx.put(
        session["uploadUrl"], content=data[:5], headers={"Content-Range": "bytes 0-4/10"}
    )
    assert first.status_code == 202, first.text
    cli(server, "add-member", readable["id"], "alice", "--read-only")
    try:
        last = httpx.put(
            session["uploadUrl"], content=data[5:], headers={"Content-Range": "bytes 5-9/10"}
        )
        assert_graph_error(last, 403, "accessDenied")
        assert name not in child_names(alice, docs["id"], drive=lib)
    finally:
        cli(server, "add-member", readable["id"], "alice")
