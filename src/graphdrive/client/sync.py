"""The blocking face of the client: every method runs its async twin on a private event loop.

Nothing is implemented twice. Each sync method is generated from the async one
(:func:`_blocking`), keeping its parameters, types and docstring; the loop is an
:class:`asyncio.Runner` that lives as long as the client, so the connection pool survives
between calls, and Ctrl-C cancels the running call cleanly (it then raises
``KeyboardInterrupt`` and the client stays usable, e.g. to cancel a copy). Callbacks run in the
caller's thread. Not for use inside a running event loop: use the async client there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import httpx

from graphdrive.client.drive import AsyncDriveClient
from graphdrive.client.http import Timeout, TokenProvider
from graphdrive.client.models import JobReport
from graphdrive.client.operation import AsyncOperation
from graphdrive.client.retry import Clock, RetryPolicy

P = ParamSpec("P")
T = TypeVar("T")
Core = TypeVar("Core")


class _Blocking(Generic[Core]):
    _runner: asyncio.Runner
    _core: Core


def _blocking(
    method: Callable[Concatenate[Core, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[_Blocking[Core], P], T]:
    def call(self: _Blocking[Core], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._runner.run(method(self._core, *args, **kwargs))

    _describe(call, method)
    return call


def _blocking_op(
    method: Callable[Concatenate[Core, P], Coroutine[Any, Any, AsyncOperation]],
) -> Callable[Concatenate[_Blocking[Core], P], Operation]:
    def call(self: _Blocking[Core], /, *args: P.args, **kwargs: P.kwargs) -> Operation:
        return Operation(self._runner.run(method(self._core, *args, **kwargs)), self._runner)

    _describe(call, method)
    return call


def _describe(face: Callable[..., Any], method: Callable[..., Any]) -> None:
    face.__name__ = method.__name__
    face.__qualname__ = method.__qualname__.replace("Async", "", 1)
    face.__doc__ = method.__doc__


class DriveClient(_Blocking[AsyncDriveClient]):
    """The blocking :class:`AsyncDriveClient`: same arguments, same methods, no ``await``.

    ``with DriveClient("http://127.0.0.1:8080", token) as drive: drive.get("/a.txt")``
    """

    def __init__(
        self,
        base_url: str,
        token: str | TokenProvider | None = None,
        *,
        drive_id: str | None = None,
        timeout: Timeout = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._runner = asyncio.Runner()
        self._core = AsyncDriveClient(
            base_url,
            token,
            drive_id=drive_id,
            timeout=timeout,
            retry=retry,
            transport=transport,
            clock=clock,
        )

    @property
    def api_root(self) -> str:
        return self._core.api_root

    @property
    def aio(self) -> AsyncDriveClient:
        """The async client underneath (only usable on this client's own loop)."""
        return self._core

    def __repr__(self) -> str:
        return repr(self._core).replace("Async", "", 1)

    def close(self) -> None:
        """Close the connection pool and the event loop."""
        self._runner.run(self._core.aclose())
        self._runner.close()

    def __enter__(self) -> DriveClient:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    get = _blocking(AsyncDriveClient.get)
    find = _blocking(AsyncDriveClient.find)
    children = _blocking(AsyncDriveClient.children)
    mkdir = _blocking(AsyncDriveClient.mkdir)
    move = _blocking(AsyncDriveClient.move)
    rename = _blocking(AsyncDriveClient.rename)
    delete = _blocking(AsyncDriveClient.delete)
    upload = _blocking(AsyncDriveClient.upload)
    download = _blocking(AsyncDriveClient.download)
    operations = _blocking(AsyncDriveClient.operations)
    copy = _blocking_op(AsyncDriveClient.copy)

    def operation(self, url_or_id: str) -> Operation:
        return Operation(self._core.operation(url_or_id), self._runner)

    operation.__doc__ = AsyncDriveClient.operation.__doc__


class Operation(_Blocking[AsyncOperation]):
    """The blocking :class:`AsyncOperation`: ``status()``, ``wait()``, ``cancel()``,
    ``result()``, ``monitor_url``."""

    def __init__(self, operation: AsyncOperation, runner: asyncio.Runner | None = None) -> None:
        self._core = operation
        self._owns_runner = runner is None
        self._runner = runner or asyncio.Runner()

    @classmethod
    def from_monitor_url(
        cls,
        url: str,
        *,
        timeout: Timeout = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> Operation:
        """Watch an action by its monitor URL alone, e.g. in another process (no token needed;
        for ``result()`` open it with :meth:`DriveClient.operation` instead)."""
        return cls(
            AsyncOperation.from_monitor_url(url, timeout=timeout, transport=transport, clock=clock)
        )

    @property
    def monitor_url(self) -> str:
        return self._core.monitor_url

    @property
    def last_report(self) -> JobReport | None:
        return self._core.last_report

    def __repr__(self) -> str:
        return repr(self._core).replace("Async", "", 1)

    def close(self) -> None:
        """Close what this handle opened itself (from a monitor URL alone)."""
        if self._owns_runner:
            self._runner.run(self._core.aclose())
            self._runner.close()

    def __enter__(self) -> Operation:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    status = _blocking(AsyncOperation.status)
    wait = _blocking(AsyncOperation.wait)
    cancel = _blocking(AsyncOperation.cancel)
    result = _blocking(AsyncOperation.result)
