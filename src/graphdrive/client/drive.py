"""The async client: items, transfers and long-running copies on one drive."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from graphdrive.client import transfers
from graphdrive.client.errors import ConflictError, NotFoundError, ProtocolError
from graphdrive.client.http import HttpCore, Timeout, TokenProvider, json_body
from graphdrive.client.models import DriveItem, OperationInfo
from graphdrive.client.operation import AsyncOperation
from graphdrive.client.retry import Clock, RetryPolicy
from graphdrive.client.transfers import ByteProgress, Source
from graphdrive.client.urls import (
    ItemSpec,
    api_root,
    describe,
    drive_base,
    item_url,
    parent_and_name,
    split_path,
)

CONFLICT = "@microsoft.graph.conflictBehavior"


class AsyncDriveClient:
    """A Graph drive (graphdrive, or Microsoft Graph itself) over httpx, asynchronously.

    ``base_url`` is the server (``http://127.0.0.1:8080``, ``/v1.0`` is added) or the API root
    (``https://graph.microsoft.com/v1.0``). ``token`` is a bearer token, or a callable returning
    one (sync or async; called for every request). ``drive_id`` picks a drive other than the
    caller's own. Items are named by path (``"/a/b.txt"``), :class:`ById`, or a
    :class:`DriveItem`. Use as ``async with AsyncDriveClient(...) as client:``.
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
        self.api_root = api_root(base_url)
        self.drive = drive_base(drive_id)
        self._http = HttpCore(
            self.api_root, token, timeout=timeout, retry=retry, transport=transport, clock=clock
        )

    def __repr__(self) -> str:
        return f"AsyncDriveClient({self.api_root!r}, drive={self.drive!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncDriveClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- items ---------------------------------------------------------------------------

    async def get(self, item: ItemSpec) -> DriveItem:
        """The item; raises :class:`NotFoundError` if there is none."""
        try:
            response = await self._http.api("GET", item_url(self.drive, item))
        except NotFoundError as exc:
            raise NotFoundError(
                exc.status, exc.code, f"{describe(item)}: {exc.message}", request_id=exc.request_id
            ) from exc
        return DriveItem.from_json(json_body(response))

    async def find(self, item: ItemSpec) -> DriveItem | None:
        """The item, or None if there is none."""
        try:
            return await self.get(item)
        except NotFoundError:
            return None

    async def children(
        self, item: ItemSpec = "/", *, page_size: int | None = None
    ) -> list[DriveItem]:
        """Every child of a folder, following ``@odata.nextLink`` to the last page."""
        params = {"$top": str(page_size)} if page_size else None
        values = await self._collect(item_url(self.drive, item, "children"), params)
        return [DriveItem.from_json(v) for v in values]

    async def mkdir(self, path: str, *, parents: bool = False) -> DriveItem:
        """Create a folder. With ``parents=True`` missing parents are made too and an existing
        folder is returned (like ``mkdir -p``); otherwise an existing name raises
        :class:`ConflictError`."""
        if not parents:
            parent, name = parent_and_name(path)
            return await self._create_folder(parent, name)
        parts = split_path(path)
        current = await self.get("/")
        for depth, name in enumerate(parts, start=1):
            sub = "/" + "/".join(parts[:depth])
            found = await self.find(sub)
            if found is None:
                try:
                    found = await self._create_folder(current, name)
                except ConflictError:  # someone else made it meanwhile
                    found = await self.get(sub)
            if not found.is_folder:
                raise ConflictError(409, "nameAlreadyExists", f"{sub} is a file, not a folder.")
            current = found
        return current

    async def _create_folder(self, parent: ItemSpec, name: str) -> DriveItem:
        body = {"name": name, "folder": {}, CONFLICT: "fail"}
        response = await self._http.api("POST", item_url(self.drive, parent, "children"), json=body)
        return DriveItem.from_json(json_body(response))

    async def move(
        self, item: ItemSpec, dest_folder: ItemSpec, *, name: str | None = None
    ) -> DriveItem:
        """Move an item into another folder (optionally renaming it on the way)."""
        dest = await self._folder(dest_folder)
        body: dict[str, Any] = {"parentReference": {"id": dest.id}}
        if name:
            body["name"] = name
        return await self._patch(item, body)

    async def rename(self, item: ItemSpec, name: str) -> DriveItem:
        """Give an item a new name in the same folder."""
        return await self._patch(item, {"name": name})

    async def _patch(self, item: ItemSpec, body: dict[str, Any]) -> DriveItem:
        response = await self._http.api("PATCH", item_url(self.drive, item), json=body)
        return DriveItem.from_json(json_body(response))

    async def delete(self, item: ItemSpec) -> None:
        """Delete an item (a folder with everything in it)."""
        await self._http.api("DELETE", item_url(self.drive, item))

    # --- content ---------------------------------------------------------------------------

    async def upload(
        self,
        source: Source,
        remote: ItemSpec,
        *,
        conflict: str = "replace",
        chunk_size: int = transfers.DEFAULT_CHUNK_SIZE,
        simple_limit: int = transfers.SIMPLE_UPLOAD_LIMIT,
        on_progress: ByteProgress | None = None,
        resume_url: str | None = None,
        on_session: Callable[[str], None] | None = None,
    ) -> DriveItem:
        """Upload a local file (a path) or bytes to ``remote`` (a file path, or an item whose
        content to replace).

        Up to ``simple_limit`` bytes go in one ``PUT``; larger ones through an upload session in
        ``chunk_size`` fragments (a multiple of 320 KiB). A broken fragment is resumed where the
        session says. ``on_session(url)`` receives the session URL as soon as it exists: keep it
        and pass it back as ``resume_url`` to resume an interrupted upload in a later call or
        process (an expired session starts over). ``conflict``: replace | fail | rename.
        """
        opts = transfers.UploadOptions(
            conflict, chunk_size, simple_limit, on_progress, resume_url, on_session
        )
        return await transfers.upload(self._http, self.drive, source, remote, opts)

    async def download(
        self,
        item: ItemSpec,
        dest: str | PathLike[str],
        *,
        on_progress: ByteProgress | None = None,
        resume: bool = True,
    ) -> Path:
        """Stream a file to ``dest`` (a file path, or a folder to put it in); returns the path.

        Bytes collect in a hidden ``.part`` file next to ``dest`` that is renamed into place at
        the end; an interrupted download resumes from it with ``Range`` (``resume=False``
        starts over). A broken connection is resumed within the call too.
        """
        return await transfers.download(
            self._http, self.drive, item, Path(dest), on_progress=on_progress, resume=resume
        )

    # --- long-running actions --------------------------------------------------------------

    async def copy(
        self,
        item: ItemSpec,
        dest_folder: ItemSpec,
        *,
        name: str | None = None,
        conflict: str = "fail",
        children_only: bool = False,
        idempotency_key: str | None = None,
    ) -> AsyncOperation:
        """Start a server-side copy into ``dest_folder``; returns the operation to watch.

        ``conflict``: fail | rename | replace. ``children_only`` copies a folder's children
        rather than the folder itself. The same ``idempotency_key`` starts a copy only once.
        """
        dest = await self._folder(dest_folder)
        reference: dict[str, Any] = {"id": dest.id}
        if dest.drive_id:
            reference["driveId"] = dest.drive_id
        body: dict[str, Any] = {"parentReference": reference}
        if name:
            body["name"] = name
        if children_only:
            body["childrenOnly"] = True
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = await self._http.api(
            "POST",
            item_url(self.drive, item, "copy"),
            params={CONFLICT: conflict},
            json=body,
            headers=headers,
        )
        location = response.headers.get("location")
        if response.status_code != 202 or not location:
            raise ProtocolError(
                f"A copy must answer 202 with a monitor Location (got {response.status_code})."
            )
        return AsyncOperation(self._http, location, drive=self.drive)

    def operation(self, url_or_id: str) -> AsyncOperation:
        """An operation by monitor URL (polled without the token) or by graphdrive operation id
        (polled on the owner's ``/me/drive/operations/{id}``, with the token)."""
        if url_or_id.startswith(("http://", "https://")):
            return AsyncOperation(self._http, url_or_id, drive=self.drive)
        url = f"{self.api_root}/me/drive/operations/{quote(url_or_id, safe='')}"
        return AsyncOperation(self._http, url, authenticated=True, drive=self.drive)

    async def operations(self, *, status: Iterable[str] | None = None) -> list[OperationInfo]:
        """The caller's long-running actions, newest first (a graphdrive extension of Graph)."""
        wanted = ",".join(status or ())
        values = await self._collect("/me/drive/operations", {"status": wanted} if wanted else None)
        return [OperationInfo.from_json(v) for v in values if isinstance(v, dict)]

    async def _collect(self, url: str, params: dict[str, str] | None) -> list[Any]:
        """Every entry of a paged collection, following ``@odata.nextLink`` to the end."""
        values: list[Any] = []
        next_url: str | None = url
        while next_url is not None:
            page = json_body(await self._http.api("GET", next_url, params=params))
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise ProtocolError("Expected a collection page ({'value': [...]}).")
            values.extend(page["value"])
            link = page.get("@odata.nextLink")
            next_url, params = (link if isinstance(link, str) else None), None
        return values

    async def _folder(self, item: ItemSpec) -> DriveItem:
        folder = item if isinstance(item, DriveItem) else await self.get(item)
        if not folder.is_folder:
            raise ValueError(f"{describe(item)} is not a folder.")
        return folder
