"""Run every benchmark, one after another, each in its own process (``make bench``).

Each benchmark runs the peer library on the same inputs in the same process (or, for
memory, in sibling subprocesses) and prints ratios; nothing here asserts on time.
Run on a quiet machine: the ratios move with load.

    python benchmarks/run_all.py [--only allocators,backtest,risk,data,sample] [--quick]

``--quick`` passes small sizes (a smoke run, minutes instead of tens of minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, arguments of the full run, arguments of a quick run)
BENCHMARKS = {
    "allocators": ("allocators.py", [], ["--sizes", "50,200", "--repeat", "2"]),
    "backtest": ("backtest.py", [], ["--sets", "100", "--vbt-sets", "5,10", "--bt-sets", "1"]),
    "risk": ("risk.py", [], ["--assets", "200"]),
    "data": ("data.py", [], []),
    "sample": ("sample.py", [], []),
    "compliance": ("compliance.py", [], ["--repeat", "2"]),
    "service": ("service_load.py", [], ["--seconds", "5", "--clients", "10"]),
    "private": ("private.py", [], ["--repeat", "2"]),
    "construction": ("construction.py", [], ["--repeat", "1"]),
    "report": ("report.py", [], ["--repeat", "1"]),
    "sweep": ("sweep.py", [], ["--quick"]),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=",".join(BENCHMARKS))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    failed = []
    for name in [x for x in a.only.split(",") if x]:
        script, full, quick = BENCHMARKS[name]
        cmd = [sys.executable, str(HERE / script), *(quick if a.quick else full)]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"=== {name}: exit {rc} in {time.perf_counter() - t0:.1f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
