"""Authentication (401), scopes (403 for read-only tokens) and isolation between users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import (
    assert_graph_error,
    child_names,
    create_folder,
    download,
    make_folder,
    ok,
    put_content,
    seg,
    unique,
    upload,
)
from .server import ServerProcess, mint_token

pytestmark = pytest.mark.e2e


def assert_unauthenticated(response: httpx.Response) -> None:
    assert_graph_error(response, 401, "unauthenticated")
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer"), (
        f"WWW-Authenticate: {response.headers.get('www-authenticate')!r}"
    )


# --- 401 ------------------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/me/drive"),
    ("GET", "/me/drives"),
    ("GET", "/me/drive/root"),
    ("GET", "/me/drive/root/children"),
    ("POST", "/me/drive/root/children"),
    ("PUT", "/me/drive/root:/x.txt:/content"),
]


@pytest.mark.parametrize(("method", "url"), PROTECTED)
def test_missing_token_is_401(anonymous: httpx.Client, method: str, url: str) -> None:
    assert_unauthenticated(anonymous.request(method, url, json={} if method == "POST" else None))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer aaaa.bbbb.cccc",
        "Bearer",
        "Basic YWxpY2U6c2VjcmV0",
        "garbage",
    ],
)
def test_bad_token_is_401(server: ServerProcess, authorization: str) -> None:
    with httpx.Client(base_url=server.api, headers={"Authorization": authorization}) as client:
        assert_unauthenticated(client.get("/me/drive"))


def test_tampered_token_is_401(server: ServerProcess, alice_token: str) -> None:
    header, payload, signature = alice_token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    with server.client(f"{header}.{payload}.{flipped}") as client:
        assert_unauthenticated(client.get("/me/drive"))


def test_token_signed_for_another_data_dir_is_401(server: ServerProcess, tmp_path: Path) -> None:
    foreign = mint_token(tmp_path / "other-data", "alice")
    with server.client(foreign) as client:
        assert_unauthenticated(client.get("/me/drive"))


def test_no_token_for_item_by_id(anonymous: httpx.Client, workspace: dict[str, Any]) -> None:
    assert_unauthenticated(anonymous.get(f"/me/drive/items/{workspace['id']}"))
    assert_unauthenticated(anonymous.delete(f"/me/drive/items/{workspace['id']}"))


# --- scopes ---------------------------------------------------------------------------------


@pytest.fixture
def carol_items(carol_rw: httpx.Client) -> dict[str, Any]:
    """Items in carol's drive, created with her read-write token."""
    root = ok(carol_rw.get("/me/drive/root"))
    folder = make_folder(carol_rw, root["id"], unique("carol"))
    file = upload(carol_rw, folder["id"], "c.txt", b"carol's")
    return {"folder": folder, "file": file}


def test_read_only_token_can_read(carol: httpx.Client, carol_items: dict[str, Any]) -> None:
    ok(carol.get("/me/drive"))
    ok(carol.get("/me/drives"))
    ok(carol.get("/me/drive/root/children"))
    ok(carol.get(f"/me/drive/items/{carol_items['file']['id']}"))
    ok(carol.get(f"/me/drive/root:/{seg(carol_items['folder']['name'])}/c.txt"))
    assert download(carol, carol_items["file"]["id"]) == b"carol's"


def test_read_only_token_cannot_create_folder(
    carol: httpx.Client, carol_rw: httpx.Client, carol_items: dict[str, Any]
) -> None:
    folder_id = carol_items["folder"]["id"]
    assert_graph_error(create_folder(carol, folder_id, "nope"), 403, "accessDenied")
    assert child_names(carol_rw, folder_id) == ["c.txt"]


