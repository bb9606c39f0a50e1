"""Reading threads: sort orders, cursor pages, counts, empty pages, page keys, inline anchors, feeds,
moderation and closing (DESIGN.md §3); both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from kibitz.moderation import Moderation
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table

pytestmark = pytest.mark.anyio

ATOM = "{http://www.w3.org/2005/Atom}"


def moderation(api: Api) -> Moderation:
    moderation: Moderation = api.app.state.ctx.moderation
    return moderation


async def posted_id(api: Api, **body: Any) -> str:
    r = await api.post(**body)
    assert r.status_code == 201, r.text
    cid: str = r.json()["comment"]["id"]
    return cid


async def post_series(api: Api, n: int, page: str = "/story", step_minutes: float = 1) -> list[str]:
    """``n`` top-level comments, oldest first, ``step_minutes`` apart."""
    ids = []
    for i in range(n):
        ids.append(await posted_id(api, page=page, text=f"Comment {i}"))
        api.clock.advance(minutes=step_minutes)
    return ids


def ids_of(thread: dict[str, Any]) -> list[str]:
    return [c["id"] for c in thread["comments"]]


async def walk(api: Api, sort: str, limit: int = 3, page: str = "/story") -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        params: dict[str, Any] = {"sort": sort, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        thread = await api.thread(page, **params)
        assert len(thread["comments"]) <= limit
        seen += ids_of(thread)
        cursor = thread["next"]
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ended")


def parse_atom(text: str) -> ET.Element:
    root = ET.fromstring(text)  # noqa: S314 - our own server's output
    assert root.tag == f"{ATOM}feed"
    return root


# -- sort orders -----------------------------------------------------------------------------------


async def test_sort_orders_of_top_level_comments(api: Api) -> None:
    c1, c2, c3, c4 = await post_series(api, 4)
    await api.vote(c1, 1)
    await api.vote(c3, 1)
    await api.vote(c4, 1)
    await api.vote(c4, -1)  # c4: score 0, like c2
    assert ids_of(await api.thread()) == [c4, c3, c2, c1]  # newest is the default
    assert ids_of(await api.thread(sort="newest")) == [c4, c3, c2, c1]
    assert ids_of(await api.thread(sort="oldest")) == [c1, c2, c3, c4]
    # By votes; equal scores newest first.
    assert ids_of(await api.thread(sort="votes")) == [c3, c1, c4, c2]


async def test_unknown_sort_or_filter_is_refused(api: Api) -> None:
    for params in (
        {"sort": "random"},
        {"filter": "mine"},
        {"limit": 0},
        {"limit": -1},
        {"cursor": "garbage!"},
    ):
        r = await api.client.get("/api/v1/sites/a/comments", params={"page": "/story", **params})
        assert r.status_code == 422, params


async def test_replies_oldest_first_or_by_votes(api: Api) -> None:
    top = await posted_id(api, text="Top")
    r1 = await posted_id(api, text="R1", parent=top)
    api.clock.advance(minutes=1)
    r2 = await posted_id(api, text="R2", parent=top)
    api.clock.advance(minutes=1)
    r3 = await posted_id(api, text="R3", parent=top)
    api.clock.advance(minutes=1)
    r4 = await posted_id(api, text="R4", parent=top)
    await api.vote(r2, 1)
    await api.vote(r2, 1)
    await api.vote(r3, 1)
    await api.vote(r1, 1)

    for sort in ("newest", "oldest"):
        replies = (await api.thread(sort=sort))["comments"][0]["replies"]
        assert [c["id"] for c in replies] == [r1, r2, r3, r4], sort
    replies = (await api.thread(sort="votes"))["comments"][0]["replies"]
    assert [c["id"] for c in replies] == [r2, r3, r1, r4]  # r3 and r1 tie at 1: newest first
    assert (await api.thread())["comments"][0]["reply_count"] == 4

    r = await api.client.get(f"/api/v1/comments/{top}/replies")
    assert [c["id"] for c in r.json()["comments"]] == [r1, r2, r3, r4]
    r = await api.client.get(f"/api/v1/comments/{top}/replies", params={"sort": "votes"})
    assert [c["id"] for c in r.json()["comments"]] == [r2, r3, r1, r4]


# -- cursor pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["newest", "oldest", "votes"])
async def test_cursor_walk_visits_every_comment_once(api: Api, sort: str) -> None:
    ids = await post_series(api, 8)
    for i, cid in enumerate(ids[:5]):
        for _ in range(i % 3):
            await api.vote(cid, 1)
    seen = await walk(api, sort)
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    assert seen == ids_of(await api.thread(sort=sort, limit=100))


@pytest.mark.parametrize("sort", ["newest", "oldest", "votes"])
async def test_cursor_walk_with_equal_timestamps_visits_every_comment_once(api: Api, sort: str) -> None:
    ids = await post_series(api, 7, step_minutes=0)
    seen = await walk(api, sort, limit=2)
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("sort", ["newest", "oldest", "votes"])
async def test_cursor_walk_with_pinned_comments_puts_them_first_and_visits_each_once(
    api: Api, sort: str
) -> None:
    """Pinned comments (an old one and a new one) lead every sort, and pages of two cross from the
    pinned to the unpinned ones without losing or repeating one (the oldest-first keyset has a
    condition of its own for each side: store/comments.py)."""
    ids = await post_series(api, 7)
    site = api.app.state.ctx.settings.site("a")
    assert site is not None
    for cid in (ids[1], ids[5]):
        await moderation(api).act(site, int(cid), "pin", "test")
    seen = await walk(api, sort, limit=2)
    assert seen == ids_of(await api.thread(sort=sort, limit=100))
    assert sorted(seen[:2]) == sorted([ids[1], ids[5]])
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    if sort == "oldest":
        assert seen == [ids[1], ids[5], ids[0], ids[2], ids[3], ids[4], ids[6]]


async def test_cursor_walk_stays_stable_while_new_comments_arrive(api: Api) -> None:
    ids = await post_series(api, 8)
    seen: list[str] = []
    cursor = None
    arrived = []
    while True:
        params: dict[str, Any] = {"sort": "newest", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        thread = await api.thread(**params)
        seen += ids_of(thread)
        cursor = thread["next"]
        if cursor is None:
            break
        arrived.append(await posted_id(api, text="Arrived mid-walk"))
        api.clock.advance(minutes=1)
    assert seen == list(reversed(ids))
    assert arrived
    assert not set(arrived) & set(seen)
    assert (await api.thread())["thread"]["count"] == len(ids) + len(arrived)


async def test_next_is_null_on_the_last_page(api: Api) -> None:
    await post_series(api, 6)
    first = await api.thread(limit=3)
    assert first["next"] is not None
    second = await api.thread(limit=3, cursor=first["next"])
    assert len(second["comments"]) == 3
    assert second["next"] is None
    assert (await api.thread(limit=6))["next"] is None
    assert (await api.thread(limit=20))["next"] is None


async def test_a_cursor_of_another_sort_is_refused(api: Api) -> None:
    await post_series(api, 4)
    cursor = (await api.thread(sort="newest", limit=2))["next"]
    r = await api.client.get(
        "/api/v1/sites/a/comments", params={"page": "/story", "sort": "oldest", "cursor": cursor}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "cursor"


async def test_limit_above_100_is_clamped(api: Api) -> None:
    await post_series(api, 102, step_minutes=0)
    thread = await api.thread(limit=1000)
    assert len(thread["comments"]) == 100
    assert thread["next"] is not None
    assert thread["thread"]["count"] == 102
    assert len((await api.thread())["comments"]) == 20  # the default


# -- counts, tombstones, empty pages ----------------------------------------------------------------


async def test_count_includes_replies_and_leaves_out_tombstones(api: Api) -> None:
    top = (await api.post(text="Top")).json()
    reply = await posted_id(api, text="Reply", parent=top["comment"]["id"])
    await posted_id(api, text="Reply to reply", parent=reply)
    lonely = (await api.post(text="Lonely")).json()
    assert (await api.thread())["thread"]["count"] == 4

    headers = {"Origin": ORIGIN_A}
    r = await api.client.delete(
        f"/api/v1/comments/{top['comment']['id']}",
        headers={**headers, "Authorization": f"Bearer {top['token']}"},
    )
    assert r.status_code == 204
    r = await api.client.delete(
        f"/api/v1/comments/{lonely['comment']['id']}",
        headers={**headers, "Authorization": f"Bearer {lonely['token']}"},
    )
    assert r.status_code == 204
    thread = await api.thread()
    assert thread["thread"]["count"] == 2
    assert ids_of(thread) == [top["comment"]["id"]]  # the lonely one left the listing
    assert thread["comments"][0]["deleted"] is True
    assert thread["comments"][0]["replies"][0]["id"] == reply
    r = await api.client.get("/api/v1/sites/a/counts", params={"page": "/story"})
    assert r.json() == {"counts": {"/story": 2}}


async def test_a_page_nobody_commented_on_is_an_empty_thread(api: Api) -> None:
    thread = await api.thread("/never-commented")
    assert thread["comments"] == []
    assert thread["next"] is None
    assert thread["thread"]["count"] == 0
    assert thread["thread"]["page"] == "/never-commented"
    assert thread["thread"]["closed"] is False

    r = await api.client.get("/api/v1/sites/a/comments.html", params={"page": "/never-commented"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Would love your thoughts" in r.text
    assert 'data-count="0"' in r.text

    r = await api.client.get("/api/v1/sites/a/feed.atom", params={"page": "/never-commented"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    root = parse_atom(r.text)
    assert root.findall(f"{ATOM}entry") == []
    assert root.find(f"{ATOM}title") is not None

    r = await api.client.get("/api/v1/sites/a/counts", params={"page": "/never-commented"})
    assert r.json() == {"counts": {"/never-commented": 0}}


async def test_page_keys_are_canonical(api: Api) -> None:
    for page in ("/story/", "/story?x=1#c", "/story", "/story#comments"):
        assert (await api.post(page=page)).status_code == 201
    for page in ("/story", "/story/", "/story?utm_source=x", "/story#kibitz"):
        thread = await api.thread(page)
        assert thread["thread"]["count"] == 4, page
        assert thread["thread"]["page"] == "/story"
    r = await api.client.get("/api/v1/sites/a/counts", params={"page": ["/story/", "/story?x=2"]})
    assert r.json() == {"counts": {"/story/": 4, "/story?x=2": 4}}
    assert (await api.thread("/"))["thread"]["count"] == 0


async def test_counts_for_many_pages(api: Api) -> None:
    await post_series(api, 2, page="/one")
    await post_series(api, 3, page="/two")
    pages = ["/one", "/two", "/nobody", *[f"/p{i}" for i in range(97)]]
    r = await api.client.get("/api/v1/sites/a/counts", params={"page": pages})
    assert r.status_code == 200
    counts = r.json()["counts"]
    assert len(counts) == 100
    assert counts["/one"] == 2
    assert counts["/two"] == 3
    assert counts["/nobody"] == 0
    assert all(counts[f"/p{i}"] == 0 for i in range(97))

    r = await api.client.get("/api/v1/sites/a/counts", params={"page": [*pages, "/one-too-many"]})
    assert r.status_code == 422
    r = await api.client.get("/api/v1/sites/a/counts")
    assert r.status_code == 422
    r = await api.client.get("/api/v1/sites/b/counts", params={"page": ["/one", "/two"]})
    assert r.json() == {"counts": {"/one": 0, "/two": 0}}


# -- inline anchors ----------------------------------------------------------------------------------


async def test_inline_filter_lists_only_anchored_comments_and_anchors_round_trip(api: Api) -> None:
    anchor = {
        "exact": "the quoted passage",
        "prefix": "before ",
        "suffix": " after",
        "start": 120,
        "end": 138,
        "hash": "0a1b2c3d",
    }
    plain = await posted_id(api, text="General remark")
    r = await api.post(text="About this passage", anchor=anchor)
    assert r.status_code == 201
    assert r.json()["comment"]["anchor"] == anchor
    anchored = r.json()["comment"]["id"]
    bare = {"exact": "just the words"}
    r = await api.post(text="No position", anchor=bare)
    loose = r.json()["comment"]["id"]
    assert r.json()["comment"]["anchor"] == {
        "exact": "just the words",
        "prefix": "",
        "suffix": "",
        "start": None,
        "end": None,
        "hash": None,
    }
    for bad in ("XYZ", "0A1B", "a" * 65, "12 34"):
        r = await api.post(text="Bad hash", anchor={"exact": "words", "hash": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")

    inline = await api.thread(filter="inline")
    assert sorted(ids_of(inline)) == sorted([anchored, loose])
    by_id = {c["id"]: c for c in inline["comments"]}
    assert by_id[anchored]["anchor"] == anchor
    everything = await api.thread(filter="all")
    assert set(ids_of(everything)) == {plain, anchored, loose}
    assert {c["id"]: c["anchor"] for c in everything["comments"]}[plain] is None


# -- feeds --------------------------------------------------------------------------------------------


async def test_atom_feeds_per_page_and_per_site(api: Api) -> None:
    await api.post(page="/one", text="First on one", title="Story one", url=f"{ORIGIN_A}/one")
    api.clock.advance(minutes=1)
    await api.post(page="/two", text="First on two", title="Story two")
    api.clock.advance(minutes=1)
    await api.post(page="/one", text="Second on one")
    await api.post(site="b", origin=ORIGIN_B, page="/one", text="On another site")

    r = await api.client.get("/api/v1/sites/a/feed.atom", params={"page": "/one"})
    assert r.status_code == 200
    root = parse_atom(r.text)
    entries = root.findall(f"{ATOM}entry")
    contents = [e.findtext(f"{ATOM}content") for e in entries]
    assert contents == ["<p>Second on one</p>\n", "<p>First on one</p>\n"]
    assert "Story one" in (root.findtext(f"{ATOM}title") or "")
    links = [e.find(f"{ATOM}link") for e in entries]
    assert all(link is not None and link.get("href", "").startswith(f"{ORIGIN_A}/one#") for link in links)
    for entry in entries:
        assert entry.findtext(f"{ATOM}author/{ATOM}name") == "Ann"
        assert entry.findtext(f"{ATOM}id")
        assert entry.findtext(f"{ATOM}updated")

    r = await api.client.get("/api/v1/sites/a/feed.atom")
    site_entries = parse_atom(r.text).findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}content") for e in site_entries] == [
        "<p>Second on one</p>\n",
        "<p>First on two</p>\n",
        "<p>First on one</p>\n",
    ]
    r = await api.client.get("/api/v1/sites/a/feed.atom", params={"page": "/one/"})
    assert len(parse_atom(r.text).findall(f"{ATOM}entry")) == 2


async def test_html_fragment_lists_the_thread(api: Api) -> None:
    top = await posted_id(api, text="Top *one*")
    await posted_id(api, text="A reply", parent=top)
    r = await api.client.get("/api/v1/sites/a/comments.html", params={"page": "/story"})
    assert r.status_code == 200
    assert f'data-comment-id="{top}"' in r.text
    assert "<em>one</em>" in r.text
    assert "A reply" in r.text
    assert 'data-count="2"' in r.text
    assert "Would love your thoughts" not in r.text


# -- thread title and url -------------------------------------------------------------------------


async def test_thread_title_and_url_come_from_the_first_comment(api: Api) -> None:
    await api.post(text="First", title="The real title", url=f"{ORIGIN_A}/story")
    await api.post(text="Second", title="Another title", url=f"{ORIGIN_A}/elsewhere")
    thread = (await api.thread())["thread"]
    assert thread["title"] == "The real title"
    assert thread["url"] == f"{ORIGIN_A}/story"


async def test_a_later_comment_fills_a_missing_title_and_url(api: Api) -> None:
    await api.post(text="First, without a title")
    thread = (await api.thread())["thread"]
    assert thread["title"] == ""
    assert thread["url"] is None
    await api.post(text="Second", title="Now titled", url=f"{ORIGIN_A}/story")
    await api.post(text="Third", title="Not this one", url=f"{ORIGIN_A}/other")
    thread = (await api.thread())["thread"]
    assert thread["title"] == "Now titled"
    assert thread["url"] == f"{ORIGIN_A}/story"


async def test_an_article_url_off_the_sites_origins_is_refused(api: Api) -> None:
    r = await api.post(text="First", url="https://evil.example/story")
    assert r.status_code == 403
    assert (await api.thread())["thread"]["count"] == 0


# -- moderation and closing ------------------------------------------------------------------------


async def test_hiding_a_comment_removes_it_and_restoring_brings_it_back(api: Api) -> None:
    keep = await posted_id(api, text="Keep")
    hide = await posted_id(api, text="Hide me")
    reply = await posted_id(api, text="Reply under it", parent=hide)
    assert (await api.thread())["thread"]["count"] == 3

    assert await moderation(api).set_hidden(int(reply), True)
    assert not await moderation(api).set_hidden(int(reply), True)  # already hidden
    thread = await api.thread()
    assert thread["thread"]["count"] == 2
    assert {c["id"]: c["reply_count"] for c in thread["comments"]}[hide] == 0

    assert await moderation(api).set_hidden(int(hide), True)
    thread = await api.thread()
    assert ids_of(thread) == [keep]
    assert thread["thread"]["count"] == 1
    r = await api.client.get("/api/v1/sites/a/counts", params={"page": "/story"})
    assert r.json()["counts"]["/story"] == 1
    r = await api.client.get("/api/v1/sites/a/feed.atom", params={"page": "/story"})
    assert "Hide me" not in r.text
    r = await api.post(text="Reply to a hidden comment", parent=hide)
    assert r.status_code == 422

    assert await moderation(api).set_hidden(int(hide), False)
    assert await moderation(api).set_hidden(int(reply), False)
    thread = await api.thread()
    assert thread["thread"]["count"] == 3
    assert set(ids_of(thread)) == {keep, hide}
    assert {c["id"]: [r["id"] for r in c["replies"]] for c in thread["comments"]}[hide] == [reply]


async def test_a_hidden_parent_with_visible_replies_stays_as_a_tombstone(api: Api) -> None:
    hide = await posted_id(api, text="Hide me")
    reply = await posted_id(api, text="Visible reply", parent=hide)
    await moderation(api).set_hidden(int(hide), True)
    thread = await api.thread()
    assert thread["thread"]["count"] == 1
    tomb = thread["comments"][0]
    assert tomb["id"] == hide
    assert tomb["deleted"] is True
    assert tomb["html"] == ""
    assert tomb["author"]["name"] == ""
    assert [r["id"] for r in tomb["replies"]] == [reply]


async def test_closing_a_thread_stops_new_comments_until_reopened(api: Api) -> None:
    first = await posted_id(api, text="Before closing")
    assert await moderation(api).set_closed("a", "/story/", True)
    assert (await api.thread())["thread"]["closed"] is True
    r = await api.post(text="While closed")
    assert r.status_code == 403
    assert r.json()["code"] == "thread_closed"
    r = await api.post(text="Reply while closed", parent=first)
    assert r.status_code == 403
    assert (await api.thread())["thread"]["count"] == 1
    # Other threads are not affected.
    assert (await api.post(page="/other")).status_code == 201

    assert await moderation(api).set_closed("a", "/story", False)
    assert (await api.thread())["thread"]["closed"] is False
    assert (await api.post(text="After reopening")).status_code == 201
    assert (await api.thread())["thread"]["count"] == 2


async def test_a_thread_nobody_commented_on_can_be_closed_before_its_first_comment(api: Api) -> None:
    assert await moderation(api).set_closed("a", "/nobody", True)
    assert (await api.thread("/nobody"))["thread"]["closed"] is True
    refused = await api.post(page="/nobody", text="First!")
    assert refused.status_code == 403
    assert refused.json()["code"] == "thread_closed"


async def test_threads_close_after_the_sites_close_after_age(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    sites = [site_table("a", ORIGIN_A, close_after="30d"), site_table("b", ORIGIN_B)]
    async with custom_api(tmp_path, database_url, clock, sites=sites) as api:
        assert (await api.post(text="Day one")).status_code == 201
        clock.advance(days=29)
        assert (await api.post(text="Day thirty")).status_code == 201
        assert (await api.thread())["thread"]["closed"] is False
        clock.advance(days=2)
        thread = await api.thread()
        assert thread["thread"]["closed"] is True
        assert thread["thread"]["count"] == 2
        r = await api.post(text="Day thirty-one")
        assert r.status_code == 403
        assert r.json()["code"] == "thread_closed"
        # A new page opens a new thread, and site b has no such setting.
        assert (await api.post(page="/fresh")).status_code == 201
        assert (await api.thread("/fresh"))["thread"]["closed"] is False
        assert (await api.post(site="b", origin=ORIGIN_B)).status_code == 201
        assert (await api.thread("/never"))["thread"]["closed"] is False
