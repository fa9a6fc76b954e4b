"""Small HTTP helpers shared by the end-to-end tests: they speak the Graph wire format only."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx


def unique(prefix: str = "t") -> str:
    """A folder or file name no other test uses (the drives are shared by the whole session)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def seg(name: str) -> str:
    """Percent-encode one path segment (a name) for use in a URL."""
    return quote(name, safe="")


def path_url(path: str) -> str:
    """Percent-encode a slash-separated relative path, keeping the slashes."""
    return "/".join(seg(part) for part in path.split("/"))


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """Assert the status code and return the JSON body, showing the body on failure."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code}, "
        f"expected {status}: {response.text[:2000]}"
    )
    body = response.json()
    assert isinstance(body, dict)
    return body


def assert_graph_error(
    response: httpx.Response, status: int | tuple[int, ...], code: str | None = None
) -> dict[str, Any]:
    """Assert a Graph error answer: the status, and `error.code/message/innerError{date,...}`."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (
        f"{response.request.method} {response.request.url} -> {response.status_code}, "
        f"expected {statuses}: {response.text[:2000]}"
    )
    assert response.headers.get("content-type", "").startswith("application/json"), (
        f"error body is not JSON: {response.headers.get('content-type')!r} {response.text[:500]}"
    )
    body = response.json()
    error = body.get("error")
    assert isinstance(error, dict), f"no 'error' object in {body}"
    assert isinstance(error.get("code"), str) and error["code"], f"no error.code in {body}"
    assert isinstance(error.get("message"), str), f"no error.message in {body}"
    inner = error.get("innerError")
    assert isinstance(inner, dict), f"no error.innerError in {body}"
    assert isinstance(inner.get("request-id"), str) and inner["request-id"], body
    assert isinstance(inner.get("date"), str), body
    assert_datetime(inner["date"])
    if code is not None:
        assert error["code"] == code, f"expected error.code {code!r}, got {body}"
    return body


def assert_datetime(value: Any) -> datetime:
    """An ISO 8601 timestamp with a time zone (Graph sends `...Z`)."""
    assert isinstance(value, str), value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"timestamp without time zone: {value!r}"
    return parsed


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_hashes(item: dict[str, Any], data: bytes) -> None:
    """Graph sends sha1Hash/sha256Hash as upper-case hex; compare case-insensitively."""
    hashes = item["file"]["hashes"]
    assert hashes["sha1Hash"].lower() == sha1_hex(data), hashes
    assert hashes["sha256Hash"].lower() == sha256_hex(data), hashes


# --- drive operations (the client is rooted at /v1.0) ---------------------------------------


def create_folder(
    client: httpx.Client,
    parent_id: str,
    name: str,
    conflict: str | None = None,
    drive: str = "/me/drive",
) -> httpx.Response:
    body: dict[str, Any] = {"name": name, "folder": {}}
    if conflict is not None:
        body["@microsoft.graph.conflictBehavior"] = conflict
    return client.post(f"{drive}/items/{parent_id}/children", json=body)


def make_folder(client: httpx.Client, parent_id: str, name: str) -> dict[str, Any]:
    return ok(create_folder(client, parent_id, name), 201)


def put_content(
    client: httpx.Client,
    parent_id: str,
    name: str,
    data: bytes,
    drive: str = "/me/drive",
) -> httpx.Response:
    """Simple upload `PUT {drive}/items/{parent-id}:/{name}:/content`."""
    return client.put(f"{drive}/items/{parent_id}:/{seg(name)}:/content", content=data)


def upload(client: httpx.Client, parent_id: str, name: str, data: bytes) -> dict[str, Any]:
    return ok(put_content(client, parent_id, name, data), 201)


def get_item(client: httpx.Client, item_id: str) -> httpx.Response:
    return client.get(f"/me/drive/items/{item_id}")


def list_children(client: httpx.Client, item_id: str, query: str = "") -> list[dict[str, Any]]:
    """All children of a folder, following `@odata.nextLink` to the end."""
    url: str | None = f"/me/drive/items/{item_id}/children{query}"
    items: list[dict[str, Any]] = []
    while url is not None:
        page = ok(client.get(url))
        items.extend(page["value"])
        url = page.get("@odata.nextLink")
    return items


def child_names(client: httpx.Client, item_id: str) -> list[str]:
    return [item["name"] for item in list_children(client, item_id)]


def fetch_download(location: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """Fetch a pre-authenticated download URL the way clients do: no Authorization header."""
    assert location.startswith(("http://", "https://")), f"not an absolute URL: {location!r}"
    with httpx.Client(timeout=60.0) as bare:
        return bare.get(location, headers=headers or {})


def download_location(client: httpx.Client, content_url: str) -> str:
    """`GET .../content` must answer 302 with an absolute Location."""
    response = client.get(content_url, follow_redirects=False)
    assert response.status_code == 302, (
        f"GET {content_url} -> {response.status_code}, expected 302: {response.text[:500]}"
    )
    location = response.headers.get("location", "")
    assert location.startswith(("http://", "https://")), f"Location not absolute: {location!r}"
    return location


def download(client: httpx.Client, item_id: str) -> bytes:
    location = download_location(client, f"/me/drive/items/{item_id}/content")
    response = fetch_download(location)
    assert response.status_code == 200, response.text[:500]
    return response.content
