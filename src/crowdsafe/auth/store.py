"""The auth store: users, API tokens, sessions, one-time login links, the audit trail and
the key that signs session cookies, in one small SQLite file of its own.

Why a file apart from the YAML config and the aggregates: the config is reviewed and
copied around as text, and a password hash or a signing key must never travel with it;
the aggregates are kept and shared under their own rules.  The file is created readable
by its owner only.

What is stored of a secret is never the secret: passwords as argon2 hashes (pwdlib),
tokens, session ids and login links as SHA-256 digests (they are 256-bit random values,
so a slow hash would only cost time on every request).  The audit trail holds operators'
user names and token labels, an action, and the alert, user or token it was about; never
anything about the people the cameras see, and no client address.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from crowdsafe.auth.roles import Role
from crowdsafe.errors import AuthError, NotFound, StoreError

__all__ = [
    "MIN_PASSWORD_LEN",
    "TOKEN_PREFIX",
    "AuditAction",
    "AuditEntry",
    "AuthStore",
    "TokenInfo",
    "UserInfo",
    "digest",
]

MIN_PASSWORD_LEN = 10
MAX_PASSWORD_LEN = 1024
TOKEN_PREFIX = "cst_"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('viewer','operator','admin')),
    password_hash TEXT NOT NULL,
    created_at    REAL NOT NULL,
    changed_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id          TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer','operator','admin')),
    digest      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    revoked_at  REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_active_label ON tokens (label) WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS sessions (
    digest     TEXT PRIMARY KEY,
    user       TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS login_links (
    digest     TEXT PRIMARY KEY,
    user       TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    t      REAL NOT NULL,
    actor  TEXT NOT NULL,  -- an operator's user name or token:<label>; nothing else
    action TEXT NOT NULL,
    target TEXT
);
CREATE INDEX IF NOT EXISTS audit_target ON audit (target, t);
"""


