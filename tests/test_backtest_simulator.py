"""The simulator's accounting, listing/delisting, calendars, costs, cash and determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.backtest import CostModel, VenueCost, prepare, simulate
from computefolio.backtest.costs import load_costs
from computefolio.clock import CRYPTO, XNYS
from computefolio.data.market import MarketData
from computefolio.errors import ConfigError, DataError


def _prices(T=260, N=4, seed=0, freq="B"):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2021-01-04", periods=T, freq=freq)
    p = 50 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, (T, N)), axis=0))
    return pd.DataFrame(p, index=idx, columns=[f"S{i}" for i in range(N)])


def _weights(p, every=21, seed=1, total=1.0):
    rng = np.random.default_rng(seed)
    d = p.index[::every]
    return pd.DataFrame(rng.dirichlet(np.ones(p.shape[1]), len(d)) * total, index=d, columns=p.columns)


def replay_gross(res, prices, capital):
    """Independent replay of the trade list with no cost deducted (cash rate 0)."""
    q = res.trades.pivot_table(index="date", columns="symbol", values="quantity", aggfunc="sum")
    q = q.reindex(index=prices.index, columns=prices.columns).fillna(0.0)
    notional = (res.trades.assign(v=res.trades["quantity"] * res.trades["price"])
                .groupby("date")["v"].sum().reindex(prices.index).fillna(0.0))
    shares = q.cumsum()
    cash = capital - notional.cumsum()
    return cash + (shares * prices.ffill()).fillna(0.0).sum(axis=1)


@pytest.mark.parametrize("conv", ["native", "vectorbt", "bt"])
def test_gross_and_net_differ_by_exactly_the_costs(conv):
    p = _prices()
    w = _weights(p)
    cap = 1e8
    res = simulate(p, w, costs=CostModel.proportional(10, half_spread_bps=3), capital=cap, fee_convention=conv)
    assert res.total_costs > 0
    # by construction, and with float rounding only
    diff = res.gross_equity - res.equity
    assert np.allclose(diff.to_numpy(), res.costs.cumsum().to_numpy(), rtol=0, atol=1e-6)
    # the gross curve is the same share trades replayed with no costs
    g = replay_gross(res, p, cap)
    assert np.max(np.abs(g.to_numpy() / res.gross_equity.to_numpy() - 1)) < 1e-12
    assert (res.gross_equity >= res.equity).all()
    assert not np.allclose(res.gross_equity, res.equity)
    # costs by venue and by asset add up to every cost paid
    assert res.costs_by_venue["cost"].sum() == pytest.approx(res.total_costs, rel=1e-12)
    assert res.costs_by_asset["cost"].sum() == pytest.approx(res.total_costs, rel=1e-12)
    trades_cost = (res.trades["fee"] + res.trades["spread"] + res.trades["impact"]).sum()
    assert trades_cost == pytest.approx(res.total_costs, rel=1e-12)


def test_native_convention_is_self_financing():
    p = _prices()
    w = _weights(p, total=0.9)
    res = simulate(p, w, costs=25)
    post = res.weights.loc[w.index]
    assert np.max(np.abs(post.to_numpy() - w.to_numpy())) < 1e-12
    # cash after each rebalance is 10% of the post-cost book
    c = res.cash.loc[w.index] / res.equity.loc[w.index]
    assert np.allclose(c, 0.1, atol=1e-12)


def test_zero_costs_all_conventions_agree():
    p = _prices()
    w = _weights(p)
    eq = [simulate(p, w, fee_convention=c).equity.to_numpy() for c in ("native", "vectorbt", "bt")]
    assert np.max(np.abs(eq[1] / eq[0] - 1)) < 1e-13
    assert np.max(np.abs(eq[2] / eq[0] - 1)) < 1e-13


def test_first_investment_closed_form_for_every_convention():
    # investing all cash at fee f leaves V / (1 + f) in every convention
    p = _prices()
    w = _weights(p)
    f = 0.002
    for conv in ("native", "vectorbt", "bt"):
        res = simulate(p, w, costs=f * 1e4, fee_convention=conv, capital=1e8)
        assert res.equity.iloc[0] == pytest.approx(1e8 / (1 + f), rel=1e-12)


def test_listing_target_before_listing_goes_to_cash_and_is_recorded():
    p = _prices(N=3)
    p.loc[: p.index[99], "S2"] = np.nan  # S2 lists on row 100
    w = pd.DataFrame([[0.3, 0.3, 0.4]] * 3, index=p.index[[0, 50, 120]], columns=p.columns)
    with pytest.warns(UserWarning, match="without a price"):
        res = _sim_warn(p, w)
    sk = res.skipped[res.skipped["kind"] == "not_listed"]
    assert list(sk["date"]) == [p.index[0], p.index[50]] and set(sk["symbol"]) == {"S2"}
    assert (res.weights.loc[: p.index[119], "S2"] == 0).all()
    assert res.cash.loc[p.index[0]] == pytest.approx(0.4 * 1e8, rel=1e-12)
    assert res.weights.loc[p.index[120], "S2"] == pytest.approx(0.4, abs=1e-12)


def _sim_warn(p, w, **kw):
    import warnings

    res = simulate(p, w, **kw)
    for m in res.warnings:
        warnings.warn(m, UserWarning)
    return res


def test_delisting_sells_at_the_last_price():
    p = _prices(N=3)
    last = p.index[150]
    p.loc[p.index[151]:, "S1"] = np.nan
    w = pd.DataFrame([[0.3, 0.3, 0.4]], index=p.index[[0]], columns=p.columns)
    res = simulate(p, w, costs=5, delisted={"S1": last})
    d = res.trades[res.trades["kind"] == "delist"]
    assert len(d) == 1 and d["symbol"].iloc[0] == "S1" and d["date"].iloc[0] == last
    assert d["price"].iloc[0] == p.loc[last, "S1"]
    assert (res.weights.loc[last:, "S1"] == 0).all()
    # the proceeds, net of costs, are in cash the same day; no jump in equity beyond the costs
    before = res.equity.loc[last] + res.costs.loc[last]
    held = res.weights.loc[p.index[149]]
    assert np.isfinite(res.equity).all() and before > 0 and held["S1"] > 0


def test_a_series_that_ends_is_stale_not_delisted():
    """No delisting date: the position is held at its last price, flagged stale, never sold."""
    p = _prices(N=3)
    last = p.index[150]
    p.loc[p.index[151]:, "S1"] = np.nan
    w = pd.DataFrame([[0.3, 0.3, 0.4]], index=p.index[[0]], columns=p.columns)
    res = simulate(p, w, costs=5)
    assert not (res.trades["kind"] == "delist").any()
    assert (res.trades["symbol"] == "S1").sum() == 1  # the initial buy only
    px_last = p.loc[last, "S1"]
    shares = res.trades.loc[res.trades["symbol"] == "S1", "quantity"].iloc[0]
    # valued at its last price every day after it
    held = res.weights.loc[p.index[151]:, "S1"] * res.equity.loc[p.index[151]:]
    np.testing.assert_allclose(held.to_numpy(), shares * px_last, rtol=1e-12)
    st = res.stale
    assert list(st.index) == ["S1"] and st.loc["S1", "last_price_date"] == last
    assert st.loc["S1", "age_days"] == (p.index[-1] - last).days
    assert any("stale" in m for m in res.warnings)


def _two_clock_market(days=120):
    idx = pd.date_range("2024-01-01", periods=days, freq="D")
    rng = np.random.default_rng(3)
    btc = 40000 * np.exp(np.cumsum(rng.normal(0, 0.03, days)))
    sess = pd.DatetimeIndex([d for d in idx if d.day_of_week < 5 and d != pd.Timestamp("2024-01-15")
                             and d != pd.Timestamp("2024-02-19")])
    qqq = pd.Series(400 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sess)))), index=sess)
    close = pd.DataFrame({"BTC": btc}, index=idx)
    close["QQQ"] = qqq
    return MarketData(close=close, calendars={"BTC": CRYPTO, "QQQ": XNYS})


def test_calendar_basis_defers_equity_trades_to_the_next_session():
    md = _two_clock_market()
    sunday = pd.Timestamp("2024-01-14")  # Monday 15 is MLK day: QQQ trades Tuesday 16
    w = pd.DataFrame({"BTC": [0.5, 0.2], "QQQ": [0.5, 0.8]}, index=[pd.Timestamp("2024-01-02"), sunday])
    res = simulate(md, w, basis="calendar", costs=CostModel.proportional(5))
    t = res.trades
    on_sun = t[t["date"] == sunday]
    assert list(on_sun["symbol"]) == ["BTC"]
    dq = t[(t["kind"] == "deferred")]
    assert list(dq["symbol"]) == ["QQQ"] and dq["date"].iloc[0] == pd.Timestamp("2024-01-16")
    assert res.periods_per_year == 365 and res.returns.attrs["periods_per_year"] == 365
    wq = res.weights.loc[pd.Timestamp("2024-01-16")]
    assert wq["QQQ"] == pytest.approx(0.8, abs=0.02)
    # on the session basis the same Sunday is not a valuation date: a clear error
    with pytest.raises(DataError, match="not a valuation date"):
        simulate(md, w, basis="session")
    rs = simulate(md, w.iloc[:1], basis="session")
    assert rs.periods_per_year == 252 and rs.returns.attrs["basis"] == "session"


def test_min_notional_and_lots():
    p = _prices(N=3)
    cm = CostModel(default_venue="ex", venues={"ex": VenueCost(commission_bps=7.5, min_notional=50_000.0,
                                                                lot_size=1.0)})
    w = pd.DataFrame([[0.5, 0.4999, 0.0001]], index=p.index[[0]], columns=p.columns)
    res = simulate(p, w, costs=cm, capital=1e7, lots=True)
    sk = res.skipped[res.skipped["kind"] == "min_notional"]
    assert list(sk["symbol"]) == ["S2"]  # 0.01% of 10m = 1,000 < 50,000
    q = res.trades["quantity"].to_numpy()
    assert np.array_equal(q, np.round(q))
    assert (res.cash >= 0).all()


def test_cash_rate_constant_and_series():
    p = _prices(T=100)
    w = pd.DataFrame([[0.0] * 4], index=p.index[[0]], columns=p.columns)
    r = 0.05
    res = simulate(p, w, cash_rate=r, capital=1e6)
    days = np.diff(p.index.asi8) / 86_400e9
    expect = 1e6 * np.concatenate([[1.0], np.cumprod(1 + r * days / 360)])
    assert np.allclose(res.equity.to_numpy(), expect, rtol=1e-14)
    s = pd.Series(r, index=p.index[:1])
    res2 = simulate(p, w, cash_rate=s, capital=1e6)
    assert np.array_equal(res2.equity.to_numpy(), res.equity.to_numpy())
    with pytest.raises(DataError, match="cash_rate"):
        simulate(p, w, cash_rate=pd.Series(r, index=p.index[5:6]))


def test_square_root_impact():
    p = _prices(T=80, N=2)
    vol = pd.DataFrame(1e5, index=p.index, columns=p.columns)
    cm = CostModel(default_venue="ex", impact_k=0.1, venues={"ex": VenueCost()})
    w = pd.DataFrame([[0.5, 0.5], [0.2, 0.8]], index=p.index[[30, 60]], columns=p.columns)
    res = simulate(p, w, costs=cm, volumes=vol, capital=1e7)
    prep = prepare(p, volumes=vol)
    for _, t in res.trades.iterrows():
        i = p.index.get_loc(t["date"])
        j = list(p.columns).index(t["symbol"])
        expect = 0.1 * prep.sigma[i, j] * np.sqrt(t["notional"] / prep.adv[i, j]) * t["notional"]
        assert t["impact"] == pytest.approx(expect, rel=1e-12) and t["impact"] > 0
    assert prep.adv[40, 0] == pytest.approx((vol.iloc[21:41, 0] * p.iloc[21:41, 0]).mean(), rel=1e-12)


def test_determinism_and_manifest():
    p = _prices()
    w = _weights(p)
    a = simulate(p, w, costs="default", seed=7)
    b = simulate(p, w, costs="default", seed=7)
    assert np.array_equal(a.equity.to_numpy(), b.equity.to_numpy())
    assert a.trades.equals(b.trades)
    for k in ("data_hash", "inputs_hash", "config_hash", "version", "seed"):
        assert a.manifest[k] == b.manifest[k]
    assert a.manifest["version"] and a.manifest["seed"] == 7
    p2 = p.copy()
    p2.iloc[-1, 0] *= 1.0001
    assert simulate(p2, w).manifest["data_hash"] != a.manifest["data_hash"]
    d = a.to_dict()
    assert d["periods_per_year"] == 252 and d["metrics"]["periods_per_year"] == 252
    import json

    assert json.loads(json.dumps(d))["manifest"]["data_hash"] == a.manifest["data_hash"]


def test_bad_inputs_give_one_line_errors():
    p = _prices()
    w = _weights(p)
    with pytest.raises(DataError, match="symbols without prices: XYZ"):
        simulate(p, w.assign(XYZ=0.1))
    with pytest.raises(DataError, match="NaN weight for S0"):
        simulate(p, w.assign(S0=np.nan))
    with pytest.raises(DataError, match="2021-01-02 is not a valuation date"):
        simulate(p, w.rename(index={w.index[0]: pd.Timestamp("2021-01-02")}))
    with pytest.raises(ValueError, match="fee_convention"):
        simulate(p, w, fee_convention="zipline")


def test_cost_file(tmp_path):
    cm = load_costs()
    arr = cm.arrays(["BTC", "NVDA", "GLM"], {"BTC": "binance", "NVDA": "NASDAQ", "GLM": "bybit"})
    assert arr["fee"][0] == pytest.approx(7.5e-4) and arr["min_notional"][0] == 10.0 and arr["lot"][0] == 1e-8
    assert arr["spread"][2] == pytest.approx(25e-4)  # per-asset override
    with pytest.warns(UserWarning, match="unknown venue for XYZ"):
        a2 = cm.arrays(["XYZ"], {"XYZ": "LSE"})
    assert a2["venue"] == ["NASDAQ"]
    bad = tmp_path / "costs.yaml"
    bad.write_text("venues:\n  binance:\n    commission_bps: -1\n")
    with pytest.raises(ConfigError) as e:
        load_costs(bad)
    msg = str(e.value)
    assert "costs.yaml" in msg and "venue binance" in msg and "commission_bps" in msg and "\n" not in msg


def test_next_open_trading():
    p = _prices(T=60, N=3)
    rng = np.random.default_rng(4)
    o = p.shift(1) * np.exp(rng.normal(0, 0.005, p.shape))
    o.iloc[:, 2] = np.nan  # no opens for S2: it trades at the next row's close
    w = pd.DataFrame([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]], index=p.index[[5, 30]], columns=p.columns)
    res = simulate(p, w, costs=5, trade_at="next_open", open_prices=o)
    t = res.trades
    assert set(t["date"]) == {p.index[6], p.index[31]}
    for _, r in t.iterrows():
        exp = o.loc[r["date"], r["symbol"]] if r["symbol"] != "S2" else p.loc[r["date"], r["symbol"]]
        assert r["price"] == exp
    assert any("no open prices for S2" in m for m in res.warnings)
    for conv in ("vectorbt", "bt"):
        tv = simulate(p, w, costs=5, trade_at="next_open", open_prices=o, fee_convention=conv).trades
        assert np.array_equal(tv.sort_values(["date", "symbol"])["price"].to_numpy(),
                              t.sort_values(["date", "symbol"])["price"].to_numpy())
    # the book is valued at the close: post-trade weights at the close differ from the targets
    assert res.equity.iloc[5] == pytest.approx(1e8)
    assert not np.allclose(res.weights.loc[p.index[6]].to_numpy(), w.iloc[0].to_numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="drift bands"):
        from computefolio.backtest import DriftBands

        simulate(p, w, trade_at="next_open", bands=DriftBands(abs=0.1))
