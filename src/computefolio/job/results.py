"""The results of a run as tables and series (the ``results.json`` layout), built in one place.

Every table is made with :func:`computefolio.report.table` and carries its unit and
basis; the report and the terminal read these tables, never the library objects.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd

from ..data.market import MarketData
from ..report import column, quantity, table
from ..strategy import Strategy
from ..universe import Universe


def _r7(v) -> float | None:
    """A float rounded to 7 significant digits for chart series (None for NaN)."""
    if v is None:
        return None
    f = float(v)
    return float(f"{f:.7g}") if math.isfinite(f) else None


def _series(frame: pd.DataFrame | pd.Series, unit: str, basis: str, **extra) -> dict:
    """A chart series in the results layout (dates as ISO strings, values rounded)."""
    df = frame.to_frame() if isinstance(frame, pd.Series) else frame
    out = {"unit": unit, "basis": basis, "index": [d.strftime("%Y-%m-%d") for d in df.index],
           "columns": {str(c): [_r7(v) for v in df[c].to_numpy(dtype=float)] for c in df.columns}}
    out.update(extra)
    return out


_HEADLINE = [
    ("total_return", "Total return", "fraction"), ("cagr", "CAGR", "fraction/yr"),
    ("volatility", "Volatility", "fraction/yr"), ("sharpe", "Sharpe", "ratio"), ("sortino", "Sortino", "ratio"),
    ("max_drawdown", "Max drawdown", "fraction"), ("max_drawdown_days", "Longest drawdown", "days"),
    ("calmar", "Calmar", "ratio"), ("beta", "Beta to QQQ", "ratio"), ("correlation", "Corr. to QQQ", "ratio"),
    ("final_value", "Final value", None),
]


def headline_table(books: dict, metrics_by_book: dict, strategy: Strategy, basis_txt: str, ref: str | None) -> dict:
    cur = strategy.currency
    cols = [column("book", "Book")] + [column(k, lab if not (k in ("beta", "correlation") and ref)
                                               else lab.replace("QQQ", ref), u or cur) for k, lab, u in _HEADLINE]
    rows = []
    for name, res in books.items():
        m = metrics_by_book[name]
        row = {"book": name, **{k: m.get(k) for k, _, _ in _HEADLINE if k != "final_value"}}
        row["final_value"] = float(res.equity.iloc[-1])
        rows.append(row)
    return table("Strategy and benchmarks", cols, rows, basis=basis_txt,
                 note=(f"net of all trading costs for the strategy; benchmarks gross of costs; Sharpe and Sortino "
                       f"over a risk-free rate of {strategy.cash_rate:.2%}/yr (per period = rate / periods per "
                       f"year); drawdown duration in calendar days; beta and correlation of per-period returns"))


def mandate_table(mandate, w: pd.Series, universe: Universe, market: MarketData, asof, capital: float) -> dict:
    """Each mandate rule on the final (drifted) book: the amount by which it is broken and its status."""
    cols = [column("rule", "Rule"), column("detail", "Detail"), column("breach", "Breach", "fraction"),
            column("status", "Status")]
    if mandate is None:
        return table("Mandate rules", cols, [], note="no mandate file")
    from ..risk.liquidity import native_adv

    # liquidity rules compare positions with ADV in currency: check them on the book's
    # value today, not on the mandate's starting capital
    mandate = mandate.model_copy(update={"capital": float(capital)})
    syms = list(w.index)
    fixed = mandate.fixed_zero(syms, universe=universe, date=asof)
    rows = [{"rule": f"held at zero: {s}", "detail": why, "breach": abs(float(w[s])),
             "status": "breach" if abs(w[s]) > 1e-7 else "pass"} for s, why in fixed.items()]
    keep = [s for s in syms if s not in fixed]
    adv = None
    novol = [s for s in keep if not market.has_volume(s)]
    if mandate.liquidity is not None and len(novol) < len(keep):
        adv = native_adv(market, 20, asof).reindex(keep)
        adv[novol] = 1e30  # no volume in the source: the liquidity rules are not checked (row below)
    cons = mandate.constraints(keep, universe=universe, date=asof, adv=adv, check=False)
    x = w.reindex(keep).to_numpy(dtype=float)
    for r in cons.rules:
        v = r.violation(x)
        status = "pass" if v <= 1e-7 else "breach"
        detail = r.detail
        if r.name == "budget":
            # the allocator invests exactly this fraction; less (more cash, e.g. after the
            # volatility target) is within the mandate, more is a breach of the cash floor
            inv = float(x.sum())
            lim = float(r.b[0])
            v = max(inv - lim, 0.0)
            status = "pass" if v <= 1e-7 else "breach"
            detail = f"invested {inv:.2%} of capital, at most {lim:.2%} (cash floor)"
        if r.name == "liquidity.max_adv_fraction":
            rows.append({"rule": r.name, "detail": detail + "; applies to the trades of a rebalance, checked by "
                         "the allocator then", "breach": None, "status": "n/a"})
            continue
        rows.append({"rule": r.name, "detail": detail, "breach": v, "status": status})
    for sk in cons.skipped:
        rows.append({"rule": "not checked", "detail": sk, "breach": None, "status": "n/a"})
    if mandate.liquidity is not None and novol:
        rows.append({"rule": "not checked", "detail": f"liquidity rules for {', '.join(novol)} (no volume data "
                     "in the source)", "breach": None, "status": "n/a"})
    nb = sum(1 for r in rows if r["status"] == "breach")
    return table(f"Mandate {getattr(mandate, 'name', '')}: {len(rows)} rules, {nb} breached on the final book", cols,
                 rows, note=f"final weights after drift since the last rebalance, book value {capital:,.0f}; "
                            "breach = how far the rule is exceeded, fraction of the book (0 when it holds)")


def _weights_by_layer(result, universe: Universe) -> pd.DataFrame:
    """Daily look-through weights by layer, each month with the classification in force at its start."""
    W = result.weights.fillna(0.0)
    parts = []
    for _, chunk in W.groupby(W.index.to_period("M")):
        m = universe.membership("layer", date=chunk.index[0], symbols=list(W.columns))
        parts.append(pd.DataFrame(chunk.to_numpy() @ m.to_numpy(), index=chunk.index, columns=m.columns))
    out = pd.concat(parts)
    out = out.loc[:, (out.abs() > 1e-9).any()]
    out.columns = [universe.group_name("layer", c) for c in out.columns]
    out["cash"] = 1.0 - W.sum(axis=1)
    return out


def _stress_tables(risk: dict, universe: Universe, cur: str, btxt: str) -> dict:
    hist_rows, hyp_rows, layer_rows, proxy_rows = [], [], [], []
    layers = set()
    for s in risk.get("stress") or []:
        title = s.get("title") or s.get("name")
        if "error" in s:
            row = {"scenario": title, "pnl_pct": None, "pnl": None, "note": f"not run: {s['error']}"}
            (hist_rows if s.get("kind") == "historical" else hyp_rows).append(
                {**row, "window": "", "periods": None})
            continue
        n_proxy = len(s.get("proxies") or {})
        if s["kind"] == "historical":
            hist_rows.append({"scenario": title, "window": f"{s.get('start')} to {s.get('end')}",
                              "periods": s.get("periods"), "pnl_pct": s["pnl_pct"], "pnl": s["pnl"],
                              "note": f"{n_proxy} holdings used a proxy" if n_proxy else ""})
        else:
            sr = s.get("stressed_risk") or {}
            hyp_rows.append({"scenario": title, "window": "", "periods": None, "pnl_pct": s["pnl_pct"],
                             "pnl": s["pnl"], "note": s.get("description", "")[:160]
                             + (f" (stressed volatility {sr['volatility']:.1%})" if sr.get("volatility") else "")})
        by_layer = {k: v.get("pnl_pct") for k, v in (s.get("by_layer") or {}).items()}
        layers |= set(by_layer)
        layer_rows.append({"scenario": title, **by_layer})
        for sym, how in (s.get("proxies") or {}).items():
            proxy_rows.append({"scenario": title, "symbol": sym, "proxy": str(how)})
    order = [g for g in universe.layers if g in layers] + sorted(layers - set(universe.layers))
    cols = [column("scenario", "Scenario"), column("window", "Window"), column("periods", "Periods", "periods"),
            column("pnl_pct", "P&L", "fraction"), column("pnl", "P&L", cur), column("note", "Note")]
    note = "today's weights; P&L as a fraction of the book's value and in currency; losses negative"
    return {
        "historical": table("Historical scenarios", cols, hist_rows, basis=btxt,
                            note=note + "; window = cumulative return over (start, end] on the basis"),
        "hypothetical": table("Hypothetical scenarios", [c for c in cols if c["key"] not in ("window", "periods")],
                              hyp_rows, note=note + "; shocks per layer, theme, sleeve or asset (scenarios.yaml)"),
        "by_layer": table("Stress P&L by layer", [column("scenario", "Scenario")]
                          + [column(g, universe.group_name("layer", g), "fraction") for g in order],
                          layer_rows, note="P&L by layer, fraction of the book's value (weighted membership)"),
        "proxies": table("Proxies used in historical scenarios", [column("scenario", "Scenario"),
                                                                  column("symbol", "Symbol"), column("proxy", "Proxy")],
                         proxy_rows, note="assets without data in a window stand in by these proxies"),
    }


def freshness_table(market: MarketData, universe: Universe, asof, held: pd.Series, delisted=None,
                    stale_days: int = 5) -> dict:  # noqa: D417
    """Each priced symbol's last price on the as-of date: fresh, stale (with its age) or delisted.

    Rows: every symbol whose last price is not fresh, and every held symbol; ``held`` are
    today's weights (fractions of the book).
    """
    fr = market.freshness(asof, delisted)
    rows = []
    for s, r in fr.iterrows():
        w = float(held.get(s, 0.0))
        if r["status"] == "fresh" and not w:
            continue
        if r["status"] == "no data":
            continue
        src = ", ".join(market.provenance.get("sources", {}).get(s, []) if isinstance(
            market.provenance.get("sources", {}).get(s), list) else [])
        rows.append({"symbol": s, "status": r["status"], "last": r["last"].date() if pd.notna(r["last"]) else None,
                     "age_days": None if pd.isna(r["age_days"]) else int(r["age_days"]),
                     "missed_bars": None if pd.isna(r["missed_bars"]) else int(r["missed_bars"]),
                     "weight": w or None, "flag": "old" if r["status"] == "stale" and r["age_days"] > stale_days
                     else "", "source": src})
    rows.sort(key=lambda r: (r["status"] == "fresh", -(r["age_days"] or 0), r["symbol"]))
    return table(f"Price freshness on {pd.Timestamp(asof).date()}",
                 [column("symbol", "Symbol"), column("status", "Status"), column("last", "Last price", "date"),
                  column("age_days", "Age", "days"), column("missed_bars", "Missed bars", "count"),
                  column("weight", "Weight today", "fraction"), column("flag", "Flag"), column("source", "Source")],
                 rows, note=f"stale = the series stopped before the as-of date without a delisting: the position is "
                            f"held at its last price and not traded; flagged 'old' beyond {stale_days} days; fresh "
                            f"held positions listed too; age in calendar days, missed bars on the asset's own calendar")


def provenance_table(market: MarketData) -> dict:
    """Where each symbol's prices (and volume) came from: files or store sources, and for a
    synced store the source symbol, the last bar and when it was fetched."""
    prov = market.provenance or {}
    sync = prov.get("sync") or {}
    vsrc = prov.get("volume_sources") or {}
    srcs = prov.get("sources") or {}
    rows = []
    for s in market.symbols:
        seg = srcs.get(s)
        if isinstance(seg, list) and seg and isinstance(seg[0], (list, tuple)):
            price_src = ", ".join(sorted({str(x[0]) for x in seg}))  # store segments (source, first, last, rows)
        elif isinstance(seg, list):
            price_src = ", ".join(map(str, seg))
        else:
            price_src = market.label
        f = (sync.get(s) or [{}])[0]
        rows.append({"symbol": s, "prices": price_src, "volume": ", ".join(vsrc.get(s, [])),
                     "source_symbol": f.get("source_symbol"), "last_bar": f.get("last_bar"),
                     "final": None if not f else ("yes" if f.get("last_final") else "no (forming)"),
                     "fetched_at": f.get("fetched_at")})
    cols = [column("symbol", "Symbol"), column("prices", "Price source"), column("volume", "Volume source")]
    if sync:
        cols += [column("source_symbol", "Source symbol"), column("last_bar", "Last bar", "date"),
                 column("final", "Last bar final"), column("fetched_at", "Fetched (UTC)")]
    return table("Provenance by symbol", cols, rows,
                 note="price source per symbol (files or store sources); volume source where a volume plan takes it "
                      "from another file; for a synced store (computefolio data sync) the last fetch")


def collect_caveats(caveats, *, strategy: Strategy, market: MarketData, universe: Universe, vrep, result, risk: dict,
                    wlast: pd.Series, end, delisted=None, stale_days: int = 5) -> None:
    """Add to ``caveats`` everything of a run that changes a number or its meaning."""
    fr = market.freshness(end, delisted)
    held = [s for s in wlast.index if wlast[s] != 0]
    stale_held = [s for s in held if s in fr.index and fr.at[s, "status"] == "stale"]
    if stale_held:
        tot = float(wlast[stale_held].sum())
        old = [s for s in stale_held if fr.at[s, "age_days"] > stale_days]
        caveats.add("warning", "stale_price",
                    f"{len(stale_held)} position(s), {tot:.1%} of the book, are held at a stale price on {end.date()} "
                    "(their series stopped; not delisted): " + ", ".join(
                        f"{s} since {fr.at[s, 'last'].date()} ({int(fr.at[s, 'age_days'])} days)" for s in stale_held)
                    + (f"; older than {stale_days} days: {', '.join(old)}" if old else ""), stale_held)
    stale_other = [s for s in fr.index if fr.at[s, "status"] == "stale" and s not in stale_held]
    if stale_other:
        caveats.add("note", "stale_price", f"{len(stale_other)} other symbol(s) have no price on {end.date()} and were "
                                           f"not allocated to after their last price: " + ", ".join(
                                               f"{s} ({fr.at[s, 'last'].date()})" for s in stale_other), stale_other)
    events = [e for e in (getattr(result, "rebalances", None) or []) if e.get("stale")]
    if events:
        syms = sorted({s for e in events for s in e["stale"]})
        caveats.add("warning", "stale_price",
                    f"{len(events)} rebalance(s) could not trade stale positions and held them at their last price "
                    f"(first {pd.Timestamp(events[0]['date']).date()}, last {pd.Timestamp(events[-1]['date']).date()})",
                    syms)
    # volume
    liq = (risk.get("liquidity") or {}).get("positions") or {}
    novol = [s for s, r in liq.items() if "no volume" in str(r.get("note", ""))]
    if novol:
        w = float(wlast.reindex(novol).fillna(0).sum())
        caveats.add("warning", "missing_volume",
                    f"{len(novol)} position(s), {w:.1%} of the book, have no volume in any source: their liquidity "
                    f"is unknown (counted as not liquid) and the mandate's liquidity rules were not applied to them",
                    novol)
    info = market.adv_info(20, end)
    old_adv = [s for s in held if s in info.index and pd.notna(info.at[s, "age_days"]) and info.at[s, "age_days"] > 30]
    if old_adv:
        caveats.add("warning", "missing_volume",
                    f"ADV of {len(old_adv)} position(s) is older than 30 days on {end.date()} (no recent volume): "
                    + ", ".join(f"{s} {info.at[s, 'text'].replace('ADV over ', '')}" for s in old_adv[:8])
                    + (" ..." if len(old_adv) > 8 else ""), old_adv)
    seams = market.provenance.get("volume_scale") or {}
    if seams:
        rs = sorted(v["ratio"] for v in seams.values())
        first = next(iter(seams.values()))
        caveats.add("warning", "volume_scale",
                    f"the volume plan switches files where they disagree on scale for {len(seams)} symbol(s) "
                    f"(traded value of the later file / the earlier one: {rs[0]:.3g} to {rs[-1]:.3g}, median "
                    f"{rs[len(rs) // 2]:.3g}, e.g. {first['to']} vs {first['from']} from {first['seam']}): "
                    "ADV from the later file is on another scale (e.g. one venue's feed, not consolidated volume); "
                    "liquidity there is understated or overstated by that ratio", sorted(seams))
    # rules not applied
    skipped = {}
    for e in (getattr(result, "rebalances", None) or []):
        for sk in e.get("skipped_rules") or []:
            key = "liquidity (assets without ADV)" if sk.startswith("liquidity for") else \
                sk.split(":")[0].split(" (")[0]
            skipped.setdefault(key, []).append(pd.Timestamp(e["date"]).date())
    for rule, days in skipped.items():
        caveats.add("warning", "skipped_rule", f"mandate rule {rule} could not be applied in full at {len(days)} "
                                               f"rebalance(s) (first {days[0]}, last {days[-1]})")
    # stress
    for sc in risk.get("stress") or []:
        if "error" in sc:
            caveats.add("warning", "stress_proxy", f"stress {sc.get('title') or sc.get('name')}: not run ({sc['error']})")
            continue
        px = sc.get("proxies") or {}
        if px:
            caveats.add("warning", "stress_proxy", f"stress {sc.get('title') or sc['name']}: {len(px)} holding(s) "
                                                   f"use a proxy ({', '.join(f'{k}: {v}' for k, v in list(px.items())[:4])}"
                                                   + (" ..." if len(px) > 4 else "") + ")", list(px))
        if sc.get("source") == "recorded":
            why = ("the market is simulated" if market.simulated else
                   "the loaded market does not cover the window with real prices")
            caveats.add("note", "stress_recorded", f"stress {sc.get('title') or sc['name']}: {why}; replayed the "
                                                   "recorded real returns of its window (shipped with computefolio)")
        elif sc.get("source") == "market+recorded":
            caveats.add("note", "stress_recorded", f"stress {sc.get('title') or sc['name']}: assets the loaded market "
                                                   "lacks in the window took their recorded real returns")
    fill = (risk.get("meta") or {}).get("history_fill") or {}
    if fill:
        caveats.add("note", "history_fill", "VaR/ES history filled from proxies for " + "; ".join(
            f"{k}: {v}" for k, v in list(fill.items())[:6]) + (" ..." if len(fill) > 6 else ""), list(fill))
    # validation
    if vrep is not None:
        vd = vrep.to_dict(limit=50)
        if vd.get("errors"):
            caveats.add("error", "data_error", f"data validation: {vrep.summary()}")
        elif vd.get("warnings"):
            caveats.add("note", "data_warning", f"data validation: {vrep.summary()}")


def construction_table(allocator, strategy: Strategy, btxt: str) -> dict:
    """One row per allocator fit: the groups' shares of risk against their budgets, the gap,
    the rules that bound and the overlay's scale (:func:`computefolio.allocate.sleeves.rebalance_table`)."""
    from ..allocate.sleeves import rebalance_table

    df = rebalance_table(allocator, getattr(allocator, "overlay", None)) if allocator is not None else pd.DataFrame()
    if df.empty:
        return {"title": "Construction at each rebalance: no record", "fits": 0, "within": 0, "missed": 0}
    groups = [c[len("share_"):] for c in df.columns if c.startswith("share_")]
    cols = [column("date", "Rebalance", "date"), column("status", "Status")]
    cols += [column(f"share_{g}", f"{g} share of risk", "fraction") for g in groups]
    cols += [column("max_gap_points", "Largest gap", "points"), column("binding", "Binding rules"),
             column("vol_after", "Volatility after the overlay", "fraction/yr"),
             column("overlay_bound_by", "Overlay bound by"), column("invested", "Invested", "fraction")]
    rows = []
    for r in df.to_dict("records"):
        rows.append({k["key"]: (r.get(k["key"]).date() if isinstance(r.get(k["key"]), pd.Timestamp) else
                               r.get(k["key"])) for k in cols})
        rows[-1]["status"] = str(r.get("status") or "").split(":")[0]
    within = int(df["within_1pt"].sum()) if "within_1pt" in df else 0
    missed = df[~df["within_1pt"]] if "within_1pt" in df else df.iloc[:0]
    counts: dict[str, int] = {}
    for b in missed.get("binding", pd.Series(dtype=str)):
        for rule in [x.strip() for x in str(b).split(";") if x.strip()]:
            key = rule.split(" (")[0]
            counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{k} at {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:4]) or "none named"
    targets = {g: df[f"target_{g}"].dropna().iloc[-1] for g in groups if f"target_{g}" in df and
               df[f"target_{g}"].notna().any()}
    return {
        "title": f"Construction at each rebalance: risk shares within 1 point of the budgets at {within} of "
                 f"{len(df)}",
        "fits": int(len(df)), "within": within, "missed": int(len(missed)), "binding_summary": summary,
        "targets": {g: float(v) for g, v in targets.items()},
        "table": table("Construction at each rebalance", cols, rows, basis=btxt,
                       note="shares of variance by group under the allocator's covariance after the mandate "
                            "(targets: " + ", ".join(f"{g} {v:.0%}" for g, v in targets.items()) + "); where a "
                            "share is more than 1 point off, the rules that bound are named; the overlay scales "
                            "the book to the volatility target within every rule"),
    }


