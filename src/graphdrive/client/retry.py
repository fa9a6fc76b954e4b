"""When to try again: ``Retry-After`` parsing, backoff, and the clock they run on.

Small strategy objects with no I/O of their own. The clock is injected so tests can run the
polling and retry loops without waiting (``tests/unit/test_client_*.py`` use a fake clock).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol


class Clock(Protocol):
    """What the retry and polling loops need from time."""

    def monotonic(self) -> float: ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch (for ``Retry-After`` HTTP dates)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    ``now`` is the wall clock (epoch seconds); a date in the past means "now" (0). Anything
    unparseable is ignored (None), so a broken header falls back to the caller's backoff.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means "-0000"
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(slots=True)
class Backoff:
    """Exponential delays from ``first`` up to ``limit``; ``reset()`` starts over."""

    first: float = 0.5
    limit: float = 10.0
    factor: float = 2.0
    _next: float = 0.0

    def __post_init__(self) -> None:
        self._next = self.first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * self.factor, self.limit)
        return delay

    def reset(self) -> None:
        self._next = self.first


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the HTTP layer retries throttling (429/503) and connection failures.

    ``max_retries`` attempts after the first; a ``Retry-After`` is honoured when given and at
    most ``max_delay`` seconds (a longer one raises ``ThrottledError`` at once rather than
    blocking for minutes); otherwise the delay doubles from ``first_delay``.
    """

    max_retries: int = 5
    first_delay: float = 1.0
    max_delay: float = 60.0

    def backoff(self) -> Backoff:
        return Backoff(self.first_delay, self.max_delay)
