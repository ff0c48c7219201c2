"""The private sleeve of a run: how it enters the job, and its tables for results.json.

How private positions enter a run (the strategy's ``private:`` file, docs/private.md):

* The backtest simulates the **liquid book** only (the allocator's, on market prices). The
  private positions are a **sleeve held beside it**: each bought on its acquisition date at its
  entry mark with money paid in from outside the liquid book (a commitment, not the
  allocator's cash), never traded by the allocator, never rebalanced.
* The sleeve is valued on every date of the run by :func:`computefolio.private.value_sleeve`:
  marks known by that day under the file's NAV policy (``last_mark`` or ``roll_forward``),
  the market price once an asset lists, a token grant at the token's price. The book's NAV is
  liquid + private; the headline metrics remain the liquid book's (a return series made of
  marks would be smoothed: the sleeve's risk is in the risk report instead).
* The risk report (VaR, contributions, stress, liquidity) is of the **whole book** on the
  last date: the liquid weights scaled to the total NAV plus the sleeve's, the marked
  positions entering the covariance through their stand-in returns (unsmoothed or proxy
  exposure, never smoothed marks) and the liquidity ladder through their lock-ups, vesting
  and gates.

:func:`private_step` does the above; :func:`private_tables` builds the report's "Private and
locked" section; :func:`private_caveats` says what a reader must know (mark ages, how risk
was made).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..report import column, quantity, table


@dataclass
class PrivateRun:
    """What the private step produced (see the module docstring)."""

    book: object
    sleeve: object
    risk: object
    access: dict
    weights: pd.Series          # the whole book's weights on the last date (fractions of total NAV)
    liquid: pd.Series           # liquid book value per date (currency)
    nav: pd.Series              # liquid + private per date (currency)
    asof: pd.Timestamp
    file: str
    market: object = None       # the market up to the as-of date (ADV of listed and token positions)
    notes: list = field(default_factory=list)

    @property
    def private_value(self) -> float:
        return float(self.sleeve.total().iloc[-1])

    @property
    def share(self) -> float:
        """Private positions valued by marks, fraction of the total NAV on the last date."""
        v = self.marked_values()
        return float(v.sum() / self.nav.iloc[-1]) if self.nav.iloc[-1] else float("nan")

    def marked_values(self) -> pd.Series:
        """Value per symbol of the sleeve's positions valued by marks on the last date."""
        last = self.sleeve.methods.iloc[-1]
        bys = self.sleeve.by_symbol().iloc[-1]
        return bys[[s for s in bys.index if last.get(s) != "market"]]

    def locked_value(self, day=None) -> float:
        d = self.asof if day is None else pd.Timestamp(day)
        snap = self.sleeve.snapshot(self.asof)
        if day is None:
            return float(snap["locked_value"].sum())
        tot = 0.0
        for _, r in snap.iterrows():
            p = self.book.position(r["id"])
            tot += float(r["value"]) * (1.0 - p.terms.unlocked_fraction(p.quantity, d))
        return tot


def private_step(strategy, universe, market, result, wlast: pd.Series, *, basis: str, asof) -> PrivateRun | None:
    """Value the strategy's private sleeve beside the backtest's liquid book (module docstring).

    Returns None when the strategy has no ``private`` file.
    """
    if not getattr(strategy, "private", None):
        return None
    from ..private import access_terms, load_private_book, private_risk, value_sleeve

    path = strategy.resolve(strategy.private, "private")
    book = load_private_book(path, universe=universe)
    asof = pd.Timestamp(asof).normalize()
    days = result.equity.index[result.equity.index <= asof]
    hist = market.between(None, asof)
    sleeve = value_sleeve(book, hist, universe, days)
    liquid = result.equity.reindex(days).astype(float)
    nav = liquid + sleeve.total()
    total = float(nav.iloc[-1])
    w = (wlast * float(liquid.iloc[-1]) / total) if total else wlast * np.nan
    priv = sleeve.by_symbol().iloc[-1] / total
    priv = priv[priv != 0]
    weights = w.add(priv, fill_value=0.0)
    pr = private_risk(sleeve, hist, universe, basis=basis, asof=asof, lookback=strategy.risk.window)
    other = (wlast * float(liquid.iloc[-1])).reindex(priv.index).dropna()
    access = access_terms(sleeve, asof, other_values=other, universe=universe)
    return PrivateRun(book=book, sleeve=sleeve, risk=pr, access=access, weights=weights, liquid=liquid, nav=nav,
                      asof=days[-1], file=str(path), market=hist, notes=list(sleeve.notes))


