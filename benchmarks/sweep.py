"""Benchmark: the executor's overhead, sweeps of full policy backtests, and the same allocator vs skfolio.

Three measurements, each printed with its ratio (nothing here asserts on time):

1. **Executor** (``computefolio.scale``): tasks per second and overhead per task on
   ``serial``, ``processes`` and ``ray`` with 1 and 2 local workers, for a no-op task
   (pure overhead) and a 20 ms CPU-bound task (scaling). Overhead per task =
   wall x workers / tasks - mean task time.
2. **Sweep throughput**: ``--variants`` variants of the shipped strategy (a grid of
   lookbacks and volatility targets), each a full policy backtest with monthly refits of
   the sleeve-budgeted allocator under the default mandate, drift bands and costs, on
   the real prices of ``../shared/data/prices`` (``--data``; the sample market when
   absent), 2020-2025, session basis: variants per second per core, serial vs Ray on 2
   local workers (start-up of Ray not counted; numba warm in both).
3. **Same allocator as skfolio**: equal risk contribution (Ledoit-Wolf covariance,
   252-session window, refitted every 21 sessions) walked forward over the same
   returns -- computefolio's ``Policy`` + ``backtest`` (no costs, no mandate: the same
   problem) vs skfolio's ``cross_val_predict(RiskBudgeting(...), X,
   cv=WalkForward(train_size=252, test_size=21))`` -- on the assets with a complete
   history over the window (skfolio needs complete rows); walk-forwards per second per
   core, both with one BLAS thread. The out-of-sample return correlation is printed as a
   check that both solved the same problem (ours trades at the close and lets weights
   drift within a fold; skfolio's portfolio keeps constant weights).

Run: ``python benchmarks/sweep.py`` (a few minutes on 2 cores; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def noop(shared, params):
    return params["i"]


def cpu20(shared, params):
    """About 20 ms of single-threaded arithmetic."""
    x = shared["x"]
    t = time.perf_counter()
    acc = 0.0
    while time.perf_counter() - t < 0.02:
        acc += float(np.dot(x, x))
    return acc > 0


def bench_executor(n_noop: int, n_cpu: int, have_ray: bool) -> list[dict]:
    from computefolio.scale import make_executor

    rows = []
    configs = [("serial", 1), ("processes", 1), ("processes", 2)] + ([("ray", 1), ("ray", 2)] if have_ray else [])
    shared = {"x": np.random.default_rng(0).standard_normal(2000)}
    for backend, w in configs:
        ex = make_executor(backend, workers=w, object_store_mb=128)
        with ex:
            if backend != "serial":
                ex.map(noop, [{"i": i} for i in range(2 * w)], shared=shared)  # start the workers (not timed)
            for name, fn, n in (("no-op", noop, n_noop), ("20 ms CPU", cpu20, n_cpu)):
                t = time.perf_counter()
                res = ex.map(fn, [{"i": i} for i in range(n)], shared=shared)
                wall = time.perf_counter() - t
                assert all(r.ok for r in res)
                mean_task = float(np.mean([r.seconds for r in res]))
                rows.append({"backend": backend, "workers": w, "task": name, "tasks": n, "seconds": wall,
                             "tasks_per_s": n / wall, "overhead_ms": 1e3 * (wall * w / n - mean_task)})
    return rows


def load(data: str | None):
    from computefolio.data.sources import shared_prices_dir
    from computefolio.job.steps import investable_symbols, load_market
    from computefolio.strategy import load_strategy
    from computefolio.universe import load_universe

    s = load_strategy()
    folder = data or shared_prices_dir()
    if folder is not None:
        s = s.with_overrides(data={"source": "files", "path": str(folder), "seed": 7})
    u = load_universe()
    m = load_market(s.with_overrides(stress={"historical": "none", "hypothetical": "none", "file": None}), u)
    return s, u, m, investable_symbols(s, u, m)


def bench_sweep(s, data, variants: int, workers: int, have_ray: bool) -> dict:
    import yaml

    from computefolio.scale import Grid, make_executor, run_sweep, warm_numba

    vts = [0.25, None] if variants > 1 else [0.25]
    looks = [252, 189, 126, 315, 378, 441, 63, 100][: max(1, variants // len(vts))]
    grid = Grid(axes={"lookback": looks, "vol_target": vts})
    n = grid.size
    warm_numba()
    out = {"variants": n, "grid": yaml.safe_dump(grid.model_dump()["axes"], default_flow_style=True).strip()}
    t = time.perf_counter()
    ser = run_sweep(s, grid, data=data)
    out["serial_s"] = time.perf_counter() - t
    out["fits"] = int(np.mean([r.value["fits"] for r in ser.results if r.ok]))
    out["failed"] = sum(not r.ok for r in ser.results)
    if have_ray:
        with make_executor("ray", workers=workers, object_store_mb=256) as ex:
            t = time.perf_counter()
            ex.start()  # Ray up, one worker per CPU importing the package and loading numba's cache
            import ray

            ray.get(ex._warm)
            out["ray_start_s"] = time.perf_counter() - t
            t = time.perf_counter()
            rr = run_sweep(s, grid, data=data, executor=ex)
            out["ray_s"] = time.perf_counter() - t
        a, b = ser.returns, rr.returns
        out["same_bits"] = bool(list(a.columns) == list(b.columns) and a.index.equals(b.index)
                                and np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True))
        if not out["same_bits"]:
            out["max_abs_diff"] = float(np.nanmax(np.abs(a.to_numpy() - b.reindex_like(a).to_numpy())))
    return out


def bench_vs_skfolio(s, u, m, syms, repeat: int) -> dict:
    from threadpoolctl import threadpool_limits

    from computefolio.allocate import make_allocator
    from computefolio.backtest import Policy, backtest
    from computefolio.risk.covariance import LedoitWolfCovariance

    start, end = pd.Timestamp("2019-01-01"), pd.Timestamp(s.end)
    r = m.returns("session")[syms].loc[start:end]
    full = [c for c in syms if r[c].notna().all()]
    mk = m.subset(full).between(start, end)
    X = mk.returns("session").iloc[1:]  # the first date has no return
    T = len(X)
    train, test = 252, 21
    out = {"assets": len(full), "periods": T, "folds": len(range(train, T, test))}

    def ours():
        # refit on the session that closes each training window (row train-1+k*test of X), trade at that close
        idx = mk.index("session")
        dates = X.index[train - 1::test][: out["folds"]]

        class Every:
            def dates(self, index):
                return dates[dates.isin(index)]

            def to_dict(self):
                return {"type": "every 21 sessions"}

        pol = Policy(make_allocator("erc", covariance=LedoitWolfCovariance()), Every(), lookback=train,
                     basis="session", min_history=train)
        res = backtest(pol, mk, costs=None, capital=1e8, start=dates[0], keep_weights=False)
        return res.returns.loc[res.returns.index > dates[0]], len(idx)

    def sk():
        from skfolio import RiskMeasure
        from skfolio.model_selection import WalkForward, cross_val_predict
        from skfolio.moments import LedoitWolf
        from skfolio.optimization import RiskBudgeting
        from skfolio.prior import EmpiricalPrior

        model = RiskBudgeting(risk_measure=RiskMeasure.VARIANCE,
                              prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()))
        pred = cross_val_predict(model, X, cv=WalkForward(train_size=train, test_size=test))
        return pd.Series(np.asarray(pred.returns), index=pd.DatetimeIndex(pred.observations))

    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours()  # numba and solver warm-up
        t_ours, t_sk = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            r_ours, _ = ours()
            t_ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            r_sk = sk()
            t_sk.append(time.perf_counter() - t)
    j = r_ours.index.intersection(r_sk.index)
    out.update(ours_s=min(t_ours), skfolio_s=min(t_sk), oos_corr=float(np.corrcoef(r_ours[j], r_sk[j])[0, 1]),
               common_days=len(j))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="folder of price files (default: ../shared/data/prices)")
    ap.add_argument("--variants", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--only", default="executor,sweep,skfolio")
    a = ap.parse_args()
    try:
        import ray  # noqa: F401

        have_ray = True
    except ImportError:
        have_ray = False
        print("ray not installed (pip install 'computefolio[ray]'): Ray rows skipped")
    print(f"cpu cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")
    parts = a.only.split(",")
    if "executor" in parts:
        rows = bench_executor(50 if a.quick else 400, 20 if a.quick else 100, have_ray)
        print(f"\n1. executor: {'backend':10s} {'workers':>7s} {'task':>10s} {'tasks':>6s} {'seconds':>8s} "
              f"{'tasks/s':>9s} {'overhead/task':>14s}")
        for r in rows:
            print(f"   {'':10s}{r['backend']:10s} {r['workers']:7d} {r['task']:>10s} {r['tasks']:6d} {r['seconds']:8.2f} "
                  f"{r['tasks_per_s']:9.1f} {r['overhead_ms']:11.2f} ms")
    if "sweep" in parts or "skfolio" in parts:
        s, u, m, syms = load(a.data)
        if a.quick:
            s = s.with_overrides(start="2025-01-02")
        print(f"\ndata: {m.label}, {len(m.symbols)} symbols ({len(syms)} in the strategy's sleeves), "
              f"{m.start.date()} to {m.end.date()}; strategy {s.start} to {s.end}, {s.schedule.frequency}")
    if "sweep" in parts:
        sw = bench_sweep(s, a.data, 2 if a.quick else a.variants, a.workers, have_ray)
        per_serial = sw["variants"] / sw["serial_s"]
        print(f"\n2. sweep: {sw['variants']} variants {sw['grid']}, {sw['fits']} allocator fits each, "
              f"{sw['failed']} failed")
        print(f"   serial:           {sw['serial_s']:7.1f} s  {per_serial:.3f} variants/s per core "
              f"({sw['serial_s'] / sw['variants']:.2f} s per variant)")
        if "ray_s" in sw:
            per_ray = sw["variants"] / sw["ray_s"] / a.workers
            print(f"   ray, {a.workers} workers:    {sw['ray_s']:7.1f} s  {per_ray:.3f} variants/s per core, "
                  f"{sw['variants'] / sw['ray_s']:.3f} in all ({sw['serial_s'] / sw['ray_s']:.2f}x serial; start-up "
                  f"and worker warm-up {sw['ray_start_s']:.1f} s not counted); "
                  f"same bits as serial: {sw['same_bits']}"
                  + (f" (max difference {sw['max_abs_diff']:.1e})" if "max_abs_diff" in sw else ""))
    if "skfolio" in parts:
        sk = bench_vs_skfolio(s, u, m, syms, 1 if a.quick else a.repeat)
        print(f"\n3. ERC walk-forward, {sk['assets']} assets with complete history, {sk['periods']} sessions, "
              f"{sk['folds']} refits (252-session window, every 21 sessions), one BLAS thread")
        print(f"   computefolio Policy + backtest: {sk['ours_s']:.3f} s per walk-forward "
              f"({1 / sk['ours_s']:.2f} per s per core)")
        print(f"   skfolio cross_val_predict:      {sk['skfolio_s']:.3f} s per walk-forward "
              f"({1 / sk['skfolio_s']:.2f} per s per core)")
        print(f"   ratio: {sk['skfolio_s'] / sk['ours_s']:.1f}x skfolio per core; out-of-sample daily returns "
              f"correlation {sk['oos_corr']:.4f} over {sk['common_days']} days")
        if "sweep" in parts:
            print(f"   the full strategy variant (sleeve budgets, mandate, bands, vol target, costs) costs "
                  f"{sw['serial_s'] / sw['variants']:.2f} s: {sk['skfolio_s'] / (sw['serial_s'] / sw['variants']):.2f}x "
                  f"skfolio's plain walk-forward per core")


if __name__ == "__main__":
    main()