def breach_tables(br, tolerance: float, cur: str = "USD") -> dict:
    """The mandate through time (:func:`computefolio.backtest.breaches.mandate_breaches`) as tables.

    ``failed`` is True when an active breach (caused by the book's own trades) is larger
    than the strategy's ``mandate_tolerance``.
    """
    if br is None:
        return {"title": "Mandate through time: no mandate", "failed": False}
    ep = br.episodes
    act = ep[ep["kind"] == "active"] if len(ep) else ep
    # an active breach is sized on the rebalance date itself (what the trade did); drift after it is passive
    ev = br.events[br.events["kind"] == "active"] if len(br.events) else br.events
    worst_active = float(ev["size"].max()) if len(ev) else 0.0
    failed = bool(len(ev) and worst_active > tolerance)

    def rows(df, limit=300):
        out = []
        for r in df.head(limit).itertuples():
            out.append({"start": r.start.date(), "end": r.end.date(), "rule": r.rule, "item": r.item,
                        "detail": r.detail, "kind": r.kind, "dates": int(r.dates), "max_size": float(r.max_size),
                        "cured": None if pd.isna(r.cured) else r.cured.date(),
                        "days_to_cure": r.days_to_cure if r.days_to_cure is not None else None})
        return out

    cols = [column("start", "From", "date"), column("end", "To", "date"), column("rule", "Rule"),
            column("item", "Asset or group"), column("kind", "Kind"), column("dates", "Dates", "count"),
            column("max_size", "Largest breach", "fraction"), column("cured", "Cured on", "date"),
            column("days_to_cure", "Days to cure", "days"), column("detail", "Detail")]
    by_rule = []
    if len(ep):
        for (rule, kind), g in ep.groupby(["rule", "kind"]):
            by_rule.append({"rule": rule, "kind": kind, "episodes": int(len(g)), "dates": int(g["dates"].sum()),
                            "max_size": float(g["max_size"].max()),
                            "open": int(g["cured"].isna().sum()),
                            "max_days_to_cure": max([int(d) for d in g["days_to_cure"] if d is not None and d == d],
                                                    default=None)})
    return {
        "title": f"Mandate through time: {br.summary()}",
        "failed": failed, "tolerance": tolerance, "worst_active": worst_active,
        "rebalances": br.rebalances, "active_rebalances": br.active_rebalances, "dates": br.dates,
        "checked": br.checked, "not_checked": br.not_checked,
        "by_rule": table("Breaches by rule", [column("rule", "Rule"), column("kind", "Kind"),
                                              column("episodes", "Episodes", "count"),
                                              column("dates", "Dates broken", "count"),
                                              column("max_size", "Largest", "fraction"),
                                              column("open", "Still open", "count"),
                                              column("max_days_to_cure", "Longest to cure", "days")],
                         by_rule, note="active = caused or worsened by the book's own trades on a rebalance date; "
                                       "passive = caused by the market (drift) or not cured by a rebalance"),
        "active": table("Active breaches (caused by the book's trades)",
                        [column("date", "Rebalance", "date"), column("rule", "Rule"),
                         column("item", "Asset or group"), column("size", "Breach after the trades", "fraction"),
                         column("detail", "Detail")],
                        [{"date": r.date.date(), "rule": r.rule, "item": r.item, "size": float(r.size),
                          "detail": r.detail} for r in ev.head(300).itertuples()],
                        note=f"sized on the rebalance date (drift afterwards is passive and listed with the "
                             f"episodes); a run fails when one is larger than mandate_tolerance ({tolerance:g})"),
        "episodes": table("Breach episodes (first 300)", cols, rows(ep),
                          note="consecutive valuation dates on which one rule is broken; size = fraction of the book "
                               "beyond the limit; checked after every rebalance and on every valuation date"),
    }


