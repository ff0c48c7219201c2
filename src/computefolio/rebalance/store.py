"""Order lists and orders in the store, one decision per book state.

Tables (same DuckDB file as prices and the book):

``order_lists``
    ``list_id, created_at, nav_date, trade_date, book_state, strategy, status, nav, currency,
    n_orders, log_head, payload`` (JSON: transfers, dropped orders, notes, pre/post book).
    ``status``: ``blocked`` or ``cleared`` (after compliance), ``released``, ``cancelled``,
    ``superseded``, ``done`` (every order filled or cancelled).
``orders``
    One row per order (:data:`~computefolio.rebalance.orders.ORDER_FIELDS`) with
    ``status`` (``proposed``, ``open``, ``partially_filled``, ``filled``, ``cancelled``),
    ``filled_quantity``, ``avg_price`` and ``fees``.

**One order list per book state.** :meth:`OrderStore.record` runs in the writer's
transaction and refuses a list when the ledger has moved since the plan was computed, or
when a live list (``blocked``, ``cleared`` or ``released``) already exists for the same
book state: two ``rebalance`` runs at once cannot both record orders for one state (the
second waits for the file lock, then finds the first). ``supersede=True`` replaces a
live, unreleased list explicitly.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..book.store import BookStore, utcnow
from ..errors import DataError
from .orders import ORDER_FIELDS

LIVE = ("blocked", "cleared", "released")

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS order_lists (
        list_id VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL, nav_date DATE NOT NULL, trade_date DATE NOT NULL,
        book_state VARCHAR NOT NULL, strategy VARCHAR, status VARCHAR NOT NULL, nav DOUBLE, currency VARCHAR,
        n_orders BIGINT NOT NULL, log_head VARCHAR, payload VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS orders (
        order_id VARCHAR PRIMARY KEY, list_id VARCHAR NOT NULL, seq BIGINT, account VARCHAR NOT NULL, venue VARCHAR,
        symbol VARCHAR NOT NULL, side VARCHAR NOT NULL, quantity DOUBLE NOT NULL, limit_price DOUBLE, price DOUBLE,
        ref_price DOUBLE, price_date DATE, notional DOUBLE, currency VARCHAR, trade_date DATE, session DATE,
        deferred BOOLEAN, settle_date DATE, est_fee DOUBLE, est_spread DOUBLE, est_impact DOUBLE, est_cost DOUBLE,
        est_cost_bps DOUBLE, target_quantity DOUBLE, funding VARCHAR, note VARCHAR, status VARCHAR NOT NULL,
        filled_quantity DOUBLE NOT NULL, avg_price DOUBLE, fees DOUBLE NOT NULL)""",
]


def _py(v):
    if v is None:
        return None
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.date()
    if v is pd.NaT:
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


