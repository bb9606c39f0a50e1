"""Sizes, structure, encodings, ids, query parameters and error pages through the public API (QUALITY
T06, T11-T16, T49, T52, T53): bad input gets a generic problem+json and changes nothing. Both engines."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kibitz import inputs
from kibitz.app import create_app
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, make_settings, open_api
from tests.test_input_xss import assert_problem, assert_safe_page, count, fields, flatten
from tests.test_markup import assert_safe_html

pytestmark = pytest.mark.anyio

POST_URL = "/api/v1/sites/a/comments"
JSON_HEADERS = {"Origin": ORIGIN_A, "Content-Type": "application/json"}
MAX_BODY = 64 * 1024


def body_of(size: int, page: str = "/story") -> bytes:
    """A valid post body padded with JSON whitespace to exactly ``size`` bytes."""
    raw = json.dumps({"page": page, "text": "sized", "author": {"name": "Ann"}}).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


async def chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def post_raw(api: Api, content: bytes, url: str = POST_URL) -> httpx.Response:
    return await api.client.post(url, content=content, headers=JSON_HEADERS)


async def comment_id(api: Api, **body: Any) -> tuple[str, str]:
    """Post a comment; its (id, edit token)."""
    r = await api.post(**body)
    assert r.status_code == 201, r.text
    data = r.json()
    return data["comment"]["id"], data["token"]


# -- T06: pathological Markdown ----------------------------------------------------------------------------

PATHOLOGICAL = [
    "[" * 6400,
    '[a](b "' + "\\!" * 30,
    '[a](b "' + "\\!" * 4990,
    "*a_b" * 2500,
    ">" * 10_000,
    "> " * 5000,
    "![" * 5000,
    "[" * 5000 + "]" * 5000,
    "*" * 4999 + "a" + "*" * 5000,
    "`" * 10_000,
    "<" * 10_000,
    "a_" * 5000,
    "".join("  " * i + "- x\n" for i in range(60)),
    "[x](" * 2500,
]


async def test_pathological_markdown_is_stored_or_refused_in_time_never_a_server_error(api: Api) -> None:
    stored = 0
    for text in PATHOLOGICAL:
        assert len(text) <= inputs.MAX_TEXT
        r = await api.post(text=text)
        if r.status_code == 422:
            assert_problem(r, 422, "render_timeout")
            continue
        assert r.status_code == 201, r.text
        assert_safe_html(r.json()["comment"]["html"])
        stored += 1
    thread = await api.thread(limit=100)
    assert thread["thread"]["count"] == stored
    page = await api.client.get("/api/v1/sites/a/comments.html", params={"page": "/story", "limit": 100})
    assert page.status_code == 200
    assert_safe_page(page.text, [c["html"] for c in flatten(thread["comments"])])


@pytest.mark.parametrize(("text", "status"), [("*a_b" * 10_000, 422), (">" * 100_000, 413)])
async def test_pathological_markdown_over_the_limits_is_refused(api: Api, text: str, status: int) -> None:
    assert_problem(await api.post(text=text), status)
    assert await count(api, "/story") == 0


# -- T11: body size ----------------------------------------------------------------------------------------


async def test_body_over_64_kib_with_content_length_is_refused(api: Api) -> None:
    r = await post_raw(api, body_of(MAX_BODY + 1))
    assert_problem(r, 413, "payload_too_large")
    assert await count(api, "/story") == 0


async def test_chunked_body_over_64_kib_without_length_is_refused(api: Api) -> None:
    request = api.client.build_request(
        "POST", POST_URL, content=chunks(body_of(MAX_BODY + 1)), headers=JSON_HEADERS
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    assert_problem(await api.client.send(request), 413, "payload_too_large")
    assert await count(api, "/story") == 0


async def test_oversized_body_is_refused_before_it_is_parsed(api: Api) -> None:
    # Not even JSON: a size refusal, not a parse error.
    assert_problem(await post_raw(api, b"{" * (MAX_BODY + 1)), 413, "payload_too_large")
    request = api.client.build_request(
        "POST", "/api/v1/sites/a/preview", content=chunks(b"x" * (MAX_BODY * 4)), headers=JSON_HEADERS
    )
    assert_problem(await api.client.send(request), 413, "payload_too_large")


async def test_body_of_exactly_64_kib_is_accepted_with_or_without_length(api: Api) -> None:
    r = await post_raw(api, body_of(MAX_BODY))
    assert r.status_code == 201, r.text
    r = await api.client.post(POST_URL, content=chunks(body_of(MAX_BODY), 1000), headers=JSON_HEADERS)
    assert r.status_code == 201, r.text
    assert await count(api, "/story") == 2


async def test_malformed_content_length_is_a_bad_request(api: Api) -> None:
    r = await api.client.post(POST_URL, content=b"{}", headers={**JSON_HEADERS, "Content-Length": "-1"})
    assert_problem(r, 400, "malformed_request")


# -- T12: nesting ------------------------------------------------------------------------------------------


NESTED = [
    b"[" * 1000 + b"]" * 1000,
    b'{"a":' * 1000 + b"1" + b"}" * 1000,
    b'{"page":"/story","author":{"name":"Ann"},"text":' + b"[" * 1000 + b"]" * 1000 + b"}",
    b"[" * 60_000,
    b'{"a":' * 13_000,
]


async def test_deeply_nested_json_is_a_client_error(api: Api) -> None:
    cid, _token = await comment_id(api)
    for url in (POST_URL, "/api/v1/sites/a/preview", f"/api/v1/comments/{cid}/vote"):
        for content in NESTED:
            r = await post_raw(api, content, url)
            assert r.status_code in (400, 422), (url, content[:20], r.text)
            assert_problem(r, r.status_code)
    assert await count(api, "/story") == 1


async def test_json_nested_100000_levels_is_refused(api: Api) -> None:
    # 100,000 levels cannot fit in 64 KiB: refused for size before any parser sees it.
    r = await post_raw(api, b"[" * 100_000 + b"]" * 100_000)
    assert_problem(r, 413, "payload_too_large")
    cid, _token = await comment_id(api)
    r = await post_raw(api, b'{"value":' * 20_000 + b"1" + b"}" * 20_000, f"/api/v1/comments/{cid}/vote")
    assert_problem(r, 413, "payload_too_large")


# -- T13: reply trees --------------------------------------------------------------------------------------


async def test_reply_chain_50_deep_is_shown_5_levels_inline_and_continues_by_replies(api: Api) -> None:
    chain = [(await comment_id(api, text="level 0"))[0]]
    for level in range(1, 50):
        chain.append((await comment_id(api, text=f"level {level}", parent=chain[-1]))[0])
    thread = await api.thread()
    assert thread["thread"]["count"] == 50
    node = thread["comments"][0]
    shown = [node["id"]]
    while node["replies"]:
        assert node["reply_count"] == 1
        node = node["replies"][0]
        shown.append(node["id"])
    assert shown == chain[:6]  # the top comment and 5 levels of replies
    assert node["reply_count"] == 1  # more below, held back
    walked = list(shown)
    for _ in range(50):
        if node["reply_count"] == 0:
            break
        r = await api.client.get(f"/api/v1/comments/{node['id']}/replies")
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["next"] is None
        node = page["comments"][0]
        walked.append(node["id"])
        while node["replies"]:
            node = node["replies"][0]
            walked.append(node["id"])
    assert walked == chain


async def test_more_than_50_direct_replies_page_through_replies(api: Api) -> None:
    top, _token = await comment_id(api, text="top")
    replies = [(await comment_id(api, text=f"reply {n}", parent=top))[0] for n in range(53)]
    node = (await api.thread())["comments"][0]
    assert node["reply_count"] == 53
    assert [c["id"] for c in node["replies"]] == replies[:50]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params = {"cursor": cursor} if cursor else {}
        r = await api.client.get(f"/api/v1/comments/{top}/replies", params=params)
        assert r.status_code == 200, r.text
        seen.extend(c["id"] for c in r.json()["comments"])
        cursor = r.json()["next"]
        if cursor is None:
            break
    assert seen == replies


async def test_parent_on_another_thread_or_site_or_missing_is_a_field_error(api: Api) -> None:
    other_page, _ = await comment_id(api, page="/other")
    other_site, _ = await comment_id(api, site="b", origin=ORIGIN_B)
    own, _ = await comment_id(api)
    next_id = str(max(int(other_page), int(other_site), int(own)) + 1)  # the new comment's own id
    for parent in (other_page, other_site, next_id, "999999999999999999"):
        r = await api.post(parent=parent, text="misplaced")
        assert fields(assert_problem(r, 422, "invalid_input")) == {"parent"}, parent
    assert await count(api, "/story") == 1
    assert await count(api, "/other") == 1


async def test_reply_to_a_deleted_comment_is_refused(api: Api) -> None:
    cid, token = await comment_id(api)
    r = await api.client.delete(
        f"/api/v1/comments/{cid}", headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 204
    r = await api.post(parent=cid, text="too late")
    assert fields(assert_problem(r, 422, "invalid_input")) == {"parent"}
    assert await count(api, "/story") == 0
    assert (await api.thread())["comments"] == []


# -- T14, T15: lone surrogates and NUL ---------------------------------------------------------------------


LONE_SURROGATES = [
    (rb'{"page":"/story","text":"\ud800","author":{"name":"Ann"}}', "text"),
    (rb'{"page":"/story","text":"ok \udc00\ud800","author":{"name":"Ann"}}', "text"),
    (rb'{"page":"/story","text":"ok","author":{"name":"\ud800"}}', "author.name"),
    (rb'{"page":"/story\udfff","text":"ok","author":{"name":"Ann"}}', "page"),
    (rb'{"page":"/story","title":"\ud800","text":"ok","author":{"name":"Ann"}}', "title"),
    (
        rb'{"page":"/story","text":"ok","author":{"name":"Ann","url":"https://a.example/\ud800"}}',
        "author.url",
    ),
]


async def test_lone_surrogate_is_refused_and_nothing_stored(api: Api) -> None:
    for content, field in LONE_SURROGATES:
        r = await post_raw(api, content)
        assert fields(assert_problem(r, 422, "invalid_input")) == {field}, content
    assert await count(api, "/story") == 0


async def test_lone_surrogate_in_preview_is_refused_and_a_real_pair_accepted(api: Api) -> None:
    r = await post_raw(api, rb'{"text": "\ud800"}', "/api/v1/sites/a/preview")
    assert fields(assert_problem(r, 422, "invalid_input")) == {"text"}
    r = await post_raw(api, rb'{"page":"/story","text":"\ud83d\ude00","author":{"name":"Ann"}}')
    assert r.status_code == 201, r.text
    assert r.json()["comment"]["html"] == "<p>\U0001f600</p>\n"


async def test_body_that_is_not_utf8_is_a_client_error(api: Api) -> None:
    for content in (
        b'{"page":"/story","text":"\xff","author":{"name":"Ann"}}',
        b'{"page":"/story","text":"\xed\xa0\x80","author":{"name":"Ann"}}',  # an encoded surrogate
    ):
        r = await post_raw(api, content)
        assert r.status_code in (400, 422), r.text
        assert_problem(r, r.status_code)
    assert await count(api, "/story") == 0


NUL_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"text": "a\u0000b"}, "text"),
    ({"author": {"name": "a\u0000b"}}, "author.name"),
    ({"author": {"name": "Ann", "email": "a\u0000b@example.com"}}, "author.email"),
    ({"author": {"name": "Ann", "url": "https://ok.example/\u0000"}}, "author.url"),
    ({"page": "/story\u0000"}, "page"),
    ({"title": "a\u0000b"}, "title"),
    ({"url": f"{ORIGIN_A}/\u0000"}, "url"),
    ({"anchor": {"exact": "a\u0000b"}}, "anchor.exact"),
]


async def test_nul_is_refused_on_every_engine(api: Api) -> None:
    for body, field in NUL_FIELDS:
        r = await api.post(**body)
        assert fields(assert_problem(r, 422, "invalid_input")) == {field}, body
    r = await post_raw(api, b'{"page":"/story","text":"a\\u0000b","author":{"name":"Ann"}}')
    assert fields(assert_problem(r, 422, "invalid_input")) == {"text"}
    assert await count(api, "/story") == 0


async def test_nul_in_a_page_query_is_refused_on_every_engine(api: Api) -> None:
    for path in ("/api/v1/sites/a/comments", "/api/v1/sites/a/comments.html", "/api/v1/sites/a/feed.atom"):
        r = await api.client.get(path, params={"page": "/story\u0000"})
        assert fields(assert_problem(r, 422, "invalid_input")) == {"page"}, path
    r = await api.client.get("/api/v1/sites/a/counts", params={"page": ["/ok", "a\u0000b"]})
    assert_problem(r, 422, "invalid_input")


async def test_nul_in_an_edit_is_refused_and_the_text_kept(api: Api) -> None:
    cid, token = await comment_id(api, text="original")
    r = await api.client.patch(
        f"/api/v1/comments/{cid}",
        json={"text": "a\u0000b"},
        headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {token}"},
    )
    assert fields(assert_problem(r, 422, "invalid_input")) == {"text"}
    assert (await api.thread())["comments"][0]["html"] == "<p>original</p>\n"


# -- T16: strict schema ------------------------------------------------------------------------------------


async def test_duplicate_keys_take_the_last_value(api: Api) -> None:
    r = await post_raw(api, b'{"page":"/story","text":"one","text":"two","author":{"name":"Ann"}}')
    assert r.status_code == 201, r.text
    assert r.json()["comment"]["html"] == "<p>two</p>\n"
    cid = r.json()["comment"]["id"]
    vote_url = f"/api/v1/comments/{cid}/vote"
    assert_problem(await post_raw(api, b'{"value": 1, "value": "1"}', vote_url), 422, "invalid_input")
    r = await post_raw(api, b'{"value": "1", "value": -1}', vote_url)
    assert r.status_code == 200, r.text
    assert r.json()["value"] == -1


async def test_vote_value_must_be_the_integer_1_0_or_minus_1(api: Api) -> None:
    cid, _ = await comment_id(api)
    for value in ["1", "-1", True, False, 1.0, 0.5, 2, -5, 10**9, None, [1], {"v": 1}]:
        r = await api.client.post(
            f"/api/v1/comments/{cid}/vote", json={"value": value}, headers={"Origin": ORIGIN_A}
        )
        assert fields(assert_problem(r, 422, "invalid_input")) == {"value"}, value
    comment = (await api.thread())["comments"][0]
    assert (comment["score"], comment["up"], comment["down"]) == (0, 0, 0)


async def test_parent_must_be_a_comment_id_string(api: Api) -> None:
    await comment_id(api)
    for parent in [5, False, True, 0, "0", "01", "-1", "1.5", "abc", "", 1.5, [1], {"id": "1"}]:
        r = await api.post(parent=parent, text="reply")
        assert fields(assert_problem(r, 422, "invalid_input")) == {"parent"}, parent
    assert await count(api, "/story") == 1


PRIVILEGED: list[tuple[dict[str, Any], str]] = [
    ({"is_approved": True}, "is_approved"),
    ({"site_id": "b"}, "site_id"),
    ({"score": 1000}, "score"),
    ({"status": "approved"}, "status"),
    ({"pinned": True}, "pinned"),
    ({"id": "1"}, "id"),
    ({"reader": "r1"}, "reader"),
    ({"author": {"name": "Ann", "is_admin": True}}, "author.is_admin"),
    ({"author": {"name": "Ann", "avatar": "https://evil.example/x.png"}}, "author.avatar"),
    ({"anchor": {"exact": "x", "html": "<b>x</b>"}}, "anchor.html"),
]


async def test_unknown_and_privileged_fields_are_refused_and_nothing_stored(api: Api) -> None:
    for extra, field in PRIVILEGED:
        r = await api.post(**extra)
        assert fields(assert_problem(r, 422, "invalid_input")) == {field}, extra
    assert await count(api, "/story") == 0
    assert (await api.thread())["comments"] == []


async def test_body_of_the_wrong_shape_is_a_client_error(api: Api) -> None:
    for content in [b"[]", b"null", b'"text"', b"1", b"", b'{"page":5,"text":"x","author":{"name":"Ann"}}']:
        r = await post_raw(api, content)
        assert r.status_code in (400, 422), (content, r.text)
        assert_problem(r, r.status_code)
    assert await count(api, "/story") == 0


# -- T49: path parameters ----------------------------------------------------------------------------------

BAD_SEGMENTS = [
    "..",
    "../x",
    "%2e%2e%2f",
    "%2E%2E%2Fetc%2Fpasswd",
    "..%2F",
    "..%5C",
    "%00",
    "1%00",
    "1%0d%0a",
    "%0d%0aSet-Cookie:%20x=1",
    "1;drop",
    "0",
    "-1",
    "1e3",
    "%EF%BC%91",  # a fullwidth digit one
    "9" * 19,
]


def path_requests(segment: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/api/v1/comments/{segment}/replies", None),
        ("PATCH", f"/api/v1/comments/{segment}", {"text": "x"}),
        ("DELETE", f"/api/v1/comments/{segment}", None),
        ("POST", f"/api/v1/comments/{segment}/vote", {"value": 1}),
        ("POST", f"/api/v1/comments/{segment}/flag", {"reason": "spam"}),
        ("GET", f"/api/v1/sites/{segment}/comments?page=/story", None),
        ("GET", f"/api/v1/sites/{segment}/comments.html?page=/story", None),
        ("GET", f"/api/v1/sites/{segment}/feed.atom", None),
        ("GET", f"/api/v1/sites/{segment}/counts?page=/story", None),
        (
            "POST",
            f"/api/v1/sites/{segment}/comments",
            {"page": "/story", "text": "x", "author": {"name": "A"}},
        ),
    ]
    if not re.fullmatch(r"[0-9a-f]{16,64}", segment):  # else a valid avatar digest
        requests.append(("GET", f"/api/v1/avatars/{segment}.svg", None))
    return requests


async def test_bad_ids_and_sites_in_paths_get_a_generic_problem(api: Api) -> None:
    for segment in BAD_SEGMENTS:
        for method, path, body in path_requests(segment):
            r = await api.client.request(
                method, "http://kibitz.test" + path, json=body, headers={"Origin": ORIGIN_A}
            )
            assert r.status_code in (400, 403, 404, 422), (method, path, r.status_code)
            problem = assert_problem(r, r.status_code)
            assert "set-cookie" not in r.headers
            assert "location" not in r.headers
            for echoed in ("..", "\x00", "\r", "\n", "\\u0000", "\\r", "\\n", "Set-Cookie", "passwd"):
                assert echoed not in json.dumps(problem, ensure_ascii=False), (method, path, problem)
    assert await count(api, "/story") == 0


# -- T52: query parameters ---------------------------------------------------------------------------------


async def test_sort_and_limit_parameters_have_one_defined_outcome(api: Api) -> None:
    ids = [(await comment_id(api, text=f"n{n}"))[0] for n in range(101)]

    async def listed(query: str) -> httpx.Response:
        return await api.client.get(f"/api/v1/sites/a/comments?page=/story&{query}")

    for query in [
        "sort=created;DROP TABLE comments",
        "sort=newest%3BDROP%20TABLE%20comments--",
        "sort=NEWEST",
        "sort=",
        "sort=created_at",
        "limit=0",
        "limit=-1",
        "limit=abc",
        "limit=1e3",
        "limit=",
        "filter=all;DROP TABLE threads",
        "cursor=abc",
        "cursor=%FF%FE",
        "cursor=" + "A" * 600,
        "cursor=" + base64.urlsafe_b64encode(b'["newest",0,0,"yesterday",1]').decode(),
        "cursor=" + base64.urlsafe_b64encode(b'{"id": 1}').decode(),
    ]:
        r = await listed(query)
        assert r.status_code == 422, (query, r.text)
        assert_problem(r, 422, "invalid_input")

    r = await listed("limit=1000")
    assert r.status_code == 200
    assert len(r.json()["comments"]) == 100
    assert r.json()["next"] is not None
    oldest_cursor = (await listed("sort=oldest&limit=5")).json()["next"]
    assert_problem(await listed(f"sort=newest&cursor={oldest_cursor}"), 422, "invalid_input")

    # Repeated and bracketed parameters: the last `sort` wins; unknown names are ignored.
    newest = [c["id"] for c in (await listed("limit=3")).json()["comments"]]
    oldest = [c["id"] for c in (await listed("sort=oldest&limit=3")).json()["comments"]]
    assert oldest == ids[:3]
    assert newest == ids[:-4:-1]
    assert [c["id"] for c in (await listed("sort=newest&sort=oldest&limit=3")).json()["comments"]] == oldest
    assert [c["id"] for c in (await listed("sort=oldest&sort=newest&limit=3")).json()["comments"]] == newest
    assert [c["id"] for c in (await listed("sort[]=oldest&limit=3")).json()["comments"]] == newest

    for path in ("/api/v1/sites/a/comments.html?page=/story&", f"/api/v1/comments/{ids[0]}/replies?"):
        for query in ("sort=created;DROP TABLE comments", "cursor=%FF"):
            r = await api.client.get(path + query)
            assert r.status_code in (422, 200), (path, query, r.text)
            if r.status_code == 422:
                assert_problem(r, 422, "invalid_input")
    assert_problem(await api.client.get(f"/api/v1/comments/{ids[0]}/replies?cursor=abc"), 422)

    # The table is intact and every comment still there.
    assert await count(api, "/story") == 101
    assert (await api.thread(limit=100))["thread"]["count"] == 101


# -- T53: operations, docs and error pages -----------------------------------------------------------------


async def test_trace_is_not_allowed(api: Api) -> None:
    for method in ("TRACE", "TRACK"):
        for path in ("/", "/healthz", "/api/v1/sites/a/comments", "/api/v1/comments/1", "/metrics"):
            r = await api.client.request(method, path, headers={"Origin": ORIGIN_A})
            assert_problem(r, 405, "method_not_allowed")


async def test_metrics_answer_loopback_only(api: Api) -> None:
    assert_problem(await api.client.get("/metrics"), 404, "not_found")
    r = await api.client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"})
    assert_problem(r, 404, "not_found")
    transport = httpx.ASGITransport(app=api.app, client=("127.0.0.1", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://kibitz.test") as local:
        r = await local.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "kibitz_" in r.text


async def test_docs_are_public_by_default(api: Api) -> None:
    assert (await api.client.get("/openapi.json")).status_code == 200
    assert (await api.client.get("/docs")).status_code == 200


async def test_docs_can_be_hidden(tmp_path: Path, database_url: str, clock: FakeClock) -> None:
    settings = make_settings(tmp_path, database_url, public_docs=False)
    async for hidden in open_api(settings, clock):
        for path in ("/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect"):
            assert_problem(await hidden.client.get(path), 404, "not_found")
        assert (await hidden.client.get("/healthz")).status_code == 200


async def test_unknown_routes_and_sites_are_a_generic_not_found(api: Api) -> None:
    for path in (
        "/nope",
        "/api/v1/nope",
        "/api/v2/sites/a/comments",
        "/.env",
        "/administrator",  # /admin/ is the moderators' desk (HTML; tests/test_admin_pages.py)
        "/api/v1/sites/a/comments/1",
        "/api/v1/sites/a/comments/",
        "/api/v1/sites/zz/comments?page=/story",
        "/static/../kibitz.toml",
    ):
        assert_problem(await api.client.get(path), 404, "not_found")


async def test_wrong_method_on_a_known_route_is_a_problem(api: Api) -> None:
    r = await api.client.put(POST_URL, json={}, headers={"Origin": ORIGIN_A})
    assert_problem(r, 405, "method_not_allowed")
    assert_problem(await api.client.get("/api/v1/sites/a/preview"), 405, "method_not_allowed")


async def test_an_unexpected_failure_is_a_generic_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_args: object, **_kwargs: object) -> dict[str, int]:
        raise RuntimeError('SELECT secret FROM comments -- File "/work/main/kibitz/x.py"')

    monkeypatch.setattr(api.app.state.ctx.reads.versions, "get", broken)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://kibitz.test") as client:
        r = await client.get("/api/v1/sites/a/counts", params={"page": "/story"})
    body = assert_problem(r, 500, "internal_error")
    assert "secret" not in r.text
    assert body["errors"] == []


async def test_hidden_docs_leave_the_api_and_loopback_metrics_working(
    tmp_path: Path, database_url: str
) -> None:
    app = create_app(make_settings(tmp_path, database_url, public_docs=False), clock=FakeClock())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://kibitz.test") as client:
            assert (await client.get("/metrics")).status_code == 200
            assert (await client.get("/api/v1/sites/a/comments", params={"page": "/x"})).status_code == 200
            assert_problem(await client.get("/openapi.json"), 404, "not_found")
