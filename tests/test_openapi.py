"""The live server keeps its own OpenAPI description (QUALITY T50): schemathesis generates valid and
invalid requests for every operation; no 5xx, only documented status codes, conforming bodies. And
/docs shows it with Swagger UI from this server's own files (tests/browser/test_apidocs.py draws it)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from requests.structures import CaseInsensitiveDict
from schemathesis import checks
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from kibitz.web import apidocs
from tests.conftest import ORIGIN_A, Api, FakeClock, make_settings, open_api
from tests.server import serve
from tests.test_input_xss import assert_problem

# The timeout is a hang guard: ~1,000 requests take minutes on a busy machine. Generating them costs
# more than sending them: both engines' tests send the same cases (Generated, below).
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(900)]

EXAMPLES = 25  # per operation, per generation mode, pinned and free: ~1,000 requests per engine
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
_PATH_PARAM = re.compile(r"\{(\w+)\}")


def seed(base_url: str) -> dict[str, str]:
    """Comments the generated requests can reach: by id, with a valid edit token, with an avatar."""
    with httpx.Client(base_url=base_url, headers={"Origin": ORIGIN_A}) as http:

        def post(text: str, **extra: Any) -> dict[str, Any]:
            body = {"page": "/fuzz", "text": text, "author": {"name": "Seed"}, **extra}
            r = http.post("/api/v1/sites/a/comments", json=body)
            assert r.status_code == 201, r.text
            data: dict[str, Any] = r.json()
            return data

        top = post("Top")
        post("A reply", parent=top["comment"]["id"])
        editable = post("Edit me")
        doomed = post("Delete me")
    avatar = top["comment"]["author"]["avatar"]
    return {
        "comment": top["comment"]["id"],
        "editable": editable["comment"]["id"],
        "edit_token": editable["token"],
        "doomed": doomed["comment"]["id"],
        "doomed_token": doomed["token"],
        "digest": avatar.rsplit("/", 1)[1].removesuffix(".svg"),
    }


def pins(operation: Any, ids: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Path parameters (and headers) that reach real data, so requests get past the 404s."""
    path: str = operation.path
    path_params: dict[str, str] = {}
    headers: dict[str, str] = {}
    for name in _PATH_PARAM.findall(path):
        if name == "site":
            path_params[name] = "a"
        elif name == "digest":
            path_params[name] = ids["digest"]
        elif path.startswith("/api/v1/comments/"):
            path_params[name] = ids["comment"]
            if operation.method.upper() == "PATCH":
                path_params[name] = ids["editable"]
                headers["authorization"] = f"Bearer {ids['edit_token']}"
            elif operation.method.upper() == "DELETE":
                path_params[name] = ids["doomed"]
                headers["authorization"] = f"Bearer {ids['doomed_token']}"
    return path_params, headers


MAX_REQUEST_LINE = 64 * 1024
# Stand-ins for seed()'s values while the cases are generated; with_ids() puts the real ones in. Safe
# in a URL (schemathesis quotes path parameters) and none a part of another.
STAND_INS = {
    name: f"zz{name}zz" for name in ("comment", "editable", "edit_token", "doomed", "doomed_token", "digest")
}


def generate(schema: Any) -> list[Any]:
    """Every operation's generated cases, pinned to the stand-ins (derandomized: the same cases for
    the same schema, so the two engines' tests make them once, in the first to run)."""
    cases: list[Any] = []

    def run(strategy: Any) -> None:
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def one(case: Any) -> None:
            cases.append(case)

        one()

    for result in schema.get_all_operations():
        operation = result.ok()  # an invalid schema raises here
        if operation.path.endswith("/events"):
            continue  # a live stream never ends, so no generated call could finish (tests/test_live.py)
        path_params, headers = pins(operation, STAND_INS)
        variants: list[tuple[GenerationMode, dict[str, Any]]] = [
            (GenerationMode.POSITIVE, {"path_parameters": path_params, "headers": headers}),
            (GenerationMode.POSITIVE, {}),
            (GenerationMode.NEGATIVE, {"path_parameters": path_params, "headers": headers}),
            (GenerationMode.NEGATIVE, {}),
        ]
        for mode, pinned in variants:
            try:
                run(operation.as_strategy(mode, **pinned))
            except Unsatisfiable:
                # Nothing left to make invalid (no parameters, or only pinned ones).
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request generated"
    return cases


