"""A Python client for graphdrive and any Microsoft Graph-compatible drive.

One async core on httpx (:class:`AsyncDriveClient`, :class:`AsyncOperation`) and a thin blocking
face over it (:class:`DriveClient`, :class:`Operation`)::

    from graphdrive.client import DriveClient

    with DriveClient("http://127.0.0.1:8080", token) as drive:
        op = drive.copy("/Documents", "/Backups", name="Documents 2024")
        print(op.wait(on_progress=lambda r: print(r.percent)).resource_id)

Against Microsoft Graph, pass ``"https://graph.microsoft.com/v1.0"`` and an access token with
``Files.ReadWrite`` (for example ``az account get-access-token --resource-type ms-graph``), or a
callable returning a fresh one. The token is only ever sent to the API's own origin; monitor,
upload-session and download URLs are called without it.

Names are imported lazily so that importing ``graphdrive.client.commands`` (the CLI) costs
nothing until a client command actually runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphdrive.client.drive import AsyncDriveClient
    from graphdrive.client.errors import (
        ApiError,
        AuthError,
        ConflictError,
        GraphClientError,
        MonitorExpired,
        NotFoundError,
        OperationCancelled,
        OperationError,
        OperationFailed,
        OperationTimeout,
        ProtocolError,
        ThrottledError,
        TransportError,
    )
    from graphdrive.client.http import TokenProvider
    from graphdrive.client.models import DriveItem, JobReport, JobStatus, OperationInfo
    from graphdrive.client.operation import AsyncOperation, ProgressCallback
    from graphdrive.client.retry import RetryPolicy
    from graphdrive.client.sync import DriveClient, Operation
    from graphdrive.client.transfers import ByteProgress
    from graphdrive.client.urls import ById, ItemSpec

__all__ = [
    "ApiError",
    "AsyncDriveClient",
    "AsyncOperation",
    "AuthError",
    "ById",
    "ByteProgress",
    "ConflictError",
    "DriveClient",
    "DriveItem",
    "GraphClientError",
    "ItemSpec",
    "JobReport",
    "JobStatus",
    "MonitorExpired",
    "NotFoundError",
    "Operation",
    "OperationCancelled",
    "OperationError",
    "OperationFailed",
    "OperationInfo",
    "OperationTimeout",
    "ProgressCallback",
    "ProtocolError",
    "RetryPolicy",
    "ThrottledError",
    "TokenProvider",
    "TransportError",
]

_HOME = {
    "AsyncDriveClient": "drive",
    "DriveClient": "sync",
    "Operation": "sync",
    "AsyncOperation": "operation",
    "ProgressCallback": "operation",
    "DriveItem": "models",
    "JobReport": "models",
    "JobStatus": "models",
    "OperationInfo": "models",
    "ById": "urls",
    "ItemSpec": "urls",
    "RetryPolicy": "retry",
    "TokenProvider": "http",
    "ByteProgress": "transfers",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOME.get(name, 'errors')}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
