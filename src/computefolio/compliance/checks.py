"""Pre-trade compliance: a pipeline of small, named checks over a proposed order list.

In the manner of NautilusTrader's ``RiskEngine`` (every order passes a sequence of small
checks before it leaves), each check here is one function with a name and a sentence; it
looks at the orders and at the book before and after them, and returns a result for each
thing it finds: **pass**, **warn** or **block**, with the value and the limit.

Order checks (each order on its own):

==================  ==========================================================================
restricted          buying an asset on the mandate's restricted list, or a benchmark the
                    mandate does not hold (block)
venue_rules         quantity on the venue's lot step and minimum, notional above its minimum
venue_hours         the venue is open for the order's session (an equity order placed on a
                    closed day passes when it is marked for the next session)
price_collar        order price against the last price (fat finger): warn / block
max_order_notional  order value above the policy's maximum (block)
stale_price         the asset's last price is stale: warn / block by age
adv_participation   order value above ``max_adv_fraction`` x ADV (block), above ``adv_warn`` of
                    that (warn); no ADV known warns
oversell            an account sells more units than it holds (long only: block)
==================  ==========================================================================

Book checks (the whole book after every order, look-through applied: GBTC and IBIT count
as BTC): ``asset_caps``, ``issuer_caps`` (policy, UCITS 5/10/40), ``group_caps`` (sleeve,
layer, theme, ...), ``gross_exposure``, ``cash_floor`` (the book) and ``account_cash`` (each
account's floor and never negative), ``days_to_liquidate``, ``compute_exposure``,
``turnover`` and ``restricted_holdings``.

Private markets (the mandate's ``private_max``, ``locked_max``, ``mark_age_max_days``; a book
valued with marks, :mod:`computefolio.private`): ``private_share`` (positions priced by a mark,
fraction of NAV), ``locked_share`` (units locked by lock-ups, vesting or fund lock-ups, and
assets the universe marks ``locked_until``), ``locked_sale`` (an order may not sell locked
units: block) and ``mark_age`` (a held position valued by a mark older than the limit warns
until a new mark is booked; an order in such an asset blocks).

**Active or passive.** A book rule broken after the trades is *active* when the orders
cause or worsen the breach (post-trade further beyond the limit than pre-trade): it
blocks. It is *passive* when the book was already beyond the limit and the orders do not
worsen it (the market moved the book): it warns, is logged with the date it was first
seen, and must be cured within ``cure_days`` (the mandate's, else the policy's); once
overdue, an order list that does not reduce it blocks.

All amounts are in the book's currency; weights are fractions of NAV. NAV after the trades
is NAV before minus the orders' estimated costs (``est_cost`` when given).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError

PASS, WARN, BLOCK = "pass", "warn", "block"
_RANK = {PASS: 0, WARN: 1, BLOCK: 2}
#: Tolerance for a rule to count as met (fraction of NAV, or relative).
TOL = 1e-6

ORDER_COLUMNS = ("order_id", "account", "symbol", "side", "quantity", "price")


@dataclass
class CheckResult:
    """One finding of one check (only warn and block are kept; passes are counted)."""

    check: str
    status: str
    message: str
    order_id: str | None = None
    key: str | None = None
    value: float | None = None
    limit: float | None = None
    kind: str | None = None          # "active" | "passive" for book rules
    since: str | None = None         # passive: first seen (YYYY-MM-DD)
    cure_by: str | None = None       # passive: date by which it must be cured

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in self.__dict__.items()}

    @property
    def target(self) -> str:
        """What an override names: the order id, else the key (symbol, group, account)."""
        return self.order_id or self.key or "*"


@dataclass
class Check:
    """A named check: ``fn(ctx)`` returns (results, number of items checked)."""

    name: str
    description: str
    fn: Callable
    scope: str = "order"   # "order" or "book"


@dataclass
class Override:
    """A person's decision to release despite a block: check name, target (order id, key
    or ``*`` for every block of the check), reason and name. Both are required."""

    check: str
    target: str
    reason: str
    by: str
    at: str | None = None

    def __post_init__(self):
        if not (self.reason or "").strip():
            raise DataError("an override needs a reason (--reason)")
        if not (self.by or "").strip():
            raise DataError("an override needs the name of the person (--by)")

    def covers(self, r: CheckResult) -> bool:
        return r.check == self.check and self.target in ("*", r.order_id, r.key)


@dataclass
class ComplianceReport:
    """Every check's outcome on one order list.

    Attributes
    ----------
    results : list of CheckResult
        Every warn and block, in check order.
    checks : list of dict
        Per check: ``name, scope, description, checked, warn, block``.
    nav_pre, nav_post : float (currency)
    weights_pre, weights_post : pandas.Series (fractions of NAV, look-through not applied)
    asof : str
    """

    results: list
    checks: list
    nav_pre: float
    nav_post: float
    weights_pre: pd.Series
    weights_post: pd.Series
    asof: str | None = None
    currency: str = "USD"
    notes: list = field(default_factory=list)

    @property
    def status(self) -> str:
        worst = max((_RANK[r.status] for r in self.results), default=0)
        return {0: PASS, 1: WARN, 2: BLOCK}[worst]

    def blocks(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == BLOCK]

    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == WARN]

    def unresolved(self, overrides=()) -> list[CheckResult]:
        """Blocks no override covers: the list cannot be released while any remain."""
        ov = list(overrides)
        return [r for r in self.blocks() if not any(o.covers(r) for o in ov)]

    def passive(self) -> list[CheckResult]:
        return [r for r in self.results if r.kind == "passive"]

    def to_dict(self) -> dict:
        return {"schema": "computefolio.compliance/1", "status": self.status, "asof": self.asof,
                "currency": self.currency, "nav_pre": self.nav_pre, "nav_post": self.nav_post,
                "checks": self.checks, "results": [r.to_dict() for r in self.results], "notes": list(self.notes),
                "units": {"weights": "fraction of NAV", "notional": self.currency}}


# ----------------------------------------------------------------------------- context
class Context:
    """Arrays shared by the checks (built once per order list)."""

    def __init__(self, engine: "Compliance", orders: pd.DataFrame, valuation, prices: pd.DataFrame,
                 adv: pd.Series | None, accounts: Mapping | None, transfers, asof, passive_since):
        self.engine = engine
        self.mandate, self.policy, self.universe = engine.mandate, engine.policy, engine.universe
        o = orders.reset_index(drop=True)
        missing = [c for c in ORDER_COLUMNS if c not in o.columns]
        if missing:
            raise DataError(f"orders need column(s) {', '.join(missing)}")
        bad = ~o["side"].isin(["buy", "sell"])
        if bad.any():
            raise DataError(f"order {o.loc[bad, 'order_id'].iloc[0]}: field 'side': buy or sell, "
                            f"got {o.loc[bad, 'side'].iloc[0]!r}")
        self.orders = o
        self.o_id = o["order_id"].astype(str).tolist()
        self.o_acct = o["account"].astype(str).tolist()
        self.o_symbol = o["symbol"].astype(str).tolist()
        self.o_side = o["side"].astype(str).tolist()
        self.asof = pd.Timestamp(asof if asof is not None else valuation.day).normalize()
        self.valuation = valuation
        self.accounts = dict(accounts or {})
        held = list(valuation.units().index)
        syms = list(dict.fromkeys([*held, *o["symbol"].astype(str)]))
        unknown = [s for s in syms if self.universe is not None and s not in self.universe]
        self.unknown = set(unknown)
        # look-through: add underlyings so that they have a column
        lt = {}
        if self.universe is not None:
            for s in syms:
                if s in self.universe and self.universe.asset(s).underlying:
                    lt[s] = self.universe.asset(s).underlying
        syms = list(dict.fromkeys([*syms, *lt.values()]))
        self.symbols = syms
        self.idx = {s: i for i, s in enumerate(syms)}
        n = len(syms)
        px = prices.reindex(syms)
        self.prices = px
        self.last = px["price"].to_numpy(dtype=float)
        self.stale_days = px["stale_days"].to_numpy(dtype=float) if "stale_days" in px else np.zeros(n)
        u_pre = valuation.units().reindex(syms).fillna(0.0).to_numpy(dtype=float)
        self.o_sym = o["symbol"].map(self.idx).to_numpy(dtype=np.int64)
        self.o_sign = np.where(o["side"].to_numpy() == "buy", 1.0, -1.0)
        self.o_qty = o["quantity"].to_numpy(dtype=float)
        self.o_px = o["price"].to_numpy(dtype=float)
        self.o_ref = self.last[self.o_sym]
        self.o_notional = self.o_qty * np.where(np.isfinite(self.o_ref), self.o_ref, self.o_px)
        fee = o["est_fee"].to_numpy(dtype=float) if "est_fee" in o else np.zeros(len(o))
        cost = o["est_cost"].to_numpy(dtype=float) if "est_cost" in o else fee
        self.o_fee = np.nan_to_num(fee)
        delta = np.zeros(n)
        np.add.at(delta, self.o_sym, self.o_sign * self.o_qty)
        self.u_pre, self.u_post = u_pre, u_pre + delta
        val_px = np.where(np.isfinite(self.last), self.last, 0.0)
        self.nav_pre = float(valuation.nav)
        self.nav_post = self.nav_pre - float(np.nansum(cost))
        self.v_pre, self.v_post = u_pre * val_px, self.u_post * val_px
        self.w_pre = self.v_pre / self.nav_pre if self.nav_pre else np.zeros(n)
        self.w_post = self.v_post / self.nav_post if self.nav_post else np.zeros(n)
        # look-through weights: move each vehicle onto its underlying
        self.lt_map = np.arange(n)
        for s, u in lt.items():
            self.lt_map[self.idx[s]] = self.idx[u]
        self.lt_pre = np.bincount(self.lt_map, weights=self.w_pre, minlength=n)
        self.lt_post = np.bincount(self.lt_map, weights=self.w_post, minlength=n)
        # cash per account: pre, and post after the orders (at their prices, with fees) and transfers
        cb = valuation.cash_by_account()
        acc_names = list(dict.fromkeys([*cb.index, *o["account"].astype(str), *self.accounts]))
        self.acc = {a: i for i, a in enumerate(acc_names)}
        self.acc_names = acc_names
        c_pre = cb.reindex(acc_names).fillna(0.0).to_numpy(dtype=float)
        # expected cash flow: at the reference (last) price when given, with the estimated cost
        # (fee, spread, impact); the limit price bounds the worst case (rebalance sequences cash on it)
        px_flow = o["ref_price"].to_numpy(dtype=float) if "ref_price" in o else self.o_px
        px_flow = np.where(np.isfinite(px_flow), px_flow, self.o_px)
        flow = -self.o_sign * self.o_qty * px_flow - np.nan_to_num(cost)
        c_post = c_pre.copy()
        np.add.at(c_post, o["account"].map(self.acc).to_numpy(dtype=np.int64), flow)
        for t in transfers or []:
            if t.get("currency_value", None) is not None or t.get("amount") is not None:
                amt = float(t.get("amount"))
                if t.get("from") in self.acc:
                    c_post[self.acc[t["from"]]] -= amt
                if t.get("to") in self.acc:
                    c_post[self.acc[t["to"]]] += amt
        self.cash_pre, self.cash_post = c_pre, c_post
        self.adv = (adv.reindex(syms).to_numpy(dtype=float) if adv is not None else np.full(n, np.nan))
        self.passive_since = dict(passive_since or {})
        m = self.mandate
        self.cure_days = m.cure_days if m is not None and getattr(m, "cure_days", None) is not None \
            else self.policy.cure_days
        self.notes: list[str] = []

    # ------------------------------------------------------------------ helpers
    def book_rule(self, check: str, key: str, pre: float, post: float, lo: float | None, hi: float | None,
                  what: str, unit: str = "of NAV", pct: bool = True) -> CheckResult | None:
        """Classify one book quantity against ``[lo, hi]`` pre and post trade (None: passes)."""
        fmt = (lambda x: f"{100 * x:.2f}%") if pct else (lambda x: f"{x:,.2f}")
        res = None
        for bound, sign in ((hi, 1.0), (lo, -1.0)):
            if bound is None:
                continue
            over_post = sign * (post - bound)
            if over_post <= TOL:
                continue
            over_pre = sign * (pre - bound)
            worse = over_post > over_pre + TOL
            lim = "at most" if sign > 0 else "at least"
            text = f"{what} {fmt(post)} {unit} after the trades, {lim} {fmt(bound)} (before: {fmt(pre)})"
            if worse:
                return CheckResult(check, BLOCK, f"active breach: {text}", key=key, value=post, limit=bound,
                                   kind="active")
            since = pd.Timestamp(self.passive_since.get(f"{check}:{key}", self.asof)).normalize()
            cure_by = since + pd.Timedelta(days=int(self.cure_days))
            reduced = over_post < over_pre - TOL
            overdue = self.asof > cure_by
            status = BLOCK if overdue and not reduced else WARN
            tag = "passive breach" + (" OVERDUE" if overdue else "")
            res = CheckResult(check, status, f"{tag} (first seen {since.date()}, cure by {cure_by.date()}): {text}"
                              + ("; the orders reduce it" if reduced else ""), key=key, value=post, limit=bound,
                              kind="passive", since=str(since.date()), cure_by=str(cure_by.date()))
        return res


# ----------------------------------------------------------------------------- order checks
def _order_result(ctx, i, check, status, message, value=None, limit=None):
    return CheckResult(check, status, f"{ctx.o_side[i]} {ctx.o_qty[i]:g} {ctx.o_symbol[i]} ({ctx.o_acct[i]}): "
                                      f"{message}", order_id=ctx.o_id[i], key=ctx.o_symbol[i],
                       value=None if value is None else float(value), limit=None if limit is None else float(limit))


def check_restricted(ctx):
    out = []
    fixed = ctx.mandate.fixed_zero(ctx.symbols, universe=ctx.universe) if ctx.mandate is not None else {}
    for i in np.flatnonzero(ctx.o_sign > 0):
        s = ctx.symbols[ctx.o_sym[i]]
        if s in ctx.unknown:
            out.append(_order_result(ctx, i, "restricted", BLOCK, f"{s} is not in universe {ctx.universe.name!r}"))
        elif s in fixed:
            out.append(_order_result(ctx, i, "restricted", BLOCK, f"buying {s}: {fixed[s]}"))
    return out, len(ctx.orders)


def _rule_arrays(ctx):
    """Per order: lot step, minimum quantity, minimum notional, venue, calendar (from its symbol's rule)."""
    if "rules" not in ctx.__dict__:
        vr = ctx.engine.venue_rules
        per = {s: vr.rule(s) for s in ctx.symbols if s not in ctx.unknown}
        n = len(ctx.symbols)
        lot, mn, mnot = np.zeros(n), np.zeros(n), np.zeros(n)
        for s, r in per.items():
            j = ctx.idx[s]
            lot[j], mn[j], mnot[j] = r.lot, r.min_qty, r.min_notional
        ctx.rules = (per, lot[ctx.o_sym], mn[ctx.o_sym], mnot[ctx.o_sym])
    return ctx.rules


def check_venue_rules(ctx):
    if ctx.engine.venue_rules is None:
        return [], 0
    per, lot, mn, mnot = _rule_arrays(ctx)
    q = ctx.o_qty
    known = np.array([s not in ctx.unknown for s in ctx.o_symbol], dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(lot > 0, (q - mn) / np.where(lot > 0, lot, 1.0), 0.0)
    off_lot = (lot > 0) & (np.abs(k - np.round(k)) > 1e-6 * np.maximum(1.0, np.abs(k)))
    bad = known & (~(q > 0) | (q < mn * (1 - 1e-12)) | off_lot | (ctx.o_notional < mnot))
    out = []
    for i in np.flatnonzero(bad):
        r = per[ctx.o_symbol[i]]
        if not (q[i] > 0):
            out.append(_order_result(ctx, i, "venue_rules", BLOCK, "quantity must be > 0", q[i], 0.0))
        elif q[i] < mn[i] * (1 - 1e-12):
            out.append(_order_result(ctx, i, "venue_rules", BLOCK, f"below the minimum quantity {r.min_qty:g} on "
                                                                   f"{r.venue}", q[i], r.min_qty))
        elif off_lot[i]:
            out.append(_order_result(ctx, i, "venue_rules", BLOCK, f"quantity is not a multiple of the lot step "
                                                                   f"{r.lot:g} on {r.venue} (nearest below "
                                                                   f"{r.round_qty(q[i]):g})", q[i], r.lot))
        else:
            out.append(_order_result(ctx, i, "venue_rules", BLOCK, f"notional {ctx.o_notional[i]:,.2f} below the "
                                                                   f"venue minimum {r.min_notional:g}",
                                     ctx.o_notional[i], r.min_notional))
    return out, len(ctx.orders)


def check_venue_hours(ctx):
    if ctx.engine.venue_rules is None:
        return [], 0
    per = _rule_arrays(ctx)[0]
    o = ctx.orders
    col = o["session"] if "session" in o else (o["trade_date"] if "trade_date" in o else None)
    days = pd.to_datetime(col).dt.normalize() if col is not None else pd.Series(ctx.asof, index=o.index)
    days = days.fillna(ctx.asof).tolist()
    deferred = o["deferred"].fillna(False).astype(bool).tolist() if "deferred" in o else [False] * len(o)
    cache: dict = {}
    out, deferred_n = [], 0
    for i in range(len(o)):
        s = ctx.o_symbol[i]
        if s in ctx.unknown:
            continue
        r = per[s]
        key = (r.calendar, days[i])
        if key not in cache:
            cache[key] = r.is_open(days[i])
        if not cache[key]:
            nxt, _ = r.session(days[i])
            out.append(_order_result(ctx, i, "venue_hours", BLOCK, f"{r.venue} ({r.calendar}) is closed on "
                                                                   f"{days[i].date()}; its next session is "
                                                                   f"{nxt.date()}"))
        elif deferred[i]:
            deferred_n += 1
    if deferred_n:
        ctx.notes.append(f"{deferred_n} order(s) placed on a day their venue is closed are for its next session "
                         f"(marked deferred; they pass venue_hours)")
    return out, len(o)


def check_price_collar(ctx):
    c = ctx.policy.price_collar
    ref = ctx.o_ref
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.abs(ctx.o_px / ref - 1.0)
    out = []
    for i in np.flatnonzero(~np.isfinite(dev) | (dev > c.warn)):
        if not np.isfinite(dev[i]):
            out.append(_order_result(ctx, i, "price_collar", BLOCK, "no last price to compare the order price with"))
            continue
        st = BLOCK if dev[i] > c.block else WARN
        out.append(_order_result(ctx, i, "price_collar", st,
                                 f"price {ctx.o_px[i]:,.6g} is {100 * dev[i]:.1f}% from the last price "
                                 f"{ref[i]:,.6g} (collar: warn {100 * c.warn:g}%, block {100 * c.block:g}%)",
                                 float(dev[i]), c.block if st == BLOCK else c.warn))
    return out, len(ctx.orders)


def check_max_order_notional(ctx):
    m = ctx.policy.max_order_notional
    lims = [x for x in ((m.fraction_of_nav * ctx.nav_pre) if m.fraction_of_nav else None, m.amount) if x is not None]
    if not lims:
        return [], 0
    lim = min(lims)
    val = ctx.o_qty * ctx.o_px
    out = [_order_result(ctx, i, "max_order_notional", BLOCK, f"order value {val[i]:,.0f} {ctx.valuation.currency} "
                                                              f"above the maximum {lim:,.0f}", float(val[i]), lim)
           for i in np.flatnonzero(val > lim * (1 + TOL))]
    return out, len(ctx.orders)


def check_stale_price(ctx):
    sp = ctx.policy.stale_price
    st = ctx.stale_days[ctx.o_sym]
    out = []
    for i in np.flatnonzero(~np.isfinite(st) | (st >= max(sp.warn_days, 1))):
        s = ctx.symbols[ctx.o_sym[i]]
        if not np.isfinite(st[i]):
            out.append(_order_result(ctx, i, "stale_price", BLOCK, f"no price for {s} on or before {ctx.asof.date()}"))
            continue
        d = ctx.prices.at[s, "date"] if "date" in ctx.prices else None
        status = BLOCK if st[i] > sp.block_days else WARN
        out.append(_order_result(ctx, i, "stale_price", status,
                                 f"last price of {s} is from {pd.Timestamp(d).date() if d is not None else '?'}, "
                                 f"{int(st[i])} day(s) stale (block above {sp.block_days})", float(st[i]),
                                 float(sp.block_days)))
    return out, len(ctx.orders)


def check_adv(ctx):
    liq = ctx.mandate.liquidity if ctx.mandate is not None else None
    if liq is None or not liq.max_adv_fraction:
        return [], 0
    adv = ctx.adv[ctx.o_sym]
    known = np.isfinite(adv) & (adv > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(known, ctx.o_notional / np.where(known, adv, 1.0), np.nan)
    cap = liq.max_adv_fraction
    out = []
    for i in np.flatnonzero(~known | (frac > ctx.policy.adv_warn * cap)):
        if not known[i]:
            out.append(_order_result(ctx, i, "adv_participation", WARN, "no ADV known: participation not checked"))
        else:
            st = BLOCK if frac[i] > cap + TOL else WARN
            out.append(_order_result(ctx, i, "adv_participation", st, f"{100 * frac[i]:.1f}% of ADV {adv[i]:,.0f} "
                                     + (f"(at most {100 * cap:g}%)" if st == BLOCK else f"(limit {100 * cap:g}%)"),
                                     frac[i], cap))
    return out, len(ctx.orders)


def check_oversell(ctx):
    pos = ctx.valuation.positions
    have = {(a, s): float(q) for a, s, q in pos[["account", "symbol", "quantity"]].itertuples(index=False)} \
        if len(pos) else {}
    net: dict = {}
    for a, s, d in zip(ctx.o_acct, ctx.o_symbol, (ctx.o_sign * ctx.o_qty).tolist()):
        net[(a, s)] = net.get((a, s), 0.0) + d
    bad = {}
    if ctx.mandate is None or ctx.mandate.long_only:
        for k, d in net.items():
            h = have.get(k, 0.0)
            if h + d < -TOL * max(1.0, abs(h)):
                bad[k] = (h, h + d)
    out = []
    for i in np.flatnonzero(ctx.o_sign < 0) if bad else []:
        k = (ctx.o_acct[i], ctx.o_symbol[i])
        if k in bad:
            h, p = bad[k]
            out.append(_order_result(ctx, i, "oversell", BLOCK, f"{k[0]} holds {h:g} {k[1]}; after the orders "
                                                                f"{p:g} (long only)", p, 0.0))
    return out, len(net)


# ----------------------------------------------------------------------------- book checks
def check_asset_caps(ctx):
    m = ctx.mandate
    if m is None:
        return [], 0
    out = []
    touched = set(ctx.lt_map[np.unique(ctx.o_sym)]) if len(ctx.orders) else set()
    for j in np.flatnonzero((ctx.lt_pre != 0) | (ctx.lt_post != 0)):
        s = ctx.symbols[j]
        ov = m.assets.overrides.get(s)
        hi = m.assets.max if ov is None or ov.max is None else ov.max
        lo = m.assets.min if ov is None or ov.min is None else ov.min
        members = [ctx.symbols[k] for k in np.flatnonzero(ctx.lt_map == j) if ctx.w_post[k] or ctx.w_pre[k]]
        what = f"{s}" + (f" (look-through: {' + '.join(members)})" if len(members) > 1 or members != [s] else "")
        r = ctx.book_rule("asset_caps", s, ctx.lt_pre[j], ctx.lt_post[j], lo if lo > 0 and j in touched else None,
                          hi, what)
        if r is not None:
            out.append(r)
    return out, int(((ctx.lt_pre != 0) | (ctx.lt_post != 0)).sum())


def check_issuer_caps(ctx):
    rule = ctx.policy.issuers
    if rule is None or ctx.universe is None:
        return [], 0
    iss = pd.Index([ctx.universe.issuer_of(s) if s not in ctx.unknown else s for s in ctx.symbols])
    pre = pd.Series(ctx.w_pre).groupby(iss).sum()
    post = pd.Series(ctx.w_post).groupby(iss).sum()
    out = []
    for k in post.index:
        r = ctx.book_rule("issuer_caps", k, float(pre[k]), float(post[k]), None, rule.max, f"issuer {k}")
        if r is not None:
            out.append(r)
    if rule.above is not None and rule.above_total_max is not None:
        agg_pre = float(pre[pre > rule.above].sum())
        agg_post = float(post[post > rule.above].sum())
        r = ctx.book_rule("issuer_caps", f"issuers above {rule.above:g}", agg_pre, agg_post, None,
                          rule.above_total_max, f"issuers above {100 * rule.above:g}% together")
        if r is not None:
            out.append(r)
    return out, len(post)


def check_group_caps(ctx):
    m = ctx.mandate
    if m is None or not m.groups or ctx.universe is None:
        return [], 0
    known = [s for s in ctx.symbols if s not in ctx.unknown]
    kidx = np.array([ctx.idx[s] for s in known], dtype=np.int64)
    out = []
    for g in m.groups:
        mem = ctx.engine.membership(g.by, known, ctx.asof)
        if g.group not in mem.columns:
            raise DataError(f"mandate {m.name!r}: group {g.by} {g.group!r} is not in universe {ctx.universe.name!r}")
        col = mem[g.group].to_numpy()
        pre = float(ctx.lt_pre[kidx] @ col)
        post = float(ctx.lt_post[kidx] @ col)
        r = ctx.book_rule("group_caps", f"{g.by}:{g.group}", pre, post, g.min, g.max, f"{g.by} {g.group}")
        if r is not None:
            out.append(r)
    return out, len(m.groups)


def check_gross(ctx):
    m = ctx.mandate
    if m is None or m.gross_leverage_max is None:
        return [], 0
    r = ctx.book_rule("gross_exposure", "gross", float(np.abs(ctx.w_pre).sum()), float(np.abs(ctx.w_post).sum()),
                      None, m.gross_leverage_max, "gross exposure")
    return ([r] if r else []), 1


def check_cash_floor(ctx):
    m = ctx.mandate
    if m is None:
        return [], 0
    pre = float(ctx.cash_pre.sum()) / ctx.nav_pre if ctx.nav_pre else 0.0
    post = float(ctx.cash_post.sum()) / ctx.nav_post if ctx.nav_post else 0.0
    r = ctx.book_rule("cash_floor", "cash", pre, post, m.cash_min, None, "cash")
    return ([r] if r else []), 1


def check_account_cash(ctx):
    out = []
    for a, i in ctx.acc.items():
        acc = ctx.accounts.get(a)
        floor = acc.cash_min if acc is not None else 0.0
        r = ctx.book_rule("account_cash", a, float(ctx.cash_pre[i]), float(ctx.cash_post[i]), floor, None,
                          f"cash in account {a}", unit=ctx.valuation.currency, pct=False)
        if r is not None:
            out.append(r)
    return out, len(ctx.acc)


def check_days_to_liquidate(ctx):
    m = ctx.mandate
    liq = m.liquidity if m is not None else None
    if liq is None or not liq.max_days_to_liquidate:
        return [], 0
    cap = liq.max_days_to_liquidate
    with np.errstate(divide="ignore", invalid="ignore"):
        d_pre = np.abs(ctx.v_pre) / (liq.participation * ctx.adv)
        d_post = np.abs(ctx.v_post) / (liq.participation * ctx.adv)
    out = []
    n = 0
    for j in np.flatnonzero((ctx.v_pre != 0) | (ctx.v_post != 0)):
        if not np.isfinite(ctx.adv[j]) or ctx.adv[j] <= 0:
            continue
        n += 1
        r = ctx.book_rule("days_to_liquidate", ctx.symbols[j], float(d_pre[j]), float(d_post[j]), None, cap,
                          f"{ctx.symbols[j]} days to liquidate at {100 * liq.participation:g}% of ADV",
                          unit="days", pct=False)
        if r is not None:
            out.append(r)
    return out, n


def check_compute_exposure(ctx):
    m = ctx.mandate
    if m is None or m.compute_exposure_min is None or ctx.universe is None:
        return [], 0
    known = [s for s in ctx.symbols if s not in ctx.unknown]
    kidx = np.array([ctx.idx[s] for s in known], dtype=np.int64)
    c = ctx.universe.compute_exposure(ctx.asof, known).to_numpy()

    def avg(w):
        tot = w[kidx].sum()
        return float(w[kidx] @ c / tot) if tot > TOL else None

    pre, post = avg(ctx.w_pre), avg(ctx.w_post)
    if post is None:
        return [], 1
    r = ctx.book_rule("compute_exposure", "compute", pre if pre is not None else post, post,
                      m.compute_exposure_min, None, "weighted compute score", unit="", pct=False)
    return ([r] if r else []), 1


def check_turnover(ctx):
    m = ctx.mandate
    if m is None or m.turnover_max is None:
        return [], 0
    if np.abs(ctx.w_pre).sum() < 0.05:
        ctx.notes.append("turnover not checked: the book is being invested from cash (under 5% invested)")
        return [], 0
    t = 0.5 * float(np.abs(ctx.w_post - ctx.w_pre).sum())
    if t > m.turnover_max + TOL:
        return [CheckResult("turnover", BLOCK, f"one-way turnover {100 * t:.2f}% of NAV, at most "
                                               f"{100 * m.turnover_max:g}%", key="turnover", value=t,
                            limit=m.turnover_max, kind="active")], 1
    return [], 1


def check_restricted_holdings(ctx):
    if ctx.mandate is None:
        return [], 0
    fixed = ctx.mandate.fixed_zero(ctx.symbols, universe=ctx.universe)
    out = []
    for s, why in fixed.items():
        j = ctx.idx[s]
        if ctx.w_post[j] > TOL:
            r = ctx.book_rule("restricted_holdings", s, ctx.w_pre[j], ctx.w_post[j], None, 0.0, f"{s} ({why})")
            if r is not None:
                out.append(r)
    return out, len(fixed)


def _marked(ctx) -> np.ndarray:
    """Per symbol of the context: priced by a mark (a private position)."""
    st = ctx.prices["status"].reindex(ctx.symbols).to_numpy() if "status" in ctx.prices else None
    out = np.array([x == "mark" for x in st], dtype=bool) if st is not None else np.zeros(len(ctx.symbols), bool)
    if ctx.universe is not None:
        out |= np.array([s in ctx.universe and ctx.universe.asset(s).asset_class == "private" for s in ctx.symbols])
    return out


def _locked_units(ctx) -> tuple[np.ndarray, dict]:
    """Locked units per symbol (all accounts) and per (account, symbol): the valuation's
    ``locked_units`` (private terms), and whole positions the universe locks past the as-of date."""
    n = len(ctx.symbols)
    tot = np.zeros(n)
    per: dict = {}
    pos = ctx.valuation.positions
    if len(pos):
        for r in pos.itertuples(index=False):
            lk = float(getattr(r, "locked_units", 0.0) or 0.0)
            if ctx.universe is not None and r.symbol in ctx.universe:
                liq = ctx.universe.asset(r.symbol).liquidity
                if liq is not None and liq.locked_until is not None and pd.Timestamp(liq.locked_until) > ctx.asof:
                    lk = float(r.quantity)
            if lk and r.symbol in ctx.idx:
                tot[ctx.idx[r.symbol]] += lk
                per[(r.account, r.symbol)] = per.get((r.account, r.symbol), 0.0) + lk
    return tot, per


def check_private_share(ctx):
    m = ctx.mandate
    if m is None or getattr(m, "private_max", None) is None:
        return [], 0
    mk = _marked(ctx)
    r = ctx.book_rule("private_share", "private", float(ctx.w_pre[mk].sum()), float(ctx.w_post[mk].sum()), None,
                      m.private_max, "positions valued by marks")
    return ([r] if r is not None else []), 1


def check_locked_share(ctx):
    m = ctx.mandate
    if m is None or getattr(m, "locked_max", None) is None:
        return [], 0
    lk, _ = _locked_units(ctx)
    px = np.where(np.isfinite(ctx.last), ctx.last, 0.0)
    val = float(lk @ px)
    pre = val / ctx.nav_pre if ctx.nav_pre else 0.0
    post = val / ctx.nav_post if ctx.nav_post else 0.0
    r = ctx.book_rule("locked_share", "locked", pre, post, None, m.locked_max,
                      "locked value (lock-ups, vesting, fund lock-ups)")
    return ([r] if r is not None else []), 1


def check_locked_sale(ctx):
    _, per = _locked_units(ctx)
    if not per:
        return [], 0
    held = {}
    pos = ctx.valuation.positions
    for r in pos.itertuples(index=False):
        held[(r.account, r.symbol)] = held.get((r.account, r.symbol), 0.0) + float(r.quantity)
    sold: dict = {}
    out = []
    for i in np.flatnonzero(ctx.o_sign < 0):
        key = (ctx.o_acct[i], ctx.o_symbol[i])
        if key not in per:
            continue
        sold[key] = sold.get(key, 0.0) + float(ctx.o_qty[i])
        free = held.get(key, 0.0) - per[key]
        if sold[key] > free + 1e-9:
            out.append(_order_result(ctx, i, "locked_sale", BLOCK, f"{per[key]:,.6g} of the {held.get(key, 0.0):,.6g} "
                                                                   f"units in {key[0]} are locked on "
                                                                   f"{ctx.asof.date()}; at most {max(free, 0):,.6g} "
                                                                   "can be sold", sold[key], max(free, 0.0)))
    return out, int((ctx.o_sign < 0).sum())


def check_mark_age(ctx):
    m = ctx.mandate
    lim = getattr(m, "mark_age_max_days", None) if m is not None else None
    if lim is None or "age_days" not in ctx.prices:
        return [], 0
    mk = _marked(ctx)
    age = ctx.prices["age_days"].reindex(ctx.symbols).to_numpy(dtype=float)
    out, n = [], 0
    for j in np.flatnonzero(mk & (ctx.u_pre != 0)):
        n += 1
        if np.isfinite(age[j]) and age[j] > lim:
            s = ctx.symbols[j]
            out.append(CheckResult("mark_age", WARN, f"{s} is valued by a mark {age[j]:.0f} days old, beyond the "
                                                     f"mandate's {lim} days: book a new mark", key=s,
                                   value=float(age[j]), limit=float(lim), kind="passive"))
    old = mk & ~(np.isfinite(age) & (age <= lim))
    for i in np.flatnonzero(old[ctx.o_sym]):
        j = ctx.o_sym[i]
        out.append(_order_result(ctx, i, "mark_age", BLOCK, f"priced by a mark {age[j]:.0f} days old (limit "
                                                            f"{lim} days): no order on a stale mark", age[j], lim))
    return out, n + len(ctx.orders)


CHECKS: list[Check] = [
    Check("restricted", "buying a restricted asset, or a benchmark the mandate does not hold, blocks", check_restricted),
    Check("venue_rules", "quantity on the venue's lot step and minimum; notional above the venue minimum",
          check_venue_rules),
    Check("venue_hours", "the venue is open for the order's session (orders deferred to the next session pass)",
          check_venue_hours),
    Check("price_collar", "order price within the collar around the last price (fat finger)", check_price_collar),
    Check("max_order_notional", "order value at most the policy's maximum", check_max_order_notional),
    Check("stale_price", "the asset's last price is not stale beyond the policy's age", check_stale_price),
    Check("adv_participation", "order value at most max_adv_fraction of ADV", check_adv),
    Check("oversell", "no account sells more than it holds (long only)", check_oversell),
    Check("asset_caps", "each asset within its bounds after the trades, look-through (GBTC, IBIT count as BTC)",
          check_asset_caps, "book"),
    Check("issuer_caps", "issuer concentration (UCITS 5/10/40 when the policy sets it)", check_issuer_caps, "book"),
    Check("group_caps", "sleeve, layer, theme and other group exposures within the mandate's bounds",
          check_group_caps, "book"),
    Check("gross_exposure", "gross exposure at most gross_leverage_max", check_gross, "book"),
    Check("cash_floor", "book cash at least cash_min of NAV", check_cash_floor, "book"),
    Check("account_cash", "each account's cash at least its floor, never negative", check_account_cash, "book"),
    Check("days_to_liquidate", "positions liquidate within max_days_to_liquidate at the participation rate",
          check_days_to_liquidate, "book"),
    Check("compute_exposure", "weighted compute score at least compute_exposure_min", check_compute_exposure, "book"),
    Check("turnover", "one-way turnover at most turnover_max", check_turnover, "book"),
    Check("restricted_holdings", "no restricted asset or unheld benchmark kept in the book", check_restricted_holdings,
          "book"),
    Check("private_share", "positions valued by marks at most private_max of NAV", check_private_share, "book"),
    Check("locked_share", "locked value (lock-ups, vesting) at most locked_max of NAV", check_locked_share, "book"),
    Check("locked_sale", "no order sells units that are locked on the day", check_locked_sale),
    Check("mark_age", "marks no older than mark_age_max_days; no order on an older mark", check_mark_age, "book"),
]
#: Book rules that a released list must never break after the trades (active).
HARD_RULES: tuple[str, ...] = ("asset_caps", "group_caps", "gross_exposure", "cash_floor", "account_cash",
                               "days_to_liquidate", "compute_exposure", "restricted_holdings", "oversell",
                               "restricted", "issuer_caps")


class Compliance:
    """The pre-trade compliance engine.

    Parameters
    ----------
    mandate : Mandate, optional
    policy : CompliancePolicy, optional (the shipped one by default)
    universe : Universe, optional
    venue_rules : :class:`~computefolio.rebalance.venues.VenueRules`, optional
    checks : list of Check, optional (default :data:`CHECKS`)
    """

    def __init__(self, mandate=None, policy=None, universe=None, venue_rules=None, checks=None):
        from .policy import load_policy

        self.mandate = mandate
        self.policy = policy if policy is not None else load_policy()
        self.universe = universe
        self.venue_rules = venue_rules
        self.checks = list(CHECKS if checks is None else checks)
        self._mem: dict = {}

    def membership(self, by: str, symbols: list[str], date) -> pd.DataFrame:
        key = (by, tuple(symbols), pd.Timestamp(date).date())
        if key not in self._mem:
            self._mem[key] = self.universe.membership(by, date=date, symbols=symbols)
        return self._mem[key]

    def check(self, orders: pd.DataFrame, valuation, *, prices: pd.DataFrame | None = None, adv=None,
              market=None, accounts=None, transfers=None, asof=None, passive_since=None) -> ComplianceReport:
        """Run every check on ``orders`` against the book ``valuation``.

        Parameters
        ----------
        orders : pandas.DataFrame
            Columns ``order_id, account, symbol, side, quantity, price`` (units; currency
            per unit: the limit, or the expected price of a market order) and optionally
            ``trade_date, session, deferred, est_fee, est_cost``.
        valuation : :class:`~computefolio.book.valuation.Valuation` (the book before the orders)
        prices : prices at the cut-off (:func:`computefolio.book.prices_at`) of every symbol
            involved; computed from ``market`` when None.
        adv : pandas.Series, ADV per symbol (currency per venue day); from ``market`` when None.
        market : MarketData, optional
        accounts : mapping account id -> Account (cash floors)
        transfers : list of dicts ``{from, to, amount}`` proposed with the orders (base currency)
        asof : date of the check (default: the valuation's day)
        passive_since : mapping ``"check:key" -> date`` a passive breach was first seen

        Returns
        -------
        ComplianceReport
        """
        if prices is None:
            if market is None:
                raise DataError("compliance needs prices (prices=) or the market (market=)")
            from ..book.pricing import prices_at

            syms = [s for s in dict.fromkeys([*valuation.units().index, *orders["symbol"].astype(str)])
                    if s in market.symbols]
            if self.universe is not None:
                syms += [self.universe.asset(s).underlying for s in syms
                         if s in self.universe and self.universe.asset(s).underlying
                         and self.universe.asset(s).underlying in market.symbols]
            prices = prices_at(market, asof or valuation.day, list(dict.fromkeys(syms)))
        if adv is None and market is not None:
            adv = market.venue_adv(20, asof or valuation.day)
        vp = getattr(valuation, "prices", None)
        if vp is not None and len(vp) and "status" in vp:
            mk = vp[vp["status"] == "mark"]  # private positions priced by their marks (computefolio.private)
            if len(mk):
                prices = pd.concat([prices.drop(index=[s for s in mk.index if s in prices.index]), mk])
        ctx = Context(self, orders, valuation, prices, adv, accounts, transfers, asof, passive_since)
        results, summary = [], []
        for c in self.checks:
            res, n = c.fn(ctx)
            results.extend(res)
            summary.append({"name": c.name, "scope": c.scope, "description": c.description, "checked": int(n),
                            "warn": sum(r.status == WARN for r in res), "block": sum(r.status == BLOCK for r in res)})
        idx = pd.Index(ctx.symbols, name="symbol")
        return ComplianceReport(results=results, checks=summary, nav_pre=ctx.nav_pre, nav_post=ctx.nav_post,
                                weights_pre=pd.Series(ctx.w_pre, index=idx), weights_post=pd.Series(ctx.w_post, index=idx),
                                asof=str(ctx.asof.date()), currency=valuation.currency, notes=ctx.notes)
