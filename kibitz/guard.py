"""Abuse checks that hold across workers: per-address rate limits counted in the database."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from kibitz import errors

if TYPE_CHECKING:
    from kibitz.config import RateLimit
    from kibitz.store.tx import Tx


async def check_rate(tx: Tx, *, site: str, action: str, limit: RateLimit, client: str, now: datetime) -> None:
    """Count this write for ``client`` and raise RateLimited beyond the limit.

    The counter is bumped in the caller's write transaction, so a refused or failed write is not
    counted, and concurrent requests are counted exactly (one atomic upsert each).
    """
    ts = now.timestamp()
    window_start = int(ts // limit.seconds) * limit.seconds
    count = await tx.rates.hit(f"{site}:{action}:{client}", window_start)
    if count > limit.count:
        retry = math.ceil(window_start + limit.seconds - ts)
        raise errors.RateLimited(f"At most {limit} {action} from one address", retry_after=retry)


async def forget_old_counters(tx: Tx, *, now: datetime, keep_seconds: int = 2 * 86400) -> None:
    """Drop counters of windows long over (the longest window we offer is a day)."""
    await tx.rates.forget_before(int(now.timestamp()) - keep_seconds)
