"""Alembic's entry for the SQLite store: runs on the connection the store hands over."""

from alembic import context

from crowdsafe.store.migrations import run_migrations

run_migrations(context)
