"""Who may do what in the service: every route needs credentials, every write its role.

A live ``computefolio serve`` on a free loopback port (the demo book on the sample market,
users made with ``computefolio users add``). Checked: every route of the application
answers 401 or 403 without credentials (but the login page, the static files and
/healthz); a viewer's token gets 403 on every write route; a token never does more than
its scopes or its user's role; the session cookie is HttpOnly and SameSite=Strict and a
session's writes need its CSRF token and our own Origin; login is rate-limited; passwords
are argon2id hashes and tokens are kept only as hashes; the security headers (CSP
``default-src 'self'``) are on every answer."""

from __future__ import annotations

import re

import pytest

from _service_server import PASSWORD, USERS, cli, make_store, service_or_skip, start, token

service_or_skip()
import httpx  # noqa: E402

PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz"), ("GET", "/static/{name}")}
PATH_VALUES = {"list_id": "L0123456789ab", "run_id": "20250101T000000-abcdef", "name": "dashboard.js"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("service_auth")
    store = make_store(d)
    srv = start(store, d)
    srv.tokens = {u: token(store, u, *_role_scopes(r)) for u, r in USERS.items()}
    srv.tokens["pia_read"] = token(store, "pia", "read")
    yield srv
    srv.stop()


def _role_scopes(role: str) -> list[str]:
    from computefolio.service.users import ROLE_PERMISSIONS

    return sorted(ROLE_PERMISSIONS[role])


def _routes():
    """(method, path template, permission) of every route of the application."""
    from fastapi.routing import APIRoute

    from computefolio.service import ServiceConfig, create_app

    app = create_app(ServiceConfig(source="sample"))

    def walk(routes):
        for r in routes:
            if hasattr(r, "effective_candidates"):  # FastAPI >= 0.16x: included routers resolved lazily
                yield from r.effective_candidates()
            elif isinstance(r, APIRoute):
                yield r

    out = []
    for r in walk(app.routes):
        perms = [getattr(d.call, "permission", None) for d in r.dependant.dependencies]
        perms = [p for p in perms if p]
        for m in sorted(r.methods - {"HEAD"}):
            out.append((m, r.path, perms[0] if perms else None))
    return out


ROUTES = _routes()


def _url(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: PATH_VALUES[m.group(1)], path)


def test_every_route_is_known_and_guarded():
    assert len(ROUTES) > 40
    unguarded = [(m, p) for m, p, perm in ROUTES if perm is None and (m, p) not in PUBLIC]
    assert not unguarded, f"routes without a permission: {unguarded}"
    # every route that changes something is a POST with a permission beyond read (sign-out ends one's own session)
    assert {m for m, _, _ in ROUTES} == {"GET", "POST"}
    posts = [(m, p, perm) for m, p, perm in ROUTES if m == "POST" and (m, p) not in PUBLIC and p != "/logout"]
    assert all(perm not in (None, "read") for _, _, perm in posts), posts
    writes = [(m, p) for m, p, _ in posts]
    assert {p for _, p in writes} >= {"/api/v1/orders", "/api/v1/orders/{list_id}/release",
                                      "/api/v1/orders/{list_id}/override", "/api/v1/runs", "/orders/propose"}


@pytest.mark.parametrize("method,path,perm", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_no_credentials_401_or_403(server, method, path, perm):
    if (method, path) in PUBLIC:
        return
    for accept in ("application/json", "text/html"):
        r = httpx.request(method, server.url + _url(path), headers={"accept": accept}, timeout=60,
                          follow_redirects=False)
        assert r.status_code in (401, 403), (method, path, r.status_code, r.text[:200])
        assert "Traceback" not in r.text


WRITES = [r for r in ROUTES if r[0] == "POST" and r[2] not in (None, "read")]


@pytest.mark.parametrize("method,path,perm", WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_viewer_token_403_on_writes(server, method, path, perm):
    for body in ({}, {"check": "turnover", "reason": "because", "target": "*"}):
        r = httpx.request(method, server.url + _url(path), headers=server.headers("vic"), json=body, timeout=60)
        assert r.status_code == 403, (method, path, r.status_code, r.text[:200])
        assert "may not" in r.json()["error"]


def test_viewer_reads(server):
    for path in ("/api/v1/me", "/api/v1/book", "/api/v1/orders", "/api/v1/compliance/log", "/api/v1/universe"):
        r = httpx.get(server.url + path, headers=server.headers("vic"), timeout=120)
        assert r.status_code == 200, (path, r.text[:300])
    me = httpx.get(server.url + "/api/v1/me", headers=server.headers("vic")).json()
    assert me == {"username": "vic", "role": "viewer", "via": "token", "permissions": ["read"],
                  "token_id": me["token_id"], "scopes": ["read"]}


def test_token_scopes_never_exceed_the_role(server):
    # a pm's token with only the read scope cannot propose
    r = httpx.post(server.url + "/api/v1/orders", headers=server.headers("pia_read"), json={"dry_run": True})
    assert r.status_code == 403 and "may not trade" in r.json()["error"]
    # a viewer cannot be given a write scope
    r = cli("users", "token", "vic", "--scope", "trade", "--store", server.store)
    assert r.returncode == 2 and "beyond the role viewer" in r.stderr and "Traceback" not in r.stderr
    # unknown, malformed and revoked tokens are 401
    for bad in ("cfp_000000000000_" + "x" * 43, "nonsense", server.tokens["vic"][:-2] + "zz"):
        r = httpx.get(server.url + "/api/v1/me", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401
    t = token(server.store, "vic", "read")
    assert httpx.get(server.url + "/api/v1/me", headers={"Authorization": f"Bearer {t}"}).status_code == 200
    tid = t.split("_")[1]
    assert cli("users", "token", "--revoke", tid, "--store", server.store).returncode == 0
    import time

    time.sleep(5.5)  # a verified token is trusted for 5 s (auth.CACHE_S)
    assert httpx.get(server.url + "/api/v1/me", headers={"Authorization": f"Bearer {t}"}).status_code == 401


def login(url: str, user: str, password: str = PASSWORD, client: httpx.Client | None = None) -> httpx.Client:
    c = client or httpx.Client(base_url=url, timeout=120)
    r = c.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"username": user, "password": password, "nonce": nonce, "next": "/"},
               follow_redirects=False)
    c.last_login = r  # type: ignore[attr-defined]
    return c


def test_session_cookie_csrf_and_origin(server):
    c = login(server.url, "pia")
    r = c.last_login
    assert r.status_code == 303, r.text[:300]
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("cf_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace(
        "SameSite=Strict", "SameSite=strict") and "Path=/" in cookie
    page = c.get("/orders")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    # no CSRF token: refused; wrong token: refused; another origin: refused
    assert c.post("/api/v1/orders/L0123456789ab/cancel", json={}).status_code == 403
    assert c.post("/api/v1/orders/L0123456789ab/cancel", json={}, headers={"x-csrf-token": "x" * 43}).status_code == 403
    r = c.post("/api/v1/orders/L0123456789ab/cancel", json={},
               headers={"x-csrf-token": csrf, "origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    # with it: past the checks (404: no such list)
    r = c.post("/api/v1/orders/L0123456789ab/cancel", json={}, headers={"x-csrf-token": csrf,
                                                                          "origin": server.url})
    assert r.status_code == 404
    # a form post carries it as a field
    r = c.post("/orders/L0123456789ab/cancel", data={"csrf_token": csrf, "reason": "x"}, follow_redirects=False)
    assert r.status_code == 404
    r = c.post("/orders/L0123456789ab/cancel", data={"reason": "x"}, follow_redirects=False)
    assert r.status_code == 403
    # logout ends the session
    assert c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    import time

    time.sleep(5.5)
    assert c.get("/api/v1/me").status_code == 401


def test_login_form_needs_its_nonce_and_wrong_passwords_are_one_message(server):
    c = httpx.Client(base_url=server.url, timeout=60)
    r = c.post("/login", data={"username": "pia", "password": PASSWORD, "nonce": "forged", "next": "/"})
    assert r.status_code == 403 and "cf_session" not in r.headers.get("set-cookie", "")
    unknown = login(server.url, "nobody", "whatever password").last_login
    wrong = login(server.url, "paul", "wrong password!!").last_login
    assert unknown.status_code == wrong.status_code == 401
    assert "wrong user name or password" in unknown.text and "wrong user name or password" in wrong.text


def test_login_is_rate_limited(server):
    for _ in range(5):
        assert login(server.url, "ada", "not the password").last_login.status_code == 401
    r = login(server.url, "ada").last_login  # the right password, but too many failures
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "too many" in r.text
    # another user from the same address is not locked out by them
    assert login(server.url, "rita").last_login.status_code == 303


@pytest.mark.parametrize("target,expected", [("//evil.example/x", "/"), ("/\\evil.example", "/"),
                                             ("https://evil.example", "/"), ("/risk?asof=2025-12-31", "/risk?asof=2025-12-31")])
def test_open_redirect_is_refused(server, target, expected):
    c = httpx.Client(base_url=server.url, timeout=60)
    r = c.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"username": "paul", "password": PASSWORD, "nonce": nonce, "next": target},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == expected


def test_security_headers(server):
    for path, h in (("/login", {}), ("/api/v1/me", server.headers("vic")), ("/api/v1/nope", {}),
                    ("/static/dashboard.js", {})):
        r = httpx.get(server.url + path, headers=h)
        csp = r.headers["content-security-policy"]
        assert csp.startswith("default-src 'self'") and "unsafe" not in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
    assert "server" not in httpx.get(server.url + "/healthz").headers


def test_hashes_only(tmp_path):
    """argon2id password hashes; a token is stored as its SHA-256, never in the clear."""
    import hashlib

    from computefolio.book.store import open_store
    from computefolio.service import users as U

    st = open_store(tmp_path / "s.duckdb")
    try:
        U.ensure_schema(st.con)
        U.add_user(st.con, "pia", "pm", PASSWORD)
        h = st.con.execute("SELECT password_hash FROM service_users").fetchall()[0][0]
        assert h.startswith("$argon2id$") and PASSWORD not in h
        assert U.authenticate(st.con, "pia", PASSWORD).role == "pm"
        assert U.authenticate(st.con, "pia", PASSWORD + "x") is None
        assert U.authenticate(st.con, "nobody", PASSWORD) is None
        tok, rec = U.create_token(st.con, "pia", ["trade"])
        rows = st.con.execute("SELECT * FROM service_tokens").fetchall()
        assert tok not in repr(rows) and tok.split("_")[2] not in repr(rows)
        assert rows[0][2] == hashlib.sha256(tok.encode()).hexdigest() and rows[0][3] == "read,trade"
        user, t = U.verify_token(st.con, tok)
        assert user.username == "pia" and t.scopes == ("read", "trade")
        with pytest.raises(U.UserError, match="at least 12"):
            U.add_user(st.con, "short", "pm", "tooshort")
        with pytest.raises(U.UserError, match="role"):
            U.add_user(st.con, "rolex", "boss", PASSWORD)
        with pytest.raises(U.UserError, match="exists"):
            U.add_user(st.con, "pia", "pm", PASSWORD)
        sid, sess = U.create_session(st.con, user, 60)
        assert U.get_session(st.con, sid).user.username == "pia"
        assert sid not in repr(st.con.execute("SELECT * FROM service_sessions").fetchall())
    finally:
        st.close()


def test_users_cli(server, tmp_path):
    store = tmp_path / "u.duckdb"
    r = cli("users", "add", "tom", "--role", "risk", "--password-stdin", "--store", store, stdin=PASSWORD + "\n")
    assert r.returncode == 0 and "user tom added: role risk" in r.stdout, r.stderr
    r = cli("users", "add", "tom", "--role", "risk", "--password-stdin", "--store", store, stdin="short\n")
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr
    r = cli("users", "add", "Bad Name", "--role", "risk", "--password-stdin", "--store", store, stdin=PASSWORD + "\n")
    assert r.returncode == 2 and "user name" in r.stderr
    r = cli("users", "token", "tom", "--scope", "override", "--days", "7", "--store", store)
    assert r.returncode == 0 and r.stdout.strip().startswith("cfp_") and "shown once" in r.stderr
    r = cli("users", "list", "--store", store)
    assert r.returncode == 0 and "tom" in r.stdout and "risk" in r.stdout
    r = cli("users", "token", "--list", "--store", store)
    assert r.returncode == 0 and "read,override" in r.stdout
