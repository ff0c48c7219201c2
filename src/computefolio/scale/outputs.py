"""A sweep's outputs: the results dict (``sweep.json``), the variants table, the files.

Tables and quantities follow :mod:`computefolio.report.tables` (every number with its
unit and basis), so the sweep's report page (:mod:`computefolio.report.sweep`) and a
reader of ``sweep.json`` see the same numbers.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..clock import basis_label
from ..report.tables import column, fmt, quantity, table
from .sweep import METRICS, SweepResult, _show

__all__ = ["sweep_results", "write_sweep_outputs"]

#: Metric columns of the variants table, in order.
_COLS = ("sharpe", "cagr", "volatility", "max_drawdown", "sortino", "calmar", "annual_turnover")


def _heatmaps(res: SweepResult, t: pd.DataFrame, basis: str) -> dict:
    axes = res.grid.heatmap_axes()
    ok = t[t["status"] == "ok"]
    if len(axes) < 1 or ok.empty:
        return {}
    xa = axes[0]
    ya = axes[1] if len(axes) > 1 else None
    xs = list(res.grid.axes[xa])
    ys = list(res.grid.axes[ya]) if ya else [None]
    others = [a for a in res.grid.axes if a not in axes and len(res.grid.axes[a]) > 1]
    out = {}
    for m in dict.fromkeys([res.grid.metric, "sharpe", "cagr", "volatility", "max_drawdown"]):
        label, unit, _ = METRICS[m]
        rows = []
        for y in ys:
            row = {"y": _show(y) if ya else "all"}
            for i, x in enumerate(xs):
                pick = [k for k in ok.index if _show(res.variants[k].values[xa]) == _show(x)
                        and (ya is None or _show(res.variants[k].values[ya]) == _show(y))]
                vals = ok.loc[pick, m].astype(float).dropna()
                row[f"x{i}"] = float(np.median(vals)) if len(vals) else None
            rows.append(row)
        cols = [column("y", ya or "", "text")] + [column(f"x{i}", f"{xa}={_show(x)}", unit) for i, x in enumerate(xs)]
        note = (f"Median over {', '.join(others)} (each cell summarizes {int(np.prod([len(res.grid.axes[a]) for a in others]))}"
                f" variants)." if others else "One variant per cell.")
        out[m] = table(f"{label} by {xa}" + (f" and {ya}" if ya else ""), cols, rows, basis=basis, note=note)
        out[m]["x_axis"], out[m]["y_axis"], out[m]["metric"] = xa, ya, m
    return out


def sweep_results(res: SweepResult) -> dict:
    """The sweep's results as a JSON-ready dict (see the module docstring)."""
    s = res.strategy
    cur = s.currency
    bl = basis_label(s.basis, cur)
    t = res.table()
    axes = list(res.grid.axes)
    metric = res.grid.metric
    hi = METRICS[metric][2]
    order = t.assign(_m=t[metric].astype(float) if metric in t else np.nan).sort_values(
        "_m", ascending=not hi, na_position="last").index if "sharpe" in t else t.index
    vcols = ([column("id", "variant", "text")] + [column(a, a, "text") for a in axes]
             + [column(m, METRICS[m][0], METRICS[m][1]) for m in _COLS]
             + [column("fits", "fits", "count"), column("costs", "costs", cur),
                column("final_value", "final value", cur), column("warnings", "warnings", "count"),
                column("status", "status", "text")])
    rows = []
    for i in order:
        r = t.loc[i]
        row = {"id": r["id"], **{a: _show(res.variants[i].values[a]) for a in axes}, "status": r["status"]}
        if r["status"] == "ok":
            row.update({m: r.get(m) for m in _COLS})
            row.update(fits=r["fits"], costs=r["costs"], final_value=r["final_value"], warnings=r["warnings"])
        rows.append(row)
    variants = table(f"Every variant, best {METRICS[metric][0]} first", vcols, rows, basis=bl,
                     note="Each variant is a full policy backtest of the strategy with that change: allocator refits "
                          "on its schedule under the mandate, drift bands, volatility target, costs. Sharpe and "
                          f"Sortino in excess of the cash rate ({s.cash_rate:.2%}/yr).")
    fails = [{"id": v.id, "params": v.label, "error": r.error} for v, r in zip(res.variants, res.results) if not r.ok]
    failures = table("Failed variants", [column("id", "variant", "text"), column("params", "parameters", "text"),
                                         column("error", "error", "text")], fails,
                     note="The other variants finished; a re-run with the same checkpoint folder runs only these.")
    over = res.overfitting
    rob = {"notes": list(over.get("notes", [])), "convention": over.get("convention")}
    best = res.best("sharpe")
    if "dsr" in over:
        d = over["dsr"]
        rob["best"] = {"id": d["best_id"], "label": next(v.label for v in res.variants if v.id == d["best_id"])}
        rob["dsr"] = quantity(d["dsr"], "fraction", note="probability that the best variant's true Sharpe ratio "
                                                         "exceeds the best of the trials' by luck")
        rob["sharpe_best"] = quantity(d["sharpe_annualized"], "ratio", bl)
        rob["sharpe_threshold"] = quantity(d["sharpe_threshold_annualized"], "ratio", bl,
                                           note="expected best annualized Sharpe ratio of this many luck-only trials")
        rob["n_trials"] = quantity(d["n_trials"], "count")
        rob["sharpe_std"] = quantity(float(np.sqrt(d["variance"] * over["periods_per_year"])), "ratio",
                                     note="standard deviation of the variants' annualized Sharpe ratios")
        rob["skew"] = quantity(d["skew"], "ratio")
        rob["kurtosis"] = quantity(d["kurtosis"], "ratio", note="normal = 3")
        rob["psr_zero"] = quantity(d["psr_zero"], "fraction", note="probabilistic Sharpe ratio against 0 (no deflation)")
        rob["periods"] = quantity(d["periods"], "periods")
    if "pbo" in over:
        p = over["pbo"]
        rob["pbo"] = quantity(p["pbo"], "fraction", note="share of CSCV splits whose in-sample best ranked at or "
                                                         "below the out-of-sample median")
        rob["prob_oos_loss"] = quantity(p["prob_oos_loss"], "fraction")
        rob["degradation_slope"] = quantity(p["degradation_slope"], "ratio",
                                            note="out-of-sample vs in-sample Sharpe of the selected variant")
        rob["blocks"] = quantity(p["blocks"], "count")
        rob["splits"] = quantity(p["splits"], "count")
    rows_r = []
    for key, label in (("sharpe_best", "Best variant's Sharpe ratio (annualized)"),
                       ("dsr", "Deflated Sharpe ratio of the best variant"),
                       ("sharpe_threshold", "Best Sharpe ratio expected from luck alone (annualized)"),
                       ("psr_zero", "Probabilistic Sharpe ratio vs 0 (not deflated)"),
                       ("n_trials", "Trials counted"), ("sharpe_std", "Dispersion of the trials' Sharpe ratios (std)"),
                       ("skew", "Skewness of the best variant's returns"),
                       ("kurtosis", "Kurtosis of the best variant's returns (normal 3)"),
                       ("pbo", "Probability of backtest overfitting (CSCV)"),
                       ("prob_oos_loss", "Probability the selected variant loses out of sample"),
                       ("degradation_slope", "Out-of-sample / in-sample Sharpe slope"),
                       ("blocks", "CSCV blocks"), ("splits", "CSCV splits")):
        if key in rob:
            q = rob[key]
            shown = fmt(q["value"], q["unit"])
            rows_r.append({"statistic": label, "value": shown, "note": q.get("note", "")})
    rob["table"] = {"title": "Robustness of the best variant", "basis": bl, "note": rob.get("convention"),
                    "columns": [column("statistic", "statistic", "text"), column("value", "value", "text"),
                                column("note", "meaning", "text")], "rows": rows_r}
    n_ok = sum(r.ok for r in res.results)
    return {
        "strategy": {"name": s.name, "description": s.description, "file": str(s.file) if s.file else None},
        "sweep": {"axes": {a: [_show(v) for v in vals] for a, vals in res.grid.axes.items()},
                  "fixed": {k: _show(v) for k, v in res.grid.fixed.items()}, "metric": metric,
                  "heatmap_axes": res.grid.heatmap_axes(), "variants": len(res.variants), "finished": n_ok,
                  "failed": len(res.variants) - n_ok, "from_checkpoint": sum(r.cached for r in res.results),
                  "backend": res.backend, "workers": res.workers, "elapsed_s": round(res.elapsed_s, 3),
                  "best_by_metric": None if best is None else best.id,
                  "data": res.data_label, "simulated": res.simulated, "basis": s.basis, "basis_label": bl,
                  "end_reason": "; ".join(res.end_reasons),
                  "start": str(res.returns.index[0].date()) if len(res.returns) else str(s.start),
                  "end": (str(res.returns.index[-1].date()) if len(res.returns) else
                          (res.end_dates[-1] if res.end_dates else None)),
                  "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
        "robustness": rob,
        "overfitting": _jsonable(over),
        "variants": variants,
        "failures": failures,
        "heatmaps": _heatmaps(res, t, bl),
    }


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if np.isfinite(f) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_sweep_outputs(res: SweepResult, out: str | Path) -> dict[str, Path]:
    """Write ``sweep.json``, ``variants.csv``, ``returns.csv`` and ``report.html`` into ``out``.

    ``returns.csv``: dates x variant id, daily book returns net of costs (fractions, the
    strategy's basis). ``variants.csv``: one row per variant with its axis values and metrics.
    """
    from ..report.sweep import write_sweep_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = sweep_results(res)
    files = {}
    p = out / "sweep.json"
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, allow_nan=False), encoding="utf-8")
    tmp.replace(p)
    files["sweep.json"] = p
    t = res.table()
    for a in res.grid.axes:
        t[a] = [_show(v) for v in t[a]]
    files["variants.csv"] = out / "variants.csv"
    t.to_csv(files["variants.csv"], index=False)
    files["returns.csv"] = out / "returns.csv"
    res.returns.to_csv(files["returns.csv"], index_label="date")
    files["report.html"] = write_sweep_report(results, out / "report.html")
    return files
