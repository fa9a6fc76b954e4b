"""The monitor: ``/monitor/{token}`` answers asyncJobStatus reports, with no token needed.

Mounted on the main app and, alone, on the monitor listener (``graphdrive monitor`` or
``serve --monitor-port``), which may be another host. An ``Authorization`` header sent along is
ignored. ``Prefer: wait=N`` long-polls; ``Accept: text/event-stream`` streams reports.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from graphdrive.api.deps import api_base, container
from graphdrive.exceptions import ItemNotFound
from graphdrive.resources.async_job import async_job_status
from graphdrive.service.operations import Report

router = APIRouter(tags=["long-running actions"])

MAX_WAIT_SECONDS = 60
# A report is read again this often, or at once when this process announces a change.
POLL_SECONDS = 0.2
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def prefer_wait(header: str | None) -> int:
    match = _PREFER_WAIT.search(header or "")
    return min(int(match.group(1)), MAX_WAIT_SECONDS) if match else 0


def report_body(request: Request, report: Report) -> dict[str, Any]:
    op = report.operation
    location = None
    if op.resource_id and op.resource_drive_id:
        location = f"{api_base(request)}/v1.0/drives/{op.resource_drive_id}/items/{op.resource_id}"
    return async_job_status(
        op,
        operation_name=container(request).operations.operation_name(op),
        waiting=report.waiting,
        resource_location=location,
    )


def report_response(request: Request, report: Report, extra: dict[str, str]) -> Response:
    body = report_body(request, report)
    headers = {**_NO_STORE, **extra}
    status = 202
    if report.operation.status.finished:
        status = container(request).settings.monitor_finished_status
        if status == 303:
            if "resourceLocation" in body:
                headers["Location"] = body["resourceLocation"]
            else:
                status = 200
    else:
        headers["Retry-After"] = "1"
    return JSONResponse(body, status_code=status, headers=headers)


@router.get(
    "/monitor/{token}",
    summary="Status of a long-running action (asyncJobStatus); no authentication",
    status_code=202,
)
async def monitor(request: Request, token: str) -> Response:
    service = container(request).operations
    report = await service.by_token(token)
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            _events(request, token, report),
            media_type="text/event-stream",
            headers={**_NO_STORE, "X-Accel-Buffering": "no"},
        )
    wait = prefer_wait(request.headers.get("prefer"))
    extra: dict[str, str] = {}
    if wait:
        extra["Preference-Applied"] = f"wait={wait}"
        report = await _wait_for_change(request, token, report, wait)
    return report_response(request, report, extra)


@router.delete(
    "/monitor/{token}",
    summary="Cancel the action (or revoke a finished monitor); no authentication",
    status_code=202,
)
async def cancel(request: Request, token: str) -> Response:
    service = container(request).operations
    report = await service.by_token(token)
    await service.cancel(report.operation)
    if report.operation.status.finished:
        return Response(status_code=204, headers=_NO_STORE)
    return report_response(request, await service.by_token(token), {})


async def _wait_for_change(request: Request, token: str, report: Report, wait: int) -> Report:
    service = container(request).operations
    first = report_body(request, report)
    deadline = time.monotonic() + wait
    while not report.operation.status.finished and time.monotonic() < deadline:
        await service.wait_for_change(report.operation.id, POLL_SECONDS)
        if await request.is_disconnected():
            break
        try:
            report = await service.by_token(token)
        except ItemNotFound:
            break
        if noticeably_changed(first, report_body(request, report)):
            break
    return report


def noticeably_changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether a held GET or an event stream should tell the client: anything but the progress
    changed, or the progress moved by a whole point (a worker may announce every batch)."""
    progress = "percentageComplete"
    if {k: v for k, v in before.items() if k != progress} != {
        k: v for k, v in after.items() if k != progress
    }:
        return True
    return bool(abs(float(after.get(progress, 0)) - float(before.get(progress, 0))) >= 1.0)


async def _events(request: Request, token: str, report: Report) -> AsyncIterator[str]:
    service = container(request).operations
    last: dict[str, Any] | None = None
    quiet_since = time.monotonic()
    while True:
        body = report_body(request, report)
        if last is None or noticeably_changed(last, body):
            yield f"event: status\ndata: {json.dumps(body)}\n\n"
            last, quiet_since = body, time.monotonic()
        elif time.monotonic() - quiet_since > 15:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        if report.operation.status.finished or await request.is_disconnected():
            return
        await service.wait_for_change(report.operation.id, POLL_SECONDS)
        try:
            report = await service.by_token(token)
        except ItemNotFound:
            return
