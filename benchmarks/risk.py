"""Risk engine vs skfolio and Riskfolio-Lib on the same 1,000-asset input.

Run: ``python benchmarks/risk.py [--assets 1000] [--periods 1503]``

Times (best of ``--repeat`` runs, same process, same arrays) and checks equality for:

* sample covariance (ddof=1): ``SampleCovariance`` vs ``skfolio.moments.EmpiricalCovariance``
  (``nearest=False``) and ``riskfolio.ParamsEstimation.covar_matrix(method="hist")``;
* Ledoit-Wolf: ``LedoitWolfCovariance`` vs ``skfolio.moments.LedoitWolf`` and
  ``covar_matrix(method="ledoit")``;
* historical VaR / ES of a portfolio: ``value_at_risk(method="historical")`` (which also
  returns the Euler contributions) vs ``skfolio.measures.value_at_risk/cvar`` and
  ``riskfolio.VaR_Hist/CVaR_Hist``. Conventions: VaR = -r_(ceil(n a)) (all three agree
  when ``n a`` is not an integer; n = 1503 keeps it so), ES = Acerbi-Tasche;
* Gaussian VaR / ES: ours vs the closed form written out with NumPy/SciPy (no peer has it);
* risk contributions to volatility and to historical ES (CVaR): our analytic Euler
  contributions vs ``skfolio.Portfolio.contribution`` (finite differences) and
  ``riskfolio.Risk_Contribution`` (finite differences). Volatility contributions compared
  on the same covariance; CVaR contributions of a piecewise-linear measure agree up to the
  finite-difference step.

Prints one line per comparison: our time, the peer's time, the ratio peer / ours (> 1
means we are faster) and the largest absolute difference of the numbers.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")


def best(fn, repeat):
    t = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t.append(time.perf_counter() - t0)
    return min(t), out


def race(fns, repeat):
    """Best time of each function, run in alternation (ours, peer, ours, peer, ...) so that
    load from other processes on a shared machine hits all of them alike."""
    times = [[] for _ in fns]
    outs = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            outs[i] = fn()
            times[i].append(time.perf_counter() - t0)
    return [(min(t), o) for t, o in zip(times, outs)]


def make_input(n_assets: int, n_periods: int, seed: int = 0) -> pd.DataFrame:
    """Fat-tailed factor returns (3 factors, Student-t 4 innovations), daily scale."""
    rng = np.random.default_rng(seed)
    f = rng.standard_t(4, size=(n_periods, 3)) * 0.01
    load = rng.uniform(0.2, 1.5, size=(3, n_assets))
    eps = rng.standard_t(4, size=(n_periods, n_assets)) * rng.uniform(0.005, 0.03, n_assets)
    x = f @ load + eps
    idx = pd.bdate_range("2019-01-01", periods=n_periods)
    df = pd.DataFrame(x, index=idx, columns=[f"A{i:04d}" for i in range(n_assets)])
    df.attrs.update(basis="session", periods_per_year=252, currency="USD")
    return df


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=1000)
    ap.add_argument("--periods", type=int, default=1503)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--confidence", type=float, default=0.95)
    args = ap.parse_args(argv)

    import riskfolio as rp
    from scipy import stats
    from skfolio import Portfolio, RiskMeasure
    from skfolio.measures import cvar as sk_cvar, value_at_risk as sk_var
    from skfolio.moments import EmpiricalCovariance, LedoitWolf as SkLW

    from computefolio.risk import LedoitWolfCovariance, SampleCovariance, value_at_risk
    from computefolio.risk.decompose import volatility_contributions
    from computefolio.risk.var import empirical_var_es

    R = make_input(args.assets, args.periods)
    X = R.to_numpy()
    n = args.assets
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(n))
    ws = pd.Series(w, index=R.columns)
    c = args.confidence
    a = 1 - c
    rows = []

    def line(name, t_ours, t_peer, peer, diff):
        rows.append((name, peer, t_ours, t_peer, t_peer / t_ours, diff))
        print(f"{name:<34} {peer:<12} ours {t_ours * 1e3:9.2f} ms  peer {t_peer * 1e3:10.2f} ms  "
              f"ratio {t_peer / t_ours:8.1f}x  max|diff| {diff:.2e}", flush=True)

    print(f"input: {args.periods} periods x {n} assets, confidence {c}, n*(1-c) = {args.periods * a:.2f}")

    # ---- covariance
    (t_o, ours), (t_s, sk), (t_r, rf) = race([
        lambda: SampleCovariance().fit(R).covariance_.to_numpy(),
        lambda: EmpiricalCovariance(nearest=False).fit(X).covariance_,
        lambda: rp.ParamsEstimation.covar_matrix(R, method="hist").to_numpy()], args.repeat)
    line("sample covariance", t_o, t_s, "skfolio", np.abs(ours - sk).max())
    line("sample covariance", t_o, t_r, "riskfolio", np.abs(ours - rf).max())

    (t_o, ours), (t_s, sk), (t_r, rf) = race([
        lambda: LedoitWolfCovariance().fit(R).covariance_.to_numpy(),
        lambda: SkLW(nearest=False).fit(X).covariance_,
        lambda: rp.ParamsEstimation.covar_matrix(R, method="ledoit").to_numpy()], max(1, args.repeat // 2))
    line("Ledoit-Wolf covariance", t_o, t_s, "skfolio", np.abs(ours - sk).max())
    line("Ledoit-Wolf covariance", t_o, t_r, "riskfolio", np.abs(ours - rf).max())

    # ---- historical VaR / ES (ours includes symbol alignment and the Euler contributions)
    (t_o, res), (t_k, arr), (t_s, skv), (t_r, rfv) = race([
        lambda: value_at_risk(ws, R, method="historical", confidence=c),
        lambda: empirical_var_es(X, w, c),
        lambda: (sk_var(X @ w, beta=c), sk_cvar(X @ w, beta=c)),
        lambda: (rp.VaR_Hist(X @ w, alpha=a), rp.CVaR_Hist(X @ w, alpha=a))], 5 * args.repeat)
    line("historical VaR+ES (+contrib)", t_o, t_s, "skfolio",
         max(abs(res.var_pct - skv[0]), abs(res.es_pct - skv[1])))
    line("historical VaR+ES (+contrib)", t_o, t_r, "riskfolio",
         max(abs(res.var_pct - rfv[0]), abs(res.es_pct - rfv[1])))
    line("historical VaR+ES array kernel", t_k, t_s, "skfolio", max(abs(arr[0] - skv[0]), abs(arr[1] - skv[1])))
    line("historical VaR+ES array kernel", t_k, t_r, "riskfolio", max(abs(arr[0] - rfv[0]), abs(arr[1] - rfv[1])))

    # ---- Gaussian VaR / ES vs closed form
    def closed():
        rp_ = X @ w
        mu, sd = rp_.mean(), rp_.std(ddof=1)
        z = stats.norm.ppf(c)
        return -mu + z * sd, -mu + sd * stats.norm.pdf(z) / a

    (t_o, g), (t_c, cf) = race([lambda: value_at_risk(ws, R, method="gaussian", confidence=c), closed],
                               5 * args.repeat)
    line("Gaussian VaR+ES (+contrib)", t_o, t_c, "closed form", max(abs(g.var_pct - cf[0]), abs(g.es_pct - cf[1])))

    # ---- risk contributions
    cov = np.cov(X, rowvar=False)
    covdf = pd.DataFrame(cov, index=R.columns, columns=R.columns)
    t_o, vc = best(lambda: volatility_contributions(ws, covdf).to_numpy(), args.repeat)
    port = Portfolio(X, weights=w)
    t_s, skc = best(lambda: port.contribution(measure=RiskMeasure.STANDARD_DEVIATION), 1)
    t_r, rfc = best(lambda: np.asarray(rp.Risk_Contribution(pd.Series(w, index=R.columns).to_frame(), R, covdf,
                                                            rm="MV")).ravel(), 1)
    line("volatility contributions", t_o, t_s, "skfolio", np.abs(vc - skc).max())
    line("volatility contributions", t_o, t_r, "riskfolio", np.abs(vc - rfc).max())
    t_o, res = best(lambda: value_at_risk(ws, R, method="historical", confidence=c), args.repeat)
    t_s, skc = best(lambda: port.contribution(measure=RiskMeasure.CVAR), 1)
    t_r, rfc = best(lambda: np.asarray(rp.Risk_Contribution(pd.Series(w, index=R.columns).to_frame(), R, covdf,
                                                            rm="CVaR", alpha=a)).ravel(), 1)
    line("ES (CVaR) contributions", t_o, t_s, "skfolio", np.abs(res.es_contributions.to_numpy() - skc).max())
    line("ES (CVaR) contributions", t_o, t_r, "riskfolio", np.abs(res.es_contributions.to_numpy() - rfc).max())
    return rows


if __name__ == "__main__":
    main()
