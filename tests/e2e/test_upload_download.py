"""Simple uploads (201 new / 200 replaced, hashes, streaming, size limit) and downloads."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .helpers import (
    assert_datetime,
    assert_graph_error,
    assert_hashes,
    child_names,
    download,
    download_location,
    fetch_download,
    ok,
    put_content,
    seg,
    unique,
    upload,
)
from .server import ServerProcess

pytestmark = pytest.mark.e2e

DATA = b"0123456789abcdefghij"  # 20 bytes


# --- upload forms ---------------------------------------------------------------------------


def test_upload_new_file_by_parent_id_and_name(
    alice: httpx.Client, alice_drive: dict[str, Any], workspace: dict[str, Any]
) -> None:
    data = b"hello, graphdrive\n"
    item = ok(put_content(alice, workspace["id"], "hello.txt", data), 201)
    assert item["name"] == "hello.txt"
    assert item["size"] == len(data)
    assert item["file"]["mimeType"].startswith("text/plain")
    assert_hashes(item, data)
    assert "folder" not in item
    assert item["parentReference"]["id"] == workspace["id"]
    assert item["parentReference"]["driveId"] == alice_drive["id"]
    assert item["parentReference"]["path"] == f"/drive/root:/{workspace['name']}"
    assert item["eTag"] and item["cTag"]
    assert_datetime(item["createdDateTime"])
    assert_datetime(item["lastModifiedDateTime"])
    assert item["createdBy"]["user"]["displayName"]
    assert item["lastModifiedBy"]["user"]["displayName"]


def test_upload_by_root_path_then_replace(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    url = f"/me/drive/root:/{seg(workspace['name'])}/name.txt:/content"
    created = ok(alice.put(url, content=b"first"), 201)
    assert created["size"] == 5
    replaced = ok(alice.put(url, content=b"second!"), 200)
    assert replaced["id"] == created["id"]
    assert replaced["size"] == 7
    assert_hashes(replaced, b"second!")
    assert child_names(alice, workspace["id"]) == ["name.txt"]


def test_upload_through_drive_id_route(
    alice: httpx.Client, alice_drive: dict[str, Any], workspace: dict[str, Any]
) -> None:
    drive = f"/drives/{alice_drive['id']}"
    item = ok(put_content(alice, workspace["id"], "d.txt", b"drive route", drive=drive), 201)
    assert_hashes(item, b"drive route")


def test_upload_replace_by_parent_path_returns_200(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    first = upload(alice, workspace["id"], "r.txt", b"one")
    second = ok(put_content(alice, workspace["id"], "r.txt", b"two two"), 200)
    assert second["id"] == first["id"]
    assert second["size"] == 7
    assert download(alice, first["id"]) == b"two two"


def test_put_item_content_by_id_replaces(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    first = upload(alice, workspace["id"], "by-id.txt", b"version one")
    time.sleep(0.01)
    second = ok(alice.put(f"/me/drive/items/{first['id']}/content", content=b"version 2!!"), 200)
    assert second["id"] == first["id"]
    assert second["name"] == "by-id.txt"
    assert second["size"] == len(b"version 2!!")
    assert_hashes(second, b"version 2!!")
    assert second["cTag"] != first["cTag"]
    assert second["eTag"] != first["eTag"]
    assert assert_datetime(second["lastModifiedDateTime"]) >= assert_datetime(
        first["lastModifiedDateTime"]
    )
    assert download(alice, first["id"]) == b"version 2!!"


def test_upload_empty_file(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    item = upload(alice, workspace["id"], "empty.txt", b"")
    assert item["size"] == 0
    assert_hashes(item, b"")
    assert download(alice, item["id"]) == b""


@pytest.mark.parametrize(
    ("name", "mime"),
    [("a.txt", "text/plain"), ("a.json", "application/json"), ("a.png", "image/png")],
)
def test_mime_type_from_extension(
    alice: httpx.Client, workspace: dict[str, Any], name: str, mime: str
) -> None:
    item = upload(alice, workspace["id"], name, b"\x89PNG or text")
    assert item["file"]["mimeType"].startswith(mime)


def test_binary_content_roundtrip(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    data = bytes(range(256)) * 64 + os.urandom(1000)
    item = upload(alice, workspace["id"], "blob.bin", data)
    assert_hashes(item, data)
    assert download(alice, item["id"]) == data


def test_identical_content_in_two_items(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    data = os.urandom(4096)
    a = upload(alice, workspace["id"], "one.bin", data)
    b = upload(alice, workspace["id"], "two.bin", data)
    assert a["id"] != b["id"]
    assert a["file"]["hashes"]["sha256Hash"].lower() == b["file"]["hashes"]["sha256Hash"].lower()
    assert alice.delete(f"/me/drive/items/{a['id']}").status_code == 204
    assert download(alice, b["id"]) == data


def test_streamed_upload_of_several_megabytes(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    chunk_size, chunks = 256 * 1024, 24  # 6 MiB, sent with chunked transfer encoding
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()
    pieces = [os.urandom(chunk_size) for _ in range(chunks)]
    for piece in pieces:
        sha1.update(piece)
        sha256.update(piece)

    def body() -> Iterator[bytes]:
        yield from pieces

    response = alice.put(f"/me/drive/items/{workspace['id']}:/big.bin:/content", content=body())
    item = ok(response, 201)
    assert item["size"] == chunk_size * chunks
    assert item["file"]["hashes"]["sha1Hash"].lower() == sha1.hexdigest()
    assert item["file"]["hashes"]["sha256Hash"].lower() == sha256.hexdigest()

    location = download_location(alice, f"/me/drive/items/{item['id']}/content")
    got, size = hashlib.sha256(), 0
    with httpx.Client(timeout=60.0) as bare, bare.stream("GET", location) as resp:
        assert resp.status_code == 200
        for piece in resp.iter_bytes():
            got.update(piece)
            size += len(piece)
    assert size == chunk_size * chunks
    assert got.hexdigest() == sha256.hexdigest()
    assert ok(alice.get(f"/me/drive/items/{workspace['id']}"))["size"] == size


# --- broken uploads leave nothing behind ----------------------------------------------------


def _send_and_abort(server: ServerProcess, token: str, path: str, chunked: bool) -> None:
    """Send the head and part of an upload body over a raw socket, then drop the connection."""
    length_header = "Transfer-Encoding: chunked" if chunked else "Content-Length: 1000000"
    head = (
        f"PUT /v1.0{path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"{length_header}\r\n\r\n"
    ).encode()
    part = os.urandom(64 * 1024)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n" if chunked else part)
        time.sleep(0.3)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_aborted_upload_leaves_no_item(
    server: ServerProcess,
    alice_token: str,
    alice: httpx.Client,
    workspace: dict[str, Any],
    chunked: bool,
) -> None:
    _send_and_abort(
        server, alice_token, f"/me/drive/items/{workspace['id']}:/broken.bin:/content", chunked
    )
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert child_names(alice, workspace["id"]) == []
        time.sleep(0.25)
    path = f"/me/drive/root:/{seg(workspace['name'])}/broken.bin"
    assert_graph_error(alice.get(path), 404, "itemNotFound")
    assert ok(alice.get(f"/me/drive/items/{workspace['id']}"))["size"] == 0


def test_aborted_replace_keeps_old_content(
    server: ServerProcess, alice_token: str, alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    item = upload(alice, workspace["id"], "keep.txt", b"precious")
    _send_and_abort(server, alice_token, f"/me/drive/items/{item['id']}/content", chunked=False)
    time.sleep(1)
    now = ok(alice.get(f"/me/drive/items/{item['id']}"))
    assert now["size"] == len(b"precious")
    assert_hashes(now, b"precious")
    assert download(alice, item["id"]) == b"precious"


# --- upload size limit ----------------------------------------------------------------------

LIMIT = 1024


@pytest.fixture(scope="module")
def limited(spawn_server: Any) -> Iterator[tuple[ServerProcess, httpx.Client]]:
    """A separate server with GRAPHDRIVE_MAX_UPLOAD_BYTES=1024."""
    with (
        spawn_server({"GRAPHDRIVE_MAX_UPLOAD_BYTES": str(LIMIT)}) as srv,
        srv.client(srv.token("alice")) as client,
    ):
        yield srv, client


@pytest.fixture
def limited_ws(limited: tuple[ServerProcess, httpx.Client]) -> dict[str, Any]:
    _, client = limited
    root = ok(client.get("/me/drive/root"))
    return ok(
        client.post(
            f"/me/drive/items/{root['id']}/children", json={"name": unique(), "folder": {}}
        ),
        201,
    )


def test_upload_at_the_limit_is_accepted(
    limited: tuple[ServerProcess, httpx.Client], limited_ws: dict[str, Any]
) -> None:
    _, client = limited
    item = ok(put_content(client, limited_ws["id"], "exact.bin", b"x" * LIMIT), 201)
    assert item["size"] == LIMIT


def test_upload_over_the_limit_is_413_and_leaves_nothing(
    limited: tuple[ServerProcess, httpx.Client], limited_ws: dict[str, Any]
) -> None:
    _, client = limited
    response = put_content(client, limited_ws["id"], "big.bin", b"x" * (LIMIT + 1))
    assert_graph_error(response, 413)
    assert child_names(client, limited_ws["id"]) == []
    path = f"/me/drive/root:/{seg(limited_ws['name'])}/big.bin"
    assert_graph_error(client.get(path), 404, "itemNotFound")
    assert ok(client.get(f"/me/drive/items/{limited_ws['id']}"))["size"] == 0


def test_streamed_upload_over_the_limit_is_413(
    limited: tuple[ServerProcess, httpx.Client], limited_ws: dict[str, Any]
) -> None:
    """Without Content-Length the server must count the bytes as they stream in."""
    _, client = limited

    def body() -> Iterator[bytes]:
        for _ in range(8):
            yield b"y" * 512

    response = client.put(
        f"/me/drive/items/{limited_ws['id']}:/chunked.bin:/content", content=body()
    )
    assert_graph_error(response, 413)
    assert child_names(client, limited_ws["id"]) == []


def test_replace_over_the_limit_keeps_old_content(
    limited: tuple[ServerProcess, httpx.Client], limited_ws: dict[str, Any]
) -> None:
    _, client = limited
    item = ok(put_content(client, limited_ws["id"], "keep.bin", b"small"), 201)
    response = client.put(f"/me/drive/items/{item['id']}/content", content=b"z" * (LIMIT * 4))
    assert_graph_error(response, 413)
    now = ok(client.get(f"/me/drive/items/{item['id']}"))
    assert now["size"] == 5
    assert_hashes(now, b"small")
    assert download(client, item["id"]) == b"small"


# --- downloads ------------------------------------------------------------------------------


@pytest.fixture
def data_file(alice: httpx.Client, workspace: dict[str, Any]) -> dict[str, Any]:
    return upload(alice, workspace["id"], "data.txt", DATA)


def test_download_redirects_to_preauthenticated_url(
    alice: httpx.Client, data_file: dict[str, Any]
) -> None:
    location = download_location(alice, f"/me/drive/items/{data_file['id']}/content")
    response = fetch_download(location)
    assert response.status_code == 200
    assert response.content == DATA
    assert int(response.headers["content-length"]) == len(DATA)
    assert response.headers.get("etag")


def test_download_by_path_and_drive_route(
    alice: httpx.Client,
    alice_drive: dict[str, Any],
    workspace: dict[str, Any],
    data_file: dict[str, Any],
) -> None:
    ws = seg(workspace["name"])
    for url in (
        f"/me/drive/root:/{ws}/data.txt:/content",
        f"/me/drive/items/{workspace['id']}:/data.txt:/content",
        f"/drives/{alice_drive['id']}/items/{data_file['id']}/content",
        f"/drives/{alice_drive['id']}/root:/{ws}/data.txt:/content",
    ):
        assert fetch_download(download_location(alice, url)).content == DATA, url


def test_download_url_property(alice: httpx.Client, data_file: dict[str, Any]) -> None:
    item = ok(alice.get(f"/me/drive/items/{data_file['id']}"))
    url = item["@microsoft.graph.downloadUrl"]
    assert fetch_download(url).content == DATA


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=2-5", 2, 5),
        ("bytes=10-", 10, 19),
        ("bytes=-4", 16, 19),
        ("bytes=15-100", 15, 19),
    ],
)
def test_download_range(
    alice: httpx.Client, data_file: dict[str, Any], range_header: str, start: int, end: int
) -> None:
    location = download_location(alice, f"/me/drive/items/{data_file['id']}/content")
    response = fetch_download(location, {"Range": range_header})
    assert response.status_code == 206, response.text
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.content == DATA[start : end + 1]


def test_download_unsatisfiable_range_is_416(
    alice: httpx.Client, data_file: dict[str, Any]
) -> None:
    location = download_location(alice, f"/me/drive/items/{data_file['id']}/content")
    response = fetch_download(location, {"Range": "bytes=100-200"})
    assert response.status_code == 416, response.text


def test_download_if_none_match(alice: httpx.Client, data_file: dict[str, Any]) -> None:
    location = download_location(alice, f"/me/drive/items/{data_file['id']}/content")
    etag = fetch_download(location).headers["etag"]
    not_modified = fetch_download(location, {"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    other = fetch_download(location, {"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.content == DATA


def test_download_etag_changes_with_content(alice: httpx.Client, data_file: dict[str, Any]) -> None:
    url = f"/me/drive/items/{data_file['id']}/content"
    old_etag = fetch_download(download_location(alice, url)).headers["etag"]
    ok(alice.put(url, content=b"brand new content"), 200)
    fresh = fetch_download(download_location(alice, url), {"If-None-Match": old_etag})
    assert fresh.status_code == 200
    assert fresh.content == b"brand new content"
    assert fresh.headers["etag"] != old_etag


def test_download_of_missing_item_is_404(alice: httpx.Client) -> None:
    response = alice.get(f"/me/drive/items/{unique('nope')}/content", follow_redirects=False)
    assert_graph_error(response, 404, "itemNotFound")


def test_download_url_needs_no_token_but_api_does(
    anonymous: httpx.Client, alice: httpx.Client, data_file: dict[str, Any]
) -> None:
    response = anonymous.get(f"/me/drive/items/{data_file['id']}/content", follow_redirects=False)
    assert_graph_error(response, 401, "unauthenticated")
    location = download_location(alice, f"/me/drive/items/{data_file['id']}/content")
    assert "authorization" not in {k.lower() for k in fetch_download(location).request.headers}
    assert fetch_download(location).content == DATA


def test_upload_by_path_creates_missing_folders(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    base = f"/me/drive/items/{workspace['id']}:/new/deeper/file.txt:/content"
    created = ok(alice.put(base, content=b"made my own folders"), 201)
    assert created["parentReference"]["path"].endswith(f"/{workspace['name']}/new/deeper")
    deeper = ok(alice.get(f"/me/drive/items/{workspace['id']}:/new/deeper"))
    assert "folder" in deeper and deeper["folder"]["childCount"] == 1
    assert ok(alice.get(f"/me/drive/items/{workspace['id']}"))["size"] == len(
        b"made my own folders"
    )


def test_upload_below_a_file_is_400(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    ok(alice.put(f"/me/drive/items/{workspace['id']}:/plain.txt:/content", content=b"x"), 201)
    response = alice.put(
        f"/me/drive/items/{workspace['id']}:/plain.txt/inner.txt:/content", content=b"y"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidRequest"


def test_head_on_the_download_url_gives_size_and_etag(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    item = ok(
        alice.put(f"/me/drive/items/{workspace['id']}:/h.bin:/content", content=b"12345"), 201
    )
    head = httpx.head(item["@microsoft.graph.downloadUrl"])
    assert head.status_code == 200
    assert head.headers["content-length"] == "5"
    assert head.headers["etag"] == item["cTag"]
    assert head.content == b""
