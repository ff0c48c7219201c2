"""Benchmark: computefolio's allocators against Riskfolio-Lib, skfolio and PyPortfolioOpt.

Same inputs for everyone: synthetic daily returns (a 3-factor model with
idiosyncratic noise, ``--days`` rows, default 2,520 = ten years of sessions) for
50, 200 and 1,000 assets. Every timed call starts from the *returns DataFrame*
(covariance/correlation estimation included, as the peers do it), long-only,
fully invested, sample covariance:

==========  ==============================================================================
hrp         ours ``HierarchicalRiskParity()`` (single linkage); PyPortfolioOpt
            ``HRPOpt(returns).optimize("single")``; Riskfolio-Lib ``HCPortfolio.optimization
            (model="HRP", linkage="single", leaf_order=False)``; skfolio
            ``HierarchicalRiskParity(linkage_method=SINGLE)``
erc         ours ``RiskParity()``; Riskfolio-Lib ``Portfolio.rp_optimization(rm="MV")``;
            skfolio ``RiskBudgeting()`` (PyPortfolioOpt has no ERC)
minvar      ours ``MinimumVariance()``; PyPortfolioOpt ``EfficientFrontier(None,
            sample_cov).min_volatility()``; Riskfolio-Lib ``optimization(obj="MinRisk",
            rm="MV")``; skfolio ``MeanRisk()``
mincvar     ours ``MeanCVaR(beta=0.95)``; PyPortfolioOpt ``EfficientCVaR.min_cvar()``;
            Riskfolio-Lib ``optimization(obj="MinRisk", rm="CVaR")``; skfolio
            ``MeanRisk(risk_measure=CVAR)`` (50 and 200 assets only by default)
==========  ==============================================================================

Every library runs with one BLAS/OpenMP thread (``--threads``) and is timed in process CPU
time (``--clock cpu``): on a 2-core machine shared with other jobs, wall time measures the
other jobs as much as the code. Each call is timed ``--repeat`` times (best kept; a peer whose first run takes more
than ``--slow`` seconds runs once), after one untimed warm-up of every library on a
small problem (imports, numba compilation). Ours runs on every case before any peer has
run, and each peer after a ``--settle`` pause: solvers that leave threads spinning after they
return (OpenMP, seen with cvxpy's solvers) slow whatever runs next on a 2-core machine (our
minimum variance at 1,000 assets measured 0.17 s before and 1.2 s right after
PyPortfolioOpt, 0.14 s again after a 3 s pause). Printed: seconds, the ratio
``peer / ours`` (how many times faster we are) and the largest absolute weight
difference to each peer (identical results expected for HRP vs PyPortfolioOpt and
Riskfolio-Lib, ERC and min variance vs every peer up to their solver tolerance,
min CVaR up to LP degeneracy).

Run: ``python benchmarks/allocators.py`` (several minutes on 2 cores; the peers'
1,000-asset runs dominate). ``--sizes 50,200`` and ``--methods hrp,erc`` narrow it;
``--json FILE`` writes the table.

Recorded run (2026-11-24, the project's 2-core machine shared with other jobs; numpy
2.4, scipy 1.17, PyPortfolioOpt 1.6.0, Riskfolio-Lib 7.4.0, skfolio 1.12.2; seconds,
best of 5, ``*`` = peer ran once; ratio = peer / ours)::

    method  assets   ours     PyPortfolioOpt       Riskfolio-Lib        skfolio
    hrp        50    0.0020   0.127  x 63  d 1e-16 0.138  x 69  d 1e-16 0.040  x 20  d 2.7e-2
    erc        50    0.0011   n/a                  0.035  x 33  d 2e-6  0.016  x 15  d 3e-6
    minvar     50    0.0034   0.006  x 1.6 d 4e-16 0.032  x 9   d 6e-6  0.013  x 3.8 d 4e-5
    mincvar    50    0.0150   0.330  x 22  d 6e-9  0.366  x 24  d 1e-9  0.396  x 26  d 2e-8
    hrp       200    0.0070   0.623  x 89  d 6e-17 0.742  x 106 d 4e-17 0.247  x 35  d 2.1e-2
    erc       200    0.0040   n/a                  0.210  x 52  d 2e-7  0.314  x 78  d 6e-8
    minvar    200    0.0100   0.019  x 1.9 d 2e-16 0.227  x 23  d 1e-5  0.295  x 30  d 5e-5
    mincvar   200    0.2276   3.969  x 17  d 2e-8  4.468  x 20  d 2e-9  skipped
    hrp      1000    0.0745   6.278* x 84  d 1e-17 skipped              skipped
    erc      1000    0.1332   n/a                  37.11* x 279 d 1e-7  12.74* x 96  d 4e-8
    minvar   1000    0.1359   1.704  x 13  d 6e-4  18.29* x 135 d 2e-6  3.539  x 26  d 1e-5

Quiet re-run (same day, nothing else running; best of 5): HRP 1,000 0.079 s vs PyPortfolioOpt
7.09 s (90x); ERC 1,000 0.064 s vs Riskfolio-Lib 7.48 s (118x) and skfolio 15.2 s (240x);
min variance 1,000 0.071 s vs PyPortfolioOpt 1.84 s (26x); min CVaR 200 0.130 s vs
PyPortfolioOpt 4.65 s (36x).

Three covariance structures (issue 10; ``--sizes 1000 --methods erc,hrp,minvar --structures
factor3,sparse_t,near_singular --peers PyPortfolioOpt,skfolio``; 2026-11-29, one BLAS/OpenMP
thread per library, process CPU time, best of 3, ours timed before any peer ran)::

    structure      method  assets  ours     PyPortfolioOpt        skfolio
    factor3        erc     1000    0.0672   n/a                   11.33 x 169  d 6e-9
    factor3        hrp     1000    0.0888   7.16  x 81  d 3e-17   skipped
    factor3        minvar  1000    0.0987   1.81  x 18  d 6e-4    3.56  x 36   d 1e-5
    sparse_t       erc     1000    0.0679   n/a                   6.71  x 99   d 3e-8
    sparse_t       hrp     1000    0.0871   7.04  x 81  d 8e-18   skipped
    sparse_t       minvar  1000    0.0971   0.552 x 5.7 d 2e-6    2.72  x 28   d 1e-5
    near_singular  erc     1000    0.0660   n/a                   3.95  x 60   d 5e-10
    near_singular  hrp     1000    0.0753   6.53  x 87  d 8e-18   skipped
    near_singular  minvar  1000    0.1150   0.818 x 7.1 d 8e-3    2.99  x 26   d 1e-3

Goals against the fastest peer on every structure: ERC 1,000 at least 60x (goal 40x), HRP at
least 81x (40x), minimum variance at least 5.7x (1.5x). On the near-singular blocks the minimum
variance weights are not well determined (condition number ~1e7): the peers' answers differ from
ours (exact active-set KKT point) by 1e-3 to 8e-3 and from each other. Before the primal-dual
active-set phase our minimum variance took 2.0 s on ``sparse_t`` (0.4x): hundreds of assets held,
one bound changed per iteration.

Against the fastest peer at the issue's sizes (loaded run above): HRP 1,000 assets 84x (goal 40x), ERC
1,000 assets 96x (goal 40x; 32x against the issue's quoted 4.3 s, which this machine's
Riskfolio-Lib did not reproduce), min CVaR 200 assets 17x (goal 5x), min variance
1,000 assets 12.5x (goal 1.5x). ``d`` is the largest absolute weight difference:
identical to rounding for HRP (PyPortfolioOpt, Riskfolio-Lib) and min variance
(PyPortfolioOpt at 50/200); the others are the peers' solver tolerances (our
answers are exact: KKT/closed-form checks in the tests). skfolio's HRP uses the same
tree and leaf order but its own within-split weights (not an agreement target).
Riskfolio-Lib's HRP at 1,000 assets (one risk evaluation per asset per cluster) and
skfolio's at 1,000 are skipped by default (minutes); ``--skip ""`` runs them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

if "--threads" in sys.argv:  # before numpy is imported: the BLAS/OpenMP pools read these once
    _t = sys.argv[sys.argv.index("--threads") + 1]
else:
    _t = "1"
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, _t)

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")


def synthetic_returns(n_days: int, n_assets: int, seed: int = 0, structure: str = "factor3") -> pd.DataFrame:
    """Daily returns, fractions (about 1-3% daily volatility), with one of several covariance structures.

    ``factor3``: three dense factors plus Gaussian noise (the original benchmark).
    ``sparse_t``: 20 factors, each asset loading on one or two of them (sparse loadings), factor
    and idiosyncratic noise Student-t with 3 degrees of freedom (fat tails, rescaled to unit variance).
    ``near_singular``: blocks of 20 almost collinear assets (a block factor, each asset scaled by
    0.8-1.2, plus noise 100x smaller than the factor) and a market factor; condition number ~1e7.
    """
    r = np.random.default_rng(seed)
    if structure == "factor3":
        f = r.standard_normal((n_days, 3)) * np.array([0.01, 0.006, 0.004])
        load = r.uniform(-0.2, 1.5, (3, n_assets))
        eps = r.standard_normal((n_days, n_assets)) * r.uniform(0.005, 0.025, n_assets)
        x = f @ load + eps + 0.0003
    elif structure == "sparse_t":
        k, dof = 20, 3
        scale = np.sqrt(dof / (dof - 2))
        f = r.standard_t(dof, (n_days, k)) * 0.008 / scale
        load = np.zeros((k, n_assets))
        for j in range(n_assets):
            fs = r.choice(k, size=int(r.integers(1, 3)), replace=False)
            load[fs, j] = r.uniform(0.3, 1.5, len(fs))
        eps = r.standard_t(dof, (n_days, n_assets)) * r.uniform(0.004, 0.03, n_assets) / scale
        x = f @ load + eps + 0.0003
    elif structure == "near_singular":
        block = 20
        nb = -(-n_assets // block)
        base = r.standard_normal((n_days, nb)) * 0.015
        x = np.repeat(base, block, axis=1)[:, :n_assets] * r.uniform(0.8, 1.2, n_assets)
        x = x + r.standard_normal((n_days, n_assets)) * 1.5e-4 + r.standard_normal((n_days, 1)) * 0.005 + 0.0003
    else:
        raise ValueError(f"unknown structure {structure!r}: factor3, sparse_t or near_singular")
    idx = pd.bdate_range("2015-01-01", periods=n_days)
    df = pd.DataFrame(x, index=idx, columns=[f"S{i:04d}" for i in range(n_assets)])
    df.attrs["basis"] = "session"
    df.attrs["periods_per_year"] = 252
    return df


STRUCTURES = ("factor3", "sparse_t", "near_singular")


# ----------------------------------------------------------------------------- ours
def ours(method: str, R: pd.DataFrame) -> pd.Series:
    from computefolio.allocate import HierarchicalRiskParity, MeanCVaR, MinimumVariance, RiskParity

    a = {"hrp": HierarchicalRiskParity, "erc": RiskParity, "minvar": MinimumVariance,
         "mincvar": lambda: MeanCVaR(beta=0.95)}[method]()
    return a.fit(R).weights_


# ----------------------------------------------------------------------------- peers
def pyportfolioopt(method: str, R: pd.DataFrame) -> pd.Series | None:
    if method == "hrp":
        from pypfopt import HRPOpt

        return pd.Series(HRPOpt(R).optimize("single"))
    if method == "minvar":
        from pypfopt import EfficientFrontier, risk_models

        S = risk_models.sample_cov(R, returns_data=True)
        return pd.Series(EfficientFrontier(None, S).min_volatility())
    if method == "mincvar":
        from pypfopt import EfficientCVaR

        w = pd.Series(EfficientCVaR(None, R, beta=0.95).min_cvar())
        return w if set(w.index) == set(R.columns) else pd.Series(w.to_numpy(), index=R.columns)
    return None


def riskfolio(method: str, R: pd.DataFrame) -> pd.Series | None:
    import riskfolio as rp

    if method == "hrp":
        p = rp.HCPortfolio(returns=R)
        return p.optimization(model="HRP", codependence="pearson", rm="MV", linkage="single",
                              leaf_order=False)["weights"]
    p = rp.Portfolio(returns=R)
    p.assets_stats(method_mu="hist", method_cov="hist")
    if method == "erc":
        return p.rp_optimization(model="Classic", rm="MV", rf=0, b=None, hist=True)["weights"]
    if method == "minvar":
        return p.optimization(model="Classic", rm="MV", obj="MinRisk", rf=0, l=0, hist=True)["weights"]
    if method == "mincvar":
        p.alpha = 0.05
        return p.optimization(model="Classic", rm="CVaR", obj="MinRisk", rf=0, l=0, hist=True)["weights"]
    return None


def skfolio(method: str, R: pd.DataFrame) -> pd.Series | None:
    from skfolio import RiskMeasure
    from skfolio.cluster import HierarchicalClustering, LinkageMethod
    from skfolio.optimization import HierarchicalRiskParity, MeanRisk, RiskBudgeting

    if method == "hrp":
        est = HierarchicalRiskParity(hierarchical_clustering_estimator=HierarchicalClustering(
            linkage_method=LinkageMethod.SINGLE))
    elif method == "erc":
        est = RiskBudgeting()
    elif method == "minvar":
        est = MeanRisk()
    else:
        est = MeanRisk(risk_measure=RiskMeasure.CVAR, cvar_beta=0.95)
    est.fit(R)
    return pd.Series(est.weights_, index=R.columns)


PEERS = {"PyPortfolioOpt": pyportfolioopt, "Riskfolio-Lib": riskfolio, "skfolio": skfolio}


#: "cpu" (process CPU time, the default: robust to other jobs on a shared machine, and with one
#: thread per library it is the work done) or "wall"
CLOCK = {"fn": time.process_time}


def timed(fn, *args, repeat: int = 3, slow: float = 5.0):
    best, out, runs = np.inf, None, 0
    clock = CLOCK["fn"]
    for k in range(repeat):
        t0 = clock()
        out = fn(*args)
        dt = clock() - t0
        runs += 1
        best = min(best, dt)
        if out is None or (k == 0 and dt > slow):
            break
    return best, out, runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="50,200,1000")
    ap.add_argument("--methods", default="hrp,erc,minvar,mincvar")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--days", type=int, default=2520)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--slow", type=float, default=5.0, help="a peer slower than this (s) runs once")
    ap.add_argument("--cvar-max", type=int, default=200, help="largest size for mincvar")
    ap.add_argument("--skip", default="Riskfolio-Lib:hrp:1000,skfolio:hrp:1000,skfolio:mincvar:200",
                    help="peer:method:size triples not run (too slow for a routine run)")
    ap.add_argument("--structures", default="factor3", help=f"covariance structures: {', '.join(STRUCTURES)}")
    ap.add_argument("--threads", default="1", help="BLAS/OpenMP threads for every library (default 1)")
    ap.add_argument("--clock", default="cpu", choices=("cpu", "wall"),
                    help="cpu: process CPU time (default; fair under load with one thread); wall: elapsed")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds of pause before each timed block: a peer's solver threads keep spinning for a "
                         "while after it returns and slow whatever runs next on a 2-core machine")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    CLOCK["fn"] = time.process_time if a.clock == "cpu" else time.perf_counter
    sizes = [int(x) for x in a.sizes.split(",")]
    structures = [x for x in a.structures.split(",") if x]
    methods = a.methods.split(",")
    peers = [p for p in a.peers.split(",") if p]
    skip = set(x for x in a.skip.split(",") if x)

    # ours first, on every case, before any peer has run: a peer's solver threads keep spinning
    # after it returns and would slow the next computation on a 2-core machine
    Rw = synthetic_returns(300, 12, seed=99)
    for m in methods:
        ours(m, Rw)  # imports, numba compilation
    cases = [(st, n) for st in structures for n in sizes]
    inputs = {c: synthetic_returns(a.days, c[1], seed=c[1], structure=c[0]) for c in cases}
    mine = {}
    for (structure, n), R in inputs.items():
        for m in methods:
            if m == "mincvar" and n > a.cvar_max:
                continue
            mine[(structure, n, m)] = timed(ours, m, R, repeat=a.repeat, slow=a.slow)
    for m in methods:
        for p in peers:
            PEERS[p](m, Rw)  # peers' warm-up

    rows = []
    print(f"{'structure':13s} {'method':8s} {'assets':>6s} {'ours s':>9s} | " + " | ".join(f"{p:>30s}" for p in peers))
    for structure, n in cases:
        R = inputs[(structure, n)]
        for m in methods:
            if m == "mincvar" and n > a.cvar_max:
                continue
            t_ours, w_ours, _ = mine[(structure, n, m)]
            cells = []
            for p in peers:
                if f"{p}:{m}:{n}" in skip:
                    cells.append(f"{'skipped':>30s}")
                    rows.append({"structure": structure, "method": m, "assets": n, "peer": p, "skipped": True})
                    continue
                time.sleep(a.settle)
                try:
                    t_p, w_p, runs = timed(PEERS[p], m, R, repeat=a.repeat, slow=a.slow)
                except Exception as exc:  # a peer that fails on a structure: say so, keep going
                    cells.append(f"{'failed: ' + type(exc).__name__:>30s}")
                    rows.append({"structure": structure, "method": m, "assets": n, "peer": p, "failed": str(exc)})
                    continue
                if w_p is None:
                    cells.append(f"{'n/a':>30s}")
                    continue
                w_p = pd.Series(w_p, dtype=float).reindex(w_ours.index)
                diff = float(np.max(np.abs(w_p.to_numpy() - w_ours.to_numpy())))
                ratio = t_p / t_ours
                cells.append(f"{t_p:8.3f}s x{ratio:7.1f} d={diff:8.1e}" + ("*" if runs == 1 else " "))
                rows.append({"structure": structure, "method": m, "assets": n, "peer": p, "ours_s": t_ours,
                             "peer_s": t_p, "ratio": ratio, "max_abs_weight_diff": diff, "peer_runs": runs})
            print(f"{structure:13s} {m:8s} {n:6d} {t_ours:9.4f} | " + " | ".join(cells), flush=True)
    print("\nratio = peer seconds / our seconds (best of runs; * = the peer ran once); "
          "d = max |weight difference|")
    fastest = {}
    for r in rows:
        if r.get("skipped") or r.get("failed"):
            continue
        k = (r["structure"], r["method"], r["assets"])
        if k not in fastest or r["peer_s"] < fastest[k]["peer_s"]:
            fastest[k] = r
    print("against the fastest peer:")
    for (st_, m, n), r in sorted(fastest.items()):
        print(f"  {st_:13s} {m:8s} {n:5d} assets: {r['peer']:15s} {r['peer_s']:.3f}s vs ours {r['ours_s']:.4f}s "
              f"-> {r['ratio']:.1f}x")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
