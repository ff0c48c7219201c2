"""Record the real returns of every historical stress scenario, so stress is real history on any market.

Reads the real daily prices (``computefolio.data.sources.shared_prices_dir()``, i.e.
``$COMPUTEFOLIO_DATA`` or ``../shared/data/prices``) through the shipped universe's
source plans and listing dates (exactly as ``computefolio run --data`` does), replays
each historical scenario of ``resources/scenarios.yaml`` on both bases, and writes the
SMALL file ``src/computefolio/resources/scenario_returns.json`` (numbers only, never a
price series) that :func:`computefolio.risk.stress.load_recorded` reads.

Usage::

    python scripts/record_scenarios.py [--out PATH]

What is recorded, per scenario and per basis (``session``: XNYS sessions, crypto
compounded over weekends and holidays into the next session; ``calendar``: every day,
equities carried flat when closed)
-------------------------------------------------------------------------------------
* ``assets``: each asset's cumulative simple return over the periods in ``(start, end]``
  (:func:`computefolio.risk.stress.window_returns`), only for assets with a return on
  every period of the window (an asset not yet listed is left out, never filled);
* ``layers`` and ``sleeves``: the membership-weighted average of those assets' returns
  (for proxies: a young asset stands in by its layer, as stress does on a live market);
* ``periods``, ``first`` and ``last``: the periods used.

Stress on a market that does not cover a window with real prices (the sample market,
or real files that start later) replays these recorded returns and says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from computefolio.data.load import load_market  # noqa: E402
from computefolio.data.sources import shared_prices_dir  # noqa: E402
from computefolio.risk.stress import load_scenarios, window_returns  # noqa: E402
from computefolio.universe import load_universe  # noqa: E402

OUT = ROOT / "src" / "computefolio" / "resources" / "scenario_returns.json"


def group_average(cum: pd.Series, universe, by: str) -> dict[str, float]:
    """Membership-weighted average return of each group over the assets with a return."""
    have = cum.dropna()
    have = have[[s for s in have.index if s in universe and not universe.asset(s).benchmark]]
    if have.empty:
        return {}
    m = universe.membership(by, symbols=list(have.index))
    den = m.sum(axis=0)
    avg = (m.T @ have.to_numpy()) / den.replace(0, np.nan)
    return {str(g): round(float(v), 10) for g, v in avg.items() if np.isfinite(v)}


def record(folder: Path) -> dict:
    universe = load_universe()
    scen = [s for s in load_scenarios(None, universe) if s.kind == "historical"]
    first = min(pd.Timestamp(s.start) for s in scen) - pd.Timedelta(days=10)
    market = load_market(universe, source="files", path=folder, start=first)
    out = {"schema": "computefolio.scenario_returns/1",
           "source": f"real daily prices ({market.label}); computed by scripts/record_scenarios.py",
           "data_hash": market.data_hash(),
           "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "conventions": "cumulative simple return over the periods in (start, end] of each basis; assets without "
                          "a return on every period are left out; layers and sleeves: membership-weighted averages "
                          "of the assets recorded",
           "scenarios": {}}
    for basis in ("session", "calendar"):
        rets = market.returns(basis)
        for s in scen:
            cum, n, used = window_returns(rets, s.start, s.end, s.days)
            if n == 0:
                continue
            cum = cum[[c for c in cum.index if c in universe]]
            entry = out["scenarios"].setdefault(s.name, {"title": s.title, "start": str(s.start), "end": str(s.end),
                                                         "bases": {}})
            entry["bases"][basis] = {
                "periods": int(n), "first": str(used[0].date()), "last": str(used[-1].date()),
                "assets": {str(k): round(float(v), 10) for k, v in cum.dropna().sort_index().items()},
                "layers": group_average(cum, universe, "layer"),
                "sleeves": group_average(cum, universe, "sleeve"),
            }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    folder = shared_prices_dir()
    if folder is None:
        print("no real price folder: set COMPUTEFOLIO_DATA or put shared/data/prices beside the project",
              file=sys.stderr)
        return 2
    res = record(folder)
    args.out.write_text(json.dumps(res, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    n = sum(len(b["assets"]) for e in res["scenarios"].values() for b in e["bases"].values())
    print(f"wrote {args.out} ({len(res['scenarios'])} scenarios, {n} asset returns)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
