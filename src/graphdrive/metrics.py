"""Prometheus metrics: what an operator of graphdrive watches.

Metric objects are process-wide (Prometheus' model); nothing here does I/O. Gauges that
describe the database (operations by status, queue depth) are refreshed when ``/metrics`` is
scraped, by :func:`refresh_operation_gauges`.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select

from graphdrive.operations.model import OperationStatus
from graphdrive.service.clock import utcnow
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.schema import operations

HTTP_LATENCY = Histogram(
    "graphdrive_http_request_duration_seconds",
    "HTTP request latency by route template, method and status.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OPERATIONS = Gauge("graphdrive_operations", "Operations in the database by status.", ["status"])
QUEUE_DEPTH = Gauge(
    "graphdrive_queue_depth", "Operations accepted and runnable now, not yet claimed."
)
CLAIM_LATENCY = Histogram(
    "graphdrive_claim_latency_seconds",
    "Time from an operation's acceptance to its first claim by a worker.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
COPY_ITEMS = Counter(
    "graphdrive_copy_items_total", "Items written by copies (rate() gives items/s)."
)
OPERATIONS_FINISHED = Counter(
    "graphdrive_operations_finished_total", "Operations that reached an end state.", ["status"]
)

__all__ = [
    "CLAIM_LATENCY",
    "CONTENT_TYPE_LATEST",
    "COPY_ITEMS",
    "HTTP_LATENCY",
    "OPERATIONS",
    "OPERATIONS_FINISHED",
    "QUEUE_DEPTH",
    "exposition",
    "refresh_operation_gauges",
]


async def refresh_operation_gauges(db: Database) -> None:
    async with db.read() as conn:
        rows = await conn.execute(
            select(operations.c.status, func.count()).group_by(operations.c.status)
        )
        counts = {status: int(n) for status, n in rows}
        queued = await conn.execute(
            select(func.count()).where(
                operations.c.status == OperationStatus.NOT_STARTED.value,
                operations.c.next_attempt_at <= utcnow(),
            )
        )
        QUEUE_DEPTH.set(int(queued.scalar_one()))
    for status in OperationStatus:
        if status is not OperationStatus.WAITING:
            OPERATIONS.labels(status.value).set(counts.get(status.value, 0))


def exposition() -> bytes:
    return generate_latest()
