"""Per-user request throttling: a token bucket per user, answering 429 + ``Retry-After``.

Off by default (``GRAPHDRIVE_RATE_LIMIT_PER_MINUTE=0``). The buckets live in the process, so
with several API processes each enforces the limit on the requests it receives.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from graphdrive.exceptions import TooManyRequests

MAX_TRACKED_USERS = 100_000


class Throttle:
    def __init__(
        self,
        per_minute: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0  # tokens per second
        self.capacity = float(burst if burst is not None else max(per_minute, 1))
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def check(self, user_id: str) -> None:
        """Spend one token of ``user_id``'s bucket, or raise :class:`TooManyRequests`."""
        if not self.enabled:
            return
        now = self.clock()
        tokens, last = self._buckets.pop(user_id, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[user_id] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / self.rate)
            raise TooManyRequests(
                "Too many requests; slow down and retry after the time in Retry-After.",
                headers={"Retry-After": str(max(wait, 1))},
            )
        self._buckets[user_id] = (tokens - 1.0, now)
        while len(self._buckets) > MAX_TRACKED_USERS:
            self._buckets.popitem(last=False)
