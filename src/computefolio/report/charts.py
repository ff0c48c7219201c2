"""Plotly figures of the report, built only from the plain results dict.

Each function takes parts of the ``results.json`` layout (see
:mod:`computefolio.report.tables` and :func:`computefolio.report.build_report`) and
returns a Plotly figure as a plain dict ``{"data": [trace, ...], "layout": {...}}`` (what
``Plotly.newPlot`` takes; ``plotly.graph_objects.Figure(fig)`` turns it into an object),
or None when the data it needs is absent. Plain dicts, not graph objects: building and
validating graph objects cost about a second per report.
Series are dicts ``{"unit", "basis", "index": [ISO dates], "columns": {name: [values]}}``.

Long series are thinned for drawing (:func:`thin`): a chart a few hundred pixels wide
cannot show 1,500 daily points one by one, so every k-th point is kept together with
each line's highs and lows (the trough of a drawdown is never dropped). The full series
stay in ``results.json``. :func:`build_figures` makes every figure of the report by name,
so the report and the service's dashboard draw the same charts.
"""

from __future__ import annotations

import math

from typing import Any

Figure = dict[str, Any]

#: One color per book, stable across charts (strategy first, then benchmarks).
PALETTE = ["#1f3b73", "#e07b00", "#2a9d8f", "#b5179e", "#6c757d", "#8ab17d", "#e76f51", "#264653",
           "#9c6644", "#457b9d", "#f4a261", "#7209b7", "#3a86ff", "#588157", "#bc4749", "#ffb703",
           "#023047", "#8d99ae", "#06d6a0", "#ef476f"]
REGIME_COLORS = {"decoupled": "rgba(42,157,143,0.10)", "coupled": "rgba(224,123,0,0.13)",
                 "crisis": "rgba(200,30,30,0.16)"}
#: Most points drawn per line (see :func:`thin`).
MAX_POINTS = 700

_FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
_GRID = "#e5eaf2"
_AXIS = dict(automargin=True, gridcolor=_GRID, zerolinecolor="#c9d2df", linecolor=_GRID, ticks="")
_LAYOUT = dict(paper_bgcolor="#fff", plot_bgcolor="#fff", margin=dict(l=10, r=10, t=48, b=10), height=400,
               legend=dict(orientation="h", yanchor="top", y=-0.1, xanchor="left", x=0),
               font=dict(family=_FONT, size=12, color="#2a3f5f"), hovermode="x unified",
               title=dict(x=0.01, xanchor="left", font=dict(size=14)), colorway=None)


def _axis_format(unit: str) -> dict:
    if unit in ("fraction", "fraction/yr"):
        return dict(tickformat=".0%", hoverformat=".2%")
    if unit == "ratio":
        return dict(tickformat=".2f", hoverformat=".3f")
    return dict(tickformat=",.0f", hoverformat=",.0f")


def _has(series: dict | None) -> bool:
    return bool(series) and bool(series.get("index")) and bool(series.get("columns"))


