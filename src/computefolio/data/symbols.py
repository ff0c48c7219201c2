"""Symbol mapping for live data, as data: which source serves an asset, under which symbol.

An asset of the universe names its source symbols per venue in its optional ``sources``
field (``{binance: BTC/USDT, yahoo: BTC-USD}``) and its ticker changes in ``migrations``
(``RNDR -> RENDER`` from 2024-07-26). Where the universe is silent, the defaults here apply:

* the **default source** of an asset: its ``venue`` when that is a crypto exchange ccxt
  serves (:data:`EXCHANGES`), Yahoo for everything else (equities, ETFs, indices, rates)
  and for crypto listed on another venue;
* the **default symbol**: Yahoo's ticker (``BRK.B`` -> ``BRK-B``; crypto ``BTC-USD``; indices
  and rates as they are, ``^IRX``); on an exchange ``BASE/QUOTE`` with the exchange's usual
  quote (:data:`DEFAULT_QUOTE`: USDT on Binance, Bybit and OKX; USD on Coinbase and Kraken).

The **quote currency** is the part of a ccxt symbol after ``/`` (before ``:`` for a
perpetual): USDT is not USD. The USDT/USD rate is synced beside the prices (:data:`QUOTE_RATES`)
and a day it strays from 1 by more than :data:`DEPEG_TOL` is flagged.

A **migration** continues the series: bars before its date are fetched under the old
symbol (their prices divided by ``ratio``, volumes multiplied by it) and stored under the
asset's symbol. It is not a new asset and not a delisting.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..clock import CRYPTO, XNYS

YAHOO = "yahoo"
#: Crypto exchanges served through ccxt.
EXCHANGES: tuple[str, ...] = ("binance", "coinbase", "kraken", "okx", "bybit")
SOURCES: tuple[str, ...] = (YAHOO, *EXCHANGES)
#: The quote currency an exchange's default symbol uses.
DEFAULT_QUOTE: dict[str, str] = {"binance": "USDT", "bybit": "USDT", "okx": "USDT", "coinbase": "USD",
                                 "kraken": "USD"}
#: A quote currency that is not USD -> (symbol stored, source, source symbol) of its USD rate.
QUOTE_RATES: dict[str, tuple[str, str, str]] = {"USDT": ("USDT", YAHOO, "USDT-USD")}
#: A quote currency closing further than this from 1 USD (relative) is flagged as de-pegged that day.
DEPEG_TOL = 0.005
#: Symbols outside a universe that ``data sync --symbols`` accepts (Yahoo): symbol -> (asset class, calendar).
EXTRA_SYMBOLS: dict[str, tuple[str, str]] = {"^IRX": ("rate", XNYS), "^TNX": ("rate", XNYS), "^FVX": ("rate", XNYS),
                                             "^TYX": ("rate", XNYS), "^GSPC": ("index", XNYS),
                                             "^NDX": ("index", XNYS), "^IXIC": ("index", XNYS),
                                             "USDT": ("crypto", CRYPTO)}


@dataclass(frozen=True)
class Segment:
    """The dates one source symbol serves: ``[start, end)`` (None: open-ended)."""

    source_symbol: str
    start: dt.date | None
    end: dt.date | None
    ratio: float = 1.0


@dataclass(frozen=True)
class SourceRef:
    """Where one asset's bars come from.

    Attributes
    ----------
    symbol : str
        The universe symbol the rows are stored under.
    source : str
        ``"yahoo"`` or an exchange id.
    source_symbol : str
        The current symbol at the source.
    quote : str
        Quote currency of the prices.
    asset_class, calendar : str
    listed : date or None
        First day to ask for on a first sync (the asset's listing date).
    segments : tuple of Segment
        The source symbols in date order (one unless the asset migrated).
    """

    symbol: str
    source: str
    source_symbol: str
    quote: str
    asset_class: str
    calendar: str
    listed: dt.date | None
    segments: tuple[Segment, ...]

    @property
    def perpetual(self) -> bool:
        return ":" in self.source_symbol

    def describe(self) -> str:
        if len(self.segments) == 1:
            return self.source_symbol
        parts = [f"{s.source_symbol} until {s.end}" if s.end else f"{s.source_symbol} from {s.start}"
                 for s in self.segments]
        return ", ".join(parts)


def default_source(asset) -> str | None:
    """The source of an asset when none is chosen (None: the asset is not fetched live)."""
    if asset.asset_class in ("private", "cash"):
        return None
    if asset.asset_class == "crypto":
        v = (asset.venue or "").lower()
        return v if v in EXCHANGES else YAHOO
    return YAHOO


def derive_symbol(ticker: str, asset_class: str, source: str) -> str:
    """The default source symbol of ``ticker`` (see the module docstring)."""
    if source == YAHOO:
        if asset_class == "crypto":
            return f"{ticker}-USD"
        if asset_class in ("index", "rate"):
            return ticker
        return ticker.replace(".", "-")
    return f"{ticker}/{DEFAULT_QUOTE.get(source, 'USDT')}"


def quote_of(source_symbol: str, source: str, asset_class: str, currency: str = "USD") -> str:
    """Quote currency named by a source symbol (ccxt ``BASE/QUOTE[:SETTLE]``; Yahoo ``BASE-USD``)."""
    if "/" in source_symbol:
        return source_symbol.split("/", 1)[1].split(":", 1)[0]
    if source == YAHOO and asset_class == "crypto" and "-" in source_symbol:
        return source_symbol.rsplit("-", 1)[1]
    return currency


def _rename(current: str, old: str, new: str) -> str:
    """The old source symbol: the current one with its base ticker swapped back."""
    for sep in ("/", "-"):
        if sep in current:
            base, rest = current.split(sep, 1)
            if base == new:
                return f"{old}{sep}{rest}"
    return old if current == new else current.replace(new, old, 1)


def resolve(asset, source: str | None = None) -> SourceRef | None:
    """Where ``asset`` (a universe Asset) is fetched from ``source`` (default: its default source).

    Returns None for assets that are not fetched live (private stakes, cash).
    """
    src = source or default_source(asset)
    if src is None:
        return None
    if src not in SOURCES:
        raise ValueError(f"unknown source {src!r}: one of {', '.join(SOURCES)}")
    current = (asset.sources or {}).get(src) or derive_symbol(asset.symbol, asset.asset_class, src)
    segments: list[Segment] = []
    migrations = sorted(asset.migrations or [], key=lambda m: m.dates.get(src, m.date))
    start = None
    for i, m in enumerate(migrations):
        end = m.dates.get(src, m.date)
        later_ratio = 1.0
        for later in migrations[i:]:
            later_ratio *= later.ratio
        new = migrations[i + 1].old if i + 1 < len(migrations) else asset.symbol
        old_sym = m.sources.get(src) or _rename(current if i + 1 == len(migrations) else
                                                derive_symbol(new, asset.asset_class, src), m.old, new)
        segments.append(Segment(old_sym, start, end, later_ratio))
        start = end
    segments.append(Segment(current, start, None, 1.0))
    return SourceRef(symbol=asset.symbol, source=src, source_symbol=current,
                     quote=quote_of(current, src, asset.asset_class, asset.currency),
                     asset_class=asset.asset_class, calendar=asset.calendar, listed=asset.listed,
                     segments=tuple(segments))


def extra_ref(symbol: str, source: str = YAHOO) -> SourceRef:
    """A symbol outside the universe (:data:`EXTRA_SYMBOLS`, e.g. the ``^IRX`` rate) from Yahoo."""
    cls, cal = EXTRA_SYMBOLS[symbol]
    ss = derive_symbol(symbol, cls, source)
    return SourceRef(symbol=symbol, source=source, source_symbol=ss, quote=quote_of(ss, source, cls), asset_class=cls,
                     calendar=cal, listed=None, segments=(Segment(ss, None, None, 1.0),))
