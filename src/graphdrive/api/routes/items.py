"""Items: get, list children, create folders, update (rename/move), delete.

Every route is mounted under both ``/v1.0/me/drive`` and ``/v1.0/drives/{drive_id}``; path
addressing reaches these same routes through ``api/addressing.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from graphdrive.api.deps import (
    address,
    base_url,
    container,
    original_path,
    principal,
    render_item,
)
from graphdrive.auth import Principal
from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.domain.names import storable
from graphdrive.exceptions import InvalidRequest
from graphdrive.service.items import ItemChanges

router = APIRouter(tags=["items"])
CONFLICT = "@microsoft.graph.conflictBehavior"


def _empty_as_none(value: Any) -> Any:
    return None if value == "" else value


def _all_storable(value: Any) -> bool:
    """Every string (key or value) in a decoded JSON document is storable; no recursion, as
    JSON may nest as deep as the parser allows."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not storable(item):
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def _in_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("the date is out of range once converted to UTC") from None


class GraphBody(BaseModel):
    """Request bodies: unknown fields ignored, empty strings treated as absent, and no text that
    cannot be stored (NUL, unpaired surrogates) anywhere in them."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        if not _all_storable(data):
            raise ValueError("the body contains a NUL character or invalid Unicode")
        return data


class ItemReference(GraphBody):
    drive_id: str | None = Field(default=None, alias="driveId")
    id: str | None = None
    path: str | None = None

    _empty = field_validator("drive_id", "id", "path", mode="before")(_empty_as_none)


class FileSystemInfo(GraphBody):
    created: datetime | None = Field(default=None, alias="createdDateTime")
    last_modified: datetime | None = Field(default=None, alias="lastModifiedDateTime")

    _empty = field_validator("created", "last_modified", mode="before")(_empty_as_none)
    _utc = field_validator("created", "last_modified")(_in_utc)


class NewFolder(GraphBody):
    name: str
    folder: dict[str, Any] | None = None
    file: dict[str, Any] | None = None
    conflict_behavior: str | None = Field(default=None, alias="@microsoft.graph.conflictBehavior")


class ItemUpdate(GraphBody):
    name: str | None = None
    parent_reference: ItemReference | None = Field(default=None, alias="parentReference")
    file_system_info: FileSystemInfo | None = Field(default=None, alias="fileSystemInfo")
    conflict_behavior: str | None = Field(default=None, alias="@microsoft.graph.conflictBehavior")

    _empty = field_validator("name", mode="before")(_empty_as_none)


def _plain_top(request: Request) -> int | None:
    """``top`` without the ``$``, as some clients send it."""
    raw = request.query_params.get("top")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise InvalidRequest("top must be a positive integer.")
    return int(raw)


def parse_reference_path(path: str) -> tuple[str, ...]:
    """``/drive/root:/a/b`` (or ``/drives/{id}/root:/a/b``) → ``("a", "b")``."""
    _, colon, rest = path.partition("root:")
    if not colon:
        raise InvalidRequest(f"parentReference.path '{path}' is not of the form /drive/root:/…")
    return tuple(s for s in rest.split("/") if s)


@router.get("/items/{item_id}", summary="Get an item (by id, root, or path)")
async def get_item(
    request: Request, item_id: str, who: Principal = Depends(principal)
) -> dict[str, Any]:
    who.require_read()
    drive, loc = await container(request).drives.locate(who, address(request, item_id))
    return render_item(request, loc, drive)


@router.get("/items/{item_id}/children", summary="List a folder's children, paged")
async def list_children(
    request: Request,
    item_id: str,
    top: int | None = Query(default=None, alias="$top", ge=1),
    orderby: str | None = Query(default=None, alias="$orderby"),
    skiptoken: str | None = Query(default=None, alias="$skiptoken"),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    who.require_read()
    c = container(request)
    top = min(top or _plain_top(request) or c.settings.page_size, c.settings.max_page_size)
    orderby = orderby or request.query_params.get("orderby")
    drive, page = await c.items.children(
        who, address(request, item_id), top=top, orderby=orderby, skiptoken=skiptoken
    )
    body: dict[str, Any] = {"value": [render_item(request, loc, drive) for loc in page.items]}
    if page.next_token:
        params = {k: v for k, v in request.query_params.items() if k != "$skiptoken"}
        params["$skiptoken"] = page.next_token
        body["@odata.nextLink"] = (
            f"{base_url(request)}{quote(original_path(request))}?{urlencode(params)}"
        )
    return body


@router.post("/items/{item_id}/children", status_code=201, summary="Create a folder")
async def create_folder(
    request: Request, item_id: str, body: NewFolder, who: Principal = Depends(principal)
) -> Response:
    if body.folder is None:
        raise InvalidRequest('Only folders can be created here: include "folder": {}.')
    conflict = ConflictBehavior.parse(
        body.conflict_behavior or request.query_params.get(CONFLICT), ConflictBehavior.FAIL
    )
    c = container(request)
    drive, loc = await c.items.create_folder(who, address(request, item_id), body.name, conflict)
    return _json(render_item(request, loc, drive), 201)


@router.patch("/items/{item_id}", summary="Rename, move, or set fileSystemInfo")
async def update_item(
    request: Request, item_id: str, body: ItemUpdate, who: Principal = Depends(principal)
) -> dict[str, Any]:
    ref = body.parent_reference
    fsi = body.file_system_info
    changes = ItemChanges(
        name=body.name,
        parent_id=ref.id if ref else None,
        parent_path=parse_reference_path(ref.path) if ref and ref.path and not ref.id else None,
        fs_created_at=fsi.created if fsi else None,
        fs_modified_at=fsi.last_modified if fsi else None,
    )
    conflict = ConflictBehavior.parse(
        body.conflict_behavior or request.query_params.get(CONFLICT), ConflictBehavior.FAIL
    )
    c = container(request)
    drive, loc = await c.items.update(
        who,
        address(request, item_id),
        changes,
        if_match=request.headers.get("if-match"),
        conflict=conflict,
    )
    return render_item(request, loc, drive)


@router.delete("/items/{item_id}", status_code=204, summary="Delete an item (recursively)")
async def delete_item(
    request: Request, item_id: str, who: Principal = Depends(principal)
) -> Response:
    await container(request).items.delete(
        who, address(request, item_id), if_match=request.headers.get("if-match")
    )
    return Response(status_code=204)


def _json(body: dict[str, Any], status: int) -> Response:
    from fastapi.responses import JSONResponse

    return JSONResponse(body, status_code=status)
