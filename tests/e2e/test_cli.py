"""The `graphdrive` command line: `token` output and validity, `serve` start-up banner."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import ok
from .server import CLI_TIMEOUT_S, ServerProcess, clean_env, run_cli

pytestmark = pytest.mark.e2e

JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def b64url_json(part: str) -> dict[str, Any]:
    decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert isinstance(decoded, dict)
    return decoded


def assert_jwt(token: str) -> None:
    parts = token.split(".")
    assert len(parts) == 3, f"not a JWT: {token!r}"
    assert all(parts), f"empty JWT part: {token!r}"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", part) for part in parts), token
    assert "alg" in b64url_json(parts[0])
    b64url_json(parts[1])


def test_token_prints_exactly_one_jwt_line(server: ServerProcess) -> None:
    proc = run_cli("token", "--user", "cli-user", "--data-dir", str(server.data_dir))
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, f"expected one line on stdout, got {proc.stdout!r}"
    assert proc.stdout.endswith("\n") or proc.stdout == lines[0]
    assert_jwt(lines[0].strip())
    assert lines[0] == lines[0].strip()


def test_token_default_scopes_can_write(server: ServerProcess) -> None:
    token = run_cli("token", "--user", "cli-writer", "--data-dir", str(server.data_dir))
    with server.client(token.stdout.strip()) as client:
        root = ok(client.get("/me/drive/root"))
        response = client.post(
            f"/me/drive/items/{root['id']}/children", json={"name": "from-cli", "folder": {}}
        )
        ok(response, 201)


def test_token_with_read_scope(server: ServerProcess) -> None:
    proc = run_cli(
        "token",
        "--user",
        "cli-reader",
        "--scopes",
        "Files.Read",
        "--data-dir",
        str(server.data_dir),
    )
    assert len(proc.stdout.splitlines()) == 1
    with server.client(proc.stdout.strip()) as client:
        root = ok(client.get("/me/drive/root"))
        response = client.post(
            f"/me/drive/items/{root['id']}/children", json={"name": "nope", "folder": {}}
        )
        assert response.status_code == 403


def test_token_without_user_fails(server: ServerProcess) -> None:
    proc = run_cli("token", "--data-dir", str(server.data_dir), check=False)
    assert proc.returncode != 0
    assert not JWT.search(proc.stdout)


def test_console_script_is_installed(server: ServerProcess) -> None:
    script = Path(sys.executable).parent / "graphdrive"
    assert script.exists(), f"no console script at {script}"
    proc = subprocess.run(
        [str(script), "token", "--user", "script-user", "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert_jwt(proc.stdout.strip())


def test_help_lists_commands() -> None:
    proc = run_cli("--help")
    assert "serve" in proc.stdout
    assert "token" in proc.stdout


def test_tokens_minted_before_first_start_are_valid(spawn_server: Any, tmp_path: Path) -> None:
    """A fresh data dir: `token` creates the secret; the server started later accepts it.

    Both ways of naming the data dir are used: `--data-dir` and `GRAPHDRIVE_DATA_DIR`.
    """
    data_dir = tmp_path / "fresh"
    by_flag = run_cli("token", "--user", "early", "--data-dir", str(data_dir)).stdout.strip()
    by_env = run_cli(
        "token", "--user", "early-env", env={"GRAPHDRIVE_DATA_DIR": str(data_dir)}
    ).stdout.strip()
    with spawn_server(data_dir=data_dir) as srv:
        for token in (by_flag, by_env):
            with srv.client(token) as client:
                ok(client.get("/me/drive"))


def test_data_survives_a_restart(spawn_server: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "persistent"
    with spawn_server(data_dir=data_dir) as srv, srv.client(srv.token("alice")) as client:
        root = ok(client.get("/me/drive/root"))
        folder = ok(
            client.post(
                f"/me/drive/items/{root['id']}/children", json={"name": "kept", "folder": {}}
            ),
            201,
        )
        ok(client.put(f"/me/drive/items/{folder['id']}:/k.txt:/content", content=b"kept"), 201)
        drive_id = ok(client.get("/me/drive"))["id"]
    with spawn_server(data_dir=data_dir) as srv, srv.client(srv.token("alice")) as client:
        assert ok(client.get("/me/drive"))["id"] == drive_id
        item = ok(client.get("/me/drive/root:/kept/k.txt"))
        assert item["size"] == 4
        location = client.get(f"/me/drive/items/{item['id']}/content").headers["location"]
        assert httpx.get(location).content == b"kept"


def test_serve_prints_base_url_token_and_curl(server: ServerProcess) -> None:
    banner = server.stdout() + server.stderr()
    assert server.origin in banner, banner
    assert "curl" in banner, banner
    match = JWT.search(banner)
    assert match, f"no token in the start-up output:\n{banner}"
    with server.client(match.group(0)) as client:
        ok(client.get("/me/drive"))
