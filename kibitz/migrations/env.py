"""Alembic environment: runs on the connection kibitz.migrate hands over (both engines)."""

from __future__ import annotations

from alembic import context

from kibitz.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `kibitz migrate`, which provides the connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
