"""The market seen by value chain: one row per layer (or theme, sleeve...) of the universe.

:func:`layer_summary` answers "how does each layer behave?" with a basket per layer:
its weighted number of assets, its annualized volatility on both valuation bases, and
its correlation with bitcoin and with the Nasdaq-100.

Conventions
-----------
* **Basket.** The basket of group ``g`` holds every asset ``i`` of the market with
  membership weight ``w_ig > 0`` (``Universe.membership(by, date)``: a miner that is
  60% mining / 40% AI hosting counts 0.6 in one basket and 0.4 in the other). Each
  period its return is ``sum_i w_ig r_i / sum_i w_ig`` over the assets that have a
  return that period (equal weight up to membership, rebalanced every period; an
  asset enters the basket when it lists). Returns are simple returns.
* **Volatility** is the standard deviation of the basket's per-period returns times
  the square root of the basis' periods per year: on the session basis (XNYS
  sessions, crypto compounded over weekends and holidays into the next session,
  252/yr) and on the calendar basis (every day, equities flat when closed, 365/yr).
  For one asset or basket both figures should agree within sampling error; a large
  gap points at a clock bug.
* **Correlation** with BTC and with QQQ is the Pearson correlation of *daily
  session-basis* returns (BTC compounded over weekends into Monday). Crypto closes
  at 24:00 UTC, after the 16:00 New York equity close, so these raw daily figures
  are not corrected for non-synchronous closes (see the risk module for lead-lag and
  weekly estimates).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data.market import MarketData
from .errors import DataError
from .universe import Universe

__all__ = ["layer_summary", "group_summary", "basket_returns"]


def basket_returns(market: MarketData, universe: Universe, by: str = "layer", basis: str = "session",
                   date=None, symbols=None) -> pd.DataFrame:
    """Membership-weighted equal-weight basket returns of every group.

    Parameters
    ----------
    market : MarketData
    universe : Universe
        Must know every symbol used (``KeyError`` otherwise).
    by : str
        Taxonomy field of :meth:`Universe.membership` (``"layer"``, ``"theme"``, ...).
    basis : {"session", "calendar"}
    date : date-like, optional
        Classification date (None: current classification).
    symbols : sequence of str, optional
        Restrict to these market symbols (default: all of them).

    Returns
    -------
    pandas.DataFrame
        Dates of ``basis`` x group ids, simple returns (fractions), NaN where no member
        has a return; ``attrs`` carry ``basis``, ``periods_per_year``, ``currency``.
    """
    syms = list(market.symbols if symbols is None else symbols)
    r = market.returns(basis)[syms]
    M = universe.membership(by, date=date, symbols=syms)
    R = r.to_numpy()
    have = np.isfinite(R)
    Rz = np.where(have, R, 0.0)
    W = M.to_numpy()
    num = Rz @ W
    den = have.astype(float) @ W
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    frame = pd.DataFrame(out, index=r.index, columns=M.columns)
    frame.attrs.update(r.attrs)
    return frame


def group_summary(market: MarketData, universe: Universe, by: str = "layer", date=None,
                  btc: str = "BTC", qqq: str = "QQQ", min_obs: int = 20) -> pd.DataFrame:
    """One row per group of ``by``: size, volatility on both bases, correlation with BTC and QQQ.

    Parameters
    ----------
    market : MarketData
        Prices (real or the sample). Returns over its whole window, or up to ``date``.
    universe : Universe
        Taxonomy; every market symbol must be in it.
    by : str
        ``"layer"`` (default), ``"theme"``, ``"sleeve"``, ...
    date : date-like, optional
        As-of date: the classification in force that day and returns up to it
        (None: the current classification and the whole window).
    btc, qqq : str
        Reference symbols for the correlations (columns are NaN if absent).
    min_obs : int
        Fewer session returns than this gives NaN statistics for the group.

    Returns
    -------
    pandas.DataFrame
        Index: group id. Columns (conventions in the module docstring):

        ``name``
            Display name.
        ``assets``
            Weighted number of assets: sum of membership weights over the market's symbols.
        ``obs_session``
            Number of session returns of the basket.
        ``vol_ann_session_<P>``
            Annualized volatility (fraction), session basis, P = 252 periods a year.
        ``vol_ann_calendar_<P>``
            Annualized volatility (fraction), calendar basis, P = 365.
        ``corr_btc_daily_session``, ``corr_qqq_daily_session``
            Correlation of daily session-basis returns with ``btc`` / ``qqq``.

        ``attrs``: ``by``, ``date``, ``currency``, ``source``, ``simulated``, ``basis_note``.
    """
    if date is not None:
        market = market.between(None, date)
    syms = list(market.symbols)
    unknown = [s for s in syms if s not in universe]
    if unknown:
        raise DataError(f"layer summary: market symbols not in universe {universe.name!r}: {', '.join(unknown)}")
    M = universe.membership(by, date=date, symbols=syms)
    bs = basket_returns(market, universe, by, "session", date, syms)
    bc = basket_returns(market, universe, by, "calendar", date, syms)
    ps, pc = market.periods_per_year("session"), market.periods_per_year("calendar")
    rs = market.returns("session")
    ref = {k: (rs[s].to_numpy() if s in rs.columns else None) for k, s in (("btc", btc), ("qqq", qqq))}
    S, C = bs.to_numpy(), bc.to_numpy()
    rows = []
    for j, g in enumerate(M.columns):
        xs, xc = S[:, j], C[:, j]
        fs, fc = np.isfinite(xs), np.isfinite(xc)
        ok = int(fs.sum()) >= min_obs
        row = {"group": g, "name": universe.group_name(by, g), "assets": float(M[g].sum()),
               "obs_session": int(fs.sum()),
               f"vol_ann_session_{ps}": float(np.std(xs[fs], ddof=1) * np.sqrt(ps)) if ok else np.nan,
               f"vol_ann_calendar_{pc}": float(np.std(xc[fc], ddof=1) * np.sqrt(pc)) if fc.sum() >= min_obs
               else np.nan}
        for k in ("btc", "qqq"):
            col = f"corr_{k}_daily_session"
            row[col] = np.nan
            if ref[k] is None or not ok:
                continue
            both = fs & np.isfinite(ref[k])
            if both.sum() >= min_obs:
                row[col] = float(np.corrcoef(xs[both], ref[k][both])[0, 1])
        rows.append(row)
    out = pd.DataFrame(rows).set_index("group")
    out.attrs.update({
        "by": by, "date": None if date is None else str(pd.Timestamp(date).date()),
        "currency": market.currency, "source": market.label, "simulated": market.simulated,
        "basis_note": (f"basket = membership-weighted equal weight, rebalanced each period; vol = sd of simple "
                       f"returns x sqrt(periods/yr) on the session ({ps}/yr) and calendar ({pc}/yr) bases; "
                       f"correlations of daily session-basis returns with {btc} and {qqq}, not corrected "
                       f"for non-synchronous closes"),
    })
    return out


def layer_summary(market: MarketData, universe: Universe, date=None, *, btc: str = "BTC", qqq: str = "QQQ",
                  min_obs: int = 20) -> pd.DataFrame:
    """One row per layer of ``universe``: :func:`group_summary` with ``by="layer"``.

    Example
    -------
    >>> from computefolio.data.sample import sample_market
    >>> from computefolio.universe import load_universe
    >>> u = load_universe(); m = sample_market(u)
    >>> layer_summary(m, u).columns.tolist()[:3]
    ['name', 'assets', 'obs_session']
    """
    return group_summary(market, universe, "layer", date=date, btc=btc, qqq=qqq, min_obs=min_obs)
