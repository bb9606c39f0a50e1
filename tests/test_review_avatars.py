"""Security review finding 3: an avatar proves nothing about an email address. The key names the
poster's reader id; a probe comment with a guessed address cannot reproduce anyone's avatar, and
comments stored before keep the avatar they had."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sqlalchemy import update

from kibitz.store.schema import comments
from tests.conftest import Api

pytestmark = pytest.mark.anyio

VICTIM = "victim@example.org"


def avatar_of(body: dict[str, object]) -> str:
    comment = body["comment"]
    assert isinstance(comment, dict)
    author = comment["author"]
    assert isinstance(author, dict)
    url = author["avatar"]
    assert isinstance(url, str)
    return url


def legacy_key(secret: bytes, site: str, identity: str) -> str:
    """The key as comments stored it before migration 0006: the digest of email (or name)."""
    return hmac.new(secret, f"{site}\0{identity}".encode(), hashlib.sha256).hexdigest()[:32]


async def test_a_probe_with_a_guessed_email_does_not_match_the_authors_avatar(api: Api) -> None:
    victim = (await api.post(author={"name": "Vic", "email": VICTIM})).json()
    # The attacker guesses the address and the name, as a new reader and as a second one.
    probe = (await api.post(text="probe", author={"name": "Vic", "email": VICTIM})).json()
    again = (await api.post(text="probe 2", author={"name": "Vic", "email": VICTIM.upper()})).json()
    assert avatar_of(probe) != avatar_of(victim)
    assert avatar_of(again) != avatar_of(victim)
    assert avatar_of(again) != avatar_of(probe)


async def test_one_readers_comments_share_an_avatar_whatever_email_or_name_they_type(api: Api) -> None:
    first = await api.post(author={"name": "Ann", "email": "ann@example.org"})
    reader = first.headers["X-Kibitz-Reader"]
    second = await api.post(
        text="Later",
        author={"name": "Ann B.", "email": "other@example.org"},
        headers={"X-Kibitz-Reader": reader},
    )
    third = await api.post(text="No email", author={"name": "A"}, headers={"X-Kibitz-Reader": reader})
    assert avatar_of(first.json()) == avatar_of(second.json()) == avatar_of(third.json())
    # Another site gives the same reader another avatar: no linking across sites.
    elsewhere = await api.post(
        site="b", origin="https://news-b.example", headers={"X-Kibitz-Reader": reader}, author={"name": "Ann"}
    )
    assert avatar_of(elsewhere.json()) != avatar_of(first.json())


async def test_the_avatar_is_the_readers_keyed_digest_and_never_the_emails(api: Api) -> None:
    posted = await api.post(author={"name": "Ann", "email": "ann@example.org"})
    ctx = api.app.state.ctx
    raw = ctx.tokens.reader(posted.headers["X-Kibitz-Reader"])
    digest = avatar_of(posted.json()).rsplit("/", 1)[1].removesuffix(".svg")
    secret = ctx.comments.avatar_secret
    assert digest == hmac.new(secret, f"reader\0a\0{raw}".encode(), hashlib.sha256).hexdigest()[:32]
    assert digest not in (legacy_key(secret, "a", "ann@example.org"), legacy_key(secret, "a", "Ann"))


async def test_comments_from_before_keep_their_stored_avatar_and_a_probe_cannot_match_it(api: Api) -> None:
    ctx = api.app.state.ctx
    old = (await api.post(author={"name": "Vic", "email": VICTIM})).json()
    stored = legacy_key(ctx.comments.avatar_secret, "a", VICTIM)
    async with ctx.db.write() as tx:  # as migration 0006 leaves a comment posted before it
        await tx.conn.execute(
            update(comments).where(comments.c.id == int(old["comment"]["id"])).values(avatar_key=stored)
        )
    shown = next(c for c in (await api.thread())["comments"] if c["id"] == old["comment"]["id"])
    assert shown["author"]["avatar"].endswith(f"/{stored}.svg")  # stable: the same image as before
    probe = (await api.post(text="probe", author={"name": "Vic", "email": VICTIM})).json()
    assert not avatar_of(probe).endswith(f"/{stored}.svg")
