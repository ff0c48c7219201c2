"""One self-contained HTML file from a results dict, rendered from Jinja2 templates.

The page is ``templates/report.html.j2`` (which extends ``base.html.j2``): one section
template per entry of :data:`SECTIONS` under ``templates/sections/``, built from the
blocks of ``templates/macros.html.j2`` (tables, heat maps, charts, KPIs) with the
filters :func:`~computefolio.report.tables.fmt` (numbers by unit) and
:func:`~computefolio.report.tables.words` (identifiers in words). The service's
dashboard renders the same templates with :func:`environment`.

Assets (``assets=``):

``"embedded"`` (default, the report file)
    plotly.js from the installed ``plotly`` package (``package_data/plotly.min.js``,
    about 4.8 MB) and every figure's JSON, each gzip-compressed and base64-encoded in a
    ``<script type="application/octet-stream" data-encoding="gzip+base64">`` block,
    inflated in the page by the browser's ``DecompressionStream``: about 2 MB instead
    of 6, no network.
``"inline"``
    The same, uncompressed (for printing to PDF, where nothing may wait on a promise).
``"external"``
    ``<script src=plotly_src>`` (a server that serves the bundle itself).

The results without the long series are embedded as JSON in ``<script id="cf-results">``
so a reader or a test can check the numbers.
"""

from __future__ import annotations

import base64
import functools
import os
import gzip
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined, select_autoescape
from markupsafe import Markup

from . import charts
from .tables import fmt, heat_color, heat_ink, unit_label, words

_PLOTLY_CONFIG = {"responsive": True, "displaylogo": False, "showLink": False, "showSendToCloud": False,
                  "showEditInChartStudio": False, "modeBarButtonsToRemove": ["sendDataToCloud", "select2d", "lasso2d"]}

#: (section id, title, short label for the navigation) in page order.
SECTIONS = [
    ("summary", "Executive summary", "Summary"),
    ("headline", "Headline metrics vs benchmarks", "Headline"),
    ("trailing", "Trailing and calendar-year returns", "Trailing"),
    ("monthly", "Monthly returns", "Monthly"),
    ("drawdowns", "Worst drawdowns", "Drawdowns"),
    ("performance", "Value, volatility, rolling Sharpe and beta", "Performance"),
    ("attribution", "Return attribution by value chain", "Attribution"),
    ("distribution", "Return distribution, alpha and tracking error", "Distribution"),
    ("correlation", "Digital assets vs AI equities: correlation regimes", "Correlation"),
    ("weights", "Weights over time by layer", "Weights"),
    ("exposure", "Exposure and risk contribution", "Exposure"),
    ("var", "Value at risk and expected shortfall", "VaR and ES"),
    ("stress", "Stress tests", "Stress"),
    ("liquidity", "Liquidity profile", "Liquidity"),
    ("private", "Private and locked", "Private"),
    ("trading", "Turnover and costs", "Trading"),
    ("mandate", "Mandate rules", "Mandate"),
    ("data", "Data provenance and validation", "Data"),
    ("run", "Run manifest and conventions", "Run"),
]

ASSET_MODES = ("embedded", "inline", "external")


def _templates_dir() -> Path:
    return Path(str(resources.files("computefolio.report") / "templates"))


