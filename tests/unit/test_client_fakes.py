"""Fakes for the client's unit tests: a scripted Graph server on httpx.MockTransport and a clock
that never waits. (Plus tests of the fakes themselves, so a broken fake fails loudly.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

API = "https://graph.test/v1.0"
TOKEN = "secret-token"
MONITOR = "https://monitor.elsewhere.test/monitor/cap-abc"
UPLOAD = "https://upload.elsewhere.test/upload/cap-up"
DOWNLOAD = "https://dl.elsewhere.test/download/cap-dl"

Answer = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    """Monotonic and wall time that only move when slept (or when a test moves them)."""

    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self.mono = 0.0
        self.wall = wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall + self.mono

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.mono += seconds


def reply(
    status: int = 200,
    json: Any = None,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    stream: httpx.AsyncByteStream | None = None,
) -> Answer:
    """A fresh response each time it is used."""

    def answer(request: httpx.Request) -> httpx.Response:
        if stream is not None:
            return httpx.Response(status, headers=headers, stream=stream)
        return httpx.Response(status, json=json, headers=headers, content=content)

    return answer


def graph_error(status: int, code: str, message: str = "nope", **headers: str) -> Answer:
    return reply(status, {"error": {"code": code, "message": message}}, headers=headers or None)


class FakeGraph:
    """Answers each (method, URL without query) from its own queue; the last answer repeats.
    Every request is recorded, so tests can check headers (Authorization!) and bodies."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._routes: dict[tuple[str, str], list[Answer]] = {}

    def on(self, method: str, url: str, *answers: Answer) -> FakeGraph:
        self._routes.setdefault((method, url), []).extend(answers)
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url.copy_with(query=None))
        queue = self._routes.get((request.method, url))
        if not queue:
            return httpx.Response(
                404, json={"error": {"code": "itemNotFound", "message": f"no route {url}"}}
            )
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def sent(self, method: str | None = None, prefix: str = "") -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and str(r.url).startswith(prefix)
        ]


class BrokenStream(httpx.AsyncByteStream):
    """A body that breaks off after ``data``, as a dropped connection does."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data
        raise httpx.ReadError("connection reset by peer")


def item(
    item_id: str,
    name: str,
    *,
    parent: str = "/drive/root:",
    folder: bool = False,
    size: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": item_id,
        "name": name,
        "size": size,
        "eTag": f'"{item_id},1"',
        "cTag": f'"c:{item_id},1"',
        "parentReference": {"driveId": "d1", "id": "parent", "path": parent},
        **extra,
    }
    if folder:
        body["folder"] = {"childCount": 0}
    else:
        body["file"] = {"mimeType": "application/octet-stream", "hashes": {}}
    return body


def test_fake_graph_repeats_the_last_answer_and_records() -> None:
    graph = FakeGraph().on("GET", f"{API}/x", reply(500), reply(200, {"ok": 1}))
    with httpx.Client(transport=graph.transport()) as client:
        codes = [client.get(f"{API}/x?q=1").status_code for _ in range(3)]
    assert codes == [500, 200, 200]
    assert len(graph.sent("GET", API)) == 3


async def test_fake_clock_only_moves_when_slept() -> None:
    clock = FakeClock()
    before = clock.time()
    await clock.sleep(2.5)
    assert clock.monotonic() == 2.5
    assert clock.time() == before + 2.5
    assert clock.sleeps == [2.5]
