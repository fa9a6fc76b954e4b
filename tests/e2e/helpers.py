"""Small HTTP helpers shared by the end-to-end tests: they speak the Graph wire format only."""

from __future__ import annotations

import hashlib
import json
import time
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


def make_folder(
    client: httpx.Client, parent_id: str, name: str, drive: str = "/me/drive"
) -> dict[str, Any]:
    return ok(create_folder(client, parent_id, name, drive=drive), 201)


def put_content(
    client: httpx.Client,
    parent_id: str,
    name: str,
    data: bytes,
    drive: str = "/me/drive",
) -> httpx.Response:
    """Simple upload `PUT {drive}/items/{parent-id}:/{name}:/content`."""
    return client.put(f"{drive}/items/{parent_id}:/{seg(name)}:/content", content=data)


def upload(
    client: httpx.Client, parent_id: str, name: str, data: bytes, drive: str = "/me/drive"
) -> dict[str, Any]:
    return ok(put_content(client, parent_id, name, data, drive=drive), 201)


def get_item(client: httpx.Client, item_id: str) -> httpx.Response:
    return client.get(f"/me/drive/items/{item_id}")


def list_children(
    client: httpx.Client, item_id: str, query: str = "", drive: str = "/me/drive"
) -> list[dict[str, Any]]:
    """All children of a folder, following `@odata.nextLink` to the end."""
    url: str | None = f"{drive}/items/{item_id}/children{query}"
    items: list[dict[str, Any]] = []
    while url is not None:
        page = ok(client.get(url))
        items.extend(page["value"])
        url = page.get("@odata.nextLink")
    return items


def child_names(client: httpx.Client, item_id: str, drive: str = "/me/drive") -> list[str]:
    return [item["name"] for item in list_children(client, item_id, drive=drive)]


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


def download(client: httpx.Client, item_id: str, drive: str = "/me/drive") -> bytes:
    location = download_location(client, f"{drive}/items/{item_id}/content")
    response = fetch_download(location)
    assert response.status_code == 200, response.text[:500]
    return response.content


# --- long-running copy and the monitor (asyncJobStatus) -------------------------------------

FINISHED_STATUSES = frozenset({"completed", "failed", "cancelled"})
MONITOR_STATUSES = frozenset(
    {"notStarted", "waiting", "inProgress", "deletePending", "updating", *FINISHED_STATUSES}
)


def copy_url(item_id: str, *, conflict: str | None = None, drive: str = "/me/drive") -> str:
    url = f"{drive}/items/{item_id}/copy"
    if conflict is not None:
        url += f"?@microsoft.graph.conflictBehavior={conflict}"
    return url


