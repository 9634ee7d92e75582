"""Storage of aggregates: the :class:`Store` protocol and its SQLite implementation.

The PostgreSQL store is :class:`crowdsafe.store.postgres.PostgresStore`, not imported
here: psycopg is an optional extra (``crowdsafe[postgresql]``).
"""

from crowdsafe.store.base import Store
from crowdsafe.store.sqlite import SQLiteStore

__all__ = ["SQLiteStore", "Store"]
