"""Comment rules: post, edit window, soft delete, votes, flags, reply trees and sort orders."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from kibitz import akismet, consent, errors, guard, inputs, markup, moderator_mail, notify, titles, tree
from kibitz.accounts import check_policy
from kibitz.avatar import avatar_key
from kibitz.comment_edits import EDIT_TOKEN, CommentEdits
from kibitz.config import ModerationMode, SiteConfig
from kibitz.events import EventKind, Events, ThreadEvent
from kibitz.models import (
    AccountAuthor,
    Anchor,
    Author,
    Comment,
    CommentNode,
    CommentStatus,
    Sort,
    Thread,
    ThreadPage,
)
from kibitz.origins import origin_of
from kibitz.policy import Policies
from kibitz.security import Tokens
from kibitz.store.comments import NewComment
from kibitz.store.db import Database
from kibitz.store.tx import Tx
from kibitz.story_authors import badges_when_posting
from kibitz.subscriptions import Links

if TYPE_CHECKING:
    from kibitz.accounts import Reader
    from kibitz.akismet import Akismet, Checked
    from kibitz.webhooks import Webhooks

Clock = Callable[[], datetime]
# The edit token outlives the window a little, so a late edit hears "window closed", not "forbidden".
TOKEN_GRACE = timedelta(days=1)
# What a post's "notify" subscribes its author to: "updates" is the story's updates only (story_updates.py).
NOTIFY_TOPICS = {"replies": "replies", "all": "thread", "updates": "updates"}


@dataclass(frozen=True)
class PostRequest:
    site: SiteConfig
    page: str
    text: str
    author_name: str
    author_email: str | None = None
    author_url: str | None = None
    title: str | None = None
    url: str | None = None
    parent_id: int | None = None
    anchor: Anchor | None = None
    reader_id: str | None = None  # raw (verified) id, or None for a new reader
    client: str = ""  # rate-limit key of the client address
    client_addr: str = ""
    idempotency_key: str | None = None
    fingerprint: str = ""  # of the request body, for idempotent retries
    notify: str = "none"  # none | replies | all | updates: subscribe the author's email to this thread
    digest: str = "instant"  # instant | daily
    honeypot: str = ""  # the widget's hidden field: a person leaves it empty
    form_token: str | None = None  # from GET .../form when the widget drew its form
    user_agent: str = ""  # for Akismet, when the site turned it on
    referrer: str = ""
    account: AccountAuthor | None = None  # a signed-in poster: their account's name and address
    # Who writes, checked against the site's ``authors`` policy inside the write's own transaction
    # (the policy as in force then, with no read of its own before it); None: a guest.
    writer: Reader | None = None


@dataclass(frozen=True)
class Posted:
    comment: Comment
    token: str
    reader_id: str
    new_reader: bool
    replayed: dict[str, Any] | None = None  # the stored response of an idempotent retry
    status: str = "approved"  # what the poster is told: "approved" or "pending" (DESIGN.md §3b)


def closed_now(site: SiteConfig, closed: bool, created: datetime, now: datetime) -> bool:
    """A thread takes no comments: closed by a moderator, or older than the site's ``close_after``."""
    return closed or bool(site.close_after and now - created > site.close_after)


def empty_thread(site: str, page: str) -> Thread:
    return Thread(
        id=0,
        site=site,
        page=page,
        title="",
        url="",
        closed=False,
        count=0,
        version=0,
        created=datetime.fromtimestamp(0, UTC),
    )


