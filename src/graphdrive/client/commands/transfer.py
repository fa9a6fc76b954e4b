"""``put`` and ``get``: files and whole folders, with a progress bar, resumable.

Running the same ``put`` again after an interruption resumes a large file's upload session
(remembered in ``uploads.json``) and skips files that are already there with the same content;
running the same ``get`` again resumes a file from its ``.part`` file and skips files already
downloaded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from graphdrive.client.commands.config import UploadState, connect
from graphdrive.client.commands.files import spec
from graphdrive.client.commands.output import INTERRUPTED, JsonOption, Out, handled

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from graphdrive.client import DriveClient, DriveItem

Json = Annotated[bool, JsonOption]


@dataclass
class Transfer:
    local: Path
    remote: str
    size: int
    status: str = "pending"  # uploaded | downloaded | skipped | resumed
    resumed_from: int | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "local": str(self.local),
            "remote": self.remote,
            "size": self.size,
            "status": self.status,
        }
        if self.resumed_from is not None:
            body["resumedFrom"] = self.resumed_from
        return body


def parse_size(text: str) -> int:
    """``10M`` / ``320K`` / ``327680`` → bytes."""
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    if not number.isdigit():
        raise ValueError(f"Not a size: {text!r} (use e.g. 10M, 320K or a number of bytes)")
    return int(number) * factor


def put(
    local: Annotated[Path, typer.Argument(help="Local file or folder")],
    remote: Annotated[
        str | None,
        typer.Argument(help="Remote folder to put it in, or the new path [default: /]"),
    ] = None,
    conflict: Annotated[str, typer.Option(help="replace | fail | rename")] = "replace",
    chunk_size: Annotated[
        str, typer.Option(help="Upload-session fragment size, a multiple of 320K")
    ] = "10M",
    as_json: Json = False,
) -> None:
    """Upload a file or a folder (large files through resumable upload sessions)."""
    out = Out(as_json)
    with handled(out), connect() as drive:
        if not local.exists():
            raise ValueError(f"{local} does not exist.")
        fragment = parse_size(chunk_size)
        dest = _destination(drive, local, remote or "/")
        plan = _plan_upload(drive, local, dest)
        state = UploadState()
        try:
            _run_uploads(drive, out, plan, state, conflict, fragment)
        except KeyboardInterrupt:
            out.note("Interrupted: run the same command again to resume the upload.")
            raise typer.Exit(INTERRUPTED) from None
        _report(out, plan, "put")


def _destination(drive: DriveClient, local: Path, remote: str) -> str:
    """Where ``local`` goes: into an existing folder, to a new path, or over a file."""
    from graphdrive.client.urls import join, parent_and_name

    target = drive.get(spec(remote)) if remote.startswith("id:") else drive.find(remote)
    if target is not None:
        if target.is_folder:
            return join(target.path, local.name)
        if local.is_dir():
            raise ValueError(f"{target.path} is a file; a folder cannot go there.")
        return target.path
    if remote.endswith("/"):
        drive.mkdir(remote, parents=True)
        return join(remote, local.name)
    drive.mkdir(parent_and_name(remote)[0], parents=True)
    return remote


def _plan_upload(drive: DriveClient, local: Path, dest: str) -> list[Transfer]:
    """Make the remote folders; list what to upload, skipping files already there."""
    from graphdrive.client.urls import join

    if local.is_file():
        existing = drive.find(dest)
        return [_upload_entry(local, dest, existing)]
    plan: list[Transfer] = []
    for folder, dirs, files in os.walk(local):
        dirs.sort()
        rel = Path(folder).relative_to(local)
        remote_folder = join(dest, rel.as_posix()) if rel.parts else dest
        node = drive.mkdir(remote_folder, parents=True)
        there = {c.name.casefold(): c for c in drive.children(node)}
        for name in sorted(files):
            remote = join(remote_folder, name)
            plan.append(_upload_entry(Path(folder) / name, remote, there.get(name.casefold())))
    return plan


def _upload_entry(local: Path, remote: str, existing: DriveItem | None) -> Transfer:
    entry = Transfer(local, remote, local.stat().st_size)
    if existing is not None and not existing.is_folder and same_content(local, existing):
        entry.status = "skipped"
    return entry


def _run_uploads(
    drive: DriveClient,
    out: Out,
    plan: list[Transfer],
    state: UploadState,
    conflict: str,
    fragment: int,
) -> None:
    todo = [t for t in plan if t.status == "pending"]
    if not todo:
        return
    with out.transfer_progress() as progress:
        task = progress.add_task("put", total=sum(t.size for t in todo))
        done = 0
        for entry in todo:
            progress.update(task, description=entry.local.name)
            _upload_one(
                drive,
                entry,
                state,
                conflict,
                fragment,
                partial(_show, progress, task, done),
            )
            done += entry.size
        progress.update(task, description="put")


def _show(progress: Progress, task: TaskID, base: int, done: int, _total: int = 0) -> None:
    progress.update(task, completed=base + done)


def _upload_one(
    drive: DriveClient,
    entry: Transfer,
    state: UploadState,
    conflict: str,
    fragment: int,
    show: Callable[[int], None],
) -> None:
    """One file; a remembered session is resumed, and forgotten once the file is in."""
    key = UploadState.key(drive.api_root, entry.remote, entry.local)
    resume_url = state.get(key)
    calls = 0

    def advance(sent: int, _total: int) -> None:
        nonlocal calls
        if calls == 0 and resume_url and sent > 0:
            entry.resumed_from = sent
        calls += 1
        show(sent)

    drive.upload(
        entry.local,
        entry.remote,
        conflict=conflict,
        chunk_size=fragment,
        on_progress=advance,
        resume_url=resume_url,
        on_session=lambda url: state.put(key, url),
    )
    state.drop(key)
    entry.status = "resumed" if entry.resumed_from else "uploaded"


def get(
    remote: Annotated[str, typer.Argument(help="Remote file or folder, or id:ITEM-ID")],
    local: Annotated[
        Path, typer.Argument(help="Local folder to put it in, or the new path")
    ] = Path("."),
    as_json: Json = False,
) -> None:
    """Download a file or a folder (an interrupted download resumes where it stopped)."""
    out = Out(as_json)
    with handled(out), connect() as drive:
        item = drive.get(spec(remote))
        dest = local / item.name if local.is_dir() and not item.is_root else local
        plan = _plan_download(drive, item, dest)
        todo = [t for t in plan if t.status == "pending"]
        with out.transfer_progress() as progress:
            progress.disable = progress.disable or not todo
            task = progress.add_task("get", total=sum(t.size for t in todo))
            done = 0
            for entry in todo:
                progress.update(task, description=entry.local.name)

                entry.local.parent.mkdir(parents=True, exist_ok=True)
                drive.download(
                    entry.remote, entry.local, on_progress=partial(_show, progress, task, done)
                )
                entry.status = "downloaded"
                done += entry.size
            progress.update(task, description="get")
        _report(out, plan, "get")


def _plan_download(drive: DriveClient, item: DriveItem, dest: Path) -> list[Transfer]:
    if not item.is_folder:
        entry = Transfer(dest, item.path, item.size)
        if dest.is_file() and same_content(dest, item):
            entry.status = "skipped"
        return [entry]
    dest.mkdir(parents=True, exist_ok=True)
    plan: list[Transfer] = []
    for child in drive.children(item):
        plan.extend(_plan_download(drive, child, dest / child.name))
    return plan


def same_content(local: Path, item: DriveItem) -> bool:
    """Same size and the same SHA-256 or SHA-1 (without either hash: not known to be equal)."""
    if local.stat().st_size != item.size:
        return False
    for key, algorithm in (("sha256Hash", "sha256"), ("sha1Hash", "sha1")):
        if key in item.hashes:
            digest = hashlib.new(algorithm)
            with local.open("rb") as f:
                for block in iter(lambda: f.read(1024 * 1024), b""):
                    digest.update(block)
            return digest.hexdigest().lower() == item.hashes[key].lower()
    return False


def _report(out: Out, plan: list[Transfer], verb: str) -> None:
    if out.as_json:
        out.json({"files": [t.as_json() for t in plan], "bytes": sum(t.size for t in plan)})
        return
    moved = [t for t in plan if t.status != "skipped"]
    skipped = len(plan) - len(moved)
    resumed = [t for t in plan if t.resumed_from]
    summary = f"{verb}: {len(moved)} file(s), {sum(t.size for t in moved)} bytes"
    if skipped:
        summary += f"; {skipped} already there"
    if resumed:
        summary += f"; resumed {len(resumed)} interrupted upload(s)"
    out.say(summary)
