"""Who may write what: JSON-only writes, Origin and CORS, edit tokens, the public payload whitelist,
and the comment rate limit (QUALITY T18, T19, T22, T23, T24, T32); both engines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LOOSE, ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table

pytestmark = pytest.mark.anyio

EVIL = "https://evil.example"
EMAIL = "ann.secret@mail.example"
CLIENT_IP = "203.0.113.7"
CLIENT_NET = "203.0.113.0"
COMMENT_KEYS = {
    "id",
    "parent",
    "author",
    "html",
    "created",
    "edited",
    "score",
    "up",
    "down",
    "replies",
    "reply_count",
    "anchor",
    "pinned",
    "featured",
    "edited_by_moderator",
    "deleted",
    "status",
}
AUTHOR_KEYS = {"name", "avatar", "url", "badges"}
ANCHOR_KEYS = {"exact", "prefix", "suffix", "start", "end", "hash"}


def sites_with(**site_a: Any) -> list[dict[str, Any]]:
    return [site_table("a", ORIGIN_A, **site_a), site_table("b", ORIGIN_B)]


def problem_code(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    code: str = r.json()["code"]
    return code


async def count(api: Api, page: str = "/story", site: str = "a") -> int:
    thread = await api.thread(page, site=site)
    n: int = thread["thread"]["count"]
    return n


async def edit(api: Api, cid: str, text: str, token: str | None, origin: str = ORIGIN_A) -> httpx.Response:
    headers = {"Origin": origin}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await api.client.patch(f"/api/v1/comments/{cid}", json={"text": text}, headers=headers)


async def delete(api: Api, cid: str, token: str | None, origin: str = ORIGIN_A) -> httpx.Response:
    headers = {"Origin": origin}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await api.client.delete(f"/api/v1/comments/{cid}", headers=headers)


# -- T18: writes are JSON only -----------------------------------------------------------------------


def _form_bodies() -> Iterator[tuple[str, dict[str, Any]]]:
    payload = {"page": "/story", "text": "Hello", "author": {"name": "Ann"}}
    yield (
        "text/plain",
        {"content": json.dumps(payload).encode(), "headers": {"Content-Type": "text/plain"}},
    )
    yield ("urlencoded", {"data": {"page": "/story", "text": "Hello", "author": "Ann"}})
    yield (
        "multipart",
        {"data": {"page": "/story", "text": "Hello"}, "files": {"author": ("a.txt", b"Ann", "text/plain")}},
    )


@pytest.mark.parametrize("origin", [ORIGIN_A, EVIL])
async def test_cross_site_form_posts_are_refused_and_store_nothing(api: Api, origin: str) -> None:
    for kind, request in _form_bodies():
        headers = {"Origin": origin, "Cookie": "session=reader-cookie", **request.pop("headers", {})}
        r = await api.client.post("/api/v1/sites/a/comments", headers=headers, **request)
        assert r.status_code in (403, 415), (kind, r.status_code, r.text)
        expected = "unsupported_media_type" if origin == ORIGIN_A else "origin_not_allowed"
        assert problem_code(r) == expected, kind
        assert "access-control-allow-origin" not in r.headers or origin == ORIGIN_A
    assert await count(api) == 0


async def test_json_with_charset_parameter_is_accepted(api: Api) -> None:
    body = json.dumps({"page": "/story", "text": "Hi", "author": {"name": "Ann"}}).encode()
    r = await api.client.post(
        "/api/v1/sites/a/comments",
        content=body,
        headers={"Origin": ORIGIN_A, "Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201, r.text


async def test_patch_and_vote_with_a_form_body_are_refused(api: Api) -> None:
    posted = (await api.post()).json()
    cid = posted["comment"]["id"]
    r = await api.client.patch(
        f"/api/v1/comments/{cid}",
        content=b'{"text": "changed"}',
        headers={
            "Origin": ORIGIN_A,
            "Content-Type": "text/plain",
            "Authorization": f"Bearer {posted['token']}",
        },
    )
    assert r.status_code == 415
    r = await api.client.post(
        f"/api/v1/comments/{cid}/vote", data={"value": "1"}, headers={"Origin": ORIGIN_A}
    )
    assert r.status_code == 415
    top = (await api.thread())["comments"][0]
    assert top["html"] == "<p>Hello</p>\n"
    assert top["score"] == 0


# -- T19: Origin and CORS ----------------------------------------------------------------------------


async def test_json_post_from_a_foreign_or_missing_origin_is_refused(api: Api) -> None:
    for origin in (
        EVIL,
        "null",
        None,
        "not a url",
        "https://news-a.example.evil.example",
        "http://news-a.example",
    ):
        headers = {} if origin is None else {"Origin": origin}
        r = await api.client.post(
            "/api/v1/sites/a/comments",
            json={"page": "/story", "text": "Hello", "author": {"name": "Ann"}},
            headers=headers,
        )
        assert r.status_code == 403, origin
        assert problem_code(r) == "origin_not_allowed"
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-credentials" not in r.headers
    assert await count(api) == 0


async def test_preflight_from_the_sites_origin_is_granted(api: Api) -> None:
    r = await api.client.options(
        "/api/v1/sites/a/comments",
        headers={
            "Origin": ORIGIN_A,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization, x-kibitz-reader, idempotency-key",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN_A
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "x-kibitz-reader", "idempotency-key", "content-type"} <= allowed
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "origin" in r.headers["vary"].lower()
    assert r.headers.get("access-control-allow-credentials") != "true"


async def test_preflight_for_a_comment_route_is_granted_to_any_configured_site(api: Api) -> None:
    r = await api.client.options(
        "/api/v1/comments/1/vote",
        headers={"Origin": ORIGIN_B, "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN_B


async def test_preflight_from_a_foreign_origin_is_refused_without_a_grant(api: Api) -> None:
    for origin in (EVIL, "null", ORIGIN_B):
        r = await api.client.options(
            "/api/v1/sites/a/comments",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert r.status_code == 403, origin
        assert problem_code(r) == "origin_not_allowed"
        assert "access-control-allow-origin" not in r.headers


async def test_get_varies_on_origin_and_exposes_the_reader_header_to_allowed_origins(api: Api) -> None:
    r = await api.client.get(
        "/api/v1/sites/a/comments", params={"page": "/story"}, headers={"Origin": ORIGIN_A}
    )
    assert r.status_code == 200
    assert "origin" in r.headers["vary"].lower()
    assert r.headers["access-control-allow-origin"] == ORIGIN_A
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    assert "x-kibitz-reader" in exposed

    r = await api.client.get("/api/v1/sites/a/comments", params={"page": "/story"}, headers={"Origin": EVIL})
    assert r.status_code == 200  # public data; the browser just gets no grant
    assert "origin" in r.headers["vary"].lower()
    assert "access-control-allow-origin" not in r.headers

    r = await api.client.get("/api/v1/sites/a/comments", params={"page": "/story"})
    assert "origin" in r.headers["vary"].lower()
    assert "access-control-allow-origin" not in r.headers


async def test_site_b_origin_cannot_write_to_site_a(api: Api) -> None:
    r = await api.post(site="a", origin=ORIGIN_B)
    assert r.status_code == 403
    assert problem_code(r) == "origin_not_allowed"
    assert await count(api) == 0

    posted = (await api.post()).json()
    cid, token = posted["comment"]["id"], posted["token"]
    r = await edit(api, cid, "From B", token, origin=ORIGIN_B)
    assert r.status_code == 403
    assert problem_code(r) == "origin_not_allowed"
    r = await api.vote(cid, 1, origin=ORIGIN_B)
    assert r.status_code == 403
    assert problem_code(r) == "origin_not_allowed"
    r = await delete(api, cid, token, origin=ORIGIN_B)
    assert r.status_code == 403
    r = await api.client.post(
        f"/api/v1/comments/{cid}/flag", json={"reason": "spam"}, headers={"Origin": ORIGIN_B}
    )
    assert r.status_code == 403

    top = (await api.thread())["comments"][0]
    assert top["html"] == "<p>Hello</p>\n"
    assert top["score"] == 0
    assert top["deleted"] is False


async def test_site_b_sees_nothing_of_site_a(api: Api) -> None:
    await api.post(text="Only on A")
    thread = await api.thread("/story", site="b")
    assert thread["thread"]["count"] == 0
    assert thread["comments"] == []
    r = await api.client.get("/api/v1/sites/b/counts", params={"page": "/story"})
    assert r.json() == {"counts": {"/story": 0}}
    r = await api.client.get("/api/v1/sites/b/feed.atom")
    assert "Only on A" not in r.text


# -- T22: edit tokens ----------------------------------------------------------------------------------


async def test_edit_and_delete_with_a_wrong_token_are_forbidden_and_change_nothing(api: Api) -> None:
    ann = (await api.post(text="Ann's words", author={"name": "Ann"})).json()
    bob = (await api.post(text="Bob's words", author={"name": "Bob"})).json()
    ann_other = (await api.post(text="Ann again", headers={"X-Kibitz-Reader": ann["reader"]})).json()
    target = ann["comment"]["id"]
    garbled = ann["token"][:-3] + ("AAA" if not ann["token"].endswith("AAA") else "BBB")
    _, _, rest = ann["token"].partition(".")
    forged = f"{bob['comment']['id']}.{rest}"  # Ann's signature on Bob's id
    wrong_tokens = {
        "another reader's token": bob["token"],
        "the same reader's token of another comment": ann_other["token"],
        "garbled": garbled,
        "forged subject": forged,
        "random": "abc.def.ghi",
        "the reader id": ann["reader"],
    }
    for label, token in wrong_tokens.items():
        r = await edit(api, target, "Hijacked", token)
        assert r.status_code == 403, label
        assert problem_code(r) == "forbidden", label
        r = await delete(api, target, token)
        assert r.status_code == 403, label
        assert problem_code(r) == "forbidden", label
    r = await api.client.patch(
        f"/api/v1/comments/{target}",
        json={"text": "Hijacked"},
        headers=[(b"Origin", ORIGIN_A.encode()), (b"Authorization", "Bearer tökén".encode())],
    )
    assert r.status_code == 403
    assert problem_code(r) == "forbidden"
    # Ann's token does not open Bob's comment either.
    r = await edit(api, bob["comment"]["id"], "Hijacked", ann["token"])
    assert r.status_code == 403
    assert problem_code(r) == "forbidden"

    thread = await api.thread()
    by_id = {c["id"]: c for c in thread["comments"]}
    assert by_id[target]["html"] == "<p>Ann's words</p>\n"
    assert by_id[target]["edited"] is None
    assert by_id[bob["comment"]["id"]]["html"] == "<p>Bob's words</p>\n"
    assert thread["thread"]["count"] == 3


async def test_edit_without_a_token_is_unauthorized(api: Api) -> None:
    posted = (await api.post()).json()
    cid = posted["comment"]["id"]
    for authorization in (None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz"):
        headers = {"Origin": ORIGIN_A}
        if authorization is not None:
            headers["Authorization"] = authorization
        r = await api.client.patch(f"/api/v1/comments/{cid}", json={"text": "x"}, headers=headers)
        assert r.status_code == 401, authorization
        assert problem_code(r) == "unauthorized"
        r = await api.client.delete(f"/api/v1/comments/{cid}", headers=headers)
        assert r.status_code == 401, authorization
    assert (await api.thread())["comments"][0]["html"] == "<p>Hello</p>\n"


async def test_edit_after_the_window_is_refused_and_changes_nothing(api: Api, clock: FakeClock) -> None:
    posted = (await api.post()).json()
    cid, token = posted["comment"]["id"], posted["token"]
    clock.advance(minutes=14)
    r = await edit(api, cid, "Still in time", token)
    assert r.status_code == 200
    clock.advance(minutes=2)
    r = await edit(api, cid, "Too late", token)
    assert r.status_code == 403
    assert problem_code(r) == "edit_window_closed"
    r = await delete(api, cid, token)
    assert r.status_code == 403
    assert problem_code(r) == "edit_window_closed"
    clock.advance(days=3)  # long after: the token itself has expired
    r = await edit(api, cid, "Much too late", token)
    assert r.status_code == 403
    top = (await api.thread())["comments"][0]
    assert top["html"] == "<p>Still in time</p>\n"
    assert top["deleted"] is False


async def test_unknown_site_and_unknown_comment_are_not_found(api: Api) -> None:
    r = await api.client.get("/api/v1/sites/nosuch/comments", params={"page": "/story"})
    assert r.status_code == 404
    assert problem_code(r) == "not_found"
    r = await api.post(site="nosuch")
    assert r.status_code == 404
    assert problem_code(r) == "not_found"
    for path in ("counts?page=/x", "feed.atom", "comments.html?page=/x"):
        r = await api.client.get(f"/api/v1/sites/nosuch/{path}")
        assert r.status_code == 404, path

    posted = (await api.post()).json()
    missing = str(int(posted["comment"]["id"]) + 1000)
    assert (await edit(api, missing, "x", posted["token"])).status_code == 404
    assert (await delete(api, missing, posted["token"])).status_code == 404
    r = await api.vote(missing, 1)
    assert r.status_code == 404
    assert problem_code(r) == "not_found"
    r = await api.client.get(f"/api/v1/comments/{missing}/replies")
    assert r.status_code == 404
    assert problem_code(r) == "not_found"
    r = await api.post(parent=missing)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["parent"]


async def test_forged_reader_id_is_ignored_and_a_new_one_issued(api: Api) -> None:
    first = (await api.post()).json()
    tampered = first["reader"][:-2] + ("xy" if not first["reader"].endswith("xy") else "zz")
    for i, reader in enumerate((tampered, "r123.not-a-signature", "", "x" * 500)):
        r = await api.post(headers={"X-Kibitz-Reader": reader}, text="Second")
        assert r.status_code == 201
        issued = r.json()["reader"]
        assert r.headers["X-Kibitz-Reader"] == issued
        assert issued not in (reader, first["reader"])
        # The forged id did not make the poster the owner of the first comment: voting on it is allowed
        # (each from its own address, as one address gives a comment at most votes_per_address votes).
        transport = httpx.ASGITransport(app=api.app, client=(f"192.0.2.{i + 1}", 4444))
        async with httpx.AsyncClient(transport=transport, base_url="http://kibitz.test") as voter:
            r = await voter.post(
                f"/api/v1/comments/{first['comment']['id']}/vote",
                json={"value": 1},
                headers={"Origin": ORIGIN_A, **({"X-Kibitz-Reader": reader} if reader else {})},
            )
        assert r.status_code == 200
        assert r.headers["X-Kibitz-Reader"] not in (reader, first["reader"])
        # A genuine id is kept and not re-issued.
        r = await api.post(headers={"X-Kibitz-Reader": issued}, text="Third")
        assert "reader" not in r.json()
        assert "x-kibitz-reader" not in r.headers


# -- T24: the public payload -----------------------------------------------------------------------


def walk_comments(comments: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    stack = list(comments)
    while stack:
        comment = stack.pop()
        yield comment
        stack.extend(comment["replies"])


def assert_comment_shape(comment: dict[str, Any]) -> None:
    assert set(comment) == COMMENT_KEYS, sorted(comment)
    assert set(comment["author"]) == AUTHOR_KEYS
    assert isinstance(comment["id"], str)
    assert comment["parent"] is None or isinstance(comment["parent"], str)
    assert isinstance(comment["html"], str)
    assert comment["anchor"] is None or set(comment["anchor"]) == ANCHOR_KEYS
    assert isinstance(comment["replies"], list)
    for reply in comment["replies"]:
        assert_comment_shape(reply)


async def test_public_payloads_hold_exactly_the_documented_fields_and_no_secrets(api: Api) -> None:
    author = {"name": "Ann", "email": EMAIL, "url": "https://ann.example/"}
    posted_bodies: list[dict[str, Any]] = []
    r = await api.post(text="Top", author=author, title="Story", url=f"{ORIGIN_A}/story")
    posted_bodies.append(r.json())
    top = r.json()
    r = await api.post(text="Reply", author=author, parent=top["comment"]["id"])
    posted_bodies.append(r.json())
    reply = r.json()
    r = await api.post(text="Deep", author=author, parent=reply["comment"]["id"])
    posted_bodies.append(r.json())
    r = await api.post(
        text="Quoted",
        author=author,
        anchor={"exact": "words", "prefix": "some ", "suffix": " here", "start": 5, "end": 10},
    )
    posted_bodies.append(r.json())
    doomed = (await api.post(text="Doomed parent", author=author)).json()
    posted_bodies.append(doomed)
    posted_bodies.append(
        (await api.post(text="Orphan", author=author, parent=doomed["comment"]["id"])).json()
    )
    assert (await delete(api, doomed["comment"]["id"], doomed["token"])).status_code == 204
    r = await edit(api, top["comment"]["id"], "Top, edited", top["token"])
    assert r.status_code == 200
    patched = r.json()
    assert set(patched) == {"comment"}
    assert_comment_shape(patched["comment"])
    for body in posted_bodies:
        assert set(body) <= {"comment", "token", "reader", "status"}
        assert_comment_shape(body["comment"])
        assert EMAIL not in json.dumps(body)
        assert CLIENT_NET not in json.dumps(body)
    await api.vote(top["comment"]["id"], 1)

    secrets = {EMAIL, CLIENT_IP, CLIENT_NET, "mail.example"}
    for body in posted_bodies:
        secrets.add(body["token"])
        secrets.add(body["token"].rsplit(".", 1)[-1])  # the signature alone
        if "reader" in body:
            secrets.add(body["reader"])
            secrets.add(body["reader"].rsplit(".", 1)[0])  # the raw reader id

    texts: list[str] = []
    shown = 0
    for sort in ("newest", "oldest", "votes"):
        for filter_ in ("all", "inline"):
            r = await api.client.get(
                "/api/v1/sites/a/comments", params={"page": "/story", "sort": sort, "filter": filter_}
            )
            assert r.status_code == 200
            texts.append(r.text)
            data = r.json()
            assert set(data) == {"thread", "comments", "next", "updates"}
            assert set(data["thread"]) == {"site", "page", "title", "url", "count", "closed"}
            for comment in walk_comments(data["comments"]):
                assert_comment_shape(comment)
                shown += 1
    assert shown > 0
    r = await api.client.get(f"/api/v1/comments/{top['comment']['id']}/replies")
    assert set(r.json()) == {"comments", "next"}
    for comment in walk_comments(r.json()["comments"]):
        assert_comment_shape(comment)
    texts.append(r.text)
    for path, params in (
        ("comments.html", {"page": "/story"}),
        ("feed.atom", {"page": "/story"}),
        ("feed.atom", {}),
        ("counts", {"page": "/story"}),
    ):
        r = await api.client.get(f"/api/v1/sites/a/{path}", params=params)
        assert r.status_code == 200, path
        texts.append(r.text)
    for text in texts:
        for secret in secrets:
            assert secret not in text


# -- T32: the comment rate limit --------------------------------------------------------------------


def strict_comments() -> list[dict[str, Any]]:
    return sites_with(rate_limits={**LOOSE, "comments": "5/minute"})


async def test_sequential_flood_is_cut_at_the_limit_with_retry_after(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=strict_comments()) as api:
        statuses = []
        for i in range(20):
            r = await api.post(text=f"Flood {i}")
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert problem_code(r) == "rate_limited"
                assert 1 <= int(r.headers["Retry-After"]) <= 60
                assert "retry-after" in r.headers["access-control-expose-headers"].lower()
        assert statuses == [201] * 5 + [429] * 15
        assert await count(api) == 5

        clock.advance(minutes=1)
        r = await api.post(text="After a minute")
        assert r.status_code == 201
        assert await count(api) == 6


async def test_concurrent_flood_stores_exactly_the_limit(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=strict_comments()) as api:
        answers = await asyncio.gather(*(api.post(text=f"Burst {i}") for i in range(20)))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201] * 5 + [429] * 15
        assert await count(api) == 5
        assert len((await api.thread())["comments"]) == 5


async def test_new_reader_ids_do_not_escape_the_limit(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=strict_comments()) as api:
        readers: list[str] = []
        for i in range(5):
            r = await api.post(text=f"As someone new {i}")
            assert r.status_code == 201
            readers.append(r.json()["reader"])
        for reader in readers:
            r = await api.post(text="Again", headers={"X-Kibitz-Reader": reader})
            assert r.status_code == 429
        r = await api.post(
            text="Spoofed", headers={"X-Forwarded-For": "198.51.100.9", "X-Real-IP": "198.51.100.9"}
        )
        assert r.status_code == 429
        # The limit is per site: site b is counted on its own.
        r = await api.post(site="b", origin=ORIGIN_B, text="Elsewhere")
        assert r.status_code == 201
        assert await count(api) == 5


async def test_refused_posts_do_not_use_up_the_limit(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=strict_comments()) as api:
        # Refused after the counter was bumped (unknown parent): the rollback takes the hit back.
        for _ in range(10):
            r = await api.post(text="Reply to nothing", parent="999999")
            assert r.status_code == 422
        for i in range(5):
            r = await api.post(text=f"Fine {i}")
            assert r.status_code == 201
