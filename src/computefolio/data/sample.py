"""The built-in sample market: a seeded, calibrated simulation of every universe asset.

:func:`sample_market` returns a :class:`~computefolio.data.market.MarketData` flagged
``simulated=True`` (label ``"sample market (simulated)"``) so that the demo, the
tests and the docs run without any real data. Its parameters are *measured* on the
real prices by ``scripts/calibrate_sample.py`` and stored as numbers only in
``resources/sample_params.json`` (:func:`sample_params`).

Model
-----
Everything is simulated as daily **log** returns on each component's own clock:

* Calendar clock (every day; crypto): the crypto factor ``C`` (scaled to BTC),
  one layer factor per layer, and the idiosyncratic part of each crypto asset.
* Session clock (XNYS sessions): the equity factor ``E`` (scaled to QQQ), one layer
  factor per layer, and the idiosyncratic part of each non-crypto asset.

Every component is a GARCH(1,1) process (Bollerslev 1986) with standardized
Student-t innovations (Bollerslev 1987), of unit unconditional variance, then scaled.
A crypto asset's return on day ``d`` is ::

    x = mu + beta_C * C_d + s_res * (a * L_d + sqrt(1 - a^2) * e_d)

and a non-crypto asset's return on its session ``t`` is ::

    x = mu + beta_E * E(t-1, t] + beta_C * C(t-1, t] + s_res * (a * L(t-1, t] + sqrt(1 - a^2) * e_t)

where ``C(t-1, t]`` is the crypto factor *summed over every calendar day since the
previous session* (a miner's Monday carries bitcoin's weekend; equities have no
return on days their exchange is closed), ``L`` is the membership-weighted mix of
the asset's layer factors (``sum_k w_k L_k / ||w||``, unit variance) and
``a = sqrt(mean residual correlation of its layers)``.

Regimes: a Markov chain on sessions over ``decoupled / coupled / crisis`` with the
transition matrix measured on BTC-QQQ (each calendar day takes the regime of the
session on or after it). In regime ``r`` the innovations of ``E`` and ``C`` on a
session day have correlation ``rho_d(r) = min(0.95, rho_s(r) * sqrt(365/252))``,
where ``rho_s(r)`` is the measured correlation of *session-basis* returns (a session
return of bitcoin sums about 365/252 days, only one of which shares the equity
shock); the factor volatilities are multiplied by the measured regime multipliers
(normalized to unit mean variance over the stationary regime shares).

Volumes: log dollar volume per bar follows an AR(1) around the asset's measured
median dollar volume, plus a response to the size of the day's standardized
return. Base-unit volume is dollar volume / close. OHLC: crypto opens at the
previous close (continuous market); equities open at the previous close times a
gap; high and low lie outside open and close by half-normal multiples of the
asset's conditional daily volatility, scaled to the measured median range.

Assets listed after ``start`` (universe ``listed``) start on their listing date at
their measured price level; before that (and after ``delisted``) every value is NaN.
Private assets (``asset_class: private``) have no market: their columns are empty (they
are valued by their marks, :mod:`computefolio.private`).
Prices are total-return prices (no dividends are simulated), so ``adj_close`` is not
set. Assets without measured parameters (a custom universe) take the median
parameters of their class (crypto or not).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ..clock import CRYPTO, SESSION_CALENDAR, sessions
from ..errors import DataError
from ..universe import Universe, load_universe
from .market import SAMPLE_LABEL, MarketData

__all__ = ["sample_market", "sample_params", "REGIMES"]

REGIMES: tuple[str, ...] = ("decoupled", "coupled", "crisis")

#: Residual correlation inside a layer when it was not measured (fewer than 2 members).
DEFAULT_LAYER_CORR = 0.25
#: GARCH parameters and Student-t dof of the layer factors.
LAYER_GARCH = (0.08, 0.90)
LAYER_DOF = 5.0
#: Floor of the Student-t dof (keeps the fourth moment finite so kurtosis is estimable).
MIN_DOF = 4.0
#: Drift: every asset is given the same expected *arithmetic* Sharpe ratio on its own
#: calibrated volatility, so its log drift is ``DRIFT_SHARPE * vol - vol**2 / 2`` (annual).
#: The measured 2019-2025 means are not used: that window was an extraordinary bull market
#: for both sleeves, and a demo should not promise it again. With this rule a 100%-vol token
#: has a negative median path (as most small tokens do) while its expected return is positive.
DRIFT_SHARPE = 0.3
_MEDIAN_SUM_HALF_NORMALS = 1.4865  # median of |n1| + |n2|, n standard normal
_MEDIAN_ABS_CLOSE_TO_OPEN = 0.6    # about median |x| / sigma for fat-tailed daily returns


@lru_cache(maxsize=1)
def _load_params_text() -> str:
    return (resources.files("computefolio") / "resources" / "sample_params.json").read_text(encoding="utf-8")


def sample_params() -> dict:
    """The calibrated parameters (a fresh copy of ``resources/sample_params.json``).

    See ``scripts/calibrate_sample.py`` for what each number is and how it was measured.
    """
    return json.loads(_load_params_text())


# ---------------------------------------------------------------------- helpers
def _std_t(rng: np.random.Generator, dof: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Student-t draws scaled to unit variance; ``dof`` broadcasts over the last axis."""
    dof = np.broadcast_to(np.asarray(dof, dtype=float), (shape[1],))
    z = rng.standard_t(dof, size=shape)
    return z * np.sqrt((dof - 2.0) / dof)


