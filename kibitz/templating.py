"""Jinja2 environment for pages and fragments (autoescaped; user HTML enters only pre-sanitised)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape


def _isodate(value: str) -> str:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%d %b %Y")


@cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("kibitz", "templates"), autoescape=select_autoescape(default=True))
    env.filters["isodate"] = lambda value: datetime.fromisoformat(value.replace("Z", "+00:00")).strftime(
        "%d %b %Y"
    )
    return env


def render_template(name: str, **values: Any) -> str:
    return environment().get_template(name).render(**values)
