"""Subscriber lists as CSV: reading a publisher's file (columns by header, each row checked on its own)
and writing cells that no spreadsheet will run as a formula (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from kibitz import errors, inputs

# A source gives the file's text lines afresh each time it is called: the file is read twice, once
# to check it as a whole (nothing is written for a file that cannot be read), once to import it.
Source = Callable[[], Iterable[str]]
COLUMNS = ("email", "name", "consent_at", "consent_source")
# What an export writes besides; an import reads these three (an export of several lists, with the
# people who left, imports into one list as it should) and ignores the rest.
EXPORT_COLUMNS = ("email", "name", "list", "status", "subscribed_at", "confirmed_at", "consent_at",
                  "consent_source", "suppressed")  # fmt: skip
READ = (*COLUMNS, "list", "status", "suppressed")
MAX_SOURCE = 200  # characters of consent_source
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Header:
    columns: dict[str, int]  # a column this module reads → its index
    ignored: tuple[str, ...]  # the file's other columns, as named there


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    name: str
    consent_at: datetime | None
    consent_source: str


@dataclass(frozen=True)
class Skip:
    line: int
    reason: str


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _unneutralise(cell: str) -> str:
    """What ``neutralise`` wrote, as it was (so an export imports as it was exported)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def text_source(data: bytes) -> Source:
    """A source over a whole file's bytes: UTF-8 (a byte-order mark allowed), else InvalidCsv."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.InvalidCsv(f"The file is not UTF-8 text (a byte at offset {exc.start} is not)") from None
    return lambda: io.StringIO(text, newline="")


def _records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(the line a record starts on, its cells); InvalidCsv for text that is not UTF-8 or not CSV."""
    reader = csv.reader(iter(lines), strict=True)
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise errors.InvalidCsv(f"The file is not UTF-8 text (near line {start})") from None
        except csv.Error as exc:
            raise errors.InvalidCsv(f"line {start}: {exc}") from None
        if any(cell.strip() for cell in record):  # blank lines are no one
            yield start, record


def header_of(cells: list[str]) -> Header:
    names = [unicodedata.normalize("NFKC", cell).strip().lower() for cell in cells]
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, name in enumerate(names):
        if name in READ and name not in columns:
            columns[name] = index
        elif name:
            ignored.append(cells[index].strip()[:64])
    if "email" not in columns:
        raise errors.InvalidCsv("The first line must name the columns, one of them email")
    return Header(columns, tuple(dict.fromkeys(ignored)))


def check(source: Source) -> tuple[Header, int]:
    """Read the whole file once: its header and how many records follow it; InvalidCsv when it cannot
    be read (not UTF-8, not CSV, no email column)."""
    records = _records(source())
    first = next(records, None)
    if first is None:
        raise errors.InvalidCsv("The file is empty")
    header = header_of(first[1])
    return header, sum(1 for _ in records)


def consent_source(value: str, field: str = "consent_source") -> str:
    """Where a person consented, in the publisher's words: one line of at most MAX_SOURCE characters."""
    inputs.check_string(field, value)
    value = unicodedata.normalize("NFC", value).strip()
    if len(value) > MAX_SOURCE or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        raise errors.InvalidInput.field(field, f"must be one line of at most {MAX_SOURCE} characters")
    return value


def parse_when(value: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date-time (UTC when it names no zone); ValueError else."""
    value = value.strip()
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), time(), UTC)
    when = datetime.fromisoformat(value)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def rows(
    source: Source, header: Header, now: datetime, list_id: str, default_source: str = ""
) -> Iterator[Row | Skip]:
    """Each record of the file after its header, checked: a Row, or a Skip saying why not. A second
    line for an address already read is skipped."""
    seen: dict[str, int] = {}
    records = _records(source())
    next(records, None)
    for line, cells in records:
        item = _row(header, line, cells, now, list_id, default_source)
        if isinstance(item, Row):
            if item.email in seen:
                item = Skip(line, f"duplicate of line {seen[item.email]}")
            else:
                seen[item.email] = line
        yield item


def _row(
    header: Header, line: int, cells: list[str], now: datetime, list_id: str, default_source: str
) -> Row | Skip:
    def cell(name: str) -> str:
        index = header.columns.get(name)
        return _unneutralise(cells[index].strip()) if index is not None and index < len(cells) else ""

    listed = cell("list")
    if listed and listed != list_id:
        return Skip(line, f"for another list ({listed[:64]})")
    if cell("status").lower() == "unsubscribed":
        return Skip(line, "unsubscribed (the file says so)")
    if cell("suppressed"):
        return Skip(line, f"suppressed (the file says so: {cell('suppressed')[:64]})")
    raw = cell("email")
    if not raw:
        return Skip(line, "no email address")
    try:
        address = inputs.email(raw, "email")
        name = inputs.author_name(cell("name"), "name", guest=False) if cell("name") else ""
        source = consent_source(cell("consent_source")) or default_source
    except errors.InvalidInput as exc:
        return Skip(line, exc.detail)
    consent_at = None
    if cell("consent_at"):
        try:
            consent_at = parse_when(cell("consent_at"))
        except ValueError:
            return Skip(line, "consent_at: is not an ISO 8601 date or date-time")
        if consent_at > now:
            return Skip(line, "consent_at: is later than the import")
    return Row(line, address, name, consent_at, source if consent_at else "")


def write_line(cells: Iterable[str]) -> str:
    """One CSV line (CRLF, RFC 4180) of neutralised cells."""
    out = io.StringIO()
    csv.writer(out).writerow([neutralise(cell) for cell in cells])
    return out.getvalue()
