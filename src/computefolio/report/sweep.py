"""The sweep's report page: one self-contained HTML file (Plotly embedded once, no network).

Built only from the ``sweep.json`` dict (:func:`computefolio.scale.outputs.sweep_results`):
the robustness of the best variant first (deflated Sharpe ratio, probability of backtest
overfitting, in words and numbers), heat maps of the metrics over the grid's two chosen
axes, every variant's metrics, the failed variants with their parameters, and how the
sweep ran. Tables go through :func:`computefolio.report.render_table` and numbers through
:func:`computefolio.report.fmt`, like the main report, so a test can find any number of
the JSON in the page. The results (the JSON) are embedded in ``<script id="cf-results">``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

from . import charts
from .html import render_table
from .tables import fmt

__all__ = ["build_sweep_report", "write_sweep_report"]

_CSS = """
:root { --ink:#1b2430; --muted:#5b6675; --line:#e3e7ee; --accent:#1f3b73; --bg:#f6f8fb; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--ink); background: var(--bg); font-size: 14px; line-height: 1.45; }
header { background: var(--accent); color: #fff; padding: 22px 32px 16px; }
header h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; }
header .sub { opacity: .9; font-size: 13px; }
.banner { background: #c1121f; color: #fff; font-weight: 700; padding: 10px 32px; font-size: 15px; }
.banner small { font-weight: 400; }
nav { position: sticky; top: 0; z-index: 10; background: #fff; border-bottom: 1px solid var(--line);
      padding: 8px 32px; display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 13px; }
nav a { color: var(--accent); text-decoration: none; }
main { padding: 8px 32px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 20px 18px; margin: 18px 0; }
section h2 { margin: 2px 0 10px; font-size: 18px; color: var(--accent); }
h3 { font-size: 14px; margin: 16px 0 6px; }
.note { color: var(--muted); font-size: 12.5px; margin: 4px 0 8px; }
.verdict { font-size: 14.5px; margin: 8px 0 4px; max-width: 1100px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 14px; }
.chart { width: 100%; min-height: 320px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: #f0f3f8; font-weight: 600; position: sticky; top: 0; }
th.l, td.l { text-align: left; white-space: normal; }
tr.first td { font-weight: 650; }
.neg { color: #b00020; }
.status-failed { color: #fff; background: #c1121f; font-weight: 650; border-radius: 3px; }
.kpis { display: flex; flex-wrap: wrap; gap: 10px; margin: 6px 0 4px; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 170px; background: #fbfcfe; }
.kpi .v { font-size: 20px; font-weight: 650; }
.kpi .k { font-size: 12px; color: var(--muted); }
.scroll { max-height: 520px; overflow: auto; }
.wide { overflow-x: auto; }
footer { color: var(--muted); font-size: 12px; padding: 0 32px 30px; }
"""

_PLOTLY_CONFIG = {"responsive": True, "displaylogo": False, "showLink": False, "showSendToCloud": False}

SECTIONS = [("robustness", "Is the best variant luck?"), ("heatmaps", "Heat maps over the grid"),
            ("variants", "Every variant"), ("failures", "Failed variants"), ("run", "How the sweep ran")]


def _e(x) -> str:
    return html.escape("" if x is None else str(x))


def _safe(text: str) -> str:
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _verdict(rob: dict) -> str:
    """Two sentences a PM can act on, from the numbers."""
    out = []
    d = (rob.get("dsr") or {}).get("value")
    p = (rob.get("pbo") or {}).get("value")
    best = rob.get("best") or {}
    if d is not None:
        n = (rob.get("n_trials") or {}).get("value")
        judged = ("unlikely to be the luck of the search" if d >= 0.95 else
                  "not distinguishable from the luck of the search at 95%")
        out.append(f"The best variant ({_e(best.get('id'))}: {_e(best.get('label'))}) has an annualized Sharpe "
                   f"ratio of {fmt((rob.get('sharpe_best') or {}).get('value'), 'ratio')}; the best of {fmt(n, 'count')} "
                   f"luck-only trials would show about {fmt((rob.get('sharpe_threshold') or {}).get('value'), 'ratio')}. "
                   f"Deflated Sharpe ratio {fmt(d, 'fraction')}: {judged}.")
    if p is not None:
        judged = ("the in-sample ranking carries over out of sample" if p < 0.2 else
                  "picking the in-sample best is close to a random pick" if p < 0.6 else
                  "the in-sample best tends to be below the median out of sample")
        out.append(f"Probability of backtest overfitting {fmt(p, 'fraction')}: {judged}.")
    return "".join(f'<p class="verdict">{s}</p>' for s in out)


def build_sweep_report(results: dict) -> str:
    """The sweep's report page as one HTML string (see the module docstring)."""
    r = results
    sw = r.get("sweep") or {}
    rob = r.get("robustness") or {}
    strat = r.get("strategy") or {}
    figs: list[tuple[str, str]] = []

    def fig_div(fig, name: str) -> str:
        if fig is None:
            return f'<p class="note">Chart "{_e(name)}": not available for this sweep.</p>'
        fid = f"fig-{len(figs) + 1}-{name}"
        figs.append((fid, pio.to_json(fig, validate=False, engine="json")))
        return f'<div class="chart" id="{fid}" data-chart="{_e(name)}"></div>'

    kpis = []
    for key, label in (("sharpe_best", "best variant's Sharpe (annualized)"), ("dsr", "deflated Sharpe ratio"),
                       ("pbo", "probability of backtest overfitting")):
        q = rob.get(key)
        if q:
            kpis.append(f'<div class="kpi"><div class="v">{_e(fmt(q["value"], q["unit"]))}</div>'
                        f'<div class="k">{_e(label)}</div></div>')
    kpis.append(f'<div class="kpi"><div class="v">{_e(fmt(sw.get("finished"), "count"))} / '
                f'{_e(fmt(sw.get("variants"), "count"))}</div><div class="k">variants finished</div></div>')
    parts = {}
    parts["robustness"] = (f'<div class="kpis">{"".join(kpis)}</div>' + _verdict(rob)
                           + render_table(rob.get("table"))
                           + "".join(f'<p class="note">{_e(n)}</p>' for n in rob.get("notes", []))
                           + '<p class="note">Deflated Sharpe ratio: Bailey &amp; López de Prado (2014), J. Portfolio '
                             "Management 40(5). Probability of backtest overfitting by combinatorially symmetric "
                             "cross-validation: Bailey, Borwein, López de Prado &amp; Zhu (2017), J. Computational "
                             "Finance 20(4).</p>")
    hm = r.get("heatmaps") or {}
    hm_html = []
    for m, tab in hm.items():
        unit = tab["columns"][1]["unit"] if len(tab["columns"]) > 1 else "ratio"
        fig = charts.heatmap(tab, "y", tab.get("title", m), unit=unit)
        if fig is not None:
            f = ".2f" if unit == "ratio" else ".1%"
            fig.update_traces(texttemplate="%{z:" + f + "}", hovertemplate="%{y}<br>%{x}: %{z:" + f + "}<extra></extra>",
                              colorbar=dict(tickformat=f))
            fig.update_yaxes(title=tab.get("y_axis") or "", type="category")
            fig.update_xaxes(type="category")
            fig.update_layout(height=max(320, 60 * len(tab.get("rows") or []) + 160), margin=dict(l=90))
        hm_html.append(fig_div(fig, f"heatmap_{m}"))
    parts["heatmaps"] = (('<div class="grid2">' + "".join(hm_html) + "</div>"
                          + "<details><summary>The heat maps as tables</summary>"
                          + "".join(render_table(t) for t in hm.values()) + "</details>") if hm else
                         '<p class="note">No heat map: the grid has no axis with more than one value, or no variant '
                         'finished.</p>')
    parts["variants"] = render_table(r.get("variants"), first_bold=True, scroll=True, status_key="status")
    fails = r.get("failures") or {}
    parts["failures"] = (render_table(fails) if fails.get("rows") else
                         '<p class="note">Every variant finished.</p>')
    run_rows = "".join(f"<tr><td class='l'>{_e(k)}</td><td class='l'>{_e(v)}</td></tr>" for k, v in sw.items()
                       if not isinstance(v, (dict, list)))
    axes_rows = "".join(f"<tr><td class='l'>axis {_e(a)}</td><td class='l'>{_e(', '.join(map(str, vals)))}</td></tr>"
                        for a, vals in (sw.get("axes") or {}).items())
    parts["run"] = f"<div class='wide'><table><tbody>{axes_rows}{run_rows}</tbody></table></div>"

    body = "".join(f'<section id="{sid}"><h2>{_e(title)}</h2>{parts.get(sid, "")}</section>' for sid, title in SECTIONS)
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title in SECTIONS)
    banner = ('<div class="banner" id="simulated-banner">SAMPLE MARKET (SIMULATED) &mdash; <small>every price in '
              "this sweep was generated by computefolio's built-in sample market; none of these numbers describe "
              "real assets or real performance.</small></div>") if sw.get("simulated") else ""
    title = f"{strat.get('name', 'strategy')}: sweep of {sw.get('variants', 0)} variants"
    sub = " · ".join(x for x in (f"{sw.get('start', '')} to {sw.get('end', '')}", sw.get("basis_label", ""),
                                 f"data: {sw.get('data', '')}", f"backend {sw.get('backend', '')}") if x)
    loader = ("<script>(function(){var cfg=" + json.dumps(_PLOTLY_CONFIG) + ";var ids="
              + json.dumps([f for f, _ in figs]) + ";ids.forEach(function(id){var el=document.getElementById(id);"
              "var f=JSON.parse(document.getElementById(id+'-data').textContent);"
              "Plotly.newPlot(el,f.data,f.layout||{},cfg);});})();</script>")
    blocks = "".join(f'<script type="application/json" id="{fid}-data">{_safe(js)}</script>' for fid, js in figs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
<script>{get_plotlyjs()}</script>
</head><body>
{banner}
<header><h1>{_e(title)}</h1><div class="sub">{_e(sub)}</div></header>
<nav>{nav}</nav>
<main>{body}</main>
<footer>Generated by computefolio at {_e(sw.get('created_utc', ''))}. Every number here is in sweep.json beside this
file, with its unit and basis.</footer>
<script type="application/json" id="cf-results">{_safe(json.dumps(results, allow_nan=False))}</script>
{blocks}{loader}
</body></html>
"""


def write_sweep_report(results: dict, path: str | Path) -> Path:
    """Write :func:`build_sweep_report` to ``path`` (UTF-8) and return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(build_sweep_report(results), encoding="utf-8")
    return p
