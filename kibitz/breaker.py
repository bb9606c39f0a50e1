"""Circuit breakers for the server's calls to other services (QUALITY R11): after a run of failures
a dependency is not asked for a while, so that an outage costs callers no wait; then one trial
call says whether it is back.

A :class:`Breaker` is closed (every call goes) until ``failures`` calls in a row have failed. Then
it is open for ``first`` seconds: :meth:`Breaker.attempt` answers None at once, without a call.
When that time is over, one call is let through (the trial) and the breaker stays open for
everyone else meanwhile; if the trial fails, it opens again for twice as long, up to ``cap``; a
success closes it. A trial whose caller never reports (cancelled) opens the way for the next
trial after the same time again, so a breaker cannot stay half-open for ever.

A failure of a call that started before the breaker last opened is already told by the failures
that opened it: it neither counts again nor doubles the time (many calls in flight to a dead
service fail together); calls are told apart by the ticket :meth:`Breaker.attempt` hands out.
Times come from a monotonic clock: a breaker measures durations, not dates.

:class:`Breakers` holds one breaker per destination (``scheme://host:port``), made on first
failure and forgotten once closed again, so that a healthy destination costs nothing; the guard
for outgoing HTTP (outbound.py) keeps one set for the whole process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Monotonic = Callable[[], float]


@dataclass
class Breaker:
    failures: int = 5  # failures in a row that open the breaker
    first: float = 30.0  # seconds it stays open the first time
    cap: float = 600.0  # the most it stays open after failed trials
    monotonic: Monotonic = time.monotonic
    failed_in_a_row: int = 0
    open_for: float = 0.0  # the current time open; 0 while closed
    until: float = 0.0  # when the next trial may go (monotonic)
    issued: int = 1  # the next ticket (attempt); 0 is Breakers' ticket for a call with no breaker yet
    opened_mark: int = 0  # the first ticket since it last opened or let a trial through

    @property
    def state(self) -> str:
        """ "closed", "open" (calls skipped) or "trial" (the next call goes, to try)."""
        if not self.open_for:
            return "closed"
        return "open" if self.monotonic() < self.until else "trial"

    def attempt(self) -> int | None:
        """Whether a call may go now: its ticket (to hand to :meth:`failed`), or None to skip it."""
        if self.open_for:
            now = self.monotonic()
            if now < self.until:
                return None
            # The trial: the others keep waiting for as long again, in case it never reports.
            self.until = now + self.open_for
            self.opened_mark = self.issued
        self.issued += 1
        return self.issued - 1

    def succeeded(self) -> None:
        self.failed_in_a_row = 0
        self.open_for = self.until = 0.0

    def failed(self, ticket: int) -> bool:
        """Count a failed call (its ``ticket``); True when the breaker opened (again) now."""
        if ticket < self.opened_mark:
            return False  # begun before the breaker opened: already accounted for
        now = self.monotonic()
        self.failed_in_a_row += 1
        if self.open_for:  # the trial failed
            self.open_for = min(self.cap, 2 * self.open_for)
        elif self.failed_in_a_row >= self.failures:
            self.open_for = min(self.cap, self.first)
        else:
            return False
        self.until = now + self.open_for
        self.opened_mark = self.issued
        return True


class Breakers:
    """One :class:`Breaker` per destination, all with the same settings; at most ``limit`` of them
    (the oldest closed ones are forgotten first: a closed breaker only holds a count of failures)."""

    def __init__(
        self,
        *,
        failures: int = 5,
        first: float = 30.0,
        cap: float = 600.0,
        limit: int = 10_000,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self.failures, self.first, self.cap, self.limit = failures, first, cap, limit
        self.monotonic = monotonic
        self._by_key: dict[str, Breaker] = {}
        self.skipped = 0  # calls not made because their destination's breaker was open

    def attempt(self, key: str) -> int | None:
        """As :meth:`Breaker.attempt` for the destination ``key``: a ticket, or None to skip it.
        (Tickets of a destination with no breaker yet are 0: older than any opening.)"""
        breaker = self._by_key.get(key)
        if breaker is None:
            return 0
        breaker.monotonic = self.monotonic
        ticket = breaker.attempt()
        if ticket is None:
            self.skipped += 1
        return ticket

    def succeeded(self, key: str) -> bool:
        """Close the destination's breaker (nothing to remember); True when it was open."""
        breaker = self._by_key.pop(key, None)
        return breaker is not None and bool(breaker.open_for)

    def failed(self, key: str, ticket: int) -> bool:
        breaker = self._by_key.get(key)
        if breaker is None:
            if len(self._by_key) >= self.limit:
                self._forget_one()
            breaker = self._by_key[key] = Breaker(self.failures, self.first, self.cap, self.monotonic)
        breaker.monotonic = self.monotonic
        return breaker.failed(ticket)

    def state(self, key: str) -> str:
        breaker = self._by_key.get(key)
        if breaker is None:
            return "closed"
        breaker.monotonic = self.monotonic
        return breaker.state

    def open_count(self) -> int:
        """Destinations whose breaker is open or waiting for its trial."""
        return sum(1 for b in self._by_key.values() if b.open_for)

    def clear(self) -> None:
        self._by_key.clear()
        self.skipped = 0

    def _forget_one(self) -> None:
        victim = next((k for k, b in self._by_key.items() if not b.open_for), None)
        if victim is None:  # every one open: the oldest goes
            victim = next(iter(self._by_key))
        del self._by_key[victim]
