"""Request-scoped helpers: the container, the caller, the addressed item, absolute URLs."""

from __future__ import annotations

from typing import Any, cast

from fastapi import Request

from graphdrive.auth import Principal, bearer_token
from graphdrive.bootstrap import Container
from graphdrive.domain.items import Drive, Item, Located
from graphdrive.resources.drive_item import drive_item
from graphdrive.service.drives import ME, Address


def container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


async def principal(request: Request) -> Principal:
    """The authenticated caller (401 otherwise), within their request rate (429 otherwise)."""
    token = bearer_token(request.headers.get("authorization"))
    who = await container(request).verifier.verify(token)
    request.app.state.throttle.check(who.user_id)
    return who


def address(request: Request, item_id: str | None = None) -> Address:
    drive = request.path_params.get("drive_id", ME)
    path = request.scope.get("state", {}).get("item_path", ())
    return Address(drive=drive, item=item_id or "root", path=tuple(path))


def base_url(request: Request) -> str:
    configured = container(request).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def api_base(request: Request) -> str:
    """Where the API lives, also when asked on the monitor's own listener."""
    settings = container(request).settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if getattr(request.app.state, "role", "api") == "monitor":
        return f"http://{settings.host}:{settings.port}"
    return base_url(request)


def select_fields(request: Request) -> set[str] | None:
    raw = request.query_params.get("$select") or request.query_params.get("select")
    return {f.strip() for f in raw.split(",")} if raw else None


def render_item(request: Request, loc: Located, drive: Drive) -> dict[str, Any]:
    download = None if loc.item.is_folder else download_url(request, loc.item)
    return drive_item(loc, drive=drive, download_url=download, select=select_fields(request))


def download_url(request: Request, item: Item) -> str:
    return f"{base_url(request)}/download/{container(request).downloads.token(item)}"


def original_path(request: Request) -> str:
    """The path as the client sent it (before addressing normalised it)."""
    path = request.scope.get("state", {}).get("original_path")
    return path if isinstance(path, str) else request.url.path


def monitor_base(request: Request) -> str:
    settings = container(request).settings
    if settings.monitor_url:
        return settings.monitor_url.rstrip("/")
    if settings.monitor_port:
        return f"http://{settings.host}:{settings.monitor_port}"
    return base_url(request)


def monitor_url(request: Request, token: str) -> str:
    return f"{monitor_base(request)}/monitor/{token}"
