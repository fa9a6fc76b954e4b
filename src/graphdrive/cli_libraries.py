"""``graphdrive library …``: shared document libraries, drives that several users read and write.

Administration runs against the installation's storage (settings as for ``serve``), like
``migrate``; users then reach a library at ``/drives/{id}`` and see it in ``/me/drives``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from graphdrive.cli_options import DataDir, load_settings
from graphdrive.domain.items import READ, WRITE
from graphdrive.exceptions import GraphError
from graphdrive.service.drives import DriveService

app = typer.Typer(help="Shared libraries: drives that several users read and write (or only read).")

T = TypeVar("T")


def _run(data_dir: object, work: Callable[[DriveService], Awaitable[T]]) -> T:
    from graphdrive.storage.metadata.database import open_database
    from graphdrive.storage.metadata.migrate import migrate

    settings = load_settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> T:
        db = open_database(settings.resolved_database_url)
        try:
            await migrate(db)
            return await work(DriveService(db))
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except GraphError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The library's name")],
    member: Annotated[
        list[str] | None, typer.Option(help="A user who reads and writes; repeat for more")
    ] = None,
    reader: Annotated[
        list[str] | None, typer.Option(help="A user who only reads; repeat for more")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a library and print its drive id."""
    drive = _run(data_dir, lambda drives: drives.create_library(name, member or [], reader or []))
    typer.echo(drive.id)


@app.command("list")
def list_libraries(data_dir: DataDir = None) -> None:
    """List libraries: id and name."""
    for drive in _run(data_dir, lambda drives: drives.libraries()):
        typer.echo(f"{drive.id}\t{drive.owner_name}")


@app.command()
def show(drive_id: str, data_dir: DataDir = None) -> None:
    """A library's name and members."""
    drive, members = _run(data_dir, lambda drives: drives.library(drive_id))
    typer.echo(f"{drive.id}\t{drive.owner_name}")
    for user, role in members:
        typer.echo(f"  {user}\t{role}")


@app.command("add-member")
def add_member(
    drive_id: str,
    user: str,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Only read (and copy from) the library")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Let a user read and write a library (or only read it); also changes a member's role."""
    role = READ if read_only else WRITE
    changed = _run(
        data_dir, lambda drives: drives.set_member(drive_id, user, member=True, role=role)
    )
    typer.echo(f"{user} is a member ({role})" if changed else "already a member in that role")


@app.command("remove-member")
def remove_member(drive_id: str, user: str, data_dir: DataDir = None) -> None:
    """Take a user's access to a library away (effective at their next request)."""
    changed = _run(data_dir, lambda drives: drives.set_member(drive_id, user, member=False))
    typer.echo("removed" if changed else "not a member")
