"""Venue rules for orders: quantity steps, ticks, minimums, hours and settlement.

Rules come from ``resources/venues.yaml`` (calendar, settlement, quote currency, tick) and
``resources/costs_default.yaml`` (lot size and minimum notional, shared with the backtest).

Quantities are rounded **toward zero** the way a venue's filters require (Binance
``LOT_SIZE``: ``quantity >= minQty`` and ``(quantity - minQty)`` a multiple of
``stepSize``; ccxt's ``amount_to_precision`` truncates likewise), so a rounded order never
trades more than asked. An order whose notional is below the venue's minimum (Binance
``NOTIONAL``) or whose quantity rounds to nothing is dropped and listed, never sent.
Limit prices are rounded to the tick toward the passive side (a buy down, a sell up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from importlib import resources
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ..clock import CRYPTO, is_session, sessions
from ..config import load_yaml_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VenueSpec(_Strict):
    """Trading rules of one venue (see the module docstring)."""

    calendar: str = CRYPTO
    settlement_days: int = Field(default=0, ge=0, le=5)
    quote: str = "USD"
    tick_size: float | None = Field(default=None, gt=0)
    price_significant_digits: int | None = Field(default=None, ge=1, le=12)
    min_qty: float | None = Field(default=None, ge=0)


class AssetVenueSpec(_Strict):
    """Per-symbol overrides."""

    tick_size: float | None = Field(default=None, gt=0)
    min_qty: float | None = Field(default=None, ge=0)
    lot_size: float | None = Field(default=None, ge=0)
    min_notional: float | None = Field(default=None, ge=0)


class VenueBook(_Strict):
    """The venue rules file."""

    limit_band_bps: float = Field(default=50.0, ge=0, le=2000)
    venues: dict[str, VenueSpec] = Field(default_factory=dict)
    assets: dict[str, AssetVenueSpec] = Field(default_factory=dict)


def default_venues_path() -> Path:
    return Path(str(resources.files("computefolio") / "resources" / "venues.yaml"))


def load_venues(path: str | Path | None = None) -> VenueBook:
    """Load a venue rules file (the shipped one by default); ConfigError naming the field."""
    return load_yaml_model(default_venues_path() if path is None else Path(path), VenueBook)


@dataclass(frozen=True)
class Rule:
    """Resolved trading rules of one symbol on its venue."""

    symbol: str
    venue: str
    calendar: str
    settlement_days: int
    quote: str
    lot: float            # quantity step (0 = any quantity)
    min_qty: float        # smallest quantity
    min_notional: float   # smallest order value, quote currency
    tick: float | None    # price step
    sig_digits: int | None

    def round_qty(self, q: float) -> float:
        """``q`` rounded toward zero to the venue's filters (0 when below the minimum)."""
        return round_quantity(q, self.lot, self.min_qty)

    def round_price(self, price: float, side: str) -> float:
        """A limit price on the tick, toward the passive side (buy down, sell up)."""
        tick = self.tick
        if tick is None and self.sig_digits is not None and price > 0:
            tick = 10.0 ** (math.floor(math.log10(price)) - self.sig_digits + 1)
        if not tick:
            return float(price)
        d = Decimal(repr(float(price))) / Decimal(repr(float(tick)))
        n = d.to_integral_value(rounding=ROUND_FLOOR if side == "buy" else ROUND_CEILING)
        return float(n * Decimal(repr(float(tick))))

    def session(self, day) -> tuple[pd.Timestamp, bool]:
        """The session an order placed on ``day`` trades in, and whether it was deferred
        (the venue is closed on ``day``: the next session)."""
        d = pd.Timestamp(day).normalize()
        if self.calendar == CRYPTO or bool(is_session(self.calendar, [d])[0]):
            return d, False
        s = sessions(self.calendar, d, d + pd.Timedelta(days=14))
        return s[0], True

    def settlement(self, session) -> pd.Timestamp:
        """Settlement date of a trade in ``session`` (T + settlement_days sessions)."""
        d = pd.Timestamp(session).normalize()
        if self.settlement_days == 0:
            return d
        if self.calendar == CRYPTO:
            return d + pd.Timedelta(days=self.settlement_days)
        s = sessions(self.calendar, d + pd.Timedelta(days=1), d + pd.Timedelta(days=30))
        return s[self.settlement_days - 1]

    def is_open(self, day) -> bool:
        return self.calendar == CRYPTO or bool(is_session(self.calendar, [pd.Timestamp(day).normalize()])[0])

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("venue", "calendar", "settlement_days", "quote", "lot", "min_qty",
                                              "min_notional", "tick", "sig_digits")}


