"""What the API and the dashboard show, computed by the library exactly as the CLI does.

Each function takes the :class:`~computefolio.service.state.ServiceState` and the
request's parameters and returns a JSON-safe dict whose numbers carry their unit and
basis. Nothing here is a new calculation: valuation is
:func:`computefolio.book.value_book`, exposure :func:`computefolio.book.exposure`, P&L
:mod:`computefolio.book.pnl`, risk :func:`computefolio.risk.report.risk_report` with the
strategy's risk settings (as the main job's risk step), risk shares against budgets
:func:`computefolio.rebalance.book_risk` (as ``computefolio rebalance`` compares the book
before and after), breaches of the book as it stands :class:`computefolio.compliance.
Compliance` on an empty order list, data freshness
:meth:`computefolio.data.market.MarketData.freshness`.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .._json import json_safe
from ..errors import DataError
from .state import ServiceState

ORDER_COLUMNS = ["order_id", "account", "symbol", "side", "quantity", "price"]


def _day(v) -> str | None:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
        return None
    try:
        return str(pd.Timestamp(v).date())
    except (ValueError, TypeError):
        return str(v)


def parse_day(value: str | None, name: str = "asof") -> pd.Timestamp | None:
    """A date parameter (YYYY-MM-DD) or None; a DataError naming the parameter otherwise."""
    if value is None or value == "":
        return None
    try:
        d = pd.Timestamp(str(value))
    except (ValueError, TypeError, OverflowError):
        raise DataError(f"{name}: a date YYYY-MM-DD, got {value!r}") from None
    if pd.isna(d) or not (1970 <= d.year <= 2200):
        raise DataError(f"{name}: a date YYYY-MM-DD between 1970 and 2200, got {value!r}")
    return d.tz_localize(None).normalize() if d.tzinfo is not None else d.normalize()


# ----------------------------------------------------------------------------- the book
class BookContext:
    """The book valued at one cut-off: entries, state, accounts, market, valuation."""

    def __init__(self, state: ServiceState, asof=None):
        from ..book.valuation import value_book

        self.fp = state.fingerprint()
        self.market = state.market(self.fp)
        with state.gate.read() as bs:
            self.entries, self.state, self.accounts = bs.entries(), bs.state(), bs.accounts()
        if self.state.entries == 0:
            raise DataError("the book is empty: import accounts and a snapshot or transactions "
                            "(computefolio book import FILE)")
        self.day = pd.Timestamp(asof).normalize() if asof is not None else self.market.end
        if self.day < self.market.start:
            raise DataError(f"asof {self.day.date()} is before the first price ({self.market.start.date()})")
        self.valuation = value_book(self.entries, self.market, self.day, state=self.state)
        self.asof_reason = f"as of {self.day.date()} (chosen)"
        if asof is None:
            # the book's date when none is chosen: where every sleeve still has fresh prices (same rule as the CLI)
            from ..book.valuation import fresh_asof

            day, self.asof_reason = fresh_asof(self.valuation.values(), self.market, state.universe)
            if day != self.day:
                self.day = day
                self.valuation = value_book(self.entries, self.market, self.day, state=self.state)


def book_context(state: ServiceState, asof=None) -> BookContext:
    """The book at the cut-off of ``asof`` (default: the last price date), cached per store state."""
    day = asof if isinstance(asof, pd.Timestamp) else parse_day(asof)
    fp = state.fingerprint()
    key = ("book", fp.ledger, state.market_key(fp), None if day is None else str(day.date()))
    return state.memo.get(key, lambda: BookContext(state, day))


def _memo(state: ServiceState, ctx: BookContext, kind: str, *params, fn):
    """A view of the book at ``ctx`` computed once per store state and parameters."""
    key = (kind, ctx.fp.ledger, ctx.fp.log, state.market_key(ctx.fp), str(ctx.day.date()), *params)
    return state.memo.get(key, fn)


def _records(df: pd.DataFrame, index: str | None = None) -> list[dict]:
    if index is not None:
        df = df.reset_index().rename(columns={"index": index})
    return json_safe(df.to_dict("records"), note=False)


def exposure_table(ctx: BookContext, state: ServiceState, by: str, look_through: bool = True) -> dict:
    from ..book.exposure import BY, exposure

    if by not in BY:
        raise DataError(f"by: one of {', '.join(BY)}, got {by!r}")
    e = exposure(ctx.valuation, state.universe, by, look_through=look_through, accounts=ctx.accounts)
    rows = []
    u = state.universe
    for g, r in e.iterrows():
        name = str(g)
        if by in ("sleeve", "layer", "theme") and g != "cash":
            try:
                name = u.group_name(by, str(g))
            except Exception:  # noqa: BLE001 - a group the universe does not name
                name = str(g)
        rows.append({"group": str(g), "name": name, "value": float(r["value"]), "weight": float(r["weight"])})
    return {"by": by, "look_through": look_through and by not in ("venue", "account"), "currency": ctx.valuation.currency,
            "units": {"value": ctx.valuation.currency, "weight": "fraction of NAV"},
            "note": ("themes overlap (weighted membership)" if by == "theme" else
                     "weighted membership; look-through: vehicles count as their underlying"
                     if by in ("sleeve", "layer", "asset", "asset_class") else "where the value sits (cash its own rows)"),
            "rows": rows}


def pnl_view(ctx: BookContext, state: ServiceState) -> dict:
    from ..book.pnl import daily_pnl, pnl_summary

    def go():
        return daily_pnl(ctx.entries, ctx.market, end=ctx.day)

    d = state.memo.get(("pnl", ctx.fp.ledger, state.market_key(ctx.fp), str(ctx.day.date())), go)
    out = pnl_summary(d, ctx.day)
    out.update(currency=ctx.valuation.currency, basis="calendar days, NAV at 24:00 UTC",
               method="P&L = change of NAV less external flows (deposits, withdrawals, snapshot adjustments); "
                      "returns chain daily Modified Dietz returns (flows at the start of the day)",
               units={"pnl": ctx.valuation.currency, "return": "fraction", "nav": ctx.valuation.currency})
    return json_safe(out, note=False)


def book_view(state: ServiceState, asof=None) -> dict:
    """Positions, cash, NAV at the cut-off, exposure by sleeve/layer/theme/venue, P&L."""
    ctx = book_context(state, asof)

    def go():
        v = ctx.valuation
        out = v.to_dict()
        out["exposure"] = {by: exposure_table(ctx, state, by) for by in ("sleeve", "layer", "theme", "venue")}
        out["pnl"] = pnl_view(ctx, state)
        out["simulated"] = bool(ctx.market.simulated)
        out["accounts"] = {k: a.to_dict() for k, a in ctx.accounts.items()}
        return json_safe(out, note=False)

    return _memo(state, ctx, "book_view", fn=go)


def exposure_view(state: ServiceState, by: str, asof=None, look_through: bool = True) -> dict:
    """Exposure of the book by one grouping, at the cut-off."""
    ctx = book_context(state, asof)

    def go():
        d = exposure_table(ctx, state, by, look_through)
        d.update(asof=str(ctx.day.date()), nav=ctx.valuation.nav)
        return d

    return _memo(state, ctx, "exposure", by, bool(look_through), fn=go)


def nav_view(state: ServiceState, start=None, end=None, basis: str = "calendar") -> dict:
    from ..book.pnl import daily_pnl
    from ..book.valuation import nav_series
    from ..clock import check_basis

    try:
        check_basis(basis)
    except ValueError as exc:
        raise DataError(f"basis: {exc}") from None
    s0, e0 = parse_day(start, "start"), parse_day(end, "end")
    ctx = book_context(state, e0)
    if basis == "calendar":
        df = state.memo.get(("pnl", ctx.fp.ledger, state.market_key(ctx.fp), str(ctx.day.date())),
                            lambda: daily_pnl(ctx.entries, ctx.market, end=ctx.day))
    else:
        df = nav_series(ctx.entries, ctx.market, None, ctx.day, basis=basis)
    if s0 is not None:
        df = df.loc[s0:]
    rows = []
    for d, r in df.iterrows():
        row = {"date": str(d.date()), "nav": r["nav"], "invested": r["invested"], "cash": r["cash"],
               "positions": int(r["positions"]), "stale": int(r["stale"]), "oldest_price_days": r["oldest_price_days"]}
        if "pnl" in df.columns:
            row.update(flow=r["flow"], pnl=r["pnl"], **{"return": r["return"]})
        rows.append(row)
    return json_safe({"basis": basis, "periods_per_year": 365 if basis == "calendar" else 252,
                      "currency": ctx.valuation.currency, "cutoff_rule": ctx.valuation.rule,
                      "units": {"nav": ctx.valuation.currency, "invested": ctx.valuation.currency,
                                "cash": ctx.valuation.currency, "flow": ctx.valuation.currency,
                                "pnl": ctx.valuation.currency, "return": "fraction per day",
                                "oldest_price_days": "calendar days", "stale": "positions at a stale price"},
                      "rows": rows}, note=False)


# ----------------------------------------------------------------------------- risk
RISK_METHODS = ("historical", "gaussian", "cornish_fisher", "filtered_historical", "monte_carlo")


def risk_params(state: ServiceState, basis=None, confidence=None, horizon=None) -> dict:
    from ..clock import check_basis

    s = state.loaded.strategy
    basis = basis or s.basis
    try:
        check_basis(basis)
    except ValueError as exc:
        raise DataError(f"basis: {exc}") from None
    confidence = float(confidence) if confidence is not None else float(s.risk.confidence)
    if not (0.5 <= confidence < 1):
        raise DataError(f"confidence: between 0.5 and 1 (exclusive), got {confidence:g}")
    horizon = int(horizon) if horizon is not None else int(s.risk.horizon)
    if not (1 <= horizon <= 63):
        raise DataError(f"horizon: 1 to 63 periods, got {horizon}")
    return {"basis": basis, "confidence": confidence, "horizon": horizon}


def risk_view(state: ServiceState, asof=None, basis=None, confidence=None, horizon=None) -> dict:
    """:func:`computefolio.risk.report.risk_report` of the stored book at the cut-off
    (money at risk on its NAV), with the strategy's risk settings; cached."""
    p = risk_params(state, basis, confidence, horizon)
    ctx = book_context(state, asof)
    key = ("risk", ctx.fp.ledger, state.market_key(ctx.fp), str(ctx.day.date()), tuple(sorted(p.items())))
    return state.memo.get(key, lambda: _risk(state, ctx, p))


