"""The ``asyncJobStatus`` report a monitor URL answers."""

from __future__ import annotations

from typing import Any

from graphdrive.operations.model import Operation, OperationStatus
from graphdrive.resources.formats import graph_datetime


def async_job_status(
    op: Operation,
    *,
    operation_name: str,
    waiting: bool = False,
    resource_location: str | None = None,
) -> dict[str, Any]:
    status = op.status
    if status is OperationStatus.NOT_STARTED and waiting:
        status = OperationStatus.WAITING
    percent = 100.0 if status is OperationStatus.COMPLETED else min(op.percent, 99.9)
    body: dict[str, Any] = {
        "operation": operation_name,
        "percentageComplete": percent,
        "status": status.value,
    }
    if status is OperationStatus.COMPLETED and op.resource_id:
        body["resourceId"] = op.resource_id
        if resource_location:
            body["resourceLocation"] = resource_location
    if status is OperationStatus.FAILED:
        code = op.error_code or "generalException"
        message = op.error_message or "The operation failed."
        body["errorCode"] = code
        body["statusDescription"] = message
        body["error"] = {"code": code, "message": message}
    if status is OperationStatus.CANCELLED:
        body["statusDescription"] = "The operation was cancelled."
    return body


def operation_resource(
    op: Operation, report: dict[str, Any], monitor_url: str | None
) -> dict[str, Any]:
    """An entry of ``/me/drive/operations``: the report plus identity and timestamps."""
    body = {
        "id": op.id,
        **report,
        "createdDateTime": graph_datetime(op.created_at),
        "lastActionDateTime": graph_datetime(op.updated_at),
        "itemsTotal": op.total_items,
        "itemsDone": op.done_items,
    }
    if monitor_url:
        body["monitorUrl"] = monitor_url
    return body
