"""Graph error bodies for unknown routes, wrong methods, bad JSON, invalid names; API docs."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from .helpers import (
    assert_graph_error,
    child_names,
    create_folder,
    ok,
    put_content,
    seg,
    upload,
)
from .server import ServerProcess

pytestmark = pytest.mark.e2e


# --- routes and methods ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/v1.0/me/nothing-here",
        "/v1.0/me/drive/items/x/nonsense",
        "/v1.0/no/such/route",
        "/totally/unknown",
    ],
)
def test_unknown_route_is_404_with_graph_body(
    server: ServerProcess, alice_token: str, url: str
) -> None:
    headers = {"Authorization": f"Bearer {alice_token}"}
    response = httpx.get(f"{server.origin}{url}", headers=headers)
    assert_graph_error(response, 404)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("DELETE", "/me/drive"),
        ("POST", "/me/drive"),
        ("PATCH", "/me/drives"),
        ("PUT", "/me/drive/root/children"),
    ],
)
def test_wrong_method_is_405_with_graph_body(alice: httpx.Client, method: str, url: str) -> None:
    response = alice.request(method, url)
    assert_graph_error(response, 405)


def test_error_request_ids_differ(alice: httpx.Client) -> None:
    first = assert_graph_error(alice.get("/me/drive/items/nope-1"), 404)
    second = assert_graph_error(alice.get("/me/drive/items/nope-2"), 404)
    ids = {body["error"]["innerError"]["request-id"] for body in (first, second)}
    assert len(ids) == 2


# --- malformed bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b"[1, 2, 3]", b'"just a string"', b'{"name": "x",}']
)
def test_malformed_json_on_create_is_400(
    alice: httpx.Client, workspace: dict[str, Any], body: bytes
) -> None:
    response = alice.post(
        f"/me/drive/items/{workspace['id']}/children",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert_graph_error(response, 400, "invalidRequest")
    assert child_names(alice, workspace["id"]) == []


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"name": 5}'])
def test_malformed_json_on_patch_is_400(
    alice: httpx.Client, workspace: dict[str, Any], body: bytes
) -> None:
    item = upload(alice, workspace["id"], "p.txt", b"p")
    response = alice.patch(
        f"/me/drive/items/{item['id']}",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert_graph_error(response, 400, "invalidRequest")
    assert ok(alice.get(f"/me/drive/items/{item['id']}"))["name"] == "p.txt"


def test_wrong_types_in_parent_reference_is_400(
    alice: httpx.Client, workspace: dict[str, Any]
) -> None:
    item = upload(alice, workspace["id"], "p.txt", b"p")
    response = alice.patch(f"/me/drive/items/{item['id']}", json={"parentReference": "nope"})
    assert_graph_error(response, 400, "invalidRequest")


# --- invalid names --------------------------------------------------------------------------

INVALID_NAMES = [
    'a"b',
    "a*b",
    "a:b",
    "a<b",
    "a>b",
    "a?b",
    "a/b",
    "a\\b",
    "a|b",
    " lead",
    "trail ",
    " ",
    "",
    ".lock",
    "CON",
    "PRN",
    "AUX",
    "NUL",
    "COM0",
    "COM1",
    "COM9",
    "LPT0",
    "LPT1",
    "LPT9",
    "desktop.ini",
    "_vti_",
    "a_vti_b",
    "x_vti_.txt",
]


@pytest.mark.parametrize("name", INVALID_NAMES, ids=repr)
def test_invalid_folder_name_is_400(
    alice: httpx.Client, workspace: dict[str, Any], name: str
) -> None:
    assert_graph_error(create_folder(alice, workspace["id"], name), 400)
    assert child_names(alice, workspace["id"]) == []


# `/` and `:` cannot be a name inside a path-addressed URL (they are syntax there); empty neither.
UPLOAD_INVALID_NAMES = [n for n in INVALID_NAMES if n not in ("a/b", "a:b", "")]


@pytest.mark.parametrize("name", UPLOAD_INVALID_NAMES, ids=repr)
def test_invalid_upload_name_is_400(
    alice: httpx.Client, workspace: dict[str, Any], name: str
) -> None:
    response = put_content(alice, workspace["id"], name, b"data")
    assert_graph_error(response, 400)
    assert child_names(alice, workspace["id"]) == []


@pytest.mark.parametrize("name", ["a:b", "CON", " lead", "trail ", ".lock", "x_vti_y", "a|b"])
def test_invalid_rename_is_400(alice: httpx.Client, workspace: dict[str, Any], name: str) -> None:
    item = upload(alice, workspace["id"], "fine.txt", b"x")
    response = alice.patch(f"/me/drive/items/{item['id']}", json={"name": name})
    assert_graph_error(response, 400)
    assert child_names(alice, workspace["id"]) == ["fine.txt"]


@pytest.mark.parametrize(
    "name", ["concert", "LPT10", "COMA", "lock", "a.lock.b", "_vti", "my CON file"]
)
def test_similar_but_valid_names_are_accepted(
    alice: httpx.Client, workspace: dict[str, Any], name: str
) -> None:
    assert ok(create_folder(alice, workspace["id"], name), 201)["name"] == name


def test_unicode_name_roundtrip(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    name = "Überweisung \u2013 2024 \u2713.pdf"
    item = upload(alice, workspace["id"], name, b"%PDF")
    assert item["name"] == name
    got = ok(alice.get(f"/me/drive/root:/{seg(workspace['name'])}/{seg(name)}"))
    assert got["id"] == item["id"]


# --- API description ------------------------------------------------------------------------


def test_openapi_json(server: ServerProcess) -> None:
    response = httpx.get(f"{server.origin}/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert isinstance(doc["paths"], dict) and doc["paths"]
    assert "openapi" in doc
    assert any("/me/drive" in path for path in doc["paths"])
    # What code generators need: each operation declares its path's parameters and has an
    # operation id of its own.
    ids = []
    for path, operations in doc["paths"].items():
        wanted = set(re.findall(r"{(\w+)}", path))
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == wanted, (method, path, declared)
            ids.append(operation["operationId"])
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_docs_html(server: ServerProcess) -> None:
    response = httpx.get(f"{server.origin}/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()


def test_healthz_needs_no_token(server: ServerProcess) -> None:
    assert httpx.get(f"{server.origin}/healthz").status_code == 200