def _risk(state: ServiceState, ctx: BookContext, p: dict) -> dict:
    from ..job.steps import select_scenarios
    from ..risk.report import risk_report

    v = ctx.valuation
    w = v.weights()
    if not len(w):
        raise DataError(f"the book holds no positions on {ctx.day.date()} (only cash): no risk to report")
    s, u, m = state.loaded.strategy, state.universe, ctx.market
    rk = s.risk
    pairs = (("BTC", "QQQ"),) if {"BTC", "QQQ"} <= set(m.symbols) else ()
    rep = risk_report(w, m, u, capital=v.nav, basis=p["basis"], confidence=p["confidence"], horizon=p["horizon"],
                      scenarios=select_scenarios(s, u), lookback=rk.window, asof=ctx.day,
                      participation=rk.participation, pairs=pairs, regime_legs=(),
                      correlation_window=rk.correlation_window, seed=rk.seed, dcc=False)
    d = rep.to_dict()
    d["meta"]["asof_reason"] = f"the stored book at the cut-off {v.cutoff} (state {ctx.state.id})"
    d["meta"]["book_state"] = ctx.state.to_dict()
    return json_safe(d, note=False)


def _derived(state: ServiceState, r: dict, kind: str, *params, fn):
    """A part of a cached risk report, made once per report (so its bytes are reused)."""
    hit = state.memo.get(("derived", id(r), kind, *params), lambda: (r, fn()))
    return hit[1] if hit[0] is r else fn()  # an id reused after eviction: compute afresh


