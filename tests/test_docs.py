"""The documents stay true: docs/api.md describes every error code and route; no document or help text
promises what is not there or names a file that is not; the README lists every doc and shows its
pictures; LICENSE is the license pyproject names; docs/operations.md's systemd units verify and its
commands and metrics exist."""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import textwrap
import tomllib
from pathlib import Path

import click
from click.testing import CliRunner
from fastapi.routing import APIRoute

from kibitz.app import create_app
from kibitz.config import load_settings
from kibitz.errors import all_error_classes
from tests.conftest import missing
from tests.server import KIBITZ

ROOT = Path(__file__).parent.parent
DOC = (ROOT / "docs" / "api.md").read_text()


def test_every_error_code_is_documented_with_its_status() -> None:
    for cls in all_error_classes():
        row = re.search(rf"^\| `{cls.code}` \| (\d+) \|", DOC, re.MULTILINE)
        assert row, f"docs/api.md lacks the error code {cls.code}"
        assert int(row.group(1)) == cls.status, cls.code


def test_every_route_is_documented(tmp_path: Path) -> None:
    app = create_app(load_settings(None, env={}, cwd=tmp_path))
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in route.methods or ():
                assert f"`{method} {route.path}" in DOC, f"docs/api.md lacks {method} {route.path}"


# -- the repository's own documents -------------------------------------------------------------------

DOCS = sorted((ROOT / "docs").glob("*.md"))
TEXTS = [ROOT / "README.md", *DOCS, ROOT / "widget" / "README.md"]
LICENSE_TITLES = {
    # pyproject's SPDX id → the first lines of its text.
    "AGPL-3.0-or-later": ("GNU AFFERO GENERAL PUBLIC LICENSE", "Version 3, 19 November 2007"),
}
# The FSF's agpl-3.0.txt, byte for byte (the text PyPI and npm packages ship as LICENSE or COPYING).
AGPL_3_SHA256 = "0d96a4ff68ad6d4b6f1f30f713b18d5184912ba8dd389f86aa7710db079abcb0"

