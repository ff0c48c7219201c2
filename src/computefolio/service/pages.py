"""The dashboard: server-rendered pages (Jinja2), htmx for partial updates, Plotly charts.

Templates live in ``service/templates`` and import the report's macros (``macros.html.j2``:
tables, KPIs, charts) and stylesheet (``report.css``), so the dashboard and the report look
alike and format numbers by the same rules (:func:`computefolio.report.tables.fmt`). Figures
are built by :mod:`computefolio.report.charts` from the same views the API answers with,
carried as JSON in a ``data-figures`` attribute and drawn by ``static/dashboard.js`` with the plotly.js of the
installed ``plotly`` package; htmx (pinned, shipped in ``static/``) swaps the stress panel
and the log's filters. No inline script or style: the CSP is ``default-src 'self'``.

Pages: overview (``/``), risk, stress, orders (propose, compliance, override, release,
cancel, export), the compliance log, runs (start, live progress by server-sent events).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from ..errors import ComputefolioError, DataError
from ..report import charts as C
from ..report.tables import column, fmt, table
from . import ops
from . import views as V
from .auth import LOGIN_COOKIE, SESSION_COOKIE, Principal, client_address, new_login_nonce, require, same

router = APIRouter()

STATIC = Path(__file__).parent / "static"
PAGES = [("/", "Overview"), ("/risk", "Risk"), ("/stress", "Stress"), ("/orders", "Orders"),
         ("/compliance", "Compliance log"), ("/runs", "Runs")]
DONE = {"proposed": "Order list proposed and checked.", "released": "Order list released.",
        "overridden": "Override recorded.", "cancelled": "Order list cancelled.", "started": "Run queued.",
        "run-cancelled": "Run cancelled.", "checked": "Orders planned and checked (dry run: nothing recorded)."}


# ----------------------------------------------------------------------------- templates
@functools.lru_cache(maxsize=1)
def environment():
    """The dashboard's Jinja2 environment: its own templates first, then the report's
    (macros, sections, stylesheet), with the report's filters."""
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

    from ..report.html import _templates_dir, environment as report_env

    env = Environment(loader=ChoiceLoader([FileSystemLoader(str(Path(__file__).parent / "templates")),
                                           FileSystemLoader(str(_templates_dir()))]),
                      autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True,
                                                   default=True))
    env.filters.update(report_env().filters)
    env.filters["pct"] = lambda v, d=2: "n/a" if v is None else f"{100 * float(v):.{d}f}%"
    env.filters["money"] = lambda v, cur="": "n/a" if v is None else f"{float(v):,.0f}" + (f" {cur}" if cur else "")
    env.globals.update(fmt=fmt, plotly_injected=_injected)
    return env


def _injected() -> list[tuple[int, str]]:
    from .assets import injected_styles

    return [(i + 1, sid) for i, (sid, _) in enumerate(injected_styles())]


class Figures:
    """Figures of one page or fragment, registered by the report's ``chart`` macro.

    The same markup as the report's figures (``figure.cf`` with a caption and a
    ``div.chart``); ids carry a random prefix so that a fragment swapped in by htmx never
    reuses an id of the page around it."""

    def __init__(self, figures: dict):
        import secrets

        self.figures = {k: v for k, v in figures.items() if v is not None}
        self.items: dict[str, str] = {}
        self.prefix = secrets.token_hex(3)

    def div(self, name: str) -> Markup:
        from ..report.html import _finite
        from ..report.tables import words

        fig = self.figures.get(name)
        if fig is None:
            return Markup('<p class="note">Chart "{}": not available.</p>').format(words(name))
        if not isinstance(fig, dict):
            fig = fig.to_plotly_json()
        fid = f"fig-{self.prefix}-{len(self.items) + 1}-{name}"
        layout = dict(fig.get("layout") or {})
        t = layout.pop("title", None)
        title = (t.get("text") if isinstance(t, dict) else t) or words(name)
        layout["margin"] = {**(layout.get("margin") or {}), "t": 12}
        self.items[fid] = json.dumps(_finite({"data": fig.get("data") or [], "layout": layout}),
                                     separators=(",", ":"), allow_nan=False, default=str)
        return Markup('<figure class="cf"><figcaption>{}</figcaption><div class="chart" id="{}" data-chart="{}" '
                      'role="img" aria-label="{}"></div></figure>').format(title, fid, name, title)

    def json(self) -> str:
        """The figures as JSON text (the template escapes it into a ``data-figures`` attribute:
        htmx drops script elements from swapped fragments, attributes survive)."""
        return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in self.items.items()) + "}"


