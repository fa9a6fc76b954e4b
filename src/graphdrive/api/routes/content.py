"""File content: simple upload (``PUT …/content``), download redirect, and the download URL."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse

from graphdrive.api.deps import address, container, download_url, principal, render_item
from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.domain.ranges import parse_range
from graphdrive.exceptions import InvalidRequest, ItemNotFound
from graphdrive.service.content import open_download

router = APIRouter(tags=["content"])
downloads = APIRouter(tags=["content"])


@router.put(
    "/items/{item_id}/content",
    summary="Upload a file (create by path, or replace an item's content)",
    status_code=201,
    responses={200: {"description": "Content replaced"}, 201: {"description": "File created"}},
)
async def upload(request: Request, item_id: str) -> Response:
    who = await principal(request)
    addr = address(request, item_id)
    conflict = ConflictBehavior.parse(
        request.query_params.get("@microsoft.graph.conflictBehavior"), ConflictBehavior.REPLACE
    )
    c = container(request)
    drive, loc, created = await c.content.upload(
        who,
        addr,
        request.stream(),
        by_path=bool(addr.path),
        conflict=conflict,
        if_match=request.headers.get("if-match"),
    )
    return JSONResponse(render_item(request, loc, drive), status_code=201 if created else 200)


@router.get(
    "/items/{item_id}/content",
    summary="Download: 302 to a short-lived pre-authenticated URL",
    status_code=302,
)
async def download_redirect(request: Request, item_id: str) -> Response:
    who = await principal(request)
    who.require_read()
    _, loc = await container(request).drives.locate(who, address(request, item_id))
    if loc.item.is_folder:
        raise InvalidRequest("Folders have no content to download.")
    return RedirectResponse(download_url(request, loc.item), status_code=302)


# GET and HEAD as two routes, so that each has its own OpenAPI operation id.
@downloads.head("/download/{token}", summary="Pre-authenticated download: headers only")
@downloads.get("/download/{token}", summary="Pre-authenticated download (Range, ETag)")
async def download(request: Request, token: str) -> Response:
    c = container(request)
    ticket = c.downloads.check(token)
    headers = {
        "ETag": ticket.etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=0",
        "Referrer-Policy": "no-referrer",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(ticket.name)}",
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and (if_none_match.strip() == "*" or ticket.etag in if_none_match):
        return Response(status_code=304, headers=headers)
    if request.method == "GET" and ticket.size:
        expires_in = max(60, ticket.seconds_left())
        offloaded = c.blobs.presigned_url(
            ticket.blob_key,
            expires_in=expires_in,
            filename=ticket.name,
            content_type=ticket.mime_type,
        )
        if offloaded is not None:  # the object store serves the bytes (Range included)
            if not await c.blobs.exists(ticket.blob_key):  # a Graph error, not the store's
                raise ItemNotFound("The content of this download link no longer exists.")
            return RedirectResponse(
                offloaded,
                status_code=302,
                headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
            )
    wanted = parse_range(request.headers.get("range"), ticket.size)
    if_range = request.headers.get("if-range")
    if wanted is not None and if_range and if_range.strip() != ticket.etag:
        wanted = None
    start, end = wanted or (0, ticket.size)
    headers["Content-Length"] = str(end - start)
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{ticket.size}"
    if request.method == "HEAD" or end == start:
        return Response(status_code=status, headers=headers, media_type=ticket.mime_type)
    body = await open_download(c.blobs, ticket, start, end)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=ticket.mime_type)
