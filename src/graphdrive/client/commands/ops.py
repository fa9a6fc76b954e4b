"""``cp`` (a server-side copy with a live progress bar) and ``ops ls | watch | cancel``.

Ctrl-C while watching asks whether to cancel the action on the server or leave it running,
and in the second case prints how to resume watching (``graphdrive ops watch URL``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from graphdrive.client.commands.config import NotLoggedIn, connect
from graphdrive.client.commands.files import spec
from graphdrive.client.commands.output import (
    INTERRUPTED,
    OK,
    JsonOption,
    Out,
    handled,
    item_json,
    when,
)

if TYPE_CHECKING:
    from graphdrive.client import DriveClient, DriveItem, JobReport, Operation

Json = Annotated[bool, JsonOption]
Target = Annotated[str, typer.Argument(help="A monitor URL, or an operation id (see ops ls)")]

ops_app = typer.Typer(
    name="ops", help="Long-running actions: list, watch, cancel.", no_args_is_help=True
)


def cp(
    source: Annotated[str, typer.Argument(help="Remote item to copy, or id:ITEM-ID")],
    dest: Annotated[str, typer.Argument(help="Existing folder to copy into, or the new path")],
    conflict: Annotated[str, typer.Option(help="fail | rename | replace")] = "fail",
    children_only: Annotated[
        bool, typer.Option("--children-only", help="Copy what is in SOURCE into DEST")
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Print the monitor URL and exit")
    ] = False,
    as_json: Json = False,
) -> None:
    """Copy on the server (a long-running action), with a live progress bar."""
    from graphdrive.client import ById
    from graphdrive.client.urls import parent_and_name

    out = Out(as_json)
    with handled(out), connect() as drive:
        item = drive.get(spec(source))
        target = drive.get(spec(dest)) if dest.startswith("id:") else drive.find(dest)
        name: str | None = None
        if target is not None and target.is_folder:
            folder = target
        elif children_only:
            raise ValueError("With --children-only, DEST must be an existing folder.")
        elif target is not None:  # over an existing file: the server applies --conflict
            folder, name = drive.get(ById(target.parent_id or "root")), target.name
        else:
            parent, name = parent_and_name(dest)
            folder = drive.get(parent)
        op = drive.copy(item, folder, name=name, conflict=conflict, children_only=children_only)
        if no_wait:
            if out.as_json:
                out.json({"status": "accepted", "monitorUrl": op.monitor_url})
            else:
                out.console.print(op.monitor_url, markup=False, soft_wrap=True)
                out.note(f"Watch it with: graphdrive ops watch {op.monitor_url}")
            return
        follow(out, op, drive, f"copy {item.name}")


def follow(out: Out, op: Operation, drive: DriveClient | None, label: str) -> None:
    """Watch to the end with a progress bar; print the result or exit with the failure."""
    try:
        report = _watch(out, op, label)
    except KeyboardInterrupt:
        _interrupted(out, op)
    item = _result(op) if drive is not None else None
    if out.as_json:
        body: dict[str, Any] = {"status": report.status.value, "monitorUrl": op.monitor_url}
        body["report"] = report.raw
        if item is not None:
            body["item"] = item_json(item)
        out.json(body)
    else:
        where = item.path if item is not None else f"id:{report.resource_id}"
        out.say(f"[green]completed[/green]: {where}")


def _watch(out: Out, op: Operation, label: str) -> JobReport:
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[items]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=out.err,
        disable=out.as_json,
    )
    with progress:
        task = progress.add_task(label, total=100.0, items="")

        def show(report: JobReport) -> None:
            progress.update(
                task,
                completed=report.percent or 0.0,
                description=f"{label} · {report.status.value}",
                items=_items(report),
            )

        return op.wait(on_progress=show)


def _items(report: JobReport) -> str:
    if report.items_total:
        return f"{report.items_done or 0}/{report.items_total} items"
    return ""


def _result(op: Operation) -> DriveItem | None:
    """The new item, when this client can read it (the monitor may belong to another server)."""
    from graphdrive.client import GraphClientError

    try:
        return op.result()
    except GraphClientError:
        return None


def _interrupted(out: Out, op: Operation) -> NoReturn:
    """Ctrl-C: cancel on the server, or leave it running and say how to watch it again."""
    from graphdrive.client import OperationTimeout

    try:
        cancel = typer.confirm(
            "\nInterrupted. Cancel the operation on the server?", default=False, err=True
        )
    except typer.Abort:
        cancel = False
    if not cancel:
        hint = f"graphdrive ops watch {op.monitor_url}"
        if out.as_json:
            out.json({"status": "running", "monitorUrl": op.monitor_url, "watch": hint})
        out.note(f"Left running. Resume watching with:\n  {hint}")
        raise typer.Exit(INTERRUPTED)
    if op.cancel() is None:
        out.note("It had already finished.")
        raise typer.Exit(OK)
    try:
        op.wait(timeout=30)  # OperationCancelled → "cancelled", exit 1
    except OperationTimeout:
        out.note("Cancel requested; the server is still removing partial work.")
        raise typer.Exit(INTERRUPTED) from None
    out.note("It finished before the cancel took effect.")
    raise typer.Exit(OK)


def _open(target: str) -> tuple[DriveClient | None, Operation]:
    """A monitor URL needs no login (a login is used when there is one); an id does."""
    from graphdrive.client import Operation

    if target.startswith(("http://", "https://")):
        try:
            drive = connect()
        except NotLoggedIn:
            return None, Operation.from_monitor_url(target)
        return drive, drive.operation(target)
    drive = connect()
    return drive, drive.operation(target)


@ops_app.command("ls")
def ops_ls(
    status: Annotated[
        str | None, typer.Option(help="Only these statuses (comma-separated), e.g. inProgress")
    ] = None,
    as_json: Json = False,
) -> None:
    """List your long-running actions, newest first."""
    out = Out(as_json)
    with handled(out), connect() as drive:
        infos = drive.operations(status=status.split(",") if status else None)
        if out.as_json:
            out.json([info.raw for info in infos])
            return
        from rich.table import Table

        table = Table(box=None)
        for column in ("Id", "Operation", "Status", "%", "Items", "Created"):
            table.add_column(column, no_wrap=True)
        for info in infos:
            r = info.report
            percent = f"{r.percent:.1f}" if r.percent is not None else "-"
            table.add_row(
                info.id,
                r.operation or "-",
                r.status.value,
                percent,
                _items(r) or "-",
                when(info.created),
            )
        out.console.print(table)
        if infos:
            out.note("Watch one with: graphdrive ops watch ID")


@ops_app.command("watch")
def ops_watch(target: Target, as_json: Json = False) -> None:
    """Follow an action to its end with a progress bar (exit 1 if it fails)."""
    out = Out(as_json)
    with handled(out):
        drive, op = _open(target)
        try:
            follow(out, op, drive, "operation")
        finally:
            (drive or op).close()


@ops_app.command("cancel")
def ops_cancel(target: Target, as_json: Json = False) -> None:
    """Cancel an action (and wait briefly for it to stop)."""
    from graphdrive.client import OperationCancelled, OperationTimeout

    out = Out(as_json)
    with handled(out):
        drive, op = _open(target)
        try:
            status = "finished"
            if op.cancel() is not None:
                try:
                    status = op.wait(timeout=15).status.value
                except OperationCancelled:
                    status = "cancelled"
                except OperationTimeout:
                    status = "deletePending"
        finally:
            (drive or op).close()
        if out.as_json:
            out.json({"status": status, "monitorUrl": op.monitor_url})
        elif status == "cancelled":
            out.say("cancelled")
        elif status == "finished":
            out.say("It had already finished (its monitor is now revoked).")
        else:
            out.say(f"cancel requested; status: {status}")
