"""The ``graphdrive`` subcommands that use the client: files, transfers, copies, operations.

``register(app)`` adds them to the main Typer app. Only Typer is imported here and in the
command modules at start-up; httpx, Rich and the client load when a command runs, so
``graphdrive serve`` does not pay for them.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``login ls tree mkdir stat put get mv rm cp`` and ``ops …`` to ``app``."""
    from graphdrive.client.commands import files, ops, transfer

    for command in (files.login, files.ls, files.tree, files.mkdir, files.stat):
        app.command()(command)
    app.command()(transfer.put)
    app.command()(transfer.get)
    app.command()(files.mv)
    app.command()(files.rm)
    app.command()(ops.cp)
    app.add_typer(ops.ops_app)
