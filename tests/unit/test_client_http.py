"""The HTTP layer: Retry-After (seconds and HTTP date), throttling retries, error translation,
and where the Authorization header may and may not go."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from graphdrive.client import (
    ApiError,
    AsyncDriveClient,
    AuthError,
    ConflictError,
    NotFoundError,
    ProtocolError,
    ThrottledError,
    TransportError,
)
from graphdrive.client.http import HttpCore
from graphdrive.client.retry import Backoff, RetryPolicy, parse_retry_after

from .test_client_fakes import API, TOKEN, FakeClock, FakeGraph, graph_error, item, reply

NOW = 1_700_000_000.0


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after(" 0 ", NOW) == 0.0


def test_retry_after_as_an_http_date() -> None:
    assert parse_retry_after(formatdate(NOW + 30, usegmt=True), NOW) == pytest.approx(30.0)


def test_retry_after_in_the_past_means_now() -> None:
    assert parse_retry_after(formatdate(NOW - 300, usegmt=True), NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3", "Mon, 99 Foo 2024"])
def test_unparseable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_backoff_doubles_to_its_limit_and_resets() -> None:
    backoff = Backoff(0.5, 10.0)
    assert [backoff.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next() == 0.5


def client_for(
    graph: FakeGraph, clock: FakeClock, retry: RetryPolicy | None = None
) -> AsyncDriveClient:
    return AsyncDriveClient(
        "https://graph.test", TOKEN, transport=graph.transport(), clock=clock, retry=retry
    )


async def test_429_with_retry_after_seconds_is_retried_after_that_long() -> None:
    clock = FakeClock()
    graph = FakeGraph().on(
        "GET",
        f"{API}/me/drive/root:/a.txt",
        graph_error(429, "activityLimitReached", **{"Retry-After": "3"}),
        reply(200, item("A", "a.txt")),
    )
    async with client_for(graph, clock) as drive:
        assert (await drive.get("/a.txt")).id == "A"
    assert clock.sleeps == [3.0]
    assert len(graph.requests) == 2


async def test_503_with_retry_after_as_a_date_is_retried_after_that_long() -> None:
    clock = FakeClock()
    when = formatdate(clock.time() + 12, usegmt=True)
    graph = FakeGraph().on(
        "GET",
        f"{API}/me/drive/root",
        graph_error(503, "serviceNotAvailable", **{"Retry-After": when}),
        reply(200, item("R", "root", folder=True, root={})),
    )
    async with client_for(graph, clock) as drive:
        assert (await drive.get("/")).is_root
    assert clock.sleeps == [pytest.approx(12.0)]


async def test_throttling_without_retry_after_backs_off_then_gives_up() -> None:
    clock = FakeClock()
    graph = FakeGraph().on("GET", f"{API}/me/drive/root", graph_error(429, "activityLimitReached"))
    async with client_for(graph, clock, retry=RetryPolicy(max_retries=3)) as drive:
        with pytest.raises(ThrottledError) as caught:
            await drive.get("/")
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert len(graph.requests) == 4
    assert caught.value.code == "activityLimitReached"


async def test_a_retry_after_longer_than_the_limit_is_raised_at_once() -> None:
    clock = FakeClock()
    graph = FakeGraph().on(
        "GET",
        f"{API}/me/drive/root",
        graph_error(429, "activityLimitReached", **{"Retry-After": "3600"}),
    )
    async with client_for(graph, clock) as drive:
        with pytest.raises(ThrottledError) as caught:
            await drive.get("/")
    assert caught.value.retry_after == 3600.0
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("status", "code", "exc"),
    [
        (401, "unauthenticated", AuthError),
        (403, "accessDenied", AuthError),
        (404, "itemNotFound", NotFoundError),
        (409, "nameAlreadyExists", ConflictError),
        (412, "resourceModified", ConflictError),
        (400, "invalidRequest", ApiError),
    ],
)
async def test_error_answers_become_typed_exceptions(
    status: int, code: str, exc: type[ApiError]
) -> None:
    graph = FakeGraph().on("DELETE", f"{API}/me/drive/root:/x", graph_error(status, code, "why"))
    async with client_for(graph, FakeClock()) as drive:
        with pytest.raises(exc) as caught:
            await drive.delete("/x")
    assert (caught.value.status, caught.value.code) == (status, code)
    assert "why" in caught.value.message


async def test_connection_failures_are_retried_then_translated() -> None:
    clock = FakeClock()
    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("connection refused", request=request)

    drive = AsyncDriveClient(
        "https://graph.test",
        TOKEN,
        transport=httpx.MockTransport(refuse),
        clock=clock,
        retry=RetryPolicy(max_retries=2),
    )
    async with drive:
        with pytest.raises(TransportError, match="ConnectError"):
            await drive.get("/")
    assert calls == 3
    assert clock.sleeps == [1.0, 2.0]


async def test_a_post_that_broke_mid_request_is_not_sent_twice() -> None:
    calls = 0

    def broken(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadError("reset", request=request)

    core = HttpCore(API, TOKEN, transport=httpx.MockTransport(broken), clock=FakeClock())
    with pytest.raises(TransportError):
        await core.api("POST", "/me/drive/root/children", json={})
    assert calls == 1
    await core.aclose()


async def test_token_goes_to_the_api_origin_only() -> None:
    graph = FakeGraph()
    graph.on("GET", f"{API}/me/drive/root", reply(200, {}))
    graph.on("GET", "https://elsewhere.test/next", reply(200, {}))
    graph.on("GET", "https://graph.test:8443/v1.0/x", reply(200, {}))
    core = HttpCore(API, TOKEN, transport=graph.transport(), clock=FakeClock())
    await core.api("GET", "/me/drive/root")
    await core.api("GET", "https://elsewhere.test/next")
    await core.api("GET", "https://graph.test:8443/v1.0/x")
    await core.bare("GET", f"{API}/me/drive/root")  # a capability call, even on the API host
    sent = [r.headers.get("authorization") for r in graph.requests]
    assert sent == [f"Bearer {TOKEN}", None, None, None]
    await core.aclose()


async def test_token_callbacks_sync_and_async_are_called_per_request() -> None:
    tokens = iter(["t1", "t2"])

    async def async_token() -> str:
        return "a1"

    graph = FakeGraph().on("GET", f"{API}/me/drive/root", reply(200, {}))
    sync_core = HttpCore(API, lambda: next(tokens), transport=graph.transport())
    async_core = HttpCore(API, async_token, transport=graph.transport())
    await sync_core.api("GET", "/me/drive/root")
    await sync_core.api("GET", "/me/drive/root")
    await async_core.api("GET", "/me/drive/root")
    assert [r.headers["authorization"] for r in graph.requests] == [
        "Bearer t1",
        "Bearer t2",
        "Bearer a1",
    ]
    await sync_core.aclose()
    await async_core.aclose()


def test_api_root_gets_a_version_when_given_a_bare_server() -> None:
    assert AsyncDriveClient("http://127.0.0.1:8080").api_root == "http://127.0.0.1:8080/v1.0"
    assert AsyncDriveClient("https://graph.microsoft.com/v1.0/").api_root == (
        "https://graph.microsoft.com/v1.0"
    )
    with pytest.raises(ValueError):
        AsyncDriveClient("ftp://example.com")


async def test_a_body_that_is_not_json_is_a_protocol_error() -> None:
    graph = FakeGraph().on("GET", f"{API}/me/drive/root", reply(200, content=b"<html>proxy</html>"))
    graph.on("GET", f"{API}/me/drive/root/children", reply(200, {"not": "a page"}))
    async with client_for(graph, FakeClock()) as drive:
        with pytest.raises(ProtocolError, match="Expected JSON"):
            await drive.get("/")
        with pytest.raises(ProtocolError, match="collection"):
            await drive.children("/")
