"""Graph item addressing, normalised before routing.

Graph names items by id (``/items/{id}``), by root (``/root``) and by path
(``/root:/a/b:/content``, ``/items/{id}:/rel/path:``, trailing colon optional, whole segment
possibly percent-encoded). This ASGI middleware rewrites every form to
``/v1.0/{drive}/items/{id-or-root}/{action}`` and leaves the relative path in
``scope["state"]["item_path"]``, so routes deal with one shape. ``/v2.0`` and ``/drive`` are
aliases of ``/v1.0`` and ``/me/drive``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

_DRIVE = re.compile(r"^/v[12]\.0(?P<drive>/me/drive|/drive|/drives/[^/:]+)(?P<rest>/.*)?$")
_ITEM_BY_PATH = re.compile(r"^/(?:(?P<root>root)|items/(?P<id>[^/:]+)):(?P<remainder>.*)$")
_ROOT = re.compile(r"^/root(?P<action>/.*)?$")


def normalise(path: str) -> tuple[str, tuple[str, ...] | None]:
    """Return the canonical route path and the relative item path (None if not path-addressed)."""
    if path.startswith("/v2.0/"):
        path = "/v1.0/" + path.removeprefix("/v2.0/")
    match = _DRIVE.match(path)
    if not match:
        return path, None
    drive = match["drive"]
    if drive == "/drive":
        drive = "/me/drive"
    rest = match["rest"] or ""
    by_path = _ITEM_BY_PATH.match(rest)
    if by_path:
        base = "root" if by_path["root"] else by_path["id"]
        relative, _, action = by_path["remainder"].partition(":")
        segments = tuple(s for s in relative.split("/") if s)
        return f"/v1.0{drive}/items/{base}{action.rstrip('/')}", segments
    root = _ROOT.match(rest)
    if root:
        return f"/v1.0{drive}/items/root{root['action'] or ''}", None
    return f"/v1.0{drive}{rest}", None


class AddressingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, segments = normalise(scope["path"])
            if path != scope["path"] or segments is not None:
                # In place, so outer middleware sees the route the router picks.
                original = scope["path"]
                scope["path"] = path
                scope["raw_path"] = quote(path).encode()
                state = dict(scope.get("state") or {})
                state["item_path"] = segments or ()
                state["original_path"] = original
                scope["state"] = state
        await self.app(scope, receive, send)