def render(request: Request, name: str, status: int = 200, *, p: Principal | None = None,
           figures: dict | None = None, **ctx) -> HTMLResponse:
    st = request.app.state.service
    figs = Figures(figures or {})
    html = environment().get_template(name).render(
        request=request, p=p, csrf=(p.csrf if p else "") or "", pages=PAGES, path=request.url.path,
        figures=figs, charts=bool(figures), config=st.config, simulated=ctx.pop("simulated", st.config.source == "sample"),
        **ctx)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, message: str, headers=None) -> Response:
    if status == 401:
        return login_page(request, status=401, message="Sign in to continue.", next_url=_next(request))
    p = getattr(request.state, "principal", None)
    resp = render(request, "error.html.j2", status, p=p, title=f"{status}", message=message)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


_SAFE_NEXT = re.compile(r"^/(?![/\\])[A-Za-z0-9_\-./?=&%:+]*$")


def safe_next(url: str | None) -> str:
    """A local path to return to after signing in ('/' for anything else: no open redirect,
    not even through '//host' or '/\\host', which browsers read as another site)."""
    return url if isinstance(url, str) and len(url) < 500 and _SAFE_NEXT.match(url) else "/"


def _next(request: Request) -> str:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return safe_next(path) if request.method == "GET" else "/"


def login_page(request: Request, status: int = 200, message: str = "", next_url: str = "/",
               username: str = "") -> HTMLResponse:
    nonce = new_login_nonce()
    resp = render(request, "login.html.j2", status, title="Sign in", message=message, nonce=nonce,
                  next_url=safe_next(next_url),
                  username=username)
    resp.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", secure=request.app.state.service.config.cookie_secure,
                    path="/login", max_age=1800)
    return resp


def mount_static(app) -> None:
    """``/static/``: the dashboard's own files, the report's stylesheet, htmx and plotly.js."""

    def files() -> dict[str, tuple[Path, str]]:
        from ..report.html import _templates_dir
        from .assets import plotly_js_path

        out = {p.name: (p, _media(p.name)) for p in STATIC.iterdir() if p.is_file()}
        out["report.css"] = (_templates_dir() / "report.css", "text/css")
        out["plotly.min.js"] = (plotly_js_path(), "text/javascript")
        return out

    table_ = files()

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name == "plotly.css":
            from .assets import plotly_css

            return Response(plotly_css(), media_type="text/css")
        if name.startswith("plotly-inject-") and name.endswith(".css"):
            from .assets import injected_styles

            styles = injected_styles()
            k = name[len("plotly-inject-"):-len(".css")]
            if k.isdigit() and 0 < int(k) <= len(styles):
                return Response(styles[int(k) - 1][1], media_type="text/css")
        hit = table_.get(name)
        if hit is None or not hit[0].is_file():
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(hit[0], media_type=hit[1])


def _media(name: str) -> str:
    return {"js": "text/javascript", "css": "text/css", "txt": "text/plain", "svg": "image/svg+xml",
            "png": "image/png", "ico": "image/x-icon"}.get(name.rsplit(".", 1)[-1], "application/octet-stream")


# ----------------------------------------------------------------------------- public
@router.get("/healthz", include_in_schema=False)
def healthz():
    return {"status": "ok"}


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str = "/"):
    return login_page(request, next_url=next)