def stress_view(state: ServiceState, scenario: str | None = None, asof=None) -> dict:
    """Stress P&L of the book: every scenario (summary), or one with its P&L by layer and asset."""
    r = risk_view(state, asof)
    return _derived(state, r, "stress", scenario, fn=lambda: _stress(r, scenario))


def _stress(r: dict, scenario: str | None) -> dict:
    meta = r["meta"]
    items = r.get("stress") or []
    summary = [{"name": s.get("name"), "title": s.get("title"), "kind": s.get("kind"), "pnl_pct": s.get("pnl_pct"),
                "pnl": s.get("pnl"), "start": s.get("start"), "end": s.get("end"), "source": s.get("source"),
                "error": s.get("error")} for s in items]
    out = {"asof": meta["asof"], "currency": meta["currency"], "capital": meta["capital"], "basis": meta["basis"],
           "units": {"pnl_pct": "fraction of NAV", "pnl": meta["currency"]},
           "convention": "historical windows: cumulative return over (start, end] on the basis, on today's weights; "
                         "missing assets use a stated proxy; hypothetical: shocks per layer/theme/sleeve/asset",
           "scenarios": summary}
    if scenario is not None:
        hit = [s for s in items if s.get("name") == scenario]
        if not hit:
            raise LookupError(f"no scenario {scenario!r} (known: {', '.join(s['name'] for s in summary[:40])})")
        out["scenario"] = hit[0]
    return out


