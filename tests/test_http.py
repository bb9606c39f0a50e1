"""The public flow over real HTTP: `kibitz serve` (uvicorn) on 127.0.0.1, one and two workers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.conftest import ORIGIN_A, ORIGIN_B
from tests.server import STOP_SECONDS, serve, site

pytestmark = pytest.mark.anyio

ATOM = "{http://www.w3.org/2005/Atom}"
PAGE = "/2026/real-http"


def client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=30.0)


async def post(
    http: httpx.AsyncClient, site_id: str = "a", origin: str = ORIGIN_A, **body: Any
) -> httpx.Response:
    payload: dict[str, Any] = {"page": PAGE, "text": "Hello", "author": {"name": "Ann"}}
    payload.update(body)
    return await http.post(f"/api/v1/sites/{site_id}/comments", json=payload, headers={"Origin": origin})


async def thread(http: httpx.AsyncClient, site_id: str = "a", **params: Any) -> dict[str, Any]:
    r = await http.get(f"/api/v1/sites/{site_id}/comments", params={"page": PAGE, **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    data: dict[str, Any] = r.json()
    return data


def ids(data: dict[str, Any]) -> list[str]:
    return [c["id"] for c in data["comments"]]


async def test_post_reply_vote_read_edit_delete_over_real_http(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url) as server:
        async with client(server.url) as http:
            r = await post(
                http,
                text="First *post*",
                title="Real HTTP",
                url=f"{ORIGIN_A}{PAGE}",
                author={"name": "Ann", "email": "ann@example.org"},
            )
            assert r.status_code == 201, r.text
            first = r.json()
            assert first["comment"]["html"] == "<p>First <em>post</em></p>\n"
            assert r.headers["X-Kibitz-Reader"] == first["reader"]
            assert r.headers["Access-Control-Allow-Origin"] == ORIGIN_A
            assert "ann@example.org" not in r.text
            first_id, token = first["comment"]["id"], first["token"]

            r = await post(http, text="Second", author={"name": "Bob"})
            assert r.status_code == 201, r.text
            second_id = r.json()["comment"]["id"]
            r = await post(http, text="A reply", parent=first_id, author={"name": "Cy"})
            assert r.status_code == 201, r.text
            reply_id = r.json()["comment"]["id"]
            assert r.json()["comment"]["parent"] == first_id

            # A reader's own comment takes no vote from them; a stranger's does, once.
            r = await http.post(
                f"/api/v1/comments/{first_id}/vote",
                json={"value": 1},
                headers={"Origin": ORIGIN_A, "X-Kibitz-Reader": first["reader"]},
            )
            assert r.status_code == 403
            assert r.json()["code"] == "own_comment"
            r = await http.post(
                f"/api/v1/comments/{first_id}/vote", json={"value": 1}, headers={"Origin": ORIGIN_A}
            )
            assert r.status_code == 200, r.text
            assert r.json() == {"score": 1, "up": 1, "down": 0, "value": 1}
            voter = r.headers["X-Kibitz-Reader"]
            r = await http.post(
                f"/api/v1/comments/{first_id}/vote",
                json={"value": 1},
                headers={"Origin": ORIGIN_A, "X-Kibitz-Reader": voter},
            )
            assert r.json() == {"score": 1, "up": 1, "down": 0, "value": 1}
            r = await http.post(
                f"/api/v1/comments/{second_id}/vote",
                json={"value": -1},
                headers={"Origin": ORIGIN_A, "X-Kibitz-Reader": voter},
            )
            assert r.json() == {"score": -1, "up": 0, "down": 1, "value": -1}

            data = await thread(http)
            assert data["thread"] == {
                "site": "a",
                "page": PAGE,
                "title": "Real HTTP",
                "url": f"{ORIGIN_A}{PAGE}",
                "count": 3,
                "closed": False,
            }
            assert ids(data) == [second_id, first_id]  # newest first by default
            assert ids(await thread(http, sort="oldest")) == [first_id, second_id]
            by_votes = await thread(http, sort="votes")
            assert ids(by_votes) == [first_id, second_id]
            top = by_votes["comments"][0]
            assert (top["score"], top["reply_count"]) == (1, 1)
            assert [c["id"] for c in top["replies"]] == [reply_id]
            paged = await thread(http, sort="oldest", limit=1)
            assert ids(paged) == [first_id]
            assert ids(await thread(http, sort="oldest", limit=1, cursor=paged["next"])) == [second_id]

            auth = {"Origin": ORIGIN_A, "Authorization": f"Bearer {token}"}
            r = await http.patch(f"/api/v1/comments/{first_id}", json={"text": "Edited"}, headers=auth)
            assert r.status_code == 200, r.text
            assert r.json()["comment"]["html"] == "<p>Edited</p>\n"
            assert r.json()["comment"]["edited"] is not None
            r = await http.patch(
                f"/api/v1/comments/{first_id}",
                json={"text": "Hijacked"},
                headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {token}x"},
            )
            assert r.status_code == 403
            assert r.headers["content-type"] == "application/problem+json"

            r = await http.post(
                "/api/v1/sites/a/preview",
                json={"text": "**bold** <script>x</script>"},
                headers={"Origin": ORIGIN_A},
            )
            assert r.status_code == 200, r.text
            assert r.json()["html"].startswith("<p><strong>bold</strong>")
            assert "<script" not in r.json()["html"]

            r = await http.post(
                f"/api/v1/comments/{second_id}/flag",
                json={"reason": "off topic"},
                headers={"Origin": ORIGIN_A},
            )
            assert r.status_code == 202, r.text

            r = await http.get("/api/v1/sites/a/counts", params=[("page", PAGE), ("page", "/nobody-here")])
            assert r.json() == {"counts": {PAGE: 3, "/nobody-here": 0}}

            r = await http.get("/api/v1/sites/a/feed.atom", params={"page": PAGE})
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("application/atom+xml")
            feed = ET.fromstring(r.content)  # noqa: S314 - our own server's output
            entries = feed.findall(f"{ATOM}entry")
            assert len(entries) == 3
            assert {e.findtext(f"{ATOM}author/{ATOM}name") for e in entries} == {"Ann", "Bob", "Cy"}

            r = await http.get("/api/v1/sites/a/comments.html", params={"page": PAGE, "sort": "oldest"})
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/html")
            html = r.text
            assert 'itemtype="https://schema.org/Comment"' in html
            assert html.index(f'data-comment-id="{first_id}"') < html.index(f'data-comment-id="{second_id}"')
            assert f'data-comment-id="{reply_id}"' in html
            assert "<p>Edited</p>" in html

            # The first comment has a reply: it stays as a tombstone; the second leaves the listing.
            r = await http.delete(f"/api/v1/comments/{first_id}", headers=auth)
            assert r.status_code == 204
            r = await post(http, text="Third", author={"name": "Dee"})
            third = r.json()
            r = await http.delete(
                f"/api/v1/comments/{third['comment']['id']}",
                headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {third['token']}"},
            )
            assert r.status_code == 204
            data = await thread(http, sort="oldest")
            assert data["thread"]["count"] == 2
            assert ids(data) == [first_id, second_id]
            tomb = data["comments"][0]
            assert (tomb["deleted"], tomb["html"], tomb["author"]["name"], tomb["author"]["avatar"]) == (
                True,
                "",
                "",
                None,
            )
            assert [c["id"] for c in tomb["replies"]] == [reply_id]

            r = await post(http, origin="https://evil.example", text="Sneaky")
            assert r.status_code == 403
            assert "Access-Control-Allow-Origin" not in r.headers
            assert (await thread(http))["thread"]["count"] == 2
        assert server.stop() == 0


async def test_readyz_metrics_and_clean_exit_on_sigterm(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url) as server:
        async with client(server.url) as http:
            r = await http.get("/readyz")
            assert r.status_code == 200
            assert r.json() == {"status": "ready"}
            assert (await post(http)).status_code == 201
            r = await http.get("/metrics")  # from 127.0.0.1, which the default metrics_allow lists
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert "# TYPE kibitz_http_requests_total counter" in r.text
            assert 'kibitz_events_total{kind="comment.created"} 1.0' in r.text
        # A graceful stop within the bounded wait: status 0, not the -SIGKILL of a forced one.
        assert server.stop(STOP_SECONDS) == 0
    assert "Traceback" not in server.stderr()


async def test_metrics_refuse_addresses_not_listed(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url, metrics_allow=["10.0.0.0/8"]) as server:
        async with client(server.url) as http:
            r = await http.get("/metrics")
            assert r.status_code == 404
            assert r.json()["code"] == "not_found"


async def test_two_workers_share_posts_reads_and_rate_limits(tmp_path: Path, database_url: str) -> None:
    sites = [site("a", ORIGIN_A), site("b", ORIGIN_B, rate_limits={"comments": "5/36500d"})]
    # A fixed window of a century: the burst below cannot straddle two windows, so "exactly 5" holds.
    with serve(tmp_path, database_url, workers=2, sites=sites) as server:
        async with client(server.url) as http:
            r = await post(http, text="Across workers")
            assert r.status_code == 201, r.text
            posted = r.json()
            # Fresh connections land on either worker; every one sees the post, then the edit.
            for _ in range(6):
                async with client(server.url) as fresh:
                    assert ids(await thread(fresh)) == [posted["comment"]["id"]]
            r = await http.patch(
                f"/api/v1/comments/{posted['comment']['id']}",
                json={"text": "Edited across workers"},
                headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {posted['token']}"},
            )
            assert r.status_code == 200, r.text
            for _ in range(6):
                async with client(server.url) as fresh:
                    data = await thread(fresh)
                    assert data["comments"][0]["html"] == "<p>Edited across workers</p>\n"

        # Twelve posts at once from one address, each on its own connection: the limit holds exactly.
        async def one(n: int) -> httpx.Response:
            async with client(server.url) as fresh:
                return await post(fresh, "b", ORIGIN_B, text=f"Burst {n}")

        responses = await asyncio.gather(*(one(n) for n in range(12)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] * 5 + [429] * 7, [r.text for r in responses]
        for r in responses:
            if r.status_code == 429:
                assert r.json()["code"] == "rate_limited"
                assert int(r.headers["Retry-After"]) > 0
        async with client(server.url) as http:
            data = await thread(http, "b")
            assert data["thread"]["count"] == 5
            assert len(data["comments"]) == 5
        assert server.stop() == 0
