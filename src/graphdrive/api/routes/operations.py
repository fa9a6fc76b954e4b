"""The owner's view of their long-running actions: ``/me/drive/operations``."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from graphdrive.api.deps import base_url, container, monitor_url, principal
from graphdrive.api.routes.monitor import report_body, report_response
from graphdrive.auth import Principal
from graphdrive.domain.names import storable
from graphdrive.exceptions import InvalidRequest
from graphdrive.operations.model import OperationStatus
from graphdrive.resources.async_job import operation_resource
from graphdrive.service.operations import Report

router = APIRouter(prefix="/v1.0/me/drive/operations", tags=["long-running actions"])


def _token(created: datetime, op_id: str) -> str:
    raw = json.dumps([created.isoformat(), op_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str) -> tuple[datetime, str]:
    try:
        at, op_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(op_id, str) or not storable(op_id):
            raise ValueError("not an operation id")
        created = datetime.fromisoformat(at)
        return (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(UTC), op_id
    # RecursionError: absurdly nested JSON; OverflowError: a date beyond datetime's range in UTC.
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise InvalidRequest("The $skiptoken is not valid.") from exc


@router.get("", summary="List the caller's operations, newest first")
async def list_operations(
    request: Request,
    status: str | None = Query(default=None, description="Comma-separated statuses"),
    top: int = Query(default=50, alias="$top", ge=1, le=1000),
    skiptoken: str | None = Query(default=None, alias="$skiptoken"),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    who.require_read()
    statuses = [s.strip() for s in status.split(",")] if status else None
    known = {s.value for s in OperationStatus}
    if statuses and not set(statuses) <= known:
        raise InvalidRequest(f"Unknown status; use any of: {', '.join(sorted(known))}.")
    service = container(request).operations
    before = _untoken(skiptoken) if skiptoken else None
    ops = await service.list(who, statuses=statuses, before=before, limit=top + 1)
    value = []
    for op in ops[:top]:
        report = Report(op, waiting=False)
        url = monitor_url(request, service.monitor_token(op)) if not op.expires_at else None
        value.append(operation_resource(op, report_body(request, report), url))
    body: dict[str, Any] = {"value": value}
    if len(ops) > top:
        params = {k: v for k, v in request.query_params.items() if k != "$skiptoken"}
        params["$skiptoken"] = _token(ops[top - 1].created_at, ops[top - 1].id)
        body["@odata.nextLink"] = f"{base_url(request)}{request.url.path}?{urlencode(params)}"
    return body


@router.get("/{op_id}", summary="One of the caller's operations, as its monitor reports it")
async def get_operation(
    request: Request, op_id: str, who: Principal = Depends(principal)
) -> Response:
    who.require_read()
    report = await container(request).operations.by_id(who, op_id)
    return report_response(request, report, {})


@router.delete("/{op_id}", summary="Cancel one of the caller's operations", status_code=202)
async def cancel_operation(
    request: Request, op_id: str, who: Principal = Depends(principal)
) -> Response:
    who.require_write()
    service = container(request).operations
    report = await service.by_id(who, op_id)
    await service.cancel(report.operation)
    return report_response(request, await service.by_id(who, op_id), {})