def liquidity_view(state: ServiceState, asof=None) -> dict:
    r = risk_view(state, asof)
    return _derived(state, r, "liquidity", fn=lambda: {**(r.get("liquidity") or {}), "asof": r["meta"]["asof"]})


def var_view(state: ServiceState, asof=None, basis=None, confidence=None, horizon=None) -> dict:
    r = risk_view(state, asof, basis, confidence, horizon)
    m = r["meta"]
    return _derived(state, r, "var", fn=lambda: {
        "meta": m, "volatility": r.get("volatility"), "var": r.get("var"),
        "units": {"var_pct": "fraction of NAV (loss positive)", "es_pct": "fraction of NAV (loss positive)",
                  "var": m["currency"], "es": m["currency"]}})


def contributions_view(state: ServiceState, asof=None) -> dict:
    r = risk_view(state, asof)
    return _derived(state, r, "contributions", fn=lambda: {
        "meta": r["meta"], "contributions": r.get("contributions"),
        "units": {"weight": "fraction of NAV", "vol_contribution": "annualized volatility, fraction",
                  "vol_share": "fraction of total", "es_contribution": "fraction of NAV",
                  "es_share": "fraction of total"}})


def budgets_view(state: ServiceState, asof=None) -> dict:
    """Risk shares of the book by the strategy's budget groups against its budgets
    (:func:`computefolio.rebalance.book_risk`, as the rebalance compares books)."""
    from ..rebalance.plan import book_risk

    ctx = book_context(state, asof)
    s = state.loaded.strategy

    def go():
        budgets = {g: b.budget for g, b in s.budgets.items()} if s.budget_kind == "risk" else None
        v = ctx.valuation
        out = book_risk(v.weights(), ctx.market, state.universe, basis=s.basis, asof=ctx.day, capital=v.nav,
                        window=s.risk.window, confidence=s.risk.confidence, participation=s.risk.participation,
                        budgets=budgets, budget_by=s.budget_by)
        targets = {g: b.budget for g, b in s.budgets.items()}
        rows = []
        share = out.get("risk_share") or {}
        weights = (out.get("weights") or {}).get(s.budget_by, {})
        for g in dict.fromkeys([*targets, *share]):
            try:
                name = state.universe.group_name(s.budget_by, g)
            except Exception:  # noqa: BLE001
                name = g
            b = targets.get(g)
            sh = share.get(g)
            rows.append({"group": g, "name": name, "weight": weights.get(g, 0.0), "risk_share": sh,
                         "budget": b, "gap": None if b is None or sh is None else sh - b})
        return json_safe({"by": s.budget_by, "kind": s.budget_kind, "strategy": s.name, "asof": str(ctx.day.date()),
                          "basis": s.basis, "units": {"weight": "fraction of NAV",
                                                      "risk_share": "fraction of volatility (Euler)",
                                                      "budget": f"fraction of {'risk' if s.budget_kind == 'risk' else 'invested weight'}"},
                          "volatility": out.get("volatility"), "var_pct": out.get("var_pct"),
                          "es_pct": out.get("es_pct"), "confidence": out.get("confidence"),
                          "liquidity": out.get("liquidity"), "rows": rows, "notes": out.get("notes", [])}, note=False)

    return state.memo.get(("budgets", ctx.fp.ledger, state.market_key(ctx.fp), str(ctx.day.date())), go)


