"""Alembic environment: migrations run on a connection handed over by crossings.service.db."""

from alembic import context

from crossings.service.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations through crossings.service.db.open_database(url)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
