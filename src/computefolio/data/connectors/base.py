"""The contract every live connector keeps, and the retry rule they share.

A connector fetches the daily bars of one source symbol over a date range and returns a
:class:`Fetched`: bars in the store's long format (one row per day, ``date`` a naive
normalized label on the asset's own clock), the corporate actions the source reports
(splits, dividends), funding rates for perpetuals, and notes (history cut by the source,
ticker segments). Connectors never validate or store: :mod:`computefolio.data.sync` does.

Dates
-----
* Crypto exchanges stamp daily candles at their open, 00:00 UTC: the label is that UTC
  day (the close is 24:00 UTC). A candle stamped at any other time of day is refused
  (:class:`BadResponse`), never shifted: that is how a one-day date shift gets in.
* Yahoo stamps daily bars at 00:00 exchange-local time: the label is the local session
  date, read off the local timestamp (never converted to UTC first).

Failures are typed so that a sync can say what happened per symbol and per source:
:class:`SourceOffline` (the source cannot be reached at all: the other symbols of that
source are not tried), :class:`RateLimited` (HTTP 429 still after the retries),
:class:`BadResponse` (HTML instead of JSON, a malformed or mis-stamped answer),
:class:`NoData` (an empty answer), :class:`UnknownSymbol`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import pandas as pd

from ...errors import DataError
from ..market import FIELDS

T = TypeVar("T")

#: Columns of :attr:`Fetched.bars`.
BAR_COLUMNS = ["date", *FIELDS]
#: Columns of :attr:`Fetched.actions`: ``action`` is ``"split"`` (value: new shares per old
#: share) or ``"dividend"`` (value: cash per share, in the quote currency).
ACTION_COLUMNS = ["date", "action", "value"]
#: Columns of :attr:`Fetched.funding`: ``time`` (naive UTC) and ``rate`` (fraction per interval).
FUNDING_COLUMNS = ["time", "rate"]
DAY_MS = 86_400_000


class FetchError(DataError):
    """A source could not give the bars of a symbol (base class; the message is one line)."""

    reason = "failed"

    def __init__(self, source: str, symbol: str, message: str):
        self.source, self.symbol = source, symbol
        super().__init__(f"{source} {symbol}: {message}")
        self.detail = message


class SourceOffline(FetchError):
    """The source cannot be reached (no network, DNS failure, connection refused, down)."""

    reason = "offline"


class RateLimited(FetchError):
    """The source kept answering HTTP 429 (too many requests) after every retry."""

    reason = "rate limited"


class Timeout(FetchError):
    """The source kept timing out after every retry."""

    reason = "timeout"


class BadResponse(FetchError):
    """The source answered something that is not the documented format (HTML, malformed JSON,
    bars stamped off the day boundary)."""

    reason = "bad response"


class NoData(FetchError):
    """The source answered with no bars for the range."""

    reason = "no data"


class UnknownSymbol(FetchError):
    """The source does not know the symbol."""

    reason = "unknown symbol"


@dataclass
class Fetched:
    """What one connector call returns.

    Attributes
    ----------
    source, source_symbol : str
        The source (``"yahoo"``, ``"binance"``...) and its symbol (``"NVDA"``, ``"BTC/USDT"``).
    bars : pandas.DataFrame
        Columns :data:`BAR_COLUMNS`, one row per day in date order; ``date`` naive and
        normalized (UTC day for crypto, local session date for Yahoo). Prices in
        ``currency`` per unit; ``volume`` in units of the asset (shares, tokens).
        ``adj_close`` is NaN where the source has no adjusted close.
    actions : pandas.DataFrame
        Columns :data:`ACTION_COLUMNS` (splits and dividends reported by the source).
    funding : pandas.DataFrame
        Columns :data:`FUNDING_COLUMNS` (perpetuals only; empty otherwise).
    currency : str or None
        Quote currency of the prices (``"USD"``, ``"USDT"``).
    history_from : pandas.Timestamp or None
        Set when the source served less history than asked (Kraken keeps only its last
        720 daily candles): the first day it could serve.
    notes : list of str
        Human-readable facts about the fetch (history cut, ticker segments).
    requests : int
        HTTP calls made (pages and retries included).
    """

    source: str
    source_symbol: str
    bars: pd.DataFrame
    actions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ACTION_COLUMNS))
    funding: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FUNDING_COLUMNS))
    currency: str | None = None
    history_from: pd.Timestamp | None = None
    notes: list[str] = field(default_factory=list)
    requests: int = 0


class Connector(Protocol):
    """One source family: ``fetch(source_symbol, start, end)`` -> :class:`Fetched`."""

    name: str

    def fetch(self, source_symbol: str, start: dt.date, end: dt.date | None = None) -> Fetched:
        """Daily bars of ``source_symbol`` from ``start`` to ``end`` (inclusive; None: up to now,
        the current unfinished bar included)."""
        ...


def empty_bars() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype=float) for c in BAR_COLUMNS})
    out["date"] = pd.to_datetime(out["date"])
    return out


@dataclass
class Retry:
    """Retries with exponential backoff on rate limits and timeouts.

    Attributes
    ----------
    attempts : int
        Calls in all (the first one included).
    base_delay, max_delay : float
        Seconds before the second call, doubled each time, capped at ``max_delay``.
    sleep : callable
        ``time.sleep`` (tests pass a recorder).
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    waited: list[float] = field(default_factory=list)

    def run(self, call: Callable[[], T], classify: Callable[[BaseException], FetchError | None]) -> tuple[T, int]:
        """Call ``call`` until it succeeds; ``classify`` maps an exception to a FetchError
        (retried when it is a RateLimited or Timeout, raised at once otherwise) or None
        (re-raised as is). Returns the result and the number of calls made."""
        for i in range(max(1, self.attempts)):
            try:
                return call(), i + 1
            except FetchError:
                raise
            except Exception as exc:
                err = classify(exc)
                if err is None:
                    raise
                if not isinstance(err, (RateLimited, Timeout)) or i + 1 >= self.attempts:
                    raise err from None
                delay = min(self.max_delay, self.base_delay * 2 ** i)
                self.waited.append(delay)
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message, shortened (for one-line reports)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