def breaches_view(state: ServiceState, asof=None) -> dict:
    """The mandate and compliance rules on the book as it stands (no orders): every warn
    and block, active or passive, with the date a passive breach was first logged."""
    from ..compliance.checks import Compliance
    from ..compliance.log import ComplianceLog

    ctx = book_context(state, asof)

    def go():
        with state.gate.read() as bs:
            since = ComplianceLog(bs).passive_since()
        L = state.loaded
        empty = pd.DataFrame({c: pd.Series(dtype=float if c in ("quantity", "price") else object)
                              for c in ORDER_COLUMNS})
        rep = Compliance(L.mandate, L.policy, state.universe, L.rules).check(
            empty, ctx.valuation, market=ctx.market, accounts=ctx.accounts, asof=ctx.day, passive_since=since)
        d = rep.to_dict()
        return json_safe({"asof": str(ctx.day.date()), "status": d["status"], "results": d["results"],
                          "checks": d["checks"], "notes": d["notes"], "units": d["units"]}, note=False)

    return state.memo.get(("breaches", ctx.fp.ledger, ctx.fp.log, state.market_key(ctx.fp), str(ctx.day.date())), go)


# ----------------------------------------------------------------------------- data
def universe_view(state: ServiceState) -> dict:
    u = state.universe
    assets = []
    for a in u.assets:
        assets.append({"symbol": a.symbol, "name": a.name, "asset_class": a.asset_class, "sleeve": a.sleeve,
                       "calendar": a.calendar, "venue": a.venue, "currency": a.currency, "listed": _day(a.listed),
                       "delisted": _day(a.delisted), "layers": dict(a.layers), "themes": dict(a.themes),
                       "compute_exposure": a.compute_exposure, "underlying": a.underlying, "issuer": a.issuer,
                       "benchmark": bool(a.benchmark), "proxy": a.proxy})
    tax = {}
    for by in ("sleeve", "layer", "theme"):
        defs = getattr(u, by + "s")
        tax[by] = [{"group": g, "name": d.name, "description": d.description} for g, d in defs.items()]
    return json_safe({"name": u.name, "description": u.description, "base_currency": u.base_currency,
                      "units": {"layers": "membership weight (fraction of the asset)",
                                "themes": "membership weight (themes overlap)",
                                "compute_exposure": "fraction of the business exposed to compute"},
                      "taxonomy": tax, "assets": assets}, note=False)


def freshness_view(state: ServiceState, asof=None) -> dict:
    """Per symbol: source, first and last bar, the bar its calendar expected, status and age."""
    fp = state.fingerprint()
    m = state.market(fp)
    day = parse_day(asof) or m.end
    if day < m.start:
        raise DataError(f"asof {day.date()} is before the first price ({m.start.date()})")
    u = state.universe
    delisted = {a.symbol: a.delisted for a in u.assets if a.delisted is not None}
    f = m.freshness(day, delisted=delisted)
    held: set[str] = set()
    try:
        held = set(book_context(state, day).valuation.units().index)
    except DataError:
        pass
    sync = m.provenance.get("sync") or {}
    src = _sources(m)
    rows = []
    for s, r in f.iterrows():
        sy = (sync.get(s) or [{}])[0]
        rows.append({"symbol": s, "calendar": m.calendars.get(s), "source": sy.get("source") or src.get(s) or m.label,
                     "first_bar": _day(r["first"]), "last_bar": _day(r["last"]), "expected_bar": _day(r["expected"]),
                     "status": r["status"], "age_days": None if pd.isna(r["age_days"]) else int(r["age_days"]),
                     "missed_bars": None if pd.isna(r["missed_bars"]) else int(r["missed_bars"]),
                     "held": s in held, "fetched_at": sy.get("fetched_at"), "last_final": sy.get("last_final")})
    rows.sort(key=lambda x: (not x["held"], x["status"] == "fresh", x["symbol"]))
    return json_safe({"asof": str(day.date()), "market": m.label, "simulated": bool(m.simulated),
                      "units": {"age_days": "calendar days from the last bar to asof",
                                "missed_bars": "bars of the symbol's own calendar after its last bar"},
                      "rule": "fresh = the last price is on the last bar its calendar should have on or before asof "
                              "(asof for 24/7 assets, the last XNYS session for equities); stale prices are carried "
                              "with their age, never dropped",
                      "symbols": rows}, note=False)


