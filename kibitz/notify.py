"""Events → recipients → rendered emails → outbox rows, inside the transaction of the change that caused them.

Only confirmed subscribers with an active subscription are notified; everyone else's notification is
simply not created. A comment is shown as escaped plain text: no remote images, no links but ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kibitz import markup
from kibitz.models import Comment, Thread
from kibitz.store.outbox import NewMail
from kibitz.store.subscribers import Follower
from kibitz.store.tx import Tx
from kibitz.subscriptions import Links, one_line
from kibitz.templating import render_template

EXCERPT = 2000  # characters of a comment shown in a mail


@dataclass(frozen=True)
class Rendered:
    subject: str
    text_body: str
    html_body: str


def excerpt(comment: Comment, limit: int = EXCERPT) -> str:
    """The comment's text without any markup (escaped again by the HTML template)."""
    text = markup.plain_text(comment.html)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def thread_name(links: Links, thread: Thread, *, quoted: bool = False) -> str:
    """How mail names a thread: the publisher's title of the page (titles.py), else the site's name.
    Never the title, page key or url a reader sent: whoever posts first must not word our mail."""
    if thread.page_title:
        title = one_line(thread.page_title, 120)
        return f"“{title}”" if quoted else title
    return f"a story on {links.site_name(thread.site)}"


def comment_values(links: Links, thread: Thread, comment: Comment) -> dict[str, Any]:
    return {
        "author": one_line(comment.author.name, 64),
        "thread_name": thread_name(links, thread),
        "story": thread_name(links, thread, quoted=True),
        "text": excerpt(comment),
        "view_url": links.comment(thread, comment.id),
    }


def render_notification(
    links: Links, kind: str, follower: Follower, thread: Thread, comment: Comment, now: datetime
) -> Rendered:
    values = comment_values(links, thread, comment)
    if kind == "reply":
        subject = f"{values['author']} replied to your comment on {values['thread_name']}"
        lead = f"{values['author']} replied to your comment on {values['story']}:"
    else:
        subject = f"New comment by {values['author']} on {values['thread_name']}"
        lead = f"{values['author']} commented on {values['story']}:"
    values.update(
        kind=kind,
        lead=lead,
        site_name=links.site_name(thread.site),
        unsubscribe_url=links.unsubscribe(follower.subscription.id, now),
        manage_url=links.manage(follower.subscriber.id, now),
    )
    return Rendered(
        subject=one_line(subject),
        text_body=render_template("email/notification.txt", **values),
        html_body=render_template("email/notification.html", **values),
    )


async def on_comment(
    tx: Tx, links: Links, thread: Thread, comment: Comment, parent: Comment | None, now: datetime
) -> int:
    """Notify about a new comment: its parent's author (their "replies" subscription) and the
    thread's followers, never its own author. Returns how many mails or digest items were made."""
    if not comment.visible:
        return 0  # held comments notify when (and if) a moderator lets them through
    poster = comment.author.email
    done: set[int] = set()  # subscribers already told about this comment
    made = 0
    if parent is not None and parent.author.email and parent.author.email != poster:
        for follower in await tx.subscribers.followers(thread.id, "replies", parent.author.email):
            made += await _deliver(tx, links, "reply", follower, thread, comment, now)
            done.add(follower.subscriber.id)
    for follower in await tx.subscribers.followers(thread.id, "thread"):
        if follower.subscriber.id in done or (poster and follower.subscriber.email == poster):
            continue
        made += await _deliver(tx, links, "thread", follower, thread, comment, now)
        done.add(follower.subscriber.id)
    return made


async def _deliver(
    tx: Tx, links: Links, kind: str, follower: Follower, thread: Thread, comment: Comment, now: datetime
) -> int:
    if follower.subscription.digest == "daily":
        await tx.subscribers.add_digest_item(follower.subscription.id, comment.id, now)
        return 1
    rendered = render_notification(links, kind, follower, thread, comment, now)
    added = await tx.outbox.enqueue(
        NewMail(
            site=thread.site,
            kind=kind,
            dedupe_key=f"comment:{comment.id}",
            recipient=follower.subscriber.email,
            subject=rendered.subject,
            text_body=rendered.text_body,
            html_body=rendered.html_body,
            list_unsubscribe=links.unsubscribe(follower.subscription.id, now),
            subscriber_id=follower.subscriber.id,
            subscription_id=follower.subscription.id,
            comment_id=comment.id,
        ),
        now,
    )
    return int(added)
