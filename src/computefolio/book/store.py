"""The book's tables in the price store's DuckDB file.

The book lives beside the prices (one file, :class:`computefolio.data.store.Store`), in
its own tables:

``book_accounts``
    One row per account (:class:`~computefolio.book.accounts.Account`).
``book_entries``
    The ledger (:mod:`computefolio.book.ledger`): append-only and hash-chained
    (``prev_hash``, ``hash``; :mod:`computefolio.book.chain`). ``entry_id`` counts from 1.
``book_imports``
    One row per imported file or API batch: file, format, SHA-256, rows, entries added.

Every write is one transaction: a batch that fails anywhere leaves the store as it was.
DuckDB lets one process hold a file for writing; :func:`open_store` waits (up to
``timeout`` seconds) while another process has it, so short commands queue instead of
failing. The *book state* (:class:`BookState`) is the ledger's head hash: two order lists
computed on the same state are the same decision (see :mod:`computefolio.rebalance.store`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..data.store import Store, file_sha256
from ..errors import DataError
from .accounts import Account
from .chain import GENESIS, link_hash, verify_chain
from .ledger import ENTRY_COLUMNS, normalize_entry

#: Seconds a command waits for another process to release the store file.
LOCK_WAIT_S = 60.0

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS book_accounts (
        account VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, venue VARCHAR NOT NULL, currency VARCHAR NOT NULL,
        venues VARCHAR, cash_min DOUBLE NOT NULL, name VARCHAR, added_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS book_imports (
        batch BIGINT PRIMARY KEY, file VARCHAR, format VARCHAR NOT NULL, sha256 VARCHAR, rows_read BIGINT NOT NULL,
        entries_added BIGINT NOT NULL, imported_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS book_entries (
        entry_id BIGINT PRIMARY KEY, date DATE NOT NULL, settle_date DATE NOT NULL, kind VARCHAR NOT NULL,
        account VARCHAR, symbol VARCHAR, quantity DOUBLE, price DOUBLE, amount DOUBLE, currency VARCHAR, fee DOUBLE,
        counter_account VARCHAR, reverses BIGINT, order_id VARCHAR, ref VARCHAR, memo VARCHAR, batch BIGINT NOT NULL,
        recorded_at TIMESTAMP NOT NULL, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL)""",
]
#: Fields of an entry covered by its hash.
HASHED = (*ENTRY_COLUMNS, "recorded_at")


def _locked(exc: Exception) -> bool:
    m = str(exc).lower()
    return "lock" in m or "conflicting" in m or "being used" in m


def retry_locked(fn: Callable, timeout: float = LOCK_WAIT_S, what: str = "the store"):
    """Call ``fn()``; while it fails because another process holds the DuckDB file, retry
    (backing off up to 0.5 s) for at most ``timeout`` seconds, then raise a DataError."""
    t0 = time.monotonic()
    delay = 0.05
    while True:
        try:
            return fn()
        except DataError as exc:
            if not _locked(exc):
                raise
            if time.monotonic() - t0 > timeout:
                raise DataError(f"{what} is held by another process for more than {timeout:.0f} s; "
                                f"try again when it has finished") from None
            time.sleep(delay)
            delay = min(0.5, delay * 1.6)


def open_store(path: str | Path | None = None, *, timeout: float = LOCK_WAIT_S) -> Store:
    """A writable :class:`Store` with its connection open (waiting for another process's lock)."""
    st = Store(path)

    def go():
        st.close()
        _ = st.con
        return st

    return retry_locked(go, timeout, what=str(st.path))


