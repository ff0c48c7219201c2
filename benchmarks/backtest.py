"""Benchmark: many weight sets through computefolio's simulator vs vectorbt and bt.

Problem (identical inputs for every library): ``--sets`` weight sets (default 1,000) x
``--assets`` assets (50) x ``--years`` years of daily sessions (10, 2,520 rows), monthly
rebalance to Dirichlet-random target weights, proportional fee of ``--fee-bps`` (10 bp)
on every trade, starting capital 100,000,000.

* computefolio: ``backtest_many`` on the whole (sets x dates x assets) tensor in one
  numba call, daily equity curves kept, with ``fee_convention="vectorbt"`` and
  ``"bt"`` (each peer's convention, so that curves can be compared) and ``"native"``.
* vectorbt: ``Portfolio.from_orders(size_type="targetpercent", cash_sharing=True,
  group_by=<set>, call_seq="auto")`` on ``--vbt-sets`` sets batched as column groups
  (two batch sizes, to extrapolate memory), throughput scaled per backtest.
* bt: ``RunOnDate + WeighTarget + Rebalance`` (``integer_positions=False``) on
  ``--bt-sets`` sets, one Backtest each.

Each library runs in its own subprocess, which reports the best wall time of a few
repeats (3 for computefolio and the plain loop, 2 for vectorbt, 1 for bt) and peak resident
memory (``resource.getrusage``, whole process, and the increase over the process's
memory after imports). The parent checks that equity curves agree (max relative
difference over the sets both ran) and prints throughput ratios.

Run: ``python benchmarks/backtest.py`` (about half a minute on 2 cores).

Recorded (2026-11-24, the shared 2-core development machine, load average ~1 from
other jobs; three consecutive runs of the final code; ratios with the peer's own
convention have equity curves equal to 2.4e-15 (vectorbt, 50 sets) and 2.9e-15 (bt,
3 sets) relative):

===============================  ===============  =================
                                 vs vectorbt      vs bt
===============================  ===============  =================
throughput ratio, peer's conv.   111x - 169x      6,873x - 7,266x
throughput ratio, native conv.   190x - 204x      5,660x - 5,906x
computefolio backtests/s         3,500 - 7,900 (by convention and run)
vectorbt / bt backtests/s        31 - 33          1.1
peak memory (whole process)      438 MB for 1,000 sets vs vectorbt's 1,070 MB for 50
                                 sets, ~12.2 GB extrapolated to 1,000 (ratio 0.036)
===============================  =================================================

Quiet re-run (same day, nothing else running): 156x vectorbt (175x native), 6,450x bt
(4,585x native), memory ratio 0.037.

Small case (2026-11-29, ``--sets 100 --assets 20 --years 5``, load average 3-5 from other
jobs on the 2 cores): fixed costs per call dominate there. Before: 21x vectorbt (prepare ~4 ms,
manifest ~1 ms, turnover ~1.5 ms of a ~12 ms call). After reusing the prepared market for
identical prices and building the manifest and turnover on first access: 39x-88x on repeated
calls (the spread is the machine's load: the kernel alone took 2.9 ms quiet, 5-12 ms loaded)
and 24x-45x for the first call on new prices; overhead outside the kernel ~2 ms. Large case
(defaults) the same day: 147x (115x first call), equity agreement 2.4e-15. The 100x goal holds
for the large case and is not reached for the small one on this loaded machine: what is left is
the kernel (``_kernel.run_many``) and ~2 ms of per-call work (hashing the tensor for the
manifest, the engine's cost arrays, the result frames).

Goals (100x vectorbt, 5,000x bt, under a tenth of vectorbt's memory): met for the default size. Under
heavier load from other jobs (load average 2-4) earlier runs of nearly the same code
gave 76x-124x and 3,100x-6,600x: the machine is shared, so the script takes the best
of a few repeats. The plain numba reference loop (no listing, calendars, deferred
trades, sizing conventions or vectorbt's call order and float tolerances) does about
22,000-25,000 backtests/s here; ours does more work per rebalance.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CAP = 1e8


REPEATS = 3


def best_of(k: int, fn) -> float:
    """Best wall time of ``k`` calls (the machine is shared: the minimum is the least disturbed)."""
    best = float("inf")
    for _ in range(k):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_inputs(folder: Path, sets: int, assets: int, years: int, seed: int = 2024) -> None:
    import pandas as pd

    rng = np.random.default_rng(seed)
    T = 252 * years
    idx = pd.bdate_range("2014-01-01", periods=T)
    vol = rng.uniform(0.01, 0.04, assets)
    r = rng.standard_normal((T, assets)) * vol + 0.0003
    prices = 50.0 * np.exp(np.cumsum(r, axis=0))
    month = idx.to_period("M")
    reb = np.flatnonzero(np.r_[month[1:] != month[:-1], True])  # last session of each month
    W = rng.dirichlet(np.full(assets, 0.7), (sets, len(reb)))
    np.save(folder / "prices.npy", prices)
    np.save(folder / "dates.npy", idx.values.astype("datetime64[ns]"))
    np.save(folder / "reb.npy", reb)
    np.save(folder / "weights.npy", W)


def load(folder: Path):
    import pandas as pd

    prices = np.load(folder / "prices.npy")
    idx = pd.DatetimeIndex(np.load(folder / "dates.npy"))
    reb = np.load(folder / "reb.npy")
    W = np.load(folder / "weights.npy")
    cols = [f"A{i:02d}" for i in range(prices.shape[1])]
    return pd.DataFrame(prices, index=idx, columns=cols), reb, W


def part_ours(folder: Path, fee: float, conv: str) -> dict:
    from computefolio.backtest import backtest_many

    p, reb, W = load(folder)
    dates = p.index[reb]
    backtest_many(W[:2, :3], p.iloc[:200], rebalance_dates=dates[:3], costs=fee * 1e4, fee_convention=conv)  # compile
    base = rss_mb()
    box = {}
    # first call on these prices (prepares the market) and the best of repeated calls (a prepared
    # market is reused across calls on identical prices, e.g. batches of one sweep)
    t0 = time.perf_counter()
    backtest_many(W, p, rebalance_dates=dates, costs=fee * 1e4, fee_convention=conv)
    cold = time.perf_counter() - t0
    dt = best_of(REPEATS, lambda: box.update(m=backtest_many(W, p, rebalance_dates=dates, costs=fee * 1e4,
                                                             fee_convention=conv)))
    m = box["m"]
    np.save(folder / f"ours_{conv}.npy", m.equity.to_numpy().T)
    return {"seconds": dt, "cold_seconds": cold, "runs": W.shape[0], "peak_mb": peak_mb(),
            "peak_increase_mb": peak_mb() - base}


def part_vbt(folder: Path, fee: float, n: int) -> dict:
    import pandas as pd
    import vectorbt as vbt

    p, reb, W = load(folder)
    T, N = p.shape
    W = W[:n]
    def run(n, rows):
        size = np.full((rows, n * N), np.nan)
        rr = reb[reb < rows]
        for s in range(n):
            size[rr, s * N:(s + 1) * N] = W[s, : len(rr)]
        cols = pd.MultiIndex.from_product([range(n), p.columns], names=["set", "asset"])
        close = pd.DataFrame(np.tile(p.to_numpy()[:rows], (1, n)), index=p.index[:rows], columns=cols)
        pf = vbt.Portfolio.from_orders(close, pd.DataFrame(size, index=close.index, columns=cols),
                                       size_type="targetpercent", cash_sharing=True, group_by="set",
                                       call_seq="auto", init_cash=CAP, fees=fee, freq="D")
        return pf.value().to_numpy().T

    run(2, 100)  # compile vectorbt's numba functions for these types
    base = rss_mb()
    box = {}
    dt = best_of(2, lambda: box.update(eq=run(n, T)))
    eq = box["eq"]
    np.save(folder / f"vbt_{n}.npy", eq)
    return {"seconds": dt, "runs": n, "peak_mb": peak_mb(), "peak_increase_mb": peak_mb() - base}


def part_bt(folder: Path, fee: float, n: int) -> dict:
    import bt

    p, reb, W = load(folder)
    dates = p.index[reb]
    base = rss_mb()
    t = time.perf_counter()
    curves = []
    import pandas as pd

    for s in range(n):
        w = pd.DataFrame(W[s], index=dates, columns=p.columns).reindex(p.index)
        strat = bt.Strategy(f"s{s}", [bt.algos.RunOnDate(*dates), bt.algos.WeighTarget(w), bt.algos.Rebalance()])
        res = bt.run(bt.Backtest(strat, p, initial_capital=CAP, integer_positions=False, progress_bar=False,
                                 commissions=lambda q, price: abs(q) * price * fee))
        curves.append(res.backtests[f"s{s}"].strategy.values.reindex(p.index).to_numpy())
    dt = time.perf_counter() - t
    np.save(folder / f"bt_{n}.npy", np.array(curves))
    return {"seconds": dt, "runs": n, "peak_mb": peak_mb(), "peak_increase_mb": peak_mb() - base}


def part_plain(folder: Path, fee: float) -> dict:
    """Reference: the simplest numba loop over the same arithmetic (native sizing with a
    fee on traded notional, no listing, calendar, lot or record keeping), prange over sets."""
    from numba import njit, prange

    @njit(parallel=True, cache=False)
    def plain(px, sig, W, fee, cap, out):
        S = W.shape[0]
        T, N = px.shape
        for s in prange(S):
            sh = np.zeros(N)
            cash = cap
            for i in range(T):
                v = cash
                for j in range(N):
                    v += sh[j] * px[i, j]
                k = sig[i]
                if k >= 0:
                    c = 0.0
                    for j in range(N):
                        tgt = W[s, k, j] * v / px[i, j]
                        d = tgt - sh[j]
                        c += abs(d) * px[i, j] * fee
                        cash -= d * px[i, j]
                        sh[j] = tgt
                    cash -= c
                    v -= c
                out[s, i] = v

    p, reb, W = load(folder)
    px = p.to_numpy()
    sig = np.full(len(px), -1, dtype=np.int64)
    sig[reb] = np.arange(len(reb))
    out = np.zeros((W.shape[0], len(px)))
    plain(np.ascontiguousarray(px[:50]), np.ascontiguousarray(sig[:50]), np.ascontiguousarray(W[:2]), fee, CAP,
          np.zeros((2, 50)))  # compile for the same array types
    base = rss_mb()
    dt = best_of(REPEATS, lambda: plain(px, sig, W, fee, CAP, out))
    return {"seconds": dt, "runs": W.shape[0], "peak_mb": peak_mb(), "peak_increase_mb": peak_mb() - base}


def run_part(folder: Path, args, part: str, extra: str) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--folder", str(folder), "--fee-bps", str(args.fee_bps),
           "--extra", extra]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{part} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", type=int, default=1000)
    ap.add_argument("--assets", type=int, default=50)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--fee-bps", type=float, default=10.0)
    ap.add_argument("--vbt-sets", type=str, default="10,50")
    ap.add_argument("--bt-sets", type=int, default=3)
    ap.add_argument("--part", default=None)
    ap.add_argument("--folder", default=None)
    ap.add_argument("--extra", default="")
    args = ap.parse_args()
    fee = args.fee_bps / 1e4
    if args.part:
        folder = Path(args.folder)
        if args.part == "ours":
            res = part_ours(folder, fee, args.extra)
        elif args.part == "plain":
            res = part_plain(folder, fee)
        elif args.part == "vbt":
            res = part_vbt(folder, fee, int(args.extra))
        else:
            res = part_bt(folder, fee, int(args.extra))
        print(json.dumps(res))
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_inputs(folder, args.sets, args.assets, args.years)
        T = 252 * args.years
        print(f"problem: {args.sets} weight sets x {args.assets} assets x {T} daily sessions, monthly rebalance, "
              f"{args.fee_bps:g} bp fee, capital {CAP:,.0f}; cpu cores: {os.cpu_count()}")
        ours = {c: run_part(folder, args, "ours", c) for c in ("vectorbt", "bt", "native")}
        plain = run_part(folder, args, "plain", "")
        vsets = [int(x) for x in args.vbt_sets.split(",")]
        vbt = {n: run_part(folder, args, "vbt", str(n)) for n in vsets}
        btr = run_part(folder, args, "bt", str(args.bt_sets))

        def tput(r):
            return r["runs"] / r["seconds"]

        rows = [("computefolio (vectorbt conv.)", ours["vectorbt"]), ("computefolio (bt conv.)", ours["bt"]),
                ("computefolio (native)", ours["native"])] + \
               [("reference: plain numba loop", plain)] + \
               [(f"vectorbt ({n} sets batched)", vbt[n]) for n in vsets] + [(f"bt ({args.bt_sets} runs)", btr)]
        print(f"{'library':34s} {'runs':>6s} {'seconds':>9s} {'backtests/s':>12s} {'peak MB':>9s} {'+MB':>8s}")
        for name, r in rows:
            print(f"{name:34s} {r['runs']:6d} {r['seconds']:9.3f} {tput(r):12.1f} {r['peak_mb']:9.0f} "
                  f"{r['peak_increase_mb']:8.0f}")
        nv = max(vsets)
        e_ours_v = np.load(folder / "ours_vectorbt.npy")
        e_vbt = np.load(folder / f"vbt_{nv}.npy")
        e_ours_b = np.load(folder / "ours_bt.npy")
        e_bt = np.load(folder / f"bt_{args.bt_sets}.npy")
        dv = float(np.max(np.abs(e_vbt / e_ours_v[:nv] - 1)))
        db = float(np.max(np.abs(e_bt / e_ours_b[: args.bt_sets] - 1)))
        print(f"equity agreement: vs vectorbt max rel diff {dv:.2e} over {nv} sets; "
              f"vs bt {db:.2e} over {args.bt_sets} sets")
        # memory: extrapolate vectorbt linearly in sets to the full problem
        (n1, r1), (n2, r2) = (vsets[0], vbt[vsets[0]]), (nv, vbt[nv])
        slope = (r2["peak_increase_mb"] - r1["peak_increase_mb"]) / max(n2 - n1, 1)
        vbt_full_mb = r2["peak_mb"] + slope * (args.sets - n2)
        print(f"throughput ratio vs vectorbt: {tput(ours['vectorbt']) / tput(vbt[nv]):,.0f}x "
              f"(native convention {tput(ours['native']) / tput(vbt[nv]):,.0f}x); first call on new prices "
              f"{ours['vectorbt']['runs'] / ours['vectorbt']['cold_seconds'] / tput(vbt[nv]):,.0f}x")
        print(f"throughput ratio vs bt:       {tput(ours['bt']) / tput(btr):,.0f}x "
              f"(native convention {tput(ours['native']) / tput(btr):,.0f}x)")
        print(f"peak memory: computefolio {ours['vectorbt']['peak_mb']:,.0f} MB for {args.sets} sets; vectorbt "
              f"{vbt[nv]['peak_mb']:,.0f} MB for {nv} sets, extrapolated {vbt_full_mb:,.0f} MB for {args.sets} "
              f"(ratio {ours['vectorbt']['peak_mb'] / vbt_full_mb:.3f})")


if __name__ == "__main__":
    main()