def test_read_only_token_cannot_upload(
    carol: httpx.Client, carol_rw: httpx.Client, carol_items: dict[str, Any]
) -> None:
    folder, file = carol_items["folder"], carol_items["file"]
    assert_graph_error(put_content(carol, folder["id"], "new.txt", b"x"), 403, "accessDenied")
    replace = carol.put(f"/me/drive/items/{file['id']}/content", content=b"overwrite")
    assert_graph_error(replace, 403, "accessDenied")
    by_path = carol.put(f"/me/drive/root:/{seg(folder['name'])}/p.txt:/content", content=b"x")
    assert_graph_error(by_path, 403, "accessDenied")
    assert child_names(carol_rw, folder["id"]) == ["c.txt"]
    assert download(carol_rw, file["id"]) == b"carol's"


def test_read_only_token_cannot_patch(
    carol: httpx.Client, carol_rw: httpx.Client, carol_items: dict[str, Any]
) -> None:
    file = carol_items["file"]
    response = carol.patch(f"/me/drive/items/{file['id']}", json={"name": "renamed.txt"})
    assert_graph_error(response, 403, "accessDenied")
    assert ok(carol_rw.get(f"/me/drive/items/{file['id']}"))["name"] == "c.txt"


def test_read_only_token_cannot_delete(
    carol: httpx.Client, carol_rw: httpx.Client, carol_items: dict[str, Any]
) -> None:
    file = carol_items["file"]
    assert_graph_error(carol.delete(f"/me/drive/items/{file['id']}"), 403, "accessDenied")
    ok(carol_rw.get(f"/me/drive/items/{file['id']}"))


@pytest.fixture
def scoped(server: ServerProcess) -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def make(user: str, scopes: str) -> httpx.Client:
        client = server.client(server.token(user, scopes=scopes))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_read_write_all_scope_can_write(scoped: Any) -> None:
    client = scoped("dave", "Files.ReadWrite.All")
    root = ok(client.get("/me/drive/root"))
    folder = ok(create_folder(client, root["id"], unique("dave")), 201)
    ok(put_content(client, folder["id"], "d.txt", b"dave"), 201)


def test_read_all_scope_can_read_but_not_write(scoped: Any) -> None:
    client = scoped("erin", "Files.Read.All")
    root = ok(client.get("/me/drive/root"))
    assert_graph_error(create_folder(client, root["id"], "nope"), 403, "accessDenied")


def test_token_without_files_scope_is_403(scoped: Any) -> None:
    client = scoped("frank", "User.Read")
    assert_graph_error(client.get("/me/drive"), 403, "accessDenied")


# --- isolation between users ----------------------------------------------------------------


SECRET = "alice-secret-name"


@pytest.fixture
def alice_secret(alice: httpx.Client, workspace: dict[str, Any]) -> dict[str, Any]:
    """A folder and a file of alice's whose names bob must never see."""
    folder = make_folder(alice, workspace["id"], f"{SECRET}-folder")
    file = upload(alice, folder["id"], f"{SECRET}.txt", b"alice only")
    return {"ws": workspace, "folder": folder, "file": file}


def assert_hidden(response: httpx.Response) -> None:
    assert_graph_error(response, (403, 404))
    assert SECRET not in response.text, f"alice's item name leaked: {response.text}"


def test_bob_cannot_read_alices_drive(
    bob: httpx.Client, alice_drive: dict[str, Any], alice_secret: dict[str, Any]
) -> None:
    drive = f"/drives/{alice_drive['id']}"
    assert_hidden(bob.get(drive))
    assert_hidden(bob.get(f"{drive}/root"))
    assert_hidden(bob.get(f"{drive}/root/children"))
    assert_hidden(bob.get(f"{drive}/items/{alice_secret['ws']['id']}/children"))
    assert_hidden(bob.get(f"{drive}/root:/{seg(alice_secret['ws']['name'])}"))


