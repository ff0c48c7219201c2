"""Yahoo Finance through the ``yfinance`` package: equities, ETFs, indices, rates (``^IRX``)
and Yahoo's crypto pairs (``BTC-USD``).

What a bar holds (``Ticker.history(auto_adjust=False, actions=True, keepna=True)``):

* ``open, high, low, close``: Yahoo's prices, **split-adjusted** (Yahoo rewrites them after
  every split even with ``auto_adjust=False``; yfinance #2076), not dividend-adjusted.
* ``adj_close``: adjusted for splits and dividends (rewritten after every dividend too).
* ``volume``: shares (split-adjusted) or, for crypto pairs, units of the coin.
* Splits (new shares per old share) and dividends (cash per share) as actions.
* Dates: the local session date. yfinance stamps a daily bar 00:00 in the exchange's
  time zone; the label is read off that local timestamp, never converted to UTC first
  (converting shifts every date back by one: vectorbt #640). For ``-USD`` crypto pairs
  Yahoo's exchange zone is UTC, so the label is the UTC day.
* ``keepna=True``: rows Yahoo sends with missing values are kept so that validation
  reports them (yfinance would otherwise drop them silently).

yfinance is imported on first use (it is in the ``live`` extra, not the core install).
It talks HTTP through ``curl_cffi`` unless ``YF_DISABLE_CURL_CFFI=1`` was set before
the import, in which case it uses ``requests`` (what the tests intercept with the
``responses`` library).
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd

from .base import (ACTION_COLUMNS, BadResponse, Fetched, FetchError, NoData, RateLimited, Retry, SourceOffline,
                   Timeout, UnknownSymbol, empty_bars, first_line)

NAME = "yahoo"
#: Earliest start asked of Yahoo when a symbol has no listing date (Yahoo serves from the first trade).
EARLIEST = dt.date(1970, 1, 2)


def _yf():
    try:
        import yfinance as yf
    except ImportError as exc:  # pragma: no cover - the live extra is installed in tests
        raise SourceOffline(NAME, "*", f"the yfinance package is not installed (pip install 'computefolio[live]'): {exc}") from None
    yf.config.debug.hide_exceptions = False  # errors as exceptions, not log lines
    yf.config.network.retries = 0  # retries are ours (Retry), with backoff
    return yf


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def _chain(exc: BaseException):
    """The exception and those it was raised from or while handling (root causes last)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify(exc: BaseException, symbol: str) -> FetchError | None:
    """Map what yfinance (and requests or curl_cffi under it) raises to a typed FetchError."""
    for e in _chain(exc):  # a connection failure under another error (yfinance re-raises oddly) is still offline
        n = _names(e)
        if "ConnectionError" in n or "ConnectTimeout" in n or "DNSError" in n:
            return SourceOffline(NAME, symbol, f"cannot reach Yahoo ({first_line(e)})")
    names = _names(exc)
    msg = first_line(exc)
    if "YFRateLimitError" in names:
        return RateLimited(NAME, symbol, "HTTP 429 Too Many Requests")
    if "ConnectionError" in names or "ConnectTimeout" in names or "DNSError" in names:
        return SourceOffline(NAME, symbol, f"cannot reach Yahoo ({msg})")
    if names & {"Timeout", "ReadTimeout", "TimeoutError"}:
        return Timeout(NAME, symbol, f"no answer in time ({msg})")
    if "YFDataException" in names:
        return SourceOffline(NAME, symbol, msg)
    if names & {"YFTzMissingError"}:
        return UnknownSymbol(NAME, symbol, f"Yahoo does not know it ({msg})")
    if names & {"YFPricesMissingError", "YFTickerMissingError"}:
        return NoData(NAME, symbol, msg)
    if "JSONDecodeError" in names:
        return BadResponse(NAME, symbol, "answered something that is not JSON (an HTML page?)")
    if names & {"KeyError", "TypeError", "IndexError", "AttributeError", "ValueError"}:
        return BadResponse(NAME, symbol, f"answer not in Yahoo's chart format ({type(exc).__name__}: {msg})")
    return None