class Comments(CommentEdits):
    """The discussion engine. Each method is one transaction; events go out after commit."""

    webhooks: Webhooks | None = None  # set by the Context: a post's webhook deliveries
    akismet: Akismet | None = None  # set by the Context: asked first, for sites that turned it on

    def __init__(
        self,
        db: Database,
        tokens: Tokens,
        events: Events,
        clock: Clock,
        avatar_secret: bytes,
        links: Links | None = None,
        policies: Policies | None = None,
    ) -> None:
        self.links = links  # for notification mails; None sends none
        self.policies = policies or Policies(db, avatar_secret)
        self.db = db
        self.tokens = tokens
        self.events = events
        self.clock = clock
        self.avatar_secret = avatar_secret

    def is_closed(self, site: SiteConfig, thread: Thread) -> bool:
        return bool(thread.id) and closed_now(site, thread.closed, thread.created, self.clock())

    def edit_token(self, site: SiteConfig, comment: Comment) -> str:
        ttl = (comment.created + site.edit_window + TOKEN_GRACE) - self.clock()
        return self.tokens.issue(EDIT_TOKEN, str(comment.id), now=self.clock(), ttl=max(ttl, timedelta(0)))

    # -- writes -----------------------------------------------------------------------------------

    async def post(self, req: PostRequest) -> Posted:
        """Post a comment or a reply; one transaction for thread, comment, counters and the
        idempotency record; the event goes out after it committed."""
        site = req.site
        page = inputs.page_key(req.page)
        text = inputs.text(req.text)
        name = inputs.author_name(req.author_name)
        email = inputs.email(req.author_email)
        signed_in = req.account
        if signed_in is not None:  # the account's name and proven address, never what was typed
            name, email = signed_in.name, signed_in.email
        author_url = inputs.web_url(req.author_url)
        title = inputs.title(req.title)
        url = self._article_url(site, req.url)
        a = req.anchor
        anchor = None if a is None else inputs.anchor(a.exact, a.prefix, a.suffix, a.start, a.end, a.hash)
        html = markup.render(text, allow_images=site.allow_images)
        reader_id, new_reader = req.reader_id, req.reader_id is None
        # A retry after a lost 201 comes from the same reader or, for a first post, the same address.
        principal = f"r:{req.reader_id}" if req.reader_id else f"a:{req.client}"
        if reader_id is None:
            reader_id = self.tokens.new_reader()
        # The avatar names the poster's reader id, never the (unverified) email: a probe with a
        # guessed address gets its own reader's avatar, which matches nobody else's.
        author = Author(
            name=name,
            email=email,
            url=author_url,
            avatar_key=avatar_key(self.avatar_secret, site.id, reader_id),
        )
        if signed_in is not None:
            author = replace(
                author, avatar_key=signed_in.avatar_key, picture=signed_in.picture, badges=signed_in.badges
            )
        # Outside the transaction: a slow answer holds no lock (and holds the post, if none comes).
        checked = await self._akismet(req, url, text, name, email, author_url)
        now = self.clock()
        try:
            async with self.db.write() as tx:
                site = await self.policies.effective(tx, req.site)
                check_policy(site.authors, req.writer)  # refused: nothing stored, nothing counted
                if req.idempotency_key:
                    stored = await tx.idempotency.get(site.id, principal, req.idempotency_key)
                    if stored is not None:
                        return await self._replay(tx, stored.fingerprint, req, stored.response)
                await guard.check_rate(
                    tx,
                    site=site.id,
                    action="comments",
                    limit=site.rate_limits.comments,
                    client=req.client,
                    now=now,
                )
                if site.allow_images != req.site.allow_images:
                    html = markup.render(text, allow_images=site.allow_images)
                thread = await tx.threads.get_or_create(site.id, page, title, url, now)
                if self.is_closed(site, thread):
                    raise errors.ThreadClosed()
                await titles.refresh_if_stale(tx, thread, now)
                if thread.moderation:
                    site = replace(site, moderation=ModerationMode(thread.moderation))
                address_hash = self.policies.address_hash(req.client_addr)
                poster = guard.Poster(email, reader_id, name, req.client_addr, address_hash, author_url)
                signals = await guard.automation_signals(
                    tx, self.tokens, site.id, req.honeypot, req.form_token, now
                )
                if checked is not None and checked.signal:
                    signals.append(checked.signal)
                screened = await guard.screen(tx, site, self.policies, poster, text, now, signals)
                # Only the rare post that brings a title or url the thread lacks writes them.
                await tx.threads.fill_missing(
                    thread.id, title=title if not thread.title else "", url=url if not thread.url else ""
                )
                parent = await self._parent(tx, thread, req.parent_id)
                if signed_in is not None:  # "author": the publisher's word, read here (story_authors.py)
                    badges = await badges_when_posting(tx, site.id, page, signed_in.id, author.badges)
                    author = replace(author, badges=badges)
                comment = await tx.comments.insert(
                    NewComment(
                        thread_id=thread.id,
                        parent=parent,
                        status=screened.status,
                        text=text,
                        html=html,
                        renderer_version=markup.RENDERER_VERSION,
                        author=author,
                        reader_id=reader_id,
                        created=now,
                        anchor=anchor,
                        site=site.id,
                        client_hash=address_hash,
                        spam_score=screened.spam_score,
                        reasons=screened.reasons,
                        account_id=signed_in.id if signed_in is not None else None,
                    )
                )
                if checked is not None:
                    await akismet.remember(tx, comment, checked, now)
                if comment.visible:
                    await tx.comments.add_visible_descendants(comment.ancestor_ids, 1)
                    thread = await tx.threads.bump(
                        thread.id, count_delta=1, kind=EventKind.COMMENT_CREATED, comment_id=comment.id
                    )
                    await tx.trust.add(site.id, guard.trust_key(email, reader_id), approved=1, now=now)
                if comment.status is not CommentStatus.SPAM:
                    await self._notify(tx, req, thread, comment, parent, now)
                if comment.status is CommentStatus.PENDING and self.links is not None:
                    await moderator_mail.on_held(tx, self.links, comment, now)  # the site's moderators
                if self.webhooks is not None:
                    await self.webhooks.posted(tx, thread, comment, now)
                posted = Posted(
                    comment,
                    self.edit_token(site, comment),
                    reader_id,
                    new_reader,
                    status=screened.public_status,
                )
                if req.idempotency_key:
                    record = {
                        "comment_id": comment.id,
                        "token": posted.token,
                        "reader_id": reader_id,
                        "status": posted.status,
                    }
                    await tx.idempotency.put(
                        site.id,
                        principal,
                        req.idempotency_key,
                        req.fingerprint,
                        comment.id,
                        json.dumps(record),
                        now,
                    )
        except IntegrityError:
            if not req.idempotency_key:
                raise
            # A concurrent twin with the same key committed first: answer as it did.
            async with self.db.read() as tx:
                stored = await tx.idempotency.get(site.id, principal, req.idempotency_key)
                if stored is None:
                    raise
                return await self._replay(tx, stored.fingerprint, req, stored.response)
        if comment.visible:
            await self.events.dispatch(ThreadEvent.of(EventKind.COMMENT_CREATED, thread, comment.id))
        return posted

    async def _akismet(
        self, req: PostRequest, url: str | None, text: str, name: str, email: str | None, link: str | None
    ) -> Checked | None:
        """Akismet's verdict, for a site that turned it on (None otherwise)."""
        if self.akismet is None or not self.akismet.enabled(req.site):
            return None
        params = akismet.comment_params(
            req.site, client_addr=req.client_addr, user_agent=req.user_agent, referrer=req.referrer,
            permalink=url, reply=req.parent_id is not None, name=name, email=email, url=link,
            text=text, now=self.clock(),
        )  # fmt: skip
        return await self.akismet.check(req.site, params)

    async def _notify(
        self,
        tx: Tx,
        req: PostRequest,
        thread: Thread,
        comment: Comment,
        parent: Comment | None,
        now: datetime,
    ) -> None:
        """Outbox rows for this comment, and the author's own subscription (same transaction)."""
        if self.links is None:
            return
        await notify.on_comment(tx, self.links, thread, comment, parent, now)
        if req.notify not in NOTIFY_TOPICS or not comment.author.email:
            return
        try:
            # Confirmation mails count against the client's subscription limit on this route too;
            # over it, the comment still goes in, without the subscription.
            await guard.check_rate(
                tx,
                site=req.site.id,
                action="subscriptions",
                limit=req.site.rate_limits.subscriptions,
                client=req.client,
                now=now,
            )
        except errors.RateLimited:
            return
        topic = NOTIFY_TOPICS[req.notify]
        digest = req.digest if req.digest in ("instant", "daily") else "instant"
        # A signed-in poster's address is proven (accounts.py): what they ask for is in force at once.
        proven = req.account is not None and req.account.email == comment.author.email
        await consent.request_subscription(
            tx, self.links, req.site.id, comment.author.email, topic, thread.id, digest, now, proven=proven
        )

    async def _replay(self, tx: Tx, fingerprint: str, req: PostRequest, response: str) -> Posted:
        if fingerprint != req.fingerprint:
            raise errors.IdempotencyKeyReused()
        record = json.loads(response)
        comment = await tx.comments.get(int(record["comment_id"]))
        if comment is None:
            raise errors.NotFound("The comment this key created is gone")
        return Posted(
            comment,
            record["token"],
            record["reader_id"],
            new_reader=req.reader_id is None,
            replayed=record,
            status=record.get("status", "approved"),
        )

    def _article_url(self, site: SiteConfig, url: str | None) -> str:
        value = inputs.web_url(url, "url")
        origin = origin_of(value) if value else None
        if value and (origin is None or not site.allows_origin(origin)):
            raise errors.Forbidden(
                "The article url must be on one of the site's origins",
                errors=[errors.FieldError("url", "is not on one of the site's origins")],
            )
        return value

    async def _parent(self, tx: Tx, thread: Thread, parent_id: int | None) -> Comment | None:
        if parent_id is None:
            return None
        parent = await tx.comments.get(parent_id)
        if parent is None or parent.thread_id != thread.id:
            raise errors.InvalidInput.field("parent", "is not a comment of this thread")
        if not parent.visible:
            raise errors.InvalidInput.field("parent", "can no longer be replied to")
        return parent

    # -- reads ------------------------------------------------------------------------------------

    async def own(self, site: SiteConfig, comment_id: int, token: str | None) -> tuple[Comment, str]:
        """A comment as its author sees it, with its edit token: (comment, the status they may
        know): a held comment is "pending", a shadow-banned one "approved" (DESIGN.md §3b)."""
        self._check_token(comment_id, token)
        async with self.db.read() as tx:
            comment = await tx.comments.get(comment_id)
        if comment is None or comment.site != site.id:
            raise errors.NotFound("No such comment")
        return comment, author_status(comment)

    async def site_of(self, comment_id: int) -> str:
        async with self.db.read() as tx:
            site = await tx.comments.site_of(comment_id)
        if site is None:
            raise errors.NotFound("No such comment")
        return site

    async def thread_page(
        self,
        site: SiteConfig,
        page: str,
        sort: Sort,
        limit: int,
        cursor: str | None,
        *,
        inline_only: bool = False,
    ) -> ThreadPage:
        """One page of top-level comments with their replies nested (DESIGN.md §3)."""
        page = inputs.page_key(page)
        after = tree.decode_cursor(sort, cursor) if cursor else None
        async with self.db.read() as tx:
            site = await self.policies.effective(tx, site)
            thread = await tx.threads.get(site.id, page)
            if thread is None:
                return ThreadPage(empty_thread(site.id, page), [], None)
            tops = await tx.comments.top_level(thread.id, sort, after, limit + 1, inline_only=inline_only)
            more = len(tops) > limit
            tops = tops[:limit]
            replies = await tx.comments.descendants([c.id for c in tops])
        nodes = tree.build(tops, tree.children_map(replies, sort))
        next_cursor = tree.encode_cursor(sort, tops[-1]) if more else None
        thread = replace(thread, closed=self.is_closed(site, thread))
        return ThreadPage(thread, nodes, next_cursor)

    async def replies(
        self, comment_id: int, cursor: str | None, sort: Sort = Sort.OLDEST
    ) -> tuple[list[CommentNode], str | None]:
        """Direct replies of one comment (a branch held back inline), each with its own replies."""
        offset = tree.decode_offset(cursor) if cursor else 0
        async with self.db.read() as tx:
            comment = await tx.comments.get(comment_id)
            if comment is None or not tree.is_shown(comment):
                raise errors.NotFound("No such comment")
            subtree = await tx.comments.descendants([comment.root_id or comment.id])
        children = tree.children_map(subtree, sort)
        direct = children.get(comment.id, [])
        chunk = direct[offset : offset + tree.BRANCH_LIMIT]
        nodes = tree.build(chunk, children, depth=tree.INLINE_DEPTH - 1)
        end = offset + len(chunk)
        return nodes, (tree.encode_offset(end) if end < len(direct) else None)

    async def counts(self, site: SiteConfig, pages: list[str]) -> dict[str, int]:
        keys = {page: inputs.page_key(page) for page in pages}
        async with self.db.read() as tx:
            found = await tx.threads.counts(site.id, list(set(keys.values())))
        return {page: found.get(key, 0) for page, key in keys.items()}

    async def recent(
        self, site: SiteConfig, page: str | None, limit: int = 50
    ) -> tuple[Thread | None, list[tuple[Comment, str, str, str]]]:
        key = inputs.page_key(page) if page is not None else None
        async with self.db.read() as tx:
            thread = await tx.threads.get(site.id, key) if key is not None else None
            items = await tx.comments.recent(site.id, key, limit)
        return thread, items


def author_status(comment: Comment) -> str:
    """The status a comment's author may know: a shadow ban or a blocked word tells them nothing."""
    if comment.status is CommentStatus.APPROVED or "shadow_ban" in comment.reasons:
        return CommentStatus.APPROVED.value
    if comment.status is CommentStatus.SPAM:
        return CommentStatus.PENDING.value
    return comment.status.value


def body_fingerprint(body: bytes) -> str:
    """A fingerprint of a request body that ignores key order and whitespace."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
