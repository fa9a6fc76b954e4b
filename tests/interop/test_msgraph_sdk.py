"""Microsoft's Python SDK (msgraph-sdk, Kiota-based, async) against graphdrive, unpatched.

The client is pointed at the test server the documented way: a `GraphRequestAdapter` with a
static `AccessTokenProvider` (its allowed hosts include 127.0.0.1) and `adapter.base_url` set
to `http://127.0.0.1:PORT/v1.0`. Scenario (issue 4, "Proof"): get the drive and root, create
folders, upload a small file (PUT content) and a large one with the SDK's LargeFileUploadTask
(several slices), list children with paging, copy with the monitor Location read from the
response headers and polled to completion, read the result by resourceId, rename, delete.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import HeadersInspectionHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.drives.item.items.item.children.children_request_builder import (
    ChildrenRequestBuilder,
)
from msgraph.generated.drives.item.items.item.copy.copy_post_request_body import (
    CopyPostRequestBody,
)
from msgraph.generated.drives.item.items.item.create_upload_session.create_upload_session_post_request_body import (  # noqa: E501
    CreateUploadSessionPostRequestBody,
)
from msgraph.generated.drives.item.items.item.drive_item_item_request_builder import (
    DriveItemItemRequestBuilder,
)
from msgraph.generated.models.drive_item import DriveItem
from msgraph.generated.models.drive_item_uploadable_properties import (
    DriveItemUploadableProperties,
)
from msgraph.generated.models.folder import Folder
from msgraph.generated.models.item_reference import ItemReference
from msgraph_core.tasks.large_file_upload import LargeFileUploadTask

from tests.e2e.server import ServerProcess

pytestmark = [
    pytest.mark.interop,
    # The generated SDK warns about its own deprecated request-configuration classes.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions"),
]

MiB = 1024 * 1024
SLICE = 2 * MiB  # LargeFileUploadTask's max_chunk_size: a multiple of 320 KiB, as Graph wants
LARGE_SIZE = 7 * MiB + 12345  # → four slices
MONITOR_TIMEOUT_S = 60.0
CONFLICT = "@microsoft.graph.conflictBehavior"


class StaticTokenProvider(AccessTokenProvider):
    """Hands out one pre-minted bearer token, only to the allowed hosts."""

    def __init__(self, token: str, hosts: list[str]) -> None:
        self._token = token
        self._hosts = AllowedHostsValidator(hosts)

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        return self._token if self._hosts.is_url_host_valid(uri) else ""

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts


@pytest.fixture
async def graph(interop_server: ServerProcess) -> AsyncIterator[GraphServiceClient]:
    token = interop_server.token("sdk-user")  # the real CLI: `graphdrive token --user …`
    auth = BaseBearerTokenAuthenticationProvider(StaticTokenProvider(token, ["127.0.0.1"]))
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = interop_server.api  # http://127.0.0.1:PORT/v1.0
    yield GraphServiceClient(request_adapter=adapter)
    await adapter._http_client.aclose()


def sha1_upper(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest().upper()


async def wait_for_monitor(location: str) -> dict[str, Any]:
    """Poll an asyncJobStatus monitor the way clients do: plain GETs, no Authorization."""
    deadline = time.monotonic() + MONITOR_TIMEOUT_S
    reports: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=30.0) as client:
        while True:
            response = await client.get(location)
            assert response.status_code in (200, 202, 303), response.text
            report = response.json()
            reports.append(report)
            assert report["status"] not in ("failed", "cancelled"), reports
            if report["status"] == "completed":
                return report
            assert time.monotonic() < deadline, f"not completed in time: {reports}"
            await asyncio.sleep(min(float(response.headers.get("Retry-After", "0.2")), 0.5))


async def test_msgraph_sdk_scenario(
    graph: GraphServiceClient, interop_server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    # --- the drive and its root -----------------------------------------------------------
    drive = await graph.me.drive.get()
    assert drive is not None and drive.id, drive
    assert drive.drive_type == "business"
    d = graph.drives.by_drive_id(drive.id)
    root = await d.root.get()
    assert root is not None and root.id and root.root is not None
    assert root.folder is not None

    def item(item_id: str) -> DriveItemItemRequestBuilder:
        return d.items.by_drive_item_id(item_id)

    # --- folders ---------------------------------------------------------------------------
    async def make_folder(parent_id: str, name: str) -> DriveItem:
        body = DriveItem(name=name, folder=Folder(), additional_data={CONFLICT: "fail"})
        made = await item(parent_id).children.post(body)
        assert made is not None and made.id and made.name == name and made.folder is not None
        return made

    work = await make_folder(root.id, "sdk work")
    inbox = await make_folder(work.id, "inbox")
    archive = await make_folder(work.id, "archive")
    assert inbox.parent_reference is not None and inbox.parent_reference.id == work.id
    with pytest.raises(APIError) as conflict:  # Graph errors reach the SDK as ODataError
        await make_folder(work.id, "inbox")
    assert conflict.value.response_status_code == 409

    # --- a small file: PUT …/items/{parent-id}:/{name}:/content ------------------------------
    small_data = b"hello from msgraph-sdk\n"
    small = await item(f"{inbox.id}:/hello.txt:").content.put(small_data)
    assert small is not None and small.id and small.size == len(small_data)
    assert small.file is not None and small.file.hashes is not None
    assert small.file.hashes.sha1_hash == sha1_upper(small_data)
    assert small.file.hashes.quick_xor_hash
    assert await item(small.id).content.get() == small_data

    # --- a large file: createUploadSession + LargeFileUploadTask, several slices ------------
    large_data = bytes(range(256)) * (LARGE_SIZE // 256) + b"\x07" * (LARGE_SIZE % 256)
    session_body = CreateUploadSessionPostRequestBody(
        item=DriveItemUploadableProperties(additional_data={CONFLICT: "replace"})
    )
    session = await item(f"{inbox.id}:/large.bin:").create_upload_session.post(session_body)
    assert session is not None and session.upload_url
    assert session.next_expected_ranges == ["0-"]
    task = LargeFileUploadTask(
        session, graph.request_adapter, io.BytesIO(large_data), DriveItem, max_chunk_size=SLICE
    )
    slices: list[list[Any]] = []
    with caplog.at_level(logging.ERROR):
        result = await task.upload(slices.append)
    # The task logs and swallows a slice that fails: there must be none.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert len(slices) >= 3, slices  # several slices, each acknowledged
    uploaded = result.item_response
    assert isinstance(uploaded, DriveItem), uploaded
    assert uploaded.id and uploaded.name == "large.bin" and uploaded.size == LARGE_SIZE
    assert uploaded.file is not None and uploaded.file.hashes is not None
    assert uploaded.file.hashes.sha256_hash == hashlib.sha256(large_data).hexdigest().upper()
    assert uploaded.file.hashes.quick_xor_hash
    assert base64.b64decode(uploaded.file.hashes.quick_xor_hash)  # 20 bytes, base64
    assert await item(uploaded.id).content.get() == large_data

    # --- children with paging ($top), following @odata.nextLink -----------------------------
    for n in range(5):
        await item(f"{archive.id}:/note {n}.txt:").content.put(f"note {n}\n".encode())
    query = ChildrenRequestBuilder.ChildrenRequestBuilderGetQueryParameters(
        top=2, select=["id", "name", "size"]
    )
    page = await item(archive.id).children.get(RequestConfiguration(query_parameters=query))
    names: list[str] = []
    pages = 0
    while page is not None:
        pages += 1
        assert page.value is not None and len(page.value) <= 2
        names.extend(str(child.name) for child in page.value)
        if not page.odata_next_link:
            break
        page = await item(archive.id).children.with_url(page.odata_next_link).get()
    assert pages == 3
    assert sorted(names) == [f"note {n}.txt" for n in range(5)]

    # --- copy: 202 + Location (read with HeadersInspectionHandlerOption), monitor polled ----
    headers = HeadersInspectionHandlerOption(inspect_response_headers=True)
    copy_body = CopyPostRequestBody(
        parent_reference=ItemReference(drive_id=drive.id, id=archive.id),
        name="large copy.bin",
    )
    accepted = await item(uploaded.id).copy.post(copy_body, RequestConfiguration(options=[headers]))
    assert accepted is None  # an empty 202 body
    locations = headers.response_headers.get("location")
    assert locations and len(locations) == 1, headers.response_headers
    location = next(iter(locations))
    assert location.startswith(interop_server.origin), location
    report = await wait_for_monitor(location)
    assert report["percentageComplete"] == 100.0
    copied = await item(report["resourceId"]).get()
    assert copied is not None and copied.name == "large copy.bin"
    assert copied.id != uploaded.id and copied.size == LARGE_SIZE
    assert copied.parent_reference is not None and copied.parent_reference.id == archive.id
    assert copied.file is not None and copied.file.hashes is not None
    assert copied.file.hashes.quick_xor_hash == uploaded.file.hashes.quick_xor_hash
    assert await item(copied.id).content.get() == large_data

    # --- rename (PATCH) -----------------------------------------------------------------------
    renamed = await item(copied.id).patch(DriveItem(name="renamed copy.bin"))
    assert renamed is not None and renamed.id == copied.id and renamed.name == "renamed copy.bin"
    by_path = await item(f"{archive.id}:/renamed copy.bin:").get()
    assert by_path is not None and by_path.id == copied.id

    # --- delete -------------------------------------------------------------------------------
    await item(copied.id).delete()
    with pytest.raises(APIError) as gone:
        await item(copied.id).get()
    assert gone.value.response_status_code == 404
    await item(work.id).delete()
    with pytest.raises(APIError) as gone:
        await item(inbox.id).get()
    assert gone.value.response_status_code == 404


def test_upload_session_answers_the_sdk_relies_on(interop_server: ServerProcess) -> None:
    """The two upload-session behaviours LargeFileUploadTask needs, on the wire.

    1. `nextExpectedRanges` in the closed `start-end` form once the size is known (the task
       parses both ends; it cannot read `start-`).
    2. The fragment that finished the session, sent again (the task always does), is answered
       with the finished item and writes nothing; any other late fragment is still `404`.
    """
    token = interop_server.token("sdk-wire")
    data = b"0123456789abcdefghijklmno"  # 25 bytes
    with interop_server.client(token) as api, httpx.Client(timeout=30.0) as bare:
        made = api.post(
            "/me/drive/root:/wire/replay.bin:/createUploadSession",
            json={"item": {CONFLICT: "replace"}},
        )
        assert made.status_code == 200, made.text
        assert made.json()["nextExpectedRanges"] == ["0-"]
        url = made.json()["uploadUrl"]
        first = bare.put(url, content=data[:10], headers={"Content-Range": "bytes 0-9/25"})
        assert first.status_code == 202, first.text
        assert first.json()["nextExpectedRanges"] == ["10-24"]
        assert bare.get(url).json()["nextExpectedRanges"] == ["10-24"]
        last = bare.put(url, content=data[10:], headers={"Content-Range": "bytes 10-24/25"})
        assert last.status_code == 201, last.text
        done = last.json()

        again = bare.put(url, content=data[10:], headers={"Content-Range": "bytes 10-24/25"})
        assert again.status_code == 201, again.text
        assert again.json()["id"] == done["id"] and again.json()["eTag"] == done["eTag"]
        wrong_bytes = bare.put(url, content=b"X" * 15, headers={"Content-Range": "bytes 10-24/25"})
        assert wrong_bytes.status_code == 404, wrong_bytes.text
        assert wrong_bytes.json()["error"]["code"] == "itemNotFound"
        wrong_range = bare.put(url, content=data[:10], headers={"Content-Range": "bytes 0-9/25"})
        assert wrong_range.status_code == 404, wrong_range.text
        assert bare.get(url).status_code == 404  # the session itself is gone

        # Once the item holds other content, the old session's last fragment is refused too.
        replaced = api.put("/me/drive/root:/wire/replay.bin:/content", content=b"new")
        assert replaced.status_code == 200, replaced.text
        late = bare.put(url, content=data[10:], headers={"Content-Range": "bytes 10-24/25"})
        assert late.status_code == 404, late.text

        # With the size declared up front, the very first answer is already closed.
        sized = api.post(
            "/me/drive/root:/wire/sized.bin:/createUploadSession",
            json={"item": {CONFLICT: "replace", "fileSize": 25}},
        )
        assert sized.status_code == 200, sized.text
        assert sized.json()["nextExpectedRanges"] == ["0-24"]
        assert bare.delete(sized.json()["uploadUrl"]).status_code == 204