def with_ids(case: Any, ids: dict[str, str]) -> Any:
    """A copy of ``case`` with seed()'s real values where it has their stand-ins."""

    def real(value: Any, in_path: bool = False) -> Any:
        if not isinstance(value, str):
            return value
        for name, stand_in in STAND_INS.items():
            value = value.replace(stand_in, quote(ids[name], safe="") if in_path else ids[name])
        return value

    copy = case.derive(
        headers=CaseInsensitiveDict({k: real(v) for k, v in case.headers.items()}), keep_auth=True
    )
    copy.path_parameters = {k: real(v, in_path=True) for k, v in case.path_parameters.items()}
    return copy


def pinned(case: Any) -> bool:
    """Whether ``case`` has a stand-in in its path or headers."""
    values = [*case.path_parameters.values(), *case.headers.values()]
    return any(stand_in in str(value) for value in values for stand_in in STAND_INS.values())


def exercise(base_url: str, ids: dict[str, str], cases: list[Any]) -> tuple[int, list[str]]:
    """Send every generated case to the server at ``base_url``; (cases sent, failure reports)."""
    session = requests.Session()
    sent = 0
    reached: set[str] = set()  # operations sent with seed()'s values in place of the stand-ins
    failures: list[str] = []
    for generated in cases:
        case = with_ids(generated, ids)
        assert not pinned(case), case.path_parameters
        if pinned(generated):
            reached.add(case.operation.label)
        sent += 1
        response = case.call(base_url=base_url, session=session, headers={"Origin": ORIGIN_A}, timeout=30)
        if response.status_code == 400 and len(response.request.url or "") > MAX_REQUEST_LINE:
            # The HTTP server (uvicorn) refuses request lines over 64 KiB itself, in plain text,
            # before the app sees them (docs/api.md says so).
            continue
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            problems = "; ".join(str(getattr(f, "title", f)) for f in group.exceptions)
            failures.append(
                f"{case.operation.label} -> {response.status_code}: {problems}\n"
                f"  {case.as_curl_command(headers={'Origin': ORIGIN_A}, base_url=base_url)}\n"
                f"  {response.text[:300]}"
            )
    seeded = {
        c.operation.label for c in cases if "{digest}" in c.path or c.path.startswith("/api/v1/comments/")
    }
    assert reached == seeded, f"never sent with the seeded values: {sorted(seeded - reached)}"
    return sent, failures


class Generated:
    """The cases generated from the description, shared by the engines' tests when it is the same."""

    def __init__(self) -> None:
        self.description: dict[str, Any] | None = None
        self.cases: list[Any] = []

    def cases_for(self, base_url: str) -> list[Any]:
        description = requests.get(f"{base_url}/openapi.json", timeout=30).json()
        if description != self.description:
            self.cases = generate(schemathesis.openapi.from_dict(description))
            self.description = description
        return self.cases


@pytest.fixture(scope="module")
def generated() -> Generated:
    return Generated()


async def test_every_operation_answers_as_documented(
    tmp_path: Path, database_url: str, generated: Generated
) -> None:
    with serve(tmp_path, database_url) as server:
        ids = seed(server.url)
        sent, failures = exercise(server.url, ids, generated.cases_for(server.url))
        assert failures == [], f"{len(failures)} of {sent} cases failed:\n" + "\n".join(failures[:20])
        assert sent > 500
        async with httpx.AsyncClient(base_url=server.url) as http:  # still serving after all that
            assert (await http.get("/readyz")).status_code == 200


# -- /docs: Swagger UI from this server's own files ----------------------------------------------------


