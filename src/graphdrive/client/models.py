"""Typed views of the Graph wire shapes the client reads: driveItem, asyncJobStatus, operations.

Pure parsing, no I/O. Every model keeps the ``raw`` JSON object it was read from, so fields the
client does not model are still there (and ``--json`` prints exactly what the server sent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from graphdrive.client.errors import ProtocolError


class JobStatus(StrEnum):
    """``asyncJobStatus.status`` as Graph defines it (plus ``cancelled``, which the .NET SDK and
    graphdrive use). A value the client does not know is ``UNKNOWN`` and is polled on."""

    # Accepted; nothing has happened yet.
    NOT_STARTED = "notStarted"
    # Queued behind other actions of the same user (graphdrive: the per-user limit).
    WAITING = "waiting"
    # Being worked on; percentageComplete moves.
    IN_PROGRESS = "inProgress"
    # Being worked on (Graph uses it for updates in place).
    UPDATING = "updating"
    # A cancel was asked for; partial work is being removed.
    DELETE_PENDING = "deletePending"
    # Done: resourceId names the result.
    COMPLETED = "completed"
    # Ended without a result: errorCode / error.code and a message say why.
    FAILED = "failed"
    # Graph's status for a failed deletion; the action is over.
    DELETE_FAILED = "deleteFailed"
    # Ended by a cancel request.
    CANCELLED = "cancelled"
    # Anything else a server may send; treated as still running.
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: object) -> JobStatus:
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNKNOWN

    @property
    def finished(self) -> bool:
        """True once the action is over, whichever way it ended."""
        return self in _FINISHED


_FINISHED = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.DELETE_FAILED, JobStatus.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class JobReport:
    """One report of a monitor (``asyncJobStatus``)."""

    status: JobStatus
    percent: float | None = None
    operation: str | None = None
    resource_id: str | None = None
    resource_location: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    description: str | None = None
    items_done: int | None = None
    items_total: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def finished(self) -> bool:
        return self.status.finished

    @classmethod
    def from_json(cls, body: object) -> JobReport:
        if not isinstance(body, dict) or "status" not in body:
            raise ProtocolError(f"Not an asyncJobStatus report: {str(body)[:200]}")
        error = _dict(body.get("error"))
        return cls(
            status=JobStatus.parse(body["status"]),
            percent=_float(body.get("percentageComplete")),
            operation=_str(body.get("operation")),
            resource_id=_str(body.get("resourceId")),
            resource_location=_str(body.get("resourceLocation")),
            error_code=_str(body.get("errorCode")) or _str(error.get("code")),
            error_message=_str(error.get("message")) or _str(body.get("statusDescription")),
            description=_str(body.get("statusDescription")),
            items_done=_int(body.get("itemsDone")),
            items_total=_int(body.get("itemsTotal")),
            raw=dict(body),
        )


@dataclass(frozen=True, slots=True)
class OperationInfo:
    """An entry of graphdrive's ``/me/drive/operations`` (the caller's long-running actions)."""

    id: str
    report: JobReport
    monitor_url: str | None
    created: datetime | None
    last_action: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> OperationInfo:
        return cls(
            id=str(body.get("id", "")),
            report=JobReport.from_json(body),
            monitor_url=_str(body.get("monitorUrl")),
            created=_datetime(body.get("createdDateTime")),
            last_action=_datetime(body.get("lastActionDateTime")),
            raw=dict(body),
        )


@dataclass(frozen=True, slots=True)
class DriveItem:
    """A file or folder (``driveItem``). ``path`` is the item's path from the drive root."""

    id: str
    name: str
    size: int
    is_folder: bool
    path: str
    parent_id: str | None
    drive_id: str | None
    etag: str | None
    ctag: str | None
    child_count: int | None
    mime_type: str | None
    modified: datetime | None
    download_url: str | None
    hashes: dict[str, str]
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_root(self) -> bool:
        return "root" in self.raw

    @classmethod
    def from_json(cls, body: object) -> DriveItem:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ProtocolError(f"Not a driveItem: {str(body)[:200]}")
        ref = _dict(body.get("parentReference"))
        folder = body["folder"] if isinstance(body.get("folder"), dict) else None
        file = _dict(body.get("file"))
        name = str(body.get("name", ""))
        is_root = "root" in body
        return cls(
            id=body["id"],
            name=name,
            size=_int(body.get("size")) or 0,
            is_folder=folder is not None or is_root,
            path="/" if is_root else join_path(parent_path(_str(ref.get("path"))), name),
            parent_id=_str(ref.get("id")),
            drive_id=_str(ref.get("driveId")),
            etag=_str(body.get("eTag")),
            ctag=_str(body.get("cTag")),
            child_count=_int(folder.get("childCount")) if folder is not None else None,
            mime_type=_str(file.get("mimeType")),
            modified=_datetime(body.get("lastModifiedDateTime")),
            download_url=_str(body.get("@microsoft.graph.downloadUrl")),
            hashes={k: v for k, v in _dict(file.get("hashes")).items() if isinstance(v, str)},
            raw=dict(body),
        )


def parent_path(reference_path: str | None) -> str:
    """``/drive/root:/a/b`` (or ``/drives/{id}/root:/a/b``) → ``/a/b``; ``…root:`` → ``/``."""
    if not reference_path:
        return "/"
    _, colon, rest = reference_path.partition("root:")
    return "/" + rest.strip("/") if colon else "/"


def join_path(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}"


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
