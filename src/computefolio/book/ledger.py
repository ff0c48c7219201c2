"""The transaction ledger: append-only entries, and positions and cash derived from them.

Every change to the book is an **entry**; nothing is edited in place. A mistake is
corrected by a ``reversal`` entry that names the entry it cancels (its legs are the
original's, negated, on the reversal's date), followed by the right entry.

Kinds of entry and their legs (``q`` = ``quantity`` > 0 in units, ``p`` = ``price`` per
unit and ``amount`` > 0 in ``currency``; a leg is ``(account, instrument, signed units)``,
an instrument being a symbol or a cash currency):

==================  =====================================================================
``buy``             ``+q`` symbol; ``-(q p + fee)`` currency
``sell``            ``-q`` symbol; ``+(q p - fee)`` currency
``fee``             ``-amount`` currency
``deposit``         ``+amount`` currency, or ``+q`` symbol (in kind)
``withdrawal``      ``-amount`` currency, or ``-q`` symbol
``transfer``        ``-x`` from ``account``, ``+x`` to ``counter_account`` (cash or units)
``staking_reward``  ``+q`` symbol (income in kind)
``split``           ``quantity`` units added (negative for a reverse split)
``dividend``        ``+amount`` currency (``symbol`` names the payer)
``interest``        ``amount`` currency, either sign
``adjustment``      ``quantity`` of a symbol or currency, either sign (written by a
                    positions snapshot import: the difference to the derived position)
``reversal``        the legs of entry ``reverses``, negated
==================  =====================================================================

Positions are on **trade date** (an entry counts from its ``date``); cash is on trade date
too, and *settled* cash counts each leg from its ``settle_date`` (T+1 sessions for
equity trades, the trade date for crypto; see :mod:`computefolio.rebalance.venues`).

Cash currencies are valued in the book's base currency (USD) with :data:`PEGGED` rates
(USDT and USDC at par, as the universe states for crypto quotes); any other currency
needs an explicit rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import DataError

#: Kinds of ledger entry (see the module docstring).
ENTRY_KINDS: tuple[str, ...] = ("buy", "sell", "fee", "deposit", "withdrawal", "transfer", "staking_reward",
                                "split", "dividend", "interest", "adjustment", "reversal")
#: Cash currencies valued at a fixed rate in USD (stablecoins at par: a stated assumption).
PEGGED: dict[str, float] = {"USD": 1.0, "USDT": 1.0, "USDC": 1.0}
#: Columns of a ledger entry, in storage order.
ENTRY_COLUMNS: tuple[str, ...] = ("entry_id", "date", "settle_date", "kind", "account", "symbol", "quantity",
                                  "price", "amount", "currency", "fee", "counter_account", "reverses",
                                  "order_id", "ref", "memo", "batch")
#: Columns of a leg.
LEG_COLUMNS: list[str] = ["entry_id", "date", "settle_date", "account", "instrument", "cash", "quantity"]


def is_currency(code: str, fx: Mapping[str, float] | None = None) -> bool:
    """Is ``code`` a cash currency (pegged, or given a rate in ``fx``)?"""
    return code in PEGGED or (fx is not None and code in fx)


def fx_rate(currency: str, fx: Mapping[str, float] | None = None) -> float:
    """USD per unit of ``currency`` (DataError naming it when unknown)."""
    if fx is not None and currency in fx:
        return float(fx[currency])
    if currency in PEGGED:
        return PEGGED[currency]
    raise DataError(f"no rate for cash currency {currency!r}: give fx={{'{currency}': USD per unit}}")


def _num(v) -> float | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = v.strip()
        if not v:
            return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"a number, got {v!r}") from None
    return None if math.isnan(f) else f


def _text(v) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def normalize_entry(raw: Mapping, *, accounts: Mapping, universe=None, fx=None,
                    settle=None) -> dict:
    """Check one entry and return it with defaults filled (without ``entry_id``/``batch``).

    Parameters
    ----------
    raw : mapping
        Fields of :data:`ENTRY_COLUMNS` (strings or values); missing ones are None.
    accounts : mapping account id -> Account
    universe : Universe, optional
        Symbols must be in it (when given).
    fx : mapping, optional
        Extra cash currencies and their USD rates.
    settle : callable ``(symbol, date) -> date``, optional
        Settlement date of a trade (default: the trade date).

    Raises
    ------
    ValueError
        ``"field 'NAME': expected ..."``; the caller adds the file and row.
    """
    def fail(field, expected):
        raise ValueError(f"field '{field}': {expected}")

    out: dict = {c: None for c in ENTRY_COLUMNS if c not in ("entry_id", "batch")}
    kind = _text(raw.get("kind"))
    if kind not in ENTRY_KINDS:
        fail("kind", f"one of {', '.join(ENTRY_KINDS)}, got {kind!r}")
    out["kind"] = kind
    try:
        d = pd.Timestamp(_text(raw.get("date")) or "")
    except (ValueError, TypeError):
        d = pd.NaT
    if pd.isna(d):
        fail("date", f"a date YYYY-MM-DD, got {raw.get('date')!r}")
    out["date"] = d.normalize().date()
    for f in ("memo", "ref", "order_id"):
        out[f] = _text(raw.get(f))
    nums = {}
    for f in ("quantity", "price", "amount", "fee"):
        try:
            nums[f] = _num(raw.get(f))
        except ValueError as exc:
            fail(f, str(exc))
    rev = _text(raw.get("reverses"))
    if kind == "reversal":
        if rev is None:
            fail("reverses", "the entry_id of the entry this reversal cancels")
        try:
            out["reverses"] = int(float(rev))
        except ValueError:
            fail("reverses", f"an entry id (integer), got {rev!r}")
        out["settle_date"] = out["date"]
        return out
    acct = _text(raw.get("account"))
    if acct is None or acct not in accounts:
        fail("account", f"a known account ({', '.join(sorted(accounts)) or 'none yet: import accounts first'}), "
                        f"got {acct!r}")
    out["account"] = acct
    a = accounts[acct]
    sym = _text(raw.get("symbol"))
    cur = _text(raw.get("currency")) or a.currency
    if not is_currency(cur, fx):
        fail("currency", f"a cash currency ({', '.join(sorted(set(PEGGED) | set(fx or {})))}), got {cur!r}")
    out["currency"] = cur
    q, p, amt, fee = nums["quantity"], nums["price"], nums["amount"], nums["fee"]

    def need_symbol():
        if sym is None:
            fail("symbol", f"a symbol for a {kind}")
        if universe is not None and sym not in universe:
            fail("symbol", f"a symbol of universe {universe.name!r}, got {sym!r}")

    if kind in ("buy", "sell"):
        need_symbol()
        if q is None or q <= 0:
            fail("quantity", f"units > 0 for a {kind}, got {raw.get('quantity')!r}")
        if p is None or p <= 0:
            fail("price", f"a price > 0 per unit, got {raw.get('price')!r}")
        if fee is not None and fee < 0:
            fail("fee", f"a fee >= 0 in {cur}, got {fee}")
        out.update(symbol=sym, quantity=q, price=p, fee=fee or 0.0)
    elif kind in ("fee",):
        if amt is None or amt <= 0:
            fail("amount", f"an amount > 0 in {cur}, got {raw.get('amount')!r}")
        out.update(amount=amt, symbol=sym)
    elif kind in ("deposit", "withdrawal", "transfer"):
        if kind == "transfer":
            ca = _text(raw.get("counter_account"))
            if ca is None or ca not in accounts or ca == acct:
                fail("counter_account", f"another known account to transfer to, got {ca!r}")
            out["counter_account"] = ca
        if sym is not None and not is_currency(sym, fx):
            need_symbol()
            if q is None or q <= 0:
                fail("quantity", f"units > 0 of {sym}, got {raw.get('quantity')!r}")
            out.update(symbol=sym, quantity=q)
        else:
            if sym is not None:  # a currency written in the symbol column
                cur = sym
                out["currency"] = cur
            if amt is None and q is not None:
                amt = q
            if amt is None or amt <= 0:
                fail("amount", f"an amount > 0 in {cur} (or a symbol and quantity), got {raw.get('amount')!r}")
            out.update(amount=amt)
    elif kind == "staking_reward":
        need_symbol()
        if q is None or q <= 0:
            fail("quantity", f"units > 0, got {raw.get('quantity')!r}")
        out.update(symbol=sym, quantity=q, price=p)
    elif kind == "split":
        need_symbol()
        if q is None or q == 0:
            fail("quantity", "units added by the split (negative for a reverse split), not 0")
        out.update(symbol=sym, quantity=q)
    elif kind in ("dividend", "interest"):
        if amt is None or (kind == "dividend" and amt <= 0) or amt == 0:
            fail("amount", f"an amount in {cur}" + (" > 0" if kind == "dividend" else ", not 0"))
        if sym is not None and universe is not None and sym not in universe:
            fail("symbol", f"a symbol of universe {universe.name!r} (the payer), got {sym!r}")
        out.update(amount=amt, symbol=sym)
    elif kind == "adjustment":
        if sym is None:
            fail("symbol", "a symbol or cash currency")
        if q is None or q == 0:
            fail("quantity", "a non-zero change of units")
        if is_currency(sym, fx):
            out.update(currency=sym, amount=q)
        else:
            need_symbol()
            out.update(symbol=sym, quantity=q)
    sd = _text(raw.get("settle_date"))
    if sd is not None:
        try:
            sdt = pd.Timestamp(sd).normalize().date()
        except (ValueError, TypeError):
            fail("settle_date", f"a date YYYY-MM-DD, got {sd!r}")
        if sdt < out["date"]:
            fail("settle_date", f"on or after the trade date {out['date']}, got {sdt}")
        out["settle_date"] = sdt
    elif kind in ("buy", "sell") and settle is not None:
        out["settle_date"] = settle(sym, out["date"])
    else:
        out["settle_date"] = out["date"]
    return out


def _entry_legs(e: Mapping) -> list[tuple[str, str, bool, float]]:
    """Legs ``(account, instrument, is_cash, units)`` of one non-reversal entry."""
    k, a = e["kind"], e["account"]
    sym, cur = e.get("symbol"), e.get("currency")
    q = e.get("quantity")
    amt = e.get("amount")
    fee = e.get("fee") or 0.0
    if k == "buy":
        return [(a, sym, False, q), (a, cur, True, -(q * e["price"] + fee))]
    if k == "sell":
        return [(a, sym, False, -q), (a, cur, True, q * e["price"] - fee)]
    if k == "fee":
        return [(a, cur, True, -amt)]
    if k in ("deposit", "withdrawal", "transfer"):
        leg = (sym, False, q) if amt is None else (cur, True, amt)
        sign = 1.0 if k == "deposit" else -1.0
        out = [(a, leg[0], leg[1], sign * leg[2])]
        if k == "transfer":
            out.append((e["counter_account"], leg[0], leg[1], leg[2]))
        return out
    if k in ("staking_reward", "split"):
        return [(a, sym, False, q)]
    if k in ("dividend", "interest"):
        return [(a, cur, True, amt)]
    if k == "adjustment":
        return [(a, cur, True, amt)] if amt is not None else [(a, sym, False, q)]
    raise ValueError(k)  # pragma: no cover


def _isnull(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def legs(entries: pd.DataFrame) -> pd.DataFrame:
    """The legs of every entry (reversals included), one row per leg.

    Parameters
    ----------
    entries : pandas.DataFrame
        Ledger entries (columns :data:`ENTRY_COLUMNS`), as from
        :meth:`computefolio.book.store.BookStore.entries`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LEG_COLUMNS`: ``quantity`` is signed units of ``instrument``
        (a symbol, or a currency when ``cash``), ``date`` and ``settle_date`` are Timestamps.
    """
    rows: list[tuple] = []
    by_id: dict[int, list] = {}
    recs = entries.to_dict("records")
    for e in recs:
        e = {k: (None if _isnull(v) else v) for k, v in e.items()}
        eid = int(e["entry_id"])
        d, sd = pd.Timestamp(e["date"]), pd.Timestamp(e["settle_date"] or e["date"])
        if e["kind"] == "reversal":
            orig = by_id.get(int(e["reverses"]))
            if orig is None:
                raise DataError(f"ledger entry {eid} reverses entry {e['reverses']}, which is not before it")
            lg = [(a, i, c, -u) for (a, i, c, u) in orig]
        else:
            lg = _entry_legs(e)
        by_id[eid] = lg
        rows.extend((eid, d, sd, a, i, bool(c), float(u)) for a, i, c, u in lg)
    out = pd.DataFrame(rows, columns=LEG_COLUMNS)
    if out.empty:
        out = out.astype({"entry_id": "int64", "date": "datetime64[ns]", "settle_date": "datetime64[ns]",
                          "cash": bool, "quantity": float})
    return out


def holdings(entries: pd.DataFrame, asof=None, *, settled: bool = False, drop_zero: bool = True,
             tol: float = 1e-12) -> pd.DataFrame:
    """Units of every instrument per account, derived from the ledger.

    Parameters
    ----------
    entries : pandas.DataFrame
        Ledger entries.
    asof : date-like, optional
        Count entries dated on or before it (default: all).
    settled : bool
        Count each leg from its settlement date instead of its trade date.
    drop_zero : bool
        Leave out instruments whose units net to zero (within ``tol``).

    Returns
    -------
    pandas.DataFrame
        Columns ``account, instrument, cash, quantity`` sorted by account, cash, instrument.
    """
    lg = legs(entries)
    if asof is not None:
        col = "settle_date" if settled else "date"
        lg = lg[lg[col] <= pd.Timestamp(asof)]
    if lg.empty:
        return pd.DataFrame({"account": pd.Series(dtype=object), "instrument": pd.Series(dtype=object),
                             "cash": pd.Series(dtype=bool), "quantity": pd.Series(dtype=float)})
    h = lg.groupby(["account", "instrument", "cash"], sort=True)["quantity"].sum().reset_index()
    # snap float dust from sums of legs (e.g. 0.1 + 0.2 - 0.3) to exact zero
    h.loc[np.abs(h["quantity"]) <= tol * np.maximum(1.0, lg["quantity"].abs().max()), "quantity"] = 0.0
    if drop_zero:
        h = h[h["quantity"] != 0.0]
    return h.sort_values(["account", "cash", "instrument"]).reset_index(drop=True)


def positions(entries: pd.DataFrame, asof=None) -> pd.DataFrame:
    """Asset positions (units) per account on trade date: ``account, symbol, quantity``."""
    h = holdings(entries, asof)
    h = h[~h["cash"]].rename(columns={"instrument": "symbol"})
    return h[["account", "symbol", "quantity"]].reset_index(drop=True)


def cash(entries: pd.DataFrame, asof=None, *, settled: bool = False) -> pd.DataFrame:
    """Cash per account and currency: ``account, currency, amount`` (trade date or settled)."""
    h = holdings(entries, asof, settled=settled)
    h = h[h["cash"]].rename(columns={"instrument": "currency", "quantity": "amount"})
    return h[["account", "currency", "amount"]].reset_index(drop=True)
