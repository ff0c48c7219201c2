"""Turning a book (weights or holdings) and a returns frame into aligned NumPy arrays.

Conventions
-----------
* ``weights`` are fractions of capital (0.05 = 5% of capital; they need not sum to
  one: the rest is cash, negative is short).
* ``holdings`` are currency amounts; :func:`weights_from_holdings` divides them by the
  capital (default: their gross sum).
* ``returns`` are simple per-period returns on one basis (``attrs["basis"]``),
  periods x symbols, NaN where an asset has no return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError

DEFAULT_CAPITAL = 100_000_000.0


def weights_from_holdings(holdings: pd.Series, capital: float | None = None) -> pd.Series:
    """Currency amounts per symbol -> fractions of ``capital`` (default: gross of the amounts)."""
    h = pd.Series(holdings, dtype=float)
    if h.isna().any():
        raise DataError(f"holdings have no amount for: {', '.join(map(str, h.index[h.isna()]))}")
    cap = float(capital) if capital is not None else float(h.abs().sum())
    if not cap > 0:
        raise DataError("capital must be positive")
    return (h / cap).rename("weight")


def check_weights(weights) -> pd.Series:
    """A float Series of weights with unique string symbols and no NaN."""
    w = weights.astype(float) if isinstance(weights, pd.Series) else pd.Series(weights, dtype=float)
    if not pd.api.types.is_string_dtype(w.index):
        w.index = [str(s) for s in w.index]
    if w.index.has_duplicates:
        raise DataError(f"weights list a symbol twice: {w.index[w.index.duplicated()][0]}")
    if w.isna().any():
        raise DataError(f"weights have NaN for: {', '.join(w.index[w.isna()])}")
    if len(w) == 0:
        raise DataError("the book is empty: no weights")
    return w


@dataclass
class Aligned:
    """A book aligned with its returns."""

    weights: pd.Series          # held symbols (non-zero), fractions of capital
    x: np.ndarray               # (T, N) returns of held symbols on rows used
    index: pd.DatetimeIndex     # the T periods used
    dropped: int                # periods dropped because a held asset had no return
    basis: str | None
    periods_per_year: int | None
    currency: str
    r: np.ndarray | None = None  # (T,) book returns x @ w on the periods used

    @property
    def w(self) -> np.ndarray:
        return self.weights.to_numpy()

    def note(self) -> str:
        return complete_periods_note(len(self.index), self.dropped)


def complete_periods_note(n: int, dropped: int) -> str:
    """How many periods a result used (``n``) and how many incomplete ones it dropped."""
    if dropped:
        return (f"{n} periods where every held asset has a return "
                f"({dropped} incomplete periods dropped, e.g. before the youngest listing)")
    return f"{n} periods, all complete"


def align(weights, returns: pd.DataFrame, *, lookback: int | None = None, min_periods: int = 20,
          currency: str | None = None) -> Aligned:
    """Align ``weights`` with ``returns``, keeping periods where every held asset has a return.

    Raises
    ------
    DataError
        A held symbol is missing from ``returns``, or fewer than ``min_periods`` complete periods.
    """
    w = check_weights(weights)
    nz = w.to_numpy() != 0.0
    if not nz.all():
        w = w[nz]
    if len(w) == 0:
        raise DataError("the book holds nothing (all weights are zero)")
    pos = returns.columns.get_indexer(w.index)
    if (pos < 0).any():
        raise DataError(f"no returns for held symbols: {', '.join(w.index[pos < 0])}")
    x = returns.to_numpy(dtype=float)
    if not (len(pos) == x.shape[1] and (pos == np.arange(len(pos))).all()):
        x = x[:, pos]
    # a row is complete iff its book return is finite (NaN propagates through x @ w; no weight is 0)
    r = x @ w.to_numpy()
    keep = np.isfinite(r)
    all_keep = bool(keep.all())
    xs = x if all_keep else x[keep]
    rs = r if all_keep else r[keep]
    idx = returns.index if all_keep else returns.index[keep]
    if lookback is not None:
        xs, idx, rs = xs[-int(lookback):], idx[-int(lookback):], rs[-int(lookback):]
    if len(xs) < min_periods:
        short = w.index[int(np.argmin(np.isfinite(x).sum(axis=0)))]
        raise DataError(f"only {len(xs)} periods where every held asset has a return (need {min_periods}); "
                        f"shortest history: {short}")
    attrs = getattr(returns, "attrs", {}) or {}
    return Aligned(weights=w, x=xs, index=pd.DatetimeIndex(idx), dropped=int((~keep).sum()), r=rs,
                   basis=attrs.get("basis"), periods_per_year=attrs.get("periods_per_year"),
                   currency=currency or attrs.get("currency") or "USD")


def portfolio_returns(weights, returns: pd.DataFrame, *, missing: str = "drop") -> pd.Series:
    """Per-period returns of a book with constant weights (rebalanced every period).

    Parameters
    ----------
    missing : {"drop", "renormalize"}
        ``"drop"``: only periods where every held asset has a return.
        ``"renormalize"``: every period where some held asset has a return; the weights
        of assets with a return that period are scaled so their gross matches the
        book's gross (young assets do not cut the history short; stated in reports).

    Returns
    -------
    pandas.Series
        Fractions of capital per period, ``attrs`` copied from ``returns``.
    """
    w = check_weights(weights)
    w = w[w != 0.0]
    missing_syms = [s for s in w.index if s not in returns.columns]
    if missing_syms:
        raise DataError(f"no returns for held symbols: {', '.join(missing_syms)}")
    x = returns.loc[:, list(w.index)].to_numpy(dtype=float)
    ok = np.isfinite(x)
    if missing == "drop":
        keep = ok.all(axis=1)
        out = pd.Series(np.where(ok, x, 0.0)[keep] @ w.to_numpy(), index=returns.index[keep])
    elif missing == "renormalize":
        wv = w.to_numpy()
        gross = np.abs(wv).sum()
        avail = (np.abs(wv)[None, :] * ok).sum(axis=1)
        keep = avail > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = gross / avail
            r = (np.where(ok, x, 0.0) @ wv) * scale
        out = pd.Series(r[keep], index=returns.index[keep])
    else:
        raise ValueError(f"missing must be 'drop' or 'renormalize', got {missing!r}")
    out.attrs = dict(getattr(returns, "attrs", {}) or {})
    return out.rename("portfolio")
