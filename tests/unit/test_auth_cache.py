"""Verified tokens are remembered until their expiry (at most a minute), rejections never."""

from __future__ import annotations

import time

import pytest

from graphdrive.auth import DevTokens, Principal
from graphdrive.auth.cache import CachingVerifier
from graphdrive.exceptions import Unauthenticated

SECRET = b"s" * 32


class Counting:
    def __init__(self, inner: DevTokens) -> None:
        self.inner = inner
        self.calls = 0

    async def verify(self, token: str) -> Principal:
        self.calls += 1
        return await self.inner.verify(token)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dev() -> DevTokens:
    return DevTokens(SECRET)


async def test_a_verified_token_is_checked_once_while_fresh(dev: DevTokens) -> None:
    inner = Counting(dev)
    verifier = CachingVerifier(inner)
    token = dev.issue("alice")
    first = await verifier.verify(token)
    second = await verifier.verify(token)
    assert first == second and first.user_id == "alice"
    assert inner.calls == 1


async def test_verified_again_after_max_age(dev: DevTokens) -> None:
    inner = Counting(dev)
    clock = Clock(time.time())
    verifier = CachingVerifier(inner, max_age=60, clock=clock)
    token = dev.issue("alice")
    await verifier.verify(token)
    clock.now += 61
    await verifier.verify(token)
    assert inner.calls == 2


async def test_never_outlives_the_token_expiry(dev: DevTokens) -> None:
    inner = Counting(dev)
    clock = Clock(time.time())
    verifier = CachingVerifier(inner, max_age=3600, clock=clock)
    token = dev.issue("alice", ttl_seconds=30)
    await verifier.verify(token)
    clock.now += 31  # past exp: the cache must ask the real verifier, which rejects it
    await verifier.verify(token)  # the real clock has not moved: still valid for DevTokens
    assert inner.calls == 2


async def test_rejections_are_not_cached(dev: DevTokens) -> None:
    inner = Counting(dev)
    verifier = CachingVerifier(inner)
    forged = DevTokens(b"x" * 32).issue("alice")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await verifier.verify(forged)
    assert inner.calls == 2
