"""The JSON API under ``/api/v1`` (described by ``/api/v1/openapi.json``).

Every route needs credentials (:mod:`.auth`); reads need ``read``, writes the
permission named in their description. Numbers carry their unit and basis: each answer
has a ``units`` object (or the library's own layout, which has one: ``meta`` of the risk
report, ``units`` of the valuation). Fractions are fractions (0.05 = 5%), amounts in the
book's currency, ages in calendar days, and dates ``YYYY-MM-DD`` (the NAV of day D is
struck at 24:00 UTC on D). Errors answer ``{"error": "one line", "status": N}``: 401 no
credentials, 403 not allowed (or four eyes), 404 unknown id, 409 the request does not fit
the book's state, 422 invalid parameters, 503 the store is held by another process.
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path as PathParam, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .._json import dumps
from . import ops
from . import views as V
from .auth import Principal, require

router = APIRouter(prefix="/api/v1")

LIST_ID = r"^[A-Za-z0-9._:-]{1,120}$"
RUN_ID = r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{6}$"
NAME = r"^[a-z][a-z0-9_]{0,63}$"
Basis = Literal["session", "calendar"]
By = Literal["sleeve", "layer", "theme", "asset_class", "asset", "venue", "account"]

_bytes_lock = threading.Lock()
_bytes: dict[int, tuple[Any, bytes]] = {}


def _state(request: Request):
    return request.app.state.service


def out(obj: Any, status: int = 200) -> Response:
    """JSON by the one JSON rule (non-finite numbers as null). Large cached views are
    serialized once and reused while cached."""
    with _bytes_lock:
        hit = _bytes.get(id(obj))
    if hit is not None and hit[0] is obj:
        body = hit[1]
    else:
        body = dumps(obj, indent=None).encode("utf-8")
        if isinstance(obj, dict) and len(body) > 4096:
            with _bytes_lock:
                if len(_bytes) > 64:
                    _bytes.clear()
                _bytes[id(obj)] = (obj, body)
    return Response(content=body, status_code=status, media_type="application/json")


async def cached(request: Request, fn, *args) -> Response:
    """A read view answered from a cache of serialized answers, keyed by the URL and
    valid while the store's fingerprint (and the loaded market) stay the same. A hit is
    served on the event loop without touching the store; a miss computes in a worker
    thread (:func:`out`'s rule)."""
    import anyio

    st = _state(request)
    key = (request.url.path, request.url.query)
    fp = st.fresh_fingerprint()
    if fp is not None:
        with st.responses_lock:
            hit = st.responses.get(key)
        if hit is not None and hit[0] == (fp, st.market_version):
            return Response(content=hit[1], media_type="application/json")

    def work():
        tag = (st.fingerprint(), st.market_version)
        body = out(fn(*args)).body
        with st.responses_lock:
            if len(st.responses) > 512:
                st.responses.clear()
            st.responses[key] = (tag, body)
        return body

    return Response(content=await anyio.to_thread.run_sync(work), media_type="application/json")


def _d(v: _dt.date | None) -> str | None:
    return None if v is None else v.isoformat()


class Doc(BaseModel):
    """An answer: a JSON object whose numbers carry units (see ``units``)."""

    model_config = ConfigDict(extra="allow")


class ErrorOut(BaseModel):
    error: str = Field(description="one line saying what was wrong")
    status: int


ERRORS = {401: {"model": ErrorOut, "description": "no or bad credentials"},
          403: {"model": ErrorOut, "description": "not allowed (role, token scope, CSRF, four eyes)"},
          409: {"model": ErrorOut, "description": "does not fit the current state"},
          422: {"model": ErrorOut, "description": "invalid parameters"}}


def _r(*extra: int) -> dict:
    r = {k: v for k, v in ERRORS.items()}
    for e in extra:
        r[e] = {"model": ErrorOut, "description": {404: "unknown id", 503: "store busy"}.get(e, "error")}
    return r


AsOf = Query(None, description="NAV date (cut-off 24:00 UTC that day); default: the last price date")


# ----------------------------------------------------------------------------- who
@router.get("/me", response_model=Doc, responses=_r(), summary="Who is asking, and what they may do")
def me(p: Principal = Depends(require("read"))):
    return out(p.to_dict())


@router.get("/users", response_model=Doc, responses=_r(), summary="Users and roles (admin)")
def users_list(request: Request, p: Principal = Depends(require("admin"))):
    from . import users as U

    with _state(request).gate.read_cursor() as cur:
        rows = U.list_users(cur)
    return out({"users": rows, "roles": {r: sorted(U.ROLE_PERMISSIONS[r]) for r in U.ROLES}})


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, p: Principal = Depends(require("read"))):
    return JSONResponse(request.app.openapi())


