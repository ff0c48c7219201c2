"""The main job: `computefolio demo` on the sample market writes every output; a run on
the real shared data writes numbers that equal what the library functions compute
directly, and the HTML report shows those numbers.

Tolerances: numbers that go through the same arithmetic are compared exactly or to
1e-12 relative (JSON round-trips floats exactly); independent re-computations
(explicit quantile, window returns from prices) to 1e-10.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from _report_data import demo_run

from computefolio import metrics as M
from computefolio.job import OUTPUT_FILES, run_strategy
from computefolio.report import fmt
from computefolio.strategy import default_strategy_path, strategy_from_dict


def _html_results(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="cf-results">(.*?)</script>', html, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def _rows(tab: dict, key: str) -> dict:
    first = tab["columns"][0]["key"]
    return {r[first]: r[key] for r in tab["rows"]}


# ----------------------------------------------------------------------------- demo (sample)
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return demo_run(str(tmp_path_factory.getbasetemp() / "demo_out"))


def test_demo_writes_every_output(demo):
    assert demo.out_dir.name == "compute_backed-sample"  # a sample run never overwrites a real one
    for name in OUTPUT_FILES:
        p = demo.files[name]
        assert p.is_file() and p.stat().st_size > 0, name
    res = json.loads(demo.files["results.json"].read_text())
    assert res["data"]["simulated"] is True
    assert res["data"]["label"] == "sample market (simulated)"
    html = demo.files["report.html"].read_text()
    assert "SAMPLE MARKET (SIMULATED)" in html
    # the HTML carries the same numbers as results.json (everything but the chart series)
    assert _html_results(html) == {k: v for k, v in res.items() if k != "series"}
    man = json.loads(demo.files["manifest.json"].read_text())
    for name in ("results.json", "weights.csv", "trades.csv", "report.html"):
        import hashlib

        assert man["files"][name]["sha256"] == hashlib.sha256(demo.files[name].read_bytes()).hexdigest()
    assert man["data"]["data_hash"] == demo.market.data_hash()
    assert man["data"]["seed"] == 7


def test_demo_books_and_outputs_agree(demo):
    bt = demo.backtest
    res = demo.results
    cur = res["conventions"]["currency"]
    # net = gross - cumulative costs, and the trading table says so
    tr = res["trading"]["summary"]["rows"][0]
    assert math.isclose(tr["gross_final"] - tr["net_final"], bt.total_costs, rel_tol=1e-9)
    assert math.isclose(tr["costs"], float(bt.trades["cost"].sum()), rel_tol=1e-9)
    # weights.csv and trades.csv are the backtest's
    w = pd.read_csv(demo.files["weights.csv"], index_col=0, parse_dates=True)
    assert np.allclose(w.drop(columns="cash").to_numpy(), bt.weights.fillna(0).to_numpy(), atol=1e-9, equal_nan=True)
    assert np.allclose(w["cash"], 1 - bt.weights.sum(axis=1), atol=1e-9)
    assert len(pd.read_csv(demo.files["trades.csv"])) == len(bt.trades)
    # benchmarks: QQQ, BTC, 60/40, equal weight are all there
    books = _rows(res["headline"], "final_value")
    assert {"Strategy", "QQQ", "BTC", "60/40 QQQ/BTC", "Equal-weight universe"} <= set(books)
    assert books["Strategy"] == pytest.approx(float(bt.equity.iloc[-1]), rel=1e-12)
    # units on every column of every table
    def tables(o):
        if isinstance(o, dict):
            if "columns" in o and "rows" in o:
                yield o
            else:
                for v in o.values():
                    yield from tables(v)
    for t in tables({k: v for k, v in res.items() if k != "series"}):
        assert all("unit" in c for c in t["columns"]), t["title"]
    assert res["conventions"]["periods_per_year"] == 252 and cur == "USD"
    # the mandate section lists rules with a status each
    if res["mandate"]["rows"]:
        assert {r["status"] for r in res["mandate"]["rows"]} <= {"pass", "breach", "n/a"}


def test_demo_cli_prints_report_path(tmp_path, monkeypatch):
    """`computefolio demo` ends by printing where the report is (runs the CLI itself)."""
    from typer.testing import CliRunner

    from computefolio.cli import app

    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--no-progress"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "report:" in res.output and "report.html" in res.output
    assert "SAMPLE MARKET (SIMULATED)" in res.output
    assert "Market by layer" in res.output
    assert (tmp_path / "compute_backed-sample" / "report.html").is_file()


# ----------------------------------------------------------------------------- real data
def _real_strategy(tmp_path: Path, shared_dir: Path):
    raw = yaml.safe_load(default_strategy_path().read_text())
    raw.update(name="real_short", start="2024-01-02", end="2025-06-30", lookback=126, min_history=63,
               data={"source": "files", "path": str(shared_dir)})
    raw["risk"].update(window=252, correlation_window=42)
    raw["stress"] = {"historical": ["covid_march_2020", "ftx_nov_2022", "deepseek_jan_2025"], "hypothetical": "all"}
    raw["mandate"] = None if _no_mandate() else raw["mandate"]
    raw["private"] = None  # the liquid book alone here; the private sleeve is tested in test_private_*
    p = tmp_path / "real_short.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return strategy_from_dict(raw, default_strategy_path())  # resolve mandate/costs like the shipped file


def _no_mandate() -> bool:
    from computefolio.strategy import resources_dir

    return not (resources_dir() / "mandate_default.yaml").is_file()


@pytest.fixture(scope="module")
def real(tmp_path_factory, shared_dir):
    tmp = tmp_path_factory.mktemp("real")
    s = _real_strategy(tmp, shared_dir)
    return run_strategy(s, out_dir=tmp / "out", progress=False)


@pytest.mark.realdata
def test_real_run_metrics_equal_library(real):
    res = json.loads(real.files["results.json"].read_text())
    assert res["data"]["simulated"] is False
    bt = real.backtest
    r = bt.returns
    assert r.attrs["periods_per_year"] == 252
    m = res["metrics"]["Strategy"]
    rf = M.rf_per_period(real.strategy.cash_rate, 252)
    assert m["cagr"] == M.cagr(r, 252)
    assert m["volatility"] == M.volatility(r, 252)
    assert m["sharpe"] == M.sharpe(r, rf, 252)
    assert m["max_drawdown"] == M.max_drawdown(r)
    # independent re-computation from the equity curve (closed forms)
    eq = bt.equity
    total = eq.iloc[-1] / real.strategy.capital - 1
    assert m["total_return"] == pytest.approx(total, rel=1e-10)
    days = (eq.index[-1] - eq.index[0]).days + 365.25 / 252
    assert m["cagr"] == pytest.approx((1 + total) ** (365.25 / days) - 1, rel=1e-10)
    per = eq.pct_change()
    per.iloc[0] = eq.iloc[0] / real.strategy.capital - 1
    assert m["volatility"] == pytest.approx(per.std(ddof=1) * math.sqrt(252), rel=1e-10)
    wealth = np.concatenate([[1.0], (eq / real.strategy.capital).to_numpy()])
    assert m["max_drawdown"] == pytest.approx((wealth / np.maximum.accumulate(wealth) - 1).min(), rel=1e-10)
    # the headline table carries the same numbers
    head = {row["book"]: row for row in res["headline"]["rows"]}
    for k in ("cagr", "volatility", "sharpe", "max_drawdown", "total_return"):
        assert head["Strategy"][k] == m[k]
    assert head["QQQ"]["cagr"] == M.cagr(real.benchmarks["QQQ"].returns, 252)


@pytest.mark.realdata
def test_real_run_var_equals_explicit_quantile(real):
    res = json.loads(real.files["results.json"].read_text())
    rk = real.strategy.risk
    w = real.final_weights
    from computefolio.risk.proxies import proxy_fill

    # the risk report's window: the last `window` periods up to the final date; history
    # before a young holding's listing comes from its stated proxy (listed in the report)
    rets_all = real.market.returns("session").loc[: real.backtest.equity.index[-1]]
    # a held series that stopped (FET, THETA) is stale: its returns after the last price come from
    # its stated proxy too (listed in the report), never zeros
    stale = [s for s in w.index if pd.isna(rets_all[s].iloc[-1])]
    assert set(stale) <= {row["symbol"] for row in res["data"]["freshness"]["rows"] if row["status"] == "stale"}
    filled, fill_notes = proxy_fill(rets_all.iloc[-rk.window:], real.universe, list(w.index), trailing=True)
    rets = filled[list(w.index)]
    rets = rets[rets.notna().all(axis=1)]
    port = rets.to_numpy() @ w.to_numpy()
    n = len(port)
    k = math.ceil(n * (1 - rk.confidence))
    var_pct = -np.sort(port)[k - 1]
    row = {r["method"]: r for r in res["var_es"]["rows"]}["historical"]
    assert row["n_observations"] == n
    for sym in fill_notes:
        assert sym in res["var_es"]["note"]
    assert row["var_pct"] == pytest.approx(var_pct, rel=1e-10)
    aum = float(real.strategy.capital)  # money at risk on today's AUM, not the backtest's grown value
    assert row["var"] == pytest.approx(var_pct * aum, rel=1e-10)
    # and the library function itself on the same inputs
    from computefolio.risk.var import value_at_risk

    lib = value_at_risk(w, rets, method="gaussian", confidence=rk.confidence, horizon=rk.horizon,
                        capital=aum)
    g = {r["method"]: r for r in res["var_es"]["rows"]}["gaussian"]
    assert g["var_pct"] == pytest.approx(lib.var_pct, rel=1e-10)
    assert g["es_pct"] == pytest.approx(lib.es_pct, rel=1e-10)


@pytest.mark.realdata
def test_real_run_stress_deepseek_from_prices(real):
    res = json.loads(real.files["results.json"].read_text())
    row = {r["scenario"]: r for r in res["stress"]["historical"]["rows"]}
    ds = next(v for k, v in row.items() if "DeepSeek" in k)
    w = real.final_weights
    p = real.market.prices("session")
    r = p.loc["2025-01-27"] / p.loc["2025-01-24"] - 1
    held = [s for s in w.index if np.isfinite(r.get(s, np.nan))]
    if len(held) == len(w):  # every holding has a real return that day: no proxy
        assert ds["pnl_pct"] == pytest.approx(float((w * r[w.index]).sum()), rel=1e-10, abs=1e-14)
    assert r["NVDA"] == pytest.approx(-0.17, abs=0.01)
    assert ds["pnl"] == pytest.approx(ds["pnl_pct"] * float(real.strategy.capital), rel=1e-12)


@pytest.mark.realdata
def test_real_report_shows_the_numbers(real):
    html = real.files["report.html"].read_text()
    res = json.loads(real.files["results.json"].read_text())
    assert "SAMPLE MARKET (SIMULATED)" not in html
    assert _html_results(html) == {k: v for k, v in res.items() if k != "series"}
    units = {c["key"]: c["unit"] for c in res["headline"]["columns"]}
    for row in res["headline"]["rows"]:
        for k in ("total_return", "cagr", "volatility", "sharpe", "max_drawdown", "final_value"):
            assert f">{fmt(row[k], units[k])}<" in html, (row["book"], k)
    vunits = {c["key"]: c["unit"] for c in res["var_es"]["columns"]}
    for row in res["var_es"]["rows"]:
        for k in ("var_pct", "es_pct", "var", "es"):
            assert f">{fmt(row[k], vunits[k])}<" in html, (row["method"], k)
    for row in res["stress"]["historical"]["rows"]:
        if row["pnl_pct"] is not None:
            assert f">{fmt(row['pnl_pct'], 'fraction')}<" in html
    # validation findings of the real files are in the report
    assert res["data"]["validation"]["line"] in html


def test_run_without_a_strategy_file_uses_the_shipped_one(tmp_path):
    """`computefolio run --data PATH` (no strategy argument) runs the shipped strategy."""
    from typer.testing import CliRunner

    from computefolio.cli import app

    res = CliRunner().invoke(app, ["run", "--sample", "--start", "2025-06-02", "--end", "2025-09-30",
                                   "--out", str(tmp_path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "compute_backed-sample" / "report.html").is_file()
