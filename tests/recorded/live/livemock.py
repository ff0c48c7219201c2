"""Serve the hand-built recorded answers under ``tests/recorded/live`` through ``responses``.

yfinance must talk through ``requests`` for this to work: ``YF_DISABLE_CURL_CFFI=1`` is set
before yfinance is imported (tests/conftest.py does it for the whole suite).
"""

from __future__ import annotations

import json
import re
from collections import deque
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import responses

HERE = Path(__file__).parent
YAHOO_CHART = re.compile(r"https://query\d\.finance\.yahoo\.com/v8/finance/chart/(?P<sym>[^?]+)")


def recorded(*parts: str) -> Path:
    return HERE.joinpath(*parts)


def load_json(*parts: str):
    return json.loads(recorded(*parts).read_text())


def reset_yfinance(cache_dir) -> None:
    """Forget yfinance's in-memory state (cookie, crumb, answers cached by URL) and point its
    disk caches (time zones, cookies) at ``cache_dir`` (takes effect before their first use)."""
    import yfinance as yf
    from yfinance.data import YfData

    yf.set_tz_cache_location(str(cache_dir))
    data = YfData()
    data._cookie = None
    data._crumb = None
    data._cookie_strategy = "basic"
    data.cache_get.cache_clear()


class Yahoo:
    """Register Yahoo's four calls on a ``responses`` mock: the cookie page, ``getcrumb`` and
    ``v8/finance/chart/{SYMBOL}`` (the time-zone probe and the history fetch).

    ``answers[symbol]`` is a queue of answers for the history calls: a file name under
    ``yahoo/`` (served with status 200), or ``(status, body)``; the last one repeats. The
    time-zone probe (``range=1d``) gets ``tz[symbol]`` (default: the first file answer).
    ``calls`` lists ``(symbol, query)`` of every chart call.
    """

    def __init__(self, rs: responses.RequestsMock):
        self.rs = rs
        self.answers: dict[str, deque] = {}
        self.tz: dict[str, str] = {}
        self.calls: list[tuple[str, dict]] = []
        rs.add(responses.GET, re.compile(r"https://fc\.yahoo\.com/?.*"), body="", status=404,
               headers={"Set-Cookie": "A3=d=recorded; Expires=Fri, 01 Jan 2038 00:00:00 GMT; Domain=.yahoo.com; Path=/"})
        rs.add(responses.GET, re.compile(r"https://query\d\.finance\.yahoo\.com/v1/test/getcrumb.*"),
               body="recordedcrumb", status=200)
        rs.add_callback(responses.GET, YAHOO_CHART, callback=self._chart)

    def serve(self, symbol: str, *answers, tz: str | None = None) -> "Yahoo":
        self.answers[symbol] = deque(answers)
        files = [a for a in answers if isinstance(a, str) and a.endswith(".json")]
        if tz or files:
            self.tz[symbol] = tz or files[0]
        return self

    def _chart(self, request):
        u = urlparse(request.url)
        sym = re.sub("%5E", "^", YAHOO_CHART.match(request.url).group("sym"))
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        self.calls.append((sym, q))
        if q.get("range") == "1d" and sym in self.tz:
            return (200, {"Content-Type": "application/json"}, recorded("yahoo", self.tz[sym]).read_text())
        queue = self.answers.get(sym)
        if not queue:
            return (404, {}, json.dumps({"chart": {"result": None, "error": {"code": "Not Found",
                                                                           "description": "No data found, symbol may be delisted"}}}))
        ans = queue[0] if len(queue) == 1 else queue.popleft()
        if isinstance(ans, tuple):
            status, body = ans
            return (status, {}, body)
        body = recorded("yahoo", ans).read_text()
        ctype = "text/html" if ans.endswith(".html") else "application/json"
        return (200, {"Content-Type": ctype}, body)

    def history_calls(self, symbol: str) -> list[dict]:
        """The chart calls for ``symbol`` that fetched history (not the time-zone probe)."""
        return [q for s, q in self.calls if s == symbol and "period1" in q]


# ---------------------------------------------------------------------------- exchanges
def markets(exchange_id: str) -> list[dict]:
    """ccxt unified market structures for ``set_markets`` (recorded in exchanges/markets.json)."""
    from computefolio.data.connectors.exchanges import market_stub

    table = load_json("exchanges", "markets.json")[exchange_id]
    return [market_stub(exchange_id, sym, mid) for sym, mid in table.items()]


def serve_file(rs: responses.RequestsMock, exchange_id: str, pattern: str, *files, calls: list | None = None):
    """Answer requests matching ``pattern`` with the recorded files under ``exchanges/`` in turn
    (the last repeats); ``(status, body)`` tuples are served as they are."""
    queue = deque(files)

    def cb(request):
        if calls is not None:
            calls.append(request.url)
        ans = queue[0] if len(queue) == 1 else queue.popleft()
        if isinstance(ans, tuple):
            return (ans[0], {}, ans[1])
        return (200, {"Content-Type": "application/json"}, recorded("exchanges", ans).read_text())

    rs.add_callback(responses.GET, re.compile(pattern), callback=cb)