# ----------------------------------------------------------------------------- data
@router.get("/universe", response_model=Doc, responses=_r(), summary="Universe and taxonomy (weighted membership)")
async def universe(request: Request, p: Principal = Depends(require("read"))):
    return await cached(request, V.universe_view, _state(request))


@router.get("/freshness", response_model=Doc, responses=_r(503),
            summary="Data freshness per symbol: source, last bar, expected bar, age (calendar days)")
async def freshness(request: Request, asof: _dt.date | None = AsOf, p: Principal = Depends(require("read"))):
    return await cached(request, V.freshness_view, _state(request), _d(asof))


# ----------------------------------------------------------------------------- book
@router.get("/book", response_model=Doc, responses=_r(503),
            summary="The book at the cut-off: positions, cash, NAV, exposure, P&L today/MTD/YTD")
async def book(request: Request, asof: _dt.date | None = AsOf, p: Principal = Depends(require("read"))):
    return await cached(request, V.book_view, _state(request), _d(asof))


@router.get("/book/positions", response_model=Doc, responses=_r(503),
            summary="Positions with each price's date, age and status; cash balances")
async def positions(request: Request, asof: _dt.date | None = AsOf, p: Principal = Depends(require("read"))):
    def view(st, day):
        b = V.book_view(st, day)
        return {k: b[k] for k in ("day", "cutoff", "cutoff_rule", "currency", "nav", "units", "positions",
                                  "cash_balances", "stale", "notes")}

    return await cached(request, view, _state(request), _d(asof))


@router.get("/book/nav", response_model=Doc, responses=_r(503),
            summary="NAV history at 24:00 UTC each day (calendar) or each XNYS session, with flows and P&L")
async def nav(request: Request, start: _dt.date | None = Query(None, description="first date shown"),
        end: _dt.date | None = Query(None, description="last date (default: the last price date)"),
        basis: Basis = Query("calendar", description="calendar (every day, 365/yr) or session (XNYS, 252/yr)"),
        p: Principal = Depends(require("read"))):
    return await cached(request, V.nav_view, _state(request), _d(start), _d(end), basis)


@router.get("/book/exposure", response_model=Doc, responses=_r(503),
            summary="Exposure by sleeve, layer, theme, asset class, asset (look-through), venue or account")
async def exposure(request: Request, by: By = Query("layer"), asof: _dt.date | None = AsOf,
                   look_through: bool = Query(True, description="count vehicles (GBTC, IBIT) as their underlying"),
                   p: Principal = Depends(require("read"))):
    return await cached(request, V.exposure_view, _state(request), by, _d(asof), look_through)


@router.get("/book/pnl", response_model=Doc, responses=_r(503),
            summary="P&L today, month to date and year to date, net of deposits and withdrawals")
async def pnl(request: Request, asof: _dt.date | None = AsOf, p: Principal = Depends(require("read"))):
    return await cached(request, lambda st, day: V.pnl_view(V.book_context(st, day), st), _state(request), _d(asof))


# ----------------------------------------------------------------------------- risk
RiskQ = dict(basis=Query(None, description="session (XNYS, 252/yr) or calendar (365/yr); default: the strategy's"),
             confidence=Query(None, ge=0.5, lt=1.0, description="VaR/ES confidence (default: the strategy's)"),
             horizon=Query(None, ge=1, le=63, description="horizon in periods of the basis"))


@router.get("/risk", response_model=Doc, responses=_r(503),
            summary="Risk report of the book (computefolio.risk/1): VaR/ES by method, contributions, stress, "
                    "liquidity, drawdown; money at risk on the NAV")
