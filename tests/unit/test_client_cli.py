"""The CLI's own logic without a server: saved login, environment overrides, upload state, sizes,
and the mapping of errors to exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from graphdrive.client import (
    ApiError,
    AuthError,
    MonitorExpired,
    NotFoundError,
    OperationCancelled,
    OperationFailed,
    TransportError,
)
from graphdrive.client.commands import config, register
from graphdrive.client.commands.output import Out, handled
from graphdrive.client.commands.transfer import parse_size


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv(config.URL_ENV, raising=False)
    monkeypatch.delenv(config.TOKEN_ENV, raising=False)
    return tmp_path / "cfg" / "graphdrive"


def test_login_is_saved_privately_and_the_environment_overrides_it(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(config.NotLoggedIn):
        config.load_login()
    path = config.save_login(config.Login("http://a:1", "tok-a"))
    assert path == config_home / "login.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.load_login() == config.Login("http://a:1", "tok-a")
    monkeypatch.setenv(config.URL_ENV, "http://b:2")
    assert config.load_login() == config.Login("http://b:2", "tok-a")
    monkeypatch.setenv(config.TOKEN_ENV, "tok-b")
    assert config.load_login() == config.Login("http://b:2", "tok-b")
    assert "tok-b" not in repr(config.load_login())


def test_upload_state_remembers_sessions_per_file(tmp_path: Path) -> None:
    local = tmp_path / "f.bin"
    local.write_bytes(b"x" * 10)
    state = config.UploadState()
    key = config.UploadState.key("http://a/v1.0", "/f.bin", local)
    assert state.get(key) is None
    state.put(key, "http://a/upload/1")
    assert config.UploadState().get(key) == "http://a/upload/1"
    local.write_bytes(b"y" * 11)  # a changed file is a different upload
    assert config.UploadState.key("http://a/v1.0", "/f.bin", local) != key
    state.drop(key)
    assert state.get(key) is None


@pytest.mark.parametrize(
    ("text", "size"),
    [("327680", 327680), ("320K", 327680), ("10M", 10 * 1024**2), ("1GiB", 1024**3)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bad_sizes_are_usage_errors() -> None:
    with pytest.raises(ValueError):
        parse_size("lots")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (config.NotLoggedIn("no"), 4),
        (AuthError(401, "unauthenticated", "bad token"), 4),
        (NotFoundError(404, "itemNotFound", "nope"), 3),
        (MonitorExpired("gone"), 3),
        (OperationFailed("nameAlreadyExists", "taken"), 1),
        (OperationCancelled("cancelled"), 1),
        (ApiError(400, "invalidRequest", "bad"), 1),
        (TransportError("refused"), 1),
        (ValueError("bad argument"), 2),
        (KeyboardInterrupt(), 130),
    ],
)
def test_errors_become_exit_codes(
    exc: BaseException, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as caught, handled(Out(as_json=True)):
        raise exc
    assert caught.value.exit_code == code
    if code != 130:
        printed = json.loads(capsys.readouterr().out)
        assert printed["error"]["exitCode"] == code


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def test_commands_without_a_login_exit_4() -> None:
    result = CliRunner().invoke(cli(), ["ls", "--json"])
    assert result.exit_code == 4
    assert json.loads(result.stdout)["error"]["code"] == "notLoggedIn"


def test_usage_errors_exit_2() -> None:
    assert CliRunner().invoke(cli(), ["cp", "/only-one-arg"]).exit_code == 2
    assert CliRunner().invoke(cli(), ["ops", "watch"]).exit_code == 2


def test_every_command_has_json() -> None:
    runner = CliRunner()
    for command in (
        ["login"],
        ["ls"],
        ["tree"],
        ["mkdir"],
        ["stat"],
        ["put"],
        ["get"],
        ["mv"],
        ["rm"],
        ["cp"],
        ["ops", "ls"],
        ["ops", "watch"],
        ["ops", "cancel"],
    ):
        result = runner.invoke(cli(), [*command, "--help"])
        assert result.exit_code == 0, command
        assert "--json" in result.stdout, command
