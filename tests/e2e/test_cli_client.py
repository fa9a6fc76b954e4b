"""The client commands of `graphdrive` against a live server, as a user runs them.

Each test is a new user with a config dir of its own. Most commands run in this process
(Typer's runner; the HTTP is real); the live progress bar, Ctrl-C and an interrupted upload run
as `python -m graphdrive` processes, with real signals. Copies that take a few seconds come from
a server seeded with a large tree and tiny copy batches; copies that never start (to cancel
them) from the server with no workers.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from graphdrive.client import DriveClient
from graphdrive.client.commands import register

from .helpers import unique
from .server import ServerProcess, clean_env, database_env, free_port, quick_token

pytestmark = pytest.mark.e2e

SEEDED_ITEMS = 6000
CLI_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


@functools.cache
def client_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def gd(
    *args: str | Path,
    env: dict[str, str],
    code: int | None = 0,
    stdin: str | None = None,
    process: bool = False,
) -> Ran:
    """Run `graphdrive ARGS…` and check its exit code (unless `code` is None).

    In this process by default (Typer's runner: fast), or as `python -m graphdrive` with
    ``process=True`` (the installed entry point, real signals and terminals).
    """
    argv = [str(a) for a in args]
    if process:
        proc = subprocess.run(
            [sys.executable, "-m", "graphdrive", *argv],
            capture_output=True,
            text=True,
            env=clean_env(env),
            input=stdin,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        ran = Ran(proc.returncode, proc.stdout, proc.stderr)
    else:
        scrubbed: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith("GRAPHDRIVE_")
        }
        result = CliRunner().invoke(client_app(), argv, env={**scrubbed, **env}, input=stdin)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"graphdrive {' '.join(argv)} raised") from result.exception
        ran = Ran(result.exit_code, result.stdout, result.stderr)
    if code is not None and ran.code != code:
        raise AssertionError(
            f"graphdrive {' '.join(argv)} exited {ran.code}, expected {code}\n"
            f"stdout:\n{ran.stdout}\nstderr:\n{ran.stderr}"
        )
    return ran


def gd_json(*args: str | Path, env: dict[str, str], code: int = 0) -> Any:
    return json.loads(gd(*args, "--json", env=env, code=code).stdout)


def spawn(args: list[str | Path], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "graphdrive", *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(env),
    )


def user_env(server: ServerProcess, home: Path, user: str | None = None) -> dict[str, str]:
    """A user of `server` with a config dir of their own (no login saved)."""
    return {
        "XDG_CONFIG_HOME": str(home / "config"),
        "GRAPHDRIVE_URL": server.origin,
        "GRAPHDRIVE_TOKEN": quick_token(server.data_dir, user or unique("cli")),
        "COLUMNS": "160",
    }


def drive(env: dict[str, str]) -> DriveClient:
    """The same user through the Python client: for setting up and checking, not under test."""
    return DriveClient(env["GRAPHDRIVE_URL"], env["GRAPHDRIVE_TOKEN"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return user_env(server, tmp_path)


@pytest.fixture(scope="module")
def copier(spawn_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose user `copier` has /Big (6,000 items) and copies 20 items per batch, so a
    copy of /Big takes a few seconds and reports progress along the way."""
    data_dir = tmp_path_factory.mktemp("copier") / "data"
    seed = [sys.executable, "-m", "graphdrive.devtools.seed", "--data-dir", str(data_dir)]
    seed += ["--user", "copier", "--name", "Big", "--items", str(SEEDED_ITEMS)]
    subprocess.run(
        seed, check=True, capture_output=True, env=clean_env(database_env(data_dir)), timeout=120
    )
    with spawn_server({"GRAPHDRIVE_COPY_BATCH_SIZE": "20"}, data_dir=data_dir) as srv:
        yield srv


@pytest.fixture
def copier_env(copier: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return user_env(copier, tmp_path, "copier")


# --- files --------------------------------------------------------------------------------


def test_login_then_file_commands(server: ServerProcess, tmp_path: Path) -> None:
    creds = user_env(server, tmp_path)
    token = creds.pop("GRAPHDRIVE_TOKEN")
    url = creds.pop("GRAPHDRIVE_URL")
    gd("ls", env=creds, code=4, process=True)  # not logged in yet (and the entry point works)
    gd("login", url, "--token", "not-a-token", env=creds, code=4)
    login = gd_json("login", url, "--token", token, env=creds)
    saved = Path(login["config"])
    assert json.loads(saved.read_text()) == {"url": url, "token": token}
    assert saved.stat().st_mode & 0o077 == 0

    ws = "/" + unique("ws")
    made = gd_json("mkdir", "-p", f"{ws}/a/b", env=creds)
    assert made["path"] == f"{ws}/a/b" and "folder" in made
    gd("mkdir", f"{ws}/a", env=creds, code=1)  # exists, no -p
    listed = gd("ls", "-l", f"{ws}/a", env=creds).stdout
    assert "b/" in listed and "0 items" in listed
    gd("mv", f"{ws}/a/b", f"{ws}/c", env=creds)  # a move and a rename at once
    moved = gd_json("mv", f"{ws}/c", f"{ws}/a", env=creds)  # into an existing folder
    assert moved["path"] == f"{ws}/a/c"
    assert gd_json("stat", f"id:{moved['id']}", env=creds)["name"] == "c"
    tree = gd_json("tree", ws, env=creds)
    assert tree["children"][0]["children"][0]["name"] == "c"
    gd("rm", f"{ws}/a", env=creds, code=2)  # a folder with something in it needs -r
    gd("rm", "-r", f"{ws}/a", env=creds)
    missing = gd_json("ls", f"{ws}/a", env=creds, code=3)
    assert missing["error"]["code"] == "itemNotFound"


def test_put_get_round_trip_of_a_folder_with_a_large_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    src = tmp_path / "album"
    (src / "raw" / "deep").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "notes.txt").write_text("notes\n")
    (src / "raw" / "a photo.jpg").write_bytes(os.urandom(70_000))
    (src / "raw" / "deep" / "large.bin").write_bytes(os.urandom(6 * 1024 * 1024 + 123))
    ws = "/" + unique("ws")
    put = gd_json("put", src, f"{ws}/", "--chunk-size", "640K", env=env)
    assert sorted(f["remote"] for f in put["files"]) == [
        f"{ws}/album/notes.txt",
        f"{ws}/album/raw/a photo.jpg",
        f"{ws}/album/raw/deep/large.bin",
    ]
    assert {f["status"] for f in put["files"]} == {"uploaded"}
    with drive(env) as me:
        large = me.get(f"{ws}/album/raw/deep/large.bin")
    assert large.hashes["sha256Hash"].lower() == sha256(src / "raw/deep/large.bin")

    again = gd_json("put", src, ws, env=env)  # everything is already there
    assert {f["status"] for f in again["files"]} == {"skipped"}

    out = tmp_path / "back"
    out.mkdir()
    got = gd("get", f"{ws}/album", out, env=env)
    assert "get: 3 file(s)" in got.stdout
    for path in src.rglob("*"):
        twin = out / "album" / path.relative_to(src)
        assert twin.is_dir() if path.is_dir() else twin.read_bytes() == path.read_bytes(), path
    assert not list(out.rglob("*.part"))


def test_an_interrupted_put_resumes_its_upload_session(env: dict[str, str], tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(24 * 1024 * 1024))
    ws = "/" + unique("ws")
    state = Path(env["XDG_CONFIG_HOME"]) / "graphdrive" / "uploads.json"
    args: list[str | Path] = ["put", big, f"{ws}/", "--chunk-size", "320K"]

    first = spawn(args, env)
    offset = 0
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=10) as bare:
        while offset == 0:
            assert time.monotonic() < deadline and first.poll() is None, first.communicate()
            entries = json.loads(state.read_text()) if state.exists() else {}
            if entries:
                (session_url,) = [e["url"] for e in entries.values()]
                ranges = bare.get(session_url).json()["nextExpectedRanges"]
                offset = int(ranges[0].split("-")[0])
            time.sleep(0.01)
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=30)
        assert first.returncode == 130, err
        assert "run the same command again to resume" in err
        stopped_at = int(bare.get(session_url).json()["nextExpectedRanges"][0].split("-")[0])
    assert 0 < stopped_at < big.stat().st_size

    second = gd_json(*args, env=env)
    (entry,) = second["files"]
    assert entry["status"] == "resumed" and entry["resumedFrom"] >= stopped_at
    with drive(env) as me:
        item = me.get(f"{ws}/big.bin")
    assert item.size == big.stat().st_size
    assert item.hashes["sha256Hash"].lower() == sha256(big)
    assert json.loads(state.read_text()) == {}  # nothing left to resume


