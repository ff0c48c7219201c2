"""Users, roles, password hashes, API tokens and browser sessions, in the store file.

Four tables beside the book (same DuckDB file, so one backup holds everything):

``service_users``
    ``username, role, password_hash`` (argon2id, PHC string), ``created_at``,
    ``updated_at``, ``disabled``.
``service_tokens``
    API tokens for scripts: ``token_id`` (public, 12 hex digits), ``username``,
    ``token_hash`` (SHA-256 of the whole token: a token is 256 random bits, so a fast
    hash is enough; the token itself is shown once and never stored), ``scopes``
    (comma-separated), ``label``, ``created_at``, ``expires_at``, ``revoked_at``.
``service_sessions``
    Browser sessions: ``session_hash`` (SHA-256 of the cookie value), ``username``,
    ``csrf`` (the session's CSRF token), ``created_at``, ``expires_at``.
``service_runs``
    Runs of the main job started from the service (see :mod:`.jobs`).

Roles and what they may do (:data:`ROLE_PERMISSIONS`):

=========  ==============================================================
viewer     read everything
pm         read; propose and cancel orders (``trade``); release orders
           another person proposed (``approve``); start runs (``run``)
risk       read; override a compliance block and release orders another
           person proposed (``override``, ``approve``); start runs
admin      all of the above and ``admin`` (users)
=========  ==============================================================

A token carries *scopes* (the same names); what it may do is its scopes intersected
with its user's role, so a token never does more than its user. Every token has
``read``.

Passwords are hashed with argon2id (argon2-cffi's defaults: RFC 9106 low-memory
profile, 64 MiB, 3 passes); hashes are upgraded on login when the parameters change.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from ..errors import ComputefolioError

ROLES: tuple[str, ...] = ("viewer", "pm", "risk", "admin")
#: Every permission a route may require.
PERMISSIONS: tuple[str, ...] = ("read", "trade", "approve", "override", "run", "admin")
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "pm": frozenset({"read", "trade", "approve", "run"}),
    "risk": frozenset({"read", "approve", "override", "run"}),
    "admin": frozenset(PERMISSIONS),
}
#: What each permission allows (help text of ``computefolio users token --scope``).
PERMISSION_HELP = {
    "read": "read everything (book, risk, orders, log, runs)",
    "trade": "propose and cancel order lists",
    "approve": "release an order list another person proposed (four eyes)",
    "override": "override a compliance block on a list another person proposed (four eyes)",
    "run": "start and cancel runs of the main job",
    "admin": "manage users",
}
USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
MIN_PASSWORD = 12
TOKEN_PREFIX = "cfp"

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS service_users (
        username VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, password_hash VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP, disabled BOOLEAN NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS service_tokens (
        token_id VARCHAR PRIMARY KEY, username VARCHAR NOT NULL, token_hash VARCHAR NOT NULL, scopes VARCHAR NOT NULL,
        label VARCHAR, created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP, revoked_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS service_sessions (
        session_hash VARCHAR PRIMARY KEY, username VARCHAR NOT NULL, csrf VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS service_runs (
        run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL, username VARCHAR NOT NULL,
        strategy VARCHAR NOT NULL, params VARCHAR, status VARCHAR NOT NULL, out_dir VARCHAR,
        finished_at TIMESTAMP, error VARCHAR)""",
]


class UserError(ComputefolioError, ValueError):
    """A user, password, role, scope or token given by a person is not acceptable."""


def utcnow() -> _dt.datetime:
    """Now, UTC, naive (the store's timestamp convention)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ensure_schema(con) -> None:
    """Create the service's tables (idempotent)."""
    for s in SCHEMA:
        con.execute(s)


_HASHER = None


def hasher():
    """The argon2id password hasher (argon2-cffi; imported on first use)."""
    global _HASHER
    if _HASHER is None:
        try:
            from argon2 import PasswordHasher
        except ImportError:  # pragma: no cover - the service extra is missing
            raise UserError("passwords need argon2-cffi: pip install 'computefolio[service]'") from None
        _HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
    return _HASHER


def hash_password(password: str) -> str:
    """An argon2id PHC string of ``password`` (salted)."""
    return hasher().hash(password)