def assemble_results(strategy: Strategy, *, universe, market, vrep, result, books, mets, risk, corr, wlast,
                     mandate, warns, notes, btxt, ppy, start, end, ref, allocator=None, caveats=None,
                     end_reason: str | None = None, delisted=None, breaches=None) -> dict:
    """The ``results.json`` dict (see :mod:`computefolio.report.tables` for the layout)."""
    import platform

    from .. import __version__
    from ..metrics import drawdown as dd_fn

    cur = strategy.currency
    final_value = float(result.equity.iloc[-1])
    through_time = breach_tables(breaches, strategy.mandate_tolerance, cur)
    if caveats is not None:
        collect_caveats(caveats, strategy=strategy, market=market, universe=universe, vrep=vrep, result=result,
                        risk=risk, wlast=wlast, end=end, delisted=delisted,
                        stale_days=strategy.data.stale_after_days)
        if breaches is not None and len(breaches.episodes):
            ep = breaches.episodes
            act = breaches.events[breaches.events["kind"] == "active"]
            if len(act):
                caveats.add("error" if through_time["failed"] else "warning", "mandate_breach",
                            f"the book's own trades broke the mandate at {breaches.active_rebalances} of "
                            f"{breaches.rebalances} rebalances (largest {act['size'].max():.4%} of the book on the "
                            f"rebalance date; rules: {', '.join(sorted(set(act['rule'])))})", sorted(set(act["item"])))
            pas = ep[ep["kind"] == "passive"]
            if len(pas):
                open_ = pas[pas["cured"].isna()]
                caveats.add("warning", "mandate_breach",
                            f"the market broke the mandate in {len(pas)} episode(s) (rules: "
                            f"{', '.join(sorted(set(pas['rule'])))}; longest to cure "
                            f"{int(max([d for d in pas['days_to_cure'] if d is not None and d == d], default=0))} days"
                            + (f"; {len(open_)} still open on {end.date()}" if len(open_) else "") + ")",
                            sorted(set(pas["item"])))
    contrib = (risk.get("contributions") or {})
    by_asset = contrib.get("by_asset") or {}

    # ---- exposure by sleeve / layer / theme
    exp_cols = [column("group", "Group"), column("name", "Name"), column("weight", "Weight", "fraction"),
                column("vol_contribution", "Volatility contribution", "fraction/yr"),
                column("vol_share", "Share of volatility", "fraction"),
                column("es_contribution", "ES contribution", "fraction"), column("es_share", "Share of ES", "fraction")]
    exposure = {}
    for by in ("sleeve", "layer", "theme"):
        g = (contrib.get("by_group") or {}).get(by) or {}
        rows = [{"group": k, "name": universe.group_name(by, k), "weight": v.get("exposure"),
                 "vol_contribution": v.get("vol_contribution"), "vol_share": v.get("vol_share"),
                 "es_contribution": v.get("es_contribution"), "es_share": v.get("es_share")}
                for k, v in g.items()]
        exposure[by] = table(f"By {by}", exp_cols, rows, basis=btxt,
                             note=("weighted membership; " + ("themes overlap, so they need not add up"
                                                               if by == "theme" else "groups add up to the book"))
                             + f"; ES at {strategy.risk.confidence:.0%} ({contrib.get('es_method') or 'historical'})")

    # ---- budgets: target vs last rebalance vs today
    by = strategy.budget_by
    today = ((contrib.get("by_group") or {}).get(by) or {})
    last_risk = {}
    last_date = None
    if allocator is not None and getattr(allocator, "symbols_", None):
        last_date = allocator.fit_context_.date
        last_risk = universe.exposure(allocator.risk_contributions_, by, date=last_date).to_dict()
    kind = "risk" if strategy.budget_kind == "risk" else "weight"
    budgets = table(
        f"{kind.capitalize()} budgets by {by}: target, last rebalance, today",
        [column("group", "Group"), column("budget", f"Target {kind} budget", "fraction"),
         column("last_rebalance", "Share of risk at last rebalance", "fraction"),
         column("today_vol", "Share of volatility today", "fraction"),
         column("today_weight", "Weight today", "fraction")],
        [{"group": g, "budget": b.budget, "last_rebalance": last_risk.get(g),
          "today_vol": (today.get(g) or {}).get("vol_share"), "today_weight": (today.get(g) or {}).get("exposure")}
         for g, b in strategy.budgets.items()],
        basis=btxt,
        note=(f"last rebalance {pd.Timestamp(last_date).date() if last_date is not None else 'n/a'}: shares of "
              "variance under the allocator's covariance after the mandate's projection (the projection moves "
              "weights away from exact budgets when rules bind); today: after drift and the volatility target, "
              "under the risk report's covariance"))

    # ---- construction at each rebalance: risk shares against the budgets, the binding rules, the overlay
    construction = construction_table(allocator, strategy, btxt)
    if caveats is not None and construction.get("missed"):
        caveats.add("note", "construction",
                    f"risk shares within 1 point of the budgets at {construction['within']} of "
                    f"{construction['fits']} rebalances; the others name their binding rules "
                    f"({construction['binding_summary']})")

    # ---- VaR / ES
    var_cols = [column("method", "Method"), column("var_pct", "VaR", "fraction"), column("es_pct", "ES", "fraction"),
                column("var", "VaR", cur), column("es", "ES", cur), column("n_observations", "Observations", "count"),
                column("horizon_rule", "Horizon rule")]
    var_rows = [{"method": m, **{k: v.get(k) for k in ("var_pct", "es_pct", "var", "es", "n_observations",
                                                      "horizon_rule")}} for m, v in (risk.get("var") or {}).items()]
    meta = risk.get("meta") or {}
    var_es = table(f"VaR and ES at {strategy.risk.confidence:.0%}, horizon {strategy.risk.horizon} period(s)",
                   var_cols, var_rows, basis=btxt,
                   note=f"positive = loss; money at risk on today's AUM of {meta.get('capital', 0):,.0f} {cur} (the "
                        f"strategy's capital; the backtest's own sections use its values) as of {meta.get('asof')}; "
                        f"{meta.get('lookback_periods')} periods of history from {meta.get('first')}"
                        + ("; history before a young asset's listing taken from its proxy: "
                           + "; ".join(f"{k}: {v}" for k, v in meta["history_fill"].items())
                           if meta.get("history_fill") else ""))

    # ---- liquidity
    liq = risk.get("liquidity") or {}
    buckets = table("Share of the book liquid within", [column("horizon", "Horizon"), column("liquid", "Liquid", "fraction")],
                    [{"horizon": f"{k} day{'s' if str(k) != '1' else ''}", "liquid": v}
                     for k, v in (liq.get("liquid_share") or {}).items()],
                    note=f"selling at {strategy.risk.participation:.0%} of ADV ({liq.get('adv_window_bars')} bars "
                         f"of each asset's own venue calendar); positions without volume count as not liquid")
    liq_assets = table("Days to liquidate by position",
                       [column("symbol", "Symbol"), column("value", "Position", cur), column("adv", "ADV", cur),
                        column("days", "Days to liquidate", "days"), column("adv_window", "ADV window"),
                        column("note", "Note")],
                       [{"symbol": k, **v} for k, v in (liq.get("positions") or {}).items()],
                       note="days = position / (participation x ADV), trading days of the asset's venue; positions "
                            "valued on today's AUM; each ADV says its window, age on the as-of date and volume source")

    # ---- trading and costs
    r = result
    avg_eq = float(r.equity.mean())
    years = len(r.equity) / ppy
    n_reb = int((r.turnover > 0).sum())
    trading = {
        "summary": table("Trading over the backtest", [
            column("costs", "Total costs", cur), column("costs_bp_yr", "Costs per year", "bp"),
            column("trades", "Trades", "count"), column("rebalances", "Rebalance days", "count"),
            column("annual_turnover", "Turnover per year", "fraction/yr"),
            column("gross_final", "Final value gross of costs", cur), column("net_final", "Final value net", cur)],
            [{"costs": r.total_costs, "costs_bp_yr": r.total_costs / avg_eq / years * 1e4 if years > 0 else None,
              "trades": len(r.trades), "rebalances": n_reb, "annual_turnover": mets["Strategy"].get("annual_turnover"),
              "gross_final": float(r.gross_equity.iloc[-1]), "net_final": final_value}],
            basis=btxt, note="costs = commissions/fees + half-spread + square-root impact (cost file); "
                             "turnover one-way, traded notional / (2 x book value); costs per year in bp of the "
                             "average book value"),
        "by_venue": table("Costs by venue", [column("venue", "Venue"), column("notional", "Traded", cur),
                                             column("fee", "Fees", cur), column("spread", "Spread", cur),
                                             column("impact", "Impact", cur), column("cost", "Total", cur)],
                          [{"venue": v, **{k: float(row[k]) for k in ("notional", "fee", "spread", "impact", "cost")}}
                           for v, row in r.costs_by_venue.iterrows()]),
    }

    # ---- correlation
    corr_out = {}
    if corr is not None:
        cur_c = corr["current"]
        corr_out["summary"] = table(
            f"Sleeve correlation on {cur_c['date']}",
            [column("measure", "Measure"), column("value", "Correlation", "ratio")],
            [{"measure": f"rolling {corr['window']} periods", "value": cur_c.get("rolling")},
             {"measure": f"EWMA, half-life {corr['halflife']:g} periods", "value": cur_c.get("ewm")},
             {"measure": "DCC-GARCH(1,1)", "value": cur_c.get("dcc")},
             {"measure": f"regime now: {cur_c.get('regime')}", "value": None}],
            basis=btxt, note="legs: equal-weight mean of each sleeve's assets with a return that period")
        corr_out["regimes"] = table("Share of the backtest in each regime",
                                    [column("regime", "Regime"), column("share", "Share of periods", "fraction")],
                                    [{"regime": k, "share": v} for k, v in corr["regime_share"].items()],
                                    note=corr["thresholds"]["rule"])
        corr_out["note"] = ("Digital-asset sleeve vs AI-equity sleeve, daily returns on the book's basis; "
                            "regimes labelled on the EWMA correlation. " + corr["thresholds"]["rule"]
                            + (f". DCC a={corr['dcc']['a']:.3f}, b={corr['dcc']['b']:.3f}" if corr.get("dcc")
                               and "a" in corr["dcc"] else ""))
    pairs = ((risk.get("correlation") or {}).get("pairs") or [])
    if pairs:
        p = pairs[0]
        corr_out["btc_qqq"] = table(f"{p['a']} vs {p['b']}: daily correlation by method",
                                    [column("method", "Method"), column("value", "Correlation", "ratio"),
                                     column("n", "Observations", "count"), column("se", "Std. error", "ratio")],
                                    [{"method": v["description"], "value": v["value"], "n": v["n"],
                                      "se": v["standard_error"]} for k, v in p.items() if isinstance(v, dict)],
                                    note="crypto closes 00:00 UTC, US equities 16:00 New York: the raw same-label "
                                         "estimate is biased; lead-lag and weekly sums correct for it")

    # ---- final weights
    wt_rows = []
    for s, v in wlast.sort_values(ascending=False).items():
        a = universe.asset(s)
        ba = by_asset.get(s) or {}
        wt_rows.append({"symbol": s, "name": a.name, "sleeve": a.sleeve, "weight": float(v),
                        "value": float(v) * final_value, "vol_share": ba.get("vol_share"),
                        "es_contribution": ba.get("es_contribution")})
    weights_tab = table(f"Final weights on {end.date()}", [
        column("symbol", "Symbol"), column("name", "Name"), column("sleeve", "Sleeve"),
        column("weight", "Weight", "fraction"), column("value", "Value", cur),
        column("vol_share", "Share of volatility", "fraction"), column("es_contribution", "ES contribution", "fraction")],
        wt_rows, basis=btxt, note=f"cash {1 - float(wlast.sum()):.2%} of the book")

    # ---- data and validation
    vd = vrep.to_dict(limit=500) if vrep is not None else {}
    counts = vrep.counts() if vrep is not None else pd.DataFrame()
    lives = market.lives()
    data_hash = market.data_hash()  # hashes every stored value: once per run
    data = {
        "label": market.label, "source": market.source, "simulated": bool(market.simulated),
        "data_hash": data_hash, "start": str(market.start.date()), "end": str(market.end.date()),
        "symbols": len(market.symbols),
        "facts": {
            "source": market.label,
            "simulated": "yes: generated by the built-in sample market" if market.simulated else "no",
            "dates loaded": f"{market.start.date()} to {market.end.date()} (history before {start.date()} feeds "
                            f"the estimators)",
            "symbols with data": f"{len(market.symbols)} of {len(universe)} in universe {universe.name}",
            "data hash (sha256)": data_hash,
            **({"seed": str(market.provenance.get("seed"))} if market.simulated else {}),
            **({"folder": str(market.provenance.get("folder"))} if market.provenance.get("folder") else {}),
            **({"trimmed rows (outside listed dates)": ", ".join(f"{k} {v}" for k, v in
                                                                   market.provenance["trimmed"].items())}
               if market.provenance.get("trimmed") else {}),
            "youngest asset held": (max(((s, lives.at[s, "first"]) for s in wlast.index),
                                        key=lambda t: t[1])[0] if len(wlast) else ""),
            "validation": vrep.summary() if vrep is not None else "not run",
            "as-of date": end_reason or str(end.date()),
            **({"volume": "volume plan ("
                + str(market.provenance.get("volume_plan")) + "): " + ", ".join(sorted(
                    {f for fs in market.provenance.get("volume_sources", {}).values() for f in fs}))}
               if market.provenance.get("volume_sources") else {}),
        },
        "as_of": {"date": str(end.date()), "reason": end_reason or ""},
        "provenance": provenance_table(market),
        "freshness": freshness_table(market, universe, end, wlast, delisted, strategy.data.stale_after_days),
        "validation": {
            "line": vrep.summary() if vrep is not None else "",
            "errors": vd.get("errors", 0), "warnings": vd.get("warnings", 0), "rows": vd.get("rows", 0),
            "notes": vd.get("notes", []),
            "summary": table("Validation findings by check", [column("severity", "Severity"),
                                                              column("check", "Check"), column("count", "Findings", "count")],
                             [{"severity": row.severity, "check": row.check, "count": int(row.count)}
                              for row in counts.itertuples()] if len(counts) else [],
                             note="computefolio.data.validate: nothing was filled or dropped; errors are shown, "
                                  "not fixed"),
            "findings": table("Findings (first 500)", [column("severity", "Severity"), column("check", "Check"),
                                                       column("symbol", "Symbol"), column("date", "Date", "date"),
                                                       column("value", "Value"), column("message", "Message")],
                              [{**{k: f.get(k) for k in ("severity", "check", "symbol", "date", "message")},
                                "value": "" if f.get("value") is None else f"{f['value']:.6g}"}
                               for f in vd.get("findings", [])]),
        },
    }

    # ---- layer summary (market by layer)
    layer_tab = None
    try:
        from ..summary import layer_summary

        ls = layer_summary(market.between(None, end), universe)
        lcols = [column("group", "Layer"), column("name", "Name"), column("assets", "Assets", "count")]
        for c in ls.columns:
            if c.startswith("vol_ann_session"):
                lcols.append(column(c, f"Vol, session ({c.rsplit('_', 1)[-1]}/yr)", "fraction/yr"))
            elif c.startswith("vol_ann_calendar"):
                lcols.append(column(c, f"Vol, calendar ({c.rsplit('_', 1)[-1]}/yr)", "fraction/yr"))
            elif c.startswith("corr_"):
                lcols.append(column(c, f"Corr. with {c.split('_')[1].upper()}", "ratio"))
        layer_tab = table("Market by layer", lcols, [{"group": g, **row} for g, row in ls.to_dict("index").items()],
                          note=ls.attrs.get("basis_note"))
    except Exception as exc:  # noqa: BLE001 - the summary is informative only
        warns.append(f"layer summary: {exc}")

    # ---- series for the charts
    eq = pd.DataFrame({n: b.equity for n, b in books.items()})
    dd = pd.DataFrame({n: dd_fn(b.returns) for n, b in books.items()}).reindex(eq.index)
    win = strategy.risk.correlation_window
    rv = pd.DataFrame({n: b.returns.rolling(win).std() * math.sqrt(ppy) for n, b in books.items()})
    series = {
        "equity": _series(eq, cur, btxt),
        "drawdown": _series(dd, "fraction", btxt),
        "rolling_vol": _series(rv.dropna(how="all"), "fraction/yr", btxt, window=win),
        "weights_by_layer": _series(_weights_by_layer(result, universe), "fraction", btxt),
        "turnover": _series(result.turnover[result.turnover > 0].rename("turnover"), "fraction", btxt),
    }
    if corr is not None:
        cs = corr["series"]
        cframe = cs[[c for c in ("rolling", "ewm", "dcc") if c in cs.columns]].rename(
            columns={"rolling": f"rolling {corr['window']}", "ewm": f"EWMA (half-life {corr['halflife']:g})",
                     "dcc": "DCC-GARCH"})
        series["correlation"] = _series(cframe, "ratio", btxt, regimes=[str(x) for x in cs["regime"]])

    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "schema": "computefolio.results/1",
        "strategy": {"name": strategy.name, "description": strategy.description,
                     "file": strategy.file.name if strategy.file else None,
                     "config": json.loads(strategy.model_dump_json())},
        "run": {"created_utc": created, "computefolio_version": __version__, "python": platform.python_version()},
        "conventions": {
            "basis": strategy.basis, "basis_label": btxt, "periods_per_year": ppy, "currency": cur,
            "capital": quantity(strategy.capital, cur), "final_value": quantity(final_value, cur, btxt),
            "start": str(result.equity.index[0].date()), "end": str(end.date()), "asof": str(end.date()),
            "returns": "simple returns, fractions (0.01 = 1%)", "var_sign": "VaR and ES are positive losses",
            "fractions": "weights and P&L are fractions of the book's value",
        },
        "data": data,
        "layer_summary": layer_tab,
        "headline": headline_table(books, mets, strategy, btxt, ref),
        "metrics": {n: {k: (str(v) if isinstance(v, pd.Timestamp) else v) for k, v in m.items()}
                    for n, m in mets.items()},
        "exposure": exposure,
        "budgets": budgets,
        "construction": construction,
        "var_es": var_es,
        "volatility": {"ex_ante": quantity((risk.get("volatility") or {}).get("annualized"), "fraction/yr", btxt),
                       "covariance": (risk.get("volatility") or {}).get("covariance")},
        "stress": _stress_tables(risk, universe, cur, btxt),
        "liquidity": {"buckets": buckets, "assets": liq_assets},
        "trading": trading,
        "correlation": corr_out,
        "mandate": mandate_table(mandate, wlast, universe, market, end, final_value),
        "mandate_through_time": through_time,
        "weights": weights_tab,
        "warnings": list(dict.fromkeys([*warns, *notes, *(risk.get("warnings") or [])])),
        "caveats": caveats.to_dict() if caveats is not None else None,
        "series": series,
    }
