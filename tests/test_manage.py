"""The manage page's own comments: a guest with a manage link (no account) deletes their comments at
any time and edits them within the edit window, exactly as the API would; on both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kibitz.events import EventKind, ThreadEvent
from tests.conftest import LOOSE, ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table
from tests.test_subscriptions import confirm_address, form_post, name_page, subscribe

pytestmark = pytest.mark.anyio

ANN = {"name": "Ann", "email": "ann@news.example"}
BOB = {"name": "Bob", "email": "bob@news.example"}


async def manage_link(api: Api, email: str = "ann@news.example", site: str = "a") -> str:
    """The path of the manage link a subscriber gets (here: after confirming a newsletter)."""
    assert (await subscribe(api, email, topic="newsletter", page=None, site=site)).status_code == 202
    return await confirm_address(api, email, site=site)


async def comment(api: Api, text: str, author: dict[str, str] = ANN, **extra: Any) -> dict[str, Any]:
    r = await api.post(text=text, author=author, title="A story", url=f"{ORIGIN_A}/story", **extra)
    assert r.status_code == 201, r.text
    posted: dict[str, Any] = r.json()
    return posted


async def delete(api: Api, manage: str, comment_id: int | str) -> httpx.Response:
    """Both presses: Delete on the manage page (which only asks), then "Delete this comment" on the
    page it shows. A refused first press is the answer."""
    path = f"{manage}/comments/{comment_id}/delete"
    asked = await form_post(api, path)
    if asked.status_code != 200:
        return asked
    assert "Delete this comment" in asked.text
    return await form_post(api, path, "sure=yes")


async def delete_at_once(api: Api, manage: str, comment_id: int | str) -> httpx.Response:
    """The second press alone (a forged or replayed form): the same rules as both."""
    return await form_post(api, f"{manage}/comments/{comment_id}/delete", "sure=yes")


async def edit(api: Api, manage: str, comment_id: int | str, text: str) -> httpx.Response:
    return await form_post(api, f"{manage}/comments/{comment_id}/edit", f"text={quote(text)}")


def shown(thread: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every comment of an API thread listing by id, replies included."""
    out: dict[str, dict[str, Any]] = {}
    todo = list(thread["comments"])
    while todo:
        c = todo.pop()
        out[c["id"]] = c
        todo.extend(c["replies"])
    return out


async def thread_version(api: Api) -> int:
    async with api.app.state.ctx.db.read() as tx:
        thread = await tx.threads.get("a", "/story")
    assert thread is not None
    version: int = thread.version
    return version


def listen(api: Api) -> list[ThreadEvent]:
    seen: list[ThreadEvent] = []

    async def record(event: ThreadEvent) -> None:
        seen.append(event)

    api.app.state.ctx.events.listen(record)
    return seen


async def test_manage_page_offers_delete_and_an_edit_form_with_the_current_text(api: Api) -> None:
    ann = (await comment(api, "My *first* thought"))["comment"]["id"]
    await name_page(api, "/story", "Harbour works start Monday", f"{ORIGIN_A}/2026/harbour")
    manage = await manage_link(api)
    page = await api.client.get(manage)
    assert page.status_code == 200
    assert "My first thought" in page.text
    # The story by the publisher's title and URL, not the ones the widget sent ("A story", /story).
    assert f'href="{ORIGIN_A}/2026/harbour#comment-{ann}"' in page.text
    assert "Harbour works start Monday" in page.text
    assert f"{ORIGIN_A}/story" not in page.text
    assert f'<form method="post" action="{manage}/comments/{ann}/delete"' in page.text
    assert f'<form method="post" action="{manage}/comments/{ann}/edit">' in page.text
    assert ">My *first* thought</textarea>" in page.text
    # The cancel forms name their path too, so they still work on the page shown after an action.
    assert f'<form method="post" action="{manage}"' in page.text


