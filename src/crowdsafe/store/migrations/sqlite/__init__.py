"""Alembic's scripts for the SQLite store (``env.py`` and ``versions/``)."""