def _px(v) -> str | None:
    """A per-unit price or quantity as text for display (the tables keep the number too)."""
    if v is None or not np.isfinite(v):
        return None
    a = abs(float(v))
    return f"{v:,.0f}" if a >= 1000 else (f"{v:,.2f}" if a >= 1 else f"{v:.4g}")


def _limit_rows(run: PrivateRun, mandate) -> list[dict]:
    nav = float(run.nav.iloc[-1])
    share = run.share
    locked = run.locked_value() / nav if nav else float("nan")
    snap = run.sleeve.snapshot(run.asof)
    marked = snap[snap["method"] != "market"]
    oldest = float(marked["age_days"].max()) if len(marked) else None
    who = marked.loc[marked["age_days"].idxmax(), "symbol"] if len(marked) else ""
    lim = {k: getattr(mandate, k, None) if mandate is not None else None
           for k in ("private_max", "locked_max", "mark_age_max_days")}

    def st(v, hi):
        if hi is None or v is None:
            return "no limit"
        return "breach" if v > hi + 1e-12 else "pass"

    return [
        {"rule": "private_max", "detail": "positions valued by marks, fraction of NAV", "value": share,
         "limit": lim["private_max"], "unit": "fraction", "status": st(share, lim["private_max"])},
        {"rule": "locked_max", "detail": "locked value today (lock-ups, vesting), fraction of NAV", "value": locked,
         "limit": lim["locked_max"], "unit": "fraction", "status": st(locked, lim["locked_max"])},
        {"rule": "mark_age_max_days", "detail": f"oldest mark in use ({who})" if who else "no position valued by a mark",
         "value": oldest, "limit": lim["mark_age_max_days"], "unit": "days",
         "status": st(oldest, lim["mark_age_max_days"])},
    ]