# --- long-running copies ------------------------------------------------------------------


def test_cp_shows_live_progress_until_completed(copier_env: dict[str, str]) -> None:
    name = unique("Copy")
    live = {**copier_env, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "NO_COLOR": "1"}
    proc = gd("cp", "/Big", f"/{name}", env=live, process=True)
    assert f"completed: /{name}" in proc.stdout
    percents = {int(p) for p in re.findall(r"(\d+)%", proc.stderr)}
    assert 100 in percents and len(percents - {0, 100}) >= 1, percents  # it moved while we watched
    assert "ETA" in proc.stderr and re.search(r"\d:\d\d:\d\d", proc.stderr)
    with drive(copier_env) as me:
        copied, source = me.get(f"/{name}"), me.get("/Big")
    assert (copied.size, copied.child_count) == (source.size, source.child_count)


def test_cp_no_wait_then_ops_ls_and_ops_watch(copier_env: dict[str, str], tmp_path: Path) -> None:
    name = unique("Copy")
    started = gd_json("cp", "/Big", f"/{name}", "--no-wait", env=copier_env)
    url = started["monitorUrl"]
    assert started["status"] == "accepted" and "/monitor/" in url
    newest = gd_json("ops", "ls", env=copier_env)[0]
    assert newest["operation"] == "ItemCopy" and newest.get("monitorUrl", url) == url

    watched = gd_json("ops", "watch", url, env=copier_env)
    assert watched["status"] == "completed"
    assert watched["item"]["path"] == f"/{name}"
    by_id = gd_json("ops", "watch", newest["id"], env=copier_env)
    assert by_id["report"]["resourceId"] == watched["report"]["resourceId"]
    # The monitor URL alone is enough: no login, no token.
    anonymous = {"XDG_CONFIG_HOME": str(tmp_path / "nobody")}
    assert "completed: id:" in gd("ops", "watch", url, env=anonymous).stdout


