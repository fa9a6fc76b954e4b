"""The drive item model, as the rest of graphdrive sees it (storage maps rows onto it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Drive:
    id: str
    owner_id: str  # a user, or "library:<drive id>" for a shared library
    owner_name: str  # the user's display name, or the library's name
    root_id: str
    created_at: datetime
    kind: str = "personal"  # or LIBRARY

    @property
    def is_library(self) -> bool:
        return self.kind == LIBRARY


PERSONAL = "personal"
LIBRARY = "documentLibrary"  # Graph's driveType of a shared document library

# What a library's member may do (Graph's permission roles).
READ, WRITE = "read", "write"
ROLES = (READ, WRITE)


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    drive_id: str
    parent_id: str | None
    name: str
    is_folder: bool
    size: int
    blob_key: str | None
    mime_type: str | None
    sha1: str | None
    version: int
    content_version: int
    created_at: datetime
    modified_at: datetime
    created_by_id: str
    created_by_name: str
    modified_by_id: str
    modified_by_name: str
    fs_created_at: datetime | None = None
    fs_modified_at: datetime | None = None
    quick_xor: str | None = None

    @property
    def is_root(self) -> bool:
        return self.parent_id is None

    @property
    def etag(self) -> str:
        return f'"{{{self.id}}},{self.version}"'

    @property
    def ctag(self) -> str:
        return f'"c:{{{self.id}}},{self.content_version}"'


@dataclass(frozen=True, slots=True)
class Located:
    """An item with what rendering needs beyond its row: its folder path and child count."""

    item: Item
    path: tuple[str, ...]  # names from the root down to the parent; () for root children
    child_count: int = 0
