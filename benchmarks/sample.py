"""Timings of the sample market and the layer summary, as ratios against peers on the same inputs.

* ``sample_market`` (54 assets x 7 years, every component GARCH-t, two clocks, regimes,
  OHLCV) against ``arch`` simulating one GARCH(1,1)-t path per asset of the same
  length (``arch.univariate.ConstantMean(...).simulate``): the peer does far less work,
  so a ratio near or below 1 means the whole generator costs about as much as the
  GARCH paths alone.
* ``layer_summary`` against a direct pandas implementation (one loop per layer:
  weighted basket with ``DataFrame.mul``/``sum``, ``std``, ``corr``) plus
  ``empyrical.annual_volatility`` on the same baskets; the numbers are checked equal.

Run: ``python benchmarks/sample.py``. Prints ``ours / peer`` time ratios
(lower is faster for us); no assertions on time.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd


def _best(fn, repeat=3):
    best = np.inf
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_sample(universe) -> float:
    from arch.univariate import GARCH, ConstantMean, StudentsT

    from computefolio.data.sample import sample_market, sample_params

    P = sample_params()
    n_days = len(pd.date_range("2019-01-01", "2025-12-31"))

    def peer():
        rng = np.random.default_rng(7)
        out = []
        for s in universe.symbols:
            a = P["assets"][s]
            am = ConstantMean(None, volatility=GARCH(), distribution=StudentsT(seed=rng))
            omega = 1 - a["garch_alpha"] - a["garch_beta"]
            out.append(am.simulate([0.0, omega, a["garch_alpha"], a["garch_beta"], max(a["t_dof"], 4.0)],
                                   n_days, burn=0)["data"].to_numpy())
        return np.column_stack(out)

    t_ours, m = _best(lambda: sample_market(universe))
    t_peer, _ = _best(peer)
    print(f"sample_market {m.close.shape[1]} assets x {m.close.shape[0]} days: {t_ours * 1e3:8.1f} ms; "
          f"arch GARCH-t paths only: {t_peer * 1e3:8.1f} ms; ratio ours/peer = {t_ours / t_peer:.2f}")
    return t_ours / t_peer


def bench_summary(universe) -> float:
    import empyrical

    from computefolio.data.sample import sample_market
    from computefolio.summary import layer_summary

    m = sample_market(universe)

    def peer():
        rs, rc = m.returns("session"), m.returns("calendar")
        M = universe.membership("layer")
        rows = {}
        for g in M.columns:
            w = M[g][M[g] > 0]
            out = {}
            for name, r, ann in (("s", rs, 252), ("c", rc, 365)):
                x = r[w.index]
                den = x.notna().mul(w, axis=1).sum(axis=1)
                b = (x.fillna(0.0).mul(w, axis=1).sum(axis=1) / den.where(den > 0)).dropna()
                out[name] = b
                out[f"vol_{name}"] = empyrical.annual_volatility(b, annualization=ann)
            out["cb"] = out["s"].corr(rs["BTC"])
            out["cq"] = out["s"].corr(rs["QQQ"])
            rows[g] = (out["vol_s"], out["vol_c"], out["cb"], out["cq"])
        return pd.DataFrame(rows, index=["vs", "vc", "cb", "cq"]).T

    def ours():
        m._cache.clear()  # both sides start from prices, not cached returns
        return layer_summary(m, universe)

    def peer_cold():
        m._cache.clear()
        return peer()

    t_ours, s = _best(ours)
    t_peer, p = _best(peer_cold)
    np.testing.assert_allclose(s.iloc[:, 3:].to_numpy(), p.to_numpy(), rtol=1e-9)
    print(f"layer_summary {len(s)} layers: {t_ours * 1e3:8.1f} ms; pandas+empyrical: {t_peer * 1e3:8.1f} ms; "
          f"ratio ours/peer = {t_ours / t_peer:.2f} (results equal to 1e-9)")
    return t_ours / t_peer


def main() -> None:
    from computefolio.universe import load_universe

    u = load_universe()
    bench_sample(u)
    bench_summary(u)


if __name__ == "__main__":
    main()
