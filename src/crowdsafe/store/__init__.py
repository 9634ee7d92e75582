"""Storage of aggregates: the :class:`Store` protocol and its SQLite implementation."""

from crowdsafe.store.base import Store
from crowdsafe.store.sqlite import SQLiteStore

__all__ = ["SQLiteStore", "Store"]