def check_username(name: str) -> str:
    if not isinstance(name, str) or not USERNAME.match(name):
        raise UserError(f"user name {name!r}: 2 to 32 characters, lower-case letters, digits, '_', '.' or '-', "
                        "starting with a letter")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise UserError("a password has at most 1024 characters")
    return password


def check_scopes(scopes) -> tuple[str, ...]:
    out = {"read"}
    for s in scopes or ():
        for part in str(s).split(","):
            part = part.strip()
            if not part:
                continue
            if part not in PERMISSIONS:
                raise UserError(f"scope {part!r}: one of {', '.join(PERMISSIONS)}")
            out.add(part)
    return tuple(p for p in PERMISSIONS if p in out)


# ----------------------------------------------------------------------------- users
@dataclass(frozen=True)
class User:
    username: str
    role: str
    disabled: bool = False

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset() if self.disabled else ROLE_PERMISSIONS[self.role]


def add_user(con, username: str, role: str, password: str, *, update: bool = False) -> str:
    """Add a user (or, with ``update``, set an existing user's role and password).
    Returns ``"added"`` or ``"updated"``."""
    check_username(username)
    check_role(role)
    check_password(password)
    ensure_schema(con)
    h = hash_password(password)
    have = con.execute("SELECT username FROM service_users WHERE username = ?", [username]).fetchall()
    if have and not update:
        raise UserError(f"user {username} exists (use --update to change the role or password)")
    if have:
        con.execute("UPDATE service_users SET role = ?, password_hash = ?, updated_at = ?, disabled = FALSE "
                    "WHERE username = ?", [role, h, utcnow(), username])
        con.execute("DELETE FROM service_sessions WHERE username = ?", [username])
        return "updated"
    con.execute("INSERT INTO service_users VALUES (?, ?, ?, ?, NULL, FALSE)", [username, role, h, utcnow()])
    return "added"


def disable_user(con, username: str) -> None:
    ensure_schema(con)
    if not con.execute("SELECT 1 FROM service_users WHERE username = ?", [username]).fetchall():
        raise UserError(f"no user {username!r}")
    con.execute("UPDATE service_users SET disabled = TRUE, updated_at = ? WHERE username = ?", [utcnow(), username])
    con.execute("DELETE FROM service_sessions WHERE username = ?", [username])
    con.execute("UPDATE service_tokens SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
                [utcnow(), username])


def get_user(con, username: str) -> User | None:
    r = con.execute("SELECT username, role, disabled FROM service_users WHERE username = ?", [username]).fetchall()
    return User(r[0][0], r[0][1], bool(r[0][2])) if r else None


def list_users(con) -> list[dict]:
    ensure_schema(con)
    rows = con.execute(
        "SELECT u.username, u.role, u.disabled, u.created_at, "
        "count(t.token_id) FILTER (WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)) "
        "FROM service_users u LEFT JOIN service_tokens t ON t.username = u.username "
        "GROUP BY u.username, u.role, u.disabled, u.created_at ORDER BY u.username", [utcnow()]).fetchall()
    return [{"username": r[0], "role": r[1], "disabled": bool(r[2]), "created_at": r[3], "active_tokens": int(r[4])}
            for r in rows]


