"""Per-address and per-conversation rate limits of the web chat (the ``limits`` library's
moving window, in this process's memory).

A refused request is answered 429 with Retry-After: the whole seconds until the oldest
counted message leaves the window.
"""
from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimits:
    """Counts web chat messages by client address and by conversation.

    Args:
        per_ip: limits of one client address, in the ``limits`` notation ("60/minute",
            several separated by ";").
        per_conversation: limits of one conversation, same notation.
    Raises:
        ValueError: a limit is not in that notation.
    """

    def __init__(self, per_ip: str, per_conversation: str):
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._ip = parse_many(per_ip)
        self._conversation = parse_many(per_conversation)

    def hit(self, ip: str, conversation: str) -> int:
        """Count one message of ``conversation`` from address ``ip``; return 0 when allowed,
        else the seconds (>= 1) to wait. A refused message is not counted, so waiting
        Retry-After seconds always helps."""
        checks: list[tuple[RateLimitItem, str, str]] = [(item, "ip", ip) for item in self._ip]
        checks += [(item, "conversation", conversation) for item in self._conversation]
        for item, kind, key in checks:
            if not self._limiter.test(item, kind, key):
                return self._wait(item, kind, key)
        for item, kind, key in checks:
            self._limiter.hit(item, kind, key)
        return 0

    def _wait(self, item: RateLimitItem, kind: str, key: str) -> int:
        reset = self._limiter.get_window_stats(item, kind, key).reset_time
        return max(1, math.ceil(reset - time.time()))
