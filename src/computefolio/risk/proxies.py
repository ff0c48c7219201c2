"""Filling the missing history of young assets with stated proxies.

A token listed in 2023 has no 2022 returns; dropping every period before its listing
cuts the whole book's history short (the skfolio #55 trap), and filling zeros hides
risk. :func:`proxy_fill` fills, period by period, the NaN returns of the chosen symbols:

1. with the return of the asset's universe ``proxy`` that period (following the chain
   ``AKT -> RENDER -> ETH`` while a proxy has no return either);
2. else with the membership-weighted average of its layers that period, each layer's
   average taken over the universe assets that have a return then.

Periods with neither stay NaN. The notes say, per symbol, how many periods were filled
and from what.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def proxy_fill(returns: pd.DataFrame, universe, symbols=None, *, trailing: bool = False
               ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Returns with the NaN of ``symbols`` (default: all columns) filled by proxies.

    Parameters
    ----------
    trailing : bool
        Also fill the periods *after* a symbol's last return (a stale series: its source
        stopped, the position is still held). Off by default: a delisted asset has no
        returns after its delisting and must not get any.

    Returns
    -------
    (filled frame with the same attrs, {symbol: note} for symbols that were filled)
    """
    symbols = list(returns.columns if symbols is None else symbols)
    out = returns.copy()
    notes: dict[str, str] = {}
    if universe is None:
        return out, notes
    in_u = [s for s in returns.columns if s in universe]
    x = returns.loc[:, in_u].to_numpy(float)
    ok = np.isfinite(x)
    m = universe.membership("layer", symbols=in_u)
    mw = m.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        layer_avg = (np.where(ok, x, 0.0) @ mw) / (ok.astype(float) @ mw)  # (T, L)
    layers = list(m.columns)
    for s in symbols:
        if s not in universe or s not in returns.columns:
            continue
        col = out[s].to_numpy(float, copy=True)
        miss = ~np.isfinite(col)
        # only the history before the asset's first return (and gaps) - not after delisting
        if not miss.any():
            continue
        target = miss.copy()
        last = len(col) - np.argmax(~miss[::-1]) if (~miss).any() else len(col)
        n_after = int(miss[last:].sum())
        if not trailing:
            target[last:] = False  # do not extend past the asset's last return
            n_after = 0
        n0 = int(target.sum())
        if n0 == 0:
            continue
        used = []
        chain, p = [], universe.asset(s).proxy
        while p is not None and p not in chain and p != s:
            chain.append(p)
            if p in returns.columns:
                pv = returns[p].to_numpy(float)
                fill = target & np.isfinite(pv)
                if fill.any():
                    col[fill] = pv[fill]
                    target &= ~fill
                    used.append(f"{p} ({int(fill.sum())} periods)")
            p = universe.asset(p).proxy if p in universe else None
        if target.any():
            lw = universe.asset(s).classification_at(None).layers
            j = [layers.index(l) for l in lw]
            wts = np.array([lw[l] for l in lw])
            la = layer_avg[:, j]
            good = np.isfinite(la)
            with np.errstate(invalid="ignore", divide="ignore"):
                v = (np.where(good, la, 0.0) @ wts) / (good @ wts)
            fill = target & np.isfinite(v)
            if fill.any():
                col[fill] = v[fill]
                target &= ~fill
                used.append(f"layer average of {', '.join(lw)} ({int(fill.sum())} periods)")
        if used:
            out[s] = col
            after = (f", {n_after} of them after its last price on {returns.index[last - 1].date()} (stale)"
                     if n_after and last > 0 else "")
            notes[s] = f"{n0 - int(target.sum())} of {n0} missing periods{after} filled from " + "; ".join(used)
    out.attrs = dict(returns.attrs or {})
    return out, notes
