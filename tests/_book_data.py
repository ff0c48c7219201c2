"""Small synthetic markets and books for the book, rebalance and compliance tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from computefolio.book import Account, BookStore
from computefolio.clock import CRYPTO, sessions
from computefolio.data.market import MarketData

LEVELS = {"BTC": 60000.0, "ETH": 3000.0, "SOL": 150.0, "NVDA": 120.0, "AMD": 150.0, "MSFT": 400.0, "TSM": 180.0,
          "GBTC": 50.0, "IBIT": 40.0, "RENDER": 5.0}
#: ADV in USD per venue day (large, so that liquidity rules do not bind unless a test wants them to).
ADV = 5e9

ACCOUNTS = [
    Account("prime", "broker", "prime broker", "USD", ("NASDAQ", "NYSE"), 0.0, "Prime broker"),
    Account("binance", "exchange", "binance", "USDT", (), 0.0, "Binance spot"),
    Account("bybit", "exchange", "bybit", "USDT", (), 0.0, "Bybit spot"),
    Account("cold", "custodian", "cold storage", "USD", (), 0.0, "Cold storage"),
]


def synthetic_market(universe, symbols=tuple(LEVELS), start="2024-01-01", end="2025-06-30", stale=None,
                     seed: int = 1, adjusted: dict | None = None) -> MarketData:
    """Random-walk closes (2% daily vol crypto, 1.5% equities) on each symbol's own calendar;
    ``stale``: symbol -> last date; ``adjusted``: symbol -> factor for an adj_close beside close."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in symbols:
        cal = universe.asset(s).calendar
        days = pd.date_range(start, end) if cal == CRYPTO else sessions(cal, start, end)
        if stale and s in stale:
            days = days[days <= pd.Timestamp(stale[s])]
        vol = 0.02 if cal == CRYPTO else 0.015
        px = LEVELS[s] * np.exp(np.cumsum(rng.normal(0, vol, len(days))))
        adj = px * (adjusted or {}).get(s, 1.0)
        rows.append(pd.DataFrame({"date": days, "symbol": s, "close": px, "adj_close": adj,
                                  "volume": ADV / px}))
    df = pd.concat(rows, ignore_index=True)
    return MarketData.from_long(df, universe.calendars, source="synthetic test market")


def book_with(path, entries, accounts=ACCOUNTS, universe=None) -> BookStore:
    """A BookStore at ``path`` with ``accounts`` and ``entries`` appended (closed)."""
    bs = BookStore(path)
    bs.append(entries, accounts=accounts, universe=universe)
    bs.close()
    return bs


def funded_entries(day="2025-01-02", usd=50_000_000.0, usdt=30_000_000.0) -> list[dict]:
    return [{"date": day, "kind": "deposit", "account": "prime", "amount": usd, "currency": "USD"},
            {"date": day, "kind": "deposit", "account": "binance", "amount": usdt, "currency": "USDT"},
            {"date": day, "kind": "deposit", "account": "bybit", "amount": usdt / 3, "currency": "USDT"}]
