"""The one exception tree of graphdrive.

Every error a client can cause is a :class:`GraphError` carrying the Graph error ``code`` and
HTTP ``status``; the API renders it in exactly one place (``graphdrive.api.errors``). Storage and
third-party failures are translated into this tree at the boundary where they happen
(``raise ... from exc``), so nothing above the storage layer sees a driver exception.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GraphDriveError(Exception):
    """Base of every exception graphdrive raises on purpose."""


class GraphError(GraphDriveError):
    """An error with a Graph error body: ``{"error": {"code", "message"}}`` and a status."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalidRequest"

    def __init__(
        self,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.details = details


class InvalidRequest(GraphError):
    status = 400
    code = "invalidRequest"


class Unauthenticated(GraphError):
    status = 401
    code = "unauthenticated"


class AccessDenied(GraphError):
    status = 403
    code = "accessDenied"


class ItemNotFound(GraphError):
    status = 404
    code = "itemNotFound"


class NameAlreadyExists(GraphError):
    status = 409
    code = "nameAlreadyExists"


class Conflict(GraphError):
    """The item changed while the request worked on it (a concurrent write); a retry may pass."""

    status = 409
    code = "resourceModified"


class PreconditionFailed(GraphError):
    status = 412
    code = "resourceModified"


class PayloadTooLarge(GraphError):
    status = 413
    code = "quotaLimitReached"


class UnprocessableEntity(GraphError):
    status = 422
    code = "invalidRequest"


class InvalidRange(GraphError):
    status = 416
    code = "invalidRange"


class TooManyRequests(GraphError):
    status = 429
    code = "activityLimitReached"


class ServiceNotAvailable(GraphError):
    status = 503
    code = "serviceNotAvailable"


class StorageError(GraphDriveError):
    """A storage backend failed for a reason that is not the client's fault (a 5xx)."""


class ConfigurationError(GraphDriveError):
    """Settings that cannot work together; raised at start-up, never per request."""
