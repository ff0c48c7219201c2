"""Who is asking, and may they: bearer tokens, session cookies, CSRF, login rate limits.

* **Scripts** send ``Authorization: Bearer cfp_...`` (``computefolio users token``). A
  token may do what its scopes allow *and* its user's role allows.
* **Browsers** sign in at ``/login`` and get a session cookie (``cf_session``:
  ``HttpOnly``, ``SameSite=Strict``, ``Path=/``, ``Secure`` behind HTTPS). Every request
  that changes something with a session must carry the session's CSRF token (header
  ``X-CSRF-Token``, or the form field ``csrf_token``) and, when the browser sends one,
  an ``Origin`` of this server; the login form itself is protected by a double-submit
  cookie. EventSource (server-sent events) cannot send headers, so it uses the cookie.
* **Login is rate-limited** per user name (``login_attempts`` failures per
  ``login_window_s``) and per client address (four times as many); then 429 with
  ``Retry-After``, even for the right password.
  Failures are not told apart (unknown user and wrong password answer the same, after
  the same argon2 work).

Without credentials every route but the login page, the static files and ``/healthz``
answers 401; with credentials lacking the permission, 403.
"""

from __future__ import annotations

import collections
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request

from . import users as U
from .state import ServiceState

SESSION_COOKIE = "cf_session"
LOGIN_COOKIE = "cf_login"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: Seconds a verified token or session is trusted before it is looked up again (so a
#: token revoked by ``computefolio users token --revoke`` stops working within this time).
CACHE_S = 5.0


@dataclass(frozen=True)
class Principal:
    """A signed-in user, how they signed in and what they may do."""

    user: U.User
    permissions: frozenset
    via: str  # "session" | "token"
    csrf: str | None = None
    token_id: str | None = None
    scopes: tuple = ()

    @property
    def username(self) -> str:
        return self.user.username

    def can(self, perm: str) -> bool:
        return perm in self.permissions

    def to_dict(self) -> dict:
        return {"username": self.username, "role": self.user.role, "via": self.via,
                "permissions": [p for p in U.PERMISSIONS if p in self.permissions],
                "token_id": self.token_id, "scopes": list(self.scopes)}


class LoginLimiter:
    """Failed logins per key in a sliding window: ``attempts`` per user name, and
    :data:`ADDRESS_FACTOR` times as many per client address (people behind one address
    mistype too; guessing across many names from one address is still stopped)."""

    ADDRESS_FACTOR = 4

    def __init__(self, attempts: int, window_s: float):
        self.attempts, self.window_s = int(attempts), float(window_s)
        self._fails: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> collections.deque:
        q = self._fails.setdefault(key, collections.deque())
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def retry_after(self, *keys: str) -> float:
        """Seconds until another attempt is allowed (0 when allowed now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for k in keys:
                q = self._trim(k, now)
                limit = self.attempts * (self.ADDRESS_FACTOR if k.startswith("addr:") else 1)
                if len(q) >= limit:
                    wait = max(wait, self.window_s - (now - q[0]))
        return wait

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._fails) > 10_000:  # names sprayed at the form: forget the expired ones
                for k in list(self._fails):
                    if not self._trim(k, now):
                        del self._fails[k]
            for k in keys:
                self._trim(k, now).append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._fails.pop(key, None)


class Auth:
    """Authentication for one service (see the module docstring)."""

    def __init__(self, state: ServiceState):
        self.state = state
        self.limiter = LoginLimiter(state.config.login_attempts, state.config.login_window_s)
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lookup
    def _cached(self, key: str, fn):
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[1] < CACHE_S:
                return hit[0]
        p = fn()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (p, now)
        return p

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def peek(self, request: Request) -> tuple[bool, Principal | None]:
        """``(known, principal)`` from the in-memory cache only (no store access: safe on the
        event loop); ``known`` is False when the credentials must be looked up."""
        authz = request.headers.get("authorization")
        if authz:
            scheme, _, cred = authz.partition(" ")
            if scheme.lower() != "bearer" or not cred.strip():
                return True, None
            key = "t:" + U.sha256(cred.strip())
        else:
            sid = request.cookies.get(SESSION_COOKIE)
            if not sid:
                return True, None
            key = "s:" + U.sha256(sid)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[1] < CACHE_S:
            return True, hit[0]
        return False, None

    def principal(self, request: Request) -> Principal | None:
        """The principal of a request (bearer token first, then the session cookie), or None."""
        authz = request.headers.get("authorization")
        if authz:
            scheme, _, cred = authz.partition(" ")
            if scheme.lower() != "bearer" or not cred.strip():
                return None
            return self.from_token(cred.strip())
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            return self.from_session(sid)
        return None

    def from_token(self, token: str) -> Principal | None:
        def look():
            with self.state.gate.read_cursor() as cur:
                hit = U.verify_token(cur, token)
            if hit is None:
                return None
            user, tok = hit
            return Principal(user, user.permissions & frozenset(tok.scopes), "token", token_id=tok.token_id,
                             scopes=tok.scopes)

        return self._cached("t:" + U.sha256(token), look)

    def from_session(self, sid: str) -> Principal | None:
        def look():
            with self.state.gate.read_cursor() as cur:
                s = U.get_session(cur, sid)
            if s is None:
                return None
            return Principal(s.user, s.user.permissions, "session", csrf=s.csrf)

        return self._cached("s:" + U.sha256(sid), look)

    # ------------------------------------------------------------------ login
    def login(self, username: str, password: str, client: str) -> tuple[str, U.Session]:
        """Check a password (rate-limited) and open a session: ``(cookie value, session)``.

        Raises HTTPException 429 (too many failures) or 401 (wrong name or password)."""
        ukey, ckey = f"user:{(username or '').lower()[:64]}", f"addr:{client}"
        wait = self.limiter.retry_after(ukey, ckey)
        if wait > 0:
            raise HTTPException(429, "too many failed sign-ins; try again later",
                                headers={"Retry-After": str(int(wait) + 1)})
        with self.state.gate.read_cursor() as cur:  # argon2 work outside the write lock
            user = U.authenticate(cur, username or "", password or "")
        if user is None:
            self.limiter.fail(ukey, ckey)
            raise HTTPException(401, "wrong user name or password")
        with self.state.gate.write_cursor() as cur:
            sid, sess = U.create_session(cur, user, self.state.config.session_ttl_s)
        self.limiter.clear(ukey)
        return sid, sess

    def logout(self, sid: str | None) -> None:
        if sid:
            with self.state.gate.write_cursor() as cur:
                U.end_session(cur, sid)
            self.forget()


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


async def check_csrf(request: Request, p: Principal) -> None:
    """Unsafe methods with a session need the session's CSRF token and our own Origin."""
    if request.method in SAFE_METHODS or p.via != "session":
        return
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            raise HTTPException(403, "cross-origin request refused")
    token = request.headers.get(CSRF_HEADER)
    if not token:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            token = form.get("csrf_token")
    if not same(token if isinstance(token, str) else None, p.csrf):
        raise HTTPException(403, "missing or wrong CSRF token (reload the page)")


def require(perm: str):
    """A FastAPI dependency: the principal, if it has ``perm`` (401 without credentials,
    403 without the permission or, for a session's write, without its CSRF token)."""
    import anyio

    if perm not in U.PERMISSIONS:
        raise ValueError(f"unknown permission {perm!r}")

    async def dependency(request: Request) -> Principal:
        auth: Auth = request.app.state.auth
        known, p = auth.peek(request)
        if not known:
            p = await anyio.to_thread.run_sync(auth.principal, request)
        if p is None:
            raise HTTPException(401, "sign in or send a bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not p.can(perm):
            raise HTTPException(403, f"{p.username} ({p.user.role}{', token' if p.via == 'token' else ''}) may not "
                                     f"{perm}: {U.PERMISSION_HELP[perm]}")
        await check_csrf(request, p)
        request.state.principal = p
        return p

    dependency.permission = perm  # for the route-enumeration test and the docs
    return dependency
