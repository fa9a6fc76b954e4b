"""The per-user token bucket behind 429 + Retry-After."""

from __future__ import annotations

import pytest

from graphdrive.api.throttle import Throttle
from graphdrive.exceptions import TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_off_by_default_never_throttles() -> None:
    throttle = Throttle(0)
    for _ in range(10_000):
        throttle.check("alice")


def test_burst_then_429_with_retry_after_then_refill() -> None:
    clock = Clock()
    throttle = Throttle(60, burst=3, clock=clock)  # one request a second, bursts of 3
    for _ in range(3):
        throttle.check("alice")
    with pytest.raises(TooManyRequests) as raised:
        throttle.check("alice")
    assert raised.value.status == 429
    assert raised.value.code == "activityLimitReached"
    assert raised.value.headers["Retry-After"] == "1"
    clock.now += 1.0
    throttle.check("alice")


def test_users_have_their_own_buckets() -> None:
    throttle = Throttle(60, burst=1, clock=Clock())
    throttle.check("alice")
    throttle.check("bob")
    with pytest.raises(TooManyRequests):
        throttle.check("alice")


def test_retry_after_reflects_the_rate() -> None:
    throttle = Throttle(6, burst=1, clock=Clock())  # one request per 10 s
    throttle.check("alice")
    with pytest.raises(TooManyRequests) as raised:
        throttle.check("alice")
    assert raised.value.headers["Retry-After"] == "10"
