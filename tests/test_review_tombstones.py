"""Issue 11, finding 5: a deleted or hidden comment carries nothing of what was said (text, anchor,
author) and nothing about moderation, in the JSON thread, the HTML fragment, Atom and the event
stream's replay; on both engines."""

from __future__ import annotations

from typing import Any, cast

import orjson
import pytest
from starlette.requests import Request

from kibitz.web.live import Stream
from tests.conftest import ORIGIN_A, Api

pytestmark = pytest.mark.anyio

QUOTE = "the secret passage nobody should read again"
COMMENT_KEYS = {
    "id", "parent", "author", "html", "created", "edited", "score", "up", "down", "replies",
    "reply_count", "anchor", "pinned", "featured", "edited_by_moderator", "deleted", "status",
}  # fmt: skip


def anchor() -> dict[str, Any]:
    return {"exact": QUOTE, "prefix": "before ", "suffix": " after", "start": 10, "end": 53}


async def anchored(api: Api, text: str, with_reply: bool) -> tuple[str, str]:
    """An anchored comment (and a reply to it when asked); (its id, its edit token)."""
    r = await api.post(text=text, anchor=anchor(), title="A story")
    assert r.status_code == 201, r.text
    posted = r.json()
    if with_reply:
        reply = await api.post(text="A reply that stays", parent=posted["comment"]["id"])
        assert reply.status_code == 201, reply.text
    return posted["comment"]["id"], posted["token"]


def by_id(thread: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    todo = list(thread["comments"])
    while todo:
        c = todo.pop()
        out[c["id"]] = c
        todo.extend(c["replies"])
    return out


async def moderate(api: Api, comment_id: str, action: str) -> None:
    ctx = api.app.state.ctx
    site = ctx.settings.site("a")
    assert site is not None
    await ctx.moderation.act(site, int(comment_id), action, "desk@news.example")


async def replay(api: Api) -> list[tuple[str, dict[str, Any]]]:
    """What a reader reconnecting with ``?last=0`` is sent: every (event, data) of the thread's replay."""
    ctx = api.app.state.ctx
    async with ctx.db.read() as tx:
        thread = await tx.threads.get("a", "/story")
    assert thread is not None
    # The replay's own read, without a server (in-process clients buffer whole streaming bodies).
    stream = Stream(ctx, cast(Request, None), cast(Any, None), "a", "/story", thread.id, 0, resumed=True)
    out: list[tuple[str, dict[str, Any]]] = []
    after = 0
    while True:
        frames, last, count = await stream._read(thread.id, after)
        for frame in frames:
            lines = dict(line.split(": ", 1) for line in frame.decode().strip().split("\n"))
            out.append((lines["event"], orjson.loads(lines["data"])))
        if not count:
            return out
        after = last


def about(data: dict[str, Any]) -> str | None:
    """The comment an event's data is about (a comment event's comment, a vote's id)."""
    comment = data.get("comment")
    found = comment["id"] if isinstance(comment, dict) else data.get("id")
    return str(found) if found is not None else None


def assert_bare_tombstone(shaped: dict[str, Any]) -> None:
    assert set(shaped) == COMMENT_KEYS
    assert shaped["deleted"] is True
    assert shaped["status"] == "deleted"
    assert shaped["html"] == ""
    assert shaped["anchor"] is None
    assert shaped["author"] == {"name": "", "avatar": None, "url": None, "badges": []}


async def everything_readers_get(api: Api) -> str:
    """The thread as JSON (all and inline), HTML fragment and Atom (thread and site), as one text."""
    parts = [
        (await api.client.get("/api/v1/sites/a/comments", params={"page": "/story"})).text,
        (
            await api.client.get("/api/v1/sites/a/comments", params={"page": "/story", "filter": "inline"})
        ).text,
        (await api.client.get("/api/v1/sites/a/comments.html", params={"page": "/story"})).text,
        (await api.client.get("/api/v1/sites/a/feed.atom", params={"page": "/story"})).text,
        (await api.client.get("/api/v1/sites/a/feed.atom")).text,
    ]
    parts += [orjson.dumps(data).decode() for _, data in await replay(api)]
    return "\n".join(parts)


async def test_an_author_deleted_comment_with_replies_keeps_no_anchor_or_text_anywhere(api: Api) -> None:
    gone, token = await anchored(api, "Words I take back", with_reply=True)
    r = await api.client.delete(
        f"/api/v1/comments/{gone}",
        headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 204

    assert_bare_tombstone(by_id(await api.thread())[gone])
    async with api.app.state.ctx.db.read() as tx:
        stored = await tx.comments.get(int(gone))
    assert stored is not None
    assert stored.anchor is None  # erased, not only withheld: an author's delete is for good
    assert stored.text == ""
    seen = await everything_readers_get(api)
    assert QUOTE not in seen
    assert "Words I take back" not in seen
    assert "A reply that stays" in seen
    for event, data in await replay(api):
        if event.startswith("comment.") and "comment" in data and about(data) == gone:
            assert_bare_tombstone(data["comment"])


@pytest.mark.parametrize("action", ["reject", "spam"])
async def test_a_hidden_comment_with_replies_is_a_tombstone_that_says_deleted_not_moderated(
    api: Api, action: str
) -> None:
    hidden, _ = await anchored(api, "Words a moderator removed", with_reply=True)
    await moderate(api, hidden, action)

    assert_bare_tombstone(by_id(await api.thread())[hidden])
    seen = await everything_readers_get(api)
    assert QUOTE not in seen
    assert "Words a moderator removed" not in seen
    assert "rejected" not in seen
    assert '"spam"' not in seen
    frames = [data["comment"] for _, data in await replay(api) if about(data) == hidden]
    assert frames, "the tombstone still carries its replies in the replay"
    for shaped in frames:
        assert_bare_tombstone(shaped)


@pytest.mark.parametrize("action", ["reject", "spam"])
async def test_a_hidden_comment_without_replies_is_absent_from_the_replay_but_for_its_deletion(
    api: Api, action: str
) -> None:
    hidden, _ = await anchored(api, "Soon gone entirely", with_reply=False)
    voter = await api.vote(hidden, 1)
    assert voter.status_code == 200
    await api.post(text="Another comment stays")
    await moderate(api, hidden, action)

    assert hidden not in by_id(await api.thread())
    about_it = [(event, data) for event, data in await replay(api) if about(data) == hidden]
    assert [event for event, _ in about_it] == ["comment.deleted"]
    assert_bare_tombstone(about_it[0][1]["comment"])
    seen = await everything_readers_get(api)
    assert QUOTE not in seen
    assert "Soon gone entirely" not in seen
    assert "Another comment stays" in seen


async def test_a_restored_comment_gets_its_anchor_back(api: Api) -> None:
    hidden, _ = await anchored(api, "Wrongly hidden", with_reply=False)
    await moderate(api, hidden, "reject")
    await moderate(api, hidden, "approve")
    shaped = by_id(await api.thread())[hidden]
    assert shaped["anchor"]["exact"] == QUOTE
    assert shaped["status"] == "approved"
