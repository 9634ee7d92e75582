"""Alembic's scripts for the PostgreSQL store (``env.py`` and ``versions/``)."""
