"""When to try connecting again: capped exponential backoff with full jitter, and a shared
budget that keeps the whole service far below Binance's connection-attempt limit.

Binance allows 300 connection attempts per 5 minutes per IP; beyond that it answers 429 and then
bans the IP (418) for minutes to days. Every connection of the service therefore draws its
attempts from one `AttemptBudget`, and each connection's `ReconnectPolicy` spreads its retries
(full jitter: AWS Architecture Blog, "Exponential Backoff And Jitter").
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

#: Attempts the whole service may start in `BUDGET_WINDOW` seconds: a tenth of Binance's limit.
BUDGET_ATTEMPTS = 30
BUDGET_WINDOW = 300.0
#: Waits when Binance refuses without a Retry-After header.
TOO_MANY_REQUESTS_WAIT = 60.0  # 429: slow down
IP_BANNED_WAIT = 300.0  # 418: banned for at least two minutes


def full_jitter(rng: random.Random, base: float, cap: float, attempt: int) -> float:
    """A delay drawn uniformly from ``[0, min(cap, base * 2**attempt)]``.

    The exponent stops growing once the ceiling has reached ``cap``: ``2.0**attempt`` itself
    overflows at attempt 1024, which a retry loop that never gives up (a long outage) reaches.
    """
    ceiling = base * 2.0 ** min(attempt, _EXPONENT_LIMIT)
    return rng.uniform(0.0, min(cap, ceiling))


_EXPONENT_LIMIT = 64  # 2**64 times any base worth having exceeds any cap worth having


class ReconnectPolicy:
    """One connection's backoff. The attempt counter resets only once a connection has stayed
    healthy for ``healthy_after`` seconds, so a server that accepts and then drops at once still
    sees the delays grow."""

    def __init__(
        self,
        *,
        base: float = 1.0,
        cap: float = 60.0,
        healthy_after: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.base = base
        self.cap = cap
        self.healthy_after = healthy_after
        self.attempt = 0
        self._rng = rng or random.Random()
        self._connected_at: float | None = None

    def connected(self, now: float) -> None:
        self._connected_at = now

    def disconnected(self, now: float) -> None:
        if self._connected_at is not None and now - self._connected_at >= self.healthy_after:
            self.attempt = 0
        self._connected_at = None

    def next_delay(self, *, status: int | None = None, retry_after: float | None = None) -> float:
        """Seconds to wait before the next attempt; ``status``/``retry_after`` from a refusal."""
        delay = full_jitter(self._rng, self.base, self.cap, self.attempt)
        self.attempt += 1
        if retry_after is not None:
            return max(delay, retry_after)
        if status == 418:
            return max(delay, IP_BANNED_WAIT)
        if status == 429:
            return max(delay, TOO_MANY_REQUESTS_WAIT)
        return delay


class AttemptBudget:
    """At most ``limit`` connection attempts in any ``window`` seconds, across threads.

    A token bucket: ``burst`` attempts may start at once (the first connections, a rotation),
    and tokens refill at ``(limit - burst) / window`` per second, so any window of ``window``
    seconds holds at most ``burst + (limit - burst) = limit`` attempts. A caller that finds the
    bucket empty takes a token on credit and is told how long to wait for it.
    """

    def __init__(
        self,
        limit: int = BUDGET_ATTEMPTS,
        window: float = BUDGET_WINDOW,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst if burst is not None else max(1, limit // 3)
        if not 0 < self.burst < limit:
            raise ValueError(f"burst must be within 1..{limit - 1}, got {self.burst}")
        self.rate = (limit - self.burst) / window
        self._clock = clock
        self._tokens = float(self.burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one attempt; returns the seconds to wait before making it (0.0: go now)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
