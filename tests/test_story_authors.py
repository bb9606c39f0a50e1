"""The article's author badge (issue 17), on both engines: the publisher names who wrote a story (the
SSO token's ``author_of``, or ``authors`` on ``PUT /api/v1/admin/sites/{site}/pages``); that
account's comments on that page carry ``author`` in the public JSON and the no-JS thread; not on
another page, not for a guest using the same name, not for an account signed in another way, and
nothing a reader sends can claim it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.accounts_helpers import SSO_SECRET, account_rows, claims, email_session, hs256, sso
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table

pytestmark = pytest.mark.anyio
ADMIN = "/api/v1/admin"


@pytest.fixture
async def api(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    sites = [
        site_table("a", ORIGIN_A, sso_secret=SSO_SECRET),
        site_table("b", ORIGIN_B, sso_secret=SSO_SECRET),
    ]
    async with custom_api(tmp_path, database_url, clock, sites=sites) as made:
        yield made


async def session_of(api: Api, **extra: Any) -> str:
    r = await sso(api, hs256(claims(api.clock.now.timestamp(), **extra)))
    assert r.status_code == 200, r.text
    session: str = r.json()["session"]
    return session


async def post(api: Api, page: str, session: str | None = None, name: str = "Ann", **body: Any) -> str:
    headers = {"X-Kibitz-Session": session} if session else None
    r = await api.post(page=page, headers=headers, author={"name": name}, **body)
    assert r.status_code == 201, r.text
    cid: str = r.json()["comment"]["id"]
    return cid


async def badges(api: Api, page: str) -> dict[str, list[str]]:
    thread = await api.thread(page)
    return {c["id"]: c["author"]["badges"] for c in thread["comments"]}


async def key(api: Api, scope: str) -> dict[str, str]:
    _, secret = await api.app.state.ctx.staff.create_key("a", scope, "tests", "tests")
    return {"Authorization": f"Bearer {secret}"}


async def test_the_token_names_the_pages_its_reader_wrote(api: Api) -> None:
    writer = await session_of(api, sub="writer-1", name="Wren Writer", author_of=["/story/", "/other-story"])
    reader = await session_of(api, sub="reader-1", name="Rita Reader")
    own = await post(api, "/story", writer)
    elsewhere = await post(api, "/third", writer)
    someone = await post(api, "/story", reader)
    guest = await post(api, "/story", name="Wren Writer")  # the same name, typed by a guest
    on_story = await badges(api, "/story")
    assert "author" in on_story[own]
    assert "verified" in on_story[own]  # the other badges stay
    assert "author" not in on_story[someone]
    assert on_story[guest] == []
    assert "author" not in (await badges(api, "/third"))[elsewhere]

    html = await api.client.get("/api/v1/sites/a/comments.html", params={"page": "/story"})
    assert html.status_code == 200, html.text
    shown = html.text
    own_part = shown[shown.index(f'id="comment-{own}"') :]
    own_part = own_part[: own_part.index("</header>")]
    assert 'data-badge="author">Author</span>' in own_part
    assert shown.count('data-badge="author"') == 1


async def test_earlier_comments_get_the_badge_when_the_publisher_names_the_author(api: Api) -> None:
    writer = await session_of(api, sub="writer-2", name="Wren Writer")
    before = await post(api, "/story", writer)
    assert "author" not in (await badges(api, "/story"))[before]
    moderate = await key(api, "moderate")
    r = await api.client.put(
        f"{ADMIN}/sites/a/pages", json={"page": "/story", "authors": ["writer-2"]}, headers=moderate
    )
    assert r.status_code == 403, r.text  # the publish scope only
    publish = await key(api, "publish")
    r = await api.client.put(
        f"{ADMIN}/sites/a/pages", json={"page": "/story/", "authors": ["writer-2"]}, headers=publish
    )
    assert r.status_code == 200, r.text
    assert r.json()["authors"] == ["writer-2"]
    assert r.json()["page"] == "/story"
    assert "author" in (await badges(api, "/story"))[before]
    after = await post(api, "/story", writer)
    assert "author" in (await badges(api, "/story"))[after]

    r = await api.client.put(
        f"{ADMIN}/sites/a/pages", json={"page": "/story", "authors": []}, headers=publish
    )
    assert r.status_code == 200, r.text
    assert r.json()["authors"] == []
    assert all("author" not in b for b in (await badges(api, "/story")).values())
    log = await api.client.get(f"{ADMIN}/audit", params={"action": "thread.authors"}, headers=moderate)
    details = [e["detail"] for e in log.json()["items"]]
    assert details == [{"added": [], "removed": ["writer-2"]}, {"added": ["writer-2"], "removed": []}]


async def test_a_reader_cannot_claim_the_badge(api: Api) -> None:
    r = await api.client.put(
        f"{ADMIN}/sites/a/pages",
        json={"page": "/story", "authors": ["pat@news-a.example"]},
        headers=await key(api, "publish"),
    )
    assert r.status_code == 200, r.text
    # An account of a mailed link whose address is the named subject: only the publisher's login counts.
    mailed = await email_session(api, "pat@news-a.example")
    cid = await post(api, "/story", mailed)
    assert "author" not in (await badges(api, "/story"))[cid]
    # A field the reader adds is refused, and stores nothing.
    for author in ({"name": "Ann", "badges": ["author"]}, {"name": "Ann", "author": True}):
        r = await api.post(page="/story", author=author)
        assert r.status_code == 422, r.text
    r = await api.post(page="/story", badges=["author"])
    assert r.status_code == 422, r.text
    assert list(await badges(api, "/story")) == [cid]


async def test_bad_author_claims_and_lists_are_refused(api: Api) -> None:
    for bad in ({"author_of": {"page": "/story"}}, {"author_of": [1, 2]}, {"author_of": ["/p"] * 51}):
        r = await sso(api, hs256(claims(api.clock.now.timestamp(), **bad)))
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "invalid_sign_in"
    assert await account_rows(api) == (0, 0, 0)
    # One page as a string is taken too.
    writer = await session_of(api, sub="writer-3", author_of="/story")
    cid = await post(api, "/story", writer)
    assert "author" in (await badges(api, "/story"))[cid]
    publish = await key(api, "publish")
    for body in (
        {"page": "/story"},
        {"page": "/story", "authors": ["x"] * 21},
        {"page": "/story", "authors": [""]},
    ):
        r = await api.client.put(f"{ADMIN}/sites/a/pages", json=body, headers=publish)
        assert r.status_code == 422, r.text