def post_copy(
    client: httpx.Client,
    item_id: str,
    body: dict[str, Any] | None = None,
    *,
    conflict: str | None = None,
    drive: str = "/me/drive",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """`POST {drive}/items/{id}/copy`, the conflict behaviour as a query parameter."""
    return client.post(
        copy_url(item_id, conflict=conflict, drive=drive), json=body or {}, headers=headers
    )


def accepted_location(response: httpx.Response) -> str:
    """A copy must answer 202 Accepted, an empty body and an absolute monitor `Location`."""
    assert response.status_code == 202, (
        f"{response.request.method} {response.request.url} -> {response.status_code}, "
        f"expected 202: {response.text[:2000]}"
    )
    assert response.content == b"", f"202 body is not empty: {response.text[:500]!r}"
    location = response.headers.get("location", "")
    assert location.startswith(("http://", "https://")), f"Location not absolute: {location!r}"
    assert "/monitor/" in location, f"Location is not a monitor URL: {location!r}"
    return location


def start_copy(
    client: httpx.Client,
    item_id: str,
    body: dict[str, Any] | None = None,
    **kwargs: Any,
) -> str:
    """POST a copy and return its monitor URL."""
    return accepted_location(post_copy(client, item_id, body, **kwargs))


def monitor_request(
    method: str,
    location: str,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> httpx.Response:
    """Call a monitor URL the way rclone does: a bare client, no Authorization, no redirects."""
    with httpx.Client(timeout=timeout) as bare:
        return bare.request(method, location, headers=headers or {}, follow_redirects=False)


def assert_report(body: dict[str, Any]) -> dict[str, Any]:
    """An asyncJobStatus report as issue 3 specifies it."""
    assert body.get("operation") == "ItemCopy", body
    assert body.get("status") in MONITOR_STATUSES, body
    percent = body.get("percentageComplete")
    assert isinstance(percent, int | float) and not isinstance(percent, bool), body
    assert 0.0 <= percent <= 100.0, body
    if body["status"] == "completed":
        assert percent == 100.0, f"completed but percentageComplete {percent}: {body}"
        assert isinstance(body.get("resourceId"), str) and body["resourceId"], body
    else:
        assert percent < 100.0, f"100% reported while {body['status']}: {body}"
        assert "resourceId" not in body, body
    if body["status"] == "failed":
        assert isinstance(body.get("errorCode"), str) and body["errorCode"], body
        assert isinstance(body.get("statusDescription"), str), body
        error = body.get("error")
        assert isinstance(error, dict), body
        assert error.get("code") == body["errorCode"], body
        assert isinstance(error.get("message"), str) and error["message"], body
    return body


def assert_monitor_headers(response: httpx.Response, body: dict[str, Any]) -> None:
    assert "no-store" in response.headers.get("cache-control", ""), dict(response.headers)
    assert response.headers.get("referrer-policy") == "no-referrer", dict(response.headers)
    if body["status"] in FINISHED_STATUSES:
        assert "retry-after" not in response.headers, dict(response.headers)
    else:
        assert response.status_code == 202, (response.status_code, body)
        retry = response.headers.get("retry-after", "")
        assert retry.isdigit(), f"Retry-After {retry!r} while {body['status']}"


def read_report(
    location: str, headers: dict[str, str] | None = None, finished_status: int = 202
) -> dict[str, Any]:
    """One GET of the monitor: checks the body, the headers and the status code."""
    response = monitor_request("GET", location, headers)
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code,
        response.text[:500],
    )
    body = assert_report(response.json())
    assert_monitor_headers(response, body)
    if body["status"] in FINISHED_STATUSES:
        assert response.status_code == finished_status, (response.status_code, body)
    return body


def poll_monitor(
    location: str,
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    finished_status: int = 202,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Poll until the report is finished; every report is checked and percentageComplete must
    never go backwards. Returns all reports, the finished one last."""
    deadline = time.monotonic() + timeout
    reports: list[dict[str, Any]] = []
    while True:
        body = read_report(location, headers, finished_status)
        if reports:
            previous = reports[-1]["percentageComplete"]
            assert body["percentageComplete"] >= previous, (
                f"percentageComplete went back from {previous} to {body['percentageComplete']}"
                f" ({[r['percentageComplete'] for r in reports]})"
            )
        reports.append(body)
        if body["status"] in FINISHED_STATUSES:
            return reports
        assert time.monotonic() < deadline, f"not finished after {timeout} s: {body}"
        time.sleep(interval)


def wait_for_copy(location: str, **kwargs: Any) -> dict[str, Any]:
    return poll_monitor(location, **kwargs)[-1]


def copy_and_wait(
    client: httpx.Client, item_id: str, body: dict[str, Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """POST a copy and poll its monitor to the end; returns the finished report."""
    return wait_for_copy(start_copy(client, item_id, body, **kwargs))


def read_events(
    location: str, headers: dict[str, str] | None = None, timeout: float = 60.0
) -> tuple[httpx.Response, list[tuple[str, dict[str, Any]]]]:
    """Read a monitor's `text/event-stream` until the server ends it: (response, events)."""
    events: list[tuple[str, dict[str, Any]]] = []
    with (
        httpx.Client(timeout=timeout) as bare,
        bare.stream(
            "GET", location, headers={"Accept": "text/event-stream", **(headers or {})}
        ) as response,
    ):
        name: str | None = None
        data: list[str] = []
        for line in response.iter_lines():
            if line == "":
                if data:
                    events.append((name or "message", json.loads("\n".join(data))))
                name, data = None, []
            elif line.startswith(":"):
                continue
            elif line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
        if data:
            events.append((name or "message", json.loads("\n".join(data))))
    return response, events