def _merge(a: dict, b: dict) -> dict:
    """``a`` updated by ``b``, recursively for nested dicts (a new dict)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _figure(data: list[dict], title: str, *, xaxis: dict | None = None, yaxis: dict | None = None, **kw) -> Figure:
    layout = _merge(_LAYOUT, dict(title=dict(text=title), **kw))
    layout.pop("colorway")
    layout["xaxis"] = _merge(_AXIS, xaxis or {})
    layout["yaxis"] = _merge(_AXIS, yaxis or {})
    return {"data": data, "layout": layout}


def _hline(y: float) -> dict:
    return dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=y, y1=y, line=dict(color="#888", width=1, dash="dot"))


def thin(series: dict, max_points: int = MAX_POINTS) -> dict:
    """A copy of ``series`` with at most about ``max_points`` dates per line.

    Keeps every k-th date, the last one, and for each column its minimum and maximum
    (so peaks and troughs survive). ``regimes`` (one label per date) are thinned alike.
    Series that are already short are returned unchanged.
    """
    idx = series.get("index") or []
    n = len(idx)
    if n <= max_points:
        return series
    k = math.ceil(n / max_points)
    keep = set(range(0, n, k)) | {n - 1}
    for vals in series["columns"].values():
        num = [(v, i) for i, v in enumerate(vals) if v is not None]
        if num:
            keep.add(min(num)[1])
            keep.add(max(num)[1])
    pos = sorted(keep)
    out = dict(series)
    out["index"] = [idx[i] for i in pos]
    out["columns"] = {c: [v[i] for i in pos] for c, v in series["columns"].items()}
    if series.get("regimes") and len(series["regimes"]) == n:
        out["regimes"] = [series["regimes"][i] for i in pos]
    return out


def line_chart(series: dict | None, title: str, ytitle: str, *, log: bool = False,
               fill_zero: bool = False, ref: float | None = None, pair_styles: bool = False) -> Figure | None:
    """One line per column of ``series``; ``ref`` draws a dotted reference level; ``pair_styles``
    draws columns two by two in one colour, the second dotted (two estimates of one thing)."""
    if not _has(series):
        return None
    series = thin(series)
    data = []
    pairs = pair_styles and len(series["columns"]) % 2 == 0
    for i, (name, vals) in enumerate(series["columns"].items()):
        color = PALETTE[(i // 2 if pairs else i) % len(PALETTE)]
        line = dict(color=color, width=2.2 if (i == 0 and not pairs) else 1.5)
        if pairs and i % 2:
            line["dash"] = "dot"
        tr = dict(type="scatter", x=series["index"], y=vals, name=name, mode="lines", line=line)
        if fill_zero and i == 0:
            tr["fill"] = "tozeroy"
        data.append(tr)
    yaxis = dict(title=dict(text=ytitle + (", log scale" if log else "")), type="log" if log else "linear",
                 **_axis_format(series.get("unit", "")))
    if log:
        vals = [v for col in series["columns"].values() for v in col if v is not None and v > 0]
        if vals:
            tv = _log_ticks(min(vals), max(vals))
            yaxis.update(tickvals=tv, ticktext=[_money(v) for v in tv])
    fig = _figure(data, title, yaxis=yaxis)
    if ref is not None:
        fig["layout"]["shapes"] = [_hline(ref)]
    return fig


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks covering [lo, hi] for a log axis."""
    out = []
    for k in range(int(math.floor(math.log10(lo))) - 1, int(math.ceil(math.log10(hi))) + 1):
        for m in (1, 2, 5):
            v = m * 10.0 ** k
            if lo / 1.5 <= v <= hi * 1.5:
                out.append(v)
    return out


def _money(v: float) -> str:
    """Short amount: 250k, 100m, 1.5bn."""
    for div, suf in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(v) >= div:
            x = v / div
            return f"{x:,.0f}{suf}" if x == int(x) else f"{x:,.1f}{suf}"
    return f"{v:,.0f}"


def correlation_chart(series: dict | None, title: str) -> Figure | None:
    """Rolling / EWMA / DCC correlation lines with regimes shaded behind them."""
    if not _has(series):
        return None
    series = thin(series)
    fig = line_chart(series, title, "correlation")
    regimes = series.get("regimes")
    idx = series["index"]
    if regimes and len(regimes) == len(idx):
        spans, start, cur = [], 0, regimes[0]
        for i in range(1, len(regimes) + 1):
            if i == len(regimes) or regimes[i] != cur:
                if cur in REGIME_COLORS:
                    spans.append((idx[start], idx[min(i, len(idx) - 1)], cur))
                if i < len(regimes):
                    start, cur = i, regimes[i]
        fig["layout"]["shapes"] = [dict(type="rect", xref="x", yref="paper", x0=a, x1=b, y0=0, y1=1,
                                         fillcolor=REGIME_COLORS[r], line=dict(width=0), layer="below")
                                    for a, b, r in spans]
        for r, c in REGIME_COLORS.items():  # legend entries for the shading
            if r in set(regimes):
                fig["data"].append(dict(type="scatter", x=[None], y=[None], mode="markers", name=f"regime: {r}",
                                        marker=dict(size=12, symbol="square", color=c.replace("0.1", "0.5"))))
    fig["layout"]["yaxis"]["range"] = [-1, 1]
    return fig


def stacked_area(series: dict | None, title: str, ytitle: str) -> Figure | None:
    """Stacked areas (weights over time by layer)."""
    if not _has(series):
        return None
    series = thin(series)
    data = [dict(type="scatter", x=series["index"], y=vals, name=name, mode="lines", stackgroup="one",
                 line=dict(width=0.5, color=PALETTE[i % len(PALETTE)]))
            for i, (name, vals) in enumerate(series["columns"].items())]
    return _figure(data, title, height=520,
                   yaxis=dict(title=dict(text=ytitle), **_axis_format(series.get("unit", "fraction"))))


