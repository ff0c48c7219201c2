"""The private positions file: stakes, fund interests and token grants with their marks and terms.

One YAML document (validated by pydantic; a bad file gets one line naming the file, the item
and the field)::

    name: compute_backed_private
    currency: USD
    policy: roll_forward            # NAV between marks: last_mark | roll_forward
    positions:
      - id: crwv_series_c           # unique
        symbol: CRWV                # an asset of the universe (asset_class private, or one that lists later)
        quantity: 250000            # units: shares, fund units, tokens, or an ownership fraction
        acquired: 2024-05-01        # first day the position exists
        cost: 33.04                 # currency per unit paid (the entry mark when none is given that day)
        terms:                      # optional (computefolio.private.schedules.Terms)
          ipo_lockup: {listing: 2025-03-28, release: 2025-08-15, reference: "..."}
    marks:
      - {symbol: CRWV, date: 2024-05-01, price: 33.04, source: funding_round, reference: "...", note: "..."}
    tokens:                         # network supply of held tokens, for the overhang
      AKT: {circulating: 2.6e8, as_of: 2025-06-30, source: "...", unlocks: [...]}

Every mark is checked (:func:`computefolio.private.marks.check_mark`): positive, not in the
future, in the asset's currency, not before the first position in its symbol, one per
symbol and date. A position's symbol must be a universe asset; a token grant's symbol is the
token itself (valued at its market price, locked by its vesting).

The shipped file is ``resources/private_positions.yaml`` (:func:`default_private_path`).
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ..config import load_yaml_model
from ..errors import ConfigError, DataError, ItemFieldError
from .marks import Mark, Marks, check_mark, today_utc
from .nav import POLICIES
from .schedules import Terms, TokenSupply, scheduled_units

#: Kinds of private position.
KINDS: tuple[str, ...] = ("equity_stake", "spv", "fund_interest", "token_grant", "saft")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarkSpec(_Strict):
    symbol: str = Field(min_length=1)
    date: dt.date
    price: float
    currency: str = "USD"
    source: str
    reference: str = ""
    reported: dt.date | None = None
    note: str = ""

    def mark(self) -> Mark:
        return Mark(symbol=self.symbol, date=self.date, price=float(self.price), currency=self.currency,
                    source=self.source, reference=self.reference, reported=self.reported, note=self.note)


class Position(_Strict):
    """One private position (see the module docstring)."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    symbol: str = Field(min_length=1)
    kind: Literal["equity_stake", "spv", "fund_interest", "token_grant", "saft"] = "equity_stake"
    name: str = ""
    quantity: float = Field(gt=0)
    unit: str = "share"
    acquired: dt.date
    cost: float | None = Field(default=None, gt=0)
    account: str = "private"
    terms: Terms = Field(default_factory=Terms)
    reference: str = ""
    note: str = ""

    @model_validator(mode="after")
    def _vesting_total(self):
        if self.terms.vesting:
            tot = scheduled_units(self.terms.vesting, self.quantity)
            if tot > self.quantity * (1 + 1e-9):
                raise ItemFieldError(f"position {self.id}", "terms.vesting",
                                     f"sections unlocking at most the quantity {self.quantity:g}, they unlock {tot:g}")
        return self


