"""A publisher's first hour, by the README alone: its demo command, then its embed snippet on a page
served from another port with its own serve command, shows the demo's comments and takes a new one.

The README marks each block this test runs with an HTML comment, `<!-- first-hour: NAME -->`, on the
line before the fence, inside its "Embed it" section. The test changes only what the README says a
reader may choose: the ports (the page's, "any free port", and the demo's `--port`) and the demo's
`--data`. `./scripts/demo` is run as what it is, `kibitz demo` with the same arguments after the
install (this test runs in the installed .venv; it never installs anything).
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from kibitz.demo import articles
from tests.browser.conftest import (
    MAIN_FORM,
    REPO,
    SCREENSHOTS,
    START_SECONDS,
    STOP_SECONDS,
    WIDGET,
    Kibitz,
    comment_id_with_text,
    require_bundle,
    wait_for_top_ids,
    wait_for_widget,
)
from tests.conftest import missing
from tests.server import KIBITZ, child_env, free_port

README = REPO / "README.md"
BLOCK = re.compile(
    r"^<!-- first-hour: (?P<name>[a-z-]+) -->\n```(?P<lang>[a-z]*)\n(?P<body>.*?)\n```$", re.M | re.S
)
README_PAGE_PORT = "8080"  # "any free port will do: use the same one in each step"
README_DEMO = "127.0.0.1:8000"  # the demo's address; "with another --port ... change 8000 in src"


def section(text: str, heading: str) -> str:
    """The text of a `## heading` section, up to the next `## ` heading."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def first_hour_blocks() -> dict[str, str]:
    """The marked blocks of the README's "Embed it" section, by name."""
    readme = README.read_text(encoding="utf-8")
    found = {m["name"]: m["body"] for m in BLOCK.finditer(section(readme, "Embed it"))}
    assert set(found) == {"demo", "embed", "serve"}, f"README.md's first-hour blocks: {sorted(found)}"
    return found


def demo_command(line: str, port: int, data: Path, page_origin: str) -> list[str]:
    """The README's demo command as it runs here: ./scripts/demo is `kibitz demo` after the install."""
    readme = README.read_text(encoding="utf-8")
    # The README says the script takes the options of `kibitz demo`, --port and --data among them.
    assert re.search(r"`\./scripts/demo --port \d+ .*--data \S+` takes the options of `kibitz demo`", readme)
    argv = shlex.split(line)
    if argv[0] == "./scripts/demo":
        script = (REPO / "scripts" / "demo").read_text(encoding="utf-8").strip().splitlines()
        assert script[-1] == 'exec kibitz demo "$@"', script[-1]
        argv = [str(KIBITZ), "demo", *argv[1:]]
    else:
        assert argv[:2] == ["kibitz", "demo"], line
        argv[0] = str(KIBITZ)
    origin = f"http://127.0.0.1:{README_PAGE_PORT}"
    assert argv[argv.index("--origin") + 1] == origin, line  # the README names the page's origin
    argv = [page_origin if arg == origin else arg for arg in argv]
    return [*argv, "--port", str(port), "--data", str(data)]


@contextlib.contextmanager
def running(argv: list[str], cwd: Path, log: Path, ready: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` until the block ends; return once ``ready`` answers 200 (bounded)."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        with httpx.Client(timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(f"{shlex.join(argv)} exited with {process.returncode}:\n{log.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(ready).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"{shlex.join(argv)} did not answer {ready}:\n{log.read_text()}")
                time.sleep(0.05)  # polling a condition, bounded by the deadline
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_SECONDS)


def test_the_readme_demo_and_embed_snippet_work_on_a_page_of_ones_own(tmp_path: Path, page: Page) -> None:
    require_bundle()
    blocks = first_hour_blocks()
    serve_line = shlex.split(blocks["serve"])
    if shutil.which(serve_line[0]) is None:
        missing(f"{serve_line[0]}, which the README serves the page with")
    snippet = blocks["embed"]
    assert f"http://{README_DEMO}/embed.js" in snippet, snippet
    story = re.search(r'data-page="([^"]+)"', snippet)
    assert story, snippet
    thread = story.group(1)
    assert thread in [a.path for a in articles() if a.comments], "the snippet shows one of the demo's stories"

    demo_port, page_port = free_port(), free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    demo_url = f"http://127.0.0.1:{demo_port}"
    pages = tmp_path / "site"
    pages.mkdir()
    # "Put this in a page of yours, say story.html in an empty directory".
    body = snippet.replace(README_DEMO, f"127.0.0.1:{demo_port}")
    (pages / "story.html").write_text(
        f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>My story</title></head>\n'
        f"<body>\n<h1>My story</h1>\n{body}\n</body>\n</html>\n",
        encoding="utf-8",
    )
    assert README_PAGE_PORT in serve_line, blocks["serve"]
    serve_argv = [str(page_port) if arg == README_PAGE_PORT else arg for arg in serve_line]
    demo_argv = demo_command(blocks["demo"], demo_port, tmp_path / "demo-data", page_origin)

    with (
        running(demo_argv, REPO, tmp_path / "demo.log", f"{demo_url}/") as demo_process,
        running(serve_argv, pages, tmp_path / "serve.log", f"{page_origin}/story.html"),
    ):
        demo = Kibitz(demo_url, demo_process, tmp_path / "demo.log", "demo", page_origin)
        assert f"may be embedded in pages at {demo_url}" in demo.output()
        assert page_origin in demo.output()
        before = demo.count(thread)
        assert before > 0

        page.goto(f"{page_origin}/story.html")  # "open http://127.0.0.1:8080/story.html"
        wait_for_widget(page)
        count = page.locator(f"{WIDGET} [data-count]")
        expect(count).to_have_attribute("data-count", str(before))
        wait_for_top_ids(page, demo.top_ids(thread), prefix=True)  # the demo's own discussion

        form = page.locator(MAIN_FORM)
        form.locator("[name='name']").fill("First Hour")
        form.locator("[name='text']").fill("Hello from my own page, as the README says. [first-hour]")
        form.locator("button[type='submit']").click()
        comment_id_with_text(page, "[first-hour]")
        expect(count).to_have_attribute("data-count", str(before + 1))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "first-hour-own-page.png"), full_page=True)

        assert demo.count(thread) == before + 1
        # "a comment posted there shows on the demo's article too"
        article = httpx.get(f"{demo_url}{thread}", timeout=10)
        assert article.status_code == 200
        assert "[first-hour]" in article.text
