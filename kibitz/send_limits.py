"""How fast a worker process sends (``mail_rate``, a token bucket) and how many sends it has in flight to
one recipient domain at once (``mail_domain_concurrency``). Both are per process: several workers add up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

Ticker = Callable[[], float]  # seconds on a clock that only moves forward (time.monotonic)
Sleep = Callable[[float], Awaitable[None]]
SLIVER = 1e-3


class TokenBucket:
    """At most ``rate`` sends a second on average, in bursts of at most ``burst``; rate 0: no limit.

    Time comes from ``ticker`` and waiting from ``sleep`` (both injectable: tests drive them by hand).
    Waiters are served in arrival order, so a burst of sends is spread evenly rather than raced for.
    """

    def __init__(
        self, rate: float, *, burst: float | None = None, ticker: Ticker = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:  # fmt: skip
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate / 10)
        self.ticker = ticker
        self.sleep = sleep
        self._tokens = self.burst
        self._last = ticker()
        self._turn = asyncio.Lock()

    @property
    def limited(self) -> bool:
        return self.rate > 0

    def _refill(self) -> None:
        now = self.ticker()
        # A clock that went back (an injected wall clock) neither stalls the bucket nor fills it.
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)

    async def take(self) -> None:
        """Wait until a send may start."""
        if not self.limited:
            return
        async with self._turn:
            self._refill()
            # Within a thousandth of a token is a token: a clock's rounding must not make it wait again
            # for a sliver of time it cannot even measure.
            while self._tokens < 1.0 - SLIVER:
                await self.sleep((1.0 - self._tokens) / self.rate)
                self._refill()
            self._tokens = max(0.0, self._tokens - 1.0)


class DomainGates:
    """At most ``limit`` holders at once per recipient domain (0: no limit). A gate exists only while
    someone holds or waits for it, so memory follows the domains in flight, not every domain seen."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._gates: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @staticmethod
    def domain(recipient: str) -> str:
        return recipient.rpartition("@")[2].lower()

    def waiting(self) -> int:
        """Sends waiting for their domain's turn (across domains)."""
        return sum(max(0, users[0] - self.limit) for _, users in self._gates.values())

    @contextlib.asynccontextmanager
    async def hold(self, recipient: str) -> AsyncIterator[None]:
        if self.limit <= 0:
            yield
            return
        key = self.domain(recipient)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = (asyncio.Semaphore(self.limit), [0])
        semaphore, users = gate
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._gates[key]
