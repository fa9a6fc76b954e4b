"""Operations as the engine and the monitor see them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class OperationStatus(StrEnum):
    # Accepted and durably recorded; no worker has claimed it yet.
    NOT_STARTED = "notStarted"
    # Reported (never stored) while the owner's concurrency limit holds a queued operation back.
    WAITING = "waiting"
    # A worker holds a lease on it and is making progress.
    IN_PROGRESS = "inProgress"
    # Cancellation was asked for; a worker is removing the partial work.
    DELETE_PENDING = "deletePending"
    # Done: the result is published and readable (resource_id).
    COMPLETED = "completed"
    # Ended without a result; error_code and error_message say why. Nothing partial remains.
    FAILED = "failed"
    # Ended by a cancel request; nothing partial remains.
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.CANCELLED})
# Statuses a worker may claim (after a lease expired, too).
CLAIMABLE = (
    OperationStatus.NOT_STARTED,
    OperationStatus.IN_PROGRESS,
    OperationStatus.DELETE_PENDING,
)


@dataclass(frozen=True, slots=True)
class Operation:
    id: str
    action: str
    owner_id: str
    status: OperationStatus
    params: dict[str, Any]
    checkpoint: dict[str, Any] | None
    total_items: int
    done_items: int
    total_bytes: int
    done_bytes: int
    percent: float
    cancel_requested: bool
    lease_owner: str | None
    lease_expires_at: datetime | None
    attempts: int
    resource_id: str | None
    resource_drive_id: str | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def from_row(cls, m: Any) -> Operation:
        return cls(
            id=m["id"],
            action=m["action"],
            owner_id=m["owner_id"],
            status=OperationStatus(m["status"]),
            params=json.loads(m["params"]),
            checkpoint=json.loads(m["checkpoint"]) if m["checkpoint"] else None,
            total_items=int(m["total_items"]),
            done_items=int(m["done_items"]),
            total_bytes=int(m["total_bytes"]),
            done_bytes=int(m["done_bytes"]),
            percent=float(m["percent"]),
            cancel_requested=bool(m["cancel_requested"]),
            lease_owner=m["lease_owner"],
            lease_expires_at=m["lease_expires_at"],
            attempts=int(m["attempts"]),
            resource_id=m["resource_id"],
            resource_drive_id=m["resource_drive_id"],
            error_code=m["error_code"],
            error_message=m["error_message"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            finished_at=m["finished_at"],
            expires_at=m["expires_at"],
        )


def progress_percent(done_items: int, total_items: int, done_bytes: int, total_bytes: int) -> float:
    """Items and bytes done over their totals, weighted equally; below 100 until completed."""
    if total_items <= 0:
        return 0.0
    fraction = done_items / total_items
    if total_bytes > 0:
        fraction = (fraction + done_bytes / total_bytes) / 2
    return round(min(fraction * 100, 99.9), 1)


class ActionFailed(Exception):
    """An action cannot succeed (a permanent failure); reported with a Graph error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CancelRequested(Exception):
    """The operation's owner asked to cancel it."""


class LeaseLost(Exception):
    """Another worker took the operation over; stop touching it."""


class Interrupted(Exception):
    """The worker is shutting down; release the lease and let another worker resume."""
