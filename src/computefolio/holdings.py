"""The holdings file: a book given to ``computefolio risk`` as weights, amounts or quantities.

Two forms, the same meaning:

* YAML (:class:`HoldingsFile`): exactly one of ``weights:`` (fractions of capital),
  ``holdings:`` (amounts in the book's currency) or ``quantities:`` (units: shares,
  coins), each a mapping ``symbol -> number``::

      description: model book, 30 June
      weights: {BTC: 0.20, ETH: 0.10, NVDA: 0.08}

* CSV (:class:`HoldingsRow` per row): a ``symbol`` column and exactly one of ``weight``,
  ``value`` or ``quantity``; column names are case-insensitive, each symbol once.

Every symbol must be in the universe (checked when the file is loaded, with the line
of the file); every number finite and within the ranges below. Quantities are valued at
the last close by the caller. The reference page ``docs/reference/holdings.md`` is
generated from these models.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .config import line_of, load_yaml_model, read_text
from .errors import ConfigError, ItemFieldError

__all__ = ["HoldingsFile", "HoldingsRow", "Holdings", "load_holdings", "is_holdings_yaml"]

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoldingsFile(_Strict):
    """A book in YAML: exactly one of ``weights``, ``holdings`` or ``quantities``."""

    description: str = Field(default="", description="free text, shown nowhere but kept with the file")
    weights: dict[str, float] | None = Field(
        default=None, description="symbol -> fraction of capital, each in [-10, 10] (the rest is cash)")
    holdings: dict[str, float] | None = Field(
        default=None, description="symbol -> amount in the book's currency, each of magnitude at most 1e15; "
                                  "capital defaults to their gross sum")
    quantities: dict[str, float] | None = Field(
        default=None, description="symbol -> units held (shares, coins), valued at the last close")

    @model_validator(mode="after")
    def _one_kind(self):
        given = [k for k in ("weights", "holdings", "quantities") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ItemFieldError(None, "weights", "exactly one of 'weights', 'holdings' or 'quantities'"
                                 + (f" (got {', '.join(given)})" if given else ""))
        book = getattr(self, given[0])
        if not book:
            raise ItemFieldError(None, given[0], "at least one symbol")
        if given[0] == "weights":
            for s, w in book.items():
                if not -10.0 <= w <= 10.0:
                    raise ItemFieldError(None, f"weights.{s}", f"a fraction of capital in [-10, 10], got {w!r}")
        return self

    @property
    def kind(self) -> Literal["weight", "value", "quantity"]:
        """``weight``, ``value`` (currency amounts) or ``quantity`` (units)."""
        return "weight" if self.weights is not None else ("value" if self.holdings is not None else "quantity")

    @property
    def book(self) -> dict[str, float]:
        return dict(self.weights or self.holdings or self.quantities or {})


class HoldingsRow(_Strict):
    """One row of a holdings CSV: ``symbol`` and exactly one of ``weight``, ``value``, ``quantity``
    (the same column on every row)."""

    symbol: str = Field(min_length=1, description="a symbol of the universe, once per file")
    weight: float | None = Field(default=None, ge=-10.0, le=10.0, description="fraction of capital")
    value: float | None = Field(default=None, description="amount in the book's currency")
    quantity: float | None = Field(default=None, description="units held, valued at the last close")


@dataclass(frozen=True)
class Holdings:
    """A loaded book: ``book`` (Series over symbols) of ``kind`` weight/value/quantity."""

    book: pd.Series
    kind: str
    file: str


def is_holdings_yaml(raw) -> bool:
    """True when parsed YAML looks like a holdings file (a top-level weights/holdings/quantities key)."""
    return isinstance(raw, dict) and any(k in raw for k in ("weights", "holdings", "quantities"))


def _check_symbols(symbols, universe, file: str, where) -> None:
    """Every symbol in the universe; ``where(i, symbol)`` gives (field, line) for the message."""
    if universe is None:
        return
    for i, s in enumerate(symbols):
        if s not in universe:
            known = ", ".join(sorted(universe.symbols)[:10])
            fld, line = where(i, s)
            raise ConfigError(file, fld, f"a symbol of the universe {universe.name} ({known}, ...); got {s!r}",
                              line=line)


def load_holdings(path: str | Path, universe=None) -> Holdings:
    """Read a holdings YAML or CSV file (by suffix: ``.yaml``/``.yml`` is YAML, anything else CSV).

    Raises
    ------
    ConfigError
        One line naming the file, the line or row and the field.
    """
    p = Path(path)
    file = str(p)
    if p.suffix.lower() in (".yaml", ".yml"):
        h = load_yaml_model(p, HoldingsFile)
        key = {"weight": "weights", "value": "holdings", "quantity": "quantities"}[h.kind]
        _check_symbols(list(h.book), universe, file, lambda i, s: (f"{key}.{s}", line_of(file, (key, s))))
        return Holdings(pd.Series(h.book, dtype=float), h.kind, file)
    text = read_text(p, what="a UTF-8 CSV file")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as exc:  # any parser error
        raise ConfigError(file, "(file)", f"a CSV file ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "symbol" not in df.columns:
        raise ConfigError(file, "symbol", "a 'symbol' column", line=1)
    dup = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dup:
        raise ConfigError(file, dup[0], "each column once", line=1)
    kinds = [k for k in ("weight", "value", "quantity") if k in df.columns]
    extra = [c for c in df.columns if c not in ("symbol", "weight", "value", "quantity")]
    if len(kinds) != 1 or extra:
        raise ConfigError(file, "(columns)", "'symbol' and exactly one of 'weight', 'value' or 'quantity' "
                                             f"(got {', '.join(df.columns)})", line=1)
    kind = kinds[0]
    if df.empty:
        raise ConfigError(file, "(file)", "at least one row below the header")
    syms, vals = [], []
    for i, (s, v) in enumerate(zip(df["symbol"].str.strip(), df[kind].str.strip())):
        row = i + 2  # the header is line 1
        try:
            r = HoldingsRow.model_validate({"symbol": s, kind: v})
            x = getattr(r, kind)
        except Exception:
            raise ConfigError(file, kind, f"a number{' in [-10, 10]' if kind == 'weight' else ''} on every row "
                                          f"(row of {s!r}: {v!r})", line=row) from None
        if x is None or not (abs(x) <= 1e15):
            raise ConfigError(file, kind, f"a finite number of magnitude at most 1e15 (row of {s!r}: {v!r})", line=row)
        syms.append(r.symbol)
        vals.append(float(x))
    seen: dict[str, int] = {}
    for i, s in enumerate(syms):
        if s in seen:
            raise ConfigError(file, "symbol", f"each symbol once ({s!r} is also on line {seen[s]})", line=i + 2)
        seen[s] = i + 2
    _check_symbols(syms, universe, file, lambda i, s: ("symbol", i + 2))
    return Holdings(pd.Series(vals, index=syms, dtype=float), kind, file)
