"""Building Graph URLs: the API root, drive and item addressing. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import quote

import httpx

from graphdrive.client.models import DriveItem

API_VERSION = "v1.0"


@dataclass(frozen=True, slots=True)
class ById:
    """An item named by its id. (A plain ``str`` names an item by its path from the root.)"""

    id: str
    drive_id: str | None = None


ItemSpec: TypeAlias = str | ById | DriveItem
"""What every item method accepts: a path (``"/Documents/a.txt"``; ``"/"`` is the root), a
:class:`ById`, or a :class:`DriveItem` the client returned earlier."""


def api_root(base_url: str) -> str:
    """``http://host:8080`` → ``http://host:8080/v1.0``; a URL with a path is kept as given."""
    url = httpx.URL(base_url.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"Not an http(s) URL: {base_url!r}")
    root = str(url.copy_with(query=None, fragment=None)).rstrip("/")
    return root if url.path.strip("/") else f"{root}/{API_VERSION}"


def drive_base(drive_id: str | None) -> str:
    """The drive part of an API path: the caller's own drive, or one by id."""
    return f"/drives/{quote(drive_id, safe='')}" if drive_id else "/me/drive"


def split_path(path: str) -> tuple[str, ...]:
    """``"/a/b/"`` → ``("a", "b")``. ``.`` and ``..`` are refused: Graph has no such names."""
    parts = tuple(p for p in path.replace("\\", "/").split("/") if p)
    if any(p in (".", "..") for p in parts):
        raise ValueError(f"Relative segments ('.', '..') are not allowed in {path!r}")
    return parts


def join(parent: str, name: str) -> str:
    return "/" + "/".join((*split_path(parent), *split_path(name)))


def parent_and_name(path: str) -> tuple[str, str]:
    """``"/a/b/c"`` → ``("/a/b", "c")``; the root has no name and is refused."""
    parts = split_path(path)
    if not parts:
        raise ValueError("The root folder has no parent and no name.")
    return "/" + "/".join(parts[:-1]), parts[-1]


def item_url(drive: str, item: ItemSpec, action: str = "") -> str:
    """The API path of an item, or of an action on it (``children``, ``content``, ``copy``…).

    By id: ``{drive}/items/{id}/{action}``; by path: ``{drive}/root:/a/b:/{action}``; the
    root: ``{drive}/root/{action}``. Every path segment is percent-encoded.
    """
    if isinstance(item, DriveItem):
        item = ById(item.id, item.drive_id)
    suffix = f"/{action}" if action else ""
    if isinstance(item, ById):
        base = drive_base(item.drive_id) if item.drive_id else drive
        return f"{base}/items/{quote(item.id, safe='')}{suffix}"
    parts = split_path(item)
    if not parts:
        return f"{drive}/root{suffix}"
    encoded = "/".join(quote(p, safe="") for p in parts)
    return f"{drive}/root:/{encoded}" + (f":{suffix}" if action else "")


def describe(item: ItemSpec) -> str:
    """How an item is named in messages."""
    if isinstance(item, DriveItem):
        return item.path
    if isinstance(item, ById):
        return f"id:{item.id}"
    return "/" + "/".join(split_path(item))


def origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host.lower(), parsed.port


def same_origin(a: str, b: str) -> bool:
    return origin(a) == origin(b)
