"""The public flow through the API in-process, on both engines."""

from __future__ import annotations

import pytest

from tests.conftest import ORIGIN_A, Api

pytestmark = pytest.mark.anyio


async def test_post_reply_vote_edit_delete_flow(api: Api) -> None:
    r = await api.post(text="First *post*", title="A story", url=f"{ORIGIN_A}/story")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["comment"]["html"] == "<p>First <em>post</em></p>\n"
    assert "reader" in first
    assert r.headers["X-Kibitz-Reader"] == first["reader"]
    cid, token, reader = first["comment"]["id"], first["token"], first["reader"]

    r = await api.post(parent=cid, text="A reply", author={"name": "Bob"})
    assert r.status_code == 201
    reply = r.json()["comment"]
    assert reply["parent"] == cid

    assert (await api.vote(cid, 1, reader=reader)).status_code == 403  # own comment
    r = await api.vote(cid, 1)
    assert r.json() == {"score": 1, "up": 1, "down": 0, "value": 1}

    thread = await api.thread()
    assert thread["thread"]["count"] == 2
    assert thread["thread"]["title"] == "A story"
    assert thread["thread"]["url"] == f"{ORIGIN_A}/story"
    top = thread["comments"][0]
    assert top["score"] == 1
    assert top["reply_count"] == 1
    assert top["replies"][0]["id"] == reply["id"]

    r = await api.client.patch(
        f"/api/v1/comments/{cid}",
        json={"text": "Edited"},
        headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["comment"]["html"] == "<p>Edited</p>\n"
    assert r.json()["comment"]["edited"] is not None

    r = await api.client.delete(
        f"/api/v1/comments/{cid}", headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 204
    thread = await api.thread()
    assert thread["thread"]["count"] == 1
    tomb = thread["comments"][0]
    assert tomb["deleted"] is True
    assert tomb["html"] == ""
    assert tomb["author"]["name"] == ""
    assert tomb["author"]["avatar"] is None
    assert tomb["replies"][0]["id"] == reply["id"]
