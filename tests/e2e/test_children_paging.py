"""Listing children: `$top`, `@odata.nextLink` paging, `$select`, `$orderby`."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from .helpers import (
    assert_datetime,
    assert_graph_error,
    create_folder,
    list_children,
    ok,
    seg,
    upload,
)
from .server import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def seven(alice: httpx.Client, workspace: dict[str, Any]) -> dict[str, Any]:
    """Seven files of distinct sizes, uploaded in an order unrelated to name or size."""
    sizes = {"d.txt": 40, "a.txt": 10, "g.txt": 70, "c.txt": 30, "f.txt": 60, "b.txt": 20}
    for name, size in sizes.items():
        upload(alice, workspace["id"], name, b"x" * size)
    upload(alice, workspace["id"], "e.txt", b"x" * 50)
    return workspace


def _pages(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    pages = []
    next_url: str | None = url
    while next_url is not None:
        page = ok(client.get(next_url))
        pages.append(page)
        next_url = page.get("@odata.nextLink")
        if len(pages) > 100:
            pytest.fail("nextLink never ends")
    return pages


def test_children_value_list(alice: httpx.Client, seven: dict[str, Any]) -> None:
    body = ok(alice.get(f"/me/drive/items/{seven['id']}/children"))
    assert len(body["value"]) == 7
    assert "@odata.nextLink" not in body
    assert all(item["parentReference"]["id"] == seven["id"] for item in body["value"])


def test_top_and_next_link_paging(
    server: ServerProcess, alice: httpx.Client, seven: dict[str, Any]
) -> None:
    pages = _pages(alice, f"/me/drive/items/{seven['id']}/children?$top=3")
    assert [len(p["value"]) for p in pages] == [3, 3, 1]
    for page in pages[:-1]:
        link = page["@odata.nextLink"]
        assert link.startswith(f"{server.origin}/"), f"nextLink must be absolute: {link}"
    assert "@odata.nextLink" not in pages[-1]
    names = [item["name"] for p in pages for item in p["value"]]
    assert sorted(names) == ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt", "g.txt"]
    assert len(set(names)) == len(names), f"a name was seen twice: {names}"


def test_next_link_works_through_drive_route(
    alice: httpx.Client, alice_drive: dict[str, Any], seven: dict[str, Any]
) -> None:
    pages = _pages(alice, f"/drives/{alice_drive['id']}/items/{seven['id']}/children?$top=2")
    names = [item["name"] for p in pages for item in p["value"]]
    assert len(pages) == 4
    assert len(names) == len(set(names)) == 7


def test_paging_by_path_route(alice: httpx.Client, seven: dict[str, Any]) -> None:
    pages = _pages(alice, f"/me/drive/root:/{seg(seven['name'])}:/children?$top=4")
    names = [item["name"] for p in pages for item in p["value"]]
    assert len(pages) == 2
    assert len(names) == len(set(names)) == 7


def test_paging_preserves_orderby(alice: httpx.Client, seven: dict[str, Any]) -> None:
    pages = _pages(alice, f"/me/drive/items/{seven['id']}/children?$top=2&$orderby=name desc")
    names = [item["name"] for p in pages for item in p["value"]]
    assert names == ["g.txt", "f.txt", "e.txt", "d.txt", "c.txt", "b.txt", "a.txt"]


def test_paging_preserves_select(alice: httpx.Client, seven: dict[str, Any]) -> None:
    pages = _pages(alice, f"/me/drive/items/{seven['id']}/children?$top=3&$select=name")
    for page in pages:
        for item in page["value"]:
            assert "name" in item
            assert "size" not in item and "file" not in item, item


def test_default_page_size_is_200(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    for i in range(203):
        ok(create_folder(alice, workspace["id"], f"f{i:03d}"), 201)
    first = ok(alice.get(f"/me/drive/items/{workspace['id']}/children"))
    assert len(first["value"]) == 200
    second = ok(alice.get(first["@odata.nextLink"]))
    assert len(second["value"]) == 3
    assert "@odata.nextLink" not in second
    names = {item["name"] for item in first["value"] + second["value"]}
    assert names == {f"f{i:03d}" for i in range(203)}


def test_empty_folder_has_empty_value(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    body = ok(alice.get(f"/me/drive/items/{workspace['id']}/children?$top=5"))
    assert body["value"] == []
    assert "@odata.nextLink" not in body


@pytest.mark.parametrize("top", ["0", "-1", "abc"])
def test_invalid_top_is_400(alice: httpx.Client, workspace: dict[str, Any], top: str) -> None:
    response = alice.get(f"/me/drive/items/{workspace['id']}/children?$top={top}")
    assert_graph_error(response, 400, "invalidRequest")


def test_tampered_page_token_is_400(alice: httpx.Client, seven: dict[str, Any]) -> None:
    first = ok(alice.get(f"/me/drive/items/{seven['id']}/children?$top=2"))
    link = urlsplit(first["@odata.nextLink"])
    query = parse_qsl(link.query, keep_blank_values=True)
    known = {"$top", "top", "$select", "select", "$orderby", "orderby"}
    tokens = [key for key, _ in query if key not in known]
    if not tokens:
        pytest.skip(f"no page-token query parameter in {link.geturl()}")
    tampered = [(k, "not-a-real-token" if k in tokens else v) for k, v in query]
    response = alice.get(link._replace(query=urlencode(tampered)).geturl())
    assert_graph_error(response, 400)


# --- $select --------------------------------------------------------------------------------


@pytest.mark.parametrize("param", ["$select", "select"])
def test_select_limits_fields(alice: httpx.Client, seven: dict[str, Any], param: str) -> None:
    body = ok(alice.get(f"/me/drive/items/{seven['id']}/children?{param}=name,size"))
    assert len(body["value"]) == 7
    for item in body["value"]:
        assert isinstance(item["name"], str)
        assert isinstance(item["size"], int)
        for absent in ("file", "folder", "createdDateTime", "parentReference", "cTag"):
            assert absent not in item, f"{absent} present despite {param}: {item}"


def test_select_id_only(alice: httpx.Client, seven: dict[str, Any]) -> None:
    body = ok(alice.get(f"/me/drive/items/{seven['id']}/children?$select=id"))
    ids = [item["id"] for item in body["value"]]
    assert len(set(ids)) == 7
    assert all("name" not in item for item in body["value"])


# --- $orderby -------------------------------------------------------------------------------


@pytest.mark.parametrize("orderby", ["name", "name asc"])
def test_orderby_name(alice: httpx.Client, seven: dict[str, Any], orderby: str) -> None:
    items = list_children(alice, seven["id"], f"?$orderby={orderby}")
    assert [i["name"] for i in items] == [
        "a.txt",
        "b.txt",
        "c.txt",
        "d.txt",
        "e.txt",
        "f.txt",
        "g.txt",
    ]


def test_orderby_size_desc(alice: httpx.Client, seven: dict[str, Any]) -> None:
    items = list_children(alice, seven["id"], "?$orderby=size desc")
    assert [i["size"] for i in items] == [70, 60, 50, 40, 30, 20, 10]


def test_orderby_size(alice: httpx.Client, seven: dict[str, Any]) -> None:
    items = list_children(alice, seven["id"], "?$orderby=size")
    assert [i["size"] for i in items] == [10, 20, 30, 40, 50, 60, 70]


def test_orderby_last_modified(alice: httpx.Client, workspace: dict[str, Any]) -> None:
    ids = []
    for name in ("m1.txt", "m2.txt", "m3.txt"):
        ids.append(upload(alice, workspace["id"], name, b"x")["id"])
        time.sleep(0.05)
    # Touch the first one again so it becomes the most recently modified.
    ok(alice.put(f"/me/drive/items/{ids[0]}/content", content=b"newer"), 200)

    ascending = list_children(alice, workspace["id"], "?$orderby=lastModifiedDateTime")
    stamps = [assert_datetime(i["lastModifiedDateTime"]) for i in ascending]
    assert stamps == sorted(stamps)
    assert [i["name"] for i in ascending] == ["m2.txt", "m3.txt", "m1.txt"]

    descending = list_children(alice, workspace["id"], "?$orderby=lastModifiedDateTime desc")
    assert [i["name"] for i in descending] == ["m1.txt", "m3.txt", "m2.txt"]


def test_orderby_unknown_field_is_400(alice: httpx.Client, seven: dict[str, Any]) -> None:
    response = alice.get(f"/me/drive/items/{seven['id']}/children?$orderby=colour")
    assert_graph_error(response, 400, "invalidRequest")


def test_top_without_dollar_is_validated(alice: httpx.Client, seven: dict[str, Any]) -> None:
    page = ok(alice.get(f"/me/drive/items/{seven['id']}/children?top=2"))
    assert len(page["value"]) == 2
    bad = alice.get(f"/me/drive/items/{seven['id']}/children?top=abc")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalidRequest"
