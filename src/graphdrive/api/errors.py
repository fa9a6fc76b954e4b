"""The one place that turns exceptions into Graph error responses."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphdrive.exceptions import GraphError
from graphdrive.resources.errors import error_body

log = logging.getLogger(__name__)

_HTTP_CODES = {
    404: ("itemNotFound", "The requested resource does not exist."),
    405: ("notSupported", "The HTTP method is not supported for this resource."),
    413: ("quotaLimitReached", "The request body is too large."),
}


def request_id(request: Request) -> str:
    rid = request.scope.get("state", {}).get("request_id")
    return rid if isinstance(rid, str) else str(uuid.uuid4())


def graph_error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: list[dict[str, object]] | None = None,
) -> JSONResponse:
    body = error_body(
        code,
        message,
        request_id=request_id(request),
        client_request_id=request.headers.get("client-request-id"),
        details=details,
    )
    return JSONResponse(body, status_code=status, headers=headers)


async def _graph_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, GraphError):  # pragma: no cover - registered for GraphError only
        raise exc
    return graph_error_response(
        request, exc.status, exc.code, exc.message, headers=exc.headers, details=exc.details
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        raise exc
    code, message = _HTTP_CODES.get(exc.status_code, ("invalidRequest", str(exc.detail)))
    return graph_error_response(
        request, exc.status_code, code, message, headers=dict(exc.headers or {})
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    message = "Invalid request: " + "; ".join(problems) if problems else "Invalid request."
    return graph_error_response(request, 400, "invalidRequest", message)


async def _client_disconnect(request: Request, exc: Exception) -> JSONResponse:
    # Nobody reads this answer; it keeps a client hanging up mid-upload out of the 500s.
    message = "The client closed the connection before the request body was complete."
    return graph_error_response(request, 400, "invalidRequest", message)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"action": "http_500", "path": request.url.path})
    return graph_error_response(
        request, 500, "generalException", "An internal server error occurred."
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GraphError, _graph_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(Exception, _unexpected)


class RequestIdMiddleware:
    """Gives every request an id, echoed as ``request-id`` (and ``client-request-id``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = str(uuid.uuid4())
        state = dict(scope.get("state") or {})
        state["request_id"] = rid
        scope = dict(scope, state=state)
        client_rid = None
        for name, value in scope.get("headers", []):
            if name == b"client-request-id":
                client_rid = value

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"request-id", rid.encode()))
                if client_rid is not None:
                    headers.append((b"client-request-id", client_rid))
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_with_id)