def _sources(m) -> dict[str, str]:
    """Primary source per symbol where the market's provenance names one."""
    out: dict[str, str] = {}
    prov = m.provenance or {}
    for key in ("primary", "sources", "chosen"):
        v = prov.get(key)
        if isinstance(v, dict):
            for s, x in v.items():
                if isinstance(x, (list, tuple)):
                    x = ", ".join(str(i) for i in x)
                out[str(s)] = x if isinstance(x, str) else json.dumps(x, default=str)[:120]
    return out


# ----------------------------------------------------------------------------- orders and log
def lists_view(state: ServiceState, status: str | None = None) -> dict:
    from ..rebalance.store import OrderStore

    with state.gate.read() as bs:
        df = OrderStore(bs).lists(status)
        proposers = _proposers(bs)
    rows = []
    for r in df.to_dict("records"):
        r["proposed_by"] = proposers.get(r["list_id"])
        rows.append(r)
    return {"units": {"nav": "book currency at the list's cut-off"}, "lists": json_safe(rows, note=False)}


def _proposers(bs) -> dict[str, str | None]:
    rows = bs.con.execute("SELECT list_id, actor FROM compliance_log WHERE event = 'propose'").fetchall()
    return {lid: actor for lid, actor in rows}


def proposer_of(bs, list_id: str) -> str | None:
    r = bs.con.execute("SELECT actor FROM compliance_log WHERE event = 'propose' AND list_id = ? ORDER BY seq DESC "
                       "LIMIT 1", [list_id]).fetchall()
    return r[0][0] if r else None


def list_view(state: ServiceState, list_id: str) -> dict:
    """One order list: its orders, every warn/block, overrides, who proposed and acted."""
    from ..compliance.workflow import recorded_results
    from ..rebalance.store import OrderStore

    with state.gate.read() as bs:
        os_ = OrderStore(bs)
        try:
            lst = os_.get(list_id)
        except DataError as exc:
            raise LookupError(str(exc)) from None
        orders = os_.orders(list_id)
        results, overrides = recorded_results(bs, list_id)
        proposer = proposer_of(bs, list_id)
        events = bs.con.execute("SELECT seq, logged_at, event, actor, status FROM compliance_log WHERE list_id = ? AND "
                                "event NOT IN ('check', 'result') ORDER BY seq", [list_id]).fetchall()
    blocks = [r for r in results if r.status == "block"]
    open_blocks = [r for r in blocks if not any(o.covers(r) for o in overrides)]
    out = {k: v for k, v in lst.items() if k != "payload"}
    orders = orders.copy()
    for c in ("price_date", "trade_date", "session", "settle_date"):
        if c in orders.columns:
            orders[c] = pd.to_datetime(orders[c]).dt.strftime("%Y-%m-%d")
    out.update(payload=lst["payload"], proposed_by=proposer, orders=_records(orders),
               results=[r.to_dict() for r in results], overrides=[o.__dict__ for o in overrides],
               open_blocks=len(open_blocks),
               events=[{"seq": s, "logged_at": f"{pd.Timestamp(t):%Y-%m-%d %H:%M:%S}", "event": e, "actor": a,
                        "status": st} for s, t, e, a, st in events],
               units={"quantity": "units of the asset", "price": "quote currency per unit",
                      "notional": "quote currency (USDT at par with USD)", "est_*": "book currency",
                      "nav": "book currency"})
    return json_safe(out, note=False)


