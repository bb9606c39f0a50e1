"""The tables of imports (kibitz/imports/): which source record became which thread or comment, and a
log of every import run; on kibitz/store/schema.py's metadata."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, String, Table, Text

from kibitz.store.schema_base import Id, UTCDateTime, metadata

# What an import made of each source record: (site, source format, kind, source id) -> the thread or
# comment. A second run of the same file finds its records here and creates nothing; ``fingerprint``
# (a hash of the record as imported) tells it which records changed in the source since.
import_ids = Table(
    "import_ids",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("source", String(16), primary_key=True),  # disqus | wordpress | isso | remark42 | commento | json
    Column("kind", String(8), primary_key=True),  # thread | comment
    Column("source_id", String(255), primary_key=True),
    Column("target_id", Id, nullable=False),
    Column("fingerprint", String(64), nullable=False, server_default=""),
    Column("created", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=True),
    # The export looks up the source id of a comment or thread by what it became.
    Index("ix_import_ids_target", "kind", "target_id"),
)

# Every import run, dry runs too: for the admin to show what was imported, when, by whom, from what.
import_runs = Table(
    "import_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("source", String(16), nullable=False),
    Column("file_name", String(500), nullable=False),
    Column("actor", String(200), nullable=False, server_default=""),  # who ran it (the shell user)
    Column("dry_run", Boolean, nullable=False, server_default="0"),
    Column("started", UTCDateTime, nullable=False),
    Column("finished", UTCDateTime, nullable=False),
    Column("report", Text, nullable=False),  # the report as JSON (kibitz/imports/report.py)
    Index("ix_import_runs_site", "site", "started"),
)
