"""The performance sections of a run: what the investment committee reads first.

:func:`add_performance` takes the run's objects (the backtest, the benchmark books, the
market, the universe) and adds to the ``results.json`` dict:

``risk_free``
    The risk-free rate used by this module's ratios: the 13-week T-bill yield (``^IRX``)
    when the data has it, else the strategy's constant ``cash_rate``; says which.
``trailing``
    Trailing returns of every book (MTD, QTD, YTD, 1 year, 3 years annualized, since
    inception), :func:`computefolio.metrics.trailing_returns`.
``monthly``
    The strategy's monthly returns (years x months, with the year's total) and every
    book's calendar-year returns.
``drawdowns``
    The five worst drawdowns of the strategy (start, trough, recovery, depth, length).
``relative``
    Alpha, beta (same-date and lead-lag corrected), correlation, tracking error and
    information ratio against each benchmark; Sharpe and Sortino over the risk-free rate.
``distribution``
    The distribution of the strategy's per-period returns with VaR and ES marked.
``attribution``
    Contribution to return by sleeve, layer and theme (weighted membership, linked by
    Carino 1999) and a Brinson–Fachler split against the policy benchmark of the
    strategy's budget groups (:mod:`computefolio.attribution`).
``summary``
    The executive summary: plain sentences generated from the whole results dict
    (read last, so it can mention breaches and data caveats).

and chart series under ``series`` (``rolling_sharpe``, ``rolling_beta``,
``cumulative_contribution``, ``cumulative_effects``, ``return_histogram``).
Every table is a :func:`computefolio.report.table` with units and basis.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import attribution as A
from .. import metrics as M
from ..report import column, quantity, table, words
from ..strategy import Strategy
from ..universe import Universe

#: Number of worst drawdowns shown.
N_DRAWDOWNS = 5


# ----------------------------------------------------------------------------- helpers
def _series(frame: pd.DataFrame | pd.Series, unit: str, basis: str, **extra) -> dict:
    from .results import _series as s

    return s(frame, unit, basis, **extra)


def _d(x) -> str | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x) else str(pd.Timestamp(x).date())


def _pct(x, digits: int = 1, sign: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.{digits}%}" if sign else f"{x:.{digits}%}"


def _money(x: float, cur: str) -> str:
    a = abs(x)
    for div, suf in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if a >= div:
            return f"{cur} {x / div:,.1f}{suf}"
    return f"{cur} {x:,.0f}"


# ----------------------------------------------------------------------------- risk-free rate
def risk_free_rate(strategy: Strategy, market, index: pd.DatetimeIndex, data=None) -> tuple[pd.Series | float, dict]:
    """Per-period risk-free return on ``index`` and a description of where it came from.

    The 13-week US Treasury bill yield ``^IRX`` (percent) when the market or the data
    folder's source plan (``primary.csv``) has it for the whole span: the yield known on
    the previous valuation date, accrued act/360 over the calendar days of the period
    (the convention of the simulator's cash). Otherwise the strategy's constant
    ``cash_rate``, compounded per period (``metrics.rf_per_period``), as the headline.
    """
    from ..backtest.simulator import cash_growth
    from ..clock import periods_per_year

    ppy = periods_per_year(strategy.basis)
    const = M.rf_per_period(strategy.cash_rate, ppy)
    fallback = {"source": "constant", "label": f"the strategy's constant cash rate of {strategy.cash_rate:.2%}/yr",
                "annual_mean": strategy.cash_rate,
                "convention": "(1 + rate)^(1/periods per year) - 1 per period"}
    irx = None
    try:
        if "^IRX" in market.symbols:
            irx, where = market.close["^IRX"].dropna(), "the market data"
        else:
            folder = Path(data) if data is not None else (
                Path(strategy.resolve_dir(strategy.data.path, "data.path")) if strategy.data.source == "files"
                and strategy.data.path else None)
            if folder is not None and (folder / "primary.csv").is_file():
                from ..data.sources import SourcePlan, load_plan

                plan = SourcePlan.from_csv(folder / "primary.csv")
                if any(r.symbol == "^IRX" for r in plan.rules):
                    df = load_plan(folder, plan, ["^IRX"])
                    irx = df.set_index("date")["close"].astype(float).dropna()
                    where = f"{df['source'].iloc[0]} (source plan of the data folder)"
    except Exception as exc:  # noqa: BLE001 - the constant is a stated fallback
        fallback["note"] = f"^IRX could not be read ({exc}); used the constant"
        return const, fallback
    if irx is None or irx.empty:
        fallback["note"] = "the data has no ^IRX series"
        return const, fallback
    irx.index = pd.DatetimeIndex(irx.index).normalize()
    if irx.index[0] > index[0] or irx.index[-1] < index[-1] - pd.Timedelta(days=10):
        fallback["note"] = (f"^IRX covers {irx.index[0].date()} to {irx.index[-1].date()}, not the whole backtest "
                            f"({index[0].date()} to {index[-1].date()}); used the constant")
        return const, fallback
    rf = pd.Series(cash_growth(index, irx / 100.0) - 1.0, index=index, name="risk_free")
    used = irx.reindex(irx.index.union(index)).ffill().reindex(index)
    return rf, {"source": "^IRX", "label": f"the 13-week US T-bill yield (^IRX, {where})",
                "annual_mean": float(used.mean() / 100.0),
                "convention": "previous date's yield / 100 x calendar days / 360 per period (act/360, simple)"}


# ----------------------------------------------------------------------------- tables
def trailing_table(books: dict, btxt: str) -> dict:
    cols = [column("book", "Book")] + [column(k, M.TRAILING_LABELS[k], "fraction/yr" if k in ("3y", "inception_ann")
                                              else "fraction") for k in M.TRAILING]
    rows = []
    asof = None
    for name, res in books.items():
        tr = M.trailing_returns(res.returns)
        asof = res.returns.index[-1]
        rows.append({"book": name, **tr})
    return table(f"Trailing returns to {asof.date() if asof is not None else ''}", cols, rows, basis=btxt,
                 note="compounded; a window starts at the close before its first day (MTD from the last close of "
                      "the previous month); 1 year = total over the last calendar year; 3 years and since inception "
                      "annualized over calendar time (365.25-day years); n/a where the history is shorter; strategy "
                      "net of costs, benchmarks gross")


def monthly_tables(books: dict, btxt: str) -> dict:
    strat = books["Strategy"].returns
    mt = M.monthly_returns(strat)
    cols = [column("year", "Year")] + [column(m, m, "fraction") for m in M.MONTHS] + [column("Year", "Year",
                                                                                             "fraction")]
    rows = [{"year": str(y), **{k: (None if pd.isna(v) else float(v)) for k, v in row.items()}}
            for y, row in mt.iterrows()]
    heat = table("Strategy: monthly returns, with the year's total", cols, rows, basis=btxt,
                 note="compounded per calendar month and year, net of costs; blank = no return that month")
    years = sorted({int(y) for res in books.values() for y in res.returns.index.year})
    ycols = [column("book", "Book")] + [column(str(y), str(y), "fraction") for y in years]
    yrows = []
    for name, res in books.items():
        m = M.monthly_returns(res.returns)
        yrows.append({"book": name, **{str(y): float(m.at[y, "Year"]) if y in m.index else None for y in years}})
    cal = table("Calendar-year returns", ycols, yrows, basis=btxt,
                note="compounded within each calendar year; the first and last years are partial")
    return {"heatmap": heat, "calendar_years": cal}


def drawdown_table(returns: pd.Series, btxt: str) -> dict:
    dd = M.worst_drawdowns(returns, N_DRAWDOWNS)
    rows = [{"rank": i + 1, "start": _d(r.start), "trough": _d(r.trough),
             "recovery": _d(r.recovery) if r.recovered else "not recovered", "depth": r.depth,
             "length_days": r.length_days, "periods": r.periods, "to_trough": r.to_trough_periods}
            for i, r in enumerate(dd.itertuples())]
    cols = [column("rank", "Rank", "count"), column("start", "Start (peak)", "date"), column("trough", "Trough", "date"),
            column("recovery", "Recovery", "date"), column("depth", "Depth", "fraction"),
            column("length_days", "Length", "days"), column("periods", "Periods under water", "periods"),
            column("to_trough", "Periods to trough", "periods")]
    return table(f"Five worst drawdowns of the strategy", cols, rows, basis=btxt,
                 note="start = the last peak before the fall; recovery = first close back at that peak; length in "
                      "calendar days from the peak to the recovery (or to the last date when not recovered); depth "
                      "= trough / peak - 1, net of costs")


def relative_table(books: dict, rf, rf_info: dict, ppy: int, btxt: str) -> dict:
    from ..risk.crosscorr import cross_beta

    r = books["Strategy"].returns
    rfa = rf.reindex(r.index).to_numpy() if isinstance(rf, pd.Series) else rf
    rows = []
    for name, res in books.items():
        if name == "Strategy":
            continue
        b = res.returns.reindex(r.index)
        ok = b.notna().to_numpy() & r.notna().to_numpy()
        rr, bb = r.to_numpy()[ok], b.to_numpy()[ok]
        rfo = rfa[ok] if isinstance(rfa, np.ndarray) else rfa
        try:
            dim = cross_beta(r, b, "lead_lag", lags=1)["value"]
        except Exception:  # noqa: BLE001 - too few periods
            dim = None
        rows.append({"benchmark": name, "alpha": M.alpha(rr, bb, rfo, ppy), "beta": M.beta(rr, bb),
                     "beta_dimson": dim, "correlation": M.correlation(rr, bb),
                     "tracking_error": M.tracking_error(rr, bb, ppy),
                     "information_ratio": M.information_ratio(rr, bb, ppy),
                     "active_return": M.annual_return(rr, ppy) - M.annual_return(bb, ppy)})
    cols = [column("benchmark", "Benchmark"), column("alpha", "Alpha (Jensen)", "fraction/yr"),
            column("beta", "Beta, same date", "ratio"), column("beta_dimson", "Beta, lead-lag corrected", "ratio"),
            column("correlation", "Correlation", "ratio"), column("active_return", "Active return", "fraction/yr"),
            column("tracking_error", "Tracking error", "fraction/yr"),
            column("information_ratio", "Information ratio", "ratio")]
    return table("Strategy against each benchmark", cols, rows, basis=btxt,
                 note=f"per-period returns on the book's basis; alpha = (1 + mean((r - rf) - beta (b - rf)))^{ppy} - 1 "
                      f"with rf = {rf_info['label']}; lead-lag beta = Dimson (1979) sum of covariances at lags -1, 0, "
                      "+1 over var(b), because crypto closes at 00:00 UTC and US equities at 16:00 New York; active "
                      "return = difference of geometric annual returns; information ratio = mean active return x "
                      "periods per year / tracking error")


def ratio_table(books: dict, rf, rf_info: dict, ppy: int, btxt: str) -> dict:
    rows = []
    for name, res in books.items():
        r = res.returns
        rows.append({"book": name, "sharpe": M.sharpe(r, rf, ppy), "sortino": M.sortino(r, rf, ppy),
                     "volatility": M.volatility(r, ppy), "hit_rate": M.hit_rate(r),
                     "skew": M.skew(r), "kurtosis": M.kurtosis(r)})
    cols = [column("book", "Book"), column("sharpe", "Sharpe", "ratio"), column("sortino", "Sortino", "ratio"),
            column("volatility", "Volatility", "fraction/yr"), column("hit_rate", "Periods up", "fraction"),
            column("skew", "Skewness", "ratio"), column("kurtosis", "Excess kurtosis", "ratio")]
    return table(f"Risk-adjusted returns over {rf_info['label']}", cols, rows, basis=btxt,
                 note=f"risk-free: {rf_info['label']}, mean {rf_info['annual_mean']:.2%}/yr "
                      f"({rf_info['convention']}); the headline table uses the constant cash rate")


def distribution_section(returns: pd.Series, confidence: float, btxt: str, cur: str, value: float) -> tuple[dict, dict]:
    r = returns.dropna().to_numpy(dtype=float)
    rows = []
    marks = {}
    for conf in sorted({0.95, float(confidence)}):
        cut = 1.0 - conf
        var = -M.value_at_risk(r, cut)
        es = -M.expected_shortfall(r, cut)
        rows.append({"confidence": f"{conf:.0%}", "var": var, "es": es, "var_money": var * value,
                     "es_money": es * value})
        marks[f"{conf:.0%}"] = {"var": var, "es": es}
    rows.append({"confidence": "worst period", "var": -float(r.min()), "es": None, "var_money": -float(r.min()) * value,
                 "es_money": None})
    tab = table("Realized per-period returns of the strategy: VaR and ES", [
        column("confidence", "Confidence"), column("var", "VaR", "fraction"), column("es", "ES", "fraction"),
        column("var_money", "VaR on today's value", cur), column("es_money", "ES on today's value", cur)], rows,
        basis=btxt, note=f"historical, from the backtest's {len(r):,} net returns (positive = loss; VaR = the "
                         "(1 - confidence) percentile, ES = mean of the returns at or below it, empyrical's "
                         "convention); money on today's book value; the VaR and ES section instead uses "
                         "today's weights on the market's history")
    edges = np.linspace(float(r.min()), float(r.max()), 61)
    counts, _ = np.histogram(r, bins=edges)
    hist = {"unit": "fraction", "basis": btxt, "edges": [float(f"{e:.7g}") for e in edges],
            "counts": [int(c) for c in counts], "marks": marks, "n": int(len(r)),
            "mean": float(r.mean()), "std": float(r.std(ddof=1))}
    return tab, hist


# ----------------------------------------------------------------------------- attribution
#: Row names of the parts that are not groups.
_NAMES = {"cash": "Cash", "costs": "Trading costs", "total": "Book (total return)"}
_NON_GROUP = frozenset(_NAMES.values())

def _membership_segments(universe: Universe, by: str, symbols: list[str], start, end) -> list[tuple]:
    """Membership frames at each date the classification changes inside [start, end]."""
    dates = {pd.Timestamp(start)}
    if by in ("layer", "theme"):
        for s in symbols:
            a = universe.asset(s)
            for c in [*a.history, a.current]:
                if c.since is not None and pd.Timestamp(start) < pd.Timestamp(c.since) <= pd.Timestamp(end):
                    dates.add(pd.Timestamp(c.since))
    return [(d, universe.membership(by, date=d, symbols=symbols)) for d in sorted(dates)]


def _year_links(parts: pd.DataFrame, R: pd.Series) -> dict[int, pd.Series]:
    out = {}
    for y, idx in parts.groupby(parts.index.year).groups.items():
        out[int(y)] = A.link(parts.loc[idx], R.loc[idx])
    return out


def policy_benchmark(strategy: Strategy, universe: Universe, returns: pd.DataFrame, groups: list[str],
                     membership: pd.DataFrame, schedule: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The policy benchmark of the strategy's budget groups: weights and returns per group.

    Inside each group: the membership-weighted mean return of its assets with a return
    that period (equal weight, rebalanced every period). Across groups: fixed policy
    weights reset on each scheduled rebalance date -- the budgets themselves for weight
    budgets; for risk budgets ``w_g ∝ budget_g / vol_g``, ``vol_g`` the volatility of the
    group's equal-weight basket over the strategy's lookback before the reset (known
    then), so each group carries its risk budget ignoring correlation. Fully invested,
    no costs. Returns (weights at the start of each period, group returns, description).
    """
    R = returns.to_numpy(dtype=float)
    M_ = membership.reindex(index=returns.columns, columns=groups).fillna(0.0).to_numpy()
    ok = np.isfinite(R)
    num = np.nan_to_num(R) @ M_
    den = ok.astype(float) @ M_
    with np.errstate(divide="ignore", invalid="ignore"):
        rb = np.where(den > 0, num / den, np.nan)
    rb = pd.DataFrame(rb, index=returns.index, columns=groups)
    budgets = np.array([strategy.budgets[g].budget for g in groups])
    kind = strategy.budget_kind
    if kind == "weight":
        w = pd.DataFrame(np.tile(budgets / budgets.sum(), (len(rb), 1)), index=rb.index, columns=groups)
        desc = ("policy weights = the strategy's weight budgets ("
                + ", ".join(f"{universe.group_name(strategy.budget_by, g)} {b:.0%}" for g, b in zip(groups, budgets))
                + ")")
    else:
        look = strategy.lookback
        vol = rb.rolling(look, min_periods=max(20, look // 4)).std().shift(1)
        resets = pd.DatetimeIndex(schedule).intersection(rb.index)
        if len(resets) == 0 or resets[0] != rb.index[0]:
            resets = resets.union(rb.index[:1])
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = budgets[None, :] / vol.loc[resets].to_numpy()
        bad = ~(np.isfinite(raw) & (raw > 0)).all(axis=1)
        raw = np.where(bad[:, None], budgets[None, :], raw)
        raw = raw / raw.sum(axis=1, keepdims=True)
        w = pd.DataFrame(raw, index=resets, columns=groups).reindex(rb.index).ffill()
        desc = ("policy weights reset on each scheduled rebalance: risk budgets ("
                + ", ".join(f"{universe.group_name(strategy.budget_by, g)} {b:.0%}" for g, b in zip(groups, budgets))
                + f") divided by each group's equal-weight basket volatility over the last {look} periods, "
                  "normalized (budget weights where the history is too short)")
    # weights apply at the start of a period: the reset on date d applies from the next
    # period; in the first period the policy, like the book, is still in cash
    w = w.shift(1).fillna(0.0)
    # a group without any asset return that period: its weight goes to the others
    has = rb.notna().to_numpy()
    wv = np.where(has, w.to_numpy(), 0.0)
    tot = wv.sum(axis=1, keepdims=True)
    wv = np.divide(wv, tot, out=np.zeros_like(wv), where=tot > 0)
    return pd.DataFrame(wv, index=rb.index, columns=groups), rb, desc


def attribution_section(strategy: Strategy, universe: Universe, market, result, btxt: str, ppy: int) -> tuple[dict, dict]:
    """Contribution tables by sleeve, layer and theme, Brinson–Fachler, and their chart series."""
    from ..backtest.schedule import Calendar
    from ..backtest.simulator import cash_growth

    W = result.weights
    syms = list(W.columns)
    idx = W.index
    px = market.subset(syms).prices(strategy.basis).reindex(idx)
    full = market.subset(syms).prices(strategy.basis)
    # each asset's return over the period ending on each valuation date (the previous
    # valuation date's price may lie before the backtest's first date)
    prev = full.ffill().shift(1).reindex(idx)
    rets = px.ffill() / prev - 1.0
    growth = cash_growth(idx, strategy.cash_rate)
    contrib = A.contributions(W, rets, cash_return=pd.Series(growth - 1.0, index=idx), costs=result.costs,
                              value=result.equity, initial_value=result.capital)
    R = result.returns.reindex(idx)
    resid = (R - contrib.sum(axis=1)).abs()
    start, end = idx[0], idx[-1]
    out: dict = {}
    series: dict = {}
    names = _NAMES
    by_year_cols = sorted(set(idx.year))
    total = float(np.prod(1.0 + R.to_numpy()) - 1.0)
    checks = {"max_period_residual": float(resid.max()), "linked_residual": None}

    for by in ("sleeve", "layer", "theme"):
        seg = _membership_segments(universe, by, syms, start, end)
        gc = A.group_contributions(contrib, seg)
        gw = A.group_weights(W, seg)
        parts = gc.loc[:, (gc.abs() > 0).any() | gc.columns.isin(["cash", "costs"])]
        # the linking coefficients depend on the book's returns only, so overlapping themes
        # are linked with the same coefficients (their rows just do not add up)
        lk = A.linked_parts(parts, R)
        if by != "theme":
            checks["linked_residual"] = max(checks["linked_residual"] or 0.0, abs(float(lk.linked.sum()) - total))
        years = _year_links(parts, R)
        rows = []
        for g in parts.columns:
            label = names.get(g, universe.group_name(by, g))
            avg_w = float(gw[g].mean()) if g in gw.columns and g != "costs" else None
            rows.append({"group": g, "name": label, "avg_weight": avg_w, "contribution": float(lk.linked[g]),
                         **{str(y): float(years[y][g]) for y in by_year_cols}})
        rows.sort(key=lambda x: (x["group"] in ("cash", "costs"), -x["contribution"]))
        for x in rows:
            x.pop("group")
        if by != "theme":
            rows.append({"group": "total", "name": _NAMES["total"], "avg_weight": None, "contribution": total,
                         **{str(y): float(np.prod(1.0 + R[R.index.year == y].to_numpy()) - 1.0) for y in by_year_cols}})
        cols = [column("name", by.capitalize()), column("avg_weight", "Average weight", "fraction"),
                column("contribution", "Contribution", "fraction")] + [
            column(str(y), f"{y}", "fraction") for y in by_year_cols]
        note = ("contribution = weight at the start of each period x the period's return, by weighted membership "
                "in force at that date; linked across periods by Carino (1999) so the rows add up to the book's "
                "compounded return; each year linked on its own (fractions of the value at the start of the year)")
        if by == "theme":
            note += "; themes overlap (an asset can be in several), so the rows do not add up to the book"
        out[by] = table(f"Contribution to return by {by}", cols, rows, basis=btxt, note=note)
        if by == "layer":
            cum = lk.cumulative[[c for c in parts.columns]]
            cum.columns = [names.get(c, universe.group_name("layer", c)) for c in cum.columns]
            series["cumulative_contribution"] = _series(cum, "fraction", btxt)
    # top assets
    lk_a = A.linked_parts(contrib, R, cumulative=False).linked.drop(["cash", "costs"])
    lk_a = lk_a[lk_a.abs() > 0]
    top = pd.concat([lk_a.nlargest(5), lk_a.nsmallest(5)])
    top = top[~top.index.duplicated()]
    out["assets"] = table("Largest contributors and detractors (assets)",
                          [column("symbol", "Symbol"), column("name", "Name"), column("contribution", "Contribution",
                                                                                     "fraction")],
                          [{"symbol": s, "name": universe.asset(s).name, "contribution": float(v)}
                           for s, v in top.sort_values(ascending=False).items()],
                          basis=btxt, note="linked by Carino (1999) over the whole backtest")

    # Brinson-Fachler against the policy benchmark of the budget groups
    by = strategy.budget_by
    groups = [g for g in strategy.budgets]
    memb = universe.membership(by, symbols=syms)
    have = set(market.symbols)
    m_all = universe.membership(by)
    all_syms = [s for s in universe.symbols if s in have and (m_all.loc[s, groups] > 0).any()]
    mret = market.subset(all_syms).returns(strategy.basis).reindex(idx)
    sched = Calendar(strategy.schedule.frequency, clock="session").dates(idx)
    wb, rb, desc = policy_benchmark(strategy, universe, mret, groups, universe.membership(by, symbols=all_syms), sched)
    seg = [(start, memb)]
    gc = A.group_contributions(contrib, seg)
    gw = A.group_weights(W, seg)
    wp = gw[[*groups, "cash"]]
    cp = gc[[*groups, "cash"]]
    rp = A.segment_returns(cp, wp)
    wb = wb.assign(cash=1.0 - wb.sum(axis=1))
    rb = rb.assign(cash=pd.Series(growth - 1.0, index=idx))
    bf = A.brinson_fachler(wp, rp, wb, rb, other=gc[["costs"]])
    bench_total = float(np.prod(1.0 + bf.benchmark.to_numpy()) - 1.0)
    checks["bf_period_residual"] = float((bf.per_period_total() - (R - bf.benchmark)).abs().max())
    checks["bf_book_vs_backtest"] = float((bf.portfolio - R).abs().max())
    checks["bf_linked_residual"] = abs(float(bf.linked["total"].sum()) - bf.active)

    def comp(x: pd.Series) -> float:
        return float(np.prod(1.0 + x.fillna(0.0).to_numpy()) - 1.0)

    rows = []
    for g in [*groups, "cash", "costs"]:
        l = bf.linked.loc[g]
        rows.append({"name": names.get(g, universe.group_name(by, g)),
                     "wp": float(wp[g].mean()) if g in wp else None, "wb": float(wb[g].mean()) if g in wb else None,
                     "rp": comp(rp[g].where(wp[g].abs() > 1e-12)) if g in rp else None,
                     "rb": comp(rb[g]) if g in rb else None,
                     "allocation": l["allocation"], "selection": l["selection"], "interaction": l["interaction"],
                     "total": l["total"]})
    rows.append({"name": "Total (active return)", "wp": None, "wb": None, "rp": total, "rb": bench_total,
                 "allocation": float(bf.linked["allocation"].sum()), "selection": float(bf.linked["selection"].sum()),
                 "interaction": float(bf.linked["interaction"].sum()), "total": float(bf.linked["total"].sum())})
    out["brinson"] = table(
        f"Brinson–Fachler: strategy against the policy benchmark of its {by}s",
        [column("name", by.capitalize()), column("wp", "Book weight (avg)", "fraction"),
         column("wb", "Policy weight (avg)", "fraction"), column("rp", "Book return", "fraction"),
         column("rb", "Policy return", "fraction"), column("allocation", "Allocation", "fraction"),
         column("selection", "Selection", "fraction"), column("interaction", "Interaction", "fraction"),
         column("total", "Total", "fraction")],
        rows, basis=btxt,
        note=(f"Brinson & Fachler (1985): allocation = (book weight - policy weight) x (policy {by} return - policy "
              f"return), selection = policy weight x (book {by} return - policy {by} return), interaction = the "
              f"rest; per period, linked by Carino (1999); the effects add up to the active return (book "
              f"{_pct(total)} - policy {_pct(bench_total)}). Policy benchmark: inside each {by} equal weight of its "
              f"assets, rebalanced every period; {desc}; fully invested, no costs. Cash is the book's uninvested "
              f"share (policy weight 0); trading costs are an effect of their own. Group returns compounded over "
              f"the periods held"))
    eff = pd.DataFrame({"Allocation": bf.allocation.sum(axis=1), "Selection": bf.selection.sum(axis=1),
                        "Interaction": bf.interaction.sum(axis=1), "Trading costs": bf.other.sum(axis=1)})
    series["cumulative_effects"] = _series(A.linked_parts(eff, bf.portfolio, bf.benchmark).cumulative, "fraction", btxt)
    out["policy"] = {"description": desc, "total_return": bench_total, "active_return": bf.active}
    out["checks"] = {**checks, "tolerance": 1e-10, "method": "carino",
                     "note": "largest |book return - sum of parts| per period and after linking (fractions)"}
    return out, series


# ----------------------------------------------------------------------------- stress matrix
def stress_matrix(risk: dict, universe: Universe, top: int = 6) -> dict:
    """Scenario P&L by sleeve and by the largest layers (fractions of the book's value)."""
    rows_s, rows_l = [], []
    expo: dict[str, float] = {}
    scen = [s for s in (risk.get("stress") or []) if "error" not in s]
    for s in scen:
        for g, v in (s.get("by_layer") or {}).items():
            expo[g] = max(expo.get(g, 0.0), abs(v.get("exposure") or 0.0))
    top_layers = [g for g, _ in sorted(expo.items(), key=lambda t: -t[1])[:top]]
    held = {sym for s in scen for sym, v in (s.get("by_asset") or {}).items() if (v.get("weight") or 0) != 0}
    sleeves = [g for g in universe.sleeves if any(universe.asset(x).sleeve == g for x in held if x in universe)]
    for s in scen:
        title = s.get("title") or s.get("name")
        by_asset = s.get("by_asset") or {}
        sl = {g: 0.0 for g in sleeves}
        for sym, v in by_asset.items():
            if sym in universe and v.get("pnl_pct") is not None:
                g = universe.asset(sym).sleeve
                sl[g] = sl.get(g, 0.0) + float(v["pnl_pct"])
        rows_s.append({"scenario": title, **sl, "total": s.get("pnl_pct")})
        bl = {g: (s.get("by_layer") or {}).get(g, {}).get("pnl_pct") for g in top_layers}
        other = sum((v.get("pnl_pct") or 0.0) for g, v in (s.get("by_layer") or {}).items() if g not in top_layers)
        rows_l.append({"scenario": title, **bl, "other": other, "total": s.get("pnl_pct")})
    note = ("today's weights; P&L as a fraction of the book's value, losses negative; weighted membership; "
            "colour: red = loss, blue = gain")
    return {
        "by_sleeve": table("Stress P&L by sleeve", [column("scenario", "Scenario")]
                           + [column(g, universe.group_name("sleeve", g), "fraction") for g in sleeves]
                           + [column("total", "Book", "fraction")], rows_s, note=note),
        "by_top_layer": table(f"Stress P&L by the {len(top_layers)} largest layers", [column("scenario", "Scenario")]
                              + [column(g, universe.group_name("layer", g), "fraction") for g in top_layers]
                              + [column("other", "Other layers", "fraction"), column("total", "Book", "fraction")],
                              rows_l, note=note + "; the largest layers by today's exposure"),
    }


# ----------------------------------------------------------------------------- executive summary
def _rows(tab: dict | None) -> list[dict]:
    return list((tab or {}).get("rows") or [])


def executive_summary(results: dict) -> dict:
    """Plain sentences for the top of the report, generated from the results dict.

    Reads whatever is there and leaves out a sentence whose numbers are missing:
    headline (return against each benchmark), trailing, volatility and VaR against the
    budgets, attribution (largest contributors and detractors), stress (the worst
    scenario), mandate (breaches), data (validation, simulated data, stale prices and
    other caveats, ``warnings``). ``caveats`` are dicts ``{"severity", "label", "text"}``:
    the run's own (``results["caveats"]["items"]``) first, then notes on how numbers here
    were made; one per kind, the first in full and the others under ``more``.
    """
    out: list[str] = []
    caveats: list[dict] = []
    conv = results.get("conventions") or {}
    cur = conv.get("currency", "USD")
    head = {r.get("book"): r for r in _rows(results.get("headline"))}
    s = head.get("Strategy")
    if s:
        others = [f"{b} {_pct(r.get('total_return'))} ({_pct(r.get('cagr'))}/yr)" for b, r in head.items()
                  if b != "Strategy" and r.get("total_return") is not None]
        out.append(f"From {conv.get('start')} to {conv.get('end')} the strategy returned "
                   f"{_pct(s.get('total_return'))} net of costs ({_pct(s.get('cagr'))} a year), against "
                   + (", ".join(others) if others else "no benchmark") + ".")
        out.append(f"Volatility was {_pct(s.get('volatility'))} a year, the Sharpe ratio {s.get('sharpe', float('nan')):.2f} "
                   f"and the worst drawdown {_pct(s.get('max_drawdown'))}.")
    tr = {r.get("book"): r for r in _rows(results.get("trailing"))}.get("Strategy")
    if tr:
        parts = [f"{lab} {_pct(tr.get(k), sign=True)}" for k, lab in (("mtd", "month to date"), ("ytd", "year to date"),
                                                                     ("1y", "one year")) if tr.get(k) is not None]
        if parts:
            out.append("Trailing: " + ", ".join(parts) + ".")
    rel = {r.get("benchmark"): r for r in _rows((results.get("relative") or {}).get("benchmarks"))}
    q = rel.get("QQQ")
    if q and q.get("alpha") is not None:
        out.append(f"Against QQQ: alpha {_pct(q['alpha'], sign=True)} a year, beta {q['beta']:.2f}, tracking error "
                   f"{_pct(q['tracking_error'])}, information ratio {q['information_ratio']:.2f}.")
    # risk against the budgets
    cfg = ((results.get("strategy") or {}).get("config") or {})
    vt = (cfg.get("vol_target") or {}).get("target")
    ex = ((results.get("volatility") or {}).get("ex_ante") or {}).get("value")
    var_rows = {r.get("method"): r for r in _rows(results.get("var_es"))}
    hv = var_rows.get("historical") or next(iter(var_rows.values()), None)
    risk_bits = []
    if ex is not None:
        risk_bits.append(f"today's ex-ante volatility is {_pct(ex)} a year"
                         + (f" against a {_pct(vt, 0)} target" if vt else ""))
    if hv and hv.get("var_pct") is not None:
        conf = (cfg.get("risk") or {}).get("confidence")
        risk_bits.append(f"{'' if conf is None else f'{conf:.0%} '}one-period VaR is {_pct(hv['var_pct'])} "
                         f"({_money(hv['var'], cur)}), ES {_pct(hv.get('es_pct'))}")
    budgets = _rows(results.get("budgets"))
    far = [b for b in budgets if b.get("budget") is not None and b.get("today_vol") is not None]
    if far:
        names = {r.get("group"): r.get("name") for t in (results.get("exposure") or {}).values() for r in _rows(t)}
        risk_bits.append("shares of volatility against the risk budgets: " + ", ".join(
            f"{names.get(b['group'], b['group'])} {_pct(b['today_vol'], 0)} (budget {_pct(b['budget'], 0)})"
            for b in far))
    if risk_bits:
        out.append("Risk: " + "; ".join(risk_bits) + ".")
    att = results.get("attribution") or {}
    lay = [r for r in _rows(att.get("layer")) if r.get("name") not in _NON_GROUP]
    if lay:
        pos = sorted([r for r in lay if (r.get("contribution") or 0) > 0], key=lambda r: -r["contribution"])[:3]
        neg = sorted([r for r in lay if (r.get("contribution") or 0) < 0], key=lambda r: r["contribution"])[:2]
        txt = "Largest contributors by layer: " + (", ".join(f"{r['name']} {_pct(r['contribution'], sign=True)}"
                                                             for r in pos) or "none")
        txt += "; detractors: " + (", ".join(f"{r['name']} {_pct(r['contribution'], sign=True)}" for r in neg)
                                   or "none") + "."
        costs = next((r for r in _rows(att.get("layer")) if r.get("name") == _NAMES["costs"]), None)
        if costs:
            txt += f" Trading costs took {_pct(-costs['contribution'])}."
        out.append(txt)
    brin = [r for r in _rows(att.get("brinson")) if r.get("name", "").startswith("Total")]
    if brin:
        b = brin[0]
        out.append(f"The policy benchmark of the same groups returned {_pct(b.get('rb'))}; the active return of "
                   f"{_pct(b.get('total'), sign=True)} came from allocation {_pct(b.get('allocation'), sign=True)}, "
                   f"selection {_pct(b.get('selection'), sign=True)} and interaction "
                   f"{_pct(b.get('interaction'), sign=True)}.")
    st = results.get("stress") or {}
    scen = [r for t in ("historical", "hypothetical") for r in _rows(st.get(t)) if r.get("pnl_pct") is not None]
    if scen:
        w = min(scen, key=lambda r: r["pnl_pct"])
        out.append(f"Worst stress: {w['scenario']} would cost {_pct(-w['pnl_pct'])} of today's book"
                   + (f" ({_money(-w['pnl'], cur)})" if w.get("pnl") is not None else "") + ".")
    mand = _rows(results.get("mandate"))
    if mand:
        br = [r for r in mand if r.get("status") == "breach"]
        na = [r for r in mand if r.get("status") == "n/a"]
        if br:
            out.append(f"Mandate: {len(br)} of {len(mand)} rules breached on the final book: "
                       + "; ".join(f"{words(r['rule'])} by {_pct(r.get('breach'), 2)}" for r in br[:4]) + ".")
        else:
            out.append(f"Mandate: all {len(mand) - len(na)} checked rules hold on the final book"
                       + (f" ({len(na)} could not be checked)" if na else "") + ".")
    mt = results.get("mandate_through_time") or {}
    if mt.get("rebalances"):
        out.append(f"Through the backtest the book's own trades broke a mandate rule at {mt.get('active_rebalances', 0)} "
                   f"of {mt['rebalances']} rebalances"
                   + (f" (largest {_pct(mt.get('worst_active'), 2)} of the book)" if mt.get("worst_active") else "")
                   + ("; that is beyond the strategy's tolerance" if mt.get("failed") else "") + ".")
    data = results.get("data") or {}
    cav = results.get("caveats")

    def note(severity: str, label: str, text: str) -> None:
        if text and all(c["text"] != text for c in caveats):
            caveats.append({"severity": severity, "label": label, "text": text})

    if isinstance(cav, dict) and cav.get("items"):
        for it in cav["items"]:
            note(it.get("severity", "note"), it.get("class_name") or words(it.get("class", "")), str(it.get("text", "")))
    elif isinstance(cav, list):
        for it in cav:
            note("note", "", str(it.get("text", it)) if isinstance(it, dict) else str(it))
    if data.get("simulated") and not any(c["label"] == "simulated data" for c in caveats):
        note("warning", "simulated data", "every price is simulated by the built-in sample market: no number here "
                                          "describes real assets")
    line = (data.get("validation") or {}).get("line")
    if line and not any(line in c["text"] for c in caveats):
        note("note", "data validation", line)
    rf = results.get("risk_free") or {}
    if rf.get("label"):
        note("note", "risk-free rate", f"Sharpe, Sortino and alpha in the tear-sheet tables use {rf['label']}"
                                       + (f" ({rf['note']})" if rf.get("note") else ""))
    nw = len(results.get("warnings") or [])
    if nw:
        note("note", "run warnings", f"{nw} run warning{'s' if nw != 1 else ''}, listed under Data")
    # one line per kind of caveat (the first in full, the others behind "more")
    grouped: list[dict] = []
    for c in caveats:
        g = next((x for x in grouped if x["severity"] == c["severity"] and x["label"] == c["label"] and c["label"]),
                 None)
        if g is None:
            grouped.append({**c, "more": []})
        else:
            g["more"].append(c["text"])
    return {"sentences": out, "caveats": grouped}


# ----------------------------------------------------------------------------- entry point
def add_performance(results: dict, strategy: Strategy, *, universe: Universe, market, result, books: dict,
                    risk: dict | None = None, data=None, btxt: str, ppy: int) -> dict:
    """Add the performance sections, their series and the executive summary to ``results``.

    Parameters
    ----------
    results : dict
        The assembled ``results.json`` dict (modified in place and returned).
    strategy, universe, market : the run's strategy, universe and market.
    result : computefolio.backtest.Result
        The strategy's backtest (weights kept).
    books : dict[str, Result]
        ``{"Strategy": result, benchmark name: Result, ...}``.
    risk : dict, optional
        The risk report's dict (stress scenarios with ``by_asset``/``by_layer``).
    data : path, optional
        The data folder of the run (where ``^IRX`` may be found).
    btxt : str
        Basis label, e.g. ``"session basis (XNYS, 252/yr), USD"``.
    ppy : int
        Periods per year of the basis.
    """
    warns = results.setdefault("warnings", [])
    cur = strategy.currency
    r = result.returns
    rf, rf_info = risk_free_rate(strategy, market, r.index, data)
    results["risk_free"] = rf_info
    results["trailing"] = trailing_table(books, btxt)
    results["monthly"] = monthly_tables(books, btxt)
    results["drawdowns"] = drawdown_table(r, btxt)
    results["relative"] = {"benchmarks": relative_table(books, rf, rf_info, ppy, btxt),
                           "ratios": ratio_table(books, rf, rf_info, ppy, btxt)}
    dist, hist = distribution_section(r, strategy.risk.confidence, btxt, cur, float(result.equity.iloc[-1]))
    results["distribution"] = dist
    series = results.setdefault("series", {})
    series["return_histogram"] = hist
    win = max(20, int(round(ppy / 2)))
    rs = pd.DataFrame({n: M.rolling_sharpe(b.returns, win, rf, ppy) for n, b in books.items()
                       if n in ("Strategy", "QQQ", "BTC")}).dropna(how="all")
    series["rolling_sharpe"] = _series(rs, "ratio", btxt, window=win)
    rb = {}
    for ref in ("QQQ", "BTC"):
        if ref in books:
            rb[f"to {ref}, same date"] = M.rolling_beta(r, books[ref].returns, win, lags=0)
            rb[f"to {ref}, lead-lag"] = M.rolling_beta(r, books[ref].returns, win, lags=1)
    if rb:
        series["rolling_beta"] = _series(pd.DataFrame(rb).dropna(how="all"), "ratio", btxt, window=win,
                                         note="same date = cov(r_t, b_t) / var(b); lead-lag = Dimson (1979) sum of "
                                              "the covariances at lags -1, 0, +1 over var(b), which corrects for "
                                              "crypto closing at 00:00 UTC and US equities at 16:00 New York but is "
                                              "noisier (it also picks up the benchmark's own autocorrelation)")
    if result.weights is not None and len(result.weights):
        try:
            att, aser = attribution_section(strategy, universe, market, result, btxt, ppy)
            results["attribution"] = att
            series.update(aser)
        except Exception as exc:  # noqa: BLE001 - the report shows what it has and says why
            warns.append(f"return attribution not computed: {exc}")
    if risk:
        results.setdefault("stress", {}).update(stress_matrix(risk, universe))
    results["summary"] = executive_summary(results)
    return results
