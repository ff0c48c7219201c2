"""The life of an order list: propose (with its checks), override, release, cancel, fills.

Each step is one transaction on the store that changes the order tables
(:mod:`computefolio.rebalance.store`), the ledger (fills) and appends to the compliance log
(:mod:`.log`) together, so the log never disagrees with what happened.

* :func:`propose` records a plan and every check's outcome; the list is ``blocked`` when a
  block remains, else ``cleared``.
* :func:`override` records a person's decision (check, target, reason, name) on a block.
* :func:`release` releases a list only when every block has an override; orders become
  ``open``. It can be a different person from the one who overrode (four eyes are the
  service's policy, issue 16; the log keeps both names).
* :func:`cancel` cancels a live list.
* :func:`apply_fills` books executed fills of released orders in the ledger (partial fills,
  actual prices and fees), updates the orders and reports slippage against the estimate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..book.store import BookStore
from ..errors import DataError
from ..rebalance.store import LIVE, OrderStore
from .checks import BLOCK, CheckResult, Override
from .log import ComplianceLog


def _event_results(report, list_id: str) -> list[dict]:
    ev = []
    for c in report.checks:
        st = "block" if c["block"] else ("warn" if c["warn"] else "pass")
        ev.append({"event": "check", "list_id": list_id, "check_name": c["name"], "status": st,
                   "detail": {"checked": c["checked"], "warn": c["warn"], "block": c["block"], "scope": c["scope"]}})
    for r in report.results:
        ev.append({"event": "result", "list_id": list_id, "order_id": r.order_id, "check_name": r.check,
                   "status": r.status, "detail": r.to_dict()})
    return ev


def propose(book: BookStore, plan, report, *, supersede: bool = False, actor: str | None = None) -> dict:
    """Record ``plan`` and its compliance ``report`` (one transaction). Returns
    ``{list_id, status, superseded, log_head}``. Refuses a second list for one book state
    (see :meth:`OrderStore.record`)."""
    os_, log = OrderStore(book), ComplianceLog(book)
    log.con  # noqa: B018  (tables exist before the transaction)
    os_.con  # noqa: B018
    status = "blocked" if report.blocks() else "cleared"
    with book.transaction() as con:
        _, head = log.head(con)
        gone = os_.record(plan, status, con, supersede=supersede, log_head=head)
        ev = [{"event": "supersede", "list_id": g, "actor": actor, "detail": {"by_list": plan.list_id}} for g in gone]
        ev.append({"event": "propose", "list_id": plan.list_id, "status": status, "actor": actor,
                   "detail": {"asof": str(plan.asof.date()), "trade_date": str(plan.trade_date.date()),
                              "strategy": plan.strategy, "book_state": plan.state["head"], "nav": plan.valuation.nav,
                              "orders": len(plan.orders), "transfers": len(plan.transfers),
                              "cutoff": plan.cutoff, "compliance": report.status}})
        ev += _event_results(report, plan.list_id)
        seq, head = log.append(ev, con)
    return {"list_id": plan.list_id, "status": status, "superseded": gone, "log_head": head, "log_seq": seq}


def recorded_results(book: BookStore, list_id: str) -> tuple[list[CheckResult], list[Override]]:
    """The check results (warn/block) and overrides logged for a list."""
    log = ComplianceLog(book)
    rows = log.entries(list_id=list_id)
    results, overrides = [], []
    for r in rows.itertuples():
        d = json.loads(r.detail) if isinstance(r.detail, str) else {}
        if r.event == "result":
            results.append(CheckResult(**{k: d.get(k) for k in CheckResult.__dataclass_fields__}))
        elif r.event == "override":
            overrides.append(Override(d["check"], d["target"], d["reason"], r.actor, str(r.logged_at)))
    return results, overrides


def _live(os_: OrderStore, list_id: str) -> dict:
    lst = os_.get(list_id)
    if lst["status"] not in LIVE:
        raise DataError(f"order list {list_id} is {lst['status']}: nothing to do")
    return lst


def override(book: BookStore, list_id: str, check: str, target: str, *, reason: str, by: str) -> dict:
    """Record an override of the blocks of ``check`` on ``target`` (an order id, a key such as
    a symbol or group, or ``*``) with a reason and a person's name."""
    ov = Override(check, target or "*", reason, by)
    os_, log = OrderStore(book), ComplianceLog(book)
    lst = _live(os_, list_id)
    if lst["status"] == "released":
        raise DataError(f"order list {list_id} is already released")
    results, _ = recorded_results(book, list_id)
    hit = [r for r in results if r.status == BLOCK and ov.covers(r)]
    if not hit:
        blocks = sorted({f"{r.check}:{r.target}" for r in results if r.status == BLOCK})
        raise DataError(f"no block of check {check!r} on {target!r} in list {list_id}"
                        + (f" (blocks: {', '.join(blocks[:8])})" if blocks else " (it has no blocks)"))
    with book.transaction() as con:
        seq, head = log.append([{"event": "override", "list_id": list_id, "check_name": check, "status": "override",
                                 "actor": by, "order_id": target if target.startswith(list_id) else None,
                                 "detail": {"check": check, "target": ov.target, "reason": reason,
                                            "covers": [r.to_dict() for r in hit]}}], con)
    return {"list_id": list_id, "covered": len(hit), "log_seq": seq}


