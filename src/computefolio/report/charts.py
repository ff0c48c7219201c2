"""Plotly figures of the report, built only from the plain results dict.

Each function takes parts of the ``results.json`` layout (see
:mod:`computefolio.report.tables` and :func:`computefolio.report.build_report`) and
returns a :class:`plotly.graph_objects.Figure`, or None when the data it needs is absent.
Series are dicts ``{"unit", "basis", "index": [ISO dates], "columns": {name: [values]}}``.
"""

from __future__ import annotations

import plotly.graph_objects as go

#: One color per book, stable across charts (strategy first, then benchmarks).
PALETTE = ["#1f3b73", "#e07b00", "#2a9d8f", "#b5179e", "#6c757d", "#8ab17d", "#e76f51", "#264653",
           "#9c6644", "#457b9d", "#f4a261", "#7209b7", "#3a86ff", "#588157", "#bc4749", "#ffb703",
           "#023047", "#8d99ae", "#06d6a0", "#ef476f"]
REGIME_COLORS = {"decoupled": "rgba(42,157,143,0.10)", "coupled": "rgba(224,123,0,0.13)",
                 "crisis": "rgba(200,30,30,0.16)"}

_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=50, b=40), height=400,
               legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0),
               font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif",
                         size=12), hovermode="x unified")


def _axis_format(unit: str) -> dict:
    if unit in ("fraction", "fraction/yr"):
        return dict(tickformat=".0%", hoverformat=".2%")
    if unit == "ratio":
        return dict(tickformat=".2f", hoverformat=".3f")
    return dict(tickformat=",.0f", hoverformat=",.0f")


def _has(series: dict | None) -> bool:
    return bool(series) and bool(series.get("index")) and bool(series.get("columns"))


def line_chart(series: dict | None, title: str, ytitle: str, *, log: bool = False,
               fill_zero: bool = False) -> go.Figure | None:
    """One line per column of ``series``."""
    if not _has(series):
        return None
    fig = go.Figure()
    for i, (name, vals) in enumerate(series["columns"].items()):
        fig.add_trace(go.Scatter(x=series["index"], y=vals, name=name, mode="lines",
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=2.2 if i == 0 else 1.4),
                                 fill="tozeroy" if (fill_zero and i == 0) else None))
    fig.update_layout(**_LAYOUT, title=title)
    fig.update_yaxes(title=ytitle, type="log" if log else "linear", **_axis_format(series.get("unit", "")))
    if log:
        vals = [v for col in series["columns"].values() for v in col if v is not None and v > 0]
        if vals:
            tv = _log_ticks(min(vals), max(vals))
            fig.update_yaxes(tickvals=tv, ticktext=[_money(v) for v in tv])
    return fig


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks covering [lo, hi] for a log axis."""
    import math

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


def correlation_chart(series: dict | None, title: str) -> go.Figure | None:
    """Rolling / EWMA / DCC correlation lines with regimes shaded behind them."""
    fig = line_chart(series, title, "correlation")
    if fig is None:
        return None
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
        shapes = [dict(type="rect", xref="x", yref="paper", x0=a, x1=b, y0=0, y1=1, fillcolor=REGIME_COLORS[r],
                       line=dict(width=0), layer="below") for a, b, r in spans]
        fig.update_layout(shapes=shapes)
        for r, c in REGIME_COLORS.items():  # legend entries for the shading
            if r in set(regimes):
                fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"regime: {r}",
                                         marker=dict(size=12, symbol="square", color=c.replace("0.1", "0.5"))))
    fig.update_yaxes(range=[-1, 1])
    return fig


def stacked_area(series: dict | None, title: str, ytitle: str) -> go.Figure | None:
    """Stacked areas (weights over time by layer)."""
    if not _has(series):
        return None
    fig = go.Figure()
    for i, (name, vals) in enumerate(series["columns"].items()):
        fig.add_trace(go.Scatter(x=series["index"], y=vals, name=name, mode="lines", stackgroup="one",
                                 line=dict(width=0.5, color=PALETTE[i % len(PALETTE)])))
    fig.update_layout(**_LAYOUT, title=title)
    fig.update_layout(height=440, legend=dict(orientation="v", x=1.02, y=1, yanchor="top", xanchor="left"),
                      margin=dict(l=60, r=200, t=50, b=40))
    fig.update_yaxes(title=ytitle, **_axis_format(series.get("unit", "fraction")))
    return fig


def grouped_bars(tab: dict | None, label_key: str, keys: list[tuple[str, str]], title: str,
                 *, horizontal: bool = False, unit: str = "fraction") -> go.Figure | None:
    """Bars of several columns of a table side by side, one group per row."""
    if not tab or not tab.get("rows"):
        return None
    labels = [str(r.get(label_key)) for r in tab["rows"]]
    fig = go.Figure()
    for i, (k, name) in enumerate(keys):
        vals = [r.get(k) for r in tab["rows"]]
        if all(v is None for v in vals):
            continue
        kw = dict(y=labels, x=vals, orientation="h") if horizontal else dict(x=labels, y=vals)
        fig.add_trace(go.Bar(name=name, marker_color=PALETTE[i % len(PALETTE)], **kw))
    fig.update_layout(**_LAYOUT, title=title, barmode="group")
    fig.update_layout(hovermode="closest")
    if horizontal:
        fig.update_layout(height=max(300, 26 * len(labels) + 120), margin=dict(l=200, r=20, t=50, b=40))
        fig.update_xaxes(**_axis_format(unit))
        fig.update_yaxes(autorange="reversed")
    else:
        fig.update_yaxes(**_axis_format(unit))
    return fig


def heatmap(tab: dict | None, row_key: str, title: str, unit: str = "fraction") -> go.Figure | None:
    """Heatmap of a table's numeric columns (rows x columns), e.g. stress P&L by scenario and layer."""
    if not tab or not tab.get("rows"):
        return None
    cols = [c for c in tab["columns"] if c["key"] != row_key and c["unit"] not in ("text", "date")]
    if not cols:
        return None
    z = [[r.get(c["key"]) for c in cols] for r in tab["rows"]]
    ys = [str(r.get(row_key)) for r in tab["rows"]]
    fmt = ".1%" if unit in ("fraction", "fraction/yr") else ",.0f"
    fig = go.Figure(go.Heatmap(z=z, x=[c["label"] for c in cols], y=ys, colorscale="RdBu", zmid=0,
                               hovertemplate="%{y}<br>%{x}: %{z:" + fmt + "}<extra></extra>",
                               colorbar=dict(tickformat=fmt.replace(".1", ".0"))))
    fig.update_layout(**_LAYOUT, title=title)
    fig.update_layout(height=max(320, 30 * len(ys) + 160), hovermode="closest", margin=dict(l=200, r=20, t=50, b=120))
    fig.update_yaxes(autorange="reversed")
    return fig


def bar_series(series: dict | None, title: str, ytitle: str) -> go.Figure | None:
    """Bars over time (turnover per rebalance)."""
    if not _has(series):
        return None
    fig = go.Figure()
    day_ms = 86_400_000
    for i, (name, vals) in enumerate(series["columns"].items()):
        fig.add_trace(go.Bar(x=series["index"], y=vals, name=name, marker_color=PALETTE[i % len(PALETTE)],
                             width=[12 * day_ms] * len(vals)))
    fig.update_layout(**_LAYOUT, title=title, barmode="group")
    fig.update_yaxes(title=ytitle, **_axis_format(series.get("unit", "fraction")))
    return fig
