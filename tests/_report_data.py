"""Test helpers for the report: a fake results dict with every section, and one shared
demo run per test process (so test_run.py and test_report_browser.py run it once)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from computefolio.report import column, quantity, table, words


def fake_results(simulated: bool = True, n: int = 400) -> dict:
    """A results dict in the results.json layout, with made-up numbers."""
    rng = np.random.default_rng(0)
    idx = pd.bdate_range("2022-01-03", periods=n)
    dates = [d.strftime("%Y-%m-%d") for d in idx]
    basis = "session basis (XNYS, 252/yr), USD"
    books = ["Strategy", "QQQ", "BTC", "60/40 QQQ/BTC"]
    eq = {b: list(1e8 * np.exp(np.cumsum(rng.normal(0.0004, 0.015 + 0.005 * i, n)))) for i, b in enumerate(books)}
    dd = {b: list(np.asarray(v) / np.maximum.accumulate(v) - 1) for b, v in eq.items()}
    layers = ["store_of_value", "chip_design", "data_centers", "bitcoin_mining"]
    w = rng.dirichlet(np.ones(len(layers)), n) * 0.95
    regimes = (["decoupled"] * 150 + ["coupled"] * 150 + ["crisis"] * 40 + ["coupled"] * (n - 340))[:n]
    headline_cols = [column("book", "Book"), column("total_return", "Total return", "fraction"),
                     column("cagr", "CAGR", "fraction/yr"), column("volatility", "Volatility", "fraction/yr"),
                     column("sharpe", "Sharpe", "ratio"), column("max_drawdown", "Max drawdown", "fraction"),
                     column("final_value", "Final value", "USD")]
    headline_rows = [{"book": b, "total_return": eq[b][-1] / 1e8 - 1, "cagr": 0.1 + 0.01 * i,
                      "volatility": 0.2 + 0.05 * i, "sharpe": 0.8 - 0.1 * i, "max_drawdown": min(dd[b]),
                      "final_value": eq[b][-1]} for i, b in enumerate(books)]
    exp_cols = [column("group", "Group"), column("name", "Name"), column("weight", "Weight", "fraction"),
                column("vol_contribution", "Share of volatility", "fraction"),
                column("es_contribution", "Share of ES", "fraction")]
    exposure = {by: table(f"By {by}", exp_cols, [{"group": g, "name": words(g), "weight": 0.2,
                                                  "vol_contribution": 0.25, "es_contribution": 0.24}
                                                 for g in (["digital_assets", "ai_equities"] if by == "sleeve" else layers)],
                          basis=basis) for by in ("sleeve", "layer", "theme")}
    return {
        "schema": "computefolio.results/1",
        "strategy": {"name": "fake", "description": "A fake strategy for report tests.", "file": "fake.yaml"},
        "run": {"created_utc": "2026-01-01T00:00:00Z", "computefolio_version": "0.1.0"},
        "conventions": {"basis": "session", "basis_label": basis, "periods_per_year": 252, "currency": "USD",
                        "capital": quantity(1e8, "USD"), "start": dates[0], "end": dates[-1], "asof": dates[-1]},
        "data": {"label": "sample market (simulated)" if simulated else "files in prices/", "simulated": simulated,
                 "facts": {"source": "sample", "data hash": "abc123"},
                 "validation": {"summary": table("Findings by check", [column("check", "Check"),
                                                                       column("severity", "Severity"),
                                                                       column("count", "Count", "count")],
                                                 [{"check": "stale_run", "severity": "warning", "count": 3}]),
                                "findings": table("Findings", [column("severity", "Severity"), column("check", "Check"),
                                                               column("symbol", "Symbol"), column("date", "Date", "date"),
                                                               column("message", "Message")],
                                                  [{"severity": "warning", "check": "stale_run", "symbol": "WULF",
                                                    "date": "2022-01-05", "message": "5 identical closes"}])}},
        "headline": table("Strategy and benchmarks", headline_cols, headline_rows, basis=basis),
        "exposure": exposure,
        "var_es": table("VaR and ES, 1 period, 99%", [column("method", "Method"), column("var", "VaR", "fraction"),
                                                      column("es", "ES", "fraction"), column("var_usd", "VaR", "USD")],
                        [{"method": "historical", "var": 0.031, "es": 0.045, "var_usd": 3.1e6}], basis=basis),
        "stress": {"historical": table("Historical", [column("scenario", "Scenario"), column("pnl", "P&L", "fraction"),
                                                      column("pnl_usd", "P&L", "USD")],
                                       [{"scenario": "FTX", "pnl": -0.12, "pnl_usd": -1.2e7}]),
                   "hypothetical": table("Hypothetical", [column("scenario", "Scenario"), column("pnl", "P&L", "fraction")],
                                         [{"scenario": "AI capex cut", "pnl": -0.08}]),
                   "by_layer": table("By layer", [column("scenario", "Scenario")] + [column(l, l, "fraction") for l in layers],
                                     [{"scenario": s, **{l: -0.01 * (i + 1) for i, l in enumerate(layers)}}
                                      for s in ("FTX", "DeepSeek", "AI capex cut")])},
        "liquidity": {"buckets": table("Liquid within", [column("horizon", "Horizon"), column("liquid", "Liquid", "fraction")],
                                       [{"horizon": "1 day", "liquid": 0.8}, {"horizon": "5 days", "liquid": 0.95},
                                        {"horizon": "20 days", "liquid": 1.0}])},
        "trading": {"summary": table("Trading", [column("item", "Item"), column("value", "Value", "USD")],
                                     [{"item": "total costs", "value": 123456.0}]),
                    "by_venue": table("Costs by venue", [column("venue", "Venue"), column("fee", "Fees", "USD"),
                                                         column("spread", "Spread", "USD"), column("impact", "Impact", "USD")],
                                      [{"venue": "binance", "fee": 1000.0, "spread": 500.0, "impact": 200.0},
                                       {"venue": "NASDAQ", "fee": 100.0, "spread": 300.0, "impact": 50.0}])},
        "correlation": {"note": "Sleeve returns on the session basis.",
                        "summary": table("Latest", [column("measure", "Measure"), column("value", "Value", "ratio")],
                                         [{"measure": "rolling 63", "value": 0.41}])},
        "mandate": table("Rules", [column("rule", "Rule"), column("limit", "Limit"), column("value", "Value", "fraction"),
                                   column("status", "Status")],
                         [{"rule": "max asset weight", "limit": "<= 8%", "value": 0.079, "status": "pass"},
                          {"rule": "bitcoin_mining", "limit": "<= 10%", "value": 0.12, "status": "breach"}]),
        "weights": table("Final weights", [column("symbol", "Symbol"), column("weight", "Weight", "fraction")],
                         [{"symbol": "BTC", "weight": 0.12}]),
        "warnings": ["a fake warning"],
        **_performance_sections(books, basis, idx),
        "series": {
            "equity": {"unit": "USD", "basis": basis, "index": dates, "columns": eq},
            "drawdown": {"unit": "fraction", "basis": basis, "index": dates, "columns": dd},
            "rolling_vol": {"unit": "fraction/yr", "basis": basis, "window": 63, "index": dates,
                            "columns": {b: list(np.full(n, 0.2 + 0.05 * i)) for i, b in enumerate(books)}},
            "correlation": {"unit": "ratio", "basis": basis, "index": dates,
                            "columns": {"rolling 63": list(np.tanh(np.cumsum(rng.normal(0, 0.05, n)))),
                                        "DCC": list(np.tanh(np.cumsum(rng.normal(0, 0.05, n))))},
                            "regimes": regimes},
            "weights_by_layer": {"unit": "fraction", "basis": basis, "index": dates,
                                 "columns": {l: list(w[:, i]) for i, l in enumerate(layers)}},
            "turnover": {"unit": "fraction", "index": dates[::21], "columns": {"turnover": [0.05] * len(dates[::21])}},
            "rolling_sharpe": {"unit": "ratio", "basis": basis, "window": 126, "index": dates,
                               "columns": {b: list(np.sin(np.arange(n) / 40 + i)) for i, b in enumerate(books[:3])}},
            "rolling_beta": {"unit": "ratio", "basis": basis, "window": 126, "index": dates, "note": "fake",
                             "columns": {"to QQQ, same date": list(0.8 + 0.1 * np.sin(np.arange(n) / 30)),
                                         "to QQQ, lead-lag": list(0.7 + 0.1 * np.sin(np.arange(n) / 30))}},
            "cumulative_contribution": {"unit": "fraction", "basis": basis, "index": dates,
                                        "columns": {words(l): list(np.linspace(0, 0.1 * (i - 1), n))
                                                    for i, l in enumerate(layers)}},
            "cumulative_effects": {"unit": "fraction", "basis": basis, "index": dates,
                                   "columns": {"Allocation": list(np.linspace(0, 0.03, n)),
                                               "Selection": list(np.linspace(0, -0.02, n))}},
            "return_histogram": {"unit": "fraction", "edges": list(np.linspace(-0.05, 0.05, 21)),
                                 "counts": [1, 2, 3, 5, 8, 12, 20, 30, 40, 45, 45, 40, 30, 20, 12, 8, 5, 3, 2, 1],
                                 "marks": {"99%": {"var": 0.04, "es": 0.045}, "95%": {"var": 0.025, "es": 0.033}}},
        },
    }


def _performance_sections(books: list[str], basis: str, idx: pd.DatetimeIndex) -> dict:
    """The tables of computefolio.job.performance with made-up numbers."""
    years = sorted(set(idx.year))
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    frac = [column("book", "Book")] + [column(k, k, "fraction") for k in ("mtd", "ytd", "1y")]
    return {
        "summary": {"sentences": ["The fake strategy returned 12.00% net of costs.", "Worst stress: FTX."],
                    "caveats": [{"severity": "warning", "label": "stale prices", "text": "WULF since 2022-01-05"}]},
        "trailing": table("Trailing returns", frac, [{"book": b, "mtd": 0.01 * i - 0.01, "ytd": 0.05, "1y": 0.1}
                                                     for i, b in enumerate(books)], basis=basis),
        "monthly": {"heatmap": table("Monthly", [column("year", "Year")] + [column(m, m, "fraction") for m in months]
                                     + [column("Year", "Year", "fraction")],
                                     [{"year": str(y), **{m: 0.01 * ((k % 5) - 2) for k, m in enumerate(months)},
                                       "Year": 0.05} for y in years], basis=basis),
                    "calendar_years": table("Calendar years", [column("book", "Book")]
                                            + [column(str(y), str(y), "fraction") for y in years],
                                            [{"book": b, **{str(y): 0.1 - 0.05 * i for y in years}}
                                             for i, b in enumerate(books)], basis=basis)},
        "drawdowns": table("Worst drawdowns", [column("rank", "Rank", "count"), column("start", "Start", "date"),
                                               column("depth", "Depth", "fraction")],
                           [{"rank": 1, "start": "2022-02-01", "depth": -0.2}], basis=basis),
        "attribution": {"sleeve": table("By sleeve", [column("name", "Sleeve"),
                                                      column("contribution", "Contribution", "fraction")],
                                        [{"name": "Digital assets", "contribution": 0.05},
                                         {"name": "AI equities", "contribution": 0.07}], basis=basis),
                        "checks": {"max_period_residual": 1e-16, "linked_residual": 1e-15, "bf_linked_residual": 1e-15,
                                   "tolerance": 1e-10}},
        "distribution": table("Distribution", [column("confidence", "Confidence"), column("var", "VaR", "fraction")],
                              [{"confidence": "99%", "var": 0.04}], basis=basis),
    }


@functools.lru_cache(maxsize=None)
def demo_run(out_dir: str):
    """Run the shipped strategy on the sample market once per process into ``out_dir``."""
    from computefolio.job import run_strategy
    from computefolio.strategy import load_strategy

    return run_strategy(load_strategy(), out_dir=Path(out_dir), progress=False)
