"""``login``, ``ls``, ``tree``, ``mkdir``, ``stat``, ``mv``, ``rm``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from graphdrive.client.commands.config import (
    TOKEN_ENV,
    URL_ENV,
    Login,
    connect,
    save_login,
)
from graphdrive.client.commands.output import (
    FAILED,
    JsonOption,
    Out,
    display_name,
    handled,
    human_size,
    item_json,
    when,
)

if TYPE_CHECKING:
    from graphdrive.client import DriveClient, DriveItem, ItemSpec

Json = Annotated[bool, JsonOption]
Remote = Annotated[str, typer.Argument(help="Remote path (/a/b.txt) or id:ITEM-ID")]


def spec(arg: str) -> ItemSpec:
    """A remote argument: ``id:…`` names an item by id, anything else is a path."""
    from graphdrive.client import ById

    return ById(arg.removeprefix("id:")) if arg.startswith("id:") else arg


def login(
    url: Annotated[
        str | None,
        typer.Argument(
            help="The server (http://127.0.0.1:8080) or API root "
            "(https://graph.microsoft.com/v1.0) [env: GRAPHDRIVE_URL]",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(help="Bearer token; asked for when not given [env: GRAPHDRIVE_TOKEN]"),
    ] = None,
    as_json: Json = False,
) -> None:
    """Check a server URL and token, and save them for the other commands.

    For Microsoft Graph: graphdrive login https://graph.microsoft.com/v1.0 --token "$(az account
    get-access-token --resource-type ms-graph --query accessToken -o tsv)".
    """
    out = Out(as_json)
    with handled(out):
        url = url or os.environ.get(URL_ENV)
        if not url:
            raise ValueError("Give the server URL: graphdrive login URL")
        token = token or os.environ.get(TOKEN_ENV)
        token = token or typer.prompt("Token", hide_input=True, err=True)
        creds = Login(url.strip(), token.strip())
        with connect(creds) as drive:
            root = drive.get("/")
            api = drive.api_root
        saved = save_login(creds)
        if out.as_json:
            out.json({"url": api, "config": str(saved), "driveId": root.drive_id})
        else:
            out.say(f"Logged in to {api}; saved in {saved}")


def ls(
    path: Annotated[str, typer.Argument(help="Remote folder or file, or id:ITEM-ID")] = "/",
    long: Annotated[bool, typer.Option("-l", "--long", help="Sizes, dates and kinds")] = False,
    as_json: Json = False,
) -> None:
    """List a folder (every page of it)."""
    out = Out(as_json)
    with handled(out), connect() as drive:
        item = drive.get(spec(path))
        items = drive.children(item) if item.is_folder else [item]
        if out.as_json:
            out.json([item_json(i) for i in items])
        elif long:
            from rich.table import Table

            table = Table(box=None, show_header=False, pad_edge=False)
            for i in items:
                count = f"{i.child_count} items" if i.is_folder else ""
                table.add_row(
                    "d" if i.is_folder else "-",
                    human_size(i.size),
                    count,
                    when(i.modified),
                    display_name(i),
                )
            out.console.print(table)
        else:
            for i in items:
                out.console.print(display_name(i), markup=False)


def tree(
    path: Annotated[str, typer.Argument(help="Remote folder, or id:ITEM-ID")] = "/",
    depth: Annotated[int | None, typer.Option(help="How many levels to show")] = None,
    as_json: Json = False,
) -> None:
    """Show a folder and everything in it."""
    out = Out(as_json)
    with handled(out), connect() as drive:
        top = drive.get(spec(path))
        nested = _walk(drive, top, depth)
        if out.as_json:
            out.json(nested)
            return
        from rich.markup import escape
        from rich.tree import Tree

        def render(node: dict[str, Any], branch: Tree) -> None:
            for child in node.get("children", []):
                label = escape(child["name"] + ("/" if "children" in child else ""))
                size = human_size(child["size"])
                render(child, branch.add(f"{label} [dim]{size}[/dim]"))

        root = Tree(f"[bold]{escape(display_name(top))}[/bold] [dim]{human_size(top.size)}[/dim]")
        render(nested, root)
        out.console.print(root)


def _walk(drive: DriveClient, item: DriveItem, depth: int | None) -> dict[str, Any]:
    node: dict[str, Any] = {"name": item.name, "path": item.path, "id": item.id, "size": item.size}
    if item.is_folder:
        children = [] if depth == 0 else drive.children(item)
        below = None if depth is None else depth - 1
        node["children"] = [_walk(drive, c, below) for c in children]
    return node


def mkdir(
    path: Annotated[str, typer.Argument(help="Remote folder path to create")],
    parents: Annotated[
        bool, typer.Option("-p", "--parents", help="Make parents; no error if it exists")
    ] = False,
    as_json: Json = False,
) -> None:
    """Create a folder."""
    out = Out(as_json)
    with handled(out), connect() as drive:
        item = drive.mkdir(path, parents=parents)
        out.json(item_json(item)) if out.as_json else out.say(f"{item.path}/")


def stat(path: Remote, as_json: Json = False) -> None:
    """Show everything about one item."""
    out = Out(as_json)
    with handled(out), connect() as drive:
        item = drive.get(spec(path))
        if out.as_json:
            out.json(item_json(item))
            return
        from rich.table import Table

        table = Table(box=None, show_header=False, pad_edge=False)
        rows = [
            ("Path", item.path),
            ("Id", item.id),
            ("Kind", "folder" if item.is_folder else f"file ({item.mime_type or '?'})"),
            ("Size", f"{human_size(item.size)} ({item.size} bytes)"),
            ("Children", str(item.child_count) if item.is_folder else None),
            ("Modified", when(item.modified)),
            ("eTag", item.etag),
            ("Drive", item.drive_id),
            *((f"{name}", value) for name, value in sorted(item.hashes.items())),
        ]
        for label, value in rows:
            if value is not None:
                table.add_row(f"[bold]{label}[/bold]", value)
        out.console.print(table)


def mv(
    source: Annotated[str, typer.Argument(help="Remote item to move or rename")],
    dest: Annotated[str, typer.Argument(help="Existing folder to move into, or the new path")],
    as_json: Json = False,
) -> None:
    """Move or rename an item (like mv: into DEST if it is a folder, else to DEST)."""
    from graphdrive.client.urls import parent_and_name

    out = Out(as_json)
    with handled(out), connect() as drive:
        item = drive.get(spec(source))
        target = drive.find(spec(dest))
        if target is not None and target.is_folder:
            moved = drive.move(item, target)
        elif target is not None:
            out.fail("nameAlreadyExists", f"{target.path} already exists.", FAILED)
        else:
            parent_path, name = parent_and_name(dest)
            parent = drive.get(parent_path)
            same_folder = parent.id == item.parent_id
            moved = drive.rename(item, name) if same_folder else drive.move(item, parent, name=name)
        out.json(item_json(moved)) if out.as_json else out.say(f"{item.path} → {moved.path}")


def rm(
    paths: Annotated[list[str], typer.Argument(help="Remote items to delete")],
    recursive: Annotated[
        bool, typer.Option("-r", "--recursive", help="Delete folders with what is in them")
    ] = False,
    as_json: Json = False,
) -> None:
    """Delete items (folders that are not empty need -r)."""
    out = Out(as_json)
    with handled(out), connect() as drive:
        items = [drive.get(spec(p)) for p in paths]
        for item in items:
            if item.is_root:
                raise ValueError("The root folder cannot be deleted.")
            if item.is_folder and item.child_count and not recursive:
                raise ValueError(f"{item.path} is a folder that is not empty: use -r.")
        for item in items:
            drive.delete(item)
            if not out.as_json:
                out.say(f"deleted {item.path}")
        if out.as_json:
            out.json({"deleted": [item_json(i) for i in items]})