def test_a_monitor_on_its_own_port_that_finishes_with_303(
    spawn_server: Any, tmp_path: Path
) -> None:
    """The monitor on another origin, and "completed" as a 303 to the new item: the client
    reads the 303 (it does not follow it) and fetches the item from the API itself."""
    monitor_port = free_port()
    settings = {
        "GRAPHDRIVE_MONITOR_PORT": str(monitor_port),
        "GRAPHDRIVE_MONITOR_FINISHED_STATUS": "303",
    }
    with spawn_server(settings) as srv:
        env = user_env(srv, tmp_path)
        with drive(env) as me:
            me.mkdir("/a/b", parents=True)
        url = gd_json("cp", "/a", "/a2", "--no-wait", env=env)["monitorUrl"]
        assert url.startswith(f"http://127.0.0.1:{monitor_port}/monitor/")
        watched = gd_json("ops", "watch", url, env=env)
        assert (watched["status"], watched["item"]["path"]) == ("completed", "/a2")
        assert gd("cp", "/a", "/a3", env=env).stdout.strip() == "completed: /a3"


def test_a_failed_copy_exits_1_with_its_error_code(env: dict[str, str]) -> None:
    ws = "/" + unique("ws")
    with drive(env) as me:
        me.mkdir(f"{ws}/b/a", parents=True)
        me.mkdir(f"{ws}/a")
    failed = gd_json("cp", f"{ws}/a", f"{ws}/b", env=env, code=1)  # b/a is taken
    assert failed["error"]["code"] == "nameAlreadyExists"
    human = gd("cp", f"{ws}/a", f"{ws}/b", env=env, code=1)
    assert "the operation failed (nameAlreadyExists)" in human.stderr


def test_ops_cancel_and_an_expired_monitor(idle_server: ServerProcess, tmp_path: Path) -> None:
    env = user_env(idle_server, tmp_path)
    with drive(env) as me:
        me.mkdir("/src")
    url = gd_json("cp", "/src", "/dst", "--no-wait", env=env)["monitorUrl"]
    assert gd_json("ops", "ls", "--status", "notStarted", env=env)[0]["monitorUrl"] == url
    assert gd_json("ops", "cancel", url, env=env)["status"] == "cancelled"
    assert gd_json("ops", "watch", url, env=env, code=1)["error"]["code"] == "cancelled"
    gone = gd_json("ops", "watch", url.rsplit("/", 1)[0] + "/not-a-monitor", env=env, code=3)
    assert gone["error"]["code"] == "monitorExpired"


def _ctrl_c_while_copying(env: dict[str, str], answer: str) -> subprocess.Popen[str]:
    """Start `cp` on the worker-less server, wait until it is watching, press Ctrl-C."""
    with drive(env) as me:
        me.mkdir("/src", parents=True)
    proc = spawn(["cp", "/src", "/" + unique("dst")], env)
    assert proc.stdin is not None
    proc.stdin.write(answer)  # read by the prompt that Ctrl-C brings up
    proc.stdin.flush()
    with drive(env) as me:
        deadline = time.monotonic() + 20
        while not me.operations():  # the copy was accepted: the command is watching it now
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
    time.sleep(1.0)  # by now it is polling the monitor
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    return proc


def test_ctrl_c_then_cancel(idle_server: ServerProcess, tmp_path: Path) -> None:
    env = user_env(idle_server, tmp_path)
    proc = _ctrl_c_while_copying(env, "y\n")
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 1, err
    assert "Cancel the operation on the server?" in err and "cancelled" in err
    (op,) = gd_json("ops", "ls", env=env)
    assert op["status"] == "cancelled"


def test_ctrl_c_then_leave_it_running(idle_server: ServerProcess, tmp_path: Path) -> None:
    env = user_env(idle_server, tmp_path)
    proc = _ctrl_c_while_copying(env, "n\n")
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130, err
    match = re.search(r"graphdrive ops watch (\S+)", err)
    assert match, err
    (op,) = gd_json("ops", "ls", env=env)
    assert op["status"] == "notStarted" and op["monitorUrl"] == match[1]
    assert gd_json("ops", "cancel", op["id"], env=env)["status"] == "cancelled"