def test_bob_cannot_read_alices_items_by_id(
    bob: httpx.Client, alice_drive: dict[str, Any], alice_secret: dict[str, Any]
) -> None:
    for item in (alice_secret["folder"], alice_secret["file"]):
        assert_hidden(bob.get(f"/me/drive/items/{item['id']}"))
        assert_hidden(bob.get(f"/drives/{alice_drive['id']}/items/{item['id']}"))
    assert_hidden(bob.get(f"/me/drive/items/{alice_secret['folder']['id']}/children"))
    # The path names the secret itself, so an echo in the message is no leak: status only.
    by_path = bob.get(f"/me/drive/items/{alice_secret['ws']['id']}:/{SECRET}-folder")
    assert_graph_error(by_path, (403, 404))
    content = bob.get(
        f"/me/drive/items/{alice_secret['file']['id']}/content", follow_redirects=False
    )
    assert_hidden(content)


def test_bob_cannot_change_alices_items(
    alice: httpx.Client,
    bob: httpx.Client,
    alice_drive: dict[str, Any],
    alice_secret: dict[str, Any],
) -> None:
    folder, file = alice_secret["folder"], alice_secret["file"]
    drive = f"/drives/{alice_drive['id']}"
    assert_hidden(put_content(bob, folder["id"], "planted.txt", b"bob"))
    assert_hidden(put_content(bob, folder["id"], "planted.txt", b"bob", drive=drive))
    assert_hidden(bob.put(f"/me/drive/items/{file['id']}/content", content=b"bob"))
    assert_hidden(create_folder(bob, folder["id"], "planted"))
    assert_hidden(create_folder(bob, folder["id"], "planted", drive=drive))
    assert_hidden(bob.patch(f"/me/drive/items/{file['id']}", json={"name": "bob.txt"}))
    assert_hidden(bob.patch(f"{drive}/items/{file['id']}", json={"name": "bob.txt"}))
    assert_hidden(bob.delete(f"/me/drive/items/{file['id']}"))
    assert_hidden(bob.delete(f"{drive}/items/{folder['id']}"))

    assert child_names(alice, folder["id"]) == [f"{SECRET}.txt"]
    assert download(alice, file["id"]) == b"alice only"


def test_bob_cannot_move_into_or_out_of_alices_drive(
    alice: httpx.Client,
    bob: httpx.Client,
    bob_workspace: dict[str, Any],
    alice_secret: dict[str, Any],
) -> None:
    bobs = upload(bob, bob_workspace["id"], "bobs.txt", b"bob")
    into = bob.patch(
        f"/me/drive/items/{bobs['id']}",
        json={"parentReference": {"id": alice_secret["folder"]["id"]}},
    )
    assert_graph_error(into, (400, 403, 404))
    assert SECRET not in into.text
    assert child_names(alice, alice_secret["folder"]["id"]) == [f"{SECRET}.txt"]
    assert child_names(bob, bob_workspace["id"]) == ["bobs.txt"]

    out = bob.patch(
        f"/me/drive/items/{alice_secret['file']['id']}",
        json={"parentReference": {"id": bob_workspace["id"]}},
    )
    assert_hidden(out)
    assert child_names(bob, bob_workspace["id"]) == ["bobs.txt"]


def test_bobs_drives_do_not_list_alices(
    bob: httpx.Client, alice_drive: dict[str, Any], alice_secret: dict[str, Any]
) -> None:
    body = ok(bob.get("/me/drives"))
    assert alice_drive["id"] not in [d["id"] for d in body["value"]]
    root_listing = bob.get("/me/drive/root/children").text
    assert SECRET not in root_listing
    assert alice_secret["ws"]["name"] not in root_listing


def test_alice_sees_her_items_and_bob_sees_his(
    alice: httpx.Client, bob: httpx.Client, workspace: dict[str, Any], bob_workspace: dict[str, Any]
) -> None:
    upload(alice, workspace["id"], "same-name.txt", b"alice")
    upload(bob, bob_workspace["id"], "same-name.txt", b"bob!")
    alice_root = ok(alice.get("/me/drive/root")).get("id")
    bob_root = ok(bob.get("/me/drive/root")).get("id")
    assert alice_root != bob_root
    assert bob_workspace["name"] not in child_names(alice, alice_root)
    assert workspace["name"] not in child_names(bob, bob_root)