def orders_csv(state: ServiceState, list_id: str) -> str:
    from ..rebalance.orders import ORDER_FIELDS
    from ..rebalance.store import OrderStore

    with state.gate.read() as bs:
        os_ = OrderStore(bs)
        try:
            os_.get(list_id)
        except DataError as exc:
            raise LookupError(str(exc)) from None
        o = os_.orders(list_id)
    cols = [c for c in ORDER_FIELDS if c in o.columns] + ["status", "filled_quantity", "avg_price", "fees"]
    o = o[cols].copy()
    for c in ("price_date", "trade_date", "session", "settle_date"):
        if c in o.columns:
            o[c] = pd.to_datetime(o[c]).dt.strftime("%Y-%m-%d")
    return o.to_csv(index=False, float_format="%.10g")


def log_view(state: ServiceState, since=None, list_id: str | None = None, event: str | None = None,
             limit: int = 200, offset: int = 0) -> dict:
    from ..compliance.log import EVENTS, ComplianceLog

    if event is not None and event not in EVENTS:
        raise DataError(f"event: one of {', '.join(EVENTS)}, got {event!r}")
    since_ts = parse_day(since, "since") if since is not None else None
    with state.gate.read() as bs:
        log = ComplianceLog(bs)
        df = log.entries(since=since_ts, list_id=list_id, event=event)
        seq, head = log.head()
    total = len(df)
    df = df.iloc[::-1].iloc[offset: offset + limit]  # newest first
    rows = []
    for r in df.to_dict("records"):
        d = r.get("detail")
        try:
            r["detail"] = json.loads(d) if isinstance(d, str) else d
        except ValueError:
            pass
        r["logged_at"] = str(r["logged_at"])
        rows.append(r)
    return json_safe({"head": {"seq": seq, "hash": head}, "total": total, "offset": offset, "limit": limit,
                      "order": "newest first", "time": "UTC", "entries": rows}, note=False)


def verify_view(state: ServiceState, head: str | None = None) -> dict:
    from ..compliance.log import ComplianceLog

    with state.gate.read() as bs:
        ok, msg, n = ComplianceLog(bs).verify(head)
        lok, lmsg, ln = bs.verify()
    return {"compliance_log": {"ok": ok, "problem": msg, "entries": n},
            "ledger": {"ok": lok, "problem": lmsg, "entries": ln}}


def _stale_rows(v) -> list[dict]:
    """Prices not from the NAV date: symbol, price date (YYYY-MM-DD), ages, status."""
    st = v.stale()
    if not len(st):
        return []
    df = st.drop(columns=["price"], errors="ignore").copy()
    for c in ("date", "expected"):
        if c in df.columns:
            df[c] = pd.to_datetime(df[c]).dt.strftime("%Y-%m-%d")
    return _records(df, "symbol")


def overview_view(state: ServiceState, asof=None) -> dict[str, Any]:
    """The morning page: NAV and P&L, exposure by layer, risk shares against budgets,
    breaches, stale prices, and the latest run's caveats."""
    ctx = book_context(state, asof)
    v = ctx.valuation
    out: dict[str, Any] = {"asof": str(ctx.day.date()), "cutoff": v.cutoff, "cutoff_rule": v.rule,
                           "currency": v.currency, "nav": v.nav, "invested": v.invested, "cash": v.cash_total,
                           "market": ctx.market.label, "simulated": bool(ctx.market.simulated),
                           "book_state": ctx.state.to_dict(), "pnl": pnl_view(ctx, state),
                           "exposure_layer": exposure_table(ctx, state, "layer"),
                           "exposure_sleeve": exposure_table(ctx, state, "sleeve"),
                           "stale": _stale_rows(v), "notes": list(v.notes)}
    for key, fn in (("budgets", budgets_view), ("breaches", breaches_view)):
        try:
            out[key] = fn(state, ctx.day)
        except DataError as exc:
            out[key] = {"error": str(exc)}
    return json_safe(out, note=False)