async def test_a_get_never_changes_a_comment(api: Api) -> None:
    posted = await comment(api, "Keep me")
    ann = posted["comment"]["id"]
    manage = await manage_link(api)
    before = shown(await api.thread())[ann]
    for path in (manage, f"{manage}/comments/{ann}/delete", f"{manage}/comments/{ann}/edit?text=Changed"):
        r = await api.client.get(path)
        assert r.status_code in (200, 405), (path, r.status_code)
    after = await api.thread()
    assert shown(after)[ann] == before
    assert after["thread"]["count"] == 1


async def test_deleting_own_comment_removes_it_and_decrements_the_count_even_after_the_window(
    api: Api, clock: FakeClock
) -> None:
    ann = (await comment(api, "Regret this"))["comment"]["id"]
    kept = (await comment(api, "Keep this one"))["comment"]["id"]
    clock.advance(days=3)  # long after the edit window: erasing one's words is always allowed
    manage = await manage_link(api)  # deleting needs a link from the last hour
    events = listen(api)
    version = await thread_version(api)

    r = await delete(api, manage, ann)
    assert r.status_code == 200
    assert "Comment deleted." in r.text
    assert "Regret this" not in r.text
    assert "Keep this one" in r.text
    thread = await api.thread()
    assert list(shown(thread)) == [kept]
    assert thread["thread"]["count"] == 1
    assert await thread_version(api) > version
    assert [(e.kind, str(e.comment_id), e.version) for e in events] == [
        (EventKind.COMMENT_DELETED, ann, await thread_version(api))
    ]
    # The deleted comment keeps no author address, so it is no longer the holder's: a second submit
    # of either form finds nothing and changes nothing.
    assert (await delete(api, manage, ann)).status_code == 404
    assert (await delete_at_once(api, manage, ann)).status_code == 404
    assert (await api.thread())["thread"]["count"] == 1


async def test_deleting_own_comment_with_replies_leaves_a_tombstone(api: Api) -> None:
    ann = (await comment(api, "Opening words"))["comment"]["id"]
    bob = (await comment(api, "A reply", author=BOB, parent=ann))["comment"]["id"]
    manage = await manage_link(api)

    assert (await delete(api, manage, ann)).status_code == 200
    thread = await api.thread()
    [top] = thread["comments"]
    assert top["id"] == ann
    assert top["deleted"] is True
    assert "Opening words" not in top["html"]
    assert [reply["id"] for reply in top["replies"]] == [bob]
    assert thread["thread"]["count"] == 1


async def test_editing_own_comment_within_the_window_renders_as_the_api_edit(
    api: Api, clock: FakeClock
) -> None:
    ours = (await comment(api, "Frist"))["comment"]["id"]
    twin = await comment(api, "Frist", author=BOB)
    manage = await manage_link(api)
    events = listen(api)
    clock.advance(minutes=10)
    new_text = "First, *really*: <script>alert(1)</script> [a link](https://example.org)\r\n\r\nline two"

    r = await edit(api, manage, ours, new_text)
    assert r.status_code == 200
    assert "Comment saved." in r.text
    assert "First, really:" in r.text
    api_edit = await api.client.patch(
        f"/api/v1/comments/{twin['comment']['id']}",
        json={"text": new_text},
        headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {twin['token']}"},
    )
    assert api_edit.status_code == 200, api_edit.text
    comments = shown(await api.thread())
    assert comments[ours]["html"] == api_edit.json()["comment"]["html"]
    assert "<em>really</em>" in comments[ours]["html"]
    assert "<script" not in comments[ours]["html"]
    assert comments[ours]["edited"] is not None
    assert (events[0].kind, str(events[0].comment_id)) == (EventKind.COMMENT_UPDATED, ours)


