"""Content hashing throughput: what every upload pays (SHA-256 + SHA-1 + quickXorHash in one
pass, ``graphdrive.storage.blobs.hashing.ContentHasher``), beside each digest alone."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import quickxorhash

from bench.harness import say
from graphdrive.storage.blobs.hashing import ContentHasher

SIZE = 256 * 1024 * 1024
CHUNK = 1024 * 1024


@dataclass
class Hashing:
    quick_xor_mb_s: float
    sha1_mb_s: float
    sha256_mb_s: float
    all_three_mb_s: float


def _rate(update: Callable[[bytes], object], chunks: list[bytes]) -> float:
    started = time.perf_counter()
    for chunk in chunks:
        update(chunk)
    return len(chunks) * CHUNK / (1024 * 1024) / (time.perf_counter() - started)


def run() -> Hashing:
    say(f"hashing {SIZE // (1024 * 1024)} MiB in 1 MiB chunks")
    data = os.urandom(SIZE)
    chunks = [data[offset : offset + CHUNK] for offset in range(0, SIZE, CHUNK)]
    result = Hashing(
        quick_xor_mb_s=_rate(quickxorhash.quickxorhash().update, chunks),
        sha1_mb_s=_rate(hashlib.sha1(usedforsecurity=False).update, chunks),
        sha256_mb_s=_rate(hashlib.sha256().update, chunks),
        all_three_mb_s=_rate(ContentHasher().update, chunks),
    )
    say(
        f"  quickXorHash {result.quick_xor_mb_s:.0f} MB/s, SHA-1 {result.sha1_mb_s:.0f} MB/s, "
        f"SHA-256 {result.sha256_mb_s:.0f} MB/s; all three in one pass "
        f"{result.all_three_mb_s:.0f} MB/s"
    )
    return result
