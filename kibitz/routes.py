"""Every URL on one screen."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.responses import StreamingResponse
from starlette.routing import BaseRoute

from kibitz.errors import all_error_classes
from kibitz.web import (
    admin,
    admin_api,
    admin_auth,
    admin_hooks,
    admin_imports,
    admin_newsletter,
    admin_queue,
    admin_site,
    admin_suppressions,
    api,
    apidocs,
    assets,
    auth,
    bounces,
    campaigns_api,
    embedcheck,
    feeds,
    live,
    manage_pages,
    mod_links,
    newsletter,
    newsletter_archive,
    oidc,
    ops,
    pages,
    privacy,
    reader_moderation,
    schemas,
    subscribe,
    subscriber_io,
    updates_api,
    webhooks_api,
)

PROBLEM = {"model": schemas.Problem, "content": {"application/problem+json": {}}}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    codes: dict[int, list[str]] = {}
    for cls in all_error_classes():
        codes.setdefault(cls.status, []).append(cls.code)
    # Every route may meet the head limits (414, 431), checked before routing (web/edge.py).
    return {
        status: {**PROBLEM, "description": "Problem codes: " + ", ".join(sorted(codes.get(status, [])))}
        for status in (*statuses, 414, 431)
    }


READ = _problems(400, 404, 422, 503)
# Reads with an ETag (web/cached.py): If-None-Match with the current one answers 304.
CACHED = {304: {"description": "Not Modified: the ETag in If-None-Match is current"}, **READ}
WRITE = _problems(400, 401, 403, 404, 413, 415, 422, 429, 503)


def _ok(model: type[Any], status: int = 200, description: str = "OK") -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model, "description": description}}


DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "Download my data: a JSON file"}
}


def _auth(r: APIRouter) -> None:
    """Reader sign-in (web/auth.py) and the signed-in reader's account."""
    v1 = "/api/v1"
    signed_in = {**_ok(auth.SignedInOut), **WRITE}
    for path, handler, method, responses, status in (
        (
            f"{v1}/sites/{{site}}/auth",
            auth.options,
            "GET",
            {**_ok(auth.OptionsOut), **_problems(404, 422)},
            200,
        ),
        (
            f"{v1}/sites/{{site}}/auth/email",
            auth.email_link,
            "POST",
            {**_ok(auth.SentOut, 202, "Accepted (the same answer for every address)"), **WRITE},
            202,
        ),
        (f"{v1}/sites/{{site}}/auth/sso", auth.sso_sign_in, "POST", signed_in, 200),
        (f"{v1}/me", auth.me, "GET", {**_ok(auth.MeOut), **_problems(401, 404)}, 200),
        (f"{v1}/me", auth.update_me, "PATCH", {**_ok(auth.MeOut), **WRITE}, 200),
        (f"{v1}/me/sign-out", auth.sign_out, "POST", {204: {"description": "Signed out"}, **WRITE}, 204),
        (f"{v1}/me/join", auth.join, "POST", {**_ok(auth.JoinedOut), **WRITE}, 200),
        (f"{v1}/me/export", privacy.my_data, "GET", {**DOWNLOAD, **_problems(401, 404)}, 200),
        (f"{v1}/me", privacy.erase_me, "DELETE", {**_ok(privacy.ErasedOut), **WRITE}, 200),
        # A moderator from the site's own login, from the widget (web/reader_moderation.py).
        (
            f"{v1}/comments/{{id}}/moderate",
            reader_moderation.moderate,
            "POST",
            {**_ok(reader_moderation.ModeratedOut), **WRITE},
            200,
        ),
    ):
        r.add_api_route(
            path, handler, methods=[method], responses=responses, status_code=status, tags=["accounts"]
        )
    # The mailed link's page (GET shows a button, POST signs in); HTML, not part of the JSON API.
    r.add_api_route("/auth/email/{token}", auth.email_link_page, methods=["GET"], include_in_schema=False)
    r.add_api_route("/auth/email/{token}", auth.email_link_use, methods=["POST"], include_in_schema=False)
    # OpenID Connect in the widget's popup (web/oidc.py): to the provider and back, then postMessage.
    r.add_api_route("/auth/oidc/{provider}/start", oidc.start, methods=["GET"], include_in_schema=False)
    r.add_api_route("/auth/oidc/{provider}/callback", oidc.callback, methods=["GET"], include_in_schema=False)


