"""Measure the parameters of the built-in sample market on real prices.

Reads the real daily prices (``computefolio.data.sources.shared_prices_dir()``, i.e.
``$COMPUTEFOLIO_DATA`` or ``../shared/data/prices``) through the shipped universe's
primary sources and listing dates, and writes the SMALL parameter file
``src/computefolio/resources/sample_params.json`` (numbers only, never a price series)
that :func:`computefolio.data.sample.sample_market` reads.

Usage::

    python scripts/calibrate_sample.py [--start 2019-01-01] [--end 2025-12-31] [--out PATH]

What is measured (window ``[start, end]``; every figure states its clock)
-------------------------------------------------------------------------
Per asset, on its *own* clock (crypto: calendar days, 365/yr; equities and ETFs:
XNYS sessions, 252/yr):

* ``vol_annual``: standard deviation of daily log returns x sqrt(periods per year).
* ``mean_annual``: mean daily log return x periods per year (the generator shrinks it).
* ``excess_kurtosis`` and ``t_dof_kurtosis``: sample excess kurtosis k of daily log
  returns and the Student-t degrees of freedom with the same kurtosis, nu = 4 + 6/k.
* ``t_dof``, ``garch_alpha``, ``garch_beta``: a GARCH(1,1) with Student-t innovations
  (Bollerslev 1986, 1987) fitted with ``arch``; nu is the tail index of the innovations
  (after volatility clustering is removed), clipped to [3.5, 30].
* ``beta_crypto``, ``beta_equity``, ``resid_vol_annual``: loadings on the crypto factor
  (BTC) and the equity factor (QQQ). Crypto: OLS of calendar-day returns on BTC's
  (beta_equity = 0). Equities: OLS of session returns on BTC's *session-basis* return
  (compounded over weekends, so a miner's Monday carries bitcoin's weekend) and QQQ's.
  The residual volatility is on the asset's own clock.
* ``corr_btc``, ``corr_qqq``: plain correlations of daily session-basis returns.
* ``median_dollar_volume``: median of close x volume (USD per bar of the asset's own
  clock) over the last 365 days (crypto) or the last 504 sessions (equities) of the
  source that has consolidated volume: the primary crypto files (Binance spot / Bybit
  perpetuals, USDT ~ USD); for equities ``equities_ohlcv_daily_dieperdev`` (to
  2024-03-08); for ETFs, which only have IEX-only volume (``spookylabs``), that volume
  times the median consolidated/IEX ratio measured on the stocks present in both
  files. ``volume_source`` says which.
* ``price_level``: median close of the last 365 days (a starting level only).

Per layer: ``resid_corr``, the mean pairwise correlation of session-basis factor
residuals of the assets whose main layer (weight >= 0.5) it is (at least 60 common
sessions per pair), clipped to [0, 0.8].

Regimes of the BTC-QQQ relation, on the session basis: a session is ``crisis`` when
QQQ's trailing 21-session volatility is in the top 10% of the window, else
``coupled`` when the trailing 63-session BTC-QQQ correlation exceeds 0.3, else
``decoupled``. For each: share of sessions, pooled correlation of daily session
returns, the volatility of BTC and QQQ relative to the whole window, and the
session-to-session transition matrix of the labels.

Per class (crypto, equity): the median intraday range log(high/low) in units of the
asset's daily volatility, the median overnight gap (open/previous close) and the
dynamics of log dollar volume (AR(1) coefficient, innovation sd, response to |z|).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from computefolio.clock import CRYPTO
from computefolio.data.sources import load_folder, read_long, shared_prices_dir
from computefolio.universe import load_universe

REGIMES = ("decoupled", "coupled", "crisis")
CRISIS_QUANTILE = 0.90
COUPLED_CORR = 0.30
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "computefolio" / "resources" / "sample_params.json"


def _sig(x, n=4):
    """Round to ``n`` significant digits (keeps the JSON small); None for NaN."""
    if x is None:
        return None
    x = float(x)
    if not np.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return float(f"{x:.{n}g}")


def _garch_t(r: np.ndarray) -> tuple[float, float, float]:
    """GARCH(1,1)-t fit of daily returns (fractions); returns (alpha, beta, nu)."""
    from arch import arch_model

    r = r[np.isfinite(r)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = arch_model(100 * r, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fit(disp="off")
    p = res.params
    return float(p["alpha[1]"]), float(p["beta[1]"]), float(p["nu"])


def _ols(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS with intercept; returns (slopes, residuals)."""
    A = np.column_stack([np.ones(len(y)), X])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return coef[1:], y - A @ coef