def authenticate(con, username: str, password: str) -> User | None:
    """The user when ``password`` is right (and the user enabled), else None.

    Takes about as long for an unknown user as for a wrong password (a dummy hash is
    checked), so the answer does not tell which names exist."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    ph = hasher()
    r = con.execute("SELECT password_hash, role, disabled FROM service_users WHERE username = ?",
                    [username]).fetchall() if isinstance(username, str) else []
    stored = r[0][0] if r else _dummy_hash()
    try:
        ph.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if not r or r[0][2]:
        return None
    if ph.check_needs_rehash(stored):
        con.execute("UPDATE service_users SET password_hash = ? WHERE username = ?", [ph.hash(password), username])
    return User(username, r[0][1], False)


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(24)))
    return _DUMMY[0]


# ----------------------------------------------------------------------------- tokens
@dataclass(frozen=True)
class Token:
    token_id: str
    username: str
    scopes: tuple[str, ...]
    label: str = ""
    expires_at: _dt.datetime | None = None


def create_token(con, username: str, scopes=("read",), *, label: str = "", days: float | None = 90) -> tuple[str, Token]:
    """A new API token for ``username``: returns ``(the token, shown once; its record)``.

    Scopes beyond the user's role are refused (a token never does more than its user)."""
    ensure_schema(con)
    u = get_user(con, username)
    if u is None or u.disabled:
        raise UserError(f"no enabled user {username!r} (computefolio users add {username} --role ROLE)")
    sc = check_scopes(scopes)
    beyond = [s for s in sc if s not in u.permissions]
    if beyond:
        raise UserError(f"scope {', '.join(beyond)} is beyond the role {u.role} of {username} "
                        f"(it allows {', '.join(p for p in PERMISSIONS if p in u.permissions)})")
    if days is not None and not (0 < days <= 3660):
        raise UserError(f"--days: between 0 and 3660, got {days:g}")
    tid = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = f"{TOKEN_PREFIX}_{tid}_{secret}"
    exp = utcnow() + _dt.timedelta(days=days) if days is not None else None
    con.execute("INSERT INTO service_tokens VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                [tid, username, sha256(token), ",".join(sc), label or None, utcnow(), exp])
    return token, Token(tid, username, sc, label, exp)


def revoke_token(con, token_id: str) -> None:
    ensure_schema(con)
    if not con.execute("SELECT 1 FROM service_tokens WHERE token_id = ?", [token_id]).fetchall():
        raise UserError(f"no token {token_id!r}")
    con.execute("UPDATE service_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                [utcnow(), token_id])


def list_tokens(con, username: str | None = None) -> list[dict]:
    ensure_schema(con)
    sql = ("SELECT token_id, username, scopes, label, created_at, expires_at, revoked_at FROM service_tokens"
           + (" WHERE username = ?" if username else "") + " ORDER BY created_at")
    rows = con.execute(sql, [username] if username else []).fetchall()
    return [dict(zip(("token_id", "username", "scopes", "label", "created_at", "expires_at", "revoked_at"), r))
            for r in rows]


_TOKEN = re.compile(rf"^{TOKEN_PREFIX}_([0-9a-f]{{12}})_[A-Za-z0-9_-]{{20,100}}$")


def verify_token(con, token: str) -> tuple[User, Token] | None:
    """The user and token record for a bearer token, or None (unknown, revoked, expired,
    user disabled)."""
    m = _TOKEN.match(token or "")
    if not m:
        return None
    r = con.execute("SELECT t.token_hash, t.scopes, t.label, t.expires_at, t.revoked_at, u.username, u.role, "
                    "u.disabled FROM service_tokens t JOIN service_users u ON u.username = t.username "
                    "WHERE t.token_id = ?", [m.group(1)]).fetchall()
    if not r:
        return None
    th, scopes, label, exp, revoked, username, role, disabled = r[0]
    if not hmac.compare_digest(th, sha256(token)) or revoked is not None or disabled:
        return None
    if exp is not None and exp <= utcnow():
        return None
    return User(username, role, False), Token(m.group(1), username, tuple(scopes.split(",")), label or "", exp)


# ----------------------------------------------------------------------------- sessions
@dataclass
class Session:
    user: User
    csrf: str
    expires_at: _dt.datetime
    session_hash: str = field(repr=False, default="")


def create_session(con, user: User, ttl_s: float) -> tuple[str, Session]:
    """A new browser session: returns ``(cookie value, session)``."""
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    exp = utcnow() + _dt.timedelta(seconds=ttl_s)
    con.execute("DELETE FROM service_sessions WHERE expires_at <= ?", [utcnow()])
    con.execute("INSERT INTO service_sessions VALUES (?, ?, ?, ?, ?)", [sha256(sid), user.username, csrf, utcnow(), exp])
    return sid, Session(user, csrf, exp, sha256(sid))


def get_session(con, sid: str) -> Session | None:
    if not sid or len(sid) > 200:
        return None
    h = sha256(sid)
    r = con.execute("SELECT s.csrf, s.expires_at, u.username, u.role, u.disabled FROM service_sessions s JOIN "
                    "service_users u ON u.username = s.username WHERE s.session_hash = ?", [h]).fetchall()
    if not r or r[0][4] or r[0][1] <= utcnow():
        return None
    return Session(User(r[0][2], r[0][3], False), r[0][0], r[0][1], h)


def end_session(con, sid: str) -> None:
    con.execute("DELETE FROM service_sessions WHERE session_hash = ?", [sha256(sid)])
