"""Liveness, readiness and Prometheus metrics (on every process role)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from graphdrive.api.deps import container
from graphdrive.metrics import CONTENT_TYPE_LATEST, exposition, refresh_operation_gauges

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The process can reach its database")
async def readyz(request: Request) -> JSONResponse:
    try:
        async with container(request).db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # readiness reports any failure instead of raising it
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, 503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    await refresh_operation_gauges(container(request).db)
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
