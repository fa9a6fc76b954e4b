"""Alembic environment: migrations always run on a connection handed in by ``migrate.py``."""

from __future__ import annotations

from alembic import context

from graphdrive.storage.metadata.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - offline SQL generation is not supported
    raise RuntimeError("Run migrations with `graphdrive migrate` (graphdrive.storage.metadata).")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