def release(book: BookStore, list_id: str, *, by: str) -> dict:
    """Release a list: refused while a block has no override. Orders become ``open``."""
    if not (by or "").strip():
        raise DataError("a release needs the name of the person (--by)")
    os_, log = OrderStore(book), ComplianceLog(book)
    lst = _live(os_, list_id)
    if lst["status"] == "released":
        raise DataError(f"order list {list_id} is already released")
    results, overrides = recorded_results(book, list_id)
    open_blocks = [r for r in results if r.status == BLOCK and not any(o.covers(r) for o in overrides)]
    if open_blocks:
        shown = "; ".join(f"{r.check} {r.target}: {r.message}" for r in open_blocks[:5])
        raise DataError(f"order list {list_id} has {len(open_blocks)} block(s) without an override, it cannot be "
                        f"released: {shown}" + (" ..." if len(open_blocks) > 5 else "")
                        + f" (override with: computefolio compliance override {list_id} --check NAME --target ID "
                          f"--reason TEXT --by NAME)")
    with book.transaction() as con:
        os_.set_status(list_id, "released", con, orders_status="open")
        seq, head = log.append([{"event": "release", "list_id": list_id, "status": "released", "actor": by,
                                 "detail": {"overrides": [o.__dict__ for o in overrides],
                                            "orders": int(lst["n_orders"])}}], con)
    return {"list_id": list_id, "status": "released", "overrides": len(overrides), "log_seq": seq,
            "log_head": head}


def cancel(book: BookStore, list_id: str, *, by: str, reason: str = "") -> dict:
    """Cancel a live list (its open orders are cancelled; fills already booked stay)."""
    if not (by or "").strip():
        raise DataError("a cancel needs the name of the person (--by)")
    os_, log = OrderStore(book), ComplianceLog(book)
    _live(os_, list_id)
    with book.transaction() as con:
        os_.set_status(list_id, "cancelled", con, orders_status="cancelled")
        seq, _ = log.append([{"event": "cancel", "list_id": list_id, "status": "cancelled", "actor": by,
                              "detail": {"reason": reason}}], con)
    return {"list_id": list_id, "status": "cancelled", "log_seq": seq}


@dataclass
class FillsReport:
    """What :func:`apply_fills` booked, with slippage per order.

    ``orders``: per order touched: ``order_id, symbol, side, quantity`` (ordered),
    ``filled`` (cumulative units), ``avg_price``, ``ref_price`` (the cut-off price the order
    was sized on), ``slippage_bps`` (signed: positive = paid more than the reference on a buy
    or received less on a sell), ``est_cost_bps`` (the estimate: fee + half spread + impact),
    ``actual_cost_bps`` (slippage + fees), ``status``.
    """

    batch: int | None
    entries: int
    orders: pd.DataFrame
    already_applied: bool = False
    notes: list = field(default_factory=list)


