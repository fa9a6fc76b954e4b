"""``/me/drive``, ``/me/drives``, ``/drives/{drive-id}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from graphdrive.api.deps import base_url, container, principal
from graphdrive.domain.items import Drive
from graphdrive.resources.drive_item import drive_resource
from graphdrive.service.drives import ME
from graphdrive.storage.metadata.items import ItemRepository

router = APIRouter(prefix="/v1.0", tags=["drives"])


async def _render(request: Request, drive: Drive) -> dict[str, Any]:
    c = container(request)
    async with c.db.read() as conn:
        root = await ItemRepository(conn).get(drive.root_id)
    used = root.size if root else 0
    return drive_resource(drive, used=used, quota=c.settings.drive_quota_bytes)


@router.get("/me/drive", summary="The caller's drive (created on first use)")
async def my_drive(request: Request) -> dict[str, Any]:
    who = await principal(request)
    who.require_read()
    return await _render(request, await container(request).drives.drive_for(who, ME))


@router.get("/me/drives", summary="The drives the caller can reach")
async def my_drives(request: Request) -> dict[str, Any]:
    who = await principal(request)
    who.require_read()
    reachable = await container(request).drives.drives_of(who)
    return {
        "@odata.context": f"{base_url(request)}/v1.0/$metadata#drives",
        "value": [await _render(request, drive) for drive in reachable],
    }


@router.get("/drives/{drive_id}", summary="A drive by id")
async def drive_by_id(request: Request, drive_id: str) -> dict[str, Any]:
    who = await principal(request)
    who.require_read()
    return await _render(request, await container(request).drives.drive_for(who, drive_id))