# Words that promise a feature to come. Each allowed use is listed with why it promises nothing.
PROMISES = [
    r"\b(a|the|some|any)\s+(later|future|next|upcoming|coming)\s+(release|version)s?\b",
    r"\bin\s+(the\s+)?future\b",
    r"\bcoming\s+soon\b",
    r"\b(comes?|coming)\s+next\b",
    r"\b(comes?|arrives?|lands?|ships?)\s+later\b",
    r"\bnot\s+((built|implemented|supported|available|done|there|ready|written|wired)\s+)?yet\b",
    r"\byet\s+to\s+(come|be\s+\w+)\b",
    r"\bonce\s+[^.;:()]{1,40}?\s+(exists?|arrives?|lands?|ships?|is\s+built|are\s+built|is\s+added|are\s+added|"
    r"is\s+ready|are\s+ready|is\s+implemented)\b",
    r"\bas\s+(those|these|they|it)\s+(arrive|land|ship)s?\b",
    r"\b(will|shall)\s+(come|arrive|land|ship|be\s+added|be\s+built|be\s+implemented|be\s+supported)\b",
    r"\b(planned|on\s+the\s+roadmap|TODO|TBD)\b",
]
ALLOWED_PROMISES: dict[str, str] = {
    # exact matched text (whitespace as one space): why it is not a promise
    "any later version": "the AGPL's own grant: version 3 'or any later version' of the license",
}
REPO_PATH = re.compile(
    r"(?<![\w/.-])(?:\./)?((?:docs|kibitz|tests|scripts|bench|widget|\.ci)/[\w./{},*-]*[\w/*}])"
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def promises(text: str) -> list[str]:
    flat = " ".join(text.split())
    found: list[str] = []
    for pattern in PROMISES:
        for match in re.finditer(pattern, flat, re.IGNORECASE):
            said = match.group(0)
            if said not in ALLOWED_PROMISES:
                found.append(flat[max(0, match.start() - 60) : match.end() + 20])
    return found


def help_texts() -> dict[str, str]:
    """`kibitz … --help` of the command line and of every subcommand, by command path."""
    from kibitz.cli import main

    runner = CliRunner()
    texts: dict[str, str] = {}

    def walk(command: click.Command, path: list[str]) -> None:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        texts[" ".join(["kibitz", *path])] = result.output
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(main, [])
    return texts


def test_no_doc_and_no_help_text_promises_what_is_not_there() -> None:
    found = {str(path.relative_to(ROOT)): promises(path.read_text(encoding="utf-8")) for path in TEXTS}
    found |= {command: promises(text) for command, text in help_texts().items()}
    found = {where: said for where, said in found.items() if said}
    assert found == {}, "say what is there, or nothing:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())


def test_the_promise_check_finds_promises() -> None:
    for said in (
        "a newsletter comes next.",
        "Mail arrives with a later release.",
        "Serve the API (and mail, once mail exists).",
        "Reader accounts are not built yet.",
        "Keys for the newsletter, as those arrive.",
        "Dark mode: coming soon",
    ):
        assert promises(said), said
    for said in ("nobody has commented yet", "tried again later", "SQLite 3.27 and later", "the next page"):
        assert not promises(said), said


def expand(path: str) -> list[str]:
    """`docs/img/a-{x,y}.png` → the two names (one brace group at a time)."""
    brace = re.search(r"\{([^{}]*,[^{}]*)\}", path)
    if brace is None:
        return [path]
    head, tail = path[: brace.start()], path[brace.end() :]
    return [name for part in brace.group(1).split(",") for name in expand(head + part + tail)]


def exists(path: str) -> bool:
    if "*" in path:
        return any(ROOT.glob(path))
    return (ROOT / path).exists()


def anchors(markdown: Path) -> set[str]:
    """GitHub's ids of a Markdown file's headings."""
    ids: set[str] = set()
    for line in markdown.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            text = re.sub(r"[^\w\s-]", "", heading.group(1).strip().lower().replace("`", ""))
            ids.add(text.replace(" ", "-"))
    return ids


def test_every_file_a_doc_names_exists() -> None:
    broken: list[str] = []
    for doc in TEXTS:
        text = doc.read_text(encoding="utf-8")
        where = doc.relative_to(ROOT)
        for match in REPO_PATH.finditer(text):
            if "{" in match.group(1) and "," not in match.group(1):
                continue  # a URL template such as kibitz/{site}, not a file
            broken += [f"{where}: {name}" for name in expand(match.group(1)) if not exists(name)]
        for match in LINK.finditer(text):
            target = match.group(1)
            if re.match(r"[a-z][a-z+.-]*:", target) or target.startswith("/"):
                continue  # an absolute URL
            file, _, anchor = target.partition("#")
            resolved = (doc.parent / file).resolve() if file else doc
            if not resolved.exists():
                broken.append(f"{where}: link to {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{where}: link to {target} (no such heading)")
    assert broken == []


def test_the_path_check_finds_missing_files() -> None:
    text = "see `docs/nope.md`, [this](docs/gone.md) and ./scripts/nothing"
    names = [name for m in REPO_PATH.finditer(text) for name in expand(m.group(1))]
    assert names == ["docs/nope.md", "docs/gone.md", "scripts/nothing"]
    assert not any(exists(name) for name in names)
    assert expand("docs/img/widget-{light,dark}.png") == [
        "docs/img/widget-light.png",
        "docs/img/widget-dark.png",
    ]


def test_the_readme_lists_every_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlisted = [doc.name for doc in DOCS if f"](docs/{doc.name})" not in readme]
    assert unlisted == []


def test_the_readme_pictures_are_there_and_small() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pictures = sorted((ROOT / "docs" / "img").glob("*.png"))
    names = {p.name for p in pictures}
    assert {"widget-light.png", "widget-dark.png", "admin-queue-light.png", "admin-queue-dark.png"} <= names
    for picture in pictures:
        assert f"(docs/img/{picture.name})" in readme, f"{picture.name} is not shown in the README"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture.name
        assert picture.stat().st_size < 200 * 1024, picture.name


def test_the_license_file_is_the_license_pyproject_names() -> None:
    spdx = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]
    assert spdx in LICENSE_TITLES, f"no known text for {spdx}"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert tuple(lines[:2]) == LICENSE_TITLES[spdx]
    assert len(text.splitlines()) == 661
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == AGPL_3_SHA256


