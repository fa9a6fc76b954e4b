"""Watching a long-running action: every way a monitor can answer, and the token never sent."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

import httpx
import pytest

from graphdrive.client import (
    ApiError,
    AsyncDriveClient,
    AsyncOperation,
    GraphClientError,
    JobReport,
    JobStatus,
    MonitorExpired,
    OperationCancelled,
    OperationFailed,
    OperationTimeout,
)

from .test_client_fakes import (
    API,
    MONITOR,
    TOKEN,
    Answer,
    FakeClock,
    FakeGraph,
    graph_error,
    item,
    reply,
)

ITEM_URL = f"{API}/drives/d1/items/NEW"


def report(status: str, percent: float, code: int = 202, **extra: Any) -> Answer:
    headers = {} if status in ("completed", "failed", "cancelled") else {"Retry-After": "1"}
    body = {"operation": "ItemCopy", "status": status, "percentageComplete": percent, **extra}
    return reply(code, body, headers=headers)


def done(code: int = 202) -> Answer:
    return report("completed", 100.0, code, resourceId="NEW", resourceLocation=ITEM_URL)


def watcher(graph: FakeGraph, clock: FakeClock) -> AsyncDriveClient:
    return AsyncDriveClient("https://graph.test", TOKEN, transport=graph.transport(), clock=clock)


async def test_202_reports_to_completion_with_progress_and_retry_after() -> None:
    clock = FakeClock()
    graph = FakeGraph().on(
        "GET", MONITOR, report("notStarted", 0.0), report("inProgress", 40.0), done()
    )
    seen: list[JobReport] = []
    async with watcher(graph, clock) as drive:
        final = await drive.operation(MONITOR).wait(on_progress=seen.append)
    assert final.status is JobStatus.COMPLETED and final.resource_id == "NEW"
    assert [(r.status.value, r.percent) for r in seen] == [
        ("notStarted", 0.0),
        ("inProgress", 40.0),
        ("completed", 100.0),
    ]
    assert clock.sleeps == [1.0, 1.0]  # Retry-After: 1, honoured
    assert all(r.headers.get("prefer") == "wait=10" for r in graph.requests)


async def test_a_finished_report_with_200_is_read_from_the_body() -> None:
    graph = FakeGraph().on("GET", MONITOR, done(200))
    async with watcher(graph, FakeClock()) as drive:
        assert (await drive.operation(MONITOR).wait()).resource_id == "NEW"


async def test_303_finish_is_not_followed_and_names_the_result() -> None:
    clock = FakeClock()
    graph = FakeGraph()
    graph.on("GET", MONITOR, report("inProgress", 50.0), reply(303, headers={"Location": ITEM_URL}))
    graph.on("GET", ITEM_URL, reply(200, item("NEW", "copy", folder=True)))
    async with watcher(graph, clock) as drive:
        op = drive.operation(MONITOR)
        final = await op.wait()
        assert (final.status, final.resource_id, final.resource_location) == (
            JobStatus.COMPLETED,
            "NEW",
            ITEM_URL,
        )
        assert graph.sent(prefix=ITEM_URL) == []  # the 303 was not followed
        result = await op.result()
    assert result.id == "NEW"
    fetched = graph.sent(prefix=ITEM_URL)
    assert len(fetched) == 1 and fetched[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert all("authorization" not in r.headers for r in graph.sent(prefix=MONITOR))


async def test_303_with_a_report_body_keeps_the_body() -> None:
    body = {"status": "completed", "percentageComplete": 100.0, "resourceId": "NEW"}
    graph = FakeGraph().on("GET", MONITOR, reply(303, body, headers={"Location": ITEM_URL}))
    async with watcher(graph, FakeClock()) as drive:
        final = await drive.operation(MONITOR).wait()
    assert (final.resource_id, final.resource_location) == ("NEW", ITEM_URL)


async def test_failed_raises_with_the_error_code_and_message() -> None:
    failed = report(
        "failed",
        99.9,
        errorCode="nameAlreadyExists",
        statusDescription="An item named 'x' already exists.",
        error={"code": "nameAlreadyExists", "message": "An item named 'x' already exists."},
    )
    graph = FakeGraph().on("GET", MONITOR, report("inProgress", 10.0), failed)
    async with watcher(graph, FakeClock()) as drive:
        with pytest.raises(OperationFailed) as caught:
            await drive.operation(MONITOR).wait()
    assert caught.value.code == "nameAlreadyExists"
    assert caught.value.message == "An item named 'x' already exists."
    assert caught.value.report is not None and caught.value.report.status is JobStatus.FAILED


async def test_failed_with_only_errorcode_still_raises_typed() -> None:
    graph = FakeGraph().on("GET", MONITOR, report("failed", 0.0, errorCode="AccessDenied_X"))
    async with watcher(graph, FakeClock()) as drive:
        with pytest.raises(OperationFailed) as caught:
            await drive.operation(MONITOR).wait()
    assert caught.value.code == "AccessDenied_X"


async def test_cancelled_raises_operation_cancelled() -> None:
    graph = FakeGraph().on("GET", MONITOR, report("deletePending", 30.0), report("cancelled", 30.0))
    async with watcher(graph, FakeClock()) as drive:
        with pytest.raises(OperationCancelled):
            await drive.operation(MONITOR).wait()


@pytest.mark.parametrize("status", [404, 410])
async def test_an_expired_monitor_is_a_clear_error_not_a_loop(status: int) -> None:
    clock = FakeClock()
    graph = FakeGraph().on("GET", MONITOR, graph_error(status, "itemNotFound"))
    async with watcher(graph, clock) as drive:
        with pytest.raises(MonitorExpired, match="no longer answers"):
            await drive.operation(MONITOR).wait()
    assert len(graph.requests) == 1
    assert clock.sleeps == []


async def test_a_monitor_that_expires_midway_stops_the_wait() -> None:
    graph = FakeGraph().on(
        "GET", MONITOR, report("inProgress", 5.0), graph_error(404, "itemNotFound")
    )
    async with watcher(graph, FakeClock()) as drive:
        with pytest.raises(MonitorExpired):
            await drive.operation(MONITOR).wait()
    assert len(graph.requests) == 2


async def test_a_monitor_on_another_host_never_receives_the_token() -> None:
    graph = FakeGraph()
    graph.on("GET", f"{API}/me/drive/root:/dst", reply(200, item("DST", "dst", folder=True)))
    graph.on("POST", f"{API}/me/drive/root:/src:/copy", reply(202, headers={"Location": MONITOR}))
    graph.on("GET", MONITOR, report("inProgress", 50.0), done())
    graph.on("DELETE", MONITOR, reply(204))
    graph.on("GET", ITEM_URL, reply(200, item("NEW", "src", folder=True)))
    async with watcher(graph, FakeClock()) as drive:
        op = await drive.copy("/src", "/dst", conflict="rename")
        assert op.monitor_url == MONITOR
        await op.result()
        await op.cancel()
    post = graph.sent("POST")[0]
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.url.params["@microsoft.graph.conflictBehavior"] == "rename"
    assert b'"parentReference":{"id":"DST","driveId":"d1"}' in post.content
    to_monitor = graph.sent(prefix=MONITOR)
    assert [r.method for r in to_monitor] == ["GET", "GET", "DELETE"]
    assert all("authorization" not in r.headers for r in to_monitor)


async def test_without_retry_after_polling_backs_off_and_resets_on_change() -> None:
    clock = FakeClock()
    quiet = reply(202, {"status": "inProgress", "percentageComplete": 10.0})
    moved = reply(202, {"status": "inProgress", "percentageComplete": 20.0})
    graph = FakeGraph().on("GET", MONITOR, quiet, quiet, quiet, quiet, moved, moved, done())
    async with watcher(graph, clock) as drive:
        await drive.operation(MONITOR).wait()
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 0.5, 1.0]


async def test_backoff_stops_growing_at_ten_seconds() -> None:
    clock = FakeClock()
    quiet = reply(202, {"status": "inProgress", "percentageComplete": 10.0})
    graph = FakeGraph().on("GET", MONITOR, *([quiet] * 8), done())
    async with watcher(graph, clock) as drive:
        await drive.operation(MONITOR).wait()
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


async def test_retry_after_as_an_http_date_sets_the_poll_delay() -> None:
    clock = FakeClock()
    when = formatdate(clock.time() + 5, usegmt=True)
    waiting = reply(202, {"status": "waiting", "percentageComplete": 0.0}, {"Retry-After": when})
    graph = FakeGraph().on("GET", MONITOR, waiting, done())
    async with watcher(graph, clock) as drive:
        await drive.operation(MONITOR).wait()
    assert clock.sleeps == [pytest.approx(5.0)]


async def test_a_server_that_holds_the_request_is_polled_again_at_once() -> None:
    clock = FakeClock()

    def held(request: httpx.Request) -> httpx.Response:
        clock.mono += 4.0  # the server held the long-poll for 4 s
        return httpx.Response(
            202,
            json={"status": "inProgress", "percentageComplete": 10.0},
            headers={"Retry-After": "1", "Preference-Applied": "wait=10"},
        )

    graph = FakeGraph().on("GET", MONITOR, held, done())
    async with watcher(graph, clock) as drive:
        await drive.operation(MONITOR).wait()
    assert clock.sleeps == [0.0]


async def test_wait_timeout_raises_and_never_overshoots() -> None:
    clock = FakeClock()
    graph = FakeGraph().on("GET", MONITOR, report("inProgress", 10.0))
    async with watcher(graph, clock) as drive:
        with pytest.raises(OperationTimeout) as caught:
            await drive.operation(MONITOR).wait(timeout=2.5)
    assert sum(clock.sleeps) == pytest.approx(2.5)
    assert caught.value.report is not None
    assert graph.requests[-1].headers.get("prefer") in (None, "wait=1")


async def test_passing_server_errors_are_polled_through() -> None:
    graph = FakeGraph().on(
        "GET", MONITOR, graph_error(502, "badGateway"), graph_error(500, "x"), done()
    )
    async with watcher(graph, FakeClock()) as drive:
        assert (await drive.operation(MONITOR).wait()).resource_id == "NEW"


async def test_persistent_server_errors_end_the_wait() -> None:
    graph = FakeGraph().on("GET", MONITOR, graph_error(500, "generalException"))
    async with watcher(graph, FakeClock()) as drive:
        with pytest.raises(ApiError):
            await drive.operation(MONITOR).wait()
    assert len(graph.requests) == 5


async def test_an_unknown_status_is_polled_on() -> None:
    graph = FakeGraph().on("GET", MONITOR, report("somethingNew", 1.0), done())
    async with watcher(graph, FakeClock()) as drive:
        op = drive.operation(MONITOR)
        assert (await op.status()).status is JobStatus.UNKNOWN
        assert (await op.wait()).status is JobStatus.COMPLETED


async def test_status_returns_a_failed_report_without_raising() -> None:
    graph = FakeGraph().on("GET", MONITOR, report("failed", 3.0, errorCode="quotaLimitReached"))
    async with watcher(graph, FakeClock()) as drive:
        status = await drive.operation(MONITOR).status()
    assert (status.status, status.error_code) == (JobStatus.FAILED, "quotaLimitReached")
    assert "prefer" not in graph.requests[0].headers


async def test_cancel_deletes_the_monitor_and_returns_the_next_report() -> None:
    graph = FakeGraph().on("DELETE", MONITOR, report("deletePending", 20.0), reply(204))
    async with watcher(graph, FakeClock()) as drive:
        op = drive.operation(MONITOR)
        pending = await op.cancel()
        assert pending is not None and pending.status is JobStatus.DELETE_PENDING
        assert await op.cancel() is None  # already finished: nothing to cancel
    assert all("authorization" not in r.headers for r in graph.requests)


async def test_from_monitor_url_works_alone_but_cannot_fetch_the_result() -> None:
    graph = FakeGraph().on("GET", MONITOR, done())
    async with AsyncOperation.from_monitor_url(
        MONITOR, transport=graph.transport(), clock=FakeClock()
    ) as op:
        assert (await op.wait()).resource_id == "NEW"
        with pytest.raises(GraphClientError, match="needs an API client"):
            await op.result()
    with pytest.raises(ValueError):
        AsyncOperation.from_monitor_url("/monitor/relative")


async def test_an_operation_opened_by_id_is_polled_on_the_api_with_the_token() -> None:
    url = f"{API}/me/drive/operations/OP1"
    graph = FakeGraph().on("GET", url, report("inProgress", 1.0), done(200))
    graph.on("DELETE", url, report("deletePending", 1.0))
    async with watcher(graph, FakeClock()) as drive:
        op = drive.operation("OP1")
        await op.wait()
        await op.cancel()
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in graph.requests)


async def test_an_operation_opened_by_id_that_is_gone_is_expired() -> None:
    graph = FakeGraph()  # every URL answers 404
    async with watcher(graph, FakeClock()) as drive:
        with pytest.raises(MonitorExpired):
            await drive.operation("OP404").wait()
