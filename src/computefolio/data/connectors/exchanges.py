"""Crypto exchanges through ``ccxt``: Binance, Coinbase, Kraken, OKX and Bybit (spot and perpetuals).

* Symbols are ccxt unified symbols: ``BTC/USDT`` (spot), ``BTC/USDT:USDT`` (a USDT-margined
  perpetual, whose funding rates are fetched beside the bars). The quote currency is the
  part after ``/``: USDT is not USD (see :mod:`computefolio.data.sync` for the de-peg flag).
* Daily candles (``timeframe="1d"``) are UTC days, stamped at 00:00 UTC (OKX's ``1Dutc``
  bar, which ccxt asks for by default; OKX's plain ``1D`` bar is Hong Kong time). A candle
  stamped at any other hour is refused, not shifted.
* Pagination over ``since``: each call asks for at most the exchange's cap
  (:data:`CANDLE_CAP`) from a cursor that moves past the last candle received; an empty
  window before a listing is stepped over. Kraken serves only its last 720 daily candles
  whatever ``since`` says (:data:`HISTORY_LIMIT`): the fetch says so in its notes and in
  ``history_from`` when the asked start is older.
* Rate limits: ccxt's own throttle (``enableRateLimit``) spaces the calls; HTTP 429
  (``RateLimitExceeded``/``DDoSProtection``) and timeouts are retried with exponential
  backoff (:class:`~computefolio.data.connectors.base.Retry`); a connection that cannot
  be made at all is :class:`~computefolio.data.connectors.base.SourceOffline`.
* Markets: ``load_markets()`` over the network (restricted to the market types needed),
  unless ``markets`` are given (ccxt ``set_markets``: no network call; the tests do this).

ccxt is imported on first use (the ``live`` extra).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .base import (DAY_MS, FUNDING_COLUMNS, BadResponse, Fetched, FetchError, NoData, RateLimited, Retry,
                   SourceOffline, Timeout, UnknownSymbol, empty_bars, first_line)

#: Exchanges this module supports (ccxt ids).
EXCHANGES: tuple[str, ...] = ("binance", "coinbase", "kraken", "okx", "bybit")
#: Most daily candles one ``fetch_ohlcv`` call returns, per exchange.
CANDLE_CAP: dict[str, int] = {"binance": 1000, "bybit": 1000, "kucoin": 1500, "kraken": 720, "coinbase": 300,
                              "okx": 300}
#: Exchanges that serve only their most recent N daily candles, whatever ``since`` asks.
HISTORY_LIMIT: dict[str, int] = {"kraken": 720}
#: Most funding-rate entries per ``fetch_funding_rate_history`` call.
FUNDING_CAP: dict[str, int] = {"binance": 1000, "bybit": 200, "okx": 100}
#: Earliest start asked of an exchange when a symbol has no listing date.
EARLIEST = dt.date(2017, 1, 1)


def _ccxt():
    try:
        import ccxt
    except ImportError as exc:  # pragma: no cover - the live extra is installed in tests
        raise SourceOffline("ccxt", "*", f"the ccxt package is not installed (pip install 'computefolio[live]'): {exc}") from None
    return ccxt


def _ms(day: dt.date) -> int:
    return int(pd.Timestamp(day).value // 1_000_000)


def classify(exc: BaseException, source: str, symbol: str) -> FetchError | None:
    """Map a ccxt exception to a typed FetchError (None: not ours, re-raise)."""
    ccxt = _ccxt()
    msg = first_line(exc)
    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return RateLimited(source, symbol, f"HTTP 429 / rate limit ({msg})")
    if isinstance(exc, ccxt.RequestTimeout):
        return Timeout(source, symbol, f"no answer in time ({msg})")
    if isinstance(exc, ccxt.ExchangeNotAvailable):
        return SourceOffline(source, symbol, f"cannot reach {source} ({msg})")
    if isinstance(exc, ccxt.NetworkError):
        return SourceOffline(source, symbol, f"network error ({msg})")
    if isinstance(exc, ccxt.BadSymbol):
        return UnknownSymbol(source, symbol, f"{source} does not list it ({msg})")
    if isinstance(exc, ccxt.BaseError):
        return BadResponse(source, symbol, f"{type(exc).__name__}: {msg}")
    if isinstance(exc, (KeyError, TypeError, IndexError, AttributeError, ValueError)):
        return BadResponse(source, symbol, f"answer not in {source}'s documented format ({type(exc).__name__}: {msg})")
    return None


class ExchangeConnector:
    """Daily candles (and funding of perpetuals) from one exchange through ccxt.

    Parameters
    ----------
    exchange_id : str
        A ccxt id (``"binance"``, ``"coinbase"``, ``"kraken"``, ``"okx"``, ``"bybit"``).
    markets : sequence of dict, optional
        ccxt unified market structures to use instead of loading markets over the network.
    exchange : ccxt.Exchange, optional
        A ready exchange object (tests pass a stub whose ``fetch_ohlcv`` returns ccxt's
        unified arrays).
    retry : Retry, optional
        Backoff on 429 and timeouts.
    timeout : float
        Seconds per HTTP call.
    now : callable, optional
        Returns the current time as a UTC ``pandas.Timestamp`` (where pagination stops).
    """

    def __init__(self, exchange_id: str, *, markets: Sequence[dict] | None = None, exchange=None,
                 retry: Retry | None = None, timeout: float = 20.0, now: Callable[[], pd.Timestamp] | None = None):
        self.name = exchange_id
        self.markets = list(markets) if markets is not None else None
        self.retry = retry or Retry()
        self.timeout = timeout
        self.now = now or (lambda: pd.Timestamp.now(tz="UTC"))
        self._ex = exchange
        self._loaded = exchange is not None and markets is None
        self.cap = CANDLE_CAP.get(exchange_id, 500)

    # ------------------------------------------------------------------ exchange
    def exchange(self):
        """The ccxt exchange object, with markets set or loaded (once)."""
        if self._ex is None:
            ccxt = _ccxt()
            cls = getattr(ccxt, self.name, None)
            if cls is None:
                raise UnknownSymbol(self.name, "*", f"ccxt has no exchange {self.name!r}")
            self._ex = cls({"enableRateLimit": True, "timeout": int(self.timeout * 1000)})
            self._ex.enableLastHttpResponse = True
        if not self._loaded:
            ex = self._ex
            if self.markets is not None:
                ex.set_markets(self.markets)
            else:
                types = ex.options.get("fetchMarkets")
                if isinstance(types, dict) and "types" in types:  # spot and perpetuals only
                    types["types"] = [t for t in types["types"] if t in ("spot", "linear", "swap")]
                self.retry.run(ex.load_markets, lambda e: classify(e, self.name, "markets"))
            self._loaded = True
        return self._ex

    # ------------------------------------------------------------------ fetch
    def fetch(self, source_symbol: str, start: dt.date | None, end: dt.date | None = None) -> Fetched:
        """Daily candles of ``source_symbol`` from ``start`` to ``end`` (inclusive; None: up to
        now, the current unfinished UTC day included), paginated over the exchange's cap."""
        ex = self.exchange()
        start = start or EARLIEST
        now = self.now()
        stop_ms = _ms(end) if end is not None else int(now.value // 1_000_000)
        cursor = _ms(start)
        rows: dict[int, list] = {}
        calls = 0
        notes: list[str] = []
        while cursor <= stop_ms:
            page, n = self.retry.run(lambda: ex.fetch_ohlcv(source_symbol, "1d", since=cursor, limit=self.cap),
                                     lambda e: classify(e, self.name, source_symbol))
            calls += n
            if page is None or not isinstance(page, list):
                raise BadResponse(self.name, source_symbol, f"fetch_ohlcv answered {type(page).__name__}, not a list of candles")
            if not page:
                _check_json(ex, self.name, source_symbol)
            got = [r for r in page if isinstance(r, (list, tuple)) and len(r) >= 6 and r[0] is not None]
            if len(got) != len(page):
                raise BadResponse(self.name, source_symbol, "a candle is not [time, open, high, low, close, volume]")
            got = [r for r in got if cursor <= int(r[0]) <= stop_ms]
            if not got:
                if self.name in HISTORY_LIMIT:
                    break  # Kraken: nothing newer than the cursor
                cursor += self.cap * DAY_MS  # an empty window (before a listing): step over it
                continue
            for r in got:
                rows[int(r[0])] = list(r[:6])
            last = max(int(r[0]) for r in got)
            if self.name in HISTORY_LIMIT:
                break  # one call returns all the exchange keeps
            cursor = last + DAY_MS
        if not rows:
            raise NoData(self.name, source_symbol, f"no daily candles from {start}" + (f" to {end}" if end else ""))
        bars = _bars(self.name, source_symbol, rows)
        history_from = None
        first = bars["date"].iloc[0]
        if self.name in HISTORY_LIMIT and first > pd.Timestamp(start) + pd.Timedelta(days=1):
            history_from = first
            notes.append(f"{self.name} serves only its last {HISTORY_LIMIT[self.name]} daily candles: "
                         f"history before {first.date()} is not available from this source")
        market = ex.markets.get(source_symbol, {}) if getattr(ex, "markets", None) else {}
        quote = market.get("quote") or source_symbol.split("/")[1].split(":")[0]
        funding = pd.DataFrame(columns=FUNDING_COLUMNS)
        if ":" in source_symbol:
            funding, n = self._funding(ex, source_symbol, start, stop_ms)
            calls += n
        return Fetched(source=self.name, source_symbol=source_symbol, bars=bars, funding=funding, currency=quote,
                       history_from=history_from, notes=notes, requests=calls)

    def _funding(self, ex, symbol: str, start: dt.date, stop_ms: int) -> tuple[pd.DataFrame, int]:
        """Funding-rate history of a perpetual (rate per funding interval, as a fraction)."""
        if not ex.has.get("fetchFundingRateHistory"):
            return pd.DataFrame(columns=FUNDING_COLUMNS), 0
        cap = FUNDING_CAP.get(self.name, 100)
        cursor, calls, seen = _ms(start), 0, {}
        while cursor <= stop_ms:
            page, n = self.retry.run(lambda: ex.fetch_funding_rate_history(symbol, since=cursor, limit=cap),
                                     lambda e: classify(e, self.name, symbol))
            calls += n
            got = [p for p in (page or []) if p.get("timestamp") is not None and int(p["timestamp"]) >= cursor]
            if not got:
                break
            for p in got:
                seen[int(p["timestamp"])] = float(p["fundingRate"]) if p.get("fundingRate") is not None else np.nan
            cursor = max(int(p["timestamp"]) for p in got) + 1
        out = pd.DataFrame({"time": pd.to_datetime(list(seen), unit="ms"), "rate": list(seen.values())},
                           columns=FUNDING_COLUMNS)
        return out.sort_values("time").reset_index(drop=True), calls


def _check_json(ex, source: str, symbol: str) -> None:
    """ccxt turns an answer that is not JSON (an HTML page) into an empty list: look at the
    raw answer of the last call and say what it was."""
    raw = getattr(ex, "last_http_response", None)
    if not isinstance(raw, str) or not raw.strip():
        return
    try:
        json.loads(raw)
    except ValueError:
        text = " ".join(raw.split())[:80]
        raise BadResponse(source, symbol, f"answered something that is not JSON: {text!r}") from None


def _bars(source: str, symbol: str, rows: dict[int, list]) -> pd.DataFrame:
    keys = sorted(rows)
    arr = np.array([[np.nan if v is None else v for v in rows[k][1:6]] for k in keys], dtype=float)
    ts = np.array(keys, dtype=np.int64)
    off = ts % DAY_MS
    if off.any():
        i = int(np.flatnonzero(off)[0])
        stamp = pd.Timestamp(int(ts[i]), unit="ms")
        raise BadResponse(source, symbol, f"daily candle stamped {stamp} UTC (not 00:00 UTC): refusing to guess its day")
    if not len(keys):
        return empty_bars()
    return pd.DataFrame({"date": pd.to_datetime(ts, unit="ms"), "open": arr[:, 0], "high": arr[:, 1],
                         "low": arr[:, 2], "close": arr[:, 3], "adj_close": np.nan, "volume": arr[:, 4]})


def market_stub(exchange_id: str, symbol: str, market_id: str | None = None) -> dict:
    """A minimal ccxt unified market for ``set_markets`` (``BASE/QUOTE`` or ``BASE/QUOTE:SETTLE``).

    ``market_id`` is the exchange's own id (``BTCUSDT`` on Binance, ``BTC-USD`` on Coinbase,
    ``XXBTZUSD`` on Kraken); by default it is derived the way Binance/Bybit (``BASEQUOTE``) and
    Coinbase/OKX (``BASE-QUOTE``, ``BASE-QUOTE-SWAP`` on OKX) spell it.
    """
    base, rest = symbol.split("/")
    quote, _, settle = rest.partition(":")
    swap = bool(settle)
    if market_id is None:
        if exchange_id in ("coinbase",):
            market_id = f"{base}-{quote}"
        elif exchange_id == "okx":
            market_id = f"{base}-{quote}" + ("-SWAP" if swap else "")
        else:
            market_id = f"{base}{quote}"
    return {"id": market_id, "symbol": symbol, "base": base, "quote": quote, "settle": settle or None,
            "baseId": base, "quoteId": quote, "settleId": settle or None, "type": "swap" if swap else "spot",
            "spot": not swap, "margin": False, "swap": swap, "future": False, "option": False,
            "contract": swap, "linear": True if swap else None, "inverse": False if swap else None,
            "contractSize": 1.0 if swap else None, "active": True,
            "precision": {"amount": None, "price": None}, "limits": {}, "info": {"id": market_id}}
