"""``computefolio users``: the service's users, roles and API tokens (in the store file).

``users add NAME --role viewer|pm|risk|admin`` asks for the password twice (or reads one
line from stdin with ``--password-stdin``); ``users list`` shows users and their active
tokens; ``users token NAME --scope read --scope trade`` prints a new API token once (only
its hash is kept), ``users token --revoke ID`` revokes one, ``users token --list`` lists
them. Roles, scopes and four eyes: docs/service.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ._common import app, console, err_console, guard

users_app = typer.Typer(help="Users, roles and API tokens of the service (computefolio serve).", no_args_is_help=True)
app.add_typer(users_app, name="users")

_STORE = typer.Option(None, "--store", help="Store file (default: $COMPUTEFOLIO_HOME/store.duckdb).")


def _con(store: Optional[Path], create: bool = False):
    from ..book.store import open_store
    from ..data.store import Store
    from ..errors import DataError
    from ..service import users as U

    if not create and not Store(store).exists():
        raise DataError(f"{Store(store).path}: no store (computefolio users add NAME --role ROLE makes it)")
    st = open_store(store)
    U.ensure_schema(st.con)
    return st


def _read_password(stdin: bool) -> str:
    from ..service.users import MIN_PASSWORD, UserError

    if stdin:
        line = sys.stdin.readline()
        pw = line.rstrip("\r\n")
        if not pw:
            raise UserError("--password-stdin: no password on stdin")
        return pw
    pw = typer.prompt(f"Password (at least {MIN_PASSWORD} characters)", hide_input=True)
    again = typer.prompt("Password again", hide_input=True)
    if pw != again:
        raise UserError("the two passwords differ")
    return pw


@users_app.command("add")
@guard
def add(
    name: str = typer.Argument(..., help="User name (lower case, 2-32 characters)."),
    role: str = typer.Option(..., "--role", help="viewer, pm, risk or admin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from one line of stdin."),
    update: bool = typer.Option(False, "--update", help="Change an existing user's role and password (ends their "
                                                        "sessions)."),
    store: Optional[Path] = _STORE,
) -> None:
    """Add a user of the service (password hashed with argon2id)."""
    from ..service import users as U

    U.check_username(name)
    U.check_role(role)
    pw = _read_password(password_stdin)
    st = _con(store, create=True)
    try:
        st.con.execute("BEGIN TRANSACTION")
        try:
            what = U.add_user(st.con, name, role, pw, update=update)
            st.con.execute("COMMIT")
        except BaseException:
            st.con.execute("ROLLBACK")
            raise
    finally:
        st.close()
    perms = ", ".join(p for p in U.PERMISSIONS if p in U.ROLE_PERMISSIONS[role])
    console.print(f"user {name} {what}: role {role} ({perms})", highlight=False)


@users_app.command("list")
@guard
def list_(store: Optional[Path] = _STORE) -> None:
    """Users, roles and active tokens."""
    from ..service import users as U

    st = _con(store)
    try:
        rows = U.list_users(st.con)
    finally:
        st.close()
    t = Table(title=f"Users of the service ({len(rows)})")
    for c in ("user", "role", "may", "active tokens", "created (UTC)", "status"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["username"], r["role"], ", ".join(p for p in U.PERMISSIONS if p in U.ROLE_PERMISSIONS[r["role"]]),
                  str(r["active_tokens"]), f"{r['created_at']:%Y-%m-%d %H:%M}", "disabled" if r["disabled"] else "")
    console.print(t)


@users_app.command("token")
@guard
def token(
    name: Optional[str] = typer.Argument(None, help="User the new token acts as."),
    scope: list[str] = typer.Option([], "--scope", help="read, trade, approve, override, run, admin (repeat; read "
                                                         "is always included; never beyond the user's role)."),
    label: str = typer.Option("", "--label", help="What the token is for (shown in lists)."),
    days: float = typer.Option(90.0, "--days", help="Days until it expires."),
    revoke: Optional[str] = typer.Option(None, "--revoke", help="Revoke the token with this id instead."),
    list_tokens: bool = typer.Option(False, "--list", help="List tokens (of NAME, or all) instead."),
    store: Optional[Path] = _STORE,
) -> None:
    """Make an API token for scripts (printed once; only its hash is stored), list or revoke tokens."""
    from ..service import users as U

    st = _con(store)
    try:
        if revoke:
            U.revoke_token(st.con, revoke)
            console.print(f"token {revoke} revoked", highlight=False)
            return
        if list_tokens:
            rows = U.list_tokens(st.con, name)
            t = Table(title="API tokens (only hashes are stored)")
            for c in ("id", "user", "scopes", "label", "created (UTC)", "expires (UTC)", "status"):
                t.add_column(c)
            for r in rows:
                status = "revoked" if r["revoked_at"] else ""
                t.add_row(r["token_id"], r["username"], r["scopes"], r["label"] or "", f"{r['created_at']:%Y-%m-%d}",
                          f"{r['expires_at']:%Y-%m-%d}" if r["expires_at"] else "never", status)
            console.print(t)
            return
        if not name:
            raise U.UserError("give the user name the token acts as (computefolio users token NAME --scope read)")
        tok, rec = U.create_token(st.con, name, scope or ("read",), label=label, days=days)
    finally:
        st.close()
    err_console.print(f"token {rec.token_id} for {name}: scopes {', '.join(rec.scopes)}; expires "
                      f"{rec.expires_at:%Y-%m-%d} UTC. It is shown once; keep it secret "
                      f"(send it as 'Authorization: Bearer TOKEN').", highlight=False)
    typer.echo(tok)
