"""Resumable uploads: ``createUploadSession`` (authenticated) and the upload URL (a capability:
no token; ``PUT`` fragments with ``Content-Range``, ``GET`` progress, ``DELETE`` cancels,
``POST`` commits a ``deferCommit`` session)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from graphdrive.api.deps import address, base_url, container, principal, render_item
from graphdrive.api.routes.items import FileSystemInfo, GraphBody
from graphdrive.auth import Principal
from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.resources.formats import graph_datetime
from graphdrive.service.uploads import Finished, SessionState

router = APIRouter(tags=["uploads"])
upload_urls = APIRouter(tags=["uploads"])


class SessionItem(GraphBody):
    conflict_behavior: str | None = Field(default=None, alias="@microsoft.graph.conflictBehavior")
    name: str | None = None
    file_size: int | None = Field(default=None, alias="fileSize", ge=0)
    file_system_info: FileSystemInfo | None = Field(default=None, alias="fileSystemInfo")


class SessionRequest(GraphBody):
    item: SessionItem | None = None
    defer_commit: bool = Field(default=False, alias="deferCommit")


def next_expected_ranges(state: SessionState) -> list[str]:
    """Graph's ``start-end`` ranges (zero-based, inclusive); ``start-`` while the size is unknown.

    The closed form is what msgraph-sdk's ``LargeFileUploadTask`` parses (it cannot read
    ``start-``); rclone and other clients read only the part before the ``-``.
    """
    size = state.file_size
    if size is not None and state.next_expected < size:
        return [f"{state.next_expected}-{size - 1}"]
    return [f"{state.next_expected}-"]


def _state(state: SessionState, upload_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "expirationDateTime": graph_datetime(state.expires_at),
        "nextExpectedRanges": next_expected_ranges(state),
    }
    if upload_url:
        body["uploadUrl"] = upload_url
    return body


@router.post(
    "/items/{item_id}/createUploadSession",
    summary="Start a resumable upload (by path: …/root:/a/b.bin:/createUploadSession)",
)
async def create_upload_session(
    request: Request,
    item_id: str,
    body: SessionRequest | None = None,
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    body = body or SessionRequest()
    item = body.item or SessionItem()
    addr = address(request, item_id)
    conflict = ConflictBehavior.parse(
        item.conflict_behavior or request.query_params.get("@microsoft.graph.conflictBehavior"),
        ConflictBehavior.REPLACE,
    )
    fsi = item.file_system_info
    fs_times: tuple[datetime | None, datetime | None] = (
        (fsi.created, fsi.last_modified) if fsi else (None, None)
    )
    token, state = await container(request).uploads.create(
        who,
        addr,
        by_path=bool(addr.path),
        conflict=conflict,
        file_size=item.file_size,
        fs_times=fs_times,
        defer_commit=body.defer_commit,
    )
    return _state(state, f"{base_url(request)}/upload/{token}")


async def _answer(request: Request, outcome: SessionState | Finished) -> Response:
    if isinstance(outcome, Finished):
        rendered = render_item(request, outcome.item, outcome.drive)
        return JSONResponse(rendered, status_code=201 if outcome.created else 200)
    return JSONResponse(_state(outcome), status_code=202)


@upload_urls.put("/upload/{token}", summary="Upload one fragment (Content-Range)")
async def put_fragment(request: Request, token: str) -> Response:
    length = request.headers.get("content-length")
    outcome = await container(request).uploads.put_fragment(
        token,
        request.headers.get("content-range"),
        int(length) if length and length.isdigit() else None,
        request.stream(),
    )
    return await _answer(request, outcome)


@upload_urls.get("/upload/{token}", summary="Progress of an upload session (for resuming)")
async def session_state(request: Request, token: str) -> dict[str, Any]:
    return _state(await container(request).uploads.state(token))


@upload_urls.post("/upload/{token}", summary="Commit a deferCommit session")
async def commit_session(request: Request, token: str) -> Response:
    return await _answer(request, await container(request).uploads.commit(token))


@upload_urls.delete("/upload/{token}", status_code=204, summary="Cancel an upload session")
async def cancel_session(request: Request, token: str) -> Response:
    await container(request).uploads.cancel(token)
    return Response(status_code=204)