def _heat_scale(tab: dict, total_keys=()) -> float:
    """The largest |value| among a table's numeric cells outside the total columns."""
    keys = [c["key"] for c in tab.get("columns", []) if c.get("unit") not in ("text", "date")
            and c["key"] not in total_keys]
    vals = [abs(float(r[k])) for r in tab.get("rows", []) for k in keys
            if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)]
    return max(vals) if vals else 1.0


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment of the report's templates (shared with the service's dashboard).

    Filters: ``fmt(unit)``, ``words``, ``unit_label``, ``heat_color(scale)``,
    ``heat_ink(scale)``, ``heat_scale(total_keys)``. Autoescaping is on.
    """
    env = Environment(loader=FileSystemLoader(str(_templates_dir())), autoescape=select_autoescape(
        enabled_extensions=("html", "j2"), default_for_string=True, default=True),
        undefined=Undefined, trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=True)
    env.filters.update(fmt=lambda v, unit="text": fmt(v, unit), words=words, unit_label=unit_label,
                       heat_color=heat_color, heat_ink=heat_ink, heat_scale=_heat_scale)
    return env


def render_table(tab: dict | None, *, first_bold: bool = False, scroll: bool = False, max_rows: int | None = None,
                 status_key: str | None = "status") -> str:
    """A results table (see :mod:`computefolio.report.tables`) as HTML, through the ``table`` macro."""
    mod = environment().get_template("macros.html.j2").module
    return str(mod.table(tab, first_bold=first_bold, scroll=scroll, max_rows=max_rows, status_key=status_key))


def _script_safe(text: str) -> str:
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _gz64(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


@functools.lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _cache_dir() -> Path:
    home = os.environ.get("COMPUTEFOLIO_HOME")
    return (Path(home) if home else Path.home() / ".computefolio") / "cache"


@functools.lru_cache(maxsize=1)
def _plotly_gz64() -> str:
    """plotly.min.js gzip-compressed and base64-encoded, kept in ``$COMPUTEFOLIO_HOME/cache``
    (compressing 4.8 MB takes about half a second per run); recomputed when the installed
    bundle changes, and computed in memory when the cache cannot be read or written."""
    import hashlib

    import plotly

    js = _plotly_js()
    key = hashlib.sha256(js.encode("utf-8")).hexdigest()[:16]
    path = _cache_dir() / f"plotly-{plotly.__version__}-{key}.min.js.gz.b64"
    try:
        text = path.read_text(encoding="ascii")
        if gzip.decompress(base64.b64decode(text)).decode("utf-8") == js:
            return text
    except (OSError, ValueError, EOFError, gzip.BadGzipFile):
        pass
    text = _gz64(js)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.part")
        tmp.write_text(text, encoding="ascii")
        os.replace(tmp, path)
    except OSError:
        pass
    return text


class Figures:
    """Figures of one page by name, and the ``<div>`` that shows each (used by the ``chart`` macro)."""

    def __init__(self, figures: dict):
        self.figures = figures
        self.items: dict[str, str] = {}  # div id -> figure json

    def div(self, name: str) -> Markup:
        fig = self.figures.get(name)
        if fig is None:
            return Markup('<p class="note">Chart "{}": not available for this run.</p>').format(words(name))
        fid = f"fig-{len(self.items) + 1}-{name}"
        if not isinstance(fig, dict):  # a plotly.graph_objects.Figure
            fig = fig.to_plotly_json()
        layout = dict(fig.get("layout") or {})
        # the title goes into the page, where it wraps on a phone, instead of into the SVG
        t = layout.pop("title", None)
        title = (t.get("text") if isinstance(t, dict) else t) or words(name)
        layout["margin"] = {**(layout.get("margin") or {}), "t": 12}
        self.items[fid] = json.dumps(_finite({"data": fig.get("data") or [], "layout": layout}),
                                     separators=(",", ":"), allow_nan=False, default=str)
        return Markup('<figure class="cf"><figcaption>{}</figcaption><div class="chart" id="{}" data-chart="{}" '
                      'role="img" aria-label="{}"></div></figure>').format(title, fid, name, title)

    def json(self) -> str:
        return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in self.items.items()) + "}"


def _assets(mode: str, figs: Figures, plotly_src: str | None) -> tuple[Markup, Markup]:
    """(head, body) HTML: plotly.js and the figures in the chosen mode, then the loader."""
    cfg = f'<script type="application/json" id="cf-plotly-config">{json.dumps(_PLOTLY_CONFIG)}</script>'
    loader = f"<script>{(_templates_dir() / 'report.js').read_text(encoding='utf-8')}</script>"
    if mode == "embedded":
        head = ""
        body = (f'<script type="application/octet-stream" id="cf-plotly" data-encoding="gzip+base64">'
                f"{_plotly_gz64()}</script>"
                f'<script type="application/octet-stream" id="cf-figures" data-encoding="gzip+base64">'
                f"{_gz64(figs.json())}</script>")
    elif mode == "inline":
        head = f"<script>{_plotly_js()}</script>"
        body = f'<script type="application/json" id="cf-figures">{_script_safe(figs.json())}</script>'
    else:
        if not plotly_src:
            raise ValueError("assets='external' needs plotly_src (the URL of plotly.min.js)")
        head = Markup('<script src="{}"></script>').format(plotly_src)
        body = f'<script type="application/json" id="cf-figures">{_script_safe(figs.json())}</script>'
    return Markup(head), Markup(body + cfg + loader)


def _kpis(results: dict) -> list[dict]:
    head = results.get("headline") or {}
    rows = head.get("rows") or []
    if not rows:
        return []
    units = {c["key"]: c["unit"] for c in head.get("columns", [])}
    labels = {c["key"]: c["label"] for c in head.get("columns", [])}
    r = rows[0]
    out = []
    for k in ("total_return", "cagr", "volatility", "sharpe", "max_drawdown", "final_value"):
        if k in r:
            u = unit_label(units.get(k, ""))
            v = r.get(k)
            out.append({"value": fmt(v, units.get(k, "ratio")), "label": labels.get(k, k) + (f" ({u})" if u else ""),
                        "negative": isinstance(v, (int, float)) and v < 0})
    tr = {x.get("book"): x for x in (results.get("trailing") or {}).get("rows") or []}.get("Strategy")
    if tr and tr.get("ytd") is not None:
        out.insert(0, {"value": fmt(tr["ytd"], "fraction"), "label": "Year to date (%)", "negative": tr["ytd"] < 0})
    return out


def _finite(o):
    """A copy with NaN and infinities as None (JSON has neither), as ``results.json`` writes them."""
    if isinstance(o, dict):
        return {str(k): _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if hasattr(o, "item") and hasattr(o, "dtype"):  # numpy scalars
        return _finite(o.item())
    return o


def _names(results: dict) -> dict:
    """Group id -> display name, read from the exposure tables."""
    out = {}
    for tab in (results.get("exposure") or {}).values():
        for row in (tab or {}).get("rows") or []:
            if row.get("group") and row.get("name"):
                out[row["group"]] = row["name"]
    return out


def build_report(results: dict, *, assets: str = "embedded", paper: str | None = None,
                 plotly_src: str | None = None) -> str:
    """Render the investment-committee report as one HTML string.

    Parameters
    ----------
    results : dict
        The ``results.json`` layout written by :func:`computefolio.job.run_strategy`
        (``strategy``, ``run``, ``conventions``, ``data``, ``summary``, ``headline``,
        ``trailing``, ``monthly``, ``drawdowns``, ``attribution``, ``distribution``,
        ``relative``, ``exposure``, ``budgets``, ``var_es``, ``stress``, ``liquidity``,
        ``trading``, ``correlation``, ``mandate``, ``weights``, ``warnings`` and
        ``series``). Missing parts show "not available" instead of failing.
    assets : {"embedded", "inline", "external"}
        How plotly.js and the figures are carried (module docstring).
    paper : {"A4", "Letter"}, optional
        Page size for printing (CSS ``@page``).
    plotly_src : str, optional
        URL of plotly.min.js for ``assets="external"``.

    Returns
    -------
    str
        The HTML document.
    """
    if assets not in ASSET_MODES:
        raise ValueError(f"assets must be one of {ASSET_MODES}, got {assets!r}")
    r = results
    conv = r.get("conventions") or {}
    data = r.get("data") or {}
    strat = r.get("strategy") or {}
    run = r.get("run") or {}
    figs = Figures(charts.build_figures(r))
    title = f"{strat.get('name', 'strategy')}: investment committee report"
    sub = " · ".join(x for x in (
        f"{conv.get('start', '')} to {conv.get('end', '')}",
        conv.get("basis_label", ""),
        f"capital {fmt((conv.get('capital') or {}).get('value'), conv.get('currency', 'USD'))} {conv.get('currency', '')}",
        f"data: {data.get('label', '')}",
        f"as of {conv.get('asof', '')}") if x)
    run_facts = {words(k): v for k, v in {**{k: v for k, v in conv.items()}, **run}.items()
                 if not isinstance(v, (dict, list))}
    for k, v in conv.items():
        if isinstance(v, dict) and "value" in v:
            run_facts[words(k)] = f"{fmt(v.get('value'), v.get('unit', 'text'))} {v.get('unit', '')}".strip()
    light = _finite({k: v for k, v in r.items() if k != "series"})
    env = environment()
    tmpl = env.get_template("report.html.j2")
    sections = [{"id": i, "title": t, "nav": n} for i, t, n in SECTIONS]
    # the page body first (it registers the figures), then the assets that carry them
    ctx: dict[str, Any] = dict(
        r=r, figures=figs, names=_names(r), kpis=_kpis(r), sections=sections, title=title, subtitle=sub,
        description=strat.get("description", ""), simulated=bool(data.get("simulated")),
        basis_label=conv.get("basis_label", ""), run_facts=run_facts, paper=paper, print=assets == "inline",
        results_json=Markup(_script_safe(json.dumps(light, allow_nan=False))))
    lazy = _LazyAssets(assets, figs, plotly_src)
    ctx["assets"] = lazy
    return tmpl.render(**ctx)


class _LazyAssets:
    """``assets.head`` / ``assets.body`` for the base template, made when first read.

    The body (with the figures) is read at the end of the page, after every ``chart``
    macro has registered its figure; the head holds nothing that depends on them.
    """

    def __init__(self, mode: str, figs: Figures, plotly_src: str | None):
        self.mode, self.figs, self.src = mode, figs, plotly_src

    @property
    def head(self) -> Markup:
        return _assets(self.mode, Figures({}), self.src)[0]

    @property
    def body(self) -> Markup:
        return _assets(self.mode, self.figs, self.src)[1]


def write_report(results: dict, path: str | Path, **kw) -> Path:
    """Write :func:`build_report` to ``path`` (UTF-8) and return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(build_report(results, **kw), encoding="utf-8")
    return p