async def risk(request: Request, asof: _dt.date | None = AsOf, basis: Basis | None = RiskQ["basis"],
         confidence: float | None = RiskQ["confidence"], horizon: int | None = RiskQ["horizon"],
         p: Principal = Depends(require("read"))):
    return await cached(request, V.risk_view, _state(request), _d(asof), basis, confidence, horizon)


@router.get("/risk/var", response_model=Doc, responses=_r(503), summary="VaR and ES by method (loss positive)")
async def risk_var(request: Request, asof: _dt.date | None = AsOf, basis: Basis | None = RiskQ["basis"],
             confidence: float | None = RiskQ["confidence"], horizon: int | None = RiskQ["horizon"],
             p: Principal = Depends(require("read"))):
    return await cached(request, V.var_view, _state(request), _d(asof), basis, confidence, horizon)


@router.get("/risk/contributions", response_model=Doc, responses=_r(503),
            summary="Euler contributions to volatility and ES by asset, sleeve, layer and theme")
async def risk_contributions(request: Request, asof: _dt.date | None = AsOf, p: Principal = Depends(require("read"))):
    return await cached(request, V.contributions_view, _state(request), _d(asof))


@router.get("/risk/stress", response_model=Doc, responses=_r(404, 503),
            summary="Stress P&L by scenario; with `scenario`, its P&L by layer and asset")
async def risk_stress(request: Request, scenario: str | None = Query(None, max_length=80, pattern=NAME),
                asof: _dt.date | None = AsOf, p: Principal = Depends(require("read"))):
    return await cached(request, V.stress_view, _state(request), scenario, _d(asof))


@router.get("/risk/liquidity", response_model=Doc, responses=_r(503),
            summary="Liquidity ladder: days to liquidate at the participation rate, share liquid in 1/5/20 days")
async def risk_liquidity(request: Request, asof: _dt.date | None = AsOf, p: Principal = Depends(require("read"))):
    return await cached(request, V.liquidity_view, _state(request), _d(asof))


@router.get("/risk/budgets", response_model=Doc, responses=_r(503),
            summary="Risk shares by the strategy's budget groups against its budgets")
async def risk_budgets(request: Request, asof: _dt.date | None = AsOf, p: Principal = Depends(require("read"))):
    return await cached(request, V.budgets_view, _state(request), _d(asof))


# ----------------------------------------------------------------------------- compliance
@router.get("/compliance/breaches", response_model=Doc, responses=_r(503),
            summary="Mandate and compliance rules on the book as it stands (warn/block, active/passive)")
async def breaches(request: Request, asof: _dt.date | None = AsOf, p: Principal = Depends(require("read"))):
    return await cached(request, V.breaches_view, _state(request), _d(asof))


@router.get("/compliance/log", response_model=Doc, responses=_r(503),
            summary="The hash-chained compliance log, newest first, with its head")
def compliance_log(request: Request, since: _dt.date | None = Query(None, description="entries on or after (UTC)"),
                   list_id: str | None = Query(None, pattern=LIST_ID),
                   event: Literal["check", "result", "propose", "override", "release", "cancel", "supersede",
                                  "fill"] | None = Query(None),
                   limit: int = Query(200, ge=1, le=5000), offset: int = Query(0, ge=0, le=10_000_000),
                   p: Principal = Depends(require("read"))):
    return out(V.log_view(_state(request), _d(since), list_id, event, limit, offset))


@router.get("/compliance/verify", response_model=Doc, responses=_r(503),
            summary="Verify the compliance log's and the ledger's hash chains")
def compliance_verify(request: Request, head: str | None = Query(None, pattern=r"^[0-9a-f]{64}$",
                                                                  description="expected head hash"),
                      p: Principal = Depends(require("read"))):
    return out(V.verify_view(_state(request), head))