def round_quantity(q: float, step: float, min_qty: float = 0.0) -> float:
    """Round ``|q|`` toward zero so that ``|q| >= min_qty`` and ``|q| - min_qty`` is a multiple of
    ``step`` (Binance LOT_SIZE); 0 when ``|q| < min_qty``. The sign of ``q`` is kept.

    Exact decimal arithmetic on the shortest decimal form of each float (so 0.3 / 0.1 is 3,
    not 2.9999...); the result never exceeds ``|q|``.
    """
    if not math.isfinite(q) or q == 0:
        return 0.0
    a = Decimal(repr(abs(float(q))))
    mn = Decimal(repr(float(min_qty))) if min_qty else Decimal(0)
    if a < mn:
        return 0.0
    if step and step > 0:
        st = Decimal(repr(float(step)))
        n = ((a - mn) / st).to_integral_value(rounding=ROUND_FLOOR)
        r = mn + n * st
    else:
        r = a
    out = float(r)
    if out > abs(q):  # float of an exact decimal can sit one ulp above; never exceed the target
        out = math.nextafter(out, 0.0)
    return math.copysign(out, q) if out else 0.0


class VenueRules:
    """Rules per symbol from the venue file and the cost model.

    Parameters
    ----------
    venues : VenueBook, path or None (shipped)
    costs : CostModel, path, ``"default"`` or None (shipped costs_default.yaml)
    universe : Universe (each asset's venue)
    """

    def __init__(self, venues=None, costs=None, universe=None):
        from ..backtest.costs import as_cost_model

        self.book = venues if isinstance(venues, VenueBook) else load_venues(venues)
        self.costs = as_cost_model("default" if costs is None else costs)
        self.universe = universe
        self._cache: dict[str, Rule] = {}

    @property
    def limit_band(self) -> float:
        return self.book.limit_band_bps / 1e4

    def venue_of(self, symbol: str) -> str:
        if self.universe is not None and symbol in self.universe:
            return self.universe.asset(symbol).venue
        return self.costs.default_venue or "unknown"

    def rule(self, symbol: str) -> Rule:
        """Resolved :class:`Rule` of ``symbol``."""
        if symbol in self._cache:
            return self._cache[symbol]
        venue = self.venue_of(symbol)
        arr = self.costs.arrays([symbol], {symbol: venue})
        spec = self.book.venues.get(venue)
        cal = spec.calendar if spec is not None else (
            self.universe.asset(symbol).calendar if self.universe is not None and symbol in self.universe else CRYPTO)
        ov = self.book.assets.get(symbol) or AssetVenueSpec()
        lot = ov.lot_size if ov.lot_size is not None else float(arr["lot"][0])
        mn = ov.min_notional if ov.min_notional is not None else float(arr["min_notional"][0])
        min_qty = ov.min_qty if ov.min_qty is not None else (spec.min_qty if spec and spec.min_qty is not None else lot)
        tick = ov.tick_size if ov.tick_size is not None else (spec.tick_size if spec else None)
        r = Rule(symbol=symbol, venue=venue, calendar=cal, settlement_days=spec.settlement_days if spec else 0,
                 quote=spec.quote if spec else "USD", lot=float(lot or 0.0), min_qty=float(min_qty or 0.0),
                 min_notional=float(mn or 0.0), tick=tick,
                 sig_digits=None if tick is not None else (spec.price_significant_digits if spec else None))
        self._cache[symbol] = r
        return r

    def settle_fn(self):
        """``(symbol, date) -> settlement date`` for the ledger (trade date = session)."""
        def f(symbol, day):
            r = self.rule(symbol)
            return self.settlement_for(r, day)
        return f

    @staticmethod
    def settlement_for(r: Rule, day):
        s, _ = r.session(day)
        return r.settlement(s).date()
