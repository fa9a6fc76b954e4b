"""quickXorHash and friends: the C implementation against the published algorithm."""

from __future__ import annotations

import hashlib
import os

import pytest

from graphdrive.storage.blobs.hashing import ContentHasher
from tests.contract.test_blob_store import quick_xor_reference


def digests_of(*chunks: bytes) -> tuple[str, str, str]:
    hasher = ContentHasher()
    for chunk in chunks:
        hasher.update(chunk)
    d = hasher.digests()
    return d.sha256, d.sha1, d.quick_xor


def test_empty_content_has_all_zero_quick_xor() -> None:
    assert digests_of()[2] == "AAAAAAAAAAAAAAAAAAAAAAAAAAA="


@pytest.mark.parametrize("size", [1, 11, 159, 160, 161, 319, 320, 1000, 4099, 65_537])
def test_quick_xor_matches_the_published_algorithm(size: int) -> None:
    data = os.urandom(size)
    assert digests_of(data)[2] == quick_xor_reference(data)


def test_chunking_does_not_change_any_digest() -> None:
    data = os.urandom(10_000)
    whole = digests_of(data)
    assert digests_of(data[:1], data[1:161], data[161:7000], data[7000:]) == whole
    assert whole[0] == hashlib.sha256(data).hexdigest()
    assert whole[1] == hashlib.sha1(data).hexdigest()


def test_known_value() -> None:
    # Computed by the reference transcription; pins the encoding (base64 of 20 bytes).
    assert quick_xor_reference(b"hello world") == "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
    assert digests_of(b"hello world")[2] == "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
