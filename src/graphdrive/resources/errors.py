"""The Graph error body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from graphdrive.resources.formats import graph_datetime


def error_body(
    code: str,
    message: str,
    *,
    request_id: str,
    client_request_id: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    inner: dict[str, Any] = {
        "date": graph_datetime(datetime.now(UTC)).replace(".000Z", "Z"),
        "request-id": request_id,
    }
    if client_request_id:
        inner["client-request-id"] = client_request_id
    error: dict[str, Any] = {"code": code, "message": message, "innerError": inner}
    if details:
        error["details"] = details
    return {"error": error}
