"""Remember tokens already verified, so a client's next requests skip the signature check.

A verified token is kept (by its exact text) until its ``exp`` or for at most
:data:`MAX_AGE_SECONDS`, whichever comes first, so a token never outlives its expiry here and a
signing key the provider withdraws stops being honoured within that bound. Rejections are not
cached: they are cheap and must not fill the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt

from graphdrive.auth.principal import Principal, TokenVerifier
from graphdrive.lru import LRU

MAX_AGE_SECONDS = 60.0
CAPACITY = 10_000


class CachingVerifier:
    """A :class:`TokenVerifier` in front of another one."""

    def __init__(
        self,
        inner: TokenVerifier,
        *,
        capacity: int = CAPACITY,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.max_age = max_age
        self.clock = clock
        self._verified: LRU[str, tuple[Principal, float]] = LRU(capacity)

    async def verify(self, token: str) -> Principal:
        now = self.clock()
        hit = self._verified.get(token)
        if hit is not None and now < hit[1]:
            return hit[0]
        principal = await self.inner.verify(token)
        self._verified.put(token, (principal, min(_expiry(token), now + self.max_age)))
        return principal


def _expiry(token: str) -> float:
    """The ``exp`` of a token the inner verifier accepted (it requires one)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])