# ----------------------------------------------------------------------------- orders
class ProposeIn(BaseModel):
    """Propose today's orders from the service's strategy on the stored book
    (``computefolio rebalance``)."""

    model_config = ConfigDict(extra="forbid")
    asof: _dt.date | None = Field(None, description="NAV date (default: the last price date)")
    trade_date: _dt.date | None = Field(None, description="date the orders are placed (default: asof + 1 day)")
    supersede: bool = Field(False, description="replace an unreleased list of the same book state")
    dry_run: bool = Field(False, description="plan and check only; record nothing")


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    check: str = Field(pattern=NAME, description="name of the check whose block is overridden")
    target: str = Field("*", min_length=1, max_length=200, description="order id, symbol or group key; '*' all")
    reason: str = Field(min_length=3, max_length=1000, description="why (recorded in the log)")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=1000)


@router.get("/orders", response_model=Doc, responses=_r(503), summary="Order lists and their status")
def orders(request: Request, status: Literal["blocked", "cleared", "released", "cancelled", "superseded", "done"]
           | None = Query(None), p: Principal = Depends(require("read"))):
    return out(V.lists_view(_state(request), status))


@router.post("/orders", response_model=Doc, responses=_r(503), status_code=201,
             summary="Propose an order list (needs trade): plan, pre-trade compliance, recorded once per book state")
def propose(request: Request, body: ProposeIn, p: Principal = Depends(require("trade"))):
    r = ops.propose_orders(_state(request), p.user, asof=_d(body.asof), trade_date=_d(body.trade_date),
                           supersede=body.supersede, dry_run=body.dry_run)
    return out(r, 200 if body.dry_run else 201)


@router.get("/orders/{list_id}", response_model=Doc, responses=_r(404, 503),
            summary="One order list: orders, compliance results, overrides, proposer and events")
def order_list(request: Request, list_id: str = PathParam(pattern=LIST_ID), p: Principal = Depends(require("read"))):
    return out(V.list_view(_state(request), list_id))


@router.get("/orders/{list_id}/orders.csv", responses=_r(404, 503), response_class=PlainTextResponse,
            summary="The list's orders as CSV (for the execution desk)")