async def test_editing_after_the_window_is_refused_and_changes_nothing(api: Api, clock: FakeClock) -> None:
    ann = (await comment(api, "Original words"))["comment"]["id"]
    manage = await manage_link(api)
    clock.advance(minutes=16)  # the test sites' edit window is the default 15 minutes
    before = shown(await api.thread())[ann]

    r = await edit(api, manage, ann, "Rewritten history")
    assert r.status_code == 403
    assert "nothing was changed" in r.text
    assert shown(await api.thread())[ann] == before
    page = await api.client.get(manage)
    assert "<textarea" not in page.text  # no edit form once the window closed
    assert f"{manage}/comments/{ann}/delete" in page.text


async def test_blank_text_is_refused_and_changes_nothing(api: Api) -> None:
    ann = (await comment(api, "Something"))["comment"]["id"]
    manage = await manage_link(api)
    r = await edit(api, manage, ann, "  \r\n ")
    assert r.status_code == 422
    assert "must not be empty" in r.text
    assert shown(await api.thread())[ann]["html"].strip() == "<p>Something</p>"


async def test_someone_elses_or_an_unknown_comment_answers_404_and_changes_nothing(api: Api) -> None:
    bob = (await comment(api, "Bob's words", author=BOB))["comment"]["id"]
    anonymous = (await comment(api, "No address", author={"name": "Ann"}))["comment"]["id"]
    other_site = await api.post(
        site="b", origin=ORIGIN_B, text="Ann on site b", author=ANN, url=f"{ORIGIN_B}/story"
    )
    assert other_site.status_code == 201
    manage = await manage_link(api)
    not_found = await api.client.get("/manage/not-a-token")
    assert not_found.status_code == 404
    before = await api.thread()

    b_id = other_site.json()["comment"]["id"]
    for target in (bob, anonymous, b_id, 999999, "abc", "0"):
        for r in (
            await delete(api, manage, target),
            await delete_at_once(api, manage, target),
            await edit(api, manage, target, "Hijacked"),
        ):
            assert r.status_code == 404, (target, r.status_code)
            assert r.content == not_found.content  # no hint why
    assert await api.thread() == before
    assert shown(await api.thread(site="b"))[b_id]["html"].strip() == "<p>Ann on site b</p>"


async def test_an_expired_or_foreign_manage_token_changes_nothing(api: Api, clock: FakeClock) -> None:
    ann = (await comment(api, "Still here"))["comment"]["id"]
    manage = await manage_link(api)
    bob_manage = await manage_link(api, "bob@news.example")
    tampered = manage[:-3] + ("xyz" if not manage.endswith("xyz") else "abc")

    for r in (
        await delete(api, bob_manage, ann),  # a genuine link, for another address
        await delete_at_once(api, bob_manage, ann),
        await delete(api, tampered, ann),  # a tampered token
    ):
        assert r.status_code == 404
    clock.advance(days=31)
    for r in (
        await delete(api, manage, ann),
        await delete_at_once(api, manage, ann),
        await edit(api, manage, ann, "Changed"),
    ):
        assert r.status_code in (404, 410)
        assert "Still here" not in r.text
    thread = await api.thread()
    assert shown(thread)[ann]["html"].strip() == "<p>Still here</p>"
    assert thread["thread"]["count"] == 1


async def test_changes_from_the_manage_page_count_against_the_edits_limit(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    tight = site_table("a", ORIGIN_A, rate_limits={**LOOSE, "edits": "2/minute"})
    async with custom_api(tmp_path, database_url, clock, sites=[tight]) as api:
        ann = (await comment(api, "Draft"))["comment"]["id"]
        manage = await manage_link(api)
        assert (await edit(api, manage, ann, "Draft two")).status_code == 200
        assert (await edit(api, manage, ann, "Draft three")).status_code == 200
        r = await edit(api, manage, ann, "Draft four")
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) >= 1
        r = await delete(api, manage, ann)
        assert r.status_code == 429
        assert shown(await api.thread())[ann]["html"].strip() == "<p>Draft three</p>"
