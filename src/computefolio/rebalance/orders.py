"""From target weights to orders by account and venue: sizing, rounding, costs, cash.

LEAN's order sizing in three steps (target - holdings, rounded toward zero to the lot),
with what a multi-venue book adds:

1. **Size.** Per symbol, units to trade = (target weight x NAV - value held) / last price.
   Sells come from the accounts that hold the asset and trade on its venue (largest
   first); units at a custodian are not sold (the order list says so: move them to a
   trading account first). Buys go to the trading account that already holds the asset,
   else the first account (by id) that trades on its venue.
2. **Round** toward zero to the venue's lot step and minimum quantity; an order below the
   venue's minimum quantity or notional is dropped and listed (:mod:`.venues`). Each order
   gets its session (equities on a closed day: the next session, marked ``deferred``), its
   settlement date (T+1 for US equities, immediate for crypto) and a limit price (last
   price +/- the venue file's band, on the tick).
3. **Sequence cash** per account (:func:`sequence_cash`): sells fund buys on the same
   account; an account still short of cash (below its floor) gets a proposed transfer
   from accounts with spare cash; if the book has too little, that account's buys are
   scaled down (and rounded toward zero again). Worst-case amounts use the limit prices,
   so no account ends below its floor whatever the fills within the limits.

Estimated cost per order (:func:`estimate_costs`) is the backtest's cost model
(:mod:`computefolio.backtest.costs`): fee + half spread + ``k sigma sqrt(notional/ADV)``
on the notional, sigma and ADV per period of the strategy's basis up to the NAV date.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .venues import VenueRules

#: Columns of an order (orders.csv has them in this order).
ORDER_FIELDS: tuple[str, ...] = (
    "order_id", "list_id", "seq", "account", "venue", "symbol", "side", "quantity", "limit_price", "price",
    "ref_price", "price_date", "notional", "currency", "trade_date", "session", "deferred", "settle_date",
    "est_fee", "est_spread", "est_impact", "est_cost", "est_cost_bps", "target_quantity", "funding", "note")
DROPPED_FIELDS: tuple[str, ...] = ("account", "symbol", "side", "quantity", "notional", "reason")


def list_id_for(state_head: str, asof, trade_date, strategy: str, n: int = 1) -> str:
    """Stable id of an order list: the book state, dates and strategy (``.n`` when superseding)."""
    h = hashlib.sha256(f"{state_head}|{pd.Timestamp(asof).date()}|{pd.Timestamp(trade_date).date()}|"
                       f"{strategy}".encode()).hexdigest()[:12]
    return f"L{h}" + (f".{n}" if n > 1 else "")


def _trading_accounts(accounts: dict, venue: str) -> list:
    return sorted((a for a in accounts.values() if a.trades_on(venue)), key=lambda a: a.account)


def size_orders(valuation, targets: pd.Series, *, accounts: dict, rules: VenueRules, prices: pd.DataFrame,
                trade_date, list_id: str = "L", hold=(), nav: float | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Orders that move the book to ``targets`` (see the module docstring, steps 1-2).

    Parameters
    ----------
    valuation : Valuation (the book now)
    targets : pandas.Series, symbol -> fraction of NAV (symbols held but absent are sold)
    accounts : mapping account id -> Account
    rules : VenueRules
    prices : prices at the cut-off of every symbol involved (``prices_at``)
    trade_date : date the orders are placed on
    list_id : id prefix of the orders
    hold : symbols not to trade (kept as they are; e.g. stale prices)
    nav : the value target weights apply to (default the valuation's NAV; the plan passes the
        NAV net of the orders' estimated costs, so that costs do not eat into the cash floor)

    Returns
    -------
    (orders, dropped, notes)
    """
    nav = valuation.nav if nav is None else float(nav)
    td = pd.Timestamp(trade_date).normalize()
    t = pd.Series(targets, dtype=float)
    t = t[t.abs() > 0]
    held = valuation.values()
    syms = list(dict.fromkeys([*held.index, *t.index]))
    pos = valuation.positions
    rows, dropped, notes = [], [], []
    band = rules.limit_band
    for s in syms:
        if s in hold:
            continue
        price = float(prices.at[s, "price"]) if s in prices.index else np.nan
        if not np.isfinite(price) or price <= 0:
            dropped.append({"account": "", "symbol": s, "side": "", "quantity": np.nan, "notional": np.nan,
                            "reason": "no price at the cut-off"})
            continue
        r = rules.rule(s)
        want = float(t.get(s, 0.0)) * nav
        diff_units = (want - float(held.get(s, 0.0))) / price
        if diff_units == 0:
            continue
        legs: list[tuple[str, float]] = []
        if diff_units < 0:
            need = -diff_units
            here = pos[pos["symbol"] == s].sort_values(["quantity", "account"], ascending=[False, True])
            for a, q in here[["account", "quantity"]].itertuples(index=False):
                acc = accounts.get(a)
                if acc is None or not acc.trades_on(r.venue):
                    if need > 1e-12 and q > 0:
                        notes.append(f"{q:g} {s} in {a} ({acc.kind if acc else 'unknown account'}) cannot be sold "
                                     f"there: transfer to an account trading on {r.venue} first")
                    continue
                take = min(q, need)
                if take > 0:
                    legs.append((a, -take))
                    need -= take
                if need <= 1e-12:
                    break
            if need > 1e-9 * max(1.0, -diff_units):
                dropped.append({"account": "", "symbol": s, "side": "sell", "quantity": need,
                                "notional": need * price, "reason": f"not held in an account trading on {r.venue}"})
        else:
            here = pos[(pos["symbol"] == s)].sort_values(["quantity", "account"], ascending=[False, True])
            acct = next((a for a in here["account"] if accounts.get(a) and accounts[a].trades_on(r.venue)), None)
            if acct is None:
                tr = _trading_accounts(accounts, r.venue)
                acct = tr[0].account if tr else None
            if acct is None:
                dropped.append({"account": "", "symbol": s, "side": "buy", "quantity": diff_units,
                                "notional": diff_units * price, "reason": f"no account trades on venue {r.venue}"})
                continue
            legs.append((acct, diff_units))
        for a, q in legs:
            side = "buy" if q > 0 else "sell"
            rq = r.round_qty(abs(q))
            notional = rq * price
            if rq == 0.0:
                dropped.append({"account": a, "symbol": s, "side": side, "quantity": abs(q), "notional": abs(q) * price,
                                "reason": f"below the minimum quantity {r.min_qty:g} on {r.venue}"})
                continue
            if notional < r.min_notional:
                dropped.append({"account": a, "symbol": s, "side": side, "quantity": rq, "notional": notional,
                                "reason": f"notional below the venue minimum {r.min_notional:g} {r.quote}"})
                continue
            session, deferred = r.session(td)
            limit = r.round_price(price * (1 + band) if side == "buy" else price * (1 - band), side)
            rows.append({"account": a, "venue": r.venue, "symbol": s, "side": side, "quantity": rq,
                         "limit_price": limit, "price": limit, "ref_price": price,
                         "price_date": prices.at[s, "date"] if "date" in prices else pd.NaT,
                         "notional": notional, "currency": r.quote, "trade_date": td, "session": session,
                         "deferred": deferred, "settle_date": r.settlement(session), "target_quantity": abs(q),
                         "funding": "", "note": f"{r.venue} closed on {td.date()}: for the {session.date()} session"
                         if deferred else ""})
    orders = pd.DataFrame(rows, columns=[c for c in ORDER_FIELDS if c not in ("order_id", "list_id", "seq", "est_fee",
                                                                            "est_spread", "est_impact", "est_cost",
                                                                            "est_cost_bps")])
    orders = _number(orders, list_id)
    return orders, pd.DataFrame(dropped, columns=list(DROPPED_FIELDS)), notes