@router.post("/login", include_in_schema=False)
async def login(request: Request, username: str = Form("", max_length=64), password: str = Form("", max_length=1024),
                next: str = Form("/", max_length=500), nonce: str = Form("", max_length=100)):
    from fastapi import HTTPException

    if not same(nonce, request.cookies.get(LOGIN_COOKIE)):
        return login_page(request, 403, "The sign-in form expired; try again.", next, username)
    auth = request.app.state.auth
    try:
        sid, sess = await anyio.to_thread.run_sync(auth.login, username, password, client_address(request))
    except HTTPException as exc:
        resp = login_page(request, exc.status_code, exc.detail, next, username)
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        return resp
    target = safe_next(next)
    resp = RedirectResponse(target, status_code=303)
    cfg = request.app.state.service.config
    resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", secure=cfg.cookie_secure, path="/",
                    max_age=int(cfg.session_ttl_s))
    resp.delete_cookie(LOGIN_COOKIE, path="/login")
    return resp


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, p: Principal = Depends(require("read"))):
    await anyio.to_thread.run_sync(request.app.state.auth.logout, request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


# ----------------------------------------------------------------------------- helpers
def _state(request: Request):
    return request.app.state.service


def _series(rows: list[dict], key: str, name: str, unit: str, basis: str = "") -> dict:
    return {"unit": unit, "basis": basis, "index": [r["date"] for r in rows], "columns": {name: [r[key] for r in rows]}}


def _group_name(universe, by: str, g: str) -> str:
    try:
        return universe.group_name(by, g)
    except Exception:  # noqa: BLE001 - a group the universe does not name
        return g


def _fine(fig: dict | None) -> dict | None:
    """Percent ticks with one decimal when the values are small (no repeated '-3%' ticks)."""
    if not fig:
        return fig
    vals = [abs(v) for tr in fig["data"] for v in (tr.get("x") if tr.get("orientation") == "h" else tr.get("y")) or []
            if isinstance(v, (int, float))]
    if vals and max(vals) < 0.1:
        for ax in ("xaxis", "yaxis"):
            a = fig["layout"].get(ax) or {}
            if a.get("tickformat") == ".0%":
                a["tickformat"] = ".1%"
    return fig


def _exposure_tab(e: dict, title: str) -> dict:
    cur = e["currency"]
    return table(title, [column("name", e["by"].capitalize() if e["by"] != "venue" else "Venue"),
                         column("value", "Value", cur), column("weight", "Weight", "fraction")], e["rows"],
                 note=e.get("note"))


def _book_or_empty(request: Request, p: Principal, fn, title: str):
    try:
        return fn(), None
    except DataError as exc:
        return None, render(request, "empty.html.j2", 409 if "empty" not in str(exc) else 200, p=p, title=title,
                            message=str(exc))


def _latest_run(request: Request) -> dict | None:
    run = request.app.state.jobs.latest_done()
    if run is None or not run.out_dir:
        return None
    try:
        r = json.loads((Path(run.out_dir) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {"run": run.to_dict(), "caveats": (r.get("summary") or {}).get("caveats") or [],
            "counts": (r.get("caveats") or {}).get("counts") or {}, "simulated": bool((r.get("data") or {}).get("simulated"))}


# ----------------------------------------------------------------------------- pages
@router.get("/", include_in_schema=False)
def overview(request: Request, asof: str | None = None, p: Principal = Depends(require("read"))):
    st = _state(request)
    o, empty = _book_or_empty(request, p, lambda: V.overview_view(st, asof), "Overview")
    if empty is not None:
        return empty
    nav = V.nav_view(st, end=o["asof"])
    cur = o["currency"]
    figs = {
        "nav": C.line_chart(_series(nav["rows"], "nav", "NAV", cur, "calendar"), f"NAV at 24:00 UTC ({cur})", cur),
        "exposure_layer": C.grouped_bars(_exposure_tab(o["exposure_layer"], ""), "name", [("weight", "Weight of NAV")],
                                         "Exposure by layer (look-through)", horizontal=True),
    }
    b = o.get("budgets") or {}
    if b.get("rows"):
        figs["risk_budgets"] = C.grouped_bars({"rows": b["rows"]}, "name", [("risk_share", "Risk share"),
                                                                              ("budget", "Budget"),
                                                                              ("weight", "Weight of NAV")],
                                              f"Risk shares against budgets by {b['by']}")
    return render(request, "overview.html.j2", p=p, title="Overview", o=o, figures=figs, run=_latest_run(request),
                  asof=o["asof"], asof_given=bool(asof),
                  simulated=o["simulated"], exposure_layer=_exposure_tab(o["exposure_layer"], "Exposure by layer"),
                  exposure_sleeve=_exposure_tab(o["exposure_sleeve"], "Exposure by sleeve"))


@router.get("/risk", include_in_schema=False)
def risk_page(request: Request, asof: str | None = None, p: Principal = Depends(require("read"))):
    st = _state(request)
    r, empty = _book_or_empty(request, p, lambda: V.risk_view(st, asof), "Risk")
    if empty is not None:
        return empty
    m = r["meta"]
    cur = m["currency"]
    var_rows = [{"method": k, "var_pct": v.get("var_pct"), "var": v.get("var"), "es_pct": v.get("es_pct"),
                 "es": v.get("es"), "n": v.get("n_observations")} for k, v in (r.get("var") or {}).items()]
    var_tab = table(f"VaR and ES, {m['confidence']:.1%} confidence, {m['horizon_periods']} period(s) of the "
                    f"{m['basis']} basis (loss positive)",
                    [column("method", "Method"), column("var_pct", "VaR", "fraction"), column("var", "VaR", cur),
                     column("es_pct", "ES", "fraction"), column("es", "ES", cur), column("n", "Observations", "count")],
                    var_rows, basis=f"{m['basis']}, {m['periods_per_year']}/yr; money at risk on the NAV "
                                    f"{fmt(m['capital'], cur)} {cur}")
    c = r.get("contributions") or {}
    asset_rows = [{"asset": s, **v} for s, v in (c.get("by_asset") or {}).items()]
    contrib = table("Contributions by asset (Euler)", [
        column("asset", "Asset"), column("weight", "Weight", "fraction"),
        column("vol_contribution", "Vol contribution", "fraction/yr"), column("vol_share", "Vol share", "fraction"),
        column("es_contribution", "ES contribution", "fraction"), column("es_share", "ES share", "fraction")],
        asset_rows, note="volatility annualized; ES as a fraction of NAV; contributions sum to the total")
    groups = []
    for by, rows in (c.get("by_group") or {}).items():
        groups.append(table(f"Contributions by {by}" + (" (themes overlap)" if by == "theme" else ""), [
            column("group", by.capitalize()), column("exposure", "Exposure", "fraction"),
            column("vol_share", "Vol share", "fraction"), column("es_share", "ES share", "fraction")],
            [{**v, "group": _group_name(st.universe, by, g)} for g, v in rows.items()]))
    liq = r.get("liquidity") or {}
    liq_rows = [{"asset": s, **v} for s, v in (liq.get("positions") or {}).items()]
    liq_tab = table(f"Days to liquidate at {100 * (liq.get('participation') or 0):.0f}% of ADV", [
        column("asset", "Asset"), column("value", "Value", cur), column("adv", "ADV", cur),
        column("days", "Days", "days"), column("note", "Note")], liq_rows,
        note=f"ADV over {liq.get('adv_window_bars')} bars of each asset's venue") if liq else None
    ladder = table("Liquidity ladder", [column("horizon", "Within"), column("share", "Share of the book", "fraction")],
                   [{"horizon": f"{k} day{'s' if k != '1' else ''}", "share": v}
                    for k, v in (liq.get("liquid_share") or {}).items()]) if liq else None
    figs = {"var": _fine(C.grouped_bars({"rows": var_rows}, "method", [("var_pct", "VaR"), ("es_pct", "ES")],
                                        "VaR and ES by method (fraction of NAV)")),
            "contrib": C.grouped_bars({"rows": asset_rows}, "asset", [("weight", "Weight"), ("es_share", "ES share")],
                                      "Weight and share of ES by asset", horizontal=True),
            "ladder": C.grouped_bars(ladder, "horizon", [("share", "Liquid")], "Share of the book liquid within")
            if ladder else None}
    return render(request, "risk.html.j2", p=p, title="Risk", r=r, asof=m["asof"], asof_given=bool(asof),
                  var_tab=var_tab, contrib=contrib,
                  groups=groups, liq_tab=liq_tab, ladder=ladder, figures=figs, simulated=m.get("simulated"))


def _stress_panel(st, scenario: str | None, asof=None) -> tuple[dict, dict]:
    s = V.stress_view(st, scenario, asof)
    cur = s["currency"]
    out: dict[str, Any] = {"s": s}
    figs: dict = {}
    sc = s.get("scenario")
    if sc:
        u = st.universe
        by_layer = [{"layer": _group_name(u, "layer", k), **v} for k, v in (sc.get("by_layer") or {}).items()]
        by_asset = [{"asset": k, **v} for k, v in (sc.get("by_asset") or {}).items()]
        out["layer_tab"] = table(f"P&L by layer: {sc.get('title')}", [
            column("layer", "Layer"), column("exposure", "Exposure", "fraction"), column("pnl_pct", "P&L", "fraction"),
            column("pnl", "P&L", cur)], by_layer, note="weighted membership; exposure and P&L as fractions of NAV")
        out["asset_tab"] = table("P&L by asset", [
            column("asset", "Asset"), column("weight", "Weight", "fraction"), column("return", "Return", "fraction"),
            column("pnl_pct", "P&L", "fraction"), column("pnl", "P&L", cur), column("source", "Returns from")],
            by_asset, note="return over the scenario on the basis; a proxy where the asset has no data (see below)")
        figs["stress_layer"] = _fine(C.grouped_bars({"rows": by_layer}, "layer", [("pnl_pct", "P&L")],
                                                    f"P&L by layer, {sc.get('title')} (fraction of NAV)",
                                                    horizontal=True))
        out["proxies"] = sc.get("proxies") or {}
    return out, figs


@router.get("/stress", include_in_schema=False)
def stress_page(request: Request, scenario: str | None = None, asof: str | None = None,
                p: Principal = Depends(require("read"))):
    st = _state(request)
    asof = asof or None
    try:
        s = V.stress_view(st, None, asof)
    except DataError as exc:
        return render(request, "empty.html.j2", 409, p=p, title="Stress", message=str(exc))
    rows = [x for x in s["scenarios"] if not x.get("error")]
    scenario = scenario or (min(rows, key=lambda x: x.get("pnl_pct") or 0)["name"] if rows else None)
    try:
        panel, figs = _stress_panel(st, scenario, asof) if scenario else ({"s": s}, {})
    except LookupError as exc:
        return render(request, "error.html.j2", 404, p=p, title="Stress", message=str(exc))
    summary = table("Every scenario on today's book", [
        column("title", "Scenario"), column("kind", "Kind"), column("pnl_pct", "P&L", "fraction"),
        column("pnl", "P&L", s["currency"]), column("start", "From", "date"), column("end", "To", "date"),
        column("source", "Returns from")], s["scenarios"], basis=s["convention"])
    figs["stress_all"] = _fine(C.grouped_bars({"rows": rows}, "title", [("pnl_pct", "P&L")],
                                        "P&L by scenario (fraction of NAV)", horizontal=True))
    return render(request, "stress.html.j2", p=p, title="Stress", s=s, summary=summary, scenario=scenario,
                  panel=panel, figures=figs, asof=s["asof"], asof_given=bool(asof))


@router.get("/stress/panel", include_in_schema=False)
def stress_panel(request: Request, scenario: str, asof: str | None = None,
                 p: Principal = Depends(require("read"))):
    panel, figs = _stress_panel(_state(request), scenario, asof or None)
    return render(request, "_stress_panel.html.j2", p=p, panel=panel, scenario=scenario, figures=figs,
                  fragment=True)


@router.get("/orders", include_in_schema=False)
def orders_page(request: Request, done: str | None = None, p: Principal = Depends(require("read"))):
    lists = V.lists_view(_state(request))["lists"]
    return render(request, "orders.html.j2", p=p, title="Orders", lists=list(reversed(lists)),
                  done=DONE.get(done or ""))


@router.get("/orders/{list_id}", include_in_schema=False)
def order_page(request: Request, list_id: str, done: str | None = None, p: Principal = Depends(require("read")),
               error: str | None = None, status: int = 200):
    d = V.list_view(_state(request), list_id)
    return render(request, "order_list.html.j2", status, p=p, title=f"Order list {list_id}", d=d,
                  done=DONE.get(done or ""), error=error, can_act=bool(d.get("proposed_by"))
                  and d.get("proposed_by") != p.username)


def _fail(request: Request, p: Principal, list_id: str | None, exc: Exception) -> Response:
    from .ops import FourEyes

    status = 403 if isinstance(exc, FourEyes) else 404 if isinstance(exc, LookupError) else 409
    if list_id:
        try:
            return order_page(request, list_id, p=p, error=str(exc), status=status)
        except LookupError:
            pass
    lists = V.lists_view(_state(request))["lists"]
    return render(request, "orders.html.j2", status, p=p, title="Orders", lists=list(reversed(lists)), error=str(exc))


@router.post("/orders/propose", include_in_schema=False)
def propose_form(request: Request, asof: str = Form("", max_length=20), trade_date: str = Form("", max_length=20),
                 dry_run: str = Form("", max_length=5), supersede: str = Form("", max_length=5),
                 p: Principal = Depends(require("trade"))):
    try:
        r = ops.propose_orders(_state(request), p.user, asof=asof or None, trade_date=trade_date or None,
                               supersede=bool(supersede), dry_run=bool(dry_run))
    except (ComputefolioError, LookupError) as exc:
        return _fail(request, p, None, exc)
    if dry_run:
        lists = V.lists_view(_state(request))["lists"]
        return render(request, "orders.html.j2", p=p, title="Orders", lists=list(reversed(lists)),
                      done=DONE["checked"], preview=r)
    return RedirectResponse(f"/orders/{r['list_id']}?done=proposed", status_code=303)


@router.post("/orders/{list_id}/override", include_in_schema=False)
def override_form(request: Request, list_id: str, check: str = Form(..., max_length=64),
                  target: str = Form("*", max_length=200), reason: str = Form("", max_length=1000),
                  p: Principal = Depends(require("override"))):
    try:
        if len(reason.strip()) < 3:
            raise ops.Conflict("an override needs a reason (at least 3 characters)")
        ops.override_block(_state(request), p.user, list_id, check=check, target=target or "*", reason=reason)
    except (ComputefolioError, LookupError) as exc:
        return _fail(request, p, list_id, exc)
    return RedirectResponse(f"/orders/{list_id}?done=overridden", status_code=303)


@router.post("/orders/{list_id}/release", include_in_schema=False)
def release_form(request: Request, list_id: str, p: Principal = Depends(require("approve"))):
    try:
        ops.release_list(_state(request), p.user, list_id)
    except (ComputefolioError, LookupError) as exc:
        return _fail(request, p, list_id, exc)
    return RedirectResponse(f"/orders/{list_id}?done=released", status_code=303)


@router.post("/orders/{list_id}/cancel", include_in_schema=False)
def cancel_form(request: Request, list_id: str, reason: str = Form("", max_length=1000),
                p: Principal = Depends(require("trade"))):
    try:
        ops.cancel_list(_state(request), p.user, list_id, reason=reason)
    except (ComputefolioError, LookupError) as exc:
        return _fail(request, p, list_id, exc)
    return RedirectResponse(f"/orders/{list_id}?done=cancelled", status_code=303)


@router.get("/compliance", include_in_schema=False)
def compliance_page(request: Request, list_id: str | None = None, event: str | None = None, page: int = 0,
                    p: Principal = Depends(require("read"))):
    st = _state(request)
    size = 100
    list_id = list_id or None
    event = event or None
    page = max(0, min(int(page), 100_000))
    try:
        lg = V.log_view(st, list_id=list_id, event=event, limit=size, offset=page * size)
    except DataError as exc:
        return render(request, "error.html.j2", 422, p=p, title="Compliance log", message=str(exc))
    ver = V.verify_view(st)
    frag = request.headers.get("hx-request") == "true"
    return render(request, "_log_table.html.j2" if frag else "compliance.html.j2", p=p, title="Compliance log",
                  lg=lg, ver=ver, list_id=list_id or "", event=event or "", page=page, size=size,
                  events=("check", "result", "propose", "override", "release", "cancel", "supersede", "fill"))


@router.get("/runs", include_in_schema=False)
def runs_page(request: Request, done: str | None = None, p: Principal = Depends(require("read"))):
    jobs = request.app.state.jobs
    return render(request, "runs.html.j2", p=p, title="Runs", runs=jobs.list(50), strategies=sorted(jobs.strategies()),
                  default=_state(request).loaded.strategy.name, done=DONE.get(done or ""))


@router.post("/runs", include_in_schema=False)
def run_form(request: Request, strategy: str = Form("", max_length=64), start: str = Form("", max_length=20),
             end: str = Form("", max_length=20), p: Principal = Depends(require("run"))):
    jobs = request.app.state.jobs
    try:
        run = jobs.submit(p.username, strategy or None, start=start or None, end=end or None)
    except ComputefolioError as exc:
        return render(request, "runs.html.j2", 409, p=p, title="Runs", runs=jobs.list(50),
                      strategies=sorted(jobs.strategies()), default=_state(request).loaded.strategy.name,
                      error=str(exc))
    return RedirectResponse(f"/runs/{run.run_id}?done=started", status_code=303)


@router.get("/runs/{run_id}", include_in_schema=False)
def run_page(request: Request, run_id: str, done: str | None = None, p: Principal = Depends(require("read"))):
    run = request.app.state.jobs.get(run_id)
    from .jobs import STEPS

    return render(request, "run.html.j2", p=p, title=f"Run {run_id}", run=run.to_dict(), steps=STEPS,
                  events=list(run.events), done=DONE.get(done or ""))


@router.post("/runs/{run_id}/cancel", include_in_schema=False)
def run_cancel_form(request: Request, run_id: str, p: Principal = Depends(require("run"))):
    try:
        request.app.state.jobs.cancel(run_id, p.username)
    except ComputefolioError as exc:
        return error_page(request, 409, str(exc))
    return RedirectResponse(f"/runs/{run_id}?done=run-cancelled", status_code=303)
