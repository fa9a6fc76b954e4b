"""How the CLI speaks: JSON or Rich, messages on stderr, and exit codes that mean something.

Exit codes: 0 done, 1 failed (a failed or cancelled operation, or any other error), 2 usage,
3 not found (also an expired monitor), 4 authentication or permission, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from graphdrive.client import DriveItem

OK, FAILED, USAGE, NOT_FOUND, AUTH, INTERRUPTED = 0, 1, 2, 3, 4, 130

JsonOption = typer.Option("--json", help="Print JSON for scripts instead of tables.")


class Out:
    """One command's output: ``json`` mode prints machine-readable results on stdout only."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(highlight=False)

    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def say(self, message: str) -> None:
        """A human message (stderr in JSON mode, so stdout stays parseable)."""
        (self.err if self.as_json else self.console).print(message, soft_wrap=True)

    def note(self, message: str) -> None:
        """A side remark (always stderr)."""
        self.err.print(message, soft_wrap=True)

    def fail(self, code: str, message: str, exit_code: int) -> NoReturn:
        if self.as_json:
            self.json({"error": {"code": code, "message": message, "exitCode": exit_code}})
        else:
            self.err.print(f"[red]error:[/red] {_escape(message)}", soft_wrap=True)
        raise typer.Exit(exit_code)

    def transfer_progress(self) -> Progress:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            disable=self.as_json,
        )


@contextmanager
def handled(out: Out) -> Iterator[None]:
    """Turn the client's exceptions into a message and an exit code."""
    from graphdrive.client import errors
    from graphdrive.client.commands.config import NotLoggedIn

    try:
        yield
    except NotLoggedIn as exc:
        out.fail("notLoggedIn", str(exc), AUTH)
    except errors.AuthError as exc:
        out.fail(exc.code, f"{exc.message} (HTTP {exc.status})", AUTH)
    except errors.NotFoundError as exc:
        out.fail(exc.code, exc.message, NOT_FOUND)
    except errors.MonitorExpired as exc:
        out.fail("monitorExpired", str(exc), NOT_FOUND)
    except errors.OperationFailed as exc:
        out.fail(exc.code, f"the operation failed ({exc.code}): {exc.message}", FAILED)
    except errors.OperationCancelled as exc:
        out.fail("cancelled", str(exc), FAILED)
    except errors.ApiError as exc:
        out.fail(exc.code, f"{exc.message} (HTTP {exc.status})", FAILED)
    except errors.GraphClientError as exc:
        out.fail(type(exc).__name__, str(exc), FAILED)
    except (ValueError, OSError) as exc:
        code = USAGE if isinstance(exc, ValueError) else FAILED
        out.fail("usage" if code == USAGE else "localError", str(exc), code)
    except KeyboardInterrupt:
        out.note("interrupted")
        raise typer.Exit(INTERRUPTED) from None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


def item_json(item: DriveItem) -> dict[str, Any]:
    """The driveItem as the server sent it, plus the client's computed ``path``."""
    return {**item.raw, "path": item.path}


def display_name(item: DriveItem) -> str:
    return item.name + "/" if item.is_folder and not item.is_root else item.name or "/"