class PrivateBook(_Strict):
    """A private positions file (see the module docstring)."""

    name: str = Field(min_length=1)
    description: str = ""
    currency: str = "USD"
    policy: Literal["last_mark", "roll_forward"] = "roll_forward"
    positions: list[Position] = Field(default_factory=list)
    marks: list[MarkSpec] = Field(default_factory=list)
    tokens: dict[str, TokenSupply] = Field(default_factory=dict)
    _file: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique(self):
        ids = [p.id for p in self.positions]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ItemFieldError(f"position {min(dup)}", "id", "unique; this id appears twice")
        return self

    @property
    def file(self) -> str | None:
        return self._file

    @property
    def symbols(self) -> list[str]:
        return list(dict.fromkeys(p.symbol for p in self.positions))

    def inception(self) -> dict[str, dt.date]:
        """First acquisition date per symbol."""
        out: dict[str, dt.date] = {}
        for p in self.positions:
            out[p.symbol] = min(out.get(p.symbol, p.acquired), p.acquired)
        return out

    def position(self, pid: str) -> Position:
        for p in self.positions:
            if p.id == pid:
                return p
        raise KeyError(f"no private position {pid!r}")

    def get_marks(self, *, universe=None, today: dt.date | None = None) -> Marks:
        """The file's marks, each checked (module docstring); a position's cost on its acquisition
        day counts as a mark (source ``funding_round`` for stakes, ``fund_statement`` for fund
        interests) when no mark of its symbol is dated that day.

        Raises
        ------
        DataError
            One line naming the file, the mark and the field.
        """
        where = self._file or "private positions"
        inc = self.inception()
        cur = {}
        for s in {*inc, *(m.symbol for m in self.marks)}:
            if universe is not None and s in universe:
                cur[s] = universe.asset(s).currency
            else:
                cur[s] = self.currency
        items = [m.mark() for m in self.marks]
        for m in items:
            if m.symbol not in inc:
                raise DataError(f"{where}: {m.label}: field 'symbol': a symbol of a position in this file "
                                f"({', '.join(sorted(inc))}), got {m.symbol!r}")
            check_mark(m, currency=cur.get(m.symbol), inception=inc.get(m.symbol), today=today, where=where)
        dated = {(m.symbol, m.date) for m in items}
        for p in self.positions:
            if p.cost is not None and (p.symbol, p.acquired) not in dated and p.kind != "token_grant":
                src = "fund_statement" if p.kind == "fund_interest" else "funding_round"
                m = Mark(symbol=p.symbol, date=p.acquired, price=float(p.cost), currency=cur.get(p.symbol, "USD"),
                         source=src, reference=f"cost of position {p.id}", note="entry price paid")
                check_mark(m, currency=cur.get(p.symbol), today=today, where=where)
                items.append(m)
                dated.add((p.symbol, p.acquired))
        try:
            return Marks(items)
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from None

    def check(self, universe, *, today: dt.date | None = None) -> PrivateBook:
        """Check the file against a universe: every symbol an asset of it, tokens held as grants,
        and every mark (:meth:`get_marks`). Returns ``self``."""
        where = self._file or "private positions"
        for p in self.positions:
            if p.symbol not in universe:
                raise ConfigError(where, "symbol", f"an asset of universe {universe.name!r}, got {p.symbol!r}",
                                  item=f"position {p.id}")
            a = universe.asset(p.symbol)
            if p.kind == "token_grant" and a.asset_class != "crypto":
                raise ConfigError(where, "kind", f"token_grant for a crypto asset; {p.symbol} is {a.asset_class}",
                                  item=f"position {p.id}")
            if p.kind != "token_grant" and a.asset_class not in ("private",) and a.listed is None:
                raise ConfigError(where, "symbol", f"a private asset (asset_class private) or one with a listing "
                                                   f"date; {p.symbol} is a listed {a.asset_class}",
                                  item=f"position {p.id}")
        for t in self.tokens:
            if t not in universe or universe.asset(t).asset_class != "crypto":
                raise ConfigError(where, f"tokens.{t}", "a crypto asset of the universe", item=None)
        self.get_marks(universe=universe, today=today)
        return self


def default_private_path() -> Path:
    """Path of the shipped ``resources/private_positions.yaml``."""
    return Path(str(resources.files("computefolio") / "resources" / "private_positions.yaml"))


def load_private_book(path: str | Path | None = None, *, universe=None, today: dt.date | None = None) -> PrivateBook:
    """Load and check a private positions file (the shipped one when ``path`` is None).

    Parameters
    ----------
    path : path, optional
    universe : Universe, optional
        When given, symbols and marks are checked against it (:meth:`PrivateBook.check`).
    today : date, optional
        Bound for mark dates (default: today, UTC).

    Raises
    ------
    ConfigError, DataError
        One line naming the file, the item and the field.
    """
    p = default_private_path() if path is None else Path(path)
    book = load_yaml_model(p, PrivateBook)
    book = book.model_copy()
    book._file = str(p)
    if universe is not None:
        book.check(universe, today=today)
    return book


def positions_frame(book: PrivateBook) -> pd.DataFrame:
    """One row per position: id, symbol, kind, name, quantity, unit, acquired, cost, account, terms."""
    return pd.DataFrame([{"id": p.id, "symbol": p.symbol, "kind": p.kind, "name": p.name, "quantity": p.quantity,
                          "unit": p.unit, "acquired": pd.Timestamp(p.acquired), "cost": p.cost, "account": p.account,
                          "terms": p.terms.describe()} for p in book.positions])


__all__ = [
    "KINDS",
    "POLICIES",
    "Position",
    "PrivateBook",
    "default_private_path",
    "load_private_book",
    "positions_frame",
    "today_utc",
]
