"""One self-contained HTML file from a results dict: Plotly embedded once, no network.

The page holds plotly.js once (``plotly.offline.get_plotlyjs()`` inside a ``<script>``),
every figure as JSON in its own ``<script type="application/json">`` block, rendered by
``Plotly.newPlot``, every table as plain HTML, and the results (without the long
series) as JSON in ``<script id="cf-results">`` so a reader or a test can check the
numbers. No external URL is referenced: fonts are the system's, styles are inline.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from . import charts
from .tables import fmt, unit_label

_PLOTLY_CONFIG = {"responsive": True, "displaylogo": False, "showLink": False, "showSendToCloud": False,
                  "showEditInChartStudio": False, "modeBarButtonsToRemove": ["sendDataToCloud", "select2d", "lasso2d"]}

_CSS = """
:root { --ink:#1b2430; --muted:#5b6675; --line:#e3e7ee; --accent:#1f3b73; --bg:#f6f8fb; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--ink); background: var(--bg); font-size: 14px; line-height: 1.45; }
header { background: var(--accent); color: #fff; padding: 22px 32px 16px; }
header h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; }
header .sub { opacity: .9; font-size: 13px; }
header .desc { margin-top: 6px; max-width: 1100px; opacity: .95; }
.banner { background: #c1121f; color: #fff; font-weight: 700; padding: 10px 32px; letter-spacing: .02em;
          font-size: 15px; border-bottom: 3px solid #780000; }
.banner small { font-weight: 400; opacity: .95; }
nav { position: sticky; top: 0; z-index: 10; background: #fff; border-bottom: 1px solid var(--line);
      padding: 8px 32px; display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 13px; }
nav a { color: var(--accent); text-decoration: none; }
nav a:hover { text-decoration: underline; }
main { padding: 8px 32px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 20px 18px;
          margin: 18px 0; }
section h2 { margin: 2px 0 10px; font-size: 18px; color: var(--accent); }
h3 { font-size: 14px; margin: 16px 0 6px; }
.note { color: var(--muted); font-size: 12.5px; margin: 4px 0 8px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 14px; }
.chart { width: 100%; min-height: 320px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: #f0f3f8; font-weight: 600; position: sticky; top: 36px; }
th.l, td.l { text-align: left; white-space: normal; }
tr:hover td { background: #fafbfd; }
tr.first td { font-weight: 650; }
.neg { color: #b00020; }
.status-pass { color: #1b7f3b; font-weight: 650; }
.status-breach, .status-error { color: #fff; background: #c1121f; font-weight: 650; border-radius: 3px; }
.status-warning { color: #8a5a00; font-weight: 650; }
.kpis { display: flex; flex-wrap: wrap; gap: 10px; margin: 6px 0 4px; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 150px; background: #fbfcfe; }
.kpi .v { font-size: 20px; font-weight: 650; }
.kpi .k { font-size: 12px; color: var(--muted); }
.scroll { max-height: 420px; overflow: auto; }
.wide { overflow-x: auto; }
/* inside a scroll box the sticky header sticks to the box's top, not under the page's nav bar
   (a 36px offset there would hide the first row) */
.scroll th, .wide th { top: 0; }
footer { color: var(--muted); font-size: 12px; padding: 0 32px 30px; }
code { font-size: 12px; background: #f0f3f8; padding: 1px 4px; border-radius: 3px; }
"""

#: (section id, title) in page order.
SECTIONS = [
    ("headline", "Headline metrics vs benchmarks"),
    ("performance", "Equity, drawdown and volatility"),
    ("correlation", "Digital assets vs AI equities: correlation regimes"),
    ("weights", "Weights over time by layer"),
    ("exposure", "Exposure and risk contribution"),
    ("var", "Value at risk and expected shortfall"),
    ("stress", "Stress tests"),
    ("liquidity", "Liquidity profile"),
    ("trading", "Turnover and costs"),
    ("mandate", "Mandate rules"),
    ("data", "Data provenance and validation"),
    ("run", "Run manifest and conventions"),
]


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def render_table(tab: dict | None, *, first_bold: bool = False, scroll: bool = False, max_rows: int | None = None,
                 status_key: str | None = "status") -> str:
    """A results table (see :mod:`computefolio.report.tables`) as HTML; numbers through :func:`fmt`."""
    if not tab or not tab.get("columns"):
        return '<p class="note">Not available for this run.</p>'
    cols = tab["columns"]
    rows = tab.get("rows") or []
    out = []
    if tab.get("title"):
        out.append(f"<h3>{_e(tab['title'])}</h3>")
    meta = [x for x in (tab.get("basis"), tab.get("note")) if x]
    if meta:
        out.append(f'<p class="note">{" · ".join(_e(m) for m in meta)}</p>')
    if not rows:
        out.append('<p class="note">No rows.</p>')
        return "".join(out)
    head = []
    for c in cols:
        u = unit_label(c.get("unit", "text"))
        lab = _e(c.get("label", c["key"])) + (f" <span class='note'>({_e(u)})</span>" if u else "")
        head.append(f'<th class="{"l" if c.get("unit") in ("text", "date") else ""}">{lab}</th>')
    body = []
    shown = rows if max_rows is None else rows[:max_rows]
    for i, r in enumerate(shown):
        cells = []
        for c in cols:
            v = r.get(c["key"])
            unit = c.get("unit", "text")
            cls = []
            if unit in ("text", "date"):
                cls.append("l")
            if c["key"] == status_key and isinstance(v, str):
                cls.append(f"status-{v.lower()}")
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 and unit not in ("text", "date"):
                cls.append("neg")
            cells.append(f'<td class="{" ".join(cls)}">{_e(fmt(v, unit))}</td>')
        body.append(f'<tr class="{"first" if (first_bold and i == 0) else ""}">{"".join(cells)}</tr>')
    tbl = f"<table><thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if max_rows is not None and len(rows) > max_rows:
        tbl += f'<p class="note">Showing {max_rows} of {len(rows)} rows; all rows are in results.json.</p>'
    # wide tables scroll inside their own box; the page itself never scrolls sideways
    out.append(f'<div class="scroll">{tbl}</div>' if scroll else f'<div class="wide">{tbl}</div>')
    return "".join(out)


class _Figures:
    """Collects figures and the divs that show them."""

    def __init__(self):
        self.items: list[tuple[str, str]] = []  # (div id, figure json)

    def div(self, fig, name: str) -> str:
        if fig is None:
            return f'<p class="note">Chart "{_e(name)}": not available for this run.</p>'
        fid = f"fig-{len(self.items) + 1}-{name}"
        js = pio.to_json(fig, validate=False, engine="json")
        self.items.append((fid, js))
        return f'<div class="chart" id="{fid}" data-chart="{_e(name)}"></div>'

    def scripts(self) -> str:
        blocks = []
        for fid, js in self.items:
            blocks.append(f'<script type="application/json" id="{fid}-data">{_script_safe(js)}</script>')
        loader = (
            "<script>(function(){var cfg=" + json.dumps(_PLOTLY_CONFIG) + ";"
            "var ids=" + json.dumps([f for f, _ in self.items]) + ";"
            "ids.forEach(function(id){var el=document.getElementById(id);"
            "var f=JSON.parse(document.getElementById(id+'-data').textContent);"
            "Plotly.newPlot(el,f.data,f.layout||{},cfg);});})();</script>")
        return "".join(blocks) + loader


def _script_safe(text: str) -> str:
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _kpis(results: dict) -> str:
    head = results.get("headline") or {}
    rows = head.get("rows") or []
    if not rows:
        return ""
    units = {c["key"]: c["unit"] for c in head.get("columns", [])}
    labels = {c["key"]: c["label"] for c in head.get("columns", [])}
    r = rows[0]
    keys = [k for k in ("cagr", "volatility", "sharpe", "max_drawdown", "total_return", "final_value") if k in r]
    items = "".join(f'<div class="kpi"><div class="v">{_e(fmt(r.get(k), units.get(k, "ratio")))}</div>'
                    f'<div class="k">{_e(labels.get(k, k))}{" (" + _e(unit_label(units.get(k, ""))) + ")" if unit_label(units.get(k, "")) else ""}</div></div>'
                    for k in keys)
    return f'<div class="kpis">{items}</div>'


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{_e(title)}</h2>{body}</section>'


def build_report(results: dict) -> str:
    """Render the investment-committee report as one self-contained HTML string.

    Parameters
    ----------
    results : dict
        The ``results.json`` layout written by :func:`computefolio.job.run_strategy`:
        keys ``strategy``, ``run``, ``conventions``, ``data``, ``headline``, ``exposure``
        (``sleeve``/``layer``/``theme`` tables), ``var_es``, ``stress``
        (``historical``/``hypothetical``/``by_layer``), ``liquidity`` (``buckets``/``assets``),
        ``trading`` (``summary``/``by_venue``), ``correlation`` (``summary``), ``mandate``,
        ``weights``, ``warnings`` and ``series`` (``equity``, ``drawdown``, ``rolling_vol``,
        ``correlation`` with ``regimes``, ``weights_by_layer``, ``turnover``). Missing parts
        show "not available" instead of failing.

    Returns
    -------
    str
        The HTML document.
    """
    r = results
    figs = _Figures()
    series = r.get("series") or {}
    conv = r.get("conventions") or {}
    data = r.get("data") or {}
    strat = r.get("strategy") or {}
    basis_label = conv.get("basis_label", "")
    parts: dict[str, str] = {}

    parts["headline"] = (_kpis(r) + render_table(r.get("headline"), first_bold=True))

    parts["performance"] = (
        figs.div(charts.line_chart(series.get("equity"), "Value of the book and benchmarks",
                                   series.get("equity", {}).get("unit", "USD"), log=True), "equity")
        + '<div class="grid2">'
        + figs.div(charts.line_chart(series.get("drawdown"), "Drawdown from the running peak", "drawdown"), "drawdown")
        + figs.div(charts.line_chart(series.get("rolling_vol"),
                                     f"Rolling volatility ({series.get('rolling_vol', {}).get('window', '')} periods, annualized)",
                                     "volatility"), "rolling_vol")
        + "</div>"
        + (f'<p class="note">{_e(series.get("equity", {}).get("basis", basis_label))}. '
           "Benchmarks are scaled to the same starting capital.</p>"))

    corr = r.get("correlation") or {}
    parts["correlation"] = (
        figs.div(charts.correlation_chart(series.get("correlation"),
                                          "Correlation of the digital-asset and AI-equity sleeves"), "correlation")
        + (f'<p class="note">{_e(corr.get("note"))}</p>' if corr.get("note") else "")
        + render_table(corr.get("summary")) + render_table(corr.get("regimes")) + render_table(corr.get("btc_qqq")))

    parts["weights"] = (
        figs.div(charts.stacked_area(series.get("weights_by_layer"), "Weights by layer (look-through)",
                                     "share of capital"), "weights_by_layer")
        + render_table(r.get("weights"), scroll=True))

    exp = r.get("exposure") or {}
    exp_html = []
    for by in ("sleeve", "layer", "theme"):
        t = exp.get(by)
        keys = [("weight", "weight"), ("vol_share", "share of volatility"), ("es_share", "share of ES")]
        exp_html.append(figs.div(charts.grouped_bars(t, "group", keys, f"Exposure and risk contribution by {by}",
                                                     horizontal=by != "sleeve"), f"exposure_{by}"))
        exp_html.append(render_table(t, scroll=by == "theme"))
    parts["exposure"] = render_table(r.get("budgets")) + "".join(exp_html)

    parts["var"] = render_table(r.get("var_es"))

    st = r.get("stress") or {}
    parts["stress"] = (render_table(st.get("historical")) + render_table(st.get("hypothetical"))
                       + figs.div(charts.heatmap(st.get("by_layer"), "scenario",
                                                 "Stress P&L by layer (fraction of capital)"), "stress_by_layer")
                       + render_table(st.get("by_layer"), scroll=True)
                       + render_table(st.get("proxies"), scroll=True))

    liq = r.get("liquidity") or {}
    parts["liquidity"] = (figs.div(charts.grouped_bars(liq.get("buckets"), "horizon", [("liquid", "share of book liquid")],
                                                       "Share of the book liquid within n days"), "liquidity")
                          + render_table(liq.get("buckets")) + render_table(liq.get("assets"), scroll=True))

    tr = r.get("trading") or {}
    parts["trading"] = (render_table(tr.get("summary"))
                        + '<div class="grid2">'
                        + figs.div(charts.bar_series(series.get("turnover"), "Turnover per rebalance (one-way)",
                                                     "turnover"), "turnover")
                        + figs.div(charts.grouped_bars(tr.get("by_venue"), "venue", [("fee", "fees"), ("spread", "spread"),
                                                                                    ("impact", "impact")],
                                                       "Costs by venue", unit=conv.get("currency", "USD")), "costs_by_venue")
                        + "</div>" + render_table(tr.get("by_venue")))

    parts["mandate"] = render_table(r.get("mandate"))

    val = data.get("validation") or {}
    prov_rows = "".join(f"<tr><td class='l'>{_e(k)}</td><td class='l'>{_e(v)}</td></tr>"
                        for k, v in (data.get("facts") or {}).items())
    parts["data"] = (
        (f"<table><tbody>{prov_rows}</tbody></table>" if prov_rows else "")
        + render_table(val.get("summary"))
        + (render_table(r.get("layer_summary")) if r.get("layer_summary") else "")
        + render_table(val.get("findings"), scroll=True, max_rows=300, status_key="severity")
        + ("<h3>Run warnings</h3><ul>" + "".join(f"<li>{_e(w)}</li>" for w in r.get("warnings", [])) + "</ul>"
           if r.get("warnings") else ""))

    run = r.get("run") or {}
    run_rows = "".join(f"<tr><td class='l'>{_e(k)}</td><td class='l'>{_e(v)}</td></tr>"
                       for k, v in {**{f"conventions.{k}": v for k, v in conv.items()},
                                    **{f"run.{k}": v for k, v in run.items()}}.items()
                       if not isinstance(v, (dict, list)))
    parts["run"] = f"<table><tbody>{run_rows}</tbody></table>"

    body = "".join(_section(sid, title, parts.get(sid, "")) for sid, title in SECTIONS)
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title in SECTIONS)

    banner = ""
    if data.get("simulated"):
        banner = ('<div class="banner" id="simulated-banner">SAMPLE MARKET (SIMULATED) &mdash; '
                  "<small>every price in this report was generated by computefolio's built-in sample market; "
                  "none of these numbers describe real assets or real performance.</small></div>")
    title = f"{strat.get('name', 'strategy')}: investment committee report"
    sub = " · ".join(x for x in (
        f"{conv.get('start', '')} to {conv.get('end', '')}",
        basis_label,
        f"capital {fmt((conv.get('capital') or {}).get('value'), conv.get('currency', 'USD'))} {conv.get('currency', '')}",
        f"data: {data.get('label', '')}",
        f"as of {conv.get('asof', '')}") if x)
    light = {k: v for k, v in r.items() if k != "series"}
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
<script>{get_plotlyjs()}</script>
</head><body>
{banner}
<header><h1>{_e(title)}</h1><div class="sub">{_e(sub)}</div>
<div class="desc">{_e(strat.get('description', ''))}</div></header>
<nav>{nav}</nav>
<main>{body}</main>
<footer>Generated by computefolio {_e(run.get('computefolio_version', ''))} at {_e(run.get('created_utc', ''))}.
Every number here is in results.json beside this file, with its unit and basis.</footer>
<script type="application/json" id="cf-results">{_script_safe(json.dumps(light, allow_nan=False))}</script>
{figs.scripts()}
</body></html>
"""
    return doc


def write_report(results: dict, path: str | Path) -> Path:
    """Write :func:`build_report` to ``path`` (UTF-8) and return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(build_report(results), encoding="utf-8")
    return p