def _number(orders: pd.DataFrame, list_id: str) -> pd.DataFrame:
    """Execution step (1 sells, 2 buys) and stable ids ``<list_id>-NNN`` in a fixed order."""
    o = orders.copy()
    o["seq"] = np.where(o["side"] == "sell", 1, 3).astype(int)
    o = o.sort_values(["seq", "venue", "account", "symbol"], kind="mergesort").reset_index(drop=True)
    o.insert(0, "list_id", list_id)
    o.insert(0, "order_id", [f"{list_id}-{k + 1:03d}" for k in range(len(o))])
    return o


def estimate_costs(orders: pd.DataFrame, cost_model, *, sigma: pd.Series, adv: pd.Series,
                   venues: dict | None = None) -> pd.DataFrame:
    """Add ``est_fee, est_spread, est_impact, est_cost`` (currency) and ``est_cost_bps``.

    ``sigma``: return volatility per period of the basis; ``adv``: traded value per period
    (currency), both up to the NAV date. Unknown ADV: impact 0 (the note says so).
    """
    o = orders.copy()
    if not len(o):
        for c in ("est_fee", "est_spread", "est_impact", "est_cost", "est_cost_bps"):
            o[c] = pd.Series(dtype=float)
        return o
    syms = list(o["symbol"])
    arr = cost_model.arrays(syms, {s: v for s, v in zip(o["symbol"], o["venue"])} | dict(venues or {}))
    x = o["notional"].to_numpy(dtype=float)
    sg = sigma.reindex(syms).to_numpy(dtype=float)
    ad = adv.reindex(syms).to_numpy(dtype=float)
    known = np.isfinite(ad) & (ad > 0) & np.isfinite(sg)
    with np.errstate(divide="ignore", invalid="ignore"):
        imp = np.where(known, arr["impact_k"] * sg * np.sqrt(x / ad) * x, 0.0)
    o["est_fee"] = arr["fee"] * x
    o["est_spread"] = arr["spread"] * x
    o["est_impact"] = imp
    o["est_cost"] = o["est_fee"] + o["est_spread"] + o["est_impact"]
    o["est_cost_bps"] = np.where(x > 0, 1e4 * o["est_cost"] / x, 0.0)
    miss = ~known
    if miss.any():
        o.loc[miss, "note"] = (o.loc[miss, "note"].astype(str) + "; no ADV: impact not estimated").str.lstrip("; ")
    return o


