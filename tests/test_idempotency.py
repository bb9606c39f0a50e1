"""Idempotency-Key on POST /comments: replays, concurrent twins, reuse and malformed keys (QUALITY T51);
both engines."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.conftest import ORIGIN_A, ORIGIN_B, Api

pytestmark = pytest.mark.anyio

BODY: dict[str, Any] = {"page": "/story", "text": "Only once, please", "author": {"name": "Ann"}}


async def post(
    api: Api, key: str | bytes, body: dict[str, Any] | None = None, site: str = "a", origin: str = ORIGIN_A
) -> httpx.Response:
    raw_key = key if isinstance(key, bytes) else key.encode("ascii")
    return await api.client.post(
        f"/api/v1/sites/{site}/comments",
        content=json.dumps(body or BODY).encode(),
        headers=[
            (b"Origin", origin.encode()),
            (b"Content-Type", b"application/json"),
            (b"Idempotency-Key", raw_key),
        ],
    )


async def count(api: Api, site: str = "a") -> int:
    n: int = (await api.thread("/story", site=site))["thread"]["count"]
    return n


async def test_repeat_after_success_replays_the_same_comment(api: Api) -> None:
    first = await post(api, "key-1")
    assert first.status_code == 201
    again = await post(api, "key-1")
    assert again.status_code == 201
    assert again.json()["comment"]["id"] == first.json()["comment"]["id"]
    assert again.json()["token"] == first.json()["token"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await count(api) == 1
    # The replayed token still works.
    r = await api.client.patch(
        f"/api/v1/comments/{first.json()['comment']['id']}",
        json={"text": "Edited"},
        headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {again.json()['token']}"},
    )
    assert r.status_code == 200


async def test_key_order_and_whitespace_do_not_make_a_different_body(api: Api) -> None:
    first = await post(api, "key-order")
    reordered = json.dumps(dict(reversed(list(BODY.items()))), indent=2).encode()
    r = await api.client.post(
        "/api/v1/sites/a/comments",
        content=reordered,
        headers={"Origin": ORIGIN_A, "Content-Type": "application/json", "Idempotency-Key": "key-order"},
    )
    assert r.status_code == 201
    assert r.json()["comment"]["id"] == first.json()["comment"]["id"]
    assert await count(api) == 1


async def test_concurrent_twins_create_one_comment(api: Api) -> None:
    answers = await asyncio.gather(*(post(api, "twin-key") for _ in range(2)))
    assert [r.status_code for r in answers] == [201, 201]
    ids = {r.json()["comment"]["id"] for r in answers}
    assert len(ids) == 1
    assert await count(api) == 1


async def test_many_concurrent_twins_create_one_comment(api: Api) -> None:
    answers = await asyncio.gather(*(post(api, "crowd-key") for _ in range(10)))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["comment"]["id"] for r in answers}) == 1
    assert await count(api) == 1


async def test_same_key_with_a_different_body_is_refused(api: Api) -> None:
    first = await post(api, "key-2")
    assert first.status_code == 201
    r = await post(api, "key-2", {**BODY, "text": "Something else"})
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    assert await count(api) == 1
    comments = (await api.thread())["comments"]
    assert [c["html"] for c in comments] == ["<p>Only once, please</p>\n"]


@pytest.mark.parametrize(
    "key",
    [b"", b"k" * 300, "clé-unique".encode(), b"tab\there", b"new\x7fline"],
    ids=["empty", "300-chars", "non-ascii", "tab", "del"],
)
async def test_malformed_key_is_a_bad_request(api: Api, key: bytes) -> None:
    r = await post(api, key)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_idempotency_key"
    assert await count(api) == 0


async def test_longest_allowed_key_works(api: Api) -> None:
    r = await post(api, "k" * 255)
    assert r.status_code == 201
    assert (await post(api, "k" * 255)).json()["comment"]["id"] == r.json()["comment"]["id"]


async def test_the_same_key_on_another_site_is_independent(api: Api) -> None:
    on_a = await post(api, "shared-key")
    on_b = await post(api, "shared-key", site="b", origin=ORIGIN_B)
    assert on_a.status_code == 201
    assert on_b.status_code == 201
    assert on_a.json()["comment"]["id"] != on_b.json()["comment"]["id"]
    assert await count(api, "a") == 1
    assert await count(api, "b") == 1


async def test_different_keys_make_different_comments(api: Api) -> None:
    a = await post(api, "key-a")
    b = await post(api, "key-b")
    assert a.json()["comment"]["id"] != b.json()["comment"]["id"]
    assert await count(api) == 2


async def test_a_refused_post_does_not_burn_its_key(api: Api) -> None:
    bad = {**BODY, "parent": "999999"}
    r = await post(api, "key-3", bad)
    assert r.status_code == 422
    r = await post(api, "key-3")
    assert r.status_code == 201
    assert await count(api) == 1


async def test_a_key_replays_only_for_the_reader_who_used_it(api: Api) -> None:
    mine = await post(api, "shared-key")
    reader = mine.json()["reader"]
    first = await api.client.post(
        "/api/v1/sites/a/comments",
        json=BODY,
        headers={"Origin": ORIGIN_A, "Idempotency-Key": "key-2", "X-Kibitz-Reader": reader},
    )
    again = await api.client.post(
        "/api/v1/sites/a/comments",
        json=BODY,
        headers={"Origin": ORIGIN_A, "Idempotency-Key": "key-2", "X-Kibitz-Reader": reader},
    )
    assert again.json()["comment"]["id"] == first.json()["comment"]["id"]
    # Another reader who sends the same key and body gets a comment of their own, not this one's token.
    other_reader = (await api.post(text="someone else")).json()["reader"]
    theirs = await api.client.post(
        "/api/v1/sites/a/comments",
        json=BODY,
        headers={"Origin": ORIGIN_A, "Idempotency-Key": "key-2", "X-Kibitz-Reader": other_reader},
    )
    assert theirs.status_code == 201
    assert theirs.json()["comment"]["id"] != first.json()["comment"]["id"]
    assert theirs.json()["token"] != first.json()["token"]
    assert "Idempotent-Replayed" not in theirs.headers
