"""The signed-in reader of a request (``X-Kibitz-Session``), and the site's ``authors`` policy that
every write checks (DESIGN.md §3b; kibitz/accounts.py)."""

from __future__ import annotations

from fastapi import Request

from kibitz.accounts import Reader
from kibitz.config import SiteConfig
from kibitz.context import Context

SESSION_HEADER = "X-Kibitz-Session"


async def reader_of(ctx: Context, request: Request, site: SiteConfig | None = None) -> Reader | None:
    """The signed-in reader, None without a session; an ended, forged or foreign session is 401."""
    return await ctx.accounts.reader(request.headers.get(SESSION_HEADER), site)


async def writer_of(ctx: Context, request: Request, site: SiteConfig) -> Reader | None:
    """The reader of a write, checked against the site's ``authors`` policy as in force now: a
    refusal (401 ``sign_in_required``, 403 ``account_required``) comes before anything is stored."""
    reader = await reader_of(ctx, request, site)
    await ctx.accounts.check_writer(site, reader)
    return reader