def _volume_dynamics(dv: pd.Series, r: pd.Series) -> tuple[float, float, float] | None:
    """AR(1) of log dollar volume, its innovation sd, and its slope on |z| (z = r / sd(r))."""
    df = pd.concat({"dv": dv, "r": r}, axis=1, sort=True).dropna()
    df = df[df["dv"] > 0]
    if len(df) < 120:
        return None
    x = np.log(df["dv"].to_numpy())
    x = x - pd.Series(x).rolling(63, min_periods=20, center=True).median().to_numpy()
    z = np.abs(df["r"].to_numpy() / df["r"].std())
    ok = np.isfinite(x)
    x, z = x[ok], z[ok]
    (kappa,), resid = _ols(x, z)
    phi = float(np.corrcoef(resid[1:], resid[:-1])[0, 1])
    innov = float(np.std(resid[1:] - phi * resid[:-1]))
    return phi, innov, float(kappa)


def calibrate(folder: Path, start: str, end: str) -> dict:
    u = load_universe()
    md = load_folder(folder, u.calendars, listed=u.listing_dates())
    win = md.between(start, end)
    ses = win.returns("session", kind="log")
    cal = win.returns("calendar", kind="log")
    btc_s, qqq_s, btc_c = ses["BTC"], ses["QQQ"], cal["BTC"]

    assets: dict[str, dict] = {}
    resid_ses: dict[str, pd.Series] = {}
    for a in u.assets:
        s = a.symbol
        crypto = a.calendar == CRYPTO
        native = (cal[s] if crypto else ses[s]).dropna()
        if len(native) < 60:
            print(f"  {s}: only {len(native)} returns in the window; left to class defaults", file=sys.stderr)
            continue
        ppy = 365 if crypto else 252
        x = native.to_numpy()
        k = float(pd.Series(x).kurt())
        out = {"clock": "calendar" if crypto else "session", "n_obs": int(len(x)),
               "vol_annual": np.std(x, ddof=1) * np.sqrt(ppy), "mean_annual": np.mean(x) * ppy,
               "excess_kurtosis": k, "t_dof_kurtosis": float(np.clip(4 + 6 / max(k, 0.2), 4.2, 30.0))}
        alpha, beta, nu = _garch_t(x)
        out.update(garch_alpha=float(np.clip(alpha, 0.02, 0.25)), garch_beta=float(np.clip(beta, 0.6, 0.97)),
                   t_dof=float(np.clip(nu, 3.5, 30.0)))
        if out["garch_alpha"] + out["garch_beta"] > 0.985:
            out["garch_beta"] = 0.985 - out["garch_alpha"]
        # factor loadings on the asset's own clock
        if s == "BTC":
            bc, be, res_native = 1.0, 0.0, np.zeros(1)
        elif s == "QQQ":
            bc, be, res_native = 0.0, 1.0, np.zeros(1)
        elif crypto:
            d = pd.concat([native, btc_c], axis=1, keys=["y", "b"], sort=True).dropna()
            (bc,), res_native = _ols(d["y"].to_numpy(), d[["b"]].to_numpy())
            be = 0.0
        else:
            d = pd.concat([native, btc_s, qqq_s], axis=1, keys=["y", "b", "q"], sort=True).dropna()
            (bc, be), res_native = _ols(d["y"].to_numpy(), d[["b", "q"]].to_numpy())
        out.update(beta_crypto=bc, beta_equity=be,
                   resid_vol_annual=(np.std(res_native, ddof=1) if len(res_native) > 1 else 0.0) * np.sqrt(ppy))
        d = pd.concat([ses[s], btc_s, qqq_s], axis=1, keys=["y", "b", "q"], sort=True).dropna()
        out["corr_btc"] = float(d["y"].corr(d["b"]))
        out["corr_qqq"] = float(d["y"].corr(d["q"]))
        # session-basis residuals for the layer correlations
        if s not in ("BTC", "QQQ"):
            (b1, b2), rr = _ols(d["y"].to_numpy(), d[["b", "q"]].to_numpy())
            resid_ses[s] = pd.Series(rr, index=d.index)
        px = win.price[s].dropna()  # total-return price (adj_close for equities)
        out["price_level"] = float(px.tail(365 if crypto else 252).median())
        assets[s] = out

    # ------------------------------------------------------------ volumes
    prim = md.volume
    dollar = {}
    for a in u.assets:
        s = a.symbol
        if a.calendar == CRYPTO and prim is not None and s in prim and prim[s].notna().any():
            v = (prim[s] * md.close[s]).dropna()
            v = v[v.index <= pd.Timestamp(end)].tail(365)
            if len(v) >= 60:
                dollar[s] = (float(v.median()), "primary crypto file (base volume x close, USDT~USD)", v)
    dieper = read_long(folder / "equities_ohlcv_daily_dieperdev.csv.gz")
    spooky = read_long(folder / "equities_ohlcv_daily_spookylabs.csv.gz")
    dv_d = dieper.assign(dv=dieper["close"] * dieper["volume"]).pivot(index="date", columns="symbol", values="dv")
    dv_s = spooky.assign(dv=spooky["close"] * spooky["volume"]).pivot(index="date", columns="symbol", values="dv")
    lo_overlap = max(dv_d.index.min(), dv_s.index.min())
    hi_overlap = dv_d.index.max()
    ratios = []
    for s in sorted(set(dv_d.columns) & set(dv_s.columns)):
        a_ = dv_d[s].loc[lo_overlap:hi_overlap]
        b_ = dv_s[s].loc[lo_overlap:hi_overlap]
        j = pd.concat([a_, b_], axis=1, sort=True).dropna()
        j = j[(j.iloc[:, 0] > 0) & (j.iloc[:, 1] > 0)]
        if len(j) > 200 and s in assets and assets[s]["vol_annual"] < 0.6:  # liquid names only
            ratios.append(float((j.iloc[:, 0] / j.iloc[:, 1]).median()))
    iex_scale = float(np.median(ratios)) if ratios else float("nan")
    for a in u.assets:
        s = a.symbol
        if a.calendar == CRYPTO or s in dollar:
            continue
        listed_lo = pd.Timestamp(a.listed) if a.listed else None
        if s in dv_d:
            v = dv_d[s].dropna()
            if listed_lo is not None:
                v = v[v.index >= listed_lo]
            v = v[v > 0].tail(504)
            if len(v) >= 20:
                dollar[s] = (float(v.median()), "equities_ohlcv_daily_dieperdev (consolidated)", v)
                continue
        if s in dv_s and np.isfinite(iex_scale):
            v = dv_s[s].dropna()
            if listed_lo is not None:
                v = v[v.index >= listed_lo]
            v = v[v > 0].tail(504)
            if len(v) >= 20:
                dollar[s] = (float(v.median()) * iex_scale,
                             "equities_ohlcv_daily_spookylabs (IEX) x consolidated/IEX ratio", v * iex_scale)
    for s, (med, src, _) in dollar.items():
        if s in assets:
            assets[s]["median_dollar_volume"] = med
            assets[s]["volume_source"] = src

    # ------------------------------------------------------------ per class: ranges, gaps, volume dynamics
    classes = {}
    ohlc_crypto = md
    for cls_name, is_crypto in (("crypto", True), ("equity", False)):
        ranges, gaps, dyn = [], [], []
        for a in u.assets:
            s = a.symbol
            if (a.calendar == CRYPTO) != is_crypto or s not in assets:
                continue
            if is_crypto:
                src = ohlc_crypto
                if src.high is None or src.high[s].isna().all():
                    continue
                h, l_, o, c = src.high[s], src.low[s], src.open[s], src.close[s]
            else:
                if s not in set(dieper["symbol"]):
                    continue
                d_ = dieper[dieper["symbol"] == s].set_index("date")
                if a.listed:
                    d_ = d_[d_.index >= pd.Timestamp(a.listed)]
                h, l_, o, c = d_["high"], d_["low"], d_["open"], d_["close"]
            j = pd.concat({"h": h, "l": l_, "o": o, "c": c}, axis=1, sort=True).dropna()
            j = j[(j.index >= pd.Timestamp(start)) & (j.index <= pd.Timestamp(end))]
            j = j[(j > 0).all(axis=1)]
            if len(j) < 120:
                continue
            lr = np.log(j["c"]).diff()
            sd = lr.std()
            ranges.append(float((np.log(j["h"] / j["l"]) / sd).median()))
            gaps.append(float((np.log(j["o"] / j["c"].shift()).abs() / sd).median()))
            if s in dollar:
                dd = dyn_ = _volume_dynamics(dollar[s][2], lr)
                if dd is not None:
                    dyn.append(dyn_)
        dyn_a = np.array(dyn) if dyn else np.full((1, 3), np.nan)
        classes[cls_name] = {
            "range_to_sigma": float(np.median(ranges)), "gap_to_sigma": float(np.median(gaps)),
            "volume_ar1": float(np.nanmedian(dyn_a[:, 0])), "volume_innovation_sd": float(np.nanmedian(dyn_a[:, 1])),
            "volume_abs_z": float(np.nanmedian(dyn_a[:, 2])), "n_assets": len(ranges)}

    # ------------------------------------------------------------ layers: residual co-movement
    layers = {}
    for lay in u.layers:
        members = [a.symbol for a in u.assets if a.layers.get(lay, 0.0) >= 0.5 and a.symbol in resid_ses]
        cs = []
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                p = pd.concat([resid_ses[members[i]], resid_ses[members[j]]], axis=1, sort=True).dropna()
                if len(p) >= 60:
                    cs.append(float(p.iloc[:, 0].corr(p.iloc[:, 1])))
        layers[lay] = {"resid_corr": float(np.clip(np.mean(cs), 0.0, 0.8)) if cs else None,
                       "n_pairs": len(cs), "members": len(members)}

    # ------------------------------------------------------------ regimes of BTC-QQQ
    d = pd.concat([btc_s, qqq_s], axis=1, keys=["b", "q"], sort=True).dropna()
    volq = d["q"].rolling(21).std()
    corr63 = d["b"].rolling(63).corr(d["q"])
    lab = pd.Series(np.where(volq > volq.quantile(CRISIS_QUANTILE), 2, np.where(corr63 > COUPLED_CORR, 1, 0)),
                    index=d.index)
    lab = lab[corr63.notna() & volq.notna()]
    dd = d.loc[lab.index]
    trans = np.zeros((3, 3))
    lv = lab.to_numpy()
    for i0, i1 in zip(lv[:-1], lv[1:]):
        trans[i0, i1] += 1
    trans = trans / trans.sum(axis=1, keepdims=True)
    regimes = {"names": list(REGIMES),
               "definition": (f"session basis; crisis: QQQ trailing 21-session vol above its {CRISIS_QUANTILE:.0%} "
                              f"quantile; coupled: trailing 63-session BTC-QQQ correlation > {COUPLED_CORR}; "
                              f"else decoupled"),
               "share": [], "corr_session": [], "vol_mult_crypto": [], "vol_mult_equity": [],
               "transition_session": [[_sig(x) for x in row] for row in trans]}
    for k in range(3):
        m = lv == k
        regimes["share"].append(_sig(m.mean()))
        regimes["corr_session"].append(_sig(dd["b"][m].corr(dd["q"][m])))
        regimes["vol_mult_crypto"].append(_sig(dd["b"][m].std() / dd["b"].std()))
        regimes["vol_mult_equity"].append(_sig(dd["q"][m].std() / dd["q"].std()))
    regimes["corr_session_all"] = _sig(dd["b"].corr(dd["q"]))
    wk = np.exp(d.resample("W-FRI").sum())
    regimes["corr_weekly_all"] = _sig((wk["b"] - 1).corr(wk["q"] - 1))

    out = {
        "meta": {
            "what": "parameters of computefolio.data.sample.sample_market, measured on real prices",
            "created_by": "scripts/calibrate_sample.py",
            "created": dt.date.today().isoformat(),
            "window": [start, end],
            "data": "shared real prices, primary sources (primary.csv), universe listing dates applied",
            "units": "returns are daily log returns; vol/mean annualized on each asset's own clock "
                     "(crypto: calendar days, 365/yr; equities: XNYS sessions, 252/yr); volumes in USD per bar",
            "iex_volume_scale": _sig(iex_scale),
        },
        "factors": {
            "crypto": {"symbol": "BTC", "clock": "calendar"},
            "equity": {"symbol": "QQQ", "clock": "session"},
        },
        "regimes": regimes,
        "layers": {k: {kk: (_sig(vv) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                   for k, v in layers.items()},
        "classes": {k: {kk: (_sig(vv) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                    for k, v in classes.items()},
        "assets": {s: {k: (_sig(v) if isinstance(v, (float, np.floating)) else v) for k, v in a.items()}
                   for s, a in assets.items()},
    }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", default="2019-01-01")
    ap.add_argument("--end", default="2025-12-31")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    folder = shared_prices_dir()
    if folder is None:
        print("real price data not found: set COMPUTEFOLIO_DATA or place shared/data/prices beside the checkout",
              file=sys.stderr)
        return 2
    params = calibrate(folder, args.start, args.end)
    args.out.write_text(json.dumps(params, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    r = params["regimes"]
    print(f"wrote {args.out.name}: {len(params['assets'])} assets; BTC-QQQ session corr by regime "
          f"{dict(zip(r['names'], r['corr_session']))}, shares {r['share']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
