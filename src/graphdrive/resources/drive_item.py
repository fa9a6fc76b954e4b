"""The ``driveItem`` and ``drive`` resources."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from graphdrive.domain.items import Drive, Located
from graphdrive.resources.formats import graph_datetime, identity

DRIVE_TYPE = "business"


def parent_path(path: tuple[str, ...]) -> str:
    """``/drive/root:`` for children of the root, ``/drive/root:/a/b`` deeper down."""
    return "/drive/root:" + "".join("/" + name for name in path)


def drive_item(
    loc: Located,
    *,
    drive: Drive,
    download_url: str | None = None,
    select: Collection[str] | None = None,
) -> dict[str, Any]:
    item = loc.item
    body: dict[str, Any] = {
        "id": item.id,
        "name": item.name,
        "size": item.size,
        "eTag": item.etag,
        "cTag": item.ctag,
        "createdDateTime": graph_datetime(item.created_at),
        "lastModifiedDateTime": graph_datetime(item.modified_at),
        "createdBy": identity(item.created_by_id, item.created_by_name),
        "lastModifiedBy": identity(item.modified_by_id, item.modified_by_name),
        "fileSystemInfo": {
            "createdDateTime": graph_datetime(item.fs_created_at or item.created_at),
            "lastModifiedDateTime": graph_datetime(item.fs_modified_at or item.modified_at),
        },
    }
    reference: dict[str, Any] = {"driveId": drive.id, "driveType": drive_type(drive)}
    if item.is_root:
        body["root"] = {}
    else:
        reference.update(id=item.parent_id, path=parent_path(loc.path))
        if loc.path:
            reference["name"] = loc.path[-1]
    body["parentReference"] = reference
    if item.is_folder:
        body["folder"] = {"childCount": loc.child_count}
    else:
        hashes: dict[str, str] = {}
        if item.sha1:
            hashes["sha1Hash"] = item.sha1.upper()
        if item.blob_key:
            hashes["sha256Hash"] = item.blob_key.upper()
        if item.quick_xor:
            hashes["quickXorHash"] = item.quick_xor
        body["file"] = {"mimeType": item.mime_type or "application/octet-stream", "hashes": hashes}
        if download_url:
            body["@microsoft.graph.downloadUrl"] = download_url
    if select:
        wanted = {s.strip() for s in select if s.strip()}
        body = {k: v for k, v in body.items() if k in wanted}
    return body


def drive_type(drive: Drive) -> str:
    return drive.kind if drive.is_library else DRIVE_TYPE


def drive_resource(drive: Drive, *, used: int, quota: int) -> dict[str, Any]:
    return {
        "id": drive.id,
        "driveType": drive_type(drive),
        "name": drive.owner_name if drive.is_library else "OneDrive",
        "createdDateTime": graph_datetime(drive.created_at),
        "owner": (
            {"group": {"id": drive.id, "displayName": drive.owner_name}}
            if drive.is_library
            else identity(drive.owner_id, drive.owner_name)
        ),
        "quota": {
            "total": quota,
            "used": used,
            "remaining": max(quota - used, 0),
            "deleted": 0,
            "state": "normal" if used < quota else "exceeded",
        },
    }
