"""The desk's site pages: bans (list, add, lift), the moderation settings (every §3b key, saved
through the audited rules), the dashboard (30 days of figures with their tables) and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Request
from starlette.responses import Response

from kibitz import charts, errors, policy
from kibitz.config import SiteConfig
from kibitz.models import BanKind
from kibitz.staff import Principal
from kibitz.store.audit import AuditFilter
from kibitz.web.admin import (
    Form,
    ident,
    is_htmx,
    local_admin_path,
    page,
    posted,
    query,
    redirect,
    render,
    site_for,
    staff,
    visible_sites,
)
from kibitz.web.admin_queue import TABS
from kibitz.web.api import ctx_of

DASHBOARD_DAYS = 30
AUDIT_PAGE = 50
EXPIRIES = {"": "Never", "1d": "1 day", "7d": "7 days", "30d": "30 days", "365d": "1 year"}
BAN_KINDS = {
    "email": "Email address",
    "reader": "Reader (this browser)",
    "address": "Network address",
    "network": "Network range (CIDR)",
    "name": "Display name",
}


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    kind: str  # choice | int | fraction | words | duration | bool
    help: str
    choices: tuple[tuple[str, str], ...] = ()


SETTINGS = (
    Setting("moderation", "Moderation", "choice", "Which new comments wait for a moderator.",
            (("none", "None: publish at once"), ("first", "First comment of each author"),
             ("all", "All comments"))),
    Setting("authors", "Who may comment", "choice", "Guests, guests with a confirmed email, or accounts.",
            (("guests", "Guests"), ("verified", "Verified email"), ("accounts", "Signed-in accounts"))),
    Setting("hold_links", "Hold above this many links", "int", "More links than this in a comment holds it."),
    Setting("blocked_words", "Blocked words", "words",
            "One per line; * is a wildcard. A comment with one is held, and its author is not told why."),
    Setting("suspect_words", "Suspect words", "words", "One per line; they raise a comment's spam score."),
    Setting("trust_after", "Trust after", "int", "Approved comments after which an author skips the queue."),
    Setting("spam_hold", "Hold at spam score", "fraction", "From 0 to 1: at or above this, a comment waits."),
    Setting("spam_reject", "Spam at spam score", "fraction", "From 0 to 1: at or above this, it is spam."),
    Setting("edit_window", "Edit window", "duration", "How long authors may edit, e.g. 15m, 2h."),
    Setting("close_after", "Close threads after", "duration", "e.g. 30d; empty keeps threads open."),
    Setting("allow_images", "Allow images", "bool", "Let comments show images from Markdown."),
    Setting("votes_per_address", "Votes per address", "int", "Votes one address may give one comment."),
    Setting("erase", "Erasing a reader", "choice", "What \"Erase me\" does to their comments.",
            (("anonymise", "Anonymise: keep the words, name shown as \"deleted\""),
             ("remove", "Remove the words too (a tombstone where replies hang)"))),
    Setting("sso_moderators", "Moderators from the site's login", "bool",
            "Readers your own login marks \"moderator\" may hide, pin and mark spam from the widget."),
)  # fmt: skip


# The charts' `style="fill: var(--chart-x, #…)"` is refused by this page's CSP (style-src 'self'), and
# each refusal is a console error; admin.css colours the same classes, and `fill` stays as a fallback.
# -- bans ------------------------------------------------------------------------------------------


async def _bans_page(
    request: Request, who: Principal, site: SiteConfig, *, status: int = 200, error: str = "",
    form: Form | None = None,
) -> Response:  # fmt: skip
    ctx = ctx_of(request)
    comment_text = (form.one("comment", limit=20) if form else query(request, "comment", 20)) or ""
    item = None
    if comment_text.isdigit():
        item = await ctx.moderation.item(int(comment_text))
        if item is None or item.comment.site != site.id:
            item = None
    return render(
        request, "admin/bans.html", status=status, who=who, site=site, section="bans",
        bans=await ctx.bans.listing(site.id), kinds=BAN_KINDS, expiries=EXPIRIES, item=item, error=error,
        values=form.fields if form else {}, done=query(request, "done", 20),
    )  # fmt: skip


@page
async def bans(request: Request) -> Response:
    """GET /admin/sites/{site}/bans — the bans in force, and the form to add one (``?comment=ID``
    prefills it with a comment's author)."""
    who = await staff(request)
    return await _bans_page(request, who, site_for(request, who))


@page
async def add_ban(request: Request) -> Response:
    """POST /admin/sites/{site}/bans — ban by a value, or the author of a comment (``comment``)."""
    who, form = await posted(request)
    site = site_for(request, who)
    ctx = ctx_of(request)
    kind = form.one("kind", limit=20)
    comment = form.one("comment", limit=20)
    value = form.one("value", limit=320).strip()
    expiry = form.one("expires", limit=10)
    try:
        if kind not in BAN_KINDS or (kind == "network" and comment):
            raise errors.InvalidInput.field("kind", "choose what to ban")
        if expiry not in EXPIRIES:
            raise errors.InvalidInput.field("expires", "choose when the ban ends")
        if not comment and not value:
            raise errors.InvalidInput.field("value", "is required")
        expires = ctx.clock() + timedelta(days=int(expiry[:-1])) if expiry else None
        ban = await ctx.bans.add(
            site,
            kind,
            actor=who.actor,
            value=None if comment else value,
            comment_id=ident(comment, "comment") if comment else None,
            shadow=form.one("shadow", limit=5) == "1",
            expires=expires,
            reason=form.one("reason", limit=500),
        )
    except errors.InvalidInput as exc:
        message = "; ".join(f"{e.field}: {e.message}" for e in exc.errors) or exc.detail
        if is_htmx(request):
            raise
        return await _bans_page(request, who, site, status=422, error=message, form=form)
    if comment and is_htmx(request):
        from kibitz.web.admin_queue import _answer

        item = await ctx.moderation.item(int(comment))
        shadow = "shadow-" if ban.shadow else ""
        note = f"Author of comment {comment} {shadow}banned by {BanKind(ban.kind).value}."
        return await _answer(request, who, site, form, [item] if item else [], note)
    return redirect(f"/admin/sites/{site.id}/bans?done=added")


@page
async def lift_ban(request: Request) -> Response:
    """POST /admin/sites/{site}/bans/{ban}/lift — lift a ban."""
    who, _ = await posted(request)
    site = site_for(request, who)
    await ctx_of(request).bans.remove(
        site.id, ident(str(request.path_params.get("ban", "")), "ban"), who.actor
    )
    return redirect(f"/admin/sites/{site.id}/bans?done=lifted")


# -- settings ------------------------------------------------------------------------------------------


def _typed(setting: Setting, form: Form) -> Any:
    """A field's value as the settings object holds it; InvalidInput naming the field otherwise."""
    raw = form.one(setting.key, limit=100_000)
    if setting.kind == "bool":
        return raw == "1"
    if setting.kind == "words":
        return [line.strip() for line in raw.splitlines() if line.strip()]
    raw = raw.strip()
    if setting.kind == "int":
        if not raw.lstrip("-").isdigit():
            raise errors.InvalidInput.field(setting.key, "must be a whole number")
        return int(raw)
    if setting.kind == "fraction":
        try:
            return float(raw)
        except ValueError:
            raise errors.InvalidInput.field(setting.key, "must be a number from 0 to 1") from None
    return raw


async def _settings_page(
    request: Request, who: Principal, site: SiteConfig, *, status: int = 200,
    problems: dict[str, str] | None = None, values: dict[str, Any] | None = None,
) -> Response:  # fmt: skip
    ctx = ctx_of(request)
    current = await ctx.moderation.settings(site)
    stored = await ctx.policies.stored(site.id)
    return render(
        request, "admin/settings.html", status=status, who=who, site=site, section="settings",
        settings=SETTINGS, values={**current, **(values or {})}, file=policy.as_dict(site),
        overridden={key for key in stored if key in current}, problems=problems or {},
        saved=query(request, "saved", 5) == "1",
    )  # fmt: skip


@page
async def settings_page(request: Request) -> Response:
    """GET /admin/sites/{site}/settings — every moderation setting, marking those that override
    kibitz.toml."""
    who = await staff(request)
    return await _settings_page(request, who, site_for(request, who))


@page
async def save_settings(request: Request) -> Response:
    """POST /admin/sites/{site}/settings — save the changed settings (each change is audited)."""
    who, form = await posted(request)
    site = site_for(request, who)
    ctx = ctx_of(request)
    current = await ctx.moderation.settings(site)
    problems: dict[str, str] = {}
    changes: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    for setting in SETTINGS:
        if not form.has(setting.key) and setting.kind != "bool":
            continue
        try:
            typed[setting.key] = value = _typed(setting, form)
        except errors.InvalidInput as exc:
            problems[setting.key] = exc.errors[0].message
            typed[setting.key] = form.one(setting.key, limit=100_000)
            continue
        if value != current.get(setting.key):
            changes[setting.key] = value
    if not problems and changes:
        try:
            await ctx.moderation.update_settings(site, changes, who.actor)
        except errors.InvalidInput as exc:
            problems = {e.field: e.message for e in exc.errors} or {"moderation": exc.detail}
    if problems:
        return await _settings_page(request, who, site, status=422, problems=problems, values=typed)
    return redirect(f"/admin/sites/{site.id}/settings?saved=1")


# -- dashboard and audit -----------------------------------------------------------------------------------


@page
async def dashboard(request: Request) -> Response:
    """GET /admin/sites/{site}/dashboard — 30 days of comments and reports (charts with their tables),
    what waits now, and the most discussed stories."""
    who = await staff(request)
    site = site_for(request, who)
    stats = await ctx_of(request).moderation.stats(site.id, DASHBOARD_DAYS)
    days = [d.day for d in stats.days]
    outcomes = [
        charts.Series("Approved", [d.approved for d in stats.days], "approved"),
        charts.Series(
            "Waiting", [max(0, d.posted - d.approved - d.rejected - d.spam) for d in stats.days], "pending"
        ),
        charts.Series("Rejected", [d.rejected for d in stats.days], "rejected"),
        charts.Series("Spam", [d.spam for d in stats.days], "spam"),
    ]
    reports = [charts.Series("Reports", [d.flagged for d in stats.days], "flagged")]
    title = f"Comments per day, last {DASHBOARD_DAYS} days"
    return render(
        request, "admin/dashboard.html", who=who, site=site, section="dashboard", stats=stats,
        posted=sum(d.posted for d in stats.days),
        outcome_chart=charts.bar_chart(
            days, outcomes, title=title, id_prefix="posted",
            description="Comments posted each day, stacked by what became of them.",
        ),
        outcome_table=charts.data_table(days, outcomes, caption=f"{title}, by outcome"),
        report_chart=charts.bar_chart(
            days, reports, title=f"Reader reports per day, last {DASHBOARD_DAYS} days", id_prefix="reports",
            description="Reports readers made each day.",
        ),
        report_table=charts.data_table(days, reports, caption="Reader reports per day"),
        tabs=TABS,
    )  # fmt: skip


@page
async def audit(request: Request) -> Response:
    """GET /admin/audit — the audit log, newest first, filtered by site, actor and action (a
    moderator sees their own sites only)."""
    who = await staff(request)
    ctx = ctx_of(request)
    site_id = query(request, "site", 64)
    if site_id and not who.can(site_id):
        raise errors.NotFound("No such site") if who.is_owner else errors.Forbidden("Not allowed")
    sites = visible_sites(ctx, who)
    f = AuditFilter(
        sites=None if who.is_owner else tuple(s.id for s in sites),
        site=site_id,
        actor=query(request, "actor", 200),
        action=query(request, "action", 64),
    )
    before_text = query(request, "before", 20)
    before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
    entries = await ctx.moderation.audit(f, before, AUDIT_PAGE + 1)
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    current = ctx.settings.site(site_id) if site_id else None
    return render(
        request, "admin/audit.html", who=who, site=current or (sites[0] if sites else None),
        section="audit", f=f, entries=entries, next_before=entries[-1].id if more and entries else None,
        back=local_admin_path(""),
    )  # fmt: skip
