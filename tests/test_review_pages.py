"""Issue 11, findings 2 and 9: the pages for people. Confirming takes a person pressing a button (no
script submits anything); every form post but RFC 8058's one-click unsubscribe comes from this site
with the page's form token; manage links can be revoked, and only a fresh one deletes or cancels all.
On both engines."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest

from kibitz.store.schema import subscriptions
from kibitz.subscriptions import links_for
from tests.conftest import ORIGIN_A, Api, FakeClock
from tests.test_manage import ANN, comment, manage_link, shown
from tests.test_subscriptions import (
    BASE,
    FORM,
    SAME_ORIGIN,
    form_post,
    link,
    one_click,
    rows,
    subscribe,
    subscriber,
)

pytestmark = pytest.mark.anyio

EVIL = "https://evil.example"
CROSS_SITE = [
    {**FORM, "Sec-Fetch-Site": "cross-site"},
    {**FORM, "Sec-Fetch-Site": "cross-site", "Origin": BASE},
    {**FORM, "Origin": EVIL},
    {**FORM, "Origin": "null"},
    {**FORM, "Origin": ORIGIN_A},  # the news site itself is not the comment server
]


def form_token(page: str) -> str:
    found = re.search(r'name="form" value="([^"]+)"', page)
    assert found, "no form token on the page"
    return found.group(1)


async def post(api: Api, path: str, body: str, token: str, headers: dict[str, str]) -> httpx.Response:
    fields = [f for f in (body, f"form={quote(token)}" if token else "") if f]
    return await api.client.post(path, content="&".join(fields).encode(), headers=headers)


async def unconfirmed(api: Api, email: str = "reader@news.example") -> str:
    assert (await subscribe(api, email)).status_code == 202
    [mail] = [m for m in await rows(api, kind="confirm") if m.recipient == email]
    return link(mail.text_body, "confirm")


# -- finding 2 ---------------------------------------------------------------------------------------


async def test_the_confirm_page_has_a_button_and_no_script_and_opening_it_confirms_nothing(api: Api) -> None:
    path = await unconfirmed(api)
    page = await api.client.get(path)
    assert page.status_code == 200
    assert "<script" not in page.text.lower()
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert '<button type="submit">Confirm</button>' in page.text
    assert (await subscriber(api, "reader@news.example")).status == "unconfirmed"

    r = await post(api, path, "", form_token(page.text), SAME_ORIGIN)
    assert r.status_code == 200
    assert (await subscriber(api, "reader@news.example")).status == "confirmed"


# -- finding 9: same site and form token -------------------------------------------------------------


async def test_a_cross_site_confirm_post_is_refused_and_confirms_nothing(api: Api) -> None:
    path = await unconfirmed(api)
    token = form_token((await api.client.get(path)).text)
    for headers in CROSS_SITE:
        r = await post(api, path, "", token, headers)
        assert r.status_code == 403, headers
        assert r.headers["content-type"].startswith("text/html")
        assert "nothing was changed" in r.text
    assert (await subscriber(api, "reader@news.example")).status == "unconfirmed"


async def test_posts_without_this_links_form_token_are_refused(api: Api) -> None:
    path = await unconfirmed(api)
    other = await unconfirmed(api, "other@news.example")
    others_token = form_token((await api.client.get(other)).text)
    for token in ("", "forged", others_token, form_token((await api.client.get(path)).text)[:-3] + "AAA"):
        assert (await post(api, path, "", token, SAME_ORIGIN)).status_code == 403, token
    assert (await subscriber(api, "reader@news.example")).status == "unconfirmed"


@pytest.mark.parametrize(
    "headers",
    [
        {**FORM, "Sec-Fetch-Site": "same-origin"},
        {**FORM, "Sec-Fetch-Site": "same-site"},
        {**FORM, "Sec-Fetch-Site": "none"},
        {**FORM, "Origin": BASE},  # base_url's origin, from a browser without Sec-Fetch
        FORM,  # no browser at all: the form token decides
    ],
)
async def test_a_post_from_this_site_with_its_form_token_confirms(api: Api, headers: dict[str, str]) -> None:
    path = await unconfirmed(api)
    r = await post(api, path, "", form_token((await api.client.get(path)).text), headers)
    assert r.status_code == 200
    assert (await subscriber(api, "reader@news.example")).status == "confirmed"


async def test_cross_site_posts_to_the_manage_page_change_nothing(api: Api) -> None:
    ann = (await comment(api, "Mine to keep"))["comment"]["id"]
    manage = await manage_link(api)
    token = form_token((await api.client.get(manage)).text)
    [newsletter] = await rows(api, subscriptions)
    attempts = [
        (manage, f"cancel={newsletter.id}"),
        (manage, "cancel=all"),
        (manage, "signout=everywhere"),
        (manage, "send=link"),
        (manage, "lists=save"),  # the preference centre: no list ticked
        (manage, "pause=resumed"),
        (f"{manage}/comments/{ann}/edit", "text=Defaced"),
        (f"{manage}/comments/{ann}/delete", ""),  # the first press, which only asks
        (f"{manage}/comments/{ann}/delete", "sure=yes"),  # the second, which deletes
    ]
    for path, body in attempts:
        for headers in CROSS_SITE:
            assert (await post(api, path, body, token, headers)).status_code == 403, (path, headers)
        assert (await post(api, path, body, "", SAME_ORIGIN)).status_code == 403, path
    assert [s.active for s in await rows(api, subscriptions)] == [True]
    assert shown(await api.thread())[ann]["html"].strip() == "<p>Mine to keep</p>"
    assert [m.kind for m in await rows(api)] == ["confirm", "welcome"]  # the newsletter's, confirmed above
    assert (await subscriber(api, "ann@news.example")).paused_until is None
    assert (await api.client.get(manage)).status_code == 200


async def test_rfc_8058_one_click_unsubscribe_needs_neither_origin_nor_form_token(api: Api) -> None:
    assert (await subscribe(api, "reader@news.example")).status_code == 202
    [mail] = await rows(api, kind="confirm")
    assert (await form_post(api, link(mail.text_body, "confirm"))).status_code == 200
    [mail] = await rows(api, kind="confirm")
    r = await one_click(api, link(mail.list_unsubscribe, "unsubscribe"))  # as a mail provider sends it
    assert r.status_code == 200
    assert (await subscriber(api, "reader@news.example")).status == "unsubscribed"


# -- finding 9: revocable links, fresh links for destructive acts ------------------------------------


async def test_signing_out_everywhere_voids_every_manage_link_issued_so_far(
    api: Api, clock: FakeClock
) -> None:
    first = await manage_link(api)
    clock.advance(minutes=5)
    ctx = api.app.state.ctx
    row = await subscriber(api, ANN["email"])
    links = links_for(ctx.tokens, ctx.settings)
    second = links.manage(row.id, clock()).removeprefix(BASE)  # the link in a later notification
    assert (await api.client.get(second)).status_code == 200

    page = await api.client.get(first)
    assert "Sign out of this link everywhere" in page.text
    r = await post(api, first, "signout=everywhere", form_token(page.text), SAME_ORIGIN)
    assert r.status_code == 200
    assert "Signed out everywhere" in r.text
    for old in (first, second):
        assert (await api.client.get(old)).status_code == 410
        assert (await form_post(api, old, "cancel=all")).status_code == 410
    assert [s.active for s in await rows(api, subscriptions)] == [True]

    clock.advance(seconds=1)
    later = links.manage(row.id, clock()).removeprefix(BASE)  # a later mail's link
    assert (await api.client.get(later)).status_code == 200


async def test_deleting_and_cancelling_all_need_a_link_from_the_last_hour(api: Api, clock: FakeClock) -> None:
    ann = (await comment(api, "Keep me for now"))["comment"]["id"]
    manage = await manage_link(api)
    clock.advance(hours=1, seconds=1)

    page = await api.client.get(manage)
    assert "Mail me a fresh link" in page.text
    attempts = (
        (f"{manage}/comments/{ann}/delete", ""),
        (f"{manage}/comments/{ann}/delete", "sure=yes"),
        (manage, "cancel=all"),
    )
    for path, body in attempts:
        r = await form_post(api, path, body)
        assert r.status_code == 403
        assert "This needs a fresh link" in r.text
    assert shown(await api.thread())[ann]["deleted"] is False
    assert [s.active for s in await rows(api, subscriptions)] == [True]
    # Looking, and cancelling one subscription, still work.
    [newsletter] = await rows(api, subscriptions)
    assert (await form_post(api, manage, f"cancel={newsletter.id}")).status_code == 200

    r = await form_post(api, manage, "send=link")
    assert r.status_code == 200
    assert (await form_post(api, manage, "send=link")).status_code == 200  # at most one mail an hour
    [mail] = await rows(api, kind="manage")
    assert mail.recipient == ANN["email"]
    fresh = link(mail.text_body, "manage")
    assert (await form_post(api, f"{fresh}/comments/{ann}/delete")).status_code == 200  # asks
    assert shown(await api.thread())[ann]["deleted"] is False
    assert (await form_post(api, f"{fresh}/comments/{ann}/delete", "sure=yes")).status_code == 200
    assert ann not in shown(await api.thread())


async def test_a_manage_link_from_before_issue_times_shows_the_page_but_deletes_nothing(api: Api) -> None:
    ann = (await comment(api, "Older link, still mine"))["comment"]["id"]
    await manage_link(api)
    ctx = api.app.state.ctx
    row = await subscriber(api, ANN["email"])
    legacy = "/manage/" + ctx.tokens.issue("manage", str(row.id), now=api.clock(), ttl=timedelta(days=30))
    assert (await api.client.get(legacy)).status_code == 200
    assert (await form_post(api, f"{legacy}/comments/{ann}/delete")).status_code == 403
    assert (await form_post(api, f"{legacy}/comments/{ann}/delete", "sure=yes")).status_code == 403
    assert shown(await api.thread())[ann]["deleted"] is False
