"""The built-in sample market: deterministic, two clocks, lives, fat tails, calibrated vols,
regime correlations, OHLCV; and the real-data clock facts it is calibrated against."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.clock import XNYS, is_session, sessions
from computefolio.data.market import SAMPLE_LABEL
from computefolio.data.sample import REGIMES, sample_market, sample_params
from computefolio.universe import universe_from_dict

#: realized annualized volatility of each asset (default seed, >= 250 returns) lies within
#: this factor of the calibrated figure (GARCH-t paths make a single path's vol noisy).
VOL_FACTOR = 1.5
#: per-regime BTC-QQQ correlation of the sample (session basis) within this of the calibrated one.
REGIME_CORR_TOL = 0.15


@pytest.fixture(scope="module")
def sample(universe):
    return sample_market(universe)


@pytest.fixture(scope="module")
def params():
    return sample_params()


def _is_crypto(universe, s):
    return universe.asset(s).calendar == "24/7"


# ------------------------------------------------------------------ identity, determinism
def test_sample_is_flagged_and_covers_the_universe(sample, universe):
    assert sample.simulated and sample.label == SAMPLE_LABEL and sample.source == SAMPLE_LABEL
    assert sample.symbols == universe.symbols
    assert dict(sample.calendars) == universe.calendars
    assert sample.start == pd.Timestamp("2019-01-01") and sample.end == pd.Timestamp("2025-12-31")
    assert sample.provenance["seed"] == 7
    for f in ("open", "high", "low", "volume"):
        assert getattr(sample, f) is not None


def test_same_seed_same_frames_other_seed_differs(universe, sample):
    again = sample_market(universe, seed=7)
    for f in ("close", "open", "high", "low", "volume"):
        pd.testing.assert_frame_equal(getattr(sample, f), getattr(again, f))
    assert sample.data_hash() == again.data_hash()
    other = sample_market(universe, seed=8)
    assert other.data_hash() != sample.data_hash()
    # same shape and lives, different paths
    pd.testing.assert_frame_equal(other.lives(), sample.lives())
    assert not np.allclose(other.close["BTC"].to_numpy(), sample.close["BTC"].to_numpy())


def test_window_and_subset_universe(universe):
    sub = universe_from_dict({
        "name": "mini", "sleeves": {"s": {"name": "S", "description": "one sleeve"}},
        "layers": {"l": {"name": "L", "description": "one layer"}},
        "assets": [
            {"symbol": "BTC", "name": "Bitcoin", "asset_class": "crypto", "sleeve": "s", "calendar": "24/7",
             "venue": "x", "layers": {"l": 1.0}, "compute_exposure": 0.1, "rationale": "the crypto factor"},
            {"symbol": "QQQ", "name": "Nasdaq", "asset_class": "etf", "sleeve": "s", "calendar": "XNYS",
             "venue": "x", "layers": {"l": 1.0}, "compute_exposure": 0.1, "rationale": "the equity factor"},
            {"symbol": "NEWCO", "name": "Unmeasured", "asset_class": "equity", "sleeve": "s", "calendar": "XNYS",
             "venue": "x", "listed": "2022-03-15", "layers": {"l": 1.0}, "compute_exposure": 0.5,
             "rationale": "not in the calibrated parameters"},
        ]})
    m = sample_market(sub, start="2022-01-01", end="2022-06-30", seed=1)
    assert m.symbols == ["BTC", "QQQ", "NEWCO"]
    assert m.lives().at["NEWCO", "first"] == pd.Timestamp("2022-03-15")
    assert m.provenance["volume_fallback"] == ["NEWCO"]
    r = m.returns("session")["NEWCO"].dropna()
    assert len(r) > 50 and r.std() > 0


# ------------------------------------------------------------------ two clocks
def test_equities_only_on_sessions_crypto_every_day(sample, universe):
    idx = sample.close.index
    assert len(idx) == len(pd.date_range("2019-01-01", "2025-12-31"))  # union index = every day
    open_ = is_session(XNYS, idx)
    lives = sample.lives()
    for s in sample.symbols:
        inside = (idx >= lives.at[s, "first"]) & (idx <= lives.at[s, "last"])
        has = sample.close[s].notna().to_numpy()
        if _is_crypto(universe, s):
            assert has[inside].all(), s                        # weekends and holidays too
        else:
            assert not has[~open_].any(), s                     # never on a closed day
            assert has[inside & open_].all(), s                 # every session of its life
    sat = idx[idx.day_of_week == 5]
    assert sample.close.loc[sat, "BTC"].notna().all() and sample.close.loc[sat, "NVDA"].isna().all()


def test_equities_do_not_move_on_weekends_crypto_compounds(sample):
    cal = sample.returns("calendar")
    ses = sample.returns("session")
    weekend = cal.index[cal.index.day_of_week >= 5]
    assert (cal.loc[weekend, "NVDA"] == 0).all()                # carried flat on the calendar basis
    assert (cal.loc[weekend, "BTC"] != 0).all()
    # a Monday session return of BTC is Saturday x Sunday x Monday
    mondays = [d for d in ses.index if d.day_of_week == 0 and (d - pd.Timedelta(days=3)) in ses.index][:50]
    for d in mondays:
        comp = np.prod(1 + cal.loc[d - pd.Timedelta(days=2): d, "BTC"].to_numpy()) - 1
        assert ses.at[d, "BTC"] == pytest.approx(comp, rel=1e-10)


def test_late_listings_are_nan_before_and_never_zero(sample, universe):
    lives = sample.lives()
    for a in universe.assets:
        if a.listed is not None and pd.Timestamp(a.listed) > sample.start:
            first = lives.at[a.symbol, "first"]
            if _is_crypto(universe, a.symbol):
                assert first == pd.Timestamp(a.listed), a.symbol
            else:
                assert first == sessions(XNYS, a.listed, "2030-01-01")[0], a.symbol
            assert sample.close.loc[: first - pd.Timedelta(days=1), a.symbol].isna().all()
            assert sample.volume.loc[: first - pd.Timedelta(days=1), a.symbol].isna().all()
    for basis in ("session", "calendar"):
        r = sample.returns(basis)
        for s in ("ARM", "CORZ", "GLXY", "TAO", "IBIT"):
            before = r.loc[: lives.at[s, "first"], s]
            assert before.isna().all(), (basis, s)          # NaN before listing, incl. the listing bar
        # inside life a crypto return is never exactly zero (continuous distribution)
        c = r[[s for s in r.columns if _is_crypto(universe, s)]]
        assert not (c == 0).any().any()


# ------------------------------------------------------------------ distribution
def test_fat_tails_for_crypto(sample, universe):
    lr = sample.returns("calendar", kind="log")
    for s in universe.select(sleeve="digital_assets"):
        x = lr[s].dropna()
        assert len(x) > 300
        assert x.kurt() > 0, s                                  # kurtosis > 3 (excess > 0)
    assert lr["BTC"].dropna().kurt() > 3


def test_volatility_clustering(sample):
    x = sample.returns("calendar", kind="log")["BTC"].dropna().to_numpy()
    a = np.abs(x)
    ac = np.corrcoef(a[1:], a[:-1])[0, 1]
    assert ac > 0.05 and abs(np.corrcoef(x[1:], x[:-1])[0, 1]) < 0.1


def test_realized_vols_match_calibration(sample, universe, params):
    ratios = {}
    for s in sample.symbols:
        crypto = _is_crypto(universe, s)
        x = sample.returns("calendar" if crypto else "session", kind="log")[s].dropna()
        if len(x) < 250:
            continue
        vol = x.std() * np.sqrt(365 if crypto else 252)       # each asset on its own clock
        ratios[s] = vol / params["assets"][s]["vol_annual"]
    ratios = pd.Series(ratios)
    assert len(ratios) >= 45
    assert ratios.between(1 / VOL_FACTOR, VOL_FACTOR).all(), ratios[~ratios.between(1 / VOL_FACTOR, VOL_FACTOR)]
    assert 0.8 < ratios.median() < 1.2


def test_factor_structure(sample):
    r = sample.returns("session")
    c = r[["BTC", "ETH", "MARA", "NVDA", "SMH", "QQQ", "IBIT"]].corr()
    assert c.at["BTC", "ETH"] > 0.6 and c.at["BTC", "IBIT"] > 0.8
    assert c.at["NVDA", "SMH"] > 0.6 and c.at["QQQ", "NVDA"] > 0.5
    assert c.at["MARA", "BTC"] > c.at["NVDA", "BTC"]          # a miner loads on bitcoin


def test_regime_correlation_differs_between_regimes(sample, params):
    reg = sample.provenance["regimes"]
    assert set(reg.unique()) == set(REGIMES)
    r = sample.returns("session")
    lab = reg.reindex(r.index)
    corr = {k: r.loc[lab == k, "BTC"].corr(r.loc[lab == k, "QQQ"]) for k in REGIMES}
    target = dict(zip(params["regimes"]["names"], params["regimes"]["corr_session"]))
    for k in REGIMES:
        assert abs(corr[k] - target[k]) < REGIME_CORR_TOL, (k, corr[k], target[k])
    assert corr["decoupled"] + 0.2 < corr["coupled"] < corr["crisis"]
    # crisis is rarer and more volatile
    assert (lab == "crisis").mean() < 0.25
    assert r.loc[lab == "crisis", "QQQ"].std() > 1.5 * r.loc[lab == "decoupled", "QQQ"].std()


# ------------------------------------------------------------------ OHLCV
def test_ohlc_consistent_with_close(sample):
    live = sample.close.notna()
    o, h, l, c = sample.open, sample.high, sample.low, sample.close
    assert (o.notna() == live).all().all() and (h.notna() == live).all().all() and (l.notna() == live).all().all()
    m = live.to_numpy()
    O, H, L, C = (f.to_numpy()[m] for f in (o, h, l, c))
    assert (L > 0).all()
    assert (H >= np.maximum(O, C)).all() and (L <= np.minimum(O, C)).all()
    # crypto trades continuously: it opens at the previous close
    btc = sample.close["BTC"]
    np.testing.assert_allclose(sample.open["BTC"].to_numpy()[1:], btc.to_numpy()[:-1])


def test_volumes_give_realistic_adv(sample, params, universe):
    v = sample.volume
    assert ((v > 0) == sample.close.notna()).all().all()
    dollar = (v * sample.close).median()
    for s, a in params["assets"].items():
        if a.get("median_dollar_volume") is not None:
            assert dollar[s] == pytest.approx(a["median_dollar_volume"], rel=0.01)
    adv = sample.adv(20, asof="2025-12-31")
    adv = adv[[s for s in adv.index if universe.asset(s).asset_class != "private"]]  # private: no market
    assert adv.notna().all() and (adv > 0).all()
    assert adv["BTC"] > 1e9 and adv["NVDA"] > 1e9 and adv["AKT"] < 5e7     # USD per session
    assert adv["BTC"] > 100 * adv["AKT"]
    # volume responds to the size of the move
    r = sample.returns("calendar")["BTC"].abs()
    lv = np.log(v["BTC"] * sample.close["BTC"])
    assert r.corr(lv) > 0.1


# ------------------------------------------------------------------ the calibration matches the real data
@pytest.mark.realdata
def test_params_reproduce_real_btc_and_qqq(real_market, params):
    w = real_market.between(*params["meta"]["window"])
    btc = w.returns("calendar", kind="log")["BTC"].dropna()
    qqq = w.returns("session", kind="log")["QQQ"].dropna()
    assert btc.std() * np.sqrt(365) == pytest.approx(params["assets"]["BTC"]["vol_annual"], rel=1e-3)
    assert qqq.std() * np.sqrt(252) == pytest.approx(params["assets"]["QQQ"]["vol_annual"], rel=1e-3)
    rs = w.returns("session", kind="log")                      # the calibration's convention
    assert rs["BTC"].corr(rs["QQQ"]) == pytest.approx(params["assets"]["BTC"]["corr_qqq"], abs=0.01)


@pytest.mark.realdata
def test_real_btc_vol_agrees_on_both_bases(real_market):
    w = real_market.between("2019-01-01", "2025-12-31")
    v_s = w.returns("session")["BTC"].std() * np.sqrt(w.periods_per_year("session"))
    v_c = w.returns("calendar")["BTC"].std() * np.sqrt(w.periods_per_year("calendar"))
    assert abs(v_s / v_c - 1) < 0.10
    # annualizing the session series with 365 (the classic bug) would be ~20% off
    wrong = w.returns("session")["BTC"].std() * np.sqrt(365)
    assert abs(wrong / v_c - 1) > 0.10


@pytest.mark.realdata
def test_real_btc_weekly_from_sessions_equals_friday_price_ratio(real_market):
    w = real_market.between("2019-01-01", "2025-12-31")
    ses = w.returns("session")["BTC"]
    px = w.prices("calendar")["BTC"]
    fridays = [d for d in ses.index if d.day_of_week == 4]
    checked = 0
    for f0, f1 in zip(fridays[:-1], fridays[1:]):
        if (f1 - f0).days != 7:
            continue
        block = ses.loc[f0 + pd.Timedelta(days=1): f1]
        if block.isna().any():
            continue
        assert np.prod(1 + block.to_numpy()) == pytest.approx(px[f1] / px[f0], rel=1e-10)
        checked += 1
    assert checked > 300


@pytest.mark.realdata
def test_real_nvda_split_is_adjusted(real_market):
    r = real_market.returns("session")["NVDA"]
    assert abs(r.loc["2024-06-10"]) < 0.05                     # 10:1 split on 2024-06-10
    assert r.loc["2024-06-03":"2024-06-14"].abs().max() < 0.1


# ------------------------------------------------------------------ building blocks against peers / closed forms
@pytest.mark.peer
def test_garch_recursion_matches_arch():
    from arch.univariate import GARCH

    from computefolio.data.sample import _garch

    z = np.random.default_rng(3).standard_normal((400, 2))
    alpha, beta = np.array([0.10, 0.05]), np.array([0.85, 0.93])
    eps, h = _garch(z, alpha, beta)
    for j in range(2):
        # same innovations, unit unconditional variance, h_0 = 1, no burn-in
        data, var = GARCH().simulate(np.array([1 - alpha[j] - beta[j], alpha[j], beta[j]]), 400,
                                     lambda n, j=j: z[:, j], burn=0, initial_value=1.0)
        np.testing.assert_allclose(eps[:, j], data, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h[:, j], var, rtol=1e-12, atol=1e-14)


def test_standardized_student_t_has_unit_variance():
    from scipy import stats

    from computefolio.data.sample import _std_t

    z = _std_t(np.random.default_rng(0), np.array([5.0, 8.0]), (200_000, 2))
    np.testing.assert_allclose(z.var(axis=0), 1.0, atol=0.03)
    # the tails are Student-t's: P(|z| > 4) against the closed form for nu = 5
    scale = np.sqrt(3 / 5)
    assert (np.abs(z[:, 0]) > 4).mean() == pytest.approx(2 * stats.t.sf(4 / scale, 5), rel=0.15)