def grouped_bars(tab: dict | None, label_key: str, keys: list[tuple[str, str]], title: str,
                 *, horizontal: bool = False, unit: str = "fraction") -> Figure | None:
    """Bars of several columns of a table side by side, one group per row."""
    if not tab or not tab.get("rows"):
        return None
    labels = [str(r.get(label_key)) for r in tab["rows"]]
    data = []
    for i, (k, name) in enumerate(keys):
        vals = [r.get(k) for r in tab["rows"]]
        if all(v is None for v in vals):
            continue
        kw = dict(y=labels, x=vals, orientation="h") if horizontal else dict(x=labels, y=vals)
        data.append(dict(type="bar", name=name, marker=dict(color=PALETTE[i % len(PALETTE)]), **kw))
    if not data:
        return None
    if horizontal:
        return _figure(data, title, barmode="group", hovermode="closest",
                       height=max(300, 22 * len(labels) * max(1, len(data)) // 2 + 140),
                       xaxis=_axis_format(unit), yaxis=dict(autorange="reversed"))
    return _figure(data, title, barmode="group", hovermode="closest", yaxis=_axis_format(unit))


def heatmap(tab: dict | None, row_key: str, title: str, unit: str = "fraction"):
    """Heatmap of a table's numeric columns (rows x columns) with the values written in the cells.

    Returns a :class:`plotly.graph_objects.Figure` (callers such as the sweep page restyle it
    with ``update_traces``), or None.
    """
    if not tab or not tab.get("rows"):
        return None
    cols = [c for c in tab["columns"] if c["key"] != row_key and c["unit"] not in ("text", "date")]
    if not cols:
        return None
    z = [[r.get(c["key"]) for c in cols] for r in tab["rows"]]
    ys = [str(r.get(row_key)) for r in tab["rows"]]
    fmt = ".1%" if unit in ("fraction", "fraction/yr") else ",.0f"
    data = [dict(type="heatmap", z=z, x=[c["label"] for c in cols], y=ys, colorscale="RdBu", zmid=0,
                 texttemplate="%{z:" + fmt + "}", hovertemplate="%{y}<br>%{x}: %{z:" + fmt + "}<extra></extra>",
                 colorbar=dict(tickformat=fmt.replace(".1", ".0")))]
    import plotly.graph_objects as go

    return go.Figure(_figure(data, title, height=max(320, 30 * len(ys) + 160), hovermode="closest",
                             yaxis=dict(autorange="reversed")))


def bar_series(series: dict | None, title: str, ytitle: str) -> Figure | None:
    """Bars over time (turnover per rebalance)."""
    if not _has(series):
        return None
    day_ms = 86_400_000
    data = [dict(type="bar", x=series["index"], y=vals, name=name, marker=dict(color=PALETTE[i % len(PALETTE)]),
                 width=[12 * day_ms] * len(vals)) for i, (name, vals) in enumerate(series["columns"].items())]
    return _figure(data, title, barmode="group",
                   yaxis=dict(title=dict(text=ytitle), **_axis_format(series.get("unit", "fraction"))))


def distribution_chart(hist: dict | None, title: str) -> Figure | None:
    """Histogram of per-period returns with VaR (dashed) and ES (solid) marked at each confidence."""
    if not hist or not hist.get("counts"):
        return None
    e = hist["edges"]
    mids = [(a + b) / 2 for a, b in zip(e[:-1], e[1:])]
    widths = [b - a for a, b in zip(e[:-1], e[1:])]
    data = [dict(type="bar", x=mids, y=hist["counts"], width=widths, name="periods",
                 marker=dict(color="#9fb3d9", line=dict(width=0)), hovertemplate="%{x:.2%}: %{y} periods<extra></extra>")]
    colors = ["#e07b00", "#c1121f", "#7209b7"]
    for i, (conf, m) in enumerate(sorted((hist.get("marks") or {}).items())):
        c = colors[i % len(colors)]
        for key, dash, lab in (("var", "dash", "VaR"), ("es", "solid", "ES")):
            v = m.get(key)
            if v is None:
                continue
            data.append(dict(type="scatter", x=[-v, -v], y=[0, max(hist["counts"])], mode="lines",
                             line=dict(color=c, dash=dash, width=2), name=f"{lab} {conf}: {v:.2%} loss",
                             hoverinfo="name"))
    return _figure(data, title, bargap=0, hovermode="closest",
                   xaxis=dict(tickformat=".0%", hoverformat=".2%"),
                   yaxis=dict(title=dict(text="number of periods")))


# ----------------------------------------------------------------------------- every figure by name
def build_figures(results: dict) -> dict[str, Figure | None]:
    """Every figure of the report, by name (None where the run has no data for it)."""
    r = results
    series = r.get("series") or {}
    conv = r.get("conventions") or {}
    cur = conv.get("currency", "USD")
    st = r.get("stress") or {}
    tr = r.get("trading") or {}
    liq = r.get("liquidity") or {}
    exp = r.get("exposure") or {}
    rs = series.get("rolling_sharpe") or {}
    rb = series.get("rolling_beta") or {}
    rv = series.get("rolling_vol") or {}
    figs: dict[str, Figure | None] = {
        "equity": line_chart(series.get("equity"), "Value of the book and benchmarks",
                             (series.get("equity") or {}).get("unit", cur), log=True),
        "drawdown": line_chart(series.get("drawdown"), "Drawdown from the running peak", "drawdown"),
        "rolling_vol": line_chart(rv or None, f"Rolling volatility ({rv.get('window', '')} periods, annualized)",
                                  "volatility"),
        "rolling_sharpe": line_chart(rs or None, f"Rolling Sharpe ratio ({rs.get('window', '')} periods)",
                                     "Sharpe ratio", ref=0.0),
        "rolling_beta": line_chart(rb or None, f"Rolling beta of the strategy ({rb.get('window', '')} periods)",
                                   "beta", ref=1.0, pair_styles=True),
        "cumulative_contribution": line_chart(series.get("cumulative_contribution"),
                                              "Cumulative contribution to return by layer", "contribution",
                                              ref=0.0),
        "cumulative_effects": line_chart(series.get("cumulative_effects"),
                                         "Active return against the policy benchmark, by effect (cumulative)",
                                         "active return", ref=0.0),
        "return_distribution": distribution_chart(series.get("return_histogram"),
                                                  "Distribution of the strategy's per-period returns"),
        "correlation": correlation_chart(series.get("correlation"),
                                         "Correlation of the digital-asset and AI-equity sleeves"),
        "weights_by_layer": stacked_area(series.get("weights_by_layer"), "Weights by layer (look-through)",
                                         "share of capital"),
        "liquidity": grouped_bars(liq.get("buckets"), "horizon", [("liquid", "share of book liquid")],
                                  "Share of the book liquid within n days"),
        "turnover": bar_series(series.get("turnover"), "Turnover per rebalance (one-way)", "turnover"),
        "costs_by_venue": grouped_bars(tr.get("by_venue"), "venue", [("fee", "fees"), ("spread", "spread"),
                                                                     ("impact", "impact")],
                                       "Costs by venue", unit=cur),
    }
    for by in ("sleeve", "layer", "theme"):
        figs[f"exposure_{by}"] = grouped_bars(
            exp.get(by), "name" if any("name" in c["key"] for c in (exp.get(by) or {}).get("columns", [])) else "group",
            [("weight", "weight"), ("vol_share", "share of volatility"), ("es_share", "share of ES")],
            f"Exposure and risk contribution by {by}", horizontal=by != "sleeve")
    priv = r.get("private") or {}
    if priv:
        figs["private_values"] = stacked_area((priv.get("series") or {}).get("value_by_symbol"),
                                              "Private sleeve value by position (marks, rolled marks, prices)", cur)
        figs["private_ladder"] = grouped_bars(priv.get("ladder"), "horizon", [("market", "market absorbs"),
                                                                              ("unlocked", "unlocked"),
                                                                              ("liquid", "liquid (smaller)")],
                                              "Liquidity ladder of the whole book", unit=cur)
    if not st.get("by_sleeve"):  # older results: the stress heat map by layer
        figs["stress_by_layer"] = heatmap(st.get("by_layer"), "scenario", "Stress P&L by layer (fraction of capital)")
    return figs