def private_tables(run: PrivateRun, *, strategy, universe, mandate, risk: dict, btxt: str) -> dict:
    """The "Private and locked" section of results.json (tables with units; series for charts)."""
    from ..private import POLICY_TEXT, locked_value_by_month
    from ..risk.liquidity import liquidity

    cur = strategy.currency
    sv = run.sleeve
    asof = run.asof
    nav = float(run.nav.iloc[-1])
    snap = sv.snapshot(asof)
    paid = float(sv.invested().iloc[-1])
    pv = run.private_value
    facts = {
        "file": run.file.rsplit("/", 1)[-1],
        "NAV policy between marks": f"{sv.policy}: {POLICY_TEXT[sv.policy]}",
        "how the sleeve enters the run": "held beside the liquid book: bought at entry marks with money paid in, "
                                         "never traded by the allocator; the headline metrics are the liquid book's, "
                                         "the risk report is of the whole book",
        "as of": str(asof.date()),
        "private sleeve value": f"{pv:,.0f} {cur} ({pv / nav:.2%} of NAV {nav:,.0f} {cur})" if nav else "n/a",
        "positions valued by marks": f"{run.share:.2%} of NAV",
        "locked today": f"{run.locked_value():,.0f} {cur} ({run.locked_value() / nav:.2%} of NAV)" if nav else "n/a",
        "paid in, and gain since": f"{paid:,.0f} {cur} paid in; value - paid in = {pv - paid:,.0f} {cur} "
                                   "(token grants paid nothing)",
    }
    pos_rows = []
    for _, r in snap.iterrows():
        pos_rows.append({"id": r["id"], "symbol": r["symbol"], "name": r["name"], "kind": r["kind"],
                         "quantity": r["quantity"], "quantity_shown": f"{r['quantity']:,.6g}", "unit": r["unit"],
                         "price": r["price"], "price_shown": _px(r["price"]), "value": r["value"],
                         "weight": r["value"] / nav if nav else None, "method": r["method"], "source": r["source"],
                         "mark_date": None if pd.isna(r["mark_date"]) else pd.Timestamp(r["mark_date"]).date(),
                         "age_days": r["age_days"],
                         "locked_value": r["locked_value"], "terms": r["terms"]})
    positions = table(f"Private positions on {asof.date()}", [
        column("id", "Position"), column("name", "Name"), column("kind", "Kind"), column("quantity", "Quantity", "count"),
        column("quantity_shown", "Quantity"), column("unit", "Unit"), column("price", "Price", cur),
        column("price_shown", f"Price ({cur} per unit)"), column("value", "Value", cur),
        column("weight", "Share of NAV", "fraction"), column("method", "Valued by"), column("source", "Mark source"),
        column("mark_date", "Mark date", "date"), column("age_days", "Age of mark or price", "days"),
        column("locked_value", "Locked", cur), column("terms", "Terms")], pos_rows,
        note=f"valued by {sv.policy} between marks; mark age in calendar days from the mark's valuation date; "
             "'market' = its market price (listed assets, tokens); token grants at the token's price, no discount "
             "for lack of marketability (the lock shows in liquidity)")
    mk = sv.marks.frame()
    mk = mk[mk["reported"] <= asof]
    size = snap.groupby("symbol")["value"].sum()  # largest positions' marks first, then by date
    mk = mk.assign(_o=-mk["symbol"].map(size).fillna(0.0)).sort_values(["_o", "symbol", "date"]).drop(columns="_o")
    marks = table("Marks with their provenance", [
        column("symbol", "Symbol"), column("date", "Valuation date", "date"), column("reported", "Known from", "date"),
        column("price", "Price", cur), column("price_shown", f"Price ({cur} per unit)"), column("source", "Source"),
        column("reference", "Reference"), column("note", "Derivation and caveats")],
        [{"symbol": r.symbol, "date": r.date.date(), "reported": r.reported.date(), "price": r.price,
          "price_shown": _px(r.price), "source": r.source, "reference": r.reference, "note": r.note}
         for r in mk.itertuples()],
        note=f"price in {cur} per unit; a mark is used from the day it is known, its age counts from its valuation "
             "date; a position's cost on its acquisition day is its first mark when no other is given")
    tu = sv.trueups()
    trueups = table("True-ups: the policy's estimate when a new mark (or the listing) arrived", [
        column("symbol", "Symbol"), column("date", "Date", "date"), column("kind", "Kind"),
        column("mark_date", "Mark date", "date"), column("source", "Source"), column("previous", "Estimate", cur),
        column("new", "New value", cur), column("trueup", "True-up", cur),
        column("previous_shown", f"Estimate ({cur} per unit)"), column("new_shown", f"New value ({cur} per unit)"),
        column("trueup_shown", f"True-up ({cur} per unit)"), column("trueup_pct", "True-up", "fraction")],
        [{"symbol": r.symbol, "date": r.date.date(), "kind": r.kind, "mark_date": r.mark_date.date(),
          "source": r.source, "previous": r.previous, "new": r.new, "trueup": r.trueup, "trueup_pct": r.trueup_pct,
          "previous_shown": _px(r.previous), "new_shown": _px(r.new), "trueup_shown": _px(r.trueup)}
         for r in tu.itertuples()],
        note="per unit; under roll_forward the estimate is the last mark rolled on the proxy basket, so the true-ups "
             "measure how well the basket tracked the marks; 'listing' compares the first market price with the last "
             "mark" + (" (on the simulated sample market the listed price level is simulated, so it need not be near "
                       "the offering price)" if (risk.get("meta") or {}).get("simulated") else ""))
    uns_rows = []
    for s, u in run.risk.unsmoothing.items():
        th = u.theta or []
        se = u.theta_se or []
        uns_rows.append({"symbol": s, "n": u.n, "frequency": u.frequency, "vol_observed": u.volatility_observed,
                         "rho": u.rho, "vol_geltner": u.volatility_geltner,
                         "theta": ", ".join(f"{t:.2f} ({e:.2f})" for t, e in zip(th, se)) if th else "",
                         "xi": u.xi, "xi_se": u.xi_se, "vol_glm": u.volatility_glm,
                         "covariance": run.risk.kinds.get(s, "market price" if s not in run.risk.methods else ""),
                         "notes": "; ".join(u.notes)})
    unsmoothing = table("Observed vs unsmoothed risk of the marks", [
        column("symbol", "Symbol"), column("n", "Mark returns", "count"), column("frequency", "Period"),
        column("vol_observed", "Observed vol", "fraction/yr"), column("rho", "Geltner rho", "ratio"),
        column("vol_geltner", "Geltner vol", "fraction/yr"), column("theta", "GLM theta (s.e.)"),
        column("xi", "Smoothing index xi", "ratio"), column("xi_se", "xi s.e.", "ratio"),
        column("vol_glm", "GLM vol", "fraction/yr"), column("covariance", "In the covariance"),
        column("notes", "Notes")], uns_rows,
        note="returns between period-end marks known on the as-of date, annualized with 4 periods a year; Geltner "
             "(1993) AR(1) with rho = lag-1 autocorrelation; Getmansky, Lo & Makarov (2004) MA(2) by maximum "
             "likelihood, theta normalised to sum to 1, xi = sum theta^2 (1 = no smoothing); the covariance never uses "
             "the smoothed returns")
    risk_in = table("How each marked position enters the risk model", [
        column("symbol", "Symbol"), column("kind", "Method"), column("how", "Daily returns used")],
        [{"symbol": s, "kind": run.risk.kinds.get(s, ""), "how": h} for s, h in run.risk.methods.items()],
        basis=btxt, note="positions at market prices (listed shares, tokens) use their own returns")
    # unlock calendar: locked value by month, per position, at today's values
    vals = snap.set_index("id")["value"]
    qty = snap.set_index("id")["quantity"]
    terms = {p.id: p.terms for p in sv.book.positions}
    lv = locked_value_by_month(vals, terms, qty, asof, months=12)
    lv = lv.loc[:, (lv != 0).any()] if len(lv.columns) else lv
    cal_rows = [{"month": d.date(), **{c: float(lv.at[d, c]) for c in lv.columns}, "total": float(lv.loc[d].sum()),
                 "share": float(lv.loc[d].sum() / nav) if nav else None} for d in lv.index]
    calendar = table("Locked value by month-end", [column("month", "Month-end", "date")]
                     + [column(c, c, cur) for c in lv.columns] + [column("total", "Total locked", cur),
                                                                  column("share", "Share of NAV", "fraction")],
                     cal_rows, note=f"at today's values ({asof.date()}), so only the schedules move; a position "
                                    "is sellable on its unlock date")
    oh_rows = []
    for t, ts in sv.book.tokens.items():
        oh = ts.overhang(asof)
        oh_rows.append({"token": t, "circulating": ts.circulating_at(asof), "d30": oh[30], "d90": oh[90],
                        "d180": oh[180], "source": ts.source})
    overhang = table("Token overhang: supply unlocking, share of circulating supply", [
        column("token", "Token"), column("circulating", "Circulating supply", "count"),
        column("d30", "Next 30 days", "fraction"), column("d90", "Next 90 days", "fraction"),
        column("d180", "Next 180 days", "fraction"), column("source", "Source")], oh_rows,
        note="all holders' scheduled unlocks of the network (not only ours), over circulating supply on the as-of date")
    # ladders: the whole book (risk report) and the sleeve alone, per position
    liq = (risk.get("liquidity") or {})
    lad = liq.get("ladder") or []
    ladder = table("Liquidity ladder of the whole book (calendar days)", [
        column("horizon", "Horizon"), column("market", "Market absorbs", cur), column("unlocked", "Unlocked", cur),
        column("liquid", "Liquid (smaller of the two)", cur), column("liquid_share", "Liquid share", "fraction")],
        [{"horizon": f"{r['horizon_days']} day{'s' if r['horizon_days'] != 1 else ''}", "market": r["market"],
          "unlocked": r["unlocked"], "liquid": r["liquid"], "liquid_share": r["liquid_share"]} for r in lad],
        note=f"on today's AUM of {strategy.capital:,.0f} {cur}, selling at {strategy.risk.participation:.0%} of ADV; "
             + (liq.get("ladder_rule") or ""))
    pw = (snap.groupby("symbol")["value"].sum() / nav) if nav else snap.groupby("symbol")["value"].sum() * np.nan
    pw = pw[pw > 0]
    pl_rows = []
    rep = None
    if run.market is not None and len(pw):
        rep = liquidity(pw, run.market, universe, capital=nav, participation=strategy.risk.participation,
                        asof=asof, access=run.access)
    if rep is not None:
        lp = rep.ladder_positions
        for s in lp.index:
            ac = run.access.get(s)
            chan = ("market" if ac is None or ac.market else ("fund gate" if ac.redeem is not None else
                                                               ac.note.split(" (")[0]))
            pl_rows.append({"symbol": s, "value": float(pw[s] * nav), **{f"d{h}": float(lp.at[s, h]) for h in lp.columns},
                            "note": chan})
        lad_cols = [column("symbol", "Symbol"), column("value", "Value", cur)] + \
                   [column(f"d{h}", f"Liquid in {h} d", cur) for h in lp.columns] + [column("note", "Sold through")]
    else:
        lad_cols = [column("symbol", "Symbol")]
    ladder_private = table("Private sleeve: liquid value by horizon", lad_cols, pl_rows,
                           note="the sleeve's positions alone at their full value (a listed or token position "
                                "sells at the participation rate once unlocked; a fund redeems through its gate; a "
                                "private stake without a market is not liquid at any horizon)")
    limits = table("Private-markets limits of the mandate", [
        column("rule", "Rule"), column("detail", "Detail"), column("value", "Value"), column("limit", "Limit"),
        column("status", "Status")],
        [{**r, "value": (f"{r['value']:.2%}" if r["unit"] == "fraction" else f"{r['value']:.0f} days")
          if r["value"] is not None else "n/a",
          "limit": (f"{r['limit']:.2%}" if r["unit"] == "fraction" else f"{r['limit']:.0f} days")
          if r["limit"] is not None else "none"} for r in _limit_rows(run, mandate)],
        note="on the last date, of the whole NAV (liquid + private); the same checks run before trades "
             "(computefolio compliance)")
    bys = sv.by_symbol()
    series = {"unit": cur, "basis": btxt, "index": [d.strftime("%Y-%m-%d") for d in bys.index],
              "columns": {str(c): [float(f"{v:.7g}") for v in bys[c].to_numpy(dtype=float)] for c in bys.columns}}
    return {
        "facts": facts, "positions": positions, "marks": marks, "trueups": trueups, "unsmoothing": unsmoothing,
        "risk_inputs": risk_in, "unlock_calendar": calendar, "overhang": overhang, "ladder": ladder,
        "ladder_private": ladder_private, "limits": limits,
        "nav": {"liquid": quantity(float(run.liquid.iloc[-1]), cur), "private": quantity(pv, cur),
                "total": quantity(nav, cur), "share_marked": quantity(run.share, "fraction")},
        "series": {"value_by_symbol": series},
        "notes": list(run.notes),
    }


