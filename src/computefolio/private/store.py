"""Marks and lock-up terms in the store, with provenance.

Tables in the store's DuckDB file (beside prices and the book):

``private_marks``
    One row per mark: ``symbol, date, reported, price, currency, source, reference, note``,
    and where it came from: ``batch`` (the import), ``file``, ``sha256``, ``imported_at``.
    One mark per (symbol, date); a mark is never edited: a corrected mark is a new import
    that leaves the old one and says so (the import refuses a changed price for a stored date
    and names it).
``private_terms``
    The lock-up, vesting and gate terms of the units of a symbol held in an account:
    ``account, symbol, position, quantity, terms`` (JSON of
    :class:`~computefolio.private.schedules.Terms`), with the batch that brought them.
``private_imports``
    One row per imported positions file: ``batch, file, sha256, marks, terms, policy`` (the
    file's NAV policy between marks, used by the book's NAV), ``imported_at``.

:meth:`PrivateStore.import_book` imports a positions file (its marks and its positions' terms)
in one transaction and once per file content (SHA-256): a file with one bad mark imports
nothing, and the error names the file, the mark and the field.
:meth:`PrivateStore.data` gives what the book's NAV needs (:class:`PrivateData`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .marks import Mark, Marks
from .schedules import Terms

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS private_imports (
        batch BIGINT PRIMARY KEY, file VARCHAR, sha256 VARCHAR, marks BIGINT NOT NULL, terms BIGINT NOT NULL,
        policy VARCHAR NOT NULL, imported_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS private_marks (
        symbol VARCHAR NOT NULL, date DATE NOT NULL, reported DATE NOT NULL, price DOUBLE NOT NULL,
        currency VARCHAR NOT NULL, source VARCHAR NOT NULL, reference VARCHAR, note VARCHAR, batch BIGINT NOT NULL,
        file VARCHAR, sha256 VARCHAR, imported_at TIMESTAMP NOT NULL, PRIMARY KEY (symbol, date))""",
    """CREATE TABLE IF NOT EXISTS private_terms (
        account VARCHAR NOT NULL, symbol VARCHAR NOT NULL, position VARCHAR NOT NULL, quantity DOUBLE NOT NULL,
        terms VARCHAR NOT NULL, batch BIGINT NOT NULL, imported_at TIMESTAMP NOT NULL, PRIMARY KEY (position))""",
]


@dataclass
class HeldTerms:
    """Terms of ``quantity`` units of ``symbol`` in ``account`` (one private position)."""

    account: str
    symbol: str
    position: str
    quantity: float
    terms: Terms

    def locked_units(self, day) -> float:
        return float(self.quantity * (1.0 - self.terms.unlocked_fraction(self.quantity, day)))


@dataclass
class PrivateData:
    """What the book's NAV needs for private positions: marks, terms and the NAV policy.

    Attributes
    ----------
    marks : Marks
    terms : list of HeldTerms
    policy : {"last_mark", "roll_forward"}
    """

    marks: Marks
    terms: list = field(default_factory=list)
    policy: str = "last_mark"

    def locked_units(self, account: str, symbol: str, day) -> float:
        """Units of ``symbol`` in ``account`` locked on ``day`` under the stored terms."""
        return float(sum(t.locked_units(day) for t in self.terms if t.account == account and t.symbol == symbol))


class PrivateStore:
    """Private marks and terms in a store file (see the module docstring).

    Parameters
    ----------
    book_store : computefolio.book.BookStore
        The store whose connection (and transactions) are used.
    """

    def __init__(self, book_store):
        self.bs = book_store
        self._ready = False

    @property
    def con(self):
        con = self.bs.con
        if not self._ready:
            for stmt in _SCHEMA:
                con.execute(stmt)
            self._ready = True
        return con

    def import_book(self, path, *, universe=None, today: dt.date | None = None) -> dict:
        """Import a positions file's marks and terms (atomic, once per file content).

        Returns ``{"batch", "marks", "terms", "already_imported"}``.

        Raises
        ------
        ConfigError, DataError
            A bad file or mark (nothing written); a stored mark whose price the file changes.
        """
        from ..data.store import file_sha256
        from .positions import load_private_book

        p = Path(path)
        book = load_private_book(p, universe=universe, today=today)
        marks = book.get_marks(universe=universe, today=today)
        sha = file_sha256(p)
        con = self.con
        prev = con.execute("SELECT batch FROM private_imports WHERE sha256 = ?", [sha]).fetchall()
        if prev:
            return {"batch": int(prev[0][0]), "marks": 0, "terms": 0, "already_imported": True}
        stored = {(r[0], r[1]): r[2] for r in con.execute("SELECT symbol, date, price FROM private_marks").fetchall()}
        new_marks = []
        for m in marks:
            key = (m.symbol, m.date)
            if key in stored:
                if abs(stored[key] - m.price) > 1e-9 * max(1.0, abs(m.price)):
                    raise DataError(f"{p}: {m.label}: field 'price': the stored mark of that date is {stored[key]:g} "
                                    f"(marks are not edited; give the correction a new date or note), got {m.price:g}")
                continue
            new_marks.append(m)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.bs.transaction() as c:
            batch = int(c.execute("SELECT coalesce(max(batch), 0) + 1 FROM private_imports").fetchall()[0][0])
            for m in new_marks:
                c.execute("INSERT INTO private_marks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          [m.symbol, m.date, m.known, m.price, m.currency, m.source, m.reference, m.note, batch,
                           str(p), sha, now])
            n_terms = 0
            for pos in book.positions:
                c.execute("DELETE FROM private_terms WHERE position = ?", [pos.id])
                c.execute("INSERT INTO private_terms VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [pos.account, pos.symbol, pos.id, pos.quantity, pos.terms.model_dump_json(), batch, now])
                n_terms += 1
            c.execute("INSERT INTO private_imports VALUES (?, ?, ?, ?, ?, ?, ?)",
                      [batch, str(p), sha, len(new_marks), n_terms, book.policy, now])
        return {"batch": batch, "marks": len(new_marks), "terms": n_terms, "already_imported": False,
                "policy": book.policy}

    def marks(self) -> Marks:
        """Every stored mark."""
        rows = self.con.execute("SELECT symbol, date, reported, price, currency, source, reference, note "
                                "FROM private_marks ORDER BY symbol, date").fetchall()
        return Marks([Mark(symbol=r[0], date=r[1], reported=r[2], price=float(r[3]), currency=r[4], source=r[5],
                           reference=r[6] or "", note=r[7] or "") for r in rows])

    def provenance(self) -> pd.DataFrame:
        """Every stored mark with its batch, file, SHA-256 and import time."""
        return self.con.execute("SELECT * FROM private_marks ORDER BY symbol, date").df()

    def terms(self) -> list[HeldTerms]:
        rows = self.con.execute("SELECT account, symbol, position, quantity, terms FROM private_terms "
                                "ORDER BY position").fetchall()
        return [HeldTerms(r[0], r[1], r[2], float(r[3]), Terms.model_validate(json.loads(r[4]))) for r in rows]

    def data(self, policy: str | None = None) -> PrivateData | None:
        """Marks and terms for the book's NAV (None when the store holds no marks). ``policy``
        defaults to the one of the last imported file, else ``last_mark``."""
        m = self.marks()
        if not len(m):
            return None
        if policy is None:
            r = self.con.execute("SELECT policy FROM private_imports ORDER BY batch DESC LIMIT 1").fetchall()
            policy = r[0][0] if r else "last_mark"
        return PrivateData(marks=m, terms=self.terms(), policy=policy)
