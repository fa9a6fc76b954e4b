"""Downloads offloaded to the object store: with ``GRAPHDRIVE_S3_PRESIGNED_DOWNLOADS`` a
download URL answers 302 to a presigned URL of the blob on S3 (SeaweedFS here), which serves
the bytes, Range requests included, under the file's name."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.seaweed import SeaweedS3, seaweed_s3  # noqa: F401 - the fixture

from .helpers import assert_graph_error, download_location, ok


@pytest.fixture
def offloading(spawn_server: Any, seaweed_s3: SeaweedS3) -> Iterator[httpx.Client]:  # noqa: F811
    env = {
        **seaweed_s3.env(),
        "GRAPHDRIVE_BLOB_URL": f"s3://graphdrive-offload-{uuid.uuid4().hex[:8]}/p",
        "GRAPHDRIVE_S3_PRESIGNED_DOWNLOADS": "true",
    }
    with spawn_server(env) as server, server.client(server.token("dana")) as dana:
        yield dana


def test_a_download_redirects_to_the_object_store(
    offloading: httpx.Client,
    seaweed_s3: SeaweedS3,  # noqa: F811
) -> None:
    data = os.urandom(300_000)
    item = ok(offloading.put("/me/drive/root:/big report.bin:/content", content=data), 201)
    location = download_location(offloading, f"/me/drive/items/{item['id']}/content")
    assert "/download/" in location  # graphdrive's own short-lived link first …

    with httpx.Client(timeout=60) as bare:  # … then, without any credentials:
        hop = bare.get(location)
        assert hop.status_code == 302, hop.text
        assert hop.headers["cache-control"] == "no-store"
        presigned = hop.headers["location"]
        assert presigned.startswith(seaweed_s3.endpoint_url)
        whole = bare.get(presigned)
        assert whole.status_code == 200 and whole.content == data
        assert "big%20report.bin" in whole.headers["content-disposition"]
        part = bare.get(location, headers={"Range": "bytes=1000-1999"}, follow_redirects=True)
        assert part.status_code == 206 and part.content == data[1000:2000]
        head = bare.head(location)  # metadata still answered by graphdrive itself
        assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def test_a_link_to_deleted_content_is_a_graph_error_not_the_store_s(
    offloading: httpx.Client,
) -> None:
    item = ok(offloading.put("/me/drive/root:/gone.txt:/content", content=b"soon gone"), 201)
    location = download_location(offloading, f"/me/drive/items/{item['id']}/content")
    assert offloading.delete(f"/me/drive/items/{item['id']}").status_code == 204
    with httpx.Client(timeout=60) as bare:
        assert_graph_error(bare.get(location), 404, "itemNotFound")