def order_list_csv(request: Request, list_id: str = PathParam(pattern=LIST_ID),
                   p: Principal = Depends(require("read"))):
    text = V.orders_csv(_state(request), list_id)
    return Response(text, media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="orders-{list_id}.csv"'})


@router.post("/orders/{list_id}/override", response_model=Doc, responses=_r(404, 503),
             summary="Override a compliance block (needs override; not the proposer: four eyes)")
def order_override(request: Request, body: OverrideIn, list_id: str = PathParam(pattern=LIST_ID),
                   p: Principal = Depends(require("override"))):
    return out(ops.override_block(_state(request), p.user, list_id, check=body.check, target=body.target,
                                  reason=body.reason))


@router.post("/orders/{list_id}/release", response_model=Doc, responses=_r(404, 503),
             summary="Release an order list (needs approve; not the proposer: four eyes)")
def order_release(request: Request, list_id: str = PathParam(pattern=LIST_ID),
                  p: Principal = Depends(require("approve"))):
    return out(ops.release_list(_state(request), p.user, list_id))


@router.post("/orders/{list_id}/cancel", response_model=Doc, responses=_r(404, 503),
             summary="Cancel a live order list (needs trade)")
def order_cancel(request: Request, body: CancelIn | None = None, list_id: str = PathParam(pattern=LIST_ID),
                 p: Principal = Depends(require("trade"))):
    return out(ops.cancel_list(_state(request), p.user, list_id, reason=(body.reason if body else "")))


# ----------------------------------------------------------------------------- runs
class RunIn(BaseModel):
    """Start a run of the main job (``computefolio run``) on a strategy known by name."""

    model_config = ConfigDict(extra="forbid")
    strategy: str | None = Field(None, pattern=NAME, description="strategy name (GET /api/v1/strategies)")
    start: _dt.date | None = Field(None, description="first valuation date")
    end: _dt.date | None = Field(None, description="last valuation date")


@router.get("/strategies", response_model=Doc, responses=_r(), summary="Strategies a run may name")
def strategies(request: Request, p: Principal = Depends(require("read"))):
    names = request.app.state.jobs.strategies()
    return out({"strategies": sorted(names), "default": _state(request).loaded.strategy.name})


@router.get("/runs", response_model=Doc, responses=_r(503), summary="Runs of the main job, newest first")
def runs(request: Request, limit: int = Query(50, ge=1, le=500), p: Principal = Depends(require("read"))):
    return out({"runs": request.app.state.jobs.list(limit)})


@router.post("/runs", response_model=Doc, responses=_r(503), status_code=202,
             summary="Start a run in the background (needs run); follow it at /runs/{run_id}/events")
def run_start(request: Request, body: RunIn | None = None, p: Principal = Depends(require("run"))):
    b = body or RunIn()
    r = request.app.state.jobs.submit(p.username, b.strategy, start=_d(b.start), end=_d(b.end))
    return out(r.to_dict(), 202)


@router.get("/runs/{run_id}", response_model=Doc, responses=_r(404, 503), summary="A run: status and progress")
def run_get(request: Request, run_id: str = PathParam(pattern=RUN_ID), p: Principal = Depends(require("read"))):
    return out(request.app.state.jobs.get(run_id).to_dict())


@router.post("/runs/{run_id}/cancel", response_model=Doc, responses=_r(404, 503), summary="Cancel a run (needs run)")
def run_cancel(request: Request, run_id: str = PathParam(pattern=RUN_ID), p: Principal = Depends(require("run"))):
    return out(request.app.state.jobs.cancel(run_id, p.username).to_dict())


@router.get("/runs/{run_id}/events", responses=_r(404),
            summary="Server-sent events of a run's progress (step, fit, status); ends when the run ends")
async def run_events(request: Request, run_id: str = PathParam(pattern=RUN_ID),
                     p: Principal = Depends(require("read"))):
    import anyio
    from sse_starlette.sse import EventSourceResponse

    jobs = request.app.state.jobs
    await anyio.to_thread.run_sync(jobs.get, run_id)  # 404 before the stream starts
    try:
        after = int(request.headers.get("last-event-id") or 0)
    except ValueError:
        after = 0

    async def stream():
        seq = after
        while True:
            evs, done = jobs.events_after(run_id, seq) if run_id in jobs.runs else \
                await anyio.to_thread.run_sync(jobs.events_after, run_id, seq)
            for e in evs:
                seq = e["seq"]
                yield {"id": str(e["seq"]), "event": e["type"], "data": json.dumps(e, default=str)}
            if done:
                run = await anyio.to_thread.run_sync(jobs.get, run_id)
                yield {"event": "end", "data": json.dumps(run.to_dict(), default=str)}
                return
            if await request.is_disconnected():
                return
            await anyio.sleep(0.25)

    return EventSourceResponse(stream(), ping=15)


def _run_file(request: Request, run_id: str, name: str) -> Path:
    run = request.app.state.jobs.get(run_id)
    if run.status != "done" or not run.out_dir:
        raise LookupError(f"run {run_id} is {run.status}: no {name} (yet)")
    p = Path(run.out_dir) / name
    if not p.is_file():
        raise LookupError(f"run {run_id} has no {name}")
    return p


@router.get("/runs/{run_id}/results", response_model=Doc, responses=_r(404, 503),
            summary="results.json of a finished run (every number of its report, with units and basis)")
def run_results(request: Request, run_id: str = PathParam(pattern=RUN_ID), p: Principal = Depends(require("read"))):
    return FileResponse(_run_file(request, run_id, "results.json"), media_type="application/json")


#: The report is one self-contained file with inline scripts and styles: it is served in a
#: sandbox (an opaque origin: no cookies, no API, no network), not under the app's CSP.
REPORT_CSP = ("sandbox allow-scripts allow-popups; default-src 'none'; script-src 'unsafe-inline'; "
              "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'; "
              "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")


@router.get("/runs/{run_id}/report", responses=_r(404, 503), response_class=HTMLResponse,
            summary="report.html of a finished run (sandboxed: it reaches nothing)")
def run_report(request: Request, run_id: str = PathParam(pattern=RUN_ID), p: Principal = Depends(require("read"))):
    return FileResponse(_run_file(request, run_id, "report.html"), media_type="text/html",
                        headers={"content-security-policy": REPORT_CSP})
