"""Writing a run's files: ``report.html``, ``results.json``, ``weights.csv``, ``trades.csv``, ``manifest.json``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.market import MarketData
from ..report import build_report
from ..strategy import Strategy

#: Output files of a run, in ``out/<strategy-name>/``.
OUTPUT_FILES = ("report.html", "results.json", "weights.csv", "trades.csv", "manifest.json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_default(o):
    if isinstance(o, (pd.Timestamp, dt.date)):
        return str(o.date()) if isinstance(o, pd.Timestamp) else o.isoformat()
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, np.bool_):
        return bool(o)
    return str(o)


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (float, np.floating)):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, np.integer):
        return int(o)
    return o


def write_outputs(out: Path, results: dict, result, strategy: Strategy, market: MarketData) -> dict:
    """Write the five output files into ``out`` and return name -> path."""
    from .. import __version__

    out.mkdir(parents=True, exist_ok=True)
    results = _clean(results)
    files = {n: out / n for n in OUTPUT_FILES}
    # compact (about 2 MB of numbers and series: indentation doubled the time to write it); `jq .` reads it
    files["results.json"].write_text(json.dumps(results, separators=(",", ":"), default=_json_default,
                                                allow_nan=False), encoding="utf-8")
    w = result.weights.copy()
    w["cash"] = 1.0 - w.sum(axis=1)
    w.index.name = "date"
    w.to_csv(files["weights.csv"], float_format="%.10g")
    result.trades.to_csv(files["trades.csv"], index=False, float_format="%.10g")
    files["report.html"].write_text(build_report(results), encoding="utf-8")
    import platform

    versions = {"computefolio": __version__, "python": platform.python_version(), "numpy": np.__version__,
                "pandas": pd.__version__}
    manifest = {
        "schema": "computefolio.manifest/1",
        "created_utc": results["run"]["created_utc"],
        "strategy": results["strategy"]["config"],
        "strategy_file": str(strategy.file.name) if strategy.file else None,
        "strategy_file_sha256": _sha256(strategy.file) if strategy.file and strategy.file.is_file() else None,
        "data": {"label": market.label, "simulated": bool(market.simulated), "data_hash": results["data"]["data_hash"],
                 "start": str(market.start.date()), "end": str(market.end.date()),
                 "seed": market.provenance.get("seed") if market.simulated else None},
        "versions": versions,
        "backtest": result.manifest,
        "files": {n: {"sha256": _sha256(p), "bytes": p.stat().st_size} for n, p in files.items()
                  if n != "manifest.json"},
        "units": {"weights.csv": "fractions of book value per date (post-trade), cash = 1 - sum",
                  "trades.csv": f"quantity in units, money in {strategy.currency}"},
    }
    files["manifest.json"].write_text(json.dumps(_clean(manifest), indent=1, default=_json_default), encoding="utf-8")
    return files