class YahooConnector:
    """Daily bars from Yahoo Finance (see the module docstring).

    Parameters
    ----------
    retry : Retry, optional
        Backoff on HTTP 429 and timeouts (default: 5 calls, 1 s doubling to 30 s).
    timeout : float
        Seconds per HTTP call.
    min_interval : float
        Seconds between two symbols' fetches (Yahoo rate-limits bursts).
    """

    name = NAME

    def __init__(self, *, retry: Retry | None = None, timeout: float = 20.0, min_interval: float = 0.5):
        self.retry = retry or Retry()
        self.timeout = timeout
        self.min_interval = min_interval
        self._last = 0.0

    def fetch(self, source_symbol: str, start: dt.date | None, end: dt.date | None = None) -> Fetched:
        """Daily bars of ``source_symbol`` from ``start`` (None: from the first trade) to ``end``
        (inclusive; None: up to now, the current unfinished session included)."""
        yf = _yf()
        wait = self.min_interval - (time.monotonic() - self._last)
        if wait > 0:
            self.retry.sleep(wait)
        start = start or EARLIEST
        kwargs = dict(start=start.isoformat(), interval="1d", auto_adjust=False, actions=True, keepna=True,
                      repair=False, timeout=self.timeout)
        if end is not None:
            kwargs["end"] = (end + dt.timedelta(days=1)).isoformat()  # yfinance's end is exclusive

        ticker = yf.Ticker(source_symbol)

        def call():
            return ticker.history(**kwargs)

        try:
            df, calls = self.retry.run(call, lambda e: classify(e, source_symbol))
        finally:
            self._last = time.monotonic()
        meta = {}
        try:
            meta = ticker.get_history_metadata() or {}
        except Exception:  # metadata is a nicety; the bars are what matter
            meta = {}
        if df is None or len(df) == 0:
            raise NoData(NAME, source_symbol, f"no bars from {start}" + (f" to {end}" if end else ""))
        return Fetched(source=NAME, source_symbol=source_symbol, bars=_bars(df, source_symbol),
                       actions=_actions(df), currency=meta.get("currency"), requests=calls)


def _local_dates(index: pd.Index, symbol: str) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_localize(None)  # wall-clock local time: the session date stays as it is
    if (idx != idx.normalize()).any():
        bad = idx[idx != idx.normalize()][0]
        raise BadResponse(NAME, symbol, f"daily bar stamped {bad} (not 00:00 local): refusing to guess its date")
    return idx


def _bars(df: pd.DataFrame, symbol: str) -> pd.DataFrame:
    dates = _local_dates(df.index, symbol)
    out = empty_bars() if df.empty else pd.DataFrame({
        "date": dates,
        "open": pd.to_numeric(df.get("Open"), errors="coerce"),
        "high": pd.to_numeric(df.get("High"), errors="coerce"),
        "low": pd.to_numeric(df.get("Low"), errors="coerce"),
        "close": pd.to_numeric(df.get("Close"), errors="coerce"),
        "adj_close": pd.to_numeric(df.get("Adj Close", df.get("Close")), errors="coerce"),
        "volume": pd.to_numeric(df.get("Volume"), errors="coerce"),
    }).reset_index(drop=True)
    for c in out.columns[1:]:
        out[c] = out[c].astype(float)
    return out.sort_values("date", kind="stable").reset_index(drop=True)


def _actions(df: pd.DataFrame) -> pd.DataFrame:
    dates = pd.DatetimeIndex(df.index)
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    rows = []
    for col, kind in (("Stock Splits", "split"), ("Dividends", "dividend")):
        if col in df.columns:
            v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
            for i in np.flatnonzero(np.nan_to_num(v) != 0):
                rows.append((dates[i].normalize(), kind, float(v[i])))
    return pd.DataFrame(rows, columns=ACTION_COLUMNS)
