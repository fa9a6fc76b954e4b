"""The ASGI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Path

from graphdrive import __version__, bootstrap
from graphdrive.api.addressing import AddressingMiddleware
from graphdrive.api.errors import RequestIdMiddleware, install_error_handlers
from graphdrive.api.instrumentation import MetricsMiddleware
from graphdrive.api.routes import (
    content,
    copy,
    drives,
    health,
    items,
    monitor,
    operations,
    uploads,
)
from graphdrive.api.throttle import Throttle
from graphdrive.settings import Settings

DRIVE_PREFIXES = ("/v1.0/me/drive", "/v1.0/drives/{drive_id}")


def drive_id_param(drive_id: Annotated[str, Path(description="A drive id")]) -> None:
    """Declares ``drive_id`` for the routes under ``/drives/{drive_id}``."""


def _lifespan(
    settings: Settings,
    container: bootstrap.Container | None,
    *,
    run_workers: bool,
    serves_monitors: bool = True,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Use the container handed in, or build (and later close) one of the app's own."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        app.state.container = container or await bootstrap.build(settings)
        if owned and serves_monitors:
            app.state.container.start_news()
        if owned and run_workers:
            await app.state.container.start_workers()
        try:
            yield
        finally:
            if owned:
                await app.state.container.close()

    return lifespan


def create_app(
    settings: Settings,
    container: bootstrap.Container | None = None,
    *,
    run_workers: bool = True,
) -> FastAPI:
    """Build the app; the container is built on start-up unless one is handed in."""
    app = FastAPI(
        title="graphdrive",
        version=__version__,
        description=(
            "A Microsoft Graph-compatible drive API. Items are also addressable by path: "
            "`/me/drive/root:/a/b:/children`, `/me/drive/items/{id}:/rel/path:/content`."
        ),
        lifespan=_lifespan(settings, container, run_workers=run_workers),
    )
    app.state.throttle = Throttle(settings.rate_limit_per_minute)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(drives.router)
    for prefix in DRIVE_PREFIXES:
        # Under /drives/{drive_id} the routes declare that parameter (in OpenAPI too); the
        # handlers read it through deps.address().
        declared = [Depends(drive_id_param)] if "{drive_id}" in prefix else []
        for router in (items.router, content.router, copy.router, uploads.router):
            app.include_router(router, prefix=prefix, dependencies=declared)
    app.include_router(operations.router)
    app.include_router(content.downloads)
    app.include_router(uploads.upload_urls)
    app.include_router(monitor.router)
    # Outermost first: ids exist before addressing rewrites the path.
    app.add_middleware(AddressingMiddleware)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app


def create_monitor_app(settings: Settings, container: bootstrap.Container | None = None) -> FastAPI:
    """The monitor alone, for its own listener (another port or host); runs no workers."""
    return _small_app(settings, container, role="monitor", monitor_routes=True)


def create_ops_app(settings: Settings, container: bootstrap.Container) -> FastAPI:
    """Health and metrics only: the listener of a worker process."""
    return _small_app(settings, container, role="worker", monitor_routes=False)


def _small_app(
    settings: Settings,
    container: bootstrap.Container | None,
    *,
    role: str,
    monitor_routes: bool,
) -> FastAPI:
    lifespan = _lifespan(settings, container, run_workers=False, serves_monitors=monitor_routes)
    app = FastAPI(title=f"graphdrive {role}", version=__version__, lifespan=lifespan)
    app.state.role = role
    install_error_handlers(app)
    app.include_router(health.router)
    if monitor_routes:
        app.include_router(monitor.router)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app
