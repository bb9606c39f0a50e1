"""Webhooks: a site's owners register URLs for events; each event becomes one delivery row per webhook
in the transaction that caused it (store/webhooks.py), sent and signed (Standard Webhooks) after
commit by webhook_worker.py. A payload never carries an email, a client address, a reader id or a token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kibitz import __version__, errors, outbound
from kibitz.config import Settings, SiteConfig
from kibitz.models import Comment, CommentStatus, Thread
from kibitz.origins import origin_of
from kibitz.store.db import Database
from kibitz.store.subscribers import Subscription
from kibitz.store.tx import Tx
from kibitz.store.webhooks import Delivery, Webhook
from kibitz.web.shapes import Shaper, rfc3339

Clock = Callable[[], datetime]
CREATED, PENDING, FLAGGED = "comment.created", "comment.pending", "comment.flagged"
APPROVED, REJECTED, CONFIRMED = "comment.approved", "comment.rejected", "subscription.confirmed"
EVENTS = (CREATED, PENDING, APPROVED, REJECTED, FLAGGED, CONFIRMED)
# What each of a moderator's status changes tells the webhooks.
ACTED = {"approve": APPROVED, "reject": REJECTED, "spam": REJECTED, "restore": PENDING}
MAX_PER_SITE = 20
MAX_URL = 2048
BODY_BYTES = 1024  # of a receiver's answer kept in the delivery log
_NOT_PUBLIC = (
    "must be an http(s) URL whose host resolves only to public addresses "
    "(loopback, private, link-local and metadata addresses are refused unless listed in webhook_allow)"
)


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes one: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def new_event_id() -> str:
    return "msg_" + secrets.token_hex(12)


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,`` and the base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"
    keyed with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def policy(settings: Settings) -> outbound.OutboundPolicy:
    """The guard's policy for webhook calls: public addresses, or what ``webhook_allow`` names; no
    redirects; the ``webhook_timeout``; 1 KB of each answer."""
    networks: list[outbound.Network] = []
    hosts: set[str] = set()
    for entry in settings.webhook_allow:
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError:
            hosts.add(entry)
    return outbound.OutboundPolicy(
        allow_networks=tuple(networks),
        allow_hosts=frozenset(hosts),
        timeout=settings.webhook_timeout,
        max_bytes=BODY_BYTES,
        max_redirects=0,
        user_agent=f"Kibitz-Webhooks/{__version__}",
    )


@dataclass(frozen=True)
class Registered:
    webhook: Webhook
    secret: str  # shown once, in the answer to the registration


class Webhooks:
    """Registering a site's webhooks, their delivery log, and the events (in the caller's transaction)."""

    def __init__(self, db: Database, settings: Settings, clock: Clock, shaper: Shaper) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.shaper = shaper
        self.policy = policy(settings)
        # Set when a delivery is written: the delivery loop of this process looks at once.
        self.wakeup = asyncio.Event()

    # -- the owners' side ----------------------------------------------------------------------------

    async def register(self, site: SiteConfig, url: str, events: Sequence[str], actor: str) -> Registered:
        """A new webhook for ``events``; its URL must pass the guard now (and again at every call)."""
        url = url.strip()
        if not url or len(url) > MAX_URL:
            raise errors.InvalidInput.field("url", f"must be 1 to {MAX_URL} characters")
        chosen = tuple(dict.fromkeys(events))
        unknown = [e for e in chosen if e not in EVENTS]
        if not chosen or unknown:
            raise errors.InvalidInput.field("events", "must list one or more of " + ", ".join(EVENTS))
        try:
            await outbound.check_target(url, policy=self.policy)
        except outbound.OutboundError as exc:
            message = f"is not a usable URL: {exc.detail}" if exc.reason == "bad_url" else _NOT_PUBLIC
            problem = [errors.FieldError("url", message)]
            raise errors.WebhookTargetRefused(f"url: {message}", errors=problem) from None
        secret = new_secret()
        now = self.clock()
        async with self.db.write() as tx:
            if len(await tx.webhooks.listing(site.id)) >= MAX_PER_SITE:
                raise errors.InvalidInput.field("url", f"a site has at most {MAX_PER_SITE} webhooks")
            hook = await tx.webhooks.add(site.id, url, chosen, secret, now, actor)
            await self._audit(tx, hook, "webhook.create", actor, {"events": list(chosen)})
        return Registered(hook, secret)

    async def listing(self, site: SiteConfig) -> list[tuple[Webhook, dict[str, int]]]:
        """The site's webhooks, each with its deliveries counted by status."""
        async with self.db.read() as tx:
            hooks = await tx.webhooks.listing(site.id)
            counts = await tx.webhooks.counts([h.id for h in hooks])
        statuses = ("pending", "sending", "delivered", "failed")
        return [(h, {s: counts.get((h.id, s), 0) for s in statuses}) for h in hooks]

    async def get(self, site: SiteConfig, webhook_id: int) -> Webhook:
        async with self.db.read() as tx:
            return await self._hook(tx, site, webhook_id)

    async def remove(self, site: SiteConfig, webhook_id: int, actor: str) -> None:
        """Delete a webhook: nothing more is sent to it, deliveries waiting included."""
        async with self.db.write() as tx:
            hook = await self._hook(tx, site, webhook_id)
            await tx.webhooks.remove(hook.id)
            await self._audit(tx, hook, "webhook.delete", actor, {})

    async def deliveries(
        self, site: SiteConfig, webhook_id: int, before: int | None, limit: int, status: str | None = None
    ) -> list[Delivery]:
        """A webhook's delivery log, newest first."""
        async with self.db.read() as tx:
            hook = await self._hook(tx, site, webhook_id)
            return await tx.webhooks.deliveries(hook.id, before, max(1, min(limit, 101)), status)

    async def resend(self, site: SiteConfig, webhook_id: int, delivery_id: int, actor: str) -> Delivery:
        """Send a delivery again now (same webhook-id, same body, fresh attempts); 409 while in flight."""
        async with self.db.write() as tx:
            hook = await self._hook(tx, site, webhook_id)
            found = await tx.webhooks.delivery(delivery_id)
            if found is None or found.webhook_id != hook.id:
                raise errors.NotFound("No such delivery")
            if not await tx.webhooks.resend(found.id, self.clock()):
                raise errors.Conflict("This delivery is being sent right now")
            await self._audit(tx, hook, "webhook.resend", actor, {"delivery": str(found.id)})
            again = await tx.webhooks.delivery(found.id)
        assert again is not None
        self.wakeup.set()
        return again

    async def _hook(self, tx: Tx, site: SiteConfig, webhook_id: int) -> Webhook:
        hook = await tx.webhooks.get(webhook_id)
        if hook is None or hook.site != site.id:
            raise errors.NotFound("No such webhook")
        return hook

    async def _audit(self, tx: Tx, hook: Webhook, action: str, actor: str, detail: dict[str, Any]) -> None:
        # The origin only: a receiver's URL may carry a token in its path or query.
        detail = {"origin": origin_of(hook.url) or "", **detail}
        await tx.audit.record(
            at=self.clock(), site=hook.site, actor=actor, action=action, target=f"webhook:{hook.id}",
            detail=detail,
        )  # fmt: skip

    # -- events (each in the transaction of the change that caused it) --------------------------------

    async def posted(self, tx: Tx, thread: Thread, comment: Comment, now: datetime) -> None:
        """A reader's new comment: public at once, or held for a moderator (spam tells nobody)."""
        if comment.visible:
            await self._comment_event(tx, CREATED, thread, comment, now, dedupe=f"{CREATED}:{comment.id}")
        elif comment.status is CommentStatus.PENDING and not comment.deleted:
            await self._comment_event(tx, PENDING, thread, comment, now)

    async def moderated(
        self, tx: Tx, site: str, comment_id: int, action: str, reason: str, now: datetime
    ) -> None:
        """A moderator changed a comment's status (approve, reject, spam, restore)."""
        event = ACTED.get(action)
        if event is None or not await tx.webhooks.listing(site):
            return
        comment = await tx.comments.get(comment_id)
        thread = await tx.webhooks.thread(comment.thread_id) if comment is not None else None
        if comment is None or thread is None:
            return
        extra = {"moderation": {"action": action, "reason": reason or None}}
        await self._comment_event(tx, event, thread, comment, now, extra)
        if comment.visible:  # public now: the first time, that is a new comment for the site too
            await self._comment_event(tx, CREATED, thread, comment, now, dedupe=f"{CREATED}:{comment.id}")

    async def flagged(self, tx: Tx, comment: Comment, reader_id: str, reason: str, now: datetime) -> None:
        """A reader reported a comment (once per reader and comment)."""
        if not await tx.webhooks.for_event(comment.site, FLAGGED):
            return
        thread = await tx.webhooks.thread(comment.thread_id)
        if thread is None:
            return
        reader = hashlib.sha256(reader_id.encode()).hexdigest()[:32]  # a key only, never sent
        extra = {"report": {"reason": reason, "reports": await tx.flags.count(comment.id)}}
        await self._comment_event(
            tx, FLAGGED, thread, comment, now, extra, dedupe=f"{FLAGGED}:{comment.id}:{reader}"
        )

    async def confirmed(
        self, tx: Tx, site: str, confirmed: Sequence[tuple[Subscription, Thread | None]], now: datetime
    ) -> None:
        """Subscriptions put in force by their reader's confirmation: one event each, without the
        address (nor anything else about who)."""
        if not confirmed or not await tx.webhooks.for_event(site, CONFIRMED):
            return
        config = self.settings.site(site)
        for subscription, thread in confirmed:
            story = thread is not None and subscription.topic != "newsletter"
            listed: str | None = None
            if subscription.topic == "newsletter":  # "" is from before lists: the site's first list
                first = config.lists[0].id if config is not None and config.lists else None
                listed = subscription.list_id or first
            data = {
                "site": site,
                "topic": subscription.topic,
                "list": listed,
                "digest": subscription.digest,
                "page": thread.page if story and thread else None,
                "title": thread.page_title if story and thread else None,
                "url": (thread.page_url or None) if story and thread else None,
            }
            await self._emit(tx, site, CONFIRMED, data, now)

    async def _comment_event(
        self, tx: Tx, event: str, thread: Thread, comment: Comment, now: datetime,
        extra: dict[str, Any] | None = None, *, dedupe: str | None = None,
    ) -> None:  # fmt: skip
        if not await tx.webhooks.for_event(thread.site, event):
            return  # (the usual case: no payload is built)
        shaped = self.shaper.own(comment, comment.status.value)
        for internal in ("replies", "reply_count"):
            shaped.pop(internal, None)
        data = {
            "site": thread.site,
            "page": thread.page,
            "title": thread.page_title,  # the publisher's own title; "" until known
            "url": thread.page_url or None,
            "comment": shaped,
            **(extra or {}),
        }
        await self._emit(tx, thread.site, event, data, now, dedupe)

    async def _emit(
        self, tx: Tx, site: str, event: str, data: dict[str, Any], now: datetime, dedupe: str | None = None
    ) -> None:
        hooks = await tx.webhooks.for_event(site, event)
        if not hooks:
            return
        event_id = new_event_id()
        body = json.dumps(
            {"type": event, "timestamp": rfc3339(now), "data": data},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for hook in hooks:
            await tx.webhooks.enqueue(hook.id, event_id, event, dedupe or event_id, body, now)
        self.wakeup.set()
