"""Dated marks of private positions, with their provenance, and the checks every mark passes.

A **mark** is a price per unit of a private asset on a valuation date, with where it came
from. The unit is whatever the position counts: a share (CoreWeave before its IPO), a fund
interest unit, a token, or the whole company (a stake held as an ownership fraction is
marked at the company's post-money valuation, so value = fraction x valuation).

Sources (``source``):

==================  =========================================================================
``funding_round``   the price of a priced round (or the reported post-money valuation)
``secondary_trade`` a secondary sale or tender offer between holders
``fund_statement``  the NAV per unit a fund administrator reports for a quarter
``409a``            an independent appraisal of common stock (US IRC section 409A)
``ipo_price``       the offering price of an initial public offering
``manager_estimate`` the manager's own estimate (the weakest kind: say why in ``note``)
==================  =========================================================================

A mark has a valuation ``date`` (the day the price describes) and a ``reported`` date (the
day it became known: a quarter-end fund statement arrives weeks later). A NAV on day D uses
only marks *reported* on or before D, and a mark's **age** on D is counted from its
valuation date (``D - date``, calendar days).

Bad marks are refused one at a time with one line naming the symbol, the mark's date and the
field (:func:`check_mark`): a price that is not positive, a date after today, a reported date
before the valuation date, a currency other than the position's, a mark dated before the
position exists, and two marks of one symbol on one date.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from ..errors import DataError

#: Kinds of mark source (see the module docstring).
SOURCES: tuple[str, ...] = ("funding_round", "secondary_trade", "fund_statement", "409a", "ipo_price",
                            "manager_estimate")

#: Columns of :meth:`Marks.frame`.
MARK_COLUMNS: tuple[str, ...] = ("symbol", "date", "reported", "price", "currency", "source", "reference", "note")


def today_utc() -> dt.date:
    """Today's date in UTC (the bound for a mark's date)."""
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class Mark:
    """One dated mark (see the module docstring).

    Attributes
    ----------
    symbol : str
    date : datetime.date
        Valuation date: the day the price describes.
    price : float
        Currency per unit, > 0.
    currency : str
    source : str
        One of :data:`SOURCES`.
    reference : str
        Where the number comes from (a filing, a press report, a statement id).
    reported : datetime.date or None
        The day the mark became known (default: ``date``).
    note : str
        How the price was derived (e.g. valuation / share count), caveats.
    """

    symbol: str
    date: dt.date
    price: float
    currency: str = "USD"
    source: str = "funding_round"
    reference: str = ""
    reported: dt.date | None = None
    note: str = ""

    @property
    def known(self) -> dt.date:
        """The day the mark can first be used: ``reported``, else ``date``."""
        return self.reported or self.date

    @property
    def label(self) -> str:
        return f"{self.symbol} mark of {self.date}"

    def to_dict(self) -> dict:
        return {"symbol": self.symbol, "date": str(self.date), "reported": str(self.known), "price": self.price,
                "currency": self.currency, "source": self.source, "reference": self.reference, "note": self.note}


def _as_date(v, what: str) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        return pd.Timestamp(v).date()
    except (ValueError, TypeError):
        raise DataError(f"{what}: a date YYYY-MM-DD, got {v!r}") from None


def check_mark(m: Mark, *, currency: str | None = None, inception: dt.date | None = None,
               today: dt.date | None = None, where: str = "marks") -> None:
    """Refuse a bad mark with one line naming where, the mark and the field.

    Parameters
    ----------
    m : Mark
    currency : str, optional
        The position's (asset's) currency; a mark in another currency is refused.
    inception : date, optional
        The day the position was first acquired; a mark dated before it is refused.
    today : date, optional
        Upper bound for the valuation and reported dates (default: today, UTC).
    where : str
        File or table name for the message.

    Raises
    ------
    DataError
    """
    head = f"{where}: {m.label}"
    if not isinstance(m.price, (int, float)) or isinstance(m.price, bool) or not math.isfinite(m.price) \
            or m.price <= 0:
        raise DataError(f"{head}: field 'price': a positive price in {m.currency} per unit, got {m.price!r}")
    if m.source not in SOURCES:
        raise DataError(f"{head}: field 'source': one of {', '.join(SOURCES)}, got {m.source!r}")
    t = today or today_utc()
    if m.date > t:
        raise DataError(f"{head}: field 'date': not in the future (today is {t}); a mark describes a day "
                        f"that has happened, got {m.date}")
    if m.reported is not None:
        if m.reported < m.date:
            raise DataError(f"{head}: field 'reported': on or after the valuation date {m.date}, got {m.reported}")
        if m.reported > t:
            raise DataError(f"{head}: field 'reported': not in the future (today is {t}), got {m.reported}")
    if currency is not None and m.currency != currency:
        raise DataError(f"{head}: field 'currency': {currency}, the currency of {m.symbol} (a mark is never "
                        f"converted silently), got {m.currency}")
    if inception is not None and m.date < inception:
        raise DataError(f"{head}: field 'date': on or after {inception}, when the position was first acquired "
                        f"(a mark before the position exists), got {m.date}")


@dataclass
class Marks:
    """The marks of several symbols, checked, sorted by symbol and date.

    Build with :meth:`from_records` (or the positions file,
    :func:`computefolio.private.positions.load_private_book`).
    """

    items: list[Mark] = field(default_factory=list)

    def __post_init__(self):
        self.items = sorted(self.items, key=lambda m: (m.symbol, m.date))
        seen = set()
        for m in self.items:
            key = (m.symbol, m.date)
            if key in seen:
                raise DataError(f"marks: {m.label}: field 'date': one mark per symbol and date; {m.date} appears "
                                f"twice for {m.symbol}")
            seen.add(key)

    @classmethod
    def from_records(cls, records: Iterable[Mapping], *, currencies: Mapping[str, str] | None = None,
                     inception: Mapping[str, dt.date] | None = None, today: dt.date | None = None,
                     where: str = "marks") -> Marks:
        """Marks from mappings with the fields of :class:`Mark` (dates as text or dates).

        Every mark is checked (:func:`check_mark`) against its symbol's currency and
        inception when given.
        """
        out = []
        for k, r in enumerate(records):
            sym = str(r.get("symbol") or "").strip()
            if not sym:
                raise DataError(f"{where}: mark {k + 1}: field 'symbol': a symbol, got {r.get('symbol')!r}")
            d = _as_date(r.get("date"), f"{where}: {sym} mark {k + 1}: field 'date'")
            rep = r.get("reported")
            rep = None if rep in (None, "") or (isinstance(rep, float) and math.isnan(rep)) else \
                _as_date(rep, f"{where}: {sym} mark of {d}: field 'reported'")
            price = r.get("price")
            try:
                price = float(price)
            except (TypeError, ValueError):
                raise DataError(f"{where}: {sym} mark of {d}: field 'price': a number, got {price!r}") from None
            m = Mark(symbol=sym, date=d, price=price, currency=str(r.get("currency") or "USD"),
                     source=str(r.get("source") or ""), reference=str(r.get("reference") or ""),
                     reported=rep, note=str(r.get("note") or ""))
            check_mark(m, currency=(currencies or {}).get(sym), inception=(inception or {}).get(sym),
                       today=today, where=where)
            out.append(m)
        return cls(out)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __contains__(self, symbol: str) -> bool:
        return any(m.symbol == symbol for m in self.items)

    @property
    def symbols(self) -> list[str]:
        return list(dict.fromkeys(m.symbol for m in self.items))

    def of(self, symbol: str) -> list[Mark]:
        """Marks of one symbol, oldest first."""
        return [m for m in self.items if m.symbol == symbol]

    def known_at(self, symbol: str, day) -> list[Mark]:
        """Marks of ``symbol`` reported on or before ``day``, oldest valuation date first."""
        d = pd.Timestamp(day).date()
        return [m for m in self.of(symbol) if m.known <= d]

    def last(self, symbol: str, day) -> Mark | None:
        """The latest mark of ``symbol`` known on ``day`` (latest valuation date), or None."""
        k = self.known_at(symbol, day)
        return max(k, key=lambda m: m.date) if k else None

    def frame(self) -> pd.DataFrame:
        """All marks as a table (:data:`MARK_COLUMNS`; dates as timestamps)."""
        df = pd.DataFrame([{**m.__dict__, "reported": m.known} for m in self.items], columns=list(MARK_COLUMNS))
        for c in ("date", "reported"):
            df[c] = pd.to_datetime(df[c])
        return df

    def merged(self, other: Marks) -> Marks:
        """These marks and ``other``'s (a symbol and date given twice is refused)."""
        return Marks([*self.items, *other.items])
