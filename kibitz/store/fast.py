"""Hot statements of the posting path, written once as SQL and run on the raw driver.

Building, caching and compiling a SQLAlchemy Core statement costs some 50 µs a call; the posting path
runs about twenty. A ``Fast`` statement is plain SQL with ``:name`` parameters and declared types:
inside a SQLite write (the group-commit connection) it goes straight to the sqlite3 cursor, whose
own cache keeps it prepared, with the same bind and result processing SQLAlchemy would apply (UTC
times, booleans); anywhere else (PostgreSQL, SQLite reads) it runs as a typed ``text()`` statement
through SQLAlchemy, so both engines see the same SQL and answer the same values. Driver errors come
out as SQLAlchemy's own (IntegrityError, OperationalError), as every caller expects.
"""

from __future__ import annotations

import re
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, TextClause, bindparam, column, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.selectable import TextualSelect
from sqlalchemy.types import TypeEngine

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
Row = tuple[Any, ...]
Processor = Callable[[Any], Any]


class Fast:
    """One statement: ``sql`` with ``:name`` parameters; ``binds`` the types of the parameters that
    need converting (times, booleans); ``columns`` the types of the result's columns, in order;
    ``fields`` their names, when rows should be read by name (named tuples)."""

    def __init__(
        self,
        sql: str,
        *,
        binds: Mapping[str, TypeEngine[Any]] | None = None,
        columns: Sequence[TypeEngine[Any] | None] = (),
        fields: Sequence[str] = (),
    ) -> None:
        self.sql = " ".join(sql.split())
        self.binds = dict(binds or {})
        self.columns = tuple(columns)
        self.named: Callable[..., Row] | None = namedtuple("Row", fields) if fields else None
        self.names = tuple(_PARAM.findall(self.sql))
        self.qmark = _PARAM.sub("?", self.sql)
        clause = text(self.sql)
        if self.binds:
            clause = clause.bindparams(*(bindparam(name, type_=kind) for name, kind in self.binds.items()))
        # Through SQLAlchemy the result's columns are typed by position, so it converts them itself.
        self.clause: TextClause | TextualSelect = (
            clause.columns(*(column(f"c{n}", kind) for n, kind in enumerate(self.columns)))
            if self.columns
            else clause
        )
        self._plans: dict[str, _Plan] = {}

    def plan(self, dialect: Dialect) -> _Plan:
        """What ``rows`` does on the raw driver (SQLite's, whose processors need no column type from
        the cursor), worked out once per dialect: the parameters in order with their bind processors
        (None when no parameter needs one), and the result columns that need converting."""
        found = self._plans.get(dialect.name)
        if found is None:
            binds = [self._bind(name, dialect) for name in self.names]
            results = (
                kind.dialect_impl(dialect).result_processor(dialect, None) if kind is not None else None
                for kind in self.columns
            )
            converted = tuple((at, process) for at, process in enumerate(results) if process is not None)
            pairs = tuple(zip(self.names, binds, strict=True)) if any(binds) else None
            found = self._plans[dialect.name] = _Plan(self.names, pairs, converted, self.named)
        return found

    def _bind(self, name: str, dialect: Dialect) -> Processor | None:
        kind = self.binds.get(name)
        return kind.dialect_impl(dialect).bind_processor(dialect) if kind is not None else None


class _Plan:
    __slots__ = ("converted", "named", "names", "processed")

    def __init__(
        self,
        names: tuple[str, ...],
        processed: tuple[tuple[str, Processor | None], ...] | None,
        converted: tuple[tuple[int, Processor], ...],
        named: Callable[..., Row] | None,
    ) -> None:
        self.names = names
        self.processed = processed
        self.converted = converted
        self.named = named


def _driver(tx: Tx) -> sqlite3.Connection | None:
    """The sqlite3 connection of a group-commit write, else None (PostgreSQL, or a read)."""
    found = getattr(tx.conn, "driver", None)
    return found if isinstance(found, sqlite3.Connection) else None


async def rows(tx: Tx, stmt: Fast, params: Mapping[str, Any] | None = None) -> list[Row]:
    """Run ``stmt`` and return every row (an INSERT or UPDATE without RETURNING: none)."""
    values = params or {}
    raw = _driver(tx)
    if raw is None:
        result = await tx.conn.execute(stmt.clause, dict(values))
        found = [tuple(row) for row in result] if result.returns_rows else []
        return _processed(found, (), stmt.named)
    plan = stmt.plan(tx.conn.dialect)
    if plan.processed is None:
        args = [values[name] for name in plan.names]
    else:
        args = [
            values[name] if process is None else process(values[name]) for name, process in plan.processed
        ]
    try:
        fetched = raw.execute(stmt.qmark, args).fetchall()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(stmt.qmark, args, exc, sqlite3.Error) from exc
    return _processed(fetched, plan.converted, plan.named)


def _processed(
    found: list[Row], converted: tuple[tuple[int, Processor], ...], named: Callable[..., Row] | None
) -> list[Row]:
    if found and converted:
        rows = []
        for row in found:
            values = list(row)
            for at, process in converted:
                values[at] = process(values[at])
            rows.append(tuple(values))
        found = rows
    return [named(*row) for row in found] if named is not None and found else found


def columns_of(
    table: Table, names: Sequence[str] | None = None
) -> tuple[str, tuple[str, ...], tuple[TypeEngine[Any], ...]]:
    """A select list of ``table``'s columns (all, or ``names``), their names and their types: for a
    Fast statement that reads whole rows."""
    chosen = tuple(names) if names is not None else tuple(column.name for column in table.c)
    listed = ", ".join(f'{table.name}."{name}"' for name in chosen)
    return listed, chosen, tuple(table.c[name].type for name in chosen)


async def first(tx: Tx, stmt: Fast, params: Mapping[str, Any] | None = None) -> Row | None:
    """The first row, or None (the statement should LIMIT itself)."""
    found = await rows(tx, stmt, params)
    return found[0] if found else None


async def scalar(tx: Tx, stmt: Fast, params: Mapping[str, Any] | None = None) -> Any:
    """The first column of the first row, or None."""
    row = await first(tx, stmt, params)
    return row[0] if row else None
