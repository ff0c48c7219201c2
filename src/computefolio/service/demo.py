"""A demo book for ``computefolio serve --demo`` and the service's tests and benchmark.

A USD 100 million book across the value chain, bought at the cut-off prices of the
market it is shown on (so day one has no invented profit): about 51% AI equities in a
prime-broker account, 24% digital assets on Binance and Bybit (each token at its venue; a third of
the bitcoin moved to cold storage), 25% cash. Entries go through the library
(:meth:`computefolio.book.BookStore.append`) like any import. Demo users are created with
random passwords that are printed once.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np
import pandas as pd

from ..book.accounts import Account

#: Target weights of the demo book (fractions of its NAV; the rest is cash).
DEMO_WEIGHTS: dict[str, float] = {
    "NVDA": 0.07, "AVGO": 0.06, "TSM": 0.06, "AMD": 0.04, "ASML": 0.03, "MU": 0.03, "MSFT": 0.05, "GOOGL": 0.04,
    "AMZN": 0.04, "EQIX": 0.03, "VRT": 0.03, "CEG": 0.02, "ANET": 0.03,
    "BTC": 0.12, "ETH": 0.05, "SOL": 0.02, "RENDER": 0.02, "TAO": 0.02, "FET": 0.01,
}
DEMO_CAPITAL = 100_000_000.0
DEMO_ACCOUNTS = [
    Account("prime", "broker", "prime broker", "USD", ("NASDAQ", "NYSE"), 100_000.0, "Prime broker"),
    Account("binance", "exchange", "binance", "USDT", (), 10_000.0, "Binance spot"),
    Account("bybit", "exchange", "bybit", "USDT", (), 0.0, "Bybit spot"),
    Account("cold", "custodian", "cold storage", "USD", (), 0.0, "Cold storage"),
]
#: Demo users (name, role).
DEMO_USERS = [("pm", "pm"), ("risk", "risk"), ("viewer", "viewer"), ("admin", "admin")]


def demo_entries(market, universe, day, *, capital: float = DEMO_CAPITAL,
                 weights: dict[str, float] | None = None) -> list[dict]:
    """Ledger entries of the demo book funded and bought on ``day`` at its cut-off prices."""
    from ..book.pricing import prices_at

    w = {s: v for s, v in (weights or DEMO_WEIGHTS).items() if s in market.symbols}
    day = pd.Timestamp(day).normalize()
    px = prices_at(market, day, list(w))
    crypto = {s: v for s, v in w.items() if universe.asset(s).sleeve == "digital_assets"}
    equity = {s: v for s, v in w.items() if s not in crypto}
    # each token in an account of its own venue (Binance, else Bybit), funded in USDT
    where = {s: ("bybit" if universe.asset(s).venue == "bybit" else "binance") if s in crypto else "prime" for s in w}
    d = str(day.date())
    need = {a: capital * sum(v for s, v in crypto.items() if where[s] == a) for a in ("binance", "bybit")}
    need = {a: v + (0.005 * capital if v else 0.0) for a, v in need.items()}
    out = [{"date": d, "kind": "deposit", "account": "prime", "amount": capital - sum(need.values()),
            "currency": "USD", "memo": "demo: initial capital"}]
    out += [{"date": d, "kind": "deposit", "account": a, "amount": v, "currency": "USDT", "memo": "demo: initial capital"}
            for a, v in need.items() if v > 0]
    for sym, wt in [*equity.items(), *crypto.items()]:
        p = float(px.at[sym, "price"])
        if not np.isfinite(p) or p <= 0 or px.at[sym, "status"] != "fresh":
            continue  # never bought on a stale price (its source ended before the day): the weight stays cash
        q = capital * wt / p
        q = float(np.floor(q)) if sym in equity else float(np.floor(q * 1e4) / 1e4)
        if q <= 0:
            continue
        out.append({"date": d, "kind": "buy", "account": where[sym], "symbol": sym,
                    "quantity": q, "price": p, "fee": round(q * p * (0.0001 if sym in equity else 0.001), 2),
                    "memo": "demo: bought at the cut-off price"})
        if sym == "BTC":
            out.append({"date": d, "kind": "transfer", "account": "binance", "counter_account": "cold",
                        "symbol": "BTC", "quantity": float(np.floor(q / 3 * 1e4) / 1e4), "memo": "demo: to cold"})
    return out


def demo_day(market, universe) -> pd.Timestamp:
    """The demo's purchase date: 91 days before the last date on which each sleeve of the
    demo book still has fresh prices for most of its weight (real sources end on different
    dates: a book bought on a stale price would show an invented P&L)."""
    groups: dict[str, dict[str, float]] = {}
    for s_, w in DEMO_WEIGHTS.items():
        if s_ in market.symbols:
            groups.setdefault(universe.asset(s_).sleeve, {})[s_] = w
    last, _ = market.last_fresh_date(groups)
    return (last if last is not None else market.end) - pd.Timedelta(days=91)


def seed_demo(path, market, universe, *, day=None, users: bool = True, password: str | None = None) -> dict:
    """Write the demo book (and users) into the store at ``path`` when its ledger is empty.

    Returns ``{"day", "entries", "users": {name: password}}`` (passwords only for users
    created now)."""
    from ..book.store import BookStore
    from ..rebalance.venues import VenueRules
    from . import users as U

    day = pd.Timestamp(day) if day is not None else demo_day(market, universe)
    made: dict[str, str] = {}
    with BookStore(path) as bs:
        n = bs.state().entries
        if n == 0:
            bs.append(demo_entries(market, universe, day), accounts=DEMO_ACCOUNTS, universe=universe,
                      settle=VenueRules(universe=universe).settle_fn(), fmt="demo")
        if users:
            U.ensure_schema(bs.con)
            for name, role in DEMO_USERS:
                if U.get_user(bs.con, name) is None:
                    pw = password or secrets.token_urlsafe(12)
                    U.add_user(bs.con, name, role, pw)
                    made[name] = pw
        entries = bs.state().entries
    return {"day": str(day.date()), "entries": entries, "users": made, "store": str(Path(path))}
