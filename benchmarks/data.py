"""Timings of the data layer against plain baselines on the same inputs, in one process.

No peer library validates market data or keeps a multi-source price store, so the
baselines are the least one could do by hand:

* ``validate`` (every check, all shared files, cross-source comparison) against a bare
  pandas pass (duplicates, NaN, non-positive, one-day returns per series);
* ``Store.import_file`` (hash, validation, conflict check, anti-join insert, provenance,
  one transaction) against ``read_long`` + DuckDB ``CREATE TABLE AS``;
* ``Store.market`` (query + source choice + MarketData) against ``load_folder`` on the
  shared folder for the same symbols.

Run: ``python benchmarks/data.py`` (needs ../shared/data/prices or $COMPUTEFOLIO_DATA).
Prints seconds (best of ``REPEAT``) and ratios ours / baseline.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from computefolio.data.sources import load_folder, read_long, shared_prices_dir
from computefolio.data.store import Store
from computefolio.data.validate import validate

REPEAT = 3


def best(fn, repeat=REPEAT):
    t = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t.append(time.perf_counter() - t0)
    return min(t), out


def bare_pandas_check(df: pd.DataFrame) -> int:
    d = df.sort_values(["source", "symbol", "date"])
    n = int(d.duplicated(["source", "symbol", "date"]).sum())
    n += int(d[["close", "adj_close"]].isna().all(axis=1).sum())
    n += int((d[["open", "high", "low", "close", "adj_close"]] <= 0).sum().sum())
    r = d.groupby(["source", "symbol"])["close"].pct_change(fill_method=None)
    n += int((r.abs() > 1).sum())
    return n


def main() -> int:
    folder = shared_prices_dir()
    if folder is None:
        print("shared price data not found: set COMPUTEFOLIO_DATA")
        return 0
    files = sorted(folder.glob("*.csv.gz"))
    df = pd.concat([read_long(f).assign(source=f.name) for f in files], ignore_index=True)
    validate(df.head(2000))  # warm the calendar cache
    t_ours, rep = best(lambda: validate(df))
    t_base, _ = best(lambda: bare_pandas_check(df))
    print(f"validate, {len(df):,} rows, {len(files)} sources: {t_ours:.2f} s vs bare pandas {t_base:.2f} s "
          f"-> ratio {t_ours / t_base:.1f}x ({rep.summary()[:60]}...)")

    big = folder / "equities_ohlcv_daily_dieperdev.csv.gz"
    with tempfile.TemporaryDirectory() as tmp:
        def ours():
            p = Path(tmp) / f"s{time.perf_counter_ns()}.duckdb"
            with Store(p) as s:
                return s.import_file(big).rows_added

        def base():
            import duckdb

            p = Path(tmp) / f"b{time.perf_counter_ns()}.duckdb"
            con = duckdb.connect(str(p))
            d = read_long(big)
            con.register("d", d)
            con.execute("CREATE TABLE prices AS SELECT * FROM d")
            n = con.execute("SELECT count(*) FROM prices").fetchall()[0][0]
            con.close()
            return n

        t_ours, n1 = best(ours)
        t_base, n2 = best(base)
        assert n1 == n2
        print(f"import {big.name} ({n1:,} rows): {t_ours:.2f} s vs read+CREATE TABLE {t_base:.2f} s "
              f"-> ratio {t_ours / t_base:.1f}x")

        plan_file = folder / "equities_adjclose_daily_dsturdy.csv.gz"
        p = Path(tmp) / "market.duckdb"
        with Store(p) as s:
            s.import_file(plan_file)
            syms = s.symbols()
            cals = {x: "XNYS" for x in syms}
            t_ours, md = best(lambda: s.market(cals))
        t_base, md2 = best(lambda: load_folder(folder, cals, symbols=syms))
        same = md.price.equals(md2.price)
        print(f"market, {len(syms)} symbols: Store.market {t_ours:.2f} s vs load_folder {t_base:.2f} s "
              f"-> ratio {t_ours / t_base:.2f}x (identical prices: {same})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
