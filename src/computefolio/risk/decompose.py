"""Where the risk comes from: volatility and ES contributions by asset and by taxonomy.

Per asset, Euler contributions (Tasche 1999) add up to the book's total:

* volatility: ``c_i = w_i (S w)_i / sigma_p`` (annualized with the covariance's
  periods per year; ``sum_i c_i = sigma_p``);
* ES (or VaR): from a :class:`~computefolio.risk.var.VaRResult`.

By group (layer, theme, sleeve, asset_class, venue, calendar), the asset contributions
are pushed through the universe's *weighted membership*: ``C_g = sum_i m_ig c_i``. A miner
that is 60% ``bitcoin_mining`` and 40% ``ai_hosting`` splits its contribution 60/40.
Layers, sleeves and the other single-valued fields partition the book, so group
contributions add up to the total; themes overlap, so theirs need not (stated in the
output). Symbols missing from the universe go to the group ``"unclassified"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .covariance import CovarianceEstimator, LedoitWolfCovariance
from .portfolio import check_weights
from .var import VaRResult

PARTITIONS = ("layer", "sleeve", "asset_class", "venue", "calendar")
GROUPINGS = ("layer", "theme", "sleeve")


def volatility_contributions(weights: pd.Series, covariance: pd.DataFrame,
                             periods_per_year: int | None = None) -> pd.Series:
    """Euler contributions to the book's volatility, per asset (they sum to the volatility).

    Parameters
    ----------
    weights : Series of fractions of capital.
    covariance : per-period covariance (symbols x symbols).
    periods_per_year : annualize by sqrt(periods_per_year) when given.
    """
    w = check_weights(weights)
    cov = covariance.loc[w.index, w.index].to_numpy(dtype=float)
    if not np.isfinite(cov).all():
        raise ValueError("covariance has NaN for held assets: use PairwiseShrunkCovariance for young histories")
    wv = w.to_numpy()
    sw = cov @ wv
    sig = float(np.sqrt(wv @ sw))
    c = wv * sw / sig if sig > 0 else np.zeros_like(wv)
    if periods_per_year:
        c = c * np.sqrt(periods_per_year)
    return pd.Series(c, index=w.index, name="vol_contribution")


def aggregate(contributions: pd.Series, universe, by: str, date=None) -> pd.Series:
    """Push per-asset contributions through weighted membership: ``C_g = sum_i m_ig c_i``."""
    syms = [s for s in contributions.index if s in universe]
    other = [s for s in contributions.index if s not in universe]
    if syms:
        m = universe.membership(by, date=date, symbols=syms)
        out = m.T @ contributions.loc[syms].to_numpy()
        out = out[(m != 0).any(axis=0).to_numpy()]
    else:
        out = pd.Series(dtype=float)
    if other:
        out.loc["unclassified"] = float(contributions.loc[other].sum())
    return out.rename(by)


@dataclass
class Decomposition:
    """Risk contributions of a book by asset and by group.

    ``by_asset``: DataFrame indexed by symbol with ``weight``, ``vol_contribution`` (annualized
    fraction), ``vol_share`` (of total volatility) and, when an ES result was given,
    ``es_contribution`` (fraction of capital) and ``es_share``.
    ``by_group``: dict taxonomy -> DataFrame indexed by group with ``exposure`` (look-through
    weight) and the same contribution columns.
    """

    by_asset: pd.DataFrame
    by_group: dict[str, pd.DataFrame]
    volatility: float
    es: float | None
    periods_per_year: int | None
    basis: str | None
    covariance: dict = field(default_factory=dict)
    es_method: str | None = None
    confidence: float | None = None
    horizon: int | None = None

    def to_dict(self) -> dict:
        def rows(df):
            return {str(k): {c: (None if pd.isna(v) else float(v)) for c, v in r.items()} for k, r in df.iterrows()}

        return {
            "volatility_annualized": self.volatility, "es_pct": self.es, "basis": self.basis,
            "periods_per_year": self.periods_per_year, "covariance": self.covariance,
            "es_method": self.es_method, "confidence": self.confidence, "horizon_periods": self.horizon,
            "units": {"weight": "fraction of capital", "vol_contribution": "annualized volatility, fraction",
                      "es_contribution": "fraction of capital (loss positive)", "*_share": "fraction of total"},
            "note": "groups use weighted membership; layers and sleeves add up to the total, themes overlap",
            "by_asset": rows(self.by_asset),
            "by_group": {k: rows(v) for k, v in self.by_group.items()},
        }


def risk_decomposition(weights: pd.Series, returns: pd.DataFrame, universe=None, *,
                       estimator: CovarianceEstimator | None = None, es: VaRResult | None = None,
                       by=GROUPINGS, date=None) -> Decomposition:
    """Volatility and ES contributions per asset and aggregated by ``by`` taxonomies.

    Parameters
    ----------
    weights : Series of fractions of capital.
    returns : per-period returns with basis attrs.
    universe : :class:`~computefolio.universe.Universe`, optional (no groups without it).
    estimator : covariance estimator (default :class:`LedoitWolfCovariance` on complete rows
        of the held assets).
    es : a :class:`VaRResult` whose ES contributions to include.
    """
    w = check_weights(weights)
    w = w[w != 0]
    est = estimator if estimator is not None else LedoitWolfCovariance()
    est.fit(returns.loc[:, list(w.index)])
    ppy = est.periods_per_year_
    vc = volatility_contributions(w, est.covariance_, ppy)
    vol = float(vc.sum())
    df = pd.DataFrame({"weight": w, "vol_contribution": vc, "vol_share": vc / vol if vol else np.nan})
    es_total = None
    if es is not None:
        ec = es.es_contributions.reindex(w.index).fillna(0.0)
        es_total = float(es.es_pct)
        df["es_contribution"] = ec
        df["es_share"] = ec / es_total if es_total else np.nan
    groups: dict[str, pd.DataFrame] = {}
    if universe is not None:
        for b in by:
            g = pd.DataFrame({"exposure": aggregate(w, universe, b, date)})
            g["vol_contribution"] = aggregate(vc, universe, b, date)
            g["vol_share"] = g["vol_contribution"] / vol if vol else np.nan
            if es is not None:
                g["es_contribution"] = aggregate(df["es_contribution"], universe, b, date)
                g["es_share"] = g["es_contribution"] / es_total if es_total else np.nan
            groups[b] = g.sort_values("vol_contribution", ascending=False)
    return Decomposition(by_asset=df.sort_values("vol_contribution", ascending=False), by_group=groups,
                         volatility=vol, es=es_total, periods_per_year=ppy, basis=est.basis_,
                         covariance=est.describe(), es_method=es.method if es else None,
                         confidence=es.confidence if es else None, horizon=es.horizon if es else None)