def apply_fills(book: BookStore, fills: list[dict], *, universe=None, settle=None, file: str | None = None,
                sha256: str | None = None) -> FillsReport:
    """Book fills of released orders (one transaction): ledger entries, order updates, log.

    Raises
    ------
    DataError
        A fill for an unknown or unreleased order, a fill that would take an order beyond
        its quantity, or a fill dated before the order's trade date. Nothing is booked.
    """
    if sha256 is not None:
        prev = book.imported(sha256)
        if prev is not None:
            return FillsReport(prev, 0, pd.DataFrame(), already_applied=True)
    os_, log = OrderStore(book), ComplianceLog(book)
    ids = list(dict.fromkeys(f["order_id"] for f in fills))
    od = os_.orders(order_ids=ids).set_index("order_id")
    where = file or "fills"
    unknown = [i for i in ids if i not in od.index]
    if unknown:
        raise DataError(f"{where}: no order {unknown[0]!r} (fills apply to orders of a released list)")
    filled = od["filled_quantity"].astype(float).to_dict()
    cost = {i: (0.0 if pd.isna(od.at[i, "avg_price"]) else float(od.at[i, "avg_price"])) * filled[i] for i in ids}
    fees = od["fees"].astype(float).to_dict()
    entries, events = [], []
    for f in fills:
        o = od.loc[f["order_id"]]
        if o["status"] not in ("open", "partially_filled"):
            raise DataError(f"{where}: {f['_row']}: order {f['order_id']} is {o['status']}, not released and open")
        if pd.Timestamp(f["date"]) < pd.Timestamp(o["trade_date"]):
            raise DataError(f"{where}: {f['_row']}: field 'date': on or after the order's trade date "
                            f"{pd.Timestamp(o['trade_date']).date()}, got {pd.Timestamp(f['date']).date()}")
        q = float(f["quantity"])
        if filled[f["order_id"]] + q > float(o["quantity"]) * (1 + 1e-9) + 1e-12:
            raise DataError(f"{where}: {f['_row']}: field 'quantity': fills of {f['order_id']} would reach "
                            f"{filled[f['order_id']] + q:g}, above the order's {float(o['quantity']):g}")
        filled[f["order_id"]] += q
        cost[f["order_id"]] += q * float(f["price"])
        fees[f["order_id"]] += float(f["fee"])
        entries.append({"date": str(pd.Timestamp(f["date"]).date()), "kind": o["side"], "account": o["account"],
                        "symbol": o["symbol"], "quantity": q, "price": float(f["price"]), "fee": float(f["fee"]),
                        "currency": o["currency"], "order_id": f["order_id"], "ref": f.get("fill_id"),
                        "memo": f.get("memo"), "_row": f["_row"]})
        sign = 1.0 if o["side"] == "buy" else -1.0
        slip = sign * (float(f["price"]) / float(o["ref_price"]) - 1.0) * 1e4
        events.append({"event": "fill", "list_id": o["list_id"], "order_id": f["order_id"], "status": "fill",
                       "detail": {"quantity": q, "price": float(f["price"]), "fee": float(f["fee"]),
                                  "date": str(pd.Timestamp(f["date"]).date()), "fill_id": f.get("fill_id"),
                                  "slippage_bps": slip}})
    rows = []
    with book.transaction() as con:
        res = book.append(entries, universe=universe, settle=settle, file=file, fmt="fills", sha256=sha256,
                          rows_read=len(fills), con=con)
        for i in ids:
            o = od.loc[i]
            q = filled[i]
            st = "filled" if q >= float(o["quantity"]) * (1 - 1e-9) else "partially_filled"
            avg = cost[i] / q if q else None
            os_.update_fill(i, q, avg, fees[i], st, con)
            sign = 1.0 if o["side"] == "buy" else -1.0
            ref = float(o["ref_price"])
            slip = sign * (avg / ref - 1.0) * 1e4 if avg else np.nan
            notional = q * ref
            rows.append({"order_id": i, "account": o["account"], "symbol": o["symbol"], "side": o["side"],
                         "quantity": float(o["quantity"]), "filled": q, "avg_price": avg, "ref_price": ref,
                         "slippage_bps": slip, "fees": fees[i],
                         "est_cost_bps": float(o["est_cost_bps"]) if pd.notna(o["est_cost_bps"]) else np.nan,
                         "actual_cost_bps": slip + (1e4 * fees[i] / notional if notional else 0.0), "status": st})
        for lid in {od.at[i, "list_id"] for i in ids}:
            left = con.execute("SELECT count(*) FROM orders WHERE list_id = ? AND status IN ('open', "
                               "'partially_filled')", [lid]).fetchall()[0][0]
            if left == 0:
                os_.set_status(lid, "done", con)
        log.append(events, con)
    return FillsReport(res.batch, res.entries_added, pd.DataFrame(rows))