# -- docs/operations.md -----------------------------------------------------------------------------------

OPERATIONS = ROOT / "docs" / "operations.md"
UNIT_PATH = "/opt/kibitz/.venv/bin/kibitz"


def fenced(text: str, language: str) -> list[str]:
    """The bodies of ```language blocks (dedented: some sit inside list items)."""
    return [
        textwrap.dedent(m.group(2))
        for m in re.finditer(r"^( *)```" + language + r"\n(.*?)^\1```", text, re.MULTILINE | re.DOTALL)
    ]


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        missing("systemd-analyze (Debian's systemd package)")
        raise AssertionError("unreachable")
    return found


def test_the_systemd_units_in_operations_md_verify(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    units = [block for block in fenced(OPERATIONS.read_text(encoding="utf-8"), "ini") if "[Unit]" in block]
    assert len(units) == 2  # kibitz.service and kibitz-worker.service
    for number, unit in enumerate(units):
        assert f"ExecStart={UNIT_PATH} " in unit
        for key in (
            "User=kibitz",
            "WorkingDirectory=",
            "EnvironmentFile=",
            "Restart=",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/kibitz",
            "PrivateTmp=yes",
        ):
            assert key in unit, (number, key)
        # verify wants the program to exist: the one this checkout runs.
        path = tmp_path / f"kibitz-{number}.service"
        path.write_text(unit.replace(UNIT_PATH, str(KIBITZ)), encoding="utf-8")
        run = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
        about_it = [line for line in (run.stdout + run.stderr).splitlines() if path.name in line]
        assert run.returncode == 0, run.stdout + run.stderr
        assert about_it == [], run.stdout + run.stderr
        # "OK" or better in systemd's own rating of the sandbox (exposure ≤ 2.5 of 10).
        rated = subprocess.run(
            [analyze, "security", "--offline=true", "--threshold=25", "--no-pager", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert rated.returncode == 0, rated.stdout[-2000:] + rated.stderr


def test_the_verify_check_finds_a_broken_unit(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    path = tmp_path / "broken.service"
    path.write_text(f"[Service]\nExecStart={KIBITZ} serve\nProtectSystem=strickt\n", encoding="utf-8")
    run = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert any(path.name in line for line in (run.stdout + run.stderr).splitlines())


def kibitz_commands(text: str) -> list[list[str]]:
    """Every `kibitz …` command line the text shows (in code blocks and code spans)."""
    pieces = [
        line for block in re.findall(r"```\w*\n(.*?)```", text, re.DOTALL) for line in block.splitlines()
    ]
    pieces += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    commands: list[list[str]] = []
    for piece in pieces:
        found = re.search(r"(?:^|/bin/)kibitz\s+([-a-z].*)$", piece.strip())
        if found is None:
            continue
        words: list[str] = []
        for word in shlex.split(found.group(1), comments=True):
            if word in ("|", "||", "&&", ";", ">", ">>"):
                break
            words.append(word)
        commands.append(words)
    return commands


def test_every_kibitz_command_in_operations_md_exists() -> None:
    from kibitz.cli import main

    commands = kibitz_commands(OPERATIONS.read_text(encoding="utf-8"))
    unit = "serve --config /etc/kibitz/kibitz.toml --host 127.0.0.1 --port 8000 --workers 2"
    assert unit.split() in commands
    runner = CliRunner()
    for words in commands:
        result = runner.invoke(main, [*words, "--help"])  # parses every option, runs nothing
        assert result.exit_code == 0, f"kibitz {' '.join(words)}: {result.output}"


def test_every_metric_operations_md_names_exists() -> None:
    from kibitz.metrics import Metrics

    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["", "_bucket", "_sum", "_count"]}
    exported = {
        family.name + suffix
        for family in Metrics().registry.collect()
        for suffix in suffixes.get(family.type, [""])
    }
    named = set(re.findall(r"\bkibitz_[a-z_]+", OPERATIONS.read_text(encoding="utf-8")))
    assert named
    assert named <= exported, named - exported
