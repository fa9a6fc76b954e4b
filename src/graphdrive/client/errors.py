"""The client's one exception tree.

httpx exceptions and error answers are translated here, at the boundary, so callers catch
``GraphClientError`` and its subclasses only::

    GraphClientError
    ├── TransportError        the server could not be reached or the connection broke
    ├── ProtocolError         an answer the client cannot make sense of
    ├── ApiError              an error answer (status, Graph ``code``, message, request id)
    │   ├── AuthError           401 / 403
    │   ├── NotFoundError       404 / 410
    │   ├── ConflictError       409 / 412 (name taken, eTag mismatch)
    │   └── ThrottledError      429 / 503 still after the retries
    └── OperationError        a long-running action ended without a result
        ├── OperationFailed     status ``failed`` (``code``, ``message``)
        ├── OperationCancelled  status ``cancelled``
        ├── MonitorExpired      the monitor URL answers 404 / 410
        └── OperationTimeout    ``wait(timeout=…)`` ran out; the action goes on
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from graphdrive.client.models import JobReport


class GraphClientError(Exception):
    """Base of every exception the client raises on purpose."""


class TransportError(GraphClientError):
    """The request never got an answer: connection refused, reset, or timed out."""


class ProtocolError(GraphClientError):
    """The server answered, but not in a way the Graph protocol allows (e.g. no Location)."""


class ApiError(GraphClientError):
    """An error answer from the API, with its Graph error ``code`` and ``message``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after


class AuthError(ApiError):
    """401 (no or bad token) or 403 (the token may not do this)."""


class NotFoundError(ApiError):
    """404 or 410: the item, upload session or download link does not exist (any more)."""


class ConflictError(ApiError):
    """409 (``nameAlreadyExists``) or 412 (``resourceModified``: the eTag did not match)."""


class ThrottledError(ApiError):
    """429 or 503 still after every retry, or a ``Retry-After`` longer than the client waits."""


class OperationError(GraphClientError):
    """A long-running action ended (or stopped being watchable) without a result."""

    def __init__(self, message: str, report: JobReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class OperationFailed(OperationError):
    """The monitor reported ``failed``; ``code`` and ``message`` say why."""

    def __init__(self, code: str, message: str, report: JobReport | None = None) -> None:
        super().__init__(f"{code}: {message}", report)
        self.code = code
        self.message = message


class OperationCancelled(OperationError):
    """The monitor reported ``cancelled``."""


class MonitorExpired(OperationError):
    """The monitor URL answers 404/410: it expired, was revoked, or never existed."""


class OperationTimeout(OperationError):
    """``wait(timeout=…)`` ran out before the action finished; the action keeps running."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    410: NotFoundError,
    409: ConflictError,
    412: ConflictError,
    429: ThrottledError,
    503: ThrottledError,
}


def error_from_response(response: httpx.Response, retry_after: float | None = None) -> ApiError:
    """The ``ApiError`` for an error answer, reading the Graph error body when there is one."""
    code, message, request_id = _parse_error_body(response)
    cls = _BY_STATUS.get(response.status_code, ApiError)
    return cls(
        response.status_code,
        code or f"http{response.status_code}",
        message or response.reason_phrase,
        request_id=request_id or response.headers.get("request-id"),
        retry_after=retry_after,
    )


def _parse_error_body(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    try:
        body: Any = json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        return None, None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, None
    inner = error.get("innerError")
    request_id = inner.get("request-id") if isinstance(inner, dict) else None
    code, message = error.get("code"), error.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
        request_id if isinstance(request_id, str) else None,
    )


def transport_error(exc: httpx.TransportError, shown_url: str) -> TransportError:
    """Translate an httpx transport failure (``shown_url`` must already be safe to print)."""
    detail = str(exc) or "no details"
    return TransportError(f"{type(exc).__name__} talking to {shown_url}: {detail}")


def redact(url: str) -> str:
    """A URL safe to print: capability URLs carry their secret in the path, so keep the origin."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}/…"