class OrderStore:
    """Order lists and orders in a :class:`~computefolio.book.store.BookStore`'s file."""

    def __init__(self, book: BookStore):
        self.book = book
        self._ready = False

    @property
    def con(self):
        con = self.book.con
        if not self._ready:
            for s in _SCHEMA:
                con.execute(s)
            self._ready = True
        return con

    # ------------------------------------------------------------------ writing
    def live_for_state(self, state_head: str, con=None) -> list[tuple]:
        con = con or self.con
        return con.execute("SELECT list_id, status, created_at FROM order_lists WHERE book_state = ? AND status IN "
                           f"({', '.join('?' * len(LIVE))}) ORDER BY created_at", [state_head, *LIVE]).fetchall()

    def record(self, plan, status: str, con, *, supersede: bool = False, log_head: str | None = None) -> list[str]:
        """Record ``plan`` (a :class:`~computefolio.rebalance.plan.RebalancePlan`) inside ``con``'s
        transaction. Returns the ids of lists it superseded.

        Raises
        ------
        DataError
            The ledger changed since the plan was computed, or a live list exists for the
            same book state (and ``supersede`` is False), or it was released already.
        """
        self.con  # noqa: B018
        now_state = self.book.state()
        if now_state.head != plan.state["head"]:
            raise DataError(f"the book changed while the orders were computed (ledger now at entry "
                            f"{now_state.last_entry}, the plan saw {plan.state['last_entry']}): run rebalance again")
        live = self.live_for_state(plan.state["head"], con)
        gone = []
        if live:
            released = [r for r in live if r[1] == "released"]
            if not supersede or released:
                lid, st, at = (released or live)[0]
                raise DataError(f"orders for this book state (ledger head {plan.state['head'][:16]}) are already "
                                f"recorded as list {lid} ({st}, {pd.Timestamp(at):%Y-%m-%d %H:%M:%S} UTC); "
                                + ("apply its fills first" if st == "released" else
                                   f"cancel it (computefolio compliance cancel {lid}) or rerun with --supersede"))
            for lid, _, _ in live:
                con.execute("UPDATE order_lists SET status = 'superseded' WHERE list_id = ?", [lid])
                con.execute("UPDATE orders SET status = 'cancelled' WHERE list_id = ?", [lid])
                gone.append(lid)
        exists = con.execute("SELECT count(*) FROM order_lists WHERE list_id = ?", [plan.list_id]).fetchall()[0][0]
        if exists:
            raise DataError(f"order list {plan.list_id} is already recorded")
        payload = json.dumps(plan.payload(), default=str, allow_nan=False)
        con.execute("INSERT INTO order_lists VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [plan.list_id, utcnow(), plan.asof.date(), plan.trade_date.date(), plan.state["head"],
                     plan.strategy, status, float(plan.valuation.nav), plan.valuation.currency, len(plan.orders),
                     log_head, payload])
        o = plan.orders
        if len(o):
            rows = []
            for r in o.to_dict("records"):
                rows.append([_py(r.get(c)) for c in ORDER_FIELDS] + ["proposed", 0.0, None, 0.0])
            con.executemany(f"INSERT INTO orders ({', '.join(ORDER_FIELDS)}, status, filled_quantity, avg_price, fees) "
                            f"VALUES ({', '.join('?' * (len(ORDER_FIELDS) + 4))})", rows)
        return gone

    def set_status(self, list_id: str, status: str, con, *, orders_status: str | None = None) -> None:
        con.execute("UPDATE order_lists SET status = ? WHERE list_id = ?", [status, list_id])
        if orders_status is not None:
            con.execute("UPDATE orders SET status = ? WHERE list_id = ? AND status IN ('proposed', 'open')",
                        [orders_status, list_id])

    # ------------------------------------------------------------------ reading
    def lists(self, status: str | None = None) -> pd.DataFrame:
        sql = ("SELECT list_id, created_at, nav_date, trade_date, book_state, strategy, status, nav, currency, n_orders "
               "FROM order_lists")
        args = []
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status)
        return self.con.execute(sql + " ORDER BY created_at", args).df()

    def get(self, list_id: str) -> dict:
        r = self.con.execute("SELECT * FROM order_lists WHERE list_id = ?", [list_id]).fetchall()
        if not r:
            known = [x[0] for x in self.con.execute("SELECT list_id FROM order_lists ORDER BY created_at DESC "
                                                    "LIMIT 5").fetchall()]
            raise DataError(f"no order list {list_id!r}" + (f" (latest: {', '.join(known)})" if known else
                                                            " (none recorded yet: run computefolio rebalance)"))
        names = [d[0] for d in self.con.description]
        out = dict(zip(names, r[0]))
        out["payload"] = json.loads(out["payload"] or "{}")
        return out

    def orders(self, list_id: str | None = None, order_ids=None) -> pd.DataFrame:
        sql, args = "SELECT * FROM orders", []
        where = []
        if list_id is not None:
            where.append("list_id = ?")
            args.append(list_id)
        if order_ids is not None:
            ids = list(order_ids)
            where.append(f"order_id IN ({', '.join('?' * len(ids))})" if ids else "FALSE")
            args += ids
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.con.execute(sql + " ORDER BY order_id", args).df()

    def update_fill(self, order_id: str, filled: float, avg_price: float, fees: float, status: str, con) -> None:
        con.execute("UPDATE orders SET filled_quantity = ?, avg_price = ?, fees = ?, status = ? WHERE order_id = ?",
                    [filled, avg_price, fees, status, order_id])