def register(app: FastAPI) -> None:
    """Every route onto the app. The routes are made once per process and the same objects serve
    every app made in it (the tests make one per test): building one costs FastAPI a pydantic
    adapter per parameter and model, some 130 ms for all of them, and nothing in a route belongs to
    one app (a handler finds its Context on ``request.app``). Not supported as a consequence:
    ``app.dependency_overrides``, which Kibitz does not use."""
    app.router.routes.extend(_routes())


@functools.cache
def _routes() -> tuple[BaseRoute, ...]:
    r = APIRouter()
    _public(r)
    return tuple(r.routes)


def _public(r: APIRouter) -> None:
    v1 = "/api/v1"
    r.add_api_route(
        f"{v1}/sites/{{site}}/comments",
        api.get_comments,
        methods=["GET"],
        responses={**_ok(schemas.ThreadPageOut), **CACHED},
        tags=["threads"],
    )
    r.add_api_route(
        f"{v1}/sites/{{site}}/comments",
        api.post_comment,
        methods=["POST"],
        status_code=201,
        responses={
            **_ok(schemas.PostedOut, 201, "Created"),
            **_ok(schemas.PostedOut, 202, "Held for moderation"),
            **WRITE,
        },
        tags=["comments"],
    )
    r.add_api_route(
        f"{v1}/sites/{{site}}/comments.html",
        feeds.thread_html,
        methods=["GET"],
        responses={200: {"content": {"text/html": {}}, "description": "HTML fragment"}, **CACHED},
        tags=["threads"],
    )
    r.add_api_route(
        f"{v1}/sites/{{site}}/form",
        api.form_token,
        methods=["GET"],
        responses={**_ok(schemas.FormOut), **_problems(404, 422)},
        tags=["comments"],
    )
    r.add_api_route(
        f"{v1}/sites/{{site}}/preview",
        api.preview,
        methods=["POST"],
        responses={**_ok(schemas.PreviewOut), **WRITE},
        tags=["comments"],
    )
    r.add_api_route(
        f"{v1}/sites/{{site}}/counts",
        api.counts,
        methods=["GET"],
        responses={**_ok(schemas.CountsOut), **CACHED},
        tags=["threads"],
    )
    r.add_api_route(
        f"{v1}/sites/{{site}}/feed.atom",
        feeds.atom,
        methods=["GET"],
        responses={200: {"content": {"application/atom+xml": {}}, "description": "Atom feed"}, **READ},
        tags=["threads"],
    )
    r.add_api_route(
        f"{v1}/sites/{{site}}/events",
        live.events,
        methods=["GET"],
        responses={
            200: {
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
                "description": "Server-Sent Events: comment.created/updated/deleted/voted, thread.changed, "
                "thread.count; each with an `id:` (resume with Last-Event-ID)",
            },
            **READ,
        },
        response_class=StreamingResponse,
        include_in_schema=True,
        tags=["threads"],
    )
    r.add_api_route(
        f"{v1}/comments/{{id}}/replies",
        api.get_replies,
        methods=["GET"],
        responses={**_ok(schemas.RepliesOut), **READ},
        tags=["threads"],
    )
    r.add_api_route(
        f"{v1}/comments/{{id}}",
        api.get_own_comment,
        methods=["GET"],
        responses={**_ok(schemas.CommentEnvelope), **_problems(401, 403, 404, 422)},
        tags=["comments"],
    )
    r.add_api_route(
        f"{v1}/comments/{{id}}",
        api.patch_comment,
        methods=["PATCH"],
        responses={**_ok(schemas.CommentEnvelope), **WRITE},
        tags=["comments"],
    )
    r.add_api_route(
        f"{v1}/comments/{{id}}",
        api.delete_comment,
        methods=["DELETE"],
        status_code=204,
        responses={204: {"description": "Deleted"}, **WRITE},
        tags=["comments"],
    )
    r.add_api_route(
        f"{v1}/comments/{{id}}/vote",
        api.vote,
        methods=["POST"],
        responses={**_ok(schemas.VoteOut), **WRITE},
        tags=["comments"],
    )
    r.add_api_route(
        f"{v1}/comments/{{id}}/flag",
        api.flag,
        methods=["POST"],
        status_code=202,
        responses={202: {"description": "Report received"}, **WRITE},
        tags=["comments"],
    )
    r.add_api_route(
        f"{v1}/sites/{{site}}/subscriptions",
        subscribe.subscribe,
        methods=["POST"],
        status_code=202,
        responses={
            **_ok(subscribe.SubscribeOut, 202, "Accepted (the same answer for every address)"),
            **WRITE,
        },
        tags=["subscriptions"],
    )
    r.add_api_route(
        f"{v1}/sites/{{site}}/lists",
        newsletter.lists,
        methods=["GET"],
        responses={**_ok(newsletter.ListsOut), **_problems(404, 422)},
        tags=["subscriptions"],
    )
    r.add_api_route(
        f"{v1}/sites/{{site}}/embed-check",
        embedcheck.embed_check,
        methods=["GET"],
        responses={**_ok(embedcheck.EmbedCheckOut), **_problems(404, 422)},
        tags=["threads"],
    )
    r.add_api_route(
        f"{v1}/bounces",  # a mail provider's webhook (web/bounces.py): bearer secret, no Origin
        bounces.receive,
        methods=["POST"],
        responses={**_ok(bounces.RecordedOut), **_problems(400, 401, 404, 413, 415, 422, 503)},
        openapi_extra=bounces.OPENAPI_BODY,
        tags=["operations"],
    )
    r.add_api_route(
        f"{v1}/avatars/{{digest}}.svg",
        ops.avatar,
        methods=["GET"],
        responses={200: {"content": {"image/svg+xml": {}}, "description": "Identicon"}, **_problems(404)},
        tags=["assets"],
    )
    _auth(r)
    _admin_api(r)
    _admin_pages(r)
    # Pages for people, reached from links in mails (HTML; not part of the JSON API).
    for path, get, post in (
        ("/confirm/{token}", pages.confirm_page, pages.confirm),
        ("/unsubscribe/{token}", pages.unsubscribe_page, pages.unsubscribe),
        ("/manage/{token}", manage_pages.manage_page, manage_pages.manage),
        ("/moderate/{token}", mod_links.action_page, mod_links.act),  # a moderation mail's links
    ):
        r.add_api_route(path, get, methods=["GET"], include_in_schema=False)
        r.add_api_route(path, post, methods=["POST"], include_in_schema=False)
    # The newsletter's sign-up page and the form post that works without JavaScript.
    r.add_api_route("/newsletter/{site}", newsletter.signup_page, methods=["GET"], include_in_schema=False)
    r.add_api_route(
        "/newsletter/{site}/subscribe", newsletter.subscribe, methods=["POST"], include_in_schema=False
    )
    # The archive of a list's sent issues (web/newsletter_archive.py); the feed's route comes first.
    for archive_path, archive_handler in (
        ("/newsletter/{site}/{list}.atom", newsletter_archive.atom),
        ("/newsletter/{site}/{list}", newsletter_archive.archive),
        ("/newsletter/{site}/{list}/{id}", newsletter_archive.issue),
    ):
        r.add_api_route(archive_path, archive_handler, methods=["GET"], include_in_schema=False)
    # Privacy (web/privacy.py): "Download my data" and "Erase me" from the manage page, and asking
    # for a manage link by address.
    r.add_api_route("/manage/{token}/data", privacy.download, methods=["POST"], include_in_schema=False)
    r.add_api_route("/manage/{token}/erase", privacy.erase, methods=["POST"], include_in_schema=False)
    r.add_api_route("/privacy/{site}", privacy.ask_page, methods=["GET"], include_in_schema=False)
    r.add_api_route("/privacy/{site}", privacy.ask, methods=["POST"], include_in_schema=False)
    for action, handler in (
        ("delete", manage_pages.delete_own_comment),
        ("edit", manage_pages.edit_own_comment),
    ):
        path = f"/manage/{{token}}/comments/{{id}}/{action}"
        r.add_api_route(path, handler, methods=["POST"], include_in_schema=False)
    r.add_api_route("/healthz", ops.healthz, methods=["GET"], tags=["operations"])
    r.add_api_route("/readyz", ops.readyz, methods=["GET"], responses=_problems(503), tags=["operations"])
    r.add_api_route("/metrics", ops.metrics, methods=["GET"], include_in_schema=False)
    r.add_api_route("/embed.js", assets.embed_js, methods=["GET"], include_in_schema=False)
    r.add_api_route("/count.js", assets.count_js, methods=["GET"], include_in_schema=False)
    r.add_api_route("/live.js", assets.live_js, methods=["GET"], include_in_schema=False)
    r.add_api_route("/actions.js", assets.actions_js, methods=["GET"], include_in_schema=False)
    r.add_api_route("/signin.js", assets.signin_js, methods=["GET"], include_in_schema=False)
    r.add_api_route("/moderate.js", assets.moderate_js, methods=["GET"], include_in_schema=False)
    r.add_api_route("/anchor.js", assets.anchor_js, methods=["GET"], include_in_schema=False)
    r.add_api_route("/newsletter.js", assets.newsletter_js, methods=["GET"], include_in_schema=False)
    # Swagger UI on /openapi.json, from files this server ships (404 with public_docs = false).
    r.add_api_route("/docs", apidocs.page, methods=["GET"], include_in_schema=False)
    r.add_api_route("/docs/assets/{name}", apidocs.file, methods=["GET"], include_in_schema=False)