def utcnow() -> _dt.datetime:
    """Now, UTC, naive, microseconds (the store's timestamp convention)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class BookState:
    """Where the ledger stands: entry count, last entry id and the head hash."""

    entries: int
    last_entry: int
    head: str

    @property
    def id(self) -> str:
        """Short form of the head hash (16 hex digits), used to name a book state."""
        return self.head[:16]

    def to_dict(self) -> dict:
        return {"entries": self.entries, "last_entry": self.last_entry, "head": self.head, "id": self.id}


@dataclass
class BatchResult:
    """What one write to the ledger did."""

    batch: int
    entries_added: int
    file: str | None = None
    format: str = "api"
    already_imported: bool = False
    accounts_added: int = 0
    first_entry: int | None = None
    last_entry: int | None = None
    notes: list[str] | None = None

    @property
    def status(self) -> str:
        if self.already_imported:
            return f"already imported (batch {self.batch}); nothing added"
        parts = [f"batch {self.batch}: {self.entries_added} ledger entr{'y' if self.entries_added == 1 else 'ies'} added"]
        if self.entries_added:
            parts.append(f"(entries {self.first_entry}..{self.last_entry})")
        if self.accounts_added:
            parts.append(f"{self.accounts_added} account(s) added")
        return " ".join(parts)


class BookStore:
    """Accounts and the ledger in the store file (see the module docstring).

    Parameters
    ----------
    path : path, optional
        The store file (default: the price store, ``$COMPUTEFOLIO_HOME/store.duckdb``).
    timeout : float
        Seconds to wait for another process holding the file.

    Use as a context manager (or call :meth:`close`) so that the file is released.
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = LOCK_WAIT_S):
        self.store = Store(path)
        self.path = self.store.path
        self.timeout = timeout
        self._ready = False

    def __enter__(self) -> "BookStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BookStore({str(self.path)!r})"

    def close(self) -> None:
        self.store.close()
        self._ready = False

    @property
    def con(self):
        """The DuckDB connection (opened on first use, waiting for a lock; tables created)."""
        if not self._ready:
            self.store = open_store(self.path, timeout=self.timeout)
            for stmt in _SCHEMA:
                self.store.con.execute(stmt)
            self._ready = True
        return self.store.con

    @contextlib.contextmanager
    def transaction(self):
        """``BEGIN``/``COMMIT``, or ``ROLLBACK`` on any exception (the store is left as it was)."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ accounts
    def accounts(self) -> dict[str, Account]:
        """Accounts by id."""
        rows = self.con.execute("SELECT account, kind, venue, currency, venues, cash_min, name FROM book_accounts "
                                "ORDER BY account").fetchall()
        return {r[0]: Account(r[0], r[1], r[2], r[3], tuple((r[4] or "").split("|")) if r[4] else (), float(r[5]),
                              r[6] or "") for r in rows}

    def add_accounts(self, accounts: Iterable[Account], *, _con=None) -> tuple[int, int]:
        """Add accounts; an account already stored with the same fields is skipped, one with
        different fields is refused (accounts are not edited in place). Returns (added, unchanged)."""
        have = self.accounts()
        new, same = [], 0
        for a in accounts:
            if a.account in have:
                if have[a.account].to_dict() != a.to_dict():
                    raise DataError(f"account {a.account} exists with other fields ({have[a.account].to_dict()}); "
                                    f"accounts are not edited: open a new account and transfer")
                same += 1
                continue
            new.append(a)
        if not new:
            return 0, same

        def write(con):
            now = utcnow()
            for a in new:
                con.execute("INSERT INTO book_accounts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [a.account, a.kind, a.venue, a.currency, "|".join(a.venues) or None, a.cash_min,
                             a.name or None, now])

        if _con is not None:
            write(_con)
        else:
            with self.transaction() as con:
                write(con)
        return len(new), same

    # ------------------------------------------------------------------ ledger
    def entries(self, asof=None, *, with_hash: bool = False) -> pd.DataFrame:
        """Ledger entries in ``entry_id`` order (dated on or before ``asof`` when given)."""
        cols = list(ENTRY_COLUMNS) + ["recorded_at"] + (["prev_hash", "hash"] if with_hash else [])
        sql = f"SELECT {', '.join(cols)} FROM book_entries"
        args = []
        if asof is not None:
            sql += " WHERE date <= ?"
            args.append(pd.Timestamp(asof).date())
        rows = self.con.execute(sql + " ORDER BY entry_id", args).fetchall()
        df = pd.DataFrame(rows, columns=cols)
        for c in ("date", "settle_date"):
            df[c] = pd.to_datetime(df[c])
        return df

    def state(self) -> BookState:
        """The ledger's current state (count, last id, head hash)."""
        r = self.con.execute("SELECT count(*), coalesce(max(entry_id), 0) FROM book_entries").fetchall()[0]
        n, last = int(r[0]), int(r[1])
        head = GENESIS
        if n:
            head = self.con.execute("SELECT hash FROM book_entries WHERE entry_id = ?", [last]).fetchall()[0][0]
        return BookState(n, last, head)

    def append(self, entries: Iterable[Mapping], *, universe=None, fx=None, settle=None, file: str | None = None,
               fmt: str = "api", sha256: str | None = None, rows_read: int | None = None,
               accounts: Iterable[Account] = (), con=None) -> BatchResult:
        """Check and append entries in one transaction (all or nothing).

        Parameters
        ----------
        entries : iterable of mappings
            Fields of :data:`~computefolio.book.ledger.ENTRY_COLUMNS` (``entry_id`` and
            ``batch`` are assigned here).
        universe, fx, settle
            As for :func:`~computefolio.book.ledger.normalize_entry`.
        file, fmt, sha256, rows_read
            Recorded in ``book_imports``.
        accounts : Accounts to add in the same transaction.
        con : an open transaction to write in (the caller commits), optional.

        Raises
        ------
        DataError
            Naming the entry (its position in the batch, or ``ref``), the field and what
            was expected. Nothing is written.
        """
        if con is None:
            with self.transaction() as c:
                return self.append(entries, universe=universe, fx=fx, settle=settle, file=file, fmt=fmt,
                                   sha256=sha256, rows_read=rows_read, accounts=accounts, con=c)
        added_acc = self.add_accounts(accounts, _con=con)[0] if accounts else 0
        accts = self.accounts()
        state = self.state()
        reversed_ids = {int(r[0]) for r in con.execute(
            "SELECT reverses FROM book_entries WHERE reverses IS NOT NULL").fetchall()}
        known = {int(r[0]): r for r in con.execute(
            "SELECT entry_id, kind, account, symbol, currency FROM book_entries").fetchall()}
        batch = int(con.execute("SELECT coalesce(max(batch), 0) + 1 FROM book_imports").fetchall()[0][0])
        now = utcnow()
        prev = state.head
        eid = state.last_entry
        out = []
        entries = list(entries)
        where = file or "entries"
        for k, raw in enumerate(entries):
            label = raw.get("_row", f"entry {k + 1}")
            try:
                e = normalize_entry(raw, accounts=accts, universe=universe, fx=fx, settle=settle)
            except ValueError as exc:
                raise DataError(f"{where}: {label}: {exc}") from None
            eid += 1
            if e["kind"] == "reversal":
                r = e["reverses"]
                if r not in known:
                    raise DataError(f"{where}: {label}: field 'reverses': an existing entry id, got {r}")
                if r in reversed_ids:
                    raise DataError(f"{where}: {label}: field 'reverses': entry {r} is already reversed")
                reversed_ids.add(r)
                _, _, a, s, c = known[r]
                e.update(account=a, symbol=s, currency=c)
            e["entry_id"], e["batch"] = eid, batch
            known[eid] = (eid, e["kind"], e["account"], e["symbol"], e["currency"])
            row = {c: e.get(c) for c in ENTRY_COLUMNS}
            row["recorded_at"] = now
            h = link_hash(prev, row)
            out.append([*(row[c] for c in HASHED), prev, h])
            prev = h
        if out:
            con.executemany(f"INSERT INTO book_entries ({', '.join(HASHED)}, prev_hash, hash) VALUES "
                            f"({', '.join('?' * (len(HASHED) + 2))})", out)
        con.execute("INSERT INTO book_imports VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [batch, file, fmt, sha256, len(entries) if rows_read is None else rows_read, len(out), now])
        return BatchResult(batch, len(out), file=file, format=fmt, accounts_added=added_acc,
                           first_entry=state.last_entry + 1 if out else None, last_entry=eid if out else None)

    def imported(self, sha256: str) -> int | None:
        """Batch of an earlier import of the same bytes, or None."""
        r = self.con.execute("SELECT batch FROM book_imports WHERE sha256 = ? ORDER BY batch LIMIT 1",
                             [sha256]).fetchall()
        return int(r[0][0]) if r else None

    def imports(self) -> pd.DataFrame:
        """The import log, oldest first."""
        return self.con.execute("SELECT * FROM book_imports ORDER BY batch").df()

    def verify(self, head: str | None = None) -> tuple[bool, str | None, int]:
        """Check the ledger's hash chain (see :func:`~computefolio.book.chain.verify_chain`)."""
        cur = self.con.execute(f"SELECT {', '.join(HASHED)}, prev_hash, hash FROM book_entries ORDER BY entry_id")
        names = [d[0] for d in cur.description]
        rows = (dict(zip(names, r)) for r in cur.fetchall())
        return verify_chain(rows, HASHED, seq="entry_id", head=head)

    # ------------------------------------------------------------------ files
    def import_file(self, path: str | Path, *, universe=None, fx=None, settle=None) -> BatchResult:
        """Import an accounts, positions-snapshot or transactions CSV (format by its header;
        see :mod:`computefolio.book.formats`), atomically and once per file content."""
        from .formats import read_book_file, snapshot_entries

        p = Path(path)
        if not p.is_file():
            raise DataError(f"{p}: file not found")
        sha = file_sha256(p)
        prev = self.imported(sha)
        if prev is not None:
            return BatchResult(prev, 0, file=str(p), already_imported=True)
        fmt, rows, accounts = read_book_file(p, universe=universe, fx=fx)
        with self.transaction() as con:
            if fmt == "accounts":
                added, same = self.add_accounts(accounts, _con=con)
                res = self.append([], file=str(p), fmt=fmt, sha256=sha, rows_read=len(accounts), con=con)
                res.accounts_added = added
                res.notes = [f"{same} account(s) already stored with the same fields"] if same else []
                return res
            if fmt == "snapshot":
                n_rows = len(rows)
                rows, notes = snapshot_entries(rows, self.entries(), p, fx=fx)
                res = self.append(rows, universe=universe, fx=fx, settle=settle, file=str(p), fmt=fmt, sha256=sha,
                                  rows_read=n_rows, con=con)
                res.notes = notes
                return res
            return self.append(rows, universe=universe, fx=fx, settle=settle, file=str(p), fmt=fmt, sha256=sha,
                               con=con)
