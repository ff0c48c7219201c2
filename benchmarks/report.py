"""Benchmark: computefolio's whole main job on the real files vs QuantStats' HTML tear sheet.

Problem: the shipped strategy on the real daily prices (``--data``, default: the shared
``data/prices`` folder found by :func:`computefolio.data.sources.shared_prices_dir`).

* computefolio: :func:`computefolio.job.run_strategy` end to end -- load the files,
  validate, construct (60+ allocator fits under the mandate), backtest with costs,
  benchmarks, risk report (VaR/ES five ways, contributions, stress, liquidity),
  correlation regimes (DCC), performance and attribution, and write the report (HTML
  with every chart, results.json, CSVs, manifest). Warm: one run first (numba compiled,
  files in the OS cache), then the best of ``--repeat`` timed runs.
* QuantStats: ``quantstats.reports.html(returns, benchmark=QQQ, output=FILE)`` on the
  *same* strategy returns and the same QQQ returns the job produced (so it does not load,
  validate, construct, backtest or compute risk: its tear sheet alone), best of
  ``--repeat``; its import time is measured once, separately (a fresh interpreter).

Both run in this process, one after the other, with the same inputs. Prints the wall
times and the ratio (QuantStats' tear sheet / our whole job); > 1 means the whole job is
faster than their tear sheet alone. Nothing here asserts on time.

Run: ``python benchmarks/report.py [--data PATH] [--repeat 3]``.

Recorded (2026-11-29, the shared 2-core development machine, other sessions' tests
running, so the figures move): see the closing note of issue 12 (printed by this script).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path


def _import_time() -> float:
    code = "import time; t = time.perf_counter(); import quantstats; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="folder of price files (default: the shared real prices)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)

    from computefolio.data.sources import shared_prices_dir
    from computefolio.job import run_strategy
    from computefolio.strategy import load_strategy

    data = Path(a.data) if a.data else shared_prices_dir()
    if data is None or not Path(data).is_dir():
        print("no real price folder: pass --data PATH (the shared data/prices)")
        return 2
    s = load_strategy().with_overrides(data={"source": "files", "path": str(Path(data).resolve()), "seed": 7})
    tmp = Path(tempfile.mkdtemp(prefix="cf-bench-report-"))

    print(f"strategy {s.name} on {data}")
    t0 = time.perf_counter()
    res = run_strategy(s, out_dir=tmp / "warmup", progress=False)
    print(f"computefolio cold run (numba compile, file cache): {time.perf_counter() - t0:6.2f} s")
    ours = []
    for i in range(a.repeat):
        t0 = time.perf_counter()
        res = run_strategy(s, out_dir=tmp / f"run{i}", progress=False)
        ours.append(time.perf_counter() - t0)
    steps = dict(res.timings)
    r = res.backtest.returns.copy()
    q = res.benchmarks["QQQ"].returns.reindex(r.index)
    r.name, q.name = "Strategy", "QQQ"
    html_size = res.report_path.stat().st_size

    imp = _import_time()
    import logging

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # quantstats asks for Arial
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats as qs

        theirs = []
        for i in range(a.repeat):
            out = tmp / f"quantstats{i}.html"
            t0 = time.perf_counter()
            qs.reports.html(r, benchmark=q, output=str(out), title="compute_backed", periods_per_year=252)
            theirs.append(time.perf_counter() - t0)
    qs_size = out.stat().st_size

    best, qbest = min(ours), min(theirs)
    print(f"inputs: {len(r)} periods ({r.index[0].date()} to {r.index[-1].date()}), session basis, 252/yr")
    print(f"computefolio whole job, warm: best {best:6.2f} s of {', '.join(f'{x:.2f}' for x in ours)}")
    print("  steps: " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    print(f"  report.html {html_size / 1e6:.2f} MB, self-contained, offline")
    print(f"quantstats.reports.html:    best {qbest:6.2f} s of {', '.join(f'{x:.2f}' for x in theirs)} "
          f"(+ {imp:.2f} s to import quantstats)")
    print(f"  tear sheet {qs_size / 1e6:.2f} MB")
    print(f"ratio (their tear sheet alone / our whole job): {qbest / best:.2f}x"
          f"; with their import: {(qbest + imp) / best:.2f}x")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