STAFF = _problems(400, 401, 403, 404, 413, 415, 422, 429, 503)


def _admin_api(r: APIRouter) -> None:
    """The moderation API (DESIGN.md §3b): API keys with the `moderate` scope, or staff sessions."""
    a = "/api/v1/admin"
    for path, handler, method, status in (
        (f"{a}/sites/{{site}}/queue", admin_api.queue, "GET", 200),
        (f"{a}/comments/{{id}}/moderate", admin_api.moderate, "POST", 200),
        (f"{a}/sites/{{site}}/moderate", admin_api.moderate_many, "POST", 200),
        (f"{a}/comments/{{id}}", admin_api.edit, "PATCH", 200),
        (f"{a}/sites/{{site}}/bans", admin_api.list_bans, "GET", 200),
        (f"{a}/sites/{{site}}/bans", admin_api.add_ban, "POST", 201),
        (f"{a}/sites/{{site}}/bans/{{ban}}", admin_api.lift_ban, "DELETE", 204),
        (f"{a}/sites/{{site}}/settings", admin_api.get_settings, "GET", 200),
        (f"{a}/sites/{{site}}/settings", admin_api.put_settings, "PUT", 200),
        (f"{a}/sites/{{site}}/threads", admin_api.set_thread, "POST", 200),
        (f"{a}/sites/{{site}}/pages", admin_api.set_page, "PUT", 200),
        (f"{a}/sites/{{site}}/spam/check", admin_api.spam_check, "POST", 200),
        (f"{a}/sites/{{site}}/stats", admin_api.stats, "GET", 200),
        (f"{a}/audit", admin_api.audit, "GET", 200),
    ):
        r.add_api_route(
            path, handler, methods=[method], status_code=status, responses=STAFF, tags=["moderation"]
        )
    c = f"{a}/sites/{{site}}/campaigns"  # web/campaigns_api.py: owners, and `publish` keys
    for c_path, c_handler, c_method, c_status in (
        (c, campaigns_api.create, "POST", 201),
        (c, campaigns_api.list_campaigns, "GET", 200),
        (f"{c}/{{id}}", campaigns_api.get_campaign, "GET", 200),
        (f"{c}/{{id}}", campaigns_api.update, "PATCH", 200),
        (f"{c}/{{id}}/test", campaigns_api.send_test, "POST", 202),
        (f"{c}/{{id}}/send", campaigns_api.send, "POST", 200),
        (f"{c}/{{id}}/pause", campaigns_api.pause, "POST", 200),
        (f"{c}/{{id}}/resume", campaigns_api.resume, "POST", 200),
        (f"{c}/{{id}}/cancel", campaigns_api.cancel, "POST", 200),
    ):
        r.add_api_route(
            c_path, c_handler, methods=[c_method], status_code=c_status,
            responses={**STAFF, **_problems(409)}, tags=["newsletter"],
        )  # fmt: skip
    updates = f"{a}/sites/{{site}}/updates"  # web/updates_api.py: owners, and `publish` keys
    again: dict[int | str, dict[str, Any]] = {
        200: {"description": "The same update was posted before: answered again, nothing sent"}
    }
    for u_handler, u_method, u_status, u_more in (
        (updates_api.post_update, "POST", 201, again),
        (updates_api.list_updates, "GET", 200, {}),
    ):
        r.add_api_route(
            updates, u_handler, methods=[u_method], status_code=u_status, responses={**STAFF, **u_more},
            tags=["story updates"],
        )  # fmt: skip
    lists = f"{a}/sites/{{site}}/lists/{{list}}"  # web/subscriber_io.py: owners, and `publish` keys
    r.add_api_route(
        f"{lists}/import", subscriber_io.import_subscribers, methods=["POST"],
        responses={**subscriber_io.IMPORT_ANSWER, **STAFF},
        openapi_extra=subscriber_io.IMPORT_BODY, tags=["newsletter"],
    )  # fmt: skip
    r.add_api_route(
        f"{lists}/export", subscriber_io.export_subscribers, methods=["GET"],
        responses={**subscriber_io.EXPORT_ANSWER, **STAFF}, tags=["newsletter"],
    )  # fmt: skip
    hooks = f"{a}/sites/{{site}}/webhooks"  # web/webhooks_api.py: owners, and `moderate` keys
    for hook_path, hook_handler, hook_method, hook_status in (
        (hooks, webhooks_api.list_webhooks, "GET", 200),
        (hooks, webhooks_api.add_webhook, "POST", 201),
        (f"{hooks}/{{id}}", webhooks_api.delete_webhook, "DELETE", 204),
        (f"{hooks}/{{id}}/deliveries", webhooks_api.deliveries, "GET", 200),
        (f"{hooks}/{{id}}/deliveries/{{delivery}}/resend", webhooks_api.resend, "POST", 202),
    ):
        r.add_api_route(
            hook_path, hook_handler, methods=[hook_method], status_code=hook_status, responses=STAFF,
            tags=["webhooks"],
        )  # fmt: skip