def private_caveats(caveats, run: PrivateRun, mandate, stale_days: int = 5) -> None:
    """What a reader must know about the sleeve: marks and their ages, how its risk was made,
    market prices (tokens, listed shares) older than ``stale_days``."""
    snap = run.sleeve.snapshot(run.asof)
    old_px = snap[(snap["method"] == "market") & (snap["age_days"] > stale_days)]
    if len(old_px):
        caveats.add("warning", "stale_price", "private sleeve held at stale market prices on "
                    f"{run.asof.date()}: " + ", ".join(f"{r.symbol} ({int(r.age_days)} days old)"
                                                        for r in old_px.itertuples()), list(old_px["symbol"]))
    marked = snap[snap["method"] != "market"]
    if len(marked):
        parts = [f"{r.symbol} {r.source} of {r.mark_date.date()} ({int(r.age_days)} days, {r.method})"
                 for r in marked.itertuples()]
        caveats.add("note", "private_mark", f"{len(marked)} private position(s), {run.share:.1%} of NAV, are valued by "
                                            f"marks ({run.sleeve.policy} between marks): " + "; ".join(parts),
                    list(marked["symbol"]))
        lim = getattr(mandate, "mark_age_max_days", None) if mandate is not None else None
        if lim is not None:
            old = marked[marked["age_days"] > lim]
            if len(old):
                caveats.add("warning", "private_mark", f"mark(s) older than the mandate's {lim} days: " + ", ".join(
                    f"{r.symbol} ({int(r.age_days)} days)" for r in old.itertuples()), list(old["symbol"]))
    if run.risk.methods:
        caveats.add("note", "unsmoothing", "risk of positions valued by marks (never their smoothed returns): "
                    + "; ".join(f"{s}: {h}" for s, h in run.risk.methods.items()), list(run.risk.methods))
    for r in _limit_rows(run, mandate):
        if r["status"] == "breach":
            v = f"{r['value']:.2%}" if r["unit"] == "fraction" else f"{r['value']:.0f} days"
            lim = f"{r['limit']:.2%}" if r["unit"] == "fraction" else f"{r['limit']:.0f} days"
            caveats.add("warning", "mandate_breach", f"private markets: {r['rule']} {v} above the limit {lim} on "
                                                     f"{run.asof.date()} ({r['detail']})")
    for n in run.notes:
        caveats.add("note", "private_mark", n)
    ill = [p.id for p in run.book.positions if "illustrative" in (p.name or "").lower()]
    if ill:
        caveats.add("note", "private_mark", f"private positions marked illustrative (example numbers, not records): "
                                            f"{', '.join(ill)}")
