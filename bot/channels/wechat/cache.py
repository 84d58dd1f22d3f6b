"""A small bounded, expiring in-memory map, for answering WeChat's retries once and for
remembering the numbered choices each follower was last shown.

Not thread-safe: it is only used from the event loop's thread.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentCache(Generic[K, V]):
    """The ``max_entries`` most recently stored items, each kept ``ttl`` seconds.

    Args:
        max_entries: capacity (>= 1); storing one more drops the oldest.
        ttl: lifetime of an entry in seconds, counted from when it was stored.
        clock: monotonic seconds (``time.monotonic``; tests pass a fake one).
    """

    def __init__(self, max_entries: int, ttl: float,
                 clock: Callable[[], float] = time.monotonic):
        if max_entries < 1 or ttl <= 0:
            raise ValueError("max_entries must be >= 1 and ttl > 0")
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        """Return the value stored under ``key``, or None when absent or expired."""
        item = self._items.get(key)
        if item is None:
            return None
        if self.clock() - item[0] >= self.ttl:
            del self._items[key]
            return None
        return item[1]

    def put(self, key: K, value: V) -> None:
        """Store ``value`` under ``key`` (replacing any older one), then drop expired
        entries and, beyond capacity, the oldest ones."""
        now = self.clock()
        self._items.pop(key, None)
        self._items[key] = (now, value)
        # Insertion order is storage-time order: expired entries are all at the front.
        while self._items:
            oldest_key, (stored, _) = next(iter(self._items.items()))
            if now - stored < self.ttl and len(self._items) <= self.max_entries:
                break
            del self._items[oldest_key]
