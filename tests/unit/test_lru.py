"""The bounded LRU mapping behind the drive lookup cache."""

from __future__ import annotations

import pytest

from graphdrive.lru import LRU


def test_forgets_the_least_recently_used_entry_first() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), len(cache)) == (1, 3, 2)


def test_put_replaces_and_refreshes() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b")) == (10, None)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LRU(0)