def _admin_pages(r: APIRouter) -> None:
    """The moderators' admin UI (HTML, form posts with a CSRF token; web/admin*.py)."""
    s = "/admin/sites/{site}"
    n = f"{s}/newsletter/campaigns/{{id}}"  # web/admin_newsletter.py: owners only
    for path, handler, method in (
        ("/admin/login", admin_auth.login_page, "GET"),
        ("/admin/login", admin_auth.login, "POST"),
        ("/admin/logout", admin_auth.logout, "POST"),
        ("/admin/sign-out-everywhere", admin_auth.sign_out_everywhere, "POST"),
        ("/admin/set-password/{token}", admin_auth.set_password_page, "GET"),
        ("/admin/set-password/{token}", admin_auth.set_password, "POST"),
        ("/admin", admin_auth.home, "GET"),
        ("/admin/", admin_auth.home, "GET"),
        ("/admin/switch", admin_auth.switch, "GET"),
        ("/admin/account", admin_auth.account, "GET"),
        ("/admin/account", admin_auth.save_account, "POST"),
        ("/admin/static/{name}", admin.static, "GET"),
        ("/admin/audit", admin_site.audit, "GET"),
        (f"{s}/queue", admin_queue.queue, "GET"),
        (f"{s}/queue/updates", admin_queue.arrivals, "GET"),
        (f"{s}/comments/{{id}}/moderate", admin_queue.act, "POST"),
        (f"{s}/comments/{{id}}/edit", admin_queue.edit, "POST"),
        (f"{s}/comments/{{id}}/history", admin_queue.history, "GET"),
        (f"{s}/bulk", admin_queue.bulk, "POST"),
        (f"{s}/stories", admin_queue.story, "GET"),
        (f"{s}/stories/close", admin_queue.close, "POST"),
        (f"{s}/stories/moderation", admin_queue.story_moderation, "POST"),
        (f"{s}/stories/updates", updates_api.post_update_form, "POST"),
        (f"{s}/bans", admin_site.bans, "GET"),
        (f"{s}/bans", admin_site.add_ban, "POST"),
        (f"{s}/bans/{{ban}}/lift", admin_site.lift_ban, "POST"),
        (f"{s}/settings", admin_site.settings_page, "GET"),
        (f"{s}/settings", admin_site.save_settings, "POST"),
        (f"{s}/dashboard", admin_site.dashboard, "GET"),
        (f"{s}/webhooks", admin_hooks.webhooks, "GET"),
        (f"{s}/webhooks", admin_hooks.add, "POST"),
        (f"{s}/webhooks/{{id}}", admin_hooks.deliveries, "GET"),
        (f"{s}/webhooks/{{id}}/delete", admin_hooks.delete, "POST"),
        (f"{s}/webhooks/{{id}}/deliveries/{{delivery}}/resend", admin_hooks.resend, "POST"),
        (f"{s}/imports", admin_imports.imports, "GET"),
        (f"{s}/imports/{{id}}", admin_imports.report, "GET"),
        (f"{s}/newsletter", admin_newsletter.overview, "GET"),
        (f"{s}/newsletter/new", admin_newsletter.new, "GET"),
        (f"{s}/newsletter/campaigns", admin_newsletter.create, "POST"),
        (f"{n}", admin_newsletter.campaign_page, "GET"),
        (f"{n}", admin_newsletter.save, "POST"),
        (f"{n}/preview", admin_newsletter.preview, "GET"),
        (f"{n}/progress", admin_newsletter.progress, "GET"),
        (f"{n}/test", admin_newsletter.send_test, "POST"),
        (f"{n}/send", admin_newsletter.send, "POST"),
        (f"{n}/pause", admin_newsletter.pause, "POST"),
        (f"{n}/resume", admin_newsletter.resume, "POST"),
        (f"{n}/cancel", admin_newsletter.cancel_page, "GET"),
        (f"{n}/cancel", admin_newsletter.cancel, "POST"),
        (f"{s}/newsletter/suppressions", admin_suppressions.suppressions, "GET"),
        (f"{s}/newsletter/suppressions/lift", admin_suppressions.lift, "POST"),
        (f"{s}/privacy", privacy.requests_page, "GET"),
        (f"{s}/privacy/export", privacy.requests_export, "POST"),
        (f"{s}/privacy/erase", privacy.requests_erase, "POST"),
        ("/admin/{rest:path}", admin.not_found, "GET"),
        ("/admin/{rest:path}", admin.not_found, "POST"),
    ):
        r.add_api_route(path, handler, methods=[method], include_in_schema=False)
