"""docs/api.md stays complete: every error code and every public route is described there."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from kibitz.app import create_app
from kibitz.config import load_settings
from kibitz.errors import all_error_classes

DOC = (Path(__file__).parent.parent / "docs" / "api.md").read_text()


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