class AuditAction(StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    ALERT_ACKNOWLEDGE = "alert_acknowledge"
    ALERT_RESOLVE = "alert_resolve"
    USER_ADD = "user_add"
    USER_REMOVE = "user_remove"
    USER_PASSWORD = "user_password"
    TOKEN_ADD = "token_add"
    TOKEN_REVOKE = "token_revoke"
    LOGIN_LINK = "login_link"


@dataclass(frozen=True)
class AuditEntry:
    """One audited action: when (Unix s), who (a user name or ``token:<label>``), what,
    and the alert id, user name or token label it was about."""

    id: int
    t: float
    actor: str
    action: AuditAction
    target: str | None


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: Role
    created_at: float
    changed_at: float


@dataclass(frozen=True)
class TokenInfo:
    id: str
    label: str
    role: Role
    created_at: float
    revoked_at: float | None


def digest(secret: str) -> str:
    """The stored form of a random secret (token, session id, login link)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class AuthStore:
    """Users, tokens, sessions, login links and the audit trail (module docstring).

    ``path`` ``":memory:"`` keeps everything in memory (tests, ``create_app`` without an
    authenticator).  Thread-safe: one connection behind a lock, as the aggregate store.
    Raises :class:`~crowdsafe.errors.StoreError` when the file cannot be opened."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        from pwdlib import PasswordHash
        from pwdlib.hashers.argon2 import Argon2Hasher

        self.path = str(path)
        self._clock = clock
        self._hasher = PasswordHash((Argon2Hasher(),))
        self._lock = threading.Lock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                # Owner-only from the first byte: the file holds hashes and a signing key.
                os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the auth store {self.path}: {exc}") from exc
        # A hash to verify against when a user does not exist, so that a wrong name
        # takes as long as a wrong password.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    # -- low level --------------------------------------------------------------------

    def _run(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, tuple(args)).fetchall()
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise StoreError(f"auth store {self.path}: {exc}") from exc

    def secret_key(self) -> str:
        """The key that signs session cookies: made once, kept in this file, never logged."""
        rows = self._run("SELECT value FROM meta WHERE key = 'secret_key'")
        if rows:
            return str(rows[0][0])
        self._run(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('secret_key', ?)",
            [secrets.token_urlsafe(48)],
        )
        return str(self._run("SELECT value FROM meta WHERE key = 'secret_key'")[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- users ------------------------------------------------------------------------

    def add_user(self, name: str, role: Role, password: str, actor: str = "cli") -> None:
        """Add a user; AuthError if the name is taken or the password too short."""
        _check_password(password)
        now = self._clock()
        try:
            self._run(
                "INSERT INTO users (name, role, password_hash, created_at, changed_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [name, role.value, self._hasher.hash(password), now, now],
            )
        except sqlite3.IntegrityError:
            raise AuthError(f"user '{name}' exists already; change it with 'passwd'") from None
        self.record(actor, AuditAction.USER_ADD, name)

    def remove_user(self, name: str, actor: str = "cli") -> None:
        """Remove a user and end their sessions; NotFound for an unknown name."""
        self._user(name)
        self._run("DELETE FROM users WHERE name = ?", [name])
        self._run("DELETE FROM sessions WHERE user = ?", [name])
        self._run("DELETE FROM login_links WHERE user = ?", [name])
        self.record(actor, AuditAction.USER_REMOVE, name)

    def set_password(self, name: str, password: str, actor: str = "cli") -> None:
        """Change a user's password and end their sessions; NotFound for an unknown name."""
        _check_password(password)
        self._user(name)
        self._run(
            "UPDATE users SET password_hash = ?, changed_at = ? WHERE name = ?",
            [self._hasher.hash(password), self._clock(), name],
        )
        self._run("DELETE FROM sessions WHERE user = ?", [name])
        self.record(actor, AuditAction.USER_PASSWORD, name)

    def users(self) -> list[UserInfo]:
        rows = self._run("SELECT name, role, created_at, changed_at FROM users ORDER BY name")
        return [UserInfo(str(n), Role(str(r)), float(c), float(ch)) for n, r, c, ch in rows]

    def _user(self, name: str) -> UserInfo:
        for user in self.users():
            if user.name == name:
                return user
        known = ", ".join(u.name for u in self.users()) or "none"
        raise NotFound(f"unknown user '{name}'; the users are: {known}")

    def role_of(self, name: str) -> Role | None:
        rows = self._run("SELECT role FROM users WHERE name = ?", [name])
        return Role(str(rows[0][0])) if rows else None

    def verify_password(self, name: str, password: str) -> Role | None:
        """The user's role if ``password`` is theirs, else None (same cost either way)."""
        rows = self._run("SELECT role, password_hash FROM users WHERE name = ?", [name])
        stored = str(rows[0][1]) if rows else self._dummy_hash
        ok = self._hasher.verify(password[:MAX_PASSWORD_LEN], stored)
        return Role(str(rows[0][0])) if ok and rows else None

    # -- API tokens -------------------------------------------------------------------

    def add_token(self, label: str, role: Role, actor: str = "cli") -> str:
        """A new bearer token; the returned value is the only time it is ever seen."""
        token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        try:
            self._run(
                "INSERT INTO tokens (id, label, role, digest, created_at) VALUES (?, ?, ?, ?, ?)",
                [token_id, label, role.value, digest(secret), self._clock()],
            )
        except sqlite3.IntegrityError:
            raise AuthError(f"an active token is labelled '{label}' already") from None
        self.record(actor, AuditAction.TOKEN_ADD, label)
        return f"{TOKEN_PREFIX}{token_id}_{secret}"

    def revoke_token(self, label: str, actor: str = "cli") -> None:
        """Revoke the active token labelled ``label``; NotFound if there is none."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE label = ? AND revoked_at IS NULL",
                [self._clock(), label],
            )
        if cur.rowcount == 0:
            active = ", ".join(t.label for t in self.tokens() if t.revoked_at is None) or "none"
            raise NotFound(f"no active token labelled '{label}'; active tokens: {active}")
        self.record(actor, AuditAction.TOKEN_REVOKE, label)

    def tokens(self) -> list[TokenInfo]:
        rows = self._run(
            "SELECT id, label, role, created_at, revoked_at FROM tokens ORDER BY created_at"
        )
        return [
            TokenInfo(str(i), str(lb), Role(str(r)), float(c), None if v is None else float(v))
            for i, lb, r, c, v in rows
        ]

    def token_principal(self, token: str) -> tuple[str, Role] | None:
        """(label, role) of an active token, None for anything else."""
        if not token.startswith(TOKEN_PREFIX) or "_" not in token[len(TOKEN_PREFIX) :]:
            return None
        token_id, secret = token[len(TOKEN_PREFIX) :].split("_", 1)
        rows = self._run(
            "SELECT label, role, digest FROM tokens WHERE id = ? AND revoked_at IS NULL",
            [token_id],
        )
        if not rows or not secrets.compare_digest(str(rows[0][2]), digest(secret)):
            return None
        return str(rows[0][0]), Role(str(rows[0][1]))

    def has_credentials(self) -> bool:
        """True once a user or an active token exists: someone can log in."""
        users = self._run("SELECT 1 FROM users LIMIT 1")
        return bool(users or self._run("SELECT 1 FROM tokens WHERE revoked_at IS NULL LIMIT 1"))

    # -- sessions and login links -----------------------------------------------------

    def create_session(self, user: str, ttl_s: float) -> str:
        """A new session id for ``user``, valid ``ttl_s`` seconds."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        self._run("DELETE FROM sessions WHERE expires_at <= ?", [now])
        self._run(
            "INSERT INTO sessions (digest, user, expires_at) VALUES (?, ?, ?)",
            [digest(session_id), user, now + ttl_s],
        )
        return session_id

    def session_user(self, session_id: str) -> tuple[str, Role] | None:
        """(user, role) of a live session whose user still exists, else None."""
        rows = self._run(
            "SELECT s.user, u.role FROM sessions s JOIN users u ON u.name = s.user"
            " WHERE s.digest = ? AND s.expires_at > ?",
            [digest(session_id), self._clock()],
        )
        return (str(rows[0][0]), Role(str(rows[0][1]))) if rows else None

    def end_session(self, session_id: str) -> None:
        self._run("DELETE FROM sessions WHERE digest = ?", [digest(session_id)])

    def create_login_link(self, user: str, ttl_s: float, actor: str = "cli") -> str:
        """A one-time secret that logs ``user`` in once (``/?token=...``)."""
        self._user(user)
        secret = secrets.token_urlsafe(32)
        self._run(
            "INSERT INTO login_links (digest, user, expires_at) VALUES (?, ?, ?)",
            [digest(secret), user, self._clock() + ttl_s],
        )
        self.record(actor, AuditAction.LOGIN_LINK, user)
        return secret

    def use_login_link(self, secret: str) -> str | None:
        """The user a valid link logs in; the link is spent whatever the outcome."""
        with self._lock:
            row = self._db.execute(
                "DELETE FROM login_links WHERE digest = ? RETURNING user, expires_at",
                [digest(secret)],
            ).fetchone()
        if row is None or float(row[1]) <= self._clock():
            return None
        return str(row[0])

    # -- the audit trail --------------------------------------------------------------

    def record(self, actor: str, action: AuditAction, target: str | None = None) -> None:
        """Append one entry to the audit trail."""
        self._run(
            "INSERT INTO audit (t, actor, action, target) VALUES (?, ?, ?, ?)",
            [self._clock(), actor, action.value, target],
        )

    def audit(
        self,
        since: float | None = None,
        target: str | None = None,
        actions: Sequence[AuditAction] | None = None,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Audit entries, newest first, optionally about ``target`` or of ``actions``."""
        sql = "SELECT id, t, actor, action, target FROM audit WHERE 1=1"
        args: list[object] = []
        if since is not None:
            sql, args = sql + " AND t >= ?", [*args, since]
        if target is not None:
            sql, args = sql + " AND target = ?", [*args, target]
        if actions:
            sql += f" AND action IN ({', '.join('?' * len(actions))})"
            args.extend(a.value for a in actions)
        rows = self._run(sql + " ORDER BY t DESC, id DESC LIMIT ?", [*args, limit])
        return [
            AuditEntry(
                int(i), float(t), str(a), AuditAction(str(act)), None if g is None else str(g)
            )
            for i, t, a, act, g in rows
        ]

    def purge_audit(self, retention_days: float) -> int:
        """Delete audit entries older than ``retention_days``; how many went."""
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM audit WHERE t < ?", [self._clock() - retention_days * 86_400.0]
            )
        return cur.rowcount


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LEN <= len(password) <= MAX_PASSWORD_LEN:
        raise AuthError(
            f"a password must have {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters "
            f"(got {len(password)})"
        )
