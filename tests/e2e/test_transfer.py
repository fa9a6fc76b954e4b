"""`graphdrive transfer`: an embedded-default data dir moved to PostgreSQL + S3 keeps working."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import (
    BACKEND_ENV,
    POSTGRES_ENV,
    ServerProcess,
    quick_token,
    run_cli,
)
from tests.support.seaweed import SeaweedS3, seaweed_s3  # noqa: F401 - the fixture

pytestmark = [pytest.mark.e2e, pytest.mark.s3]


@pytest.fixture
def target_database() -> Iterator[str]:
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        pytest.skip(f"set {POSTGRES_ENV}=postgresql://postgres@127.0.0.1:5432/test (CI does)")
    if os.environ.get(BACKEND_ENV) == "postgres":
        pytest.skip("runs once, in the first pass of `make test`")
    import psycopg

    name = f"gdtr_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{admin.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_transfer_embedded_data_dir_to_postgres_and_s3(
    tmp_path: Path,
    target_database: str,
    seaweed_s3: SeaweedS3,  # noqa: F811 - the fixture imported above
) -> None:
    data_dir = tmp_path / "embedded"
    payload = os.urandom(700_000)
    embedded = ServerProcess(data_dir)
    embedded.start()
    try:
        token = quick_token(data_dir, "alice")
        with embedded.client(token) as alice:
            folder = alice.post(
                "/me/drive/root/children", json={"name": "Docs", "folder": {}}
            ).json()
            item = alice.put("/me/drive/root:/Docs/a.bin:/content", content=payload).json()
            copy = alice.post(f"/me/drive/items/{folder['id']}/copy", json={"name": "Docs 2"})
            assert copy.status_code == 202
            for _ in range(100):
                if httpx.get(copy.headers["location"]).json()["status"] == "completed":
                    break
        library = run_cli(
            "library", "create", "Team", "--member", "alice", "--data-dir", str(data_dir)
        ).stdout.strip()
        with embedded.client(token) as alice:
            shared = alice.put(f"/drives/{library}/root:/notes.txt:/content", content=b"team")
            assert shared.status_code == 201, shared.text
    finally:
        embedded.stop()

    blob_url = f"s3://graphdrive-transfer-{uuid.uuid4().hex[:8]}/x"
    s3_env = seaweed_s3.env()
    run_cli(
        "transfer",
        "--data-dir",
        str(data_dir),
        "--to-database-url",
        target_database,
        "--to-blob-url",
        blob_url,
        env=s3_env,
    )

    moved = ServerProcess(
        tmp_path / "moved",
        {"GRAPHDRIVE_DATABASE_URL": target_database, "GRAPHDRIVE_BLOB_URL": blob_url, **s3_env},
    )
    # Same signing secret, so alice's existing token still works after the move.
    (tmp_path / "moved").mkdir()
    (tmp_path / "moved" / "jwt-secret").write_bytes((data_dir / "jwt-secret").read_bytes())
    moved.start()
    try:
        with moved.client(token) as alice:
            got = alice.get(f"/me/drive/items/{item['id']}")
            assert got.status_code == 200, got.text
            assert got.json()["parentReference"]["path"] == "/drive/root:/Docs"
            content = alice.get(f"/me/drive/items/{item['id']}/content", follow_redirects=True)
            assert content.content == payload
            copied = alice.get("/me/drive/root:/Docs 2:/children").json()["value"]
            assert [c["name"] for c in copied] == ["a.bin"]
            assert alice.get("/me/drive").json()["quota"]["used"] == 2 * len(payload)
            notes = alice.get(f"/drives/{library}/root:/notes.txt")
            assert notes.status_code == 200, notes.text  # the library and its members moved
            assert [d["id"] for d in alice.get("/me/drives").json()["value"]][1:] == [library]
            operations = alice.get("/me/drive/operations").json()["value"]
            assert [op["status"] for op in operations] == ["completed"]
    finally:
        moved.stop()
