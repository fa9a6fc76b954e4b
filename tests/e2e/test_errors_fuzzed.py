"""Requests found by fuzzing (schemathesis and hand-made) that once made the server answer 500.

Each answers a 4xx with a Graph error body now, on SQLite and on PostgreSQL alike. The usual
culprits: JSON that decodes to text no database can store (``"\\ud800"``, NUL), numbers and dates
beyond what a column or ``datetime`` holds, and requests racing each other on PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx
import jwt
import pytest

from graphdrive.auth.tokens import DEV_ISSUER, load_or_create_secret

from .helpers import (
    assert_graph_error,
    child_names,
    download_location,
    fetch_download,
    make_folder,
    ok,
    post_copy,
    upload,
)
from .server import ServerProcess

pytestmark = pytest.mark.e2e

LONE_SURROGATE = "\udcff"


def send_json(client: httpx.Client, method: str, url: str, body: Any) -> httpx.Response:
    """JSON as Python writes it: a lone surrogate goes out as the legal escape ``\\udcff``."""
    content = json.dumps(body).encode("ascii")
    return client.request(
        method, url, content=content, headers={"Content-Type": "application/json"}
    )


def cursor(value: Any) -> str:
    """A $skiptoken as the server encodes one (base64url JSON); a str is taken as the JSON."""
    text = value if isinstance(value, str) else json.dumps(value)
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


# --- query parameters -----------------------------------------------------------------------


def test_plain_top_with_a_unicode_digit_is_400(alice: httpx.Client) -> None:
    # "²".isdigit() is True, but int("²") raises.
    response = alice.get("/me/drive/root/children", params={"top": "²"})
    assert_graph_error(response, 400, "invalidRequest")


@pytest.mark.parametrize(
    ("orderby", "token"),
    [
        ("size", ["size", False, 2**63, "X"]),  # past BIGINT
        ("size", ["size", False, -(2**63) - 1, "X"]),
        ("name", ["name", False, "a", LONE_SURROGATE]),  # not encodable as UTF-8
        ("name", ["name", False, LONE_SURROGATE, "X"]),
        ("name", ["name", False, "a", "X\x00"]),  # PostgreSQL text cannot hold NUL
        ("lastModifiedDateTime", ["lastModifiedDateTime", False, "0001-01-01T00:00:00+23:59", "X"]),
        ("lastModifiedDateTime", ["lastModifiedDateTime", False, "9999-12-31T23:59:59-23:59", "X"]),
        ("name", "[" * 5000),  # nested deeper than json.loads recurses
    ],
    ids=["size-big", "size-small", "id-surrogate", "name-surrogate", "id-nul", "date-low",
         "date-high", "nested"],
)  # fmt: skip
def test_children_skiptoken_garbage_is_400(alice: httpx.Client, orderby: str, token: Any) -> None:
    params = {"$orderby": orderby, "$skiptoken": cursor(token)}
    response = alice.get("/me/drive/root/children", params=params)
    assert_graph_error(response, 400, "invalidRequest")


@pytest.mark.parametrize(
    "token",
    [
        ["2020-01-01T00:00:00+00:00", LONE_SURROGATE],
        ["2020-01-01T00:00:00+00:00", "X\x00"],
        ["0001-01-01T00:00:00+23:59", "X"],
        "[" * 5000,
    ],
    ids=["id-surrogate", "id-nul", "date-low", "nested"],
)
def test_operations_skiptoken_garbage_is_400(alice: httpx.Client, token: Any) -> None:
    response = alice.get("/me/drive/operations", params={"$skiptoken": cursor(token)})
    assert_graph_error(response, 400, "invalidRequest")


# --- NUL in the URL: no id or name holds one (PostgreSQL could not even compare) --------------


@pytest.mark.parametrize(
    "url",
    [
        "/me/drive/items/%00",
        "/me/drive/items/%00/children",
        "/me/drive/root:/%00",
        "/me/drive/root:/%00:/content",
        "/drives/%00",
        "/drives/%00/root",
        "/me/drive/operations/%00",
    ],
)
def test_nul_in_the_url_is_404(alice: httpx.Client, url: str) -> None:
    assert_graph_error(alice.get(url), 404, "itemNotFound")


def test_nul_in_an_upload_path_is_400(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    response = alice.put(f"/me/drive/items/{workspace['id']}:/a%00b.txt:/content", content=b"x")
    assert_graph_error(response, 400, "invalidRequest")
    assert child_names(alice, workspace["id"]) == []


# --- JSON bodies holding text that cannot be stored -----------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"name": LONE_SURROGATE, "folder": {}},
        {"name": "a" + LONE_SURROGATE, "folder": {}},
        {"name": "ok", "folder": {}, "@microsoft.graph.conflictBehavior": LONE_SURROGATE},
        {"name": "ok", "folder": {LONE_SURROGATE: 1}},
    ],
    ids=["name", "name-tail", "conflict", "nested-key"],
)
def test_create_folder_with_a_lone_surrogate_is_400(
    alice: httpx.Client, workspace: dict[str, Any], body: dict[str, Any]
) -> None:
    response = send_json(alice, "POST", f"/me/drive/items/{workspace['id']}/children", body)
    assert_graph_error(response, 400, "invalidRequest")
    assert child_names(alice, workspace["id"]) == []


def test_create_folder_with_a_raw_surrogate_in_utf8_is_400(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    # json.loads decodes bytes with "surrogatepass": ED A0 80 becomes a lone U+D800.
    response = alice.post(
        f"/me/drive/items/{workspace['id']}/children",
        content=b'{"name": "\xed\xa0\x80", "folder": {}}',
        headers={"Content-Type": "application/json"},
    )
    assert_graph_error(response, 400, "invalidRequest")
    assert child_names(alice, workspace["id"]) == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": LONE_SURROGATE},
        {"name": "zz", "@microsoft.graph.conflictBehavior": LONE_SURROGATE},
        {"parentReference": {"id": LONE_SURROGATE}},
        {"parentReference": {"id": "\x00"}},
        {"parentReference": {"path": "/drive/root:/" + LONE_SURROGATE}},
        {"parentReference": {"driveId": LONE_SURROGATE, "id": "root"}},
        {"fileSystemInfo": {"createdDateTime": "9999-12-31T23:59:59-23:59"}},
        {"fileSystemInfo": {"lastModifiedDateTime": "0001-01-01T00:00:00+23:59"}},
    ],
    ids=["name", "conflict", "parent-id", "parent-id-nul", "parent-path", "drive-id",
         "created-past-9999", "modified-before-1"],
)  # fmt: skip
def test_patch_with_unstorable_values_is_400(
    alice: httpx.Client, workspace: dict[str, Any], body: dict[str, Any]
) -> None:
    item = upload(alice, workspace["id"], "p.txt", b"p")
    response = send_json(alice, "PATCH", f"/me/drive/items/{item['id']}", body)
    assert_graph_error(response, 400, "invalidRequest")
    after = ok(alice.get(f"/me/drive/items/{item['id']}"))
    assert after["eTag"] == item["eTag"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": LONE_SURROGATE},
        {"parentReference": {"id": LONE_SURROGATE}},
        {"parentReference": {"id": "\x00"}},
        {"parentReference": {"driveId": LONE_SURROGATE}},
        {"parentReference": {"path": "/drive/root:/" + LONE_SURROGATE}},
    ],
    ids=["name", "parent-id", "parent-id-nul", "drive-id", "parent-path"],
)
def test_copy_with_unstorable_values_is_400(
    alice: httpx.Client, workspace: dict[str, Any], body: dict[str, Any]
) -> None:
    source = make_folder(alice, workspace["id"], "src")
    response = send_json(alice, "POST", f"/me/drive/items/{source['id']}/copy", body)
    assert_graph_error(response, 400, "invalidRequest")
    assert child_names(alice, workspace["id"]) == ["src"]


@pytest.mark.parametrize(
    "item",
    [
        {"name": LONE_SURROGATE},
        {"@microsoft.graph.conflictBehavior": LONE_SURROGATE},
        {"fileSystemInfo": {"createdDateTime": "9999-12-31T23:59:59-23:59"}},
    ],
    ids=["name", "conflict", "created-past-9999"],
)
def test_upload_session_with_unstorable_values_is_400(
    alice: httpx.Client, workspace: dict[str, Any], item: dict[str, Any]
) -> None:
    url = f"/me/drive/items/{workspace['id']}:/big.bin:/createUploadSession"
    response = send_json(alice, "POST", url, {"item": item})
    assert_graph_error(response, 400, "invalidRequest")


# --- download links that outlive their content ----------------------------------------------


@pytest.mark.parametrize("change", ["replace", "delete"])
@pytest.mark.parametrize("range_", [None, "bytes=0-3"])
def test_download_link_of_reclaimed_content_is_404(
    alice: httpx.Client, workspace: dict[str, Any], change: str, range_: str | None
) -> None:
    """Once the old content is reclaimed the link answers 404, not a 200 that breaks off."""
    item = upload(alice, workspace["id"], "old.bin", f"unique {workspace['id']}".encode())
    location = download_location(alice, f"/me/drive/items/{item['id']}/content")
    if change == "replace":
        ok(alice.put(f"/me/drive/items/{item['id']}/content", content=b"new content"))
    else:
        assert alice.delete(f"/me/drive/items/{item['id']}").status_code == 204
    response = fetch_download(location, {"Range": range_} if range_ else None)
    assert_graph_error(response, 404, "itemNotFound")


# --- clients hanging up mid-upload -----------------------------------------------------------


def _requests_answered(server: ServerProcess, route: str, status: int) -> float:
    """How many PUTs of ``route`` the server answered with ``status`` (from /metrics)."""
    wanted = f'method="PUT",route="{route}",status="{status}"'
    text = httpx.get(f"{server.origin}/metrics").text
    lines = [ln for ln in text.splitlines() if ln.startswith("graphdrive_http_request_duration")]
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines if "_count{" in ln and wanted in ln)


def _hang_up_mid_body(server: ServerProcess, path: str, headers: dict[str, str]) -> None:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n{head}\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request.encode() + b"x" * 1000)
        time.sleep(0.2)


def test_client_hanging_up_mid_upload_is_not_a_server_error(
    server: ServerProcess, alice: httpx.Client, alice_token: str, workspace: dict[str, Any]
) -> None:
    session = ok(alice.post(f"/me/drive/items/{workspace['id']}:/big.bin:/createUploadSession"))
    upload_path = httpx.URL(session["uploadUrl"]).raw_path.decode()
    cases = [
        (
            "/items/{item_id}/content",
            f"/v1.0/me/drive/items/{workspace['id']}:/cut.bin:/content",
            {"Authorization": f"Bearer {alice_token}"},
        ),
        ("/upload/{token}", upload_path, {"Content-Range": "bytes 0-99999/100000"}),
    ]
    for route, path, headers in cases:
        before = {s: _requests_answered(server, route, s) for s in (400, 500)}
        _hang_up_mid_body(server, path, headers)
        deadline = time.monotonic() + 5
        while _requests_answered(server, route, 400) == before[400]:
            assert time.monotonic() < deadline, f"{route}: no 400 recorded"
            time.sleep(0.05)
        assert _requests_answered(server, route, 500) == before[500], route
    # The session is still usable, from its first byte.
    state = ok(httpx.get(session["uploadUrl"]))
    assert state["nextExpectedRanges"][0].startswith("0-"), state
    assert child_names(alice, workspace["id"]) == []


# --- headers --------------------------------------------------------------------------------


def test_overlong_idempotency_key_is_400(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    source = make_folder(alice, workspace["id"], "src")
    response = post_copy(alice, source["id"], headers={"Idempotency-Key": "k" * 256})
    assert_graph_error(response, 400, "invalidRequest")


# --- tokens whose claims cannot be stored ---------------------------------------------------


def _signed(server: ServerProcess, **claims: Any) -> str:
    now = int(time.time())
    claims = {"iss": DEV_ISSUER, "iat": now, "exp": now + 600, "scp": "Files.ReadWrite", **claims}
    return jwt.encode(claims, load_or_create_secret(server.data_dir, None), algorithm="HS256")


@pytest.mark.parametrize("user", ["fz\x00nul", "u" * 256], ids=["nul", "too-long"])
def test_token_with_an_unstorable_user_id_is_401(server: ServerProcess, user: str) -> None:
    with server.client(_signed(server, sub=user, oid=user)) as client:
        assert_graph_error(client.get("/me/drive"), 401, "unauthenticated")


def test_token_with_an_overlong_display_name_still_works(server: ServerProcess) -> None:
    token = _signed(server, sub="fz-long-name", name="n" * 300, preferred_username="fz@x")
    with server.client(token) as client:
        drive = ok(client.get("/me/drive"))
    assert drive["owner"]["user"]["displayName"] == "fz@x"


# --- races (PostgreSQL runs requests concurrently; SQLite queues writers) -------------------


def _together(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run the calls at the same moment, each on its own thread."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_crossing_moves_do_not_hang_or_fail(
    server: ServerProcess, alice_token: str, workspace: dict[str, Any]
) -> None:
    """A into B and B into A at once: one wins, the other is refused (no cycle, no 500 after a
    statement timeout)."""
    with server.client(alice_token) as client:
        client.timeout = httpx.Timeout(20.0)
        for round_ in range(3):
            a = make_folder(client, workspace["id"], f"a{round_}")
            b = make_folder(client, workspace["id"], f"b{round_}")
            responses = _together(
                lambda a=a, b=b: client.patch(
                    f"/me/drive/items/{a['id']}", json={"parentReference": {"id": b["id"]}}
                ),
                lambda a=a, b=b: client.patch(
                    f"/me/drive/items/{b['id']}", json={"parentReference": {"id": a["id"]}}
                ),
            )
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [200, 400], [r.text[:300] for r in responses]
            assert_graph_error(next(r for r in responses if r.status_code == 400), 400)
            names = child_names(client, workspace["id"])
            assert (f"a{round_}" in names) != (f"b{round_}" in names), names


def test_concurrent_copies_with_one_idempotency_key_share_one_operation(
    server: ServerProcess, alice_token: str, workspace: dict[str, Any]
) -> None:
    with server.client(alice_token) as client:
        source = make_folder(client, workspace["id"], "src")
        headers = {"Idempotency-Key": f"fuzz-{workspace['id']}"}
        copy = partial(post_copy, client, source["id"], {"name": "dup"}, headers=headers)
        responses = _together(*[copy] * 6)
    assert [r.status_code for r in responses] == [202] * 6, [r.text[:300] for r in responses]
    assert len({r.headers["location"] for r in responses}) == 1


def test_delete_racing_creates_inside_is_never_a_500(
    server: ServerProcess, alice_token: str, workspace: dict[str, Any]
) -> None:
    with server.client(alice_token) as client:
        for round_ in range(3):
            top = make_folder(client, workspace["id"], f"top{round_}")
            inner = make_folder(client, top["id"], "inner")
            url = f"/me/drive/items/{inner['id']}/children"
            creates = [
                partial(client.post, url, json={"name": f"n{i}", "folder": {}}) for i in range(5)
            ]
            delete = partial(client.delete, f"/me/drive/items/{top['id']}")
            for response in _together(delete, *creates):
                if response.status_code >= 400:
                    assert_graph_error(response, (404, 409))
                else:
                    assert response.status_code in (201, 204), response.text[:300]


def test_children_only_must_be_a_boolean(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    response = alice.post(
        f"/me/drive/items/{workspace['id']}/copy", json={"childrenOnly": "yes", "name": "x"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidRequest"
