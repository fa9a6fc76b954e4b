"""Fixtures for the end-to-end suite.

One server process serves the whole session (tests that need special settings, such as a tiny
upload limit, start their own with `running_server`). Drives are shared between tests, so every
test works inside its own uniquely named folder (`workspace`, `bob_workspace`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import make_folder, ok, unique
from .server import ServerProcess, quick_token, running_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    with running_server(data_dir) as srv:
        yield srv


@pytest.fixture(scope="session")
def spawn_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Start an extra server with its own data dir and settings: `with spawn_server(env) as s:`."""

    def spawn(env: dict[str, str] | None = None, data_dir: Path | None = None) -> Any:
        return running_server(data_dir or tmp_path_factory.mktemp("extra") / "data", env)

    return spawn


@pytest.fixture(scope="session")
def alice_token(server: ServerProcess) -> str:
    return server.token("alice")


@pytest.fixture(scope="session")
def bob_token(server: ServerProcess) -> str:
    return server.token("bob")


@pytest.fixture(scope="session")
def carol_token(server: ServerProcess) -> str:
    """A read-only token (Files.Read)."""
    return server.token("carol", scopes="Files.Read")


@pytest.fixture(scope="session")
def carol_rw_token(server: ServerProcess) -> str:
    """Carol with write access: sets up the items her read-only token then tries to change."""
    return server.token("carol", scopes="Files.ReadWrite")


@pytest.fixture(scope="session")
def alice(server: ServerProcess, alice_token: str) -> Iterator[httpx.Client]:
    with server.client(alice_token) as client:
        yield client


@pytest.fixture(scope="session")
def bob(server: ServerProcess, bob_token: str) -> Iterator[httpx.Client]:
    with server.client(bob_token) as client:
        yield client


@pytest.fixture(scope="session")
def carol(server: ServerProcess, carol_token: str) -> Iterator[httpx.Client]:
    with server.client(carol_token) as client:
        yield client


@pytest.fixture(scope="session")
def carol_rw(server: ServerProcess, carol_rw_token: str) -> Iterator[httpx.Client]:
    with server.client(carol_rw_token) as client:
        yield client


@pytest.fixture(scope="session")
def anonymous(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client(None) as client:
        yield client


@pytest.fixture(scope="session")
def alice_drive(alice: httpx.Client) -> dict[str, Any]:
    return ok(alice.get("/me/drive"))


@pytest.fixture(scope="session")
def alice_root(alice: httpx.Client) -> dict[str, Any]:
    return ok(alice.get("/me/drive/root"))


@pytest.fixture
def workspace(alice: httpx.Client, alice_root: dict[str, Any]) -> dict[str, Any]:
    """A fresh, uniquely named folder under alice's root for one test."""
    return make_folder(alice, alice_root["id"], unique("ws"))


@pytest.fixture
def bob_workspace(bob: httpx.Client) -> dict[str, Any]:
    root = ok(bob.get("/me/drive/root"))
    return make_folder(bob, root["id"], unique("bobws"))


# --- long-running actions ---------------------------------------------------------------------


@pytest.fixture
def fresh_user(server: ServerProcess) -> Iterator[Callable[..., httpx.Client]]:
    """`fresh_user("prefix")` → a client for a brand-new user of the session server.

    For tests that need an empty drive (fixed root paths such as `/Documents`) or exact counts
    in the user's operation list.
    """
    clients: list[httpx.Client] = []

    def make(prefix: str = "user", scopes: str | None = None) -> httpx.Client:
        client = server.client(quick_token(server.data_dir, unique(prefix), scopes))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def idle_server(spawn_server: Any) -> Iterator[ServerProcess]:
    """A server with no workers (GRAPHDRIVE_WORKERS=0): accepted operations stay notStarted."""
    with spawn_server({"GRAPHDRIVE_WORKERS": "0"}) as srv:
        yield srv


@pytest.fixture(scope="session")
def idle_alice(idle_server: ServerProcess) -> Iterator[httpx.Client]:
    with idle_server.client(quick_token(idle_server.data_dir, "alice")) as client:
        yield client
