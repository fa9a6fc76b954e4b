"""What the CLI remembers between runs, in the user's config dir (``typer.get_app_dir``):

- ``login.json``: the server URL and token saved by ``graphdrive login`` (mode 0600);
  ``GRAPHDRIVE_URL`` and ``GRAPHDRIVE_TOKEN`` override either;
- ``uploads.json``: the session URL of each upload in flight, so that running the same ``put``
  again resumes it instead of starting over.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from graphdrive.client import DriveClient

URL_ENV = "GRAPHDRIVE_URL"
TOKEN_ENV = "GRAPHDRIVE_TOKEN"  # noqa: S105 - a variable name, not a secret
# Upload sessions on graphdrive live an hour after their last fragment; Graph's a few days.
UPLOAD_STATE_TTL_S = 7 * 24 * 3600


def config_dir() -> Path:
    return Path(typer.get_app_dir("graphdrive"))


@dataclass(frozen=True, slots=True)
class Login:
    url: str
    token: str

    def __repr__(self) -> str:
        return f"Login(url={self.url!r}, token=<hidden>)"


class NotLoggedIn(Exception):
    pass


def load_login() -> Login:
    """The saved login with the environment laid over it."""
    saved = _read_json(config_dir() / "login.json")
    url = os.environ.get(URL_ENV) or saved.get("url")
    token = os.environ.get(TOKEN_ENV) or saved.get("token")
    if not isinstance(url, str) or not url or not isinstance(token, str) or not token:
        raise NotLoggedIn(
            "Not logged in: run `graphdrive login URL` (or set GRAPHDRIVE_URL and "
            "GRAPHDRIVE_TOKEN)."
        )
    return Login(url, token)


def save_login(login: Login) -> Path:
    path = config_dir() / "login.json"
    _write_private(path, {"url": login.url, "token": login.token})
    return path


class UploadState:
    """Session URLs of unfinished uploads, keyed by what is uploaded where."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "uploads.json"

    @staticmethod
    def key(api_root: str, remote: str, local: Path) -> str:
        stat = local.stat()
        raw = f"{api_root}\0{remote}\0{local.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        entry = _read_json(self.path).get(key)
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            return None
        return entry["url"] if time.time() - entry.get("at", 0) < UPLOAD_STATE_TTL_S else None

    def put(self, key: str, url: str) -> None:
        entries = self._fresh()
        entries[key] = {"url": url, "at": time.time()}
        _write_private(self.path, entries)

    def drop(self, key: str) -> None:
        entries = self._fresh()
        if entries.pop(key, None) is not None or self.path.exists():
            _write_private(self.path, entries)

    def _fresh(self) -> dict[str, Any]:
        now = time.time()
        return {
            k: v
            for k, v in _read_json(self.path).items()
            if isinstance(v, dict) and now - v.get("at", 0) < UPLOAD_STATE_TTL_S
        }


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, readable by the user only (the file may hold a token or secret URLs)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    tmp.replace(path)


def connect(login: Login | None = None) -> DriveClient:
    """A client for the saved (or given) login."""
    from graphdrive.client import DriveClient

    login = login or load_login()
    return DriveClient(login.url, login.token)