def _worst_flow(o: pd.DataFrame) -> np.ndarray:
    """Cash change per order at its limit price with its fee (negative for buys)."""
    fee = o["est_fee"].to_numpy(dtype=float) if "est_fee" in o else np.zeros(len(o))
    px = o["limit_price"].to_numpy(dtype=float)
    q = o["quantity"].to_numpy(dtype=float)
    return np.where(o["side"].to_numpy() == "buy", -(q * px + fee), q * px - fee)


def sequence_cash(orders: pd.DataFrame, valuation, accounts: dict, rules: VenueRules | None = None
                  ) -> tuple[pd.DataFrame, list[dict], list[str]]:
    """Fund every account's buys: sells first, then proposed transfers, then scaled buys.

    Returns ``(orders, transfers, notes)``; ``transfers`` are dicts ``{transfer_id, from, to,
    amount, currency, reason}`` (amount in the base currency; stablecoins at par).
    After sequencing, for every account: cash - floor + worst-case flows + transfers >= 0.
    """
    o = orders.copy().reset_index(drop=True)
    cash = valuation.cash_by_account()
    names = sorted(set(cash.index) | set(o["account"]) | set(accounts))
    floor = {a: (accounts[a].cash_min if a in accounts else 0.0) for a in names}
    avail = {a: float(cash.get(a, 0.0)) - floor[a] for a in names}
    flow = _worst_flow(o) if len(o) else np.zeros(0)
    net = {a: avail[a] + float(flow[(o["account"] == a).to_numpy()].sum()) if len(o) else avail[a] for a in names}
    transfers: list[dict] = []
    notes: list[str] = []
    can_send = {a for a in names if a not in accounts or accounts[a].kind != "private"}
    short = sorted((a for a in names if net[a] < -1e-9), key=lambda a: net[a])
    for a in short:
        need = -net[a]
        donors = sorted((d for d in names if d != a and d in can_send and net[d] > 1e-9), key=lambda d: -net[d])
        for d in donors:
            if need <= 1e-9:
                break
            amt = min(need, net[d])
            amt = float(np.floor(amt * 100) / 100)  # whole cents, toward zero
            if amt <= 0:
                continue
            k = len(transfers) + 1
            cur = accounts[a].currency if a in accounts else "USD"
            transfers.append({"transfer_id": f"T{k}", "from": d, "to": a, "amount": amt, "currency": cur,
                              "reason": f"{a} is short of cash for its buys (after its own sells)"})
            net[d] -= amt
            net[a] += amt
            need -= amt
        if len(o):
            mask = (o["account"] == a).to_numpy() & (o["side"] == "buy").to_numpy()
            if transfers and any(t["to"] == a for t in transfers):
                ids = ", ".join(t["transfer_id"] for t in transfers if t["to"] == a)
                o.loc[mask, "funding"] = f"after transfer {ids}"
        if net[a] < -1e-9 and len(o):
            mask = (o["account"] == a).to_numpy() & (o["side"] == "buy").to_numpy()
            buys = -float(flow[mask].sum())
            if buys <= 0:
                notes.append(f"account {a} is below its cash floor by {-net[a]:,.2f} and no other account has spare cash")
                continue
            f = max(0.0, (buys + net[a]) / buys)
            for i in np.flatnonzero(mask):
                s = o.at[i, "symbol"]
                q0 = float(o.at[i, "quantity"])
                q = q0 * f
                q = rules.rule(s).round_qty(q) if rules is not None else q
                o.at[i, "quantity"] = q
                o.at[i, "notional"] = q * o.at[i, "ref_price"]
                if "est_fee" in o:  # fee and spread scale with the notional, impact with its power 1.5
                    ratio = q / q0 if q0 else 0.0
                    o.at[i, "est_fee"] *= ratio
                    o.at[i, "est_spread"] *= ratio
                    o.at[i, "est_impact"] *= ratio ** 1.5
                    o.at[i, "est_cost"] = o.at[i, "est_fee"] + o.at[i, "est_spread"] + o.at[i, "est_impact"]
                o.at[i, "funding"] = (str(o.at[i, "funding"]) + "; " if o.at[i, "funding"] else "") + \
                    f"scaled to {100 * f:.1f}%: not enough cash in the book"
            notes.append(f"account {a}: buys scaled to {100 * f:.1f}% (the book has no more spare cash)")
    if len(o):
        keep = o["quantity"] > 0
        if (~keep).any():
            notes.append(f"{int((~keep).sum())} buy(s) scaled to nothing for lack of cash")
        o = o[keep].reset_index(drop=True)
        o.loc[(o["side"] == "buy") & (o["funding"] == ""), "funding"] = "cash and same-account sells"
        o.loc[o["side"] == "sell", "funding"] = "-"
    return o, transfers, notes