class Page(HTMLParser):
    """What a page loads: the URL of every script, stylesheet, icon, image and frame; inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href", "srcset", "data", "action", "poster"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if tag in ("script", "style"):
            self._in = tag
        if any(name.startswith("on") for name in found) or "style" in found:
            self.inline.append(f"<{tag}> with an inline handler or style")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None and data.strip():
            self.inline.append(f"<{self._in}>{data.strip()[:60]}")


@contextlib.asynccontextmanager
async def docs_api(tmp_path: Path, **overrides: Any) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path, "sqlite:///kibitz.db", **overrides)
    async for api in open_api(settings, FakeClock()):
        yield api


def same_origin(url: str) -> bool:
    parts = urlsplit(url)
    return url.startswith("/") and not url.startswith("//") and not parts.scheme and not parts.netloc


async def test_docs_load_only_same_origin_files_under_a_strict_csp(tmp_path: Path) -> None:
    async with docs_api(tmp_path) as api:
        r = await api.client.get("/docs")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        csp = {d.split()[0]: d.split()[1:] for d in r.headers["content-security-policy"].split("; ")}
        assert csp["default-src"] == ["'none'"]
        assert csp["script-src"] == ["'self'"]
        assert csp["style-src"] == ["'self'"]
        assert csp["connect-src"] == ["'self'"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["base-uri"] == ["'none'"]
        assert set(csp["img-src"]) <= {"'self'", "data:"}
        assert r.headers["x-frame-options"] == "DENY"
        for elsewhere in ("cdn", "http://", "https://", "//"):
            assert elsewhere not in r.text.lower(), elsewhere

        page = Page()
        page.feed(r.text)
        assert page.inline == [], "inline code the CSP would refuse"
        external = [url for url in page.urls if not (same_origin(url) or url.startswith("data:"))]
        assert external == [], f"/docs loads from elsewhere: {external}"
        loaded = {urlsplit(url).path for url in page.urls if same_origin(url)}
        assert loaded == {
            "/docs/assets/swagger-ui.css",
            "/docs/assets/swagger-ui-bundle.js",
            "/docs/assets/init.js",
        }
        for url in page.urls:
            if not same_origin(url):
                continue
            asset = await api.client.get(url, headers={"Accept-Encoding": "gzip"})
            assert asset.status_code == 200, url
            kind = "text/css" if url.split("?")[0].endswith(".css") else "text/javascript"
            assert asset.headers["content-type"].startswith(kind), url
            assert asset.headers["content-encoding"] == "gzip"
            assert "immutable" in asset.headers["cache-control"]
            if kind == "text/css":  # nothing it pulls in from elsewhere (fonts, images, imports)
                assert "@import" not in asset.text
                assert not re.search(r"url\(\s*['\"]?(https?:)?//", asset.text), url
            again = await api.client.get(url, headers={"If-None-Match": asset.headers["etag"]})
            assert again.status_code == 304, url
        start = (await api.client.get("/docs/assets/init.js")).text
        assert "validatorUrl: null" in start  # no badge fetched from validator.swagger.io
        assert "data-openapi" in start
        assert 'data-openapi="/openapi.json"' in r.text
        assert (await api.client.get("/openapi.json")).status_code == 200


async def test_docs_serve_only_their_own_files(tmp_path: Path) -> None:
    async with docs_api(tmp_path) as api:
        for name in ("redoc.standalone.js", "favicon.png", "..%2f..%2fkibitz.toml", "core.py", "x"):
            assert_problem(await api.client.get(f"/docs/assets/{name}"), 404, "not_found")
        assert_problem(await api.client.get("/docs/oauth2-redirect"), 404, "not_found")
        assert_problem(await api.client.post("/docs"), 405, "method_not_allowed")


async def test_hidden_docs_hide_their_files_too(tmp_path: Path) -> None:
    async with docs_api(tmp_path, public_docs=False) as api:
        for path in ("/docs", "/openapi.json", *(f"/docs/assets/{name}" for name in apidocs.TYPES)):
            assert_problem(await api.client.get(path), 404, "not_found")
        assert (await api.client.get("/healthz")).status_code == 200


def test_swagger_ui_comes_from_the_installed_package() -> None:
    """The vendor package still ships the files by those names (a release that moved them fails here,
    not in a reader's browser)."""
    bundle = apidocs.vendor_file("swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle[:2000]
    assert b".swagger-ui" in apidocs.vendor_file("swagger-ui.css")
