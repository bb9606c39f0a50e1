"""Staff sign-in guards that hold across workers: attempt limits and lockouts per client address and
per account (an unknown email is counted exactly like a real one), password rules, and one-time codes."""

from __future__ import annotations

import asyncio
import functools
import hmac
import math
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyotp

from kibitz import errors, inputs
from kibitz.security import hash_password, verify_password

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

# At most this many attempts per minute under each key, counted before any password is checked, so
# a burst of parallel guesses cannot slip past the lockout below while the first ones are verified.
ATTEMPTS_PER_MINUTE = 5
# This many failures under one key within a lockout window refuse every attempt until it ends.
LOCK_AFTER = 5
LOCK_SECONDS = 15 * 60
MIN_PASSWORD = 10
MAX_PASSWORD = 1000
TOTP_STEP = 30


def password_rules(password: str) -> str:
    """A new password as it will be kept, or InvalidInput on the field ``password``."""
    inputs.check_string("password", password)
    if len(password) < MIN_PASSWORD:
        raise errors.InvalidInput.field("password", f"must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise errors.InvalidInput.field("password", f"must be at most {MAX_PASSWORD} characters")
    return password


async def hash_in_thread(password: str) -> str:
    """argon2id takes tens of milliseconds of CPU (outside the GIL): keep it off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def verify_in_thread(stored: str | None, password: str) -> bool:
    """Check a password against ``stored``; with no stored hash, spend the same time on a dummy one
    and answer False, so the time taken does not tell whether an account exists."""
    if len(password) > MAX_PASSWORD or "\x00" in password:
        password = ""  # still verified below: a refusal costs the same time as any other
    ok = await asyncio.to_thread(verify_password, stored or dummy_hash(), password)
    return ok and stored is not None


@functools.cache
def dummy_hash() -> str:
    """A hash of a random password nobody knows, made once with the current parameters."""
    return hash_password(secrets.token_urlsafe(24))


def _window(now: datetime) -> int:
    return int(now.timestamp()) // LOCK_SECONDS * LOCK_SECONDS


def lock_end(now: datetime) -> datetime:
    """When a lockout that starts now ends: the end of the current lockout window."""
    return datetime.fromtimestamp(_window(now) + LOCK_SECONDS, UTC)


async def admit(tx: Tx, keys: Sequence[str], now: datetime) -> list[int]:
    """Count one attempt under each key (a client address, an account); raise RateLimited when a key
    is locked out or past its per-minute limit. Returns the failures so far under each key.

    The counters are the shared rate counters (``tx.rates``), which can only be bumped: each
    attempt bumps both ``attempts`` and ``marks`` of its window, and each failure ``marks`` once
    more, so ``marks - attempts`` is the number of failures in the window.
    """
    ts = now.timestamp()
    window = _window(now)
    failures: list[int] = []
    for key in keys:
        attempts = await tx.rates.hit(f"staff:attempts:{key}", window)
        marks = await tx.rates.hit(f"staff:marks:{key}", window)
        failures.append(marks - attempts)
    if max(failures, default=0) >= LOCK_AFTER:
        raise errors.RateLimited(
            "Too many failed sign-ins; try again later", retry_after=math.ceil(window + LOCK_SECONDS - ts)
        )
    minute = int(ts) // 60 * 60
    for key in keys:
        if await tx.rates.hit(f"staff:minute:{key}", minute) > ATTEMPTS_PER_MINUTE:
            raise errors.RateLimited(
                "Too many sign-in attempts; try again later", retry_after=math.ceil(minute + 60 - ts)
            )
    return failures


async def fail(tx: Tx, keys: Sequence[str], now: datetime) -> None:
    """Count a failed attempt under each key (in the window ``admit`` counted it in)."""
    window = _window(now)
    for key in keys:
        await tx.rates.hit(f"staff:marks:{key}", window)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="Kibitz")


def totp_step(secret: str, code: str | None, now: datetime) -> int | None:
    """The time step (epoch seconds of its start) whose code ``code`` is, allowing one step of clock
    drift either way; None when it is no current code."""
    code = "".join((code or "").split())
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    for drift in (0, -1, 1):
        at = now + timedelta(seconds=drift * TOTP_STEP)
        if hmac.compare_digest(totp.at(at), code):
            return totp.timecode(at) * TOTP_STEP
    return None


async def claim(tx: Tx, what: str, window: int = 0) -> bool:
    """True for the first transaction to claim ``what`` (a code's time step, a link's nonce).

    The counter is an atomic upsert: a concurrent second claim waits for the first to commit and
    then sees 2, so a one-time code or link works once even when sent twice at the same moment.
    """
    return await tx.rates.hit(f"staff:claim:{what}", window) == 1
