"""The ``graphdrive`` command: serve, worker, monitor, token, migrate, transfer, and the
sub-commands registered in ``main`` (``library``, the client's)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from graphdrive.cli_options import DataDir, load_settings
from graphdrive.settings import Settings

app = typer.Typer(
    name="graphdrive",
    help="A self-hostable, Microsoft Graph-compatible drive service.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface [env: GRAPHDRIVE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env: GRAPHDRIVE_PORT]")] = None,
    data_dir: DataDir = None,
    workers: Annotated[
        int | None, typer.Option(help="In-process workers; 0 = API only [env: GRAPHDRIVE_WORKERS]")
    ] = None,
    monitor_port: Annotated[
        int | None,
        typer.Option(help="Also serve the monitor on this port [env: GRAPHDRIVE_MONITOR_PORT]"),
    ] = None,
) -> None:
    """Serve the drive API (SQLite + local files by default) with in-process workers."""
    from graphdrive.auth import DevTokens
    from graphdrive.bootstrap import server_secret

    settings = load_settings(
        host=host, port=port, data_dir=data_dir, workers=workers, monitor_port=monitor_port
    )
    _configure_logging(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    dev_token = DevTokens(server_secret(settings)).issue("dev")
    typer.echo(
        f"graphdrive {_version()} serving {base}/v1.0  (data: {settings.data_dir.resolve()})\n"
        f"API docs: {base}/docs\n"
        f"Development token for user 'dev' (more: graphdrive token --user NAME):\n"
        f"{dev_token}\n"
        f"Try:\n  curl -H 'Authorization: Bearer {dev_token}' {base}/v1.0/me/drive/root/children\n"
    )
    asyncio.run(_serve(settings, api=True, monitor_port=settings.monitor_port))


@app.command()
def monitor(
    host: Annotated[str | None, typer.Option(help="Interface [env: GRAPHDRIVE_HOST]")] = None,
    port: Annotated[int, typer.Option(help="Port of the monitor listener")] = 8081,
    data_dir: DataDir = None,
) -> None:
    """Serve only the monitor (``/monitor/{token}``), e.g. on its own host."""
    settings = load_settings(host=host, data_dir=data_dir, workers=0)
    _configure_logging(settings)
    asyncio.run(_serve(settings, api=False, monitor_port=port))


@app.command()
def worker(
    host: Annotated[str | None, typer.Option(help="Interface [env: GRAPHDRIVE_HOST]")] = None,
    port: Annotated[int, typer.Option(help="Port of /healthz, /readyz and /metrics")] = 8082,
    data_dir: DataDir = None,
    workers: Annotated[
        int | None, typer.Option(help="Concurrent workers [env: GRAPHDRIVE_WORKERS]")
    ] = None,
) -> None:
    """Run only workers (no API): claim and run long-running actions from the database."""
    settings = load_settings(host=host, data_dir=data_dir, workers=workers)
    _configure_logging(settings)
    asyncio.run(_serve(settings, api=False, monitor_port=None, ops_port=port))


async def _serve(
    settings: Settings, *, api: bool, monitor_port: int | None, ops_port: int | None = None
) -> None:
    """Run the API, monitor and/or worker listeners on one event loop, sharing one container."""
    import signal

    import uvicorn

    from graphdrive import bootstrap
    from graphdrive.api.app import create_app, create_monitor_app, create_ops_app

    class Server(uvicorn.Server):
        # Signals are handled once below for every listener.
        def install_signal_handlers(self) -> None:
            return None

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    container = await bootstrap.build(settings)
    apps: list[tuple[Any, int]] = []
    if api:
        apps.append((create_app(settings, container), settings.port))
    if monitor_port:
        apps.append((create_monitor_app(settings, container), monitor_port))
    if ops_port:
        apps.append((create_ops_app(settings, container), ops_port))
    servers = [
        Server(
            uvicorn.Config(
                asgi,
                host=settings.host,
                port=listen_port,
                log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=10,
                log_config=None,
            )
        )
        for asgi, listen_port in apps
    ]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    if api or monitor_port:
        container.start_news()
    if api or ops_port:
        await container.start_workers()
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        await container.close()


def _configure_logging(settings: Settings) -> None:
    from graphdrive.logs import configure

    configure(settings.log_level)


@app.command()
def token(
    user: Annotated[str, typer.Option(help="User name; the user's drive is created on first use")],
    scopes: Annotated[
        str, typer.Option(help="Space- or comma-separated scopes")
    ] = "Files.ReadWrite",
    data_dir: DataDir = None,
    days: Annotated[int, typer.Option(help="Days until the token expires")] = 30,
) -> None:
    """Print a development bearer token valid for the server using this data dir."""
    from graphdrive.auth import DevTokens
    from graphdrive.bootstrap import server_secret

    settings = load_settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    wanted = [s for s in scopes.replace(",", " ").split() if s]
    typer.echo(DevTokens(server_secret(settings)).issue(user, wanted, ttl_seconds=days * 86400))


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply database migrations and exit."""
    from graphdrive.storage.metadata.database import open_database
    from graphdrive.storage.metadata.migrate import migrate as run_migrations

    settings = load_settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> None:
        db = open_database(settings.resolved_database_url)
        try:
            await run_migrations(db)
        finally:
            await db.dispose()

    asyncio.run(run())
    typer.echo("migrations applied")


@app.command()
def transfer(
    to_database_url: Annotated[str, typer.Option(help="Target metadata database URL")],
    to_blob_url: Annotated[str, typer.Option(help="Target blob store URL (s3://… or file://…)")],
    data_dir: DataDir = None,
) -> None:
    """Copy this installation (settings as for `serve`) into other storage, e.g. from the
    embedded SQLite + local files to PostgreSQL + S3. Stop the server first."""
    from graphdrive.bootstrap import s3_options
    from graphdrive.storage.blobs import open_blob_store
    from graphdrive.storage.metadata.database import open_database
    from graphdrive.storage.transfer import transfer as run_transfer

    settings = load_settings(data_dir=data_dir)
    _configure_logging(settings)

    async def run() -> None:
        source = open_database(settings.resolved_database_url)
        target = open_database(to_database_url)
        try:
            report = await run_transfer(
                source,
                open_blob_store(settings.resolved_blob_url, s3=s3_options(settings)),
                target,
                open_blob_store(to_blob_url, s3=s3_options(settings)),
            )
        finally:
            await source.dispose()
            await target.dispose()
        rows = ", ".join(f"{n} {t}" for t, n in report.rows.items())
        typer.echo(
            f"transferred: {rows}; blobs copied {report.blobs_copied}, "
            f"already present {report.blobs_present}"
        )

    asyncio.run(run())


def _version() -> str:
    from graphdrive import __version__

    return __version__


def main() -> None:
    from graphdrive import cli_libraries
    from graphdrive.client.commands import register

    app.add_typer(cli_libraries.app, name="library")
    register(app)
    app()
