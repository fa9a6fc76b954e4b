"""The public surface of graphdrive.client: pinned names, docstrings, the sync face mirroring the
async core, and the lazy import that keeps `graphdrive serve` from paying for the client."""

from __future__ import annotations

import inspect
import subprocess
import sys

import graphdrive.client as client
from graphdrive.client import AsyncDriveClient, AsyncOperation, DriveClient, Operation

PUBLIC = [
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


def test_all_is_pinned() -> None:
    assert sorted(client.__all__) == PUBLIC


def test_every_public_name_resolves_and_classes_are_documented() -> None:
    for name in client.__all__:
        value = getattr(client, name)
        if inspect.isclass(value):
            assert value.__doc__ and value.__doc__.strip(), f"{name} has no docstring"


def test_exception_tree() -> None:
    assert issubclass(client.AuthError, client.ApiError)
    assert issubclass(client.NotFoundError, client.ApiError)
    assert issubclass(client.ConflictError, client.ApiError)
    assert issubclass(client.ThrottledError, client.ApiError)
    for name in ("OperationFailed", "OperationCancelled", "MonitorExpired", "OperationTimeout"):
        assert issubclass(getattr(client, name), client.OperationError)
    for name in ("ApiError", "OperationError", "TransportError", "ProtocolError"):
        assert issubclass(getattr(client, name), client.GraphClientError)


def _public_methods(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items() if not n.startswith("_") and callable(v)}


def test_sync_face_mirrors_the_async_core() -> None:
    """Every async method has a blocking twin with the same parameters and docstring."""
    for sync_cls, async_cls in ((DriveClient, AsyncDriveClient), (Operation, AsyncOperation)):
        missing = _public_methods(async_cls) - _public_methods(sync_cls) - {"aclose"}
        assert not missing, f"{sync_cls.__name__} lacks {missing}"
        for name in _public_methods(async_cls) & _public_methods(sync_cls):
            if name == "from_monitor_url":
                continue
            a, s = getattr(async_cls, name), getattr(sync_cls, name)
            assert s.__doc__ == a.__doc__, name
            if inspect.iscoroutinefunction(a):
                assert not inspect.iscoroutinefunction(s), name


def test_public_methods_are_documented() -> None:
    for cls in (AsyncDriveClient, AsyncOperation, DriveClient, Operation):
        for name in _public_methods(cls):
            assert getattr(cls, name).__doc__, f"{cls.__name__}.{name} has no docstring"


def test_reprs_never_show_the_token() -> None:
    drive = DriveClient("https://graph.test", "very-secret-token")
    try:
        assert "very-secret-token" not in repr(drive)
        assert "very-secret-token" not in repr(drive.aio._http)
    finally:
        drive.close()


def test_registering_the_cli_commands_does_not_import_httpx_or_rich() -> None:
    """`graphdrive serve` registers the client commands too: that must stay cheap."""
    code = (
        "import sys; import graphdrive.cli as c; before = set(sys.modules); "
        "from graphdrive.client.commands import register; register(c.app); "
        "new = set(sys.modules) - before; "
        "print(sorted(m for m in new if m.split('.')[0] in ('httpx', 'rich', 'anyio') "
        "or m in ('graphdrive.client.drive', 'graphdrive.client.http')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
