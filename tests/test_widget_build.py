"""The widget's build: committed bundles match the sources, types check, size budgets hold, and the
server hands the files out with caching headers (GET /embed.js, /count.js, /live.js, /actions.js,
/newsletter.js, /anchor.js)."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kibitz.web.assets import STATIC
from tests.conftest import Api, missing

ROOT = Path(__file__).resolve().parent.parent
WIDGET = ROOT / "widget"
BUNDLES = (
    "embed.js",
    "count.js",
    "live.js",
    "actions.js",
    "newsletter.js",
    "anchor.js",
    "signin.js",
    "moderate.js",
)
# gzip bytes (KB = 1024 bytes); actions.js is loaded on the reader's first interaction, not with the page
BUDGETS = {
    "embed.js": 12 * 1024,
    "count.js": 1536,
    "live.js": 6 * 1024,
    "actions.js": 12 * 1024,
    "newsletter.js": 2048,
    "anchor.js": 8 * 1024,  # inline feedback, loaded after the first render like live.js
    # loaded when the reader signs in or is signed in; 4 KB since it also holds the "Your account"
    # panel (name, avatar, notification defaults, joining earlier comments, export, erasure)
    "signin.js": 4 * 1024,
    # loaded by signin.js only for a moderator from the site's own login: the menu on each comment
    "moderate.js": 3 * 1024,
}
# The only absolute URLs a bundle may contain: XML namespaces, which are never fetched.
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml"}


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=WIDGET, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def npm() -> str:
    """npm, with widget/node_modules installed from the lockfile (`npm ci`) when missing."""
    node, npm_path = shutil.which("node"), shutil.which("npm")
    if node is None or npm_path is None:
        missing("node and npm")
    assert npm_path is not None
    if (
        not (WIDGET / "node_modules" / "esbuild").is_dir()
        or not (WIDGET / "node_modules" / "typescript").is_dir()
    ):
        done = _run([npm_path, "ci", "--no-audit", "--no-fund", "--loglevel=error"], timeout=240)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return npm_path


def test_committed_bundles_are_built_from_the_current_sources(npm: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    done = _run([node, "build.mjs", "--outdir", str(tmp_path)], timeout=120)
    assert done.returncode == 0, done.stderr
    for name in BUNDLES:
        fresh = (tmp_path / name).read_bytes()
        committed = (STATIC / name).read_bytes() if (STATIC / name).is_file() else b""
        assert fresh == committed, f"kibitz/static/{name} is stale: run `npm run build` in widget/"


def test_widget_sources_type_check(npm: str) -> None:
    done = _run([npm, "run", "--silent", "typecheck"], timeout=120)
    assert done.returncode == 0, f"tsc --noEmit failed:\n{done.stdout}\n{done.stderr}"


def test_bundles_stay_within_their_gzip_budgets() -> None:
    for name in BUNDLES:
        size = len(gzip.compress((STATIC / name).read_bytes(), compresslevel=9))
        print(f"{name}: {size} bytes gzip (budget {BUDGETS[name]})")
        assert size <= BUDGETS[name], f"{name} is {size} bytes gzip, over its budget of {BUDGETS[name]}"


def test_the_newsletter_form_script_stays_within_2_kb_gzip() -> None:
    """newsletter.js goes on pages that may carry no comments at all: it is its own small file, built
    from its own source and sharing nothing with embed.js."""
    body = (STATIC / "newsletter.js").read_bytes()
    size = len(gzip.compress(body, compresslevel=9))
    assert size <= 2048, f"newsletter.js is {size} bytes gzip, over its budget of 2 KB"
    assert b"data-kibitz-newsletter" in body
    assert b"localStorage" not in body  # it keeps nothing on the reader's machine


def test_bundles_name_no_host_to_fetch_from() -> None:
    """Zero requests to any host but the Kibitz server: no absolute URL is built into the scripts."""
    for name in BUNDLES:
        urls = set(re.findall(r"https?://[^\s\"'`)]+", (STATIC / name).read_text("utf-8")))
        assert urls <= NAMESPACES, f"{name} names {sorted(urls - NAMESPACES)}"


@pytest.mark.parametrize("table", ["i18n.ts", "words.ts"])
def test_every_language_translates_every_string(table: str) -> None:
    source = (WIDGET / "src" / table).read_text("utf-8")
    english = re.search(r"const en = \{\n(.*?)\n\};", source, re.S)
    assert english is not None
    keys = re.findall(r"^  (\w+): ", english.group(1), re.M)
    others = dict(re.findall(r"^  (\w\w): `(.*?)`", source, re.M | re.S))
    assert sorted(others) == ["de", "es", "fr", "tr"]
    for lang, lines in others.items():
        assert len(lines.split("\n")) == len(keys), f"{lang} has a line per English key, in the same order"
        assert all(line.strip() for line in lines.split("\n")), f"{lang} has an empty string"


@pytest.mark.anyio
@pytest.mark.parametrize("name", BUNDLES)
async def test_scripts_are_served_cacheable_with_a_strong_etag(api: Api, name: str) -> None:
    first = await api.client.get(f"/{name}")
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    assert first.content == (STATIC / name).read_bytes()
    assert first.headers["cache-control"] == "public, max-age=300, stale-while-revalidate=86400"
    assert first.headers["cross-origin-resource-policy"] == "cross-origin"
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{64}"', etag)

    again = await api.client.get(f"/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    changed = await api.client.get(f"/{name}", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200
    assert changed.content == first.content
