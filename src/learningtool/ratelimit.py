"""Rate limits a shared server needs: failed sign-ins per client address, and the expensive
actions (adding a source, a chat message, a research run) per user.

Token buckets in this process's memory: `burst` actions at once, then `per_minute` refilled
evenly. Memory stays bounded (keys whose bucket is full again are forgotten), and a limit is
per process: with several API processes a user gets each process's allowance, which still
bounds the abuse. Over the limit a request is refused with 429 and `Retry-After` before any
work is done (nothing is stored, no job is queued).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from learningtool.errors import TooManyRequests

if TYPE_CHECKING:
    from learningtool.config import Settings

MAX_KEYS = 10_000  # past this many tracked keys, the ones with a full bucket are dropped


@dataclass(frozen=True)
class Limit:
    per_minute: float  # 0: unlimited
    burst: int


class RateLimiter:
    """One limit, many keys (a user id, a client address)."""

    def __init__(self, limit: Limit, what: str) -> None:
        self.limit = limit
        self.what = what
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.limit.burst), now))
        return min(float(self.limit.burst), tokens + (now - at) * self.limit.per_minute / 60)

    def wait(self, key: str) -> float:
        """Seconds until `key` may act again (0: now), without spending anything."""
        if self.limit.per_minute <= 0:
            return 0.0
        missing = 1.0 - self._tokens(key, time.monotonic())
        return max(0.0, missing * 60 / self.limit.per_minute)

    def spend(self, key: str) -> None:
        """Count one action (a failed sign-in, an accepted request)."""
        if self.limit.per_minute <= 0:
            return
        now = time.monotonic()
        self._buckets[key] = (self._tokens(key, now) - 1.0, now)
        if len(self._buckets) > MAX_KEYS:
            self._forget_full(now)

    def check(self, key: str) -> None:
        """Raise 429 when `key` has nothing left."""
        seconds = self.wait(key)
        if seconds > 0:
            raise TooManyRequests(
                f"too many {self.what}; try again in {math.ceil(seconds)} s",
                retry_after=math.ceil(seconds),
            )

    def take(self, key: str) -> None:
        """`check`, then `spend`: the guard of an expensive action."""
        self.check(key)
        self.spend(key)

    def refund(self, key: str) -> None:
        """Give back what `take` spent: the request was refused (422, 404...) and did no
        expensive work, so it should not count."""
        if self.limit.per_minute <= 0 or key not in self._buckets:
            return
        tokens, at = self._buckets[key]
        self._buckets[key] = (min(float(self.limit.burst), tokens + 1.0), at)

    def _forget_full(self, now: float) -> None:
        full = [key for key in self._buckets if self._tokens(key, now) >= self.limit.burst]
        for key in full:
            del self._buckets[key]


@dataclass(frozen=True)
class RateLimits:
    """The server's limiters. Bursts: a folder dropped on the upload page (60 files), a few
    quick follow-up questions, a handful of research runs queued at once."""

    sign_in: RateLimiter  # failed sign-ins, per client address
    sources: RateLimiter  # per user
    chat: RateLimiter
    research: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            sign_in=RateLimiter(
                Limit(settings.rate_sign_in_failures_per_minute, 20), "failed sign-ins"
            ),
            sources=RateLimiter(Limit(settings.rate_sources_per_minute, 60), "sources added"),
            chat=RateLimiter(Limit(settings.rate_chat_per_minute, 10), "chat messages"),
            research=RateLimiter(Limit(settings.rate_research_per_minute, 3), "research runs"),
        )
