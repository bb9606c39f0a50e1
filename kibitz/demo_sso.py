"""The demo's example of a publisher's own login (docs/sign-in.md): /demo/subscriber is a page of "The
Daily Kibitz" for a reader signed in on the paper's site, whose widget gets a token the demo signs
with its own key (HS256, kept in the data directory), so the widget signs that reader in. The
widget's "Sign in" (a mailed link, shown at /demo/mail) works on every demo page."""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import Request
from joserfc import jwt
from joserfc.jwk import OctKey
from starlette.responses import HTMLResponse, Response

from kibitz.demo import DEMO_SITE, STATIC, _common, _view, articles, when_seeded
from kibitz.templating import render_template
from kibitz.web.api import ctx_of, site_of

SSO_FILE = "demo-sso-secret.txt"  # in the data directory: the demo's own key for its sign-in tokens
TOKEN_SECONDS = 300
# Who the paper's site says is signed in: ?as=reader, ?as=editor, or ?as=none (signed out there).
PEOPLE = {
    "reader": {"sub": "demo-subscriber-1", "name": "Sam Subscriber", "roles": []},
    # The editor also moderates from the widget (the demo site sets sso_moderators): a "Moderate"
    # menu on each comment.
    "editor": {"sub": "demo-editor-1", "name": "Eda Editor", "roles": ["staff", "moderator"]},
}


def sso_secret(data_dir: Path) -> str:
    """The demo's key, made on the first start (mode 0600) and kept for the next."""
    path = data_dir / SSO_FILE
    if path.is_file():
        return path.read_text("utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret + "\n", encoding="utf-8")
    return secret


async def subscriber_page(request: Request) -> Response:
    """GET /demo/subscriber?as=reader|editor|none — an article as the paper's signed-in reader sees it."""
    ctx = ctx_of(request)
    site = site_of(ctx, DEMO_SITE)
    who = request.query_params.get("as", "reader")
    person = PEOPLE.get(who)
    token = ""
    item = articles()[0]
    if person is not None:
        now = int(ctx.clock().timestamp())
        claims = {**person, "aud": site.id, "iat": now, "exp": now + TOKEN_SECONDS}
        if who == "editor":  # the paper's login says she wrote this story: "Author" on her comments
            claims["author_of"] = [item.path]
        token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(site.sso_secret))
    body = render_template(
        "demo/subscriber.html",
        **_common(ctx, site),
        a=_view(item, await when_seeded(ctx)),
        who=who if person is not None else "none",
        people=PEOPLE,
        token=token,
        embed_js=(STATIC / "embed.js").is_file(),
    )
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})
