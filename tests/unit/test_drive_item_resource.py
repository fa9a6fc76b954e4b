"""Unit tests of graphdrive.resources.drive_item: driveItem JSON from hand-built domain objects."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from graphdrive.domain.items import Drive, Item, Located
from graphdrive.resources.drive_item import drive_item, parent_path

CREATED = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
MODIFIED = datetime(2024, 6, 7, 8, 9, 10, 111000, tzinfo=UTC)
SHA1 = "a9993e364706816aba3e25717850c26c9cd0d89d"
SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
QUICK_XOR = "aGVsbG8gd29ybGQgcXVpY2s="  # base64: case matters

DRIVE = Drive(id="DRIVE1", owner_id="u1", owner_name="Ada", root_id="ROOT", created_at=CREATED)


def make_item(**fields: Any) -> Item:
    base: dict[str, Any] = {
        "id": "ITEM",
        "drive_id": DRIVE.id,
        "parent_id": DRIVE.root_id,
        "name": "item",
        "is_folder": True,
        "size": 0,
        "blob_key": None,
        "mime_type": None,
        "sha1": None,
        "version": 4,
        "content_version": 2,
        "created_at": CREATED,
        "modified_at": MODIFIED,
        "created_by_id": "u1",
        "created_by_name": "Ada",
        "modified_by_id": "u2",
        "modified_by_name": "Grace",
    }
    return Item(**(base | fields))


ROOT = Located(make_item(id="ROOT", parent_id=None, name="root", size=300), (), child_count=2)
FOLDER = Located(make_item(id="FOLDER", name="Docs", size=300), (), child_count=5)
FILE = Located(
    make_item(
        id="FILE",
        parent_id="FOLDER_B",
        name="report.txt",
        is_folder=False,
        size=3,
        blob_key=SHA256,
        sha1=SHA1,
        quick_xor=QUICK_XOR,
        mime_type="text/plain",
    ),
    ("a", "b"),
)


def render(loc: Located, **kwargs: Any) -> dict[str, Any]:
    return drive_item(loc, drive=DRIVE, **kwargs)


# --- parentReference.path -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((), "/drive/root:"),
        (("a",), "/drive/root:/a"),
        (("a", "b"), "/drive/root:/a/b"),
        (("My Docs", "Résumé #1"), "/drive/root:/My Docs/Résumé #1"),
    ],
)
def test_parent_path(path: tuple[str, ...], expected: str) -> None:
    assert parent_path(path) == expected


def test_root_child_parent_reference() -> None:
    assert render(FOLDER)["parentReference"] == {
        "driveId": "DRIVE1",
        "driveType": "business",
        "id": "ROOT",
        "path": "/drive/root:",
    }


def test_deeper_parent_reference_has_path_and_parent_name() -> None:
    assert render(FILE)["parentReference"] == {
        "driveId": "DRIVE1",
        "driveType": "business",
        "id": "FOLDER_B",
        "path": "/drive/root:/a/b",
        "name": "b",
    }


# --- root -----------------------------------------------------------------------------------


def test_root_is_marked_and_has_no_parent() -> None:
    body = render(ROOT)
    assert body["root"] == {}
    assert body["parentReference"] == {"driveId": "DRIVE1", "driveType": "business"}
    assert body["folder"] == {"childCount": 2}


@pytest.mark.parametrize("loc", [FOLDER, FILE], ids=["folder", "file"])
def test_only_the_root_has_root(loc: Located) -> None:
    assert "root" not in render(loc)


# --- a folder -------------------------------------------------------------------------------


def test_folder() -> None:
    assert render(FOLDER) == {
        "id": "FOLDER",
        "name": "Docs",
        "size": 300,
        "eTag": '"{FOLDER},4"',
        "cTag": '"c:{FOLDER},2"',
        "createdDateTime": "2024-01-02T03:04:05.678Z",
        "lastModifiedDateTime": "2024-06-07T08:09:10.111Z",
        "createdBy": {"user": {"id": "u1", "displayName": "Ada"}},
        "lastModifiedBy": {"user": {"id": "u2", "displayName": "Grace"}},
        "fileSystemInfo": {
            "createdDateTime": "2024-01-02T03:04:05.678Z",
            "lastModifiedDateTime": "2024-06-07T08:09:10.111Z",
        },
        "parentReference": {
            "driveId": "DRIVE1",
            "driveType": "business",
            "id": "ROOT",
            "path": "/drive/root:",
        },
        "folder": {"childCount": 5},
    }


def test_folder_ignores_a_download_url() -> None:
    assert "@microsoft.graph.downloadUrl" not in render(FOLDER, download_url="http://x/d/1")


# --- a file ---------------------------------------------------------------------------------


def test_file_facet() -> None:
    body = render(FILE)
    assert "folder" not in body
    assert body["file"] == {
        "mimeType": "text/plain",
        "hashes": {
            "sha1Hash": SHA1.upper(),
            "sha256Hash": SHA256.upper(),
            "quickXorHash": QUICK_XOR,
        },
    }


def test_hex_hashes_are_upper_case() -> None:
    hashes = render(FILE)["file"]["hashes"]
    for key in ("sha1Hash", "sha256Hash"):
        assert re.fullmatch(r"[0-9A-F]+", hashes[key]), key


def test_quick_xor_hash_keeps_its_base64_case() -> None:
    assert render(FILE)["file"]["hashes"]["quickXorHash"] == QUICK_XOR


def test_file_without_hashes_or_mime_type() -> None:
    bare = replace(FILE.item, blob_key=None, sha1=None, quick_xor=None, mime_type=None)
    assert render(Located(bare, ()))["file"] == {
        "mimeType": "application/octet-stream",
        "hashes": {},
    }


def test_file_download_url_only_when_given() -> None:
    assert "@microsoft.graph.downloadUrl" not in render(FILE)
    body = render(FILE, download_url="http://127.0.0.1:8000/download/tok")
    assert body["@microsoft.graph.downloadUrl"] == "http://127.0.0.1:8000/download/tok"


def test_file_system_info_prefers_the_client_times() -> None:
    fs_created = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    fs_modified = datetime(2002, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    item = replace(FILE.item, fs_created_at=fs_created, fs_modified_at=fs_modified)
    body = render(Located(item, ()))
    assert body["fileSystemInfo"] == {
        "createdDateTime": "2001-02-03T04:05:06.000Z",
        "lastModifiedDateTime": "2002-03-04T05:06:07.890Z",
    }
    assert body["lastModifiedDateTime"] == "2024-06-07T08:09:10.111Z"


# --- datetimes ------------------------------------------------------------------------------

GRAPH_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.mark.parametrize("loc", [ROOT, FOLDER, FILE], ids=["root", "folder", "file"])
def test_every_datetime_is_utc_with_milliseconds_and_z(loc: Located) -> None:
    body = render(loc)
    values = [
        body["createdDateTime"],
        body["lastModifiedDateTime"],
        *body["fileSystemInfo"].values(),
    ]
    for value in values:
        assert GRAPH_DATETIME.fullmatch(value), value


def test_a_non_utc_datetime_is_rendered_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    item = replace(FOLDER.item, modified_at=datetime(2024, 6, 7, 10, 9, 10, tzinfo=plus_two))
    assert render(Located(item, ()))["lastModifiedDateTime"] == "2024-06-07T08:09:10.000Z"


# --- $select --------------------------------------------------------------------------------


def test_select_keeps_only_the_named_properties() -> None:
    assert render(FILE, select={"id", "name"}) == {"id": "FILE", "name": "report.txt"}


def test_select_trims_blanks_and_ignores_unknown_properties() -> None:
    body = render(FILE, select=[" size ", "eTag", "", "noSuchProperty"])
    assert body == {"size": 3, "eTag": '"{FILE},4"'}


def test_select_can_ask_for_facets() -> None:
    body = render(FOLDER, select={"folder", "parentReference"})
    assert set(body) == {"folder", "parentReference"}
    assert body["parentReference"]["path"] == "/drive/root:"


@pytest.mark.parametrize("select", [None, set()])
def test_no_select_renders_everything(select: set[str] | None) -> None:
    assert render(FILE, select=select) == render(FILE)
