"""Private marks: how long unsmoothing and a sleeve's valuation take, beside the peer.

* GLM MA(k) maximum likelihood: ours (statsmodels ``ARIMA(0,0,k)`` fitted by
  ``innovations_mle``, normalised) against statsmodels' default fit of the same model
  (``statespace``, the Kalman filter) on the same series; both exact Gaussian likelihood,
  so the ratio is the choice of fitting method, and the estimates are printed side by side.
* Geltner on a long series (closed form).
* The shipped private sleeve valued every calendar day of the sample market (marks, roll-forward
  on the proxy baskets, the listing switch) and its stand-in risk returns.

R's PerformanceAnalytics (the reference) does not run in this process; see
tests/test_private_unsmooth.py for the numbers compared with R.

    python benchmarks/private.py [--n 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def best(fn, repeat):
    t = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t.append(time.perf_counter() - t0)
    return min(t), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="quarterly returns per series")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    from statsmodels.tsa.arima.model import ARIMA

    from computefolio.private.unsmooth import (
        GeltnerUnsmoother,
        GLMUnsmoother,
        smooth_ma,
    )

    rng = np.random.default_rng(0)
    x = smooth_ma(rng.normal(0.02, 0.1, a.n + 2), [0.5, 0.3, 0.2])
    GLMUnsmoother().fit(x)  # import and warm-up
    t_ours, ours = best(lambda: GLMUnsmoother(k=2).fit(x), a.repeat)

    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ARIMA(x, order=(0, 0, 2), trend="c").fit()

    t_peer, res = best(peer, a.repeat)
    b = np.asarray(res.params)[1:3]
    th_peer = np.r_[1.0, b] / (1 + b.sum())
    print(f"GLM MA(2) ML, {a.n} returns: ours (innovations_mle) {t_ours * 1e3:.1f} ms, statsmodels statespace "
          f"{t_peer * 1e3:.1f} ms, ratio {t_peer / t_ours:.2f}x")
    print(f"  theta ours {np.round(ours.theta_, 4)}, statespace {np.round(th_peer, 4)}; "
          f"max |difference| {np.abs(ours.theta_ - th_peer).max():.1e}")
    y = rng.normal(0.01, 0.05, 100_000)
    t_g, _ = best(lambda: GeltnerUnsmoother().fit(y), a.repeat)
    print(f"Geltner on 100,000 returns: {t_g * 1e3:.2f} ms")

    from computefolio.clock import basis_index
    from computefolio.data.sample import sample_market
    from computefolio.private import load_private_book, private_risk, value_sleeve
    from computefolio.universe import load_universe

    u = load_universe()
    m = sample_market(u)
    book = load_private_book(universe=u)
    days = basis_index("calendar", "2020-01-01", "2025-12-31")
    t_v, sv = best(lambda: value_sleeve(book, m, u, days), max(1, a.repeat // 2))
    t_r, _ = best(lambda: private_risk(sv, m, u, asof=days[-1]), max(1, a.repeat // 2))
    print(f"value_sleeve: {len(book.positions)} positions x {len(days)} days in {t_v * 1e3:.0f} ms; "
          f"private_risk (unsmoothing + stand-in returns) {t_r * 1e3:.0f} ms")
    print(f"  sleeve value on {days[-1].date()}: {float(sv.total().iloc[-1]):,.0f} USD (sample market)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
