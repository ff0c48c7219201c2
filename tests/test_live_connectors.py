"""Connectors on recorded answers (hand-built from the sources' documented formats), never the network.

Yahoo: yfinance uses ``requests`` in tests (``YF_DISABLE_CURL_CFFI=1``, set in conftest) and the
``responses`` library answers its four calls (cookie page, getcrumb, the chart time-zone probe and
the chart history). Exchanges: ccxt's sync classes use ``requests`` too; markets are set from
``tests/recorded/live/exchanges/markets.json`` (``set_markets``: no markets call).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("yfinance", reason="the live extra (yfinance, ccxt) is not installed")
pytest.importorskip("ccxt", reason="the live extra (yfinance, ccxt) is not installed")
responses = pytest.importorskip("responses", reason="responses (test extra) is not installed")

sys.path.insert(0, str(Path(__file__).parent / "recorded" / "live"))
import livemock  # noqa: E402

from computefolio.data.connectors import (BadResponse, NoData, RateLimited, Retry, SourceOffline,  # noqa: E402
                                          make_connector)
from computefolio.data.connectors.exchanges import CANDLE_CAP, ExchangeConnector  # noqa: E402
from computefolio.data.connectors.yahoo import YahooConnector  # noqa: E402

NOW = pd.Timestamp("2024-06-14 01:00", tz="UTC")
DAY_MS = 86_400_000


class Sleeps(list):
    def __call__(self, s):
        self.append(s)


@pytest.fixture
def yahoo(tmp_path):
    livemock.reset_yfinance(tmp_path)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        yield livemock.Yahoo(rs)


def exchange(name, sleeps=None, now=NOW):
    return ExchangeConnector(name, markets=livemock.markets(name), retry=Retry(sleep=sleeps if sleeps is not None else Sleeps()),
                             now=lambda: now)


# ---------------------------------------------------------------------------- Yahoo
def test_yahoo_bars_are_local_session_dates_with_actions(yahoo):
    yahoo.serve("NVDA", "NVDA_2024-06-12.json")
    f = YahooConnector(min_interval=0).fetch("NVDA", dt.date(2024, 6, 3))
    # stamped 13:30 UTC (09:30 New York): the label is the New York session date, not shifted
    assert list(f.bars["date"].dt.strftime("%Y-%m-%d")) == ["2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06",
                                                           "2024-06-07", "2024-06-10", "2024-06-11", "2024-06-12"]
    raw = livemock.load_json("yahoo", "NVDA_2024-06-12.json")["chart"]["result"][0]
    np.testing.assert_allclose(f.bars["close"], raw["indicators"]["quote"][0]["close"], rtol=0)
    np.testing.assert_allclose(f.bars["adj_close"], raw["indicators"]["adjclose"][0]["adjclose"], rtol=0)
    np.testing.assert_allclose(f.bars["volume"], raw["indicators"]["quote"][0]["volume"], rtol=0)
    assert f.currency == "USD"
    acts = {(str(r.date.date()), r.action): r.value for r in f.actions.itertuples()}
    assert acts == {("2024-06-10", "split"): 10.0, ("2024-06-11", "dividend"): 0.01}
    q = yahoo.history_calls("NVDA")[0]
    assert q["interval"] == "1d" and "div" in q["events"] and "splits" in q["events"]


def test_yahoo_crypto_pair_is_the_utc_day(yahoo):
    yahoo.serve("USDT-USD", "USDT-USD_2022-05-14.json")
    f = YahooConnector(min_interval=0).fetch("USDT-USD", dt.date(2022, 5, 10))
    assert f.bars["date"].iloc[0] == pd.Timestamp("2022-05-10") and f.bars["date"].iloc[-1] == pd.Timestamp("2022-05-14")


def test_yahoo_rate_symbol_keeps_negative_yields(yahoo):
    yahoo.serve("^IRX", "IRX_2020-03-25.json")
    f = YahooConnector(min_interval=0).fetch("^IRX", dt.date(2020, 3, 23))
    assert f.bars["close"].tolist() == [-0.043, 0.013, -0.003]


def test_yahoo_429_then_success_backs_off(yahoo):
    too_many = (429, "Too Many Requests")
    yahoo.serve("NVDA", too_many, too_many, "NVDA_2024-06-07.json", tz="NVDA_2024-06-07.json")
    sleeps = Sleeps()
    f = YahooConnector(min_interval=0, retry=Retry(sleep=sleeps)).fetch("NVDA", dt.date(2024, 6, 3))
    assert len(f.bars) == 5 and f.requests == 2
    assert sleeps == [1.0]  # one backoff (yfinance itself re-asks once with another cookie before giving up)


def test_yahoo_429_for_ever_is_rate_limited(yahoo):
    yahoo.serve("NVDA", (429, "Too Many Requests"), tz="NVDA_2024-06-07.json")
    sleeps = Sleeps()
    with pytest.raises(RateLimited, match="429"):
        YahooConnector(min_interval=0, retry=Retry(attempts=3, sleep=sleeps)).fetch("NVDA", dt.date(2024, 6, 3))
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("answer, error, words", [
    ("not_json.html", BadResponse, "not JSON"),
    ("NVDA_empty.json", NoData, "no price data"),
])
def test_yahoo_garbage_is_a_typed_error(yahoo, answer, error, words):
    yahoo.serve("NVDA", answer, tz="NVDA_2024-06-07.json")
    with pytest.raises(error, match=words):
        YahooConnector(min_interval=0).fetch("NVDA", dt.date(2024, 6, 3))


def test_yahoo_offline(tmp_path):
    import requests

    livemock.reset_yfinance(tmp_path)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.add(responses.GET, re.compile(r"https://.*"), body=requests.exceptions.ConnectionError("no route to host"))
        with pytest.raises(SourceOffline, match="cannot reach Yahoo"):
            YahooConnector(min_interval=0).fetch("NVDA", dt.date(2024, 6, 3))


# ---------------------------------------------------------------------------- exchanges, raw JSON
EXPECTED_CLOSE = {"2024-06-10": 69508.0, "2024-06-11": 67321.37, "2024-06-12": 68243.1, "2024-06-13": 66756.23}


@pytest.mark.parametrize("name, symbol, pattern, file", [
    ("binance", "BTC/USDT", r"https://api\.binance\.com/api/v3/klines.*", "binance_klines_BTCUSDT.json"),
    ("coinbase", "BTC/USD", r"https://api\.coinbase\.com/api/v3/brokerage/market/products/BTC-USD/candles.*",
     "coinbase_candles_BTC-USD.json"),
    ("kraken", "BTC/USD", r"https://api\.kraken\.com/0/public/OHLC.*", "kraken_ohlc_XXBTZUSD.json"),
    ("okx", "BTC/USDT", r"https://www\.okx\.com/api/v5/market/(history-)?candles.*", "okx_candles_BTC-USDT.json"),
    ("bybit", "BTC/USDT", r"https://api\.bybit\.com/v5/market/kline.*", "bybit_kline_BTCUSDT.json"),
])
def test_exchange_raw_answers_parse_to_utc_days(name, symbol, pattern, file):
    calls: list[str] = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        livemock.serve_file(rs, name, pattern, file, calls=calls)
        f = exchange(name).fetch(symbol, dt.date(2024, 6, 10))
    got = {str(d.date()): c for d, c in zip(f.bars["date"], f.bars["close"])}
    # Kraken's closes are recorded with one decimal
    assert got.keys() == EXPECTED_CLOSE.keys()
    for d, c in EXPECTED_CLOSE.items():
        assert got[d] == pytest.approx(c, abs=0.051)
    assert f.bars["adj_close"].isna().all() and (f.bars["volume"] > 0).all()
    assert f.currency == symbol.split("/")[1]
    q = parse_qs(urlparse(calls[0]).query)
    if name == "okx":
        assert q["bar"] == ["1Dutc"]  # the UTC-aligned daily bar, not Hong Kong's 1D
    if name == "binance":
        assert q["interval"] == ["1d"] and q["symbol"] == ["BTCUSDT"] and int(q["limit"][0]) <= 1000


def test_okx_hong_kong_aligned_candles_are_refused_not_shifted():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        livemock.serve_file(rs, "okx", r"https://www\.okx\.com/api/v5/market/.*", "okx_candles_hk_aligned.json")
        with pytest.raises(BadResponse, match="16:00:00 UTC"):
            exchange("okx").fetch("BTC/USDT", dt.date(2024, 6, 9))


def _kline_server(days: pd.DatetimeIndex, calls: list):
    """Binance's klines endpoint over a synthetic daily series: at most ``limit`` (<= 1000)
    candles from ``startTime`` on, as the documented endpoint does."""
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))
    ms = (days.as_unit("ns").asi8 // 1_000_000).astype(np.int64)

    def cb(request):
        q = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        limit, start = int(q.get("limit", 500)), int(q["startTime"])
        calls.append((start, limit))
        if limit > 1000:
            return (400, {}, json.dumps({"code": -1130, "msg": "Invalid limit."}))
        i = np.searchsorted(ms, start)
        rows = [[int(ms[j]), f"{close[j]:.4f}", f"{close[j] * 1.01:.4f}", f"{close[j] * 0.99:.4f}", f"{close[j]:.4f}",
                 "10.0", int(ms[j]) + DAY_MS - 1, "1000.0", 5, "5.0", "500.0", "0"] for j in range(i, min(i + limit, len(ms)))]
        return (200, {"Content-Type": "application/json"}, json.dumps(rows))

    return cb, close


def test_pagination_across_the_candle_cap():
    days = pd.date_range("2021-01-01", periods=1234, freq="D")
    calls: list = []
    cb, close = _kline_server(days, calls)
    now = days[-1].tz_localize("UTC") + pd.Timedelta(hours=5)
    with responses.RequestsMock() as rs:
        rs.add_callback(responses.GET, re.compile(r"https://api\.binance\.com/api/v3/klines.*"), callback=cb)
        f = exchange("binance", now=now).fetch("BTC/USDT", dt.date(2021, 1, 1))
    assert CANDLE_CAP["binance"] == 1000
    assert [c[1] for c in calls] == [1000, 1000]  # two pages: 1000 candles, then the remaining 234
    assert calls[1][0] == int(days[1000].value // 1_000_000)  # the second page starts after the first
    assert len(f.bars) == 1234 and f.bars["date"].is_unique
    assert (f.bars["date"].to_numpy() == days.to_numpy()).all()
    np.testing.assert_allclose(f.bars["close"], np.round(close, 4))


def test_429_then_success_on_an_exchange():
    days = pd.date_range("2024-01-01", periods=30, freq="D")
    calls: list = []
    cb, _ = _kline_server(days, calls)
    answers = iter([(429, {"Retry-After": "1"}, json.dumps({"code": -1003, "msg": "Too many requests."}))])

    def first_429(request):
        nxt = next(answers, None)
        return nxt if nxt is not None else cb(request)

    sleeps = Sleeps()
    with responses.RequestsMock() as rs:
        rs.add_callback(responses.GET, re.compile(r"https://api\.binance\.com/api/v3/klines.*"), callback=first_429)
        f = exchange("binance", sleeps, now=days[-1].tz_localize("UTC") + pd.Timedelta(hours=1)).fetch(
            "BTC/USDT", dt.date(2024, 1, 1))
    assert len(f.bars) == 30 and sleeps == [1.0] and f.requests == 2


def test_exchange_offline_and_garbage():
    import requests

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.add(responses.GET, re.compile(r"https://api\.binance\.com/.*"),
               body=requests.exceptions.ConnectionError("Temporary failure in name resolution"))
        with pytest.raises(SourceOffline, match="binance"):
            exchange("binance").fetch("BTC/USDT", dt.date(2024, 6, 10))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.add(responses.GET, re.compile(r"https://api\.binance\.com/.*"), status=200,
               body="<html><body>Service unavailable from a restricted location</body></html>",
               content_type="text/html")
        with pytest.raises((BadResponse, SourceOffline)):
            exchange("binance").fetch("BTC/USDT", dt.date(2024, 6, 10))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.add(responses.GET, re.compile(r"https://api\.binance\.com/.*"), json=[])
        with pytest.raises(NoData, match="no daily candles"):
            exchange("binance").fetch("BTC/USDT", dt.date(2024, 6, 10))


# ---------------------------------------------------------------------------- exchanges, unified arrays
class StubExchange:
    """A ccxt-like exchange answering ``fetch_ohlcv`` with ccxt's unified arrays
    ``[ms, open, high, low, close, volume]`` over a series, honouring a cap and (Kraken) the
    last-N rule."""

    has = {"fetchFundingRateHistory": False}

    def __init__(self, days, cap, keep_last=None):
        self.ms = (days.as_unit("ns").asi8 // 1_000_000).astype(np.int64)
        self.cap, self.keep_last, self.calls = cap, keep_last, []
        self.markets = {}

    def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        self.calls.append((since, limit))
        assert timeframe == "1d" and limit <= self.cap
        ms = self.ms[-self.keep_last:] if self.keep_last else self.ms
        sel = ms[ms >= since][:limit] if not self.keep_last else ms[ms >= since]
        return [[int(m), 1.0, 1.1, 0.9, 1.05, 3.0] for m in sel]


def test_kraken_serves_only_its_last_720_days_and_says_so():
    days = pd.date_range("2020-01-01", "2024-06-13", freq="D")
    stub = StubExchange(days, cap=720, keep_last=720)
    con = ExchangeConnector("kraken", exchange=stub, now=lambda: NOW)
    f = con.fetch("BTC/USD", dt.date(2020, 1, 1))
    assert len(stub.calls) == 1 and len(f.bars) == 720
    assert f.history_from == days[-720]
    assert "only its last 720 daily candles" in f.notes[0] and str(days[-720].date()) in f.notes[0]


def test_windowed_exchange_steps_over_the_empty_years_before_a_listing():
    days = pd.date_range("2023-03-01", "2024-06-13", freq="D")
    stub = StubExchange(days, cap=300)

    def windowed(symbol, timeframe, since=None, limit=None):  # Coinbase: the window [since, since + limit days)
        stub.calls.append((since, limit))
        return [[int(m), 1.0, 1.1, 0.9, 1.05, 3.0] for m in stub.ms if since <= m < since + limit * DAY_MS]

    stub.fetch_ohlcv = windowed
    f = ExchangeConnector("coinbase", exchange=stub, now=lambda: NOW).fetch("BTC/USD", dt.date(2021, 1, 1))
    assert len(f.bars) == len(days) and f.bars["date"].iloc[0] == days[0]


def test_make_connector_names():
    assert make_connector("yahoo").name == "yahoo"
    assert make_connector("okx").name == "okx"
    with pytest.raises(ValueError, match="unknown source"):
        make_connector("ftx")
