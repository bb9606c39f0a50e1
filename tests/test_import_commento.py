"""`kibitz import commento` on the Commento and Comentario exports in the shared fixtures: pages,
replies, scores, anonymous commenters, empty bodies skipped, and broken files refused."""

from __future__ import annotations

import pytest

from kibitz.imports.records import Refused
from tests.conftest import Api
from tests.imports_helpers import FIXTURES, ctx_of, run_import, visible

pytestmark = pytest.mark.anyio
COMMENTO = FIXTURES / "commento"


async def test_commento_export_shows_pages_replies_and_authors(api: Api) -> None:
    report = await run_import(api, "commento", COMMENTO / "remark42__migrator-testdata-commento.json")
    assert report.created == {"thread": 2, "comment": 3}
    assert await visible(api, "/blog/post/1") == (
        2,
        [
            (
                ("User5276", "<p>Example 2 comment created by user.</p>\n"),
                [("Saturnin Uf", "<p>Great reply!</p>\n")],
            )
        ],
    )
    count, shown = await visible(api, "/blog/post/2")
    assert (count, shown) == (1, [("Anonymous", "<p>Example comment created by user.</p>\n")])
    data = await api.thread("/blog/post/2")
    assert data["comments"][0]["score"] == 1
    assert "gmail.com" not in str(await api.thread("/blog/post/1"))
    assert (
        await run_import(api, "commento", COMMENTO / "remark42__migrator-testdata-commento.json")
    ).created == {}


async def test_comentario_flavour_and_empty_bodies(api: Api) -> None:
    report = await run_import(api, "commento", COMMENTO / "comentario__comentario-ok-single-v1.json.gz")
    assert report.created == {"thread": 1, "comment": 1}
    data = await api.thread("/")
    assert [(c["author"]["name"], c["score"]) for c in data["comments"]] == [("Bugs Bunny", 23)]
    empty = await run_import(api, "commento", COMMENTO / "comentario__comentario-ok-empty-v1.json.gz")
    assert empty.created == {}
    blank = await run_import(api, "commento", COMMENTO / "remark42__rest-api-testdata-commento.json")
    assert blank.created == {}
    assert blank.skipped[("comment", "it has no text")] == 7
    assert (await api.thread("/example"))["thread"]["count"] == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("comentario__comentario-bad-format.json.gz", "is not valid JSON"),
        ("comentario__comentario-bad-version.json.gz", "version 481"),
    ],
)
async def test_broken_commento_files_are_refused(api: Api, name: str, message: str) -> None:
    with pytest.raises(Refused, match=message):
        await run_import(api, "commento", COMMENTO / name)
    async with ctx_of(api).db.read() as tx:
        assert await tx.threads.of_site("a", 0, 10) == []
