"""The ``graphdrive`` command: serve, token, migrate."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from graphdrive.settings import Settings

app = typer.Typer(
    name="graphdrive",
    help="A self-hostable, Microsoft Graph-compatible drive service.",
    no_args_is_help=True,
    add_completion=False,
)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where metadata and content live [env: GRAPHDRIVE_DATA_DIR]"),
]


def load_settings(**overrides: Any) -> Settings:
    """Environment settings with the CLI flags that were given laid over them."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**given)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface [env: GRAPHDRIVE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env: GRAPHDRIVE_PORT]")] = None,
    data_dir: DataDir = None,
) -> None:
    """Serve the drive API (SQLite + local files by default)."""
    import uvicorn

    from graphdrive.api.app import create_app
    from graphdrive.auth import DevTokens
    from graphdrive.bootstrap import server_secret

    settings = load_settings(host=host, port=port, data_dir=data_dir)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    token = DevTokens(server_secret(settings)).issue("dev")
    typer.echo(
        f"graphdrive {_version()} serving {base}/v1.0  (data: {settings.data_dir.resolve()})\n"
        f"API docs: {base}/docs\n"
        f"Development token for user 'dev' (more: graphdrive token --user NAME):\n{token}\n"
        f"Try:\n  curl -H 'Authorization: Bearer {token}' {base}/v1.0/me/drive/root/children\n",
        err=False,
    )
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


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


def _version() -> str:
    from graphdrive import __version__

    return __version__


def main() -> None:
    app()
