"""Uploads (simple, by session, resumed after a failed fragment or from a saved session URL) and
downloads (streamed, resumed with Range after a break or from a .part file)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphdrive.client import ApiError, AsyncDriveClient, NotFoundError
from graphdrive.client.transfers import FRAGMENT_UNIT, part_path

from .test_client_fakes import (
    API,
    DOWNLOAD,
    TOKEN,
    UPLOAD,
    BrokenStream,
    FakeClock,
    FakeGraph,
    item,
    reply,
)

DATA = bytes(range(256)) * 4096  # 1 MiB
SESSION = f"{API}/me/drive/root:/docs/big.bin:/createUploadSession"


class UploadSession:
    """A server-side upload session: in-order fragments, 416 when out of place, 201 at the end."""

    def __init__(self, size: int, received: int = 0) -> None:
        self.size = size
        self.data = bytearray(DATA[:received])
        self.fail_next: list[str] = []  # "500", "drop-after-store", "drop"
        self.expired = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.expired:
            return httpx.Response(404, json={"error": {"code": "itemNotFound", "message": "x"}})
        if request.method == "GET":
            return self.state()
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.headers["content-range"])
        assert match, request.headers["content-range"]
        start, last = int(match[1]), int(match[2])
        failure = self.fail_next.pop(0) if self.fail_next else None
        if failure == "500":
            return httpx.Response(500, json={"error": {"code": "generalException", "message": ""}})
        if failure == "drop":
            raise httpx.ReadError("connection reset", request=request)
        if start != len(self.data):
            return httpx.Response(416, json={"error": {"code": "invalidRange", "message": ""}})
        self.data += request.content
        assert len(request.content) == last - start + 1
        if failure == "drop-after-store":
            raise httpx.ReadError("connection reset", request=request)
        if len(self.data) == self.size:
            self.expired = True  # a finished session is gone
            return httpx.Response(201, json=item("BIG", "big.bin", size=self.size))
        return self.state(202)

    def state(self, status: int = 200) -> httpx.Response:
        body = {
            "expirationDateTime": "2030-01-01T00:00:00Z",
            "nextExpectedRanges": [f"{len(self.data)}-"],
        }
        return httpx.Response(status, json=body)


def drive_with(graph: FakeGraph, clock: FakeClock | None = None) -> AsyncDriveClient:
    return AsyncDriveClient(
        "https://graph.test", TOKEN, transport=graph.transport(), clock=clock or FakeClock()
    )


def session_graph(session: UploadSession, upload_url: str = UPLOAD) -> FakeGraph:
    graph = FakeGraph()
    graph.on("POST", SESSION, reply(200, {"uploadUrl": upload_url, "nextExpectedRanges": ["0-"]}))
    graph.on("PUT", upload_url, session.handle)
    graph.on("GET", upload_url, session.handle)
    return graph


async def test_small_files_go_in_one_authenticated_put() -> None:
    graph = FakeGraph().on(
        "PUT",
        f"{API}/me/drive/root:/docs/a%20b.txt:/content",
        reply(201, item("A", "a b.txt", size=5)),
    )
    progress: list[tuple[int, int]] = []
    async with drive_with(graph) as drive:
        made = await drive.upload(
            b"hello", "/docs/a b.txt", on_progress=lambda *p: progress.append(p)
        )
    assert made.id == "A"
    (put,) = graph.requests
    assert put.content == b"hello"
    assert put.headers["authorization"] == f"Bearer {TOKEN}"
    assert put.url.params["@microsoft.graph.conflictBehavior"] == "replace"
    assert progress == [(5, 5)]


async def test_large_files_go_through_an_upload_session_without_the_token() -> None:
    session = UploadSession(len(DATA))
    graph = session_graph(session)
    progress: list[int] = []
    urls: list[str] = []
    async with drive_with(graph) as drive:
        made = await drive.upload(
            DATA,
            "/docs/big.bin",
            chunk_size=FRAGMENT_UNIT,
            simple_limit=1000,
            conflict="fail",
            on_progress=lambda done, total: progress.append(done),
            on_session=urls.append,
        )
    assert made.id == "BIG" and bytes(session.data) == DATA
    create = graph.sent("POST")[0]
    assert create.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(create.content) == {
        "item": {"@microsoft.graph.conflictBehavior": "fail", "fileSize": len(DATA)}
    }
    puts = graph.sent("PUT", UPLOAD)
    assert [p.headers["content-range"] for p in puts] == [
        "bytes 0-327679/1048576",
        "bytes 327680-655359/1048576",
        "bytes 655360-983039/1048576",
        "bytes 983040-1048575/1048576",
    ]
    assert all("authorization" not in r.headers for r in graph.sent(prefix=UPLOAD))
    assert progress == [0, 327680, 655360, 983040, 1048576]
    assert urls == [UPLOAD]


@pytest.mark.parametrize("failure", ["500", "drop", "drop-after-store"])
async def test_a_failed_fragment_resumes_where_the_session_says(failure: str) -> None:
    session = UploadSession(len(DATA))
    session.fail_next = ["", failure]  # the second fragment fails
    clock = FakeClock()
    graph = session_graph(session)
    async with drive_with(graph, clock) as drive:
        made = await drive.upload(DATA, "/docs/big.bin", chunk_size=FRAGMENT_UNIT, simple_limit=0)
    assert made.id == "BIG"
    assert bytes(session.data) == DATA  # nothing lost, nothing doubled
    asked = graph.sent("GET", UPLOAD)
    assert len(asked) == 1  # asked the session once where to go on
    assert clock.sleeps == [0.5]
    ranges = [p.headers["content-range"].split("/")[0] for p in graph.sent("PUT", UPLOAD)]
    if failure == "drop-after-store":  # stored, answer lost: the session says to skip ahead
        assert ranges.count("bytes 327680-655359") == 1
    else:
        assert ranges.count("bytes 327680-655359") == 2


async def test_an_upload_resumes_from_a_saved_session_url() -> None:
    session = UploadSession(len(DATA), received=2 * FRAGMENT_UNIT)
    graph = session_graph(session)
    progress: list[int] = []
    async with drive_with(graph) as drive:
        await drive.upload(
            DATA,
            "/docs/big.bin",
            chunk_size=FRAGMENT_UNIT,
            resume_url=UPLOAD,
            on_progress=lambda done, total: progress.append(done),
        )
    assert graph.sent("POST") == []  # no new session
    assert graph.sent("PUT")[0].headers["content-range"].startswith("bytes 655360-")
    assert progress[0] == 2 * FRAGMENT_UNIT
    assert bytes(session.data) == DATA


async def test_an_expired_saved_session_starts_a_new_one() -> None:
    old = "https://upload.elsewhere.test/upload/expired"
    session = UploadSession(len(DATA))
    graph = session_graph(session)
    graph.on("GET", old, reply(404, {"error": {"code": "itemNotFound", "message": "gone"}}))
    urls: list[str] = []
    async with drive_with(graph) as drive:
        await drive.upload(
            DATA, "/docs/big.bin", chunk_size=FRAGMENT_UNIT, resume_url=old, on_session=urls.append
        )
    assert urls == [UPLOAD]
    assert bytes(session.data) == DATA


async def test_a_session_that_expires_midway_is_not_found() -> None:
    session = UploadSession(len(DATA))
    session.fail_next = ["", "500"]

    def gone_when_asked(request: httpx.Request) -> httpx.Response:
        session.expired = True
        return session.handle(request)

    graph = FakeGraph().on("POST", SESSION, reply(200, {"uploadUrl": UPLOAD}))
    graph.on("PUT", UPLOAD, session.handle)
    graph.on("GET", UPLOAD, gone_when_asked)
    async with drive_with(graph) as drive:
        with pytest.raises(NotFoundError, match="expired"):
            await drive.upload(DATA, "/docs/big.bin", chunk_size=FRAGMENT_UNIT, simple_limit=0)


async def test_a_session_that_keeps_refusing_fragments_is_given_up_on() -> None:
    """416 after 416 (say, a stuck writer on the server) ends in an error, not a loop."""
    graph = FakeGraph().on("POST", SESSION, reply(200, {"uploadUrl": UPLOAD}))
    graph.on("PUT", UPLOAD, reply(416, {"error": {"code": "invalidRange", "message": "busy"}}))
    graph.on("GET", UPLOAD, reply(200, {"nextExpectedRanges": ["0-"]}))
    async with drive_with(graph) as drive:
        with pytest.raises(ApiError) as caught:
            await drive.upload(DATA, "/docs/big.bin", chunk_size=FRAGMENT_UNIT, simple_limit=0)
    assert caught.value.status == 416
    assert len(graph.sent("PUT")) == 5


async def test_fragment_sizes_must_be_multiples_of_320_kib() -> None:
    async with drive_with(FakeGraph()) as drive:
        with pytest.raises(ValueError, match="320"):
            await drive.upload(DATA, "/x.bin", chunk_size=1_000_000)


# --- downloads -----------------------------------------------------------------------------

CONTENT = DATA[:100_000]


def file_item(download_url: str | None = DOWNLOAD, **extra: Any) -> dict[str, Any]:
    body = item("F1", "f.bin", size=len(CONTENT), **extra)
    if download_url:
        body["@microsoft.graph.downloadUrl"] = download_url
    return body


class Downloads:
    """A download URL honouring Range; it can break off once, or ignore Range."""

    def __init__(self) -> None:
        self.break_after: int | None = None
        self.ignore_range = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        wanted = request.headers.get("range")
        start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted else 0
        if self.ignore_range or not wanted:
            status, headers, body = 200, {}, CONTENT
        else:
            status = 206
            headers = {"Content-Range": f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}"}
            body = CONTENT[start:]
        if self.break_after is not None:
            cut, self.break_after = body[: self.break_after], None
            return httpx.Response(status, headers=headers, stream=BrokenStream(cut))
        return httpx.Response(status, headers=headers, content=body)


def download_graph(server: Downloads, **item_extra: Any) -> FakeGraph:
    graph = FakeGraph().on(
        "GET", f"{API}/me/drive/root:/f.bin", reply(200, file_item(**item_extra))
    )
    graph.on("GET", DOWNLOAD, server.handle)
    return graph


async def test_download_streams_from_the_link_without_the_token(tmp_path: Path) -> None:
    graph = download_graph(Downloads())
    seen: list[int] = []
    async with drive_with(graph) as drive:
        path = await drive.download("/f.bin", tmp_path, on_progress=lambda d, t: seen.append(d))
    assert path == tmp_path / "f.bin" and path.read_bytes() == CONTENT
    assert "authorization" not in graph.sent(prefix=DOWNLOAD)[0].headers
    assert seen[-1] == len(CONTENT)
    assert list(tmp_path.iterdir()) == [path]  # no .part left behind


async def test_a_download_that_breaks_off_resumes_with_range(tmp_path: Path) -> None:
    server = Downloads()
    server.break_after = 30_000
    graph = download_graph(server)
    async with drive_with(graph) as drive:
        path = await drive.download("/f.bin", tmp_path / "out.bin")
    assert path.read_bytes() == CONTENT
    gets = graph.sent("GET", DOWNLOAD)
    assert [g.headers.get("range") for g in gets] == [None, "bytes=30000-"]


async def test_a_later_download_resumes_from_the_part_file(tmp_path: Path) -> None:
    graph = download_graph(Downloads())
    async with drive_with(graph) as drive:
        meta = await drive.get("/f.bin")
        part_path(tmp_path / "f.bin", meta).write_bytes(CONTENT[:12_345])
        path = await drive.download("/f.bin", tmp_path)
    assert path.read_bytes() == CONTENT
    assert graph.sent("GET", DOWNLOAD)[0].headers["range"] == "bytes=12345-"


async def test_a_server_that_ignores_range_restarts_cleanly(tmp_path: Path) -> None:
    server = Downloads()
    server.ignore_range = True
    graph = download_graph(server)
    async with drive_with(graph) as drive:
        meta = await drive.get("/f.bin")
        part_path(tmp_path / "f.bin", meta).write_bytes(b"x" * 500)
        path = await drive.download("/f.bin", tmp_path)
    assert path.read_bytes() == CONTENT


async def test_an_expired_link_is_refreshed_once(tmp_path: Path) -> None:
    fresh = "https://dl.elsewhere.test/download/fresh"
    graph = FakeGraph().on(
        "GET", f"{API}/me/drive/root:/f.bin", reply(200, file_item()), reply(200, file_item())
    )
    graph.on("GET", f"{API}/drives/d1/items/F1", reply(200, file_item(fresh)))
    graph.on("GET", DOWNLOAD, reply(404, {"error": {"code": "itemNotFound", "message": "old"}}))
    graph.on("GET", fresh, Downloads().handle)
    async with drive_with(graph) as drive:
        path = await drive.download("/f.bin", tmp_path)
    assert path.read_bytes() == CONTENT


async def test_without_a_download_url_the_content_redirect_is_read(tmp_path: Path) -> None:
    graph = download_graph(Downloads(), download_url=None)
    content = f"{API}/drives/d1/items/F1/content"
    graph.on("GET", content, reply(302, headers={"Location": DOWNLOAD}))
    async with drive_with(graph) as drive:
        path = await drive.download("/f.bin", tmp_path)
    assert path.read_bytes() == CONTENT
    assert graph.sent(prefix=content)[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in graph.sent(prefix=DOWNLOAD)[0].headers


async def test_a_folder_cannot_be_downloaded(tmp_path: Path) -> None:
    graph = FakeGraph().on(
        "GET", f"{API}/me/drive/root:/dir", reply(200, item("D", "dir", folder=True))
    )
    async with drive_with(graph) as drive:
        with pytest.raises(ValueError, match="folder"):
            await drive.download("/dir", tmp_path)
