"""The digests graphdrive keeps for every file: SHA-256 (the blob key), SHA-1, quickXorHash.

quickXorHash is OneDrive's own checksum (rclone verifies it on business drives); the
``quickxorhash`` package computes it in C at over 1 GB/s, checked in the unit tests against a
direct transcription of the published algorithm.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import quickxorhash


@dataclass(frozen=True, slots=True)
class Digests:
    sha256: str  # lowercase hex
    sha1: str  # lowercase hex
    quick_xor: str  # base64, as Graph reports it


class ContentHasher:
    """Feeds every byte to all three digests at once (one pass over the content)."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._qx = quickxorhash.quickxorhash()

    def update(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        self._sha1.update(chunk)
        self._qx.update(chunk)

    def digests(self) -> Digests:
        return Digests(
            sha256=self._sha256.hexdigest(),
            sha1=self._sha1.hexdigest(),
            quick_xor=base64.b64encode(self._qx.digest()).decode(),
        )