def _garch(z: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GARCH(1,1) paths of unit unconditional variance driven by innovations ``z``.

    ``eps_t = sqrt(h_t) z_t``, ``h_t = (1 - a - b) + a eps_{t-1}^2 + b h_{t-1}``, ``h_0 = 1``.
    Returns (eps, h), both shaped like ``z`` (T x n).
    """
    T, n = z.shape
    eps = np.empty_like(z)
    hs = np.empty_like(z)
    omega = 1.0 - alpha - beta
    h = np.ones(n)
    for t in range(T):
        hs[t] = h
        e = np.sqrt(h) * z[t]
        eps[t] = e
        h = omega + alpha * e * e + beta * h
    return eps, hs


def _interval_sums(daily: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Sum daily values over (pos[t-1], pos[t]] for each session position ``pos[t]``.

    The first session gets only its own day (the interval before the window is unknown).
    """
    cs = np.cumsum(daily, axis=0)
    out = cs[pos].copy()
    out[1:] -= cs[pos[:-1]]
    if len(pos):
        out[0] = daily[pos[0]]
    return out


def _class_defaults(params: dict) -> dict[str, dict]:
    """Median parameters of crypto and of non-crypto assets, for unmeasured symbols."""
    out = {}
    keys = ("vol_annual", "mean_annual", "t_dof", "garch_alpha", "garch_beta", "beta_crypto", "beta_equity",
            "resid_vol_annual", "median_dollar_volume", "price_level")
    for cls, clock in (("crypto", "calendar"), ("equity", "session")):
        rows = [a for s, a in params["assets"].items() if a["clock"] == clock and s not in ("BTC", "QQQ")]
        out[cls] = {k: float(np.nanmedian([np.nan if r.get(k) is None else r[k] for r in rows])) for k in keys}
    return out


def _regime_path(rng: np.random.Generator, P: np.ndarray, share: np.ndarray, n: int) -> np.ndarray:
    """A Markov chain of ``n`` steps with transition matrix ``P``, started from ``share``."""
    u = rng.random(n)
    cum = np.cumsum(P, axis=1)
    cum[:, -1] = 1.0
    out = np.empty(n, dtype=np.int64)
    k = int(np.searchsorted(np.cumsum(share) / np.sum(share), u[0], side="right"))
    k = min(k, len(share) - 1)
    for t in range(n):
        if t:
            k = int(np.searchsorted(cum[k], u[t], side="right"))
            k = min(k, len(share) - 1)
        out[t] = k
    return out


# ---------------------------------------------------------------------- generator
def sample_market(universe: Universe | None = None, start="2019-01-01", end="2025-12-31", seed: int = 7,
                  params: dict | None = None) -> MarketData:
    """Simulate daily OHLCV for every asset of ``universe`` (see the module docstring).

    Parameters
    ----------
    universe : Universe, optional
        Assets to simulate (default: the shipped ``compute_backed`` universe).
    start, end : date-like
        Inclusive calendar window (default 2019-01-01 to 2025-12-31).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives identical frames.
    params : dict, optional
        Parameters in the format of :func:`sample_params` (default: the shipped ones).

    Returns
    -------
    MarketData
        ``simulated=True``, ``source="sample market (simulated)"``, currency USD.
        ``close``/``open``/``high``/``low`` in USD, ``volume`` in base units (shares
        or coins); crypto has a bar every calendar day, other assets only on their
        exchange's sessions (NaN otherwise). ``provenance`` holds the seed, the
        parameter window, the simulated regime of each calendar day
        (``provenance["regimes"]``, a Series of regime names) and the symbols whose
        volume level was a class fallback.
    """
    u = universe if universe is not None else load_universe()
    P = params if params is not None else sample_params()
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if end < start:
        raise DataError(f"sample_market: end {end.date()} is before start {start.date()}")
    rng = np.random.default_rng(seed)
    days = sessions(CRYPTO, start, end)
    D = len(days)
    sess = sessions(SESSION_CALENDAR, start, end)
    if len(sess) < 2:
        raise DataError(f"sample_market: the window {start.date()}..{end.date()} holds fewer than 2 XNYS sessions")
    S = len(sess)
    spos = days.get_indexer(sess)
    syms = u.symbols
    n = len(syms)
    is_crypto = np.array([u.asset(s).calendar == CRYPTO for s in syms])
    defaults = _class_defaults(P)

    def par(sym: str, key: str, crypto: bool) -> float:
        a = P["assets"].get(sym)
        v = None if a is None else a.get(key)
        return float(defaults["crypto" if crypto else "equity"][key] if v is None else v)

    fb_volume = [s for s, c in zip(syms, is_crypto) if P["assets"].get(s, {}).get("median_dollar_volume") is None]
    A = {k: np.array([par(s, k, c) for s, c in zip(syms, is_crypto)]) for k in
         ("vol_annual", "mean_annual", "t_dof", "garch_alpha", "garch_beta", "beta_crypto", "beta_equity",
          "resid_vol_annual", "price_level")}
    # volume level: measured, else median of measured assets of the same sleeve and class, else class default
    adv = np.empty(n)
    for i, s in enumerate(syms):
        a = P["assets"].get(s, {})
        if a.get("median_dollar_volume") is not None:
            adv[i] = a["median_dollar_volume"]
            continue
        me = u.asset(s)
        peers = [P["assets"][t]["median_dollar_volume"] for t in u.select(sleeve=me.sleeve, asset_class=me.asset_class)
                 if t != s and P["assets"].get(t, {}).get("median_dollar_volume") is not None]
        adv[i] = float(np.median(peers)) if peers else defaults["crypto" if is_crypto[i] else "equity"]["median_dollar_volume"]
    ppy = np.where(is_crypto, 365.0, 252.0)
    sd = A["vol_annual"] / np.sqrt(ppy)                       # daily total sd, own clock
    sd_res = A["resid_vol_annual"] / np.sqrt(ppy)
    mu = (DRIFT_SHARPE * A["vol_annual"] - 0.5 * A["vol_annual"] ** 2) / ppy
    dof = np.maximum(A["t_dof"], MIN_DOF)

    # ------------------------------------------------------------------ regimes
    R = P["regimes"]
    Ps = np.asarray(R["transition_session"], dtype=float)
    Ps = Ps / Ps.sum(axis=1, keepdims=True)
    share = np.asarray(R["share"], dtype=float)
    reg_s = _regime_path(rng, Ps, share, S)
    nxt = np.minimum(np.searchsorted(spos, np.arange(D), side="left"), S - 1)
    reg_d = reg_s[nxt]
    rho_s = np.asarray(R["corr_session"], dtype=float)
    rho_d = np.minimum(0.95, rho_s * np.sqrt(365.0 / 252.0))
    mC = np.asarray(R["vol_mult_crypto"], dtype=float)
    mE = np.asarray(R["vol_mult_equity"], dtype=float)
    mC = mC / np.sqrt(np.sum(share * mC ** 2) / share.sum())
    mE = mE / np.sqrt(np.sum(share * mE ** 2) / share.sum())

    # ------------------------------------------------------------------ factors
    btc, qqq = P["assets"]["BTC"], P["assets"]["QQQ"]
    zC = _std_t(rng, max(btc["t_dof"], MIN_DOF), (D, 1))[:, 0]
    uE = _std_t(rng, max(qqq["t_dof"], MIN_DOF), (S, 1))[:, 0]
    r_on_s = rho_d[reg_s]
    zE = r_on_s * zC[spos] + np.sqrt(1.0 - r_on_s ** 2) * uE
    epsC, _ = _garch(zC[:, None], np.array([btc["garch_alpha"]]), np.array([btc["garch_beta"]]))
    epsE, _ = _garch(zE[:, None], np.array([qqq["garch_alpha"]]), np.array([qqq["garch_beta"]]))
    fC = epsC[:, 0] * mC[reg_d] * btc["vol_annual"] / np.sqrt(365.0)     # per calendar day
    fE = epsE[:, 0] * mE[reg_s] * qqq["vol_annual"] / np.sqrt(252.0)     # per session

    layers = list(u.layers)
    K = len(layers)
    la, lb = np.full(K, LAYER_GARCH[0]), np.full(K, LAYER_GARCH[1])
    Lcal, _ = _garch(_std_t(rng, LAYER_DOF, (D, K)), la, lb)
    Lses, _ = _garch(_std_t(rng, LAYER_DOF, (S, K)), la, lb)

    # membership-weighted layer mix and its weight a_i (classification as of the window's end)
    W = u.membership("layer", date=end, symbols=syms).reindex(columns=layers).to_numpy()
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    lc = np.array([(P["layers"].get(k) or {}).get("resid_corr") for k in layers], dtype=object)
    lc = np.array([DEFAULT_LAYER_CORR if v is None else float(v) for v in lc])
    a_i = np.sqrt(np.clip((W * lc).sum(axis=1), 0.0, 0.95))

    # ------------------------------------------------------------------ idiosyncratic parts
    ci, ei = np.flatnonzero(is_crypto), np.flatnonzero(~is_crypto)
    x = np.full((D, n), np.nan)            # log returns on each asset's own clock (row = calendar day)
    hh = np.full((D, n), np.nan)           # conditional idio variance (unit mean), for OHLC ranges
    if len(ci):
        epsI, hI = _garch(_std_t(rng, dof[ci], (D, len(ci))), A["garch_alpha"][ci], A["garch_beta"][ci])
        mix = Lcal @ Wn[ci].T
        x[:, ci] = (mu[ci] + A["beta_crypto"][ci] * fC[:, None]
                    + sd_res[ci] * (a_i[ci] * mix + np.sqrt(1 - a_i[ci] ** 2) * epsI))
        hh[:, ci] = hI
    other_cals = sorted({u.asset(syms[i]).calendar for i in ei})
    for cal in other_cals:
        idx = np.array([i for i in ei if u.asset(syms[i]).calendar == cal])
        own = sessions(cal, start, end)
        opos = days.get_indexer(own)
        T = len(opos)
        if T == 0:
            continue
        # equity factor and equity layer factors as daily arrays (zero off XNYS sessions)
        fE_d = np.zeros(D)
        fE_d[spos] = fE
        Lses_d = np.zeros((D, K))
        Lses_d[spos] = Lses
        E_int = _interval_sums(fE_d, opos)
        C_int = _interval_sums(fC, opos)
        L_int = _interval_sums(Lses_d, opos)
        epsI, hI = _garch(_std_t(rng, dof[idx], (T, len(idx))), A["garch_alpha"][idx], A["garch_beta"][idx])
        mix = L_int @ Wn[idx].T
        x[opos[:, None], idx[None, :]] = (mu[idx] + A["beta_equity"][idx] * E_int[:, None]
                                          + A["beta_crypto"][idx] * C_int[:, None]
                                          + sd_res[idx] * (a_i[idx] * mix + np.sqrt(1 - a_i[idx] ** 2) * epsI))
        hh[opos[:, None], idx[None, :]] = hI

    # ------------------------------------------------------------------ lives
    alive = np.zeros((D, n), dtype=bool)
    for i, s in enumerate(syms):
        a = u.asset(s)
        if a.asset_class == "private":
            continue  # no market: the column stays empty (valued by its marks, computefolio.private)
        lo = max(start, pd.Timestamp(a.listed)) if a.listed else start
        hi = min(end, pd.Timestamp(a.delisted)) if a.delisted else end
        alive[:, i] = (days >= lo) & (days <= hi)
    bar = np.isfinite(x) & alive
    x = np.where(bar, x, np.nan)
    first = np.argmax(bar, axis=0)
    has = bar.any(axis=0)
    x[first[has], np.flatnonzero(has)] = 0.0          # the listing bar sets the level
    logp = np.log(A["price_level"]) + np.where(bar, np.nan_to_num(x), 0.0).cumsum(axis=0)
    close = np.where(bar, np.exp(logp), np.nan)

    # ------------------------------------------------------------------ OHLC
    cls = P["classes"]
    prev = np.full_like(close, np.nan)
    for i in range(n):
        rows = np.flatnonzero(bar[:, i])
        if len(rows):
            prev[rows, i] = np.concatenate([[close[rows[0], i]], close[rows[:-1], i]])
    sig_t = sd * np.sqrt(np.where(np.isfinite(hh), hh, 1.0))
    # crypto trades continuously: its open is the previous close (no gap)
    gap_c = np.where(is_crypto, 0.0, cls["equity"]["gap_to_sigma"] / 0.6745)
    gap = gap_c * sig_t * rng.standard_normal((D, n))
    opn = np.where(bar, prev * np.exp(np.clip(gap, -0.5, 0.5)), np.nan)
    rng_ratio = np.where(is_crypto, cls["crypto"]["range_to_sigma"], cls["equity"]["range_to_sigma"])
    kx = np.maximum(0.05, (rng_ratio - _MEDIAN_ABS_CLOSE_TO_OPEN) / _MEDIAN_SUM_HALF_NORMALS)
    up = np.abs(rng.standard_normal((D, n))) * kx * sig_t
    dn = np.abs(rng.standard_normal((D, n))) * kx * sig_t
    high = np.where(bar, np.maximum(opn, close) * np.exp(up), np.nan)
    low = np.where(bar, np.minimum(opn, close) * np.exp(-dn), np.nan)

    # ------------------------------------------------------------------ volumes
    vol = np.full((D, n), np.nan)
    for crypto, clsname in ((True, "crypto"), (False, "equity")):
        idx = np.flatnonzero(is_crypto == crypto)
        if not len(idx):
            continue
        c = cls[clsname]
        phi, s_in, kap = float(c["volume_ar1"]), float(c["volume_innovation_sd"]), float(c["volume_abs_z"])
        eta = rng.standard_normal((D, len(idx)))
        for j, i in enumerate(idx):
            rows = np.flatnonzero(bar[:, i])
            if not len(rows):
                continue
            z = np.abs(x[rows, i] - mu[i]) / sd[i]
            inn = s_in * eta[rows, j] + kap * (z - np.mean(z))
            y = lfilter([1.0], [1.0, -phi], inn)     # AR(1) of log dollar volume
            vol[rows, i] = adv[i] * np.exp(y - np.median(y)) / close[rows, i]

    idx = pd.DatetimeIndex(days, name="date")
    frame = lambda m: pd.DataFrame(m, index=idx, columns=syms)  # noqa: E731
    reg_series = pd.Series(np.array(REGIMES, dtype=object)[reg_d], index=idx, name="regime")
    prov = {
        "generator": "computefolio.data.sample.sample_market",
        "seed": int(seed),
        "params_window": list(P.get("meta", {}).get("window", [])),
        "regimes": reg_series,
        "regime_corr_daily": dict(zip(REGIMES, map(float, rho_d))),
        "volume_fallback": fb_volume,
    }
    return MarketData(close=frame(close), calendars=u.calendars, open=frame(opn), high=frame(high), low=frame(low),
                      volume=frame(vol), currency=u.base_currency, source=SAMPLE_LABEL, simulated=True,
                      provenance=prov)
