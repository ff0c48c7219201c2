"""CSV formats the book reads (documented in ``docs/book.md``).

The format of a file is told by its header (column names, any order, case-insensitive):

accounts
    ``account,kind,venue`` + optional ``currency,venues,cash_min,name`` (``venues``
    separated by ``|``, e.g. ``NASDAQ|NYSE``).
positions snapshot
    ``date,account,symbol,quantity`` + optional ``price,memo``: a statement of every
    instrument held in the named accounts on ``date`` (one date per file). A cash balance
    is a row whose ``symbol`` is a currency (``USD``, ``USDT``). Importing it appends an
    ``adjustment`` entry for each difference to the position derived from the ledger
    (instruments of those accounts that the statement omits are taken as 0).
transactions
    ``date,kind,account`` + the fields of the kind (``symbol,quantity,price,amount,currency,
    fee,counter_account,settle_date,reverses,order_id,ref,memo``); see
    :mod:`computefolio.book.ledger`.
fills
    ``order_id,date,quantity,price`` + optional ``fee,fill_id,memo`` (read by
    :func:`read_fills`; applied with ``computefolio book fills``).

A bad row gets one error naming the file, the row (line number, header = line 1), the
field and what was expected; nothing is imported from a file with a bad row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .accounts import KINDS, Account
from .ledger import ENTRY_COLUMNS, holdings, is_currency

ACCOUNT_COLUMNS = ("account", "kind", "venue", "currency", "venues", "cash_min", "name")
SNAPSHOT_COLUMNS = ("date", "account", "symbol", "quantity", "price", "memo")
TRANSACTION_COLUMNS = tuple(c for c in ENTRY_COLUMNS if c not in ("entry_id", "batch"))
FILL_COLUMNS = ("order_id", "date", "quantity", "price", "fee", "fill_id", "memo")


def read_csv(path: Path) -> pd.DataFrame:
    """All cells as stripped strings; column names lower-case (DataError when unreadable)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as exc:  # any parser error
        raise DataError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    dup = [c for c in set(df.columns) if list(df.columns).count(c) > 1]
    if dup:
        raise DataError(f"{path}: column {dup[0]!r} appears twice")
    for c in df.columns:
        df[c] = df[c].astype(str).str.strip()
    return df


def _check_columns(path: Path, df: pd.DataFrame, allowed, fmt: str) -> None:
    extra = [c for c in df.columns if c not in allowed]
    if extra:
        raise DataError(f"{path}: unknown column(s) {', '.join(map(repr, extra))} for a {fmt} file "
                        f"(allowed: {', '.join(allowed)})")


def detect_format(path: Path, df: pd.DataFrame) -> str:
    """``accounts``, ``snapshot``, ``transactions`` or ``fills`` from the header."""
    cols = set(df.columns)
    if {"order_id", "quantity", "price"} <= cols and "kind" not in cols:
        return "fills"
    if {"date", "kind", "account"} <= cols:
        return "transactions"
    if {"account", "kind", "venue"} <= cols and "date" not in cols:
        return "accounts"
    if {"date", "account", "symbol", "quantity"} <= cols:
        return "snapshot"
    raise DataError(f"{path}: header {', '.join(df.columns) or '(empty)'} is none of the book's formats: accounts "
                    f"(account,kind,venue,...), positions snapshot (date,account,symbol,quantity), transactions "
                    f"(date,kind,account,...) or fills (order_id,date,quantity,price,...); see docs/book.md")


def read_accounts(path: Path, df: pd.DataFrame) -> list[Account]:
    _check_columns(path, df, ACCOUNT_COLUMNS, "accounts")
    out, seen = [], set()
    for i, r in enumerate(df.to_dict("records")):
        row = f"row {i + 2}"
        acc = r.get("account", "")
        if not acc:
            raise DataError(f"{path}: {row}: field 'account': an identifier")
        if acc in seen:
            raise DataError(f"{path}: {row}: field 'account': each account once ({acc!r} repeats)")
        seen.add(acc)
        if r.get("kind") not in KINDS:
            raise DataError(f"{path}: {row}: field 'kind': one of {', '.join(KINDS)}, got {r.get('kind')!r}")
        try:
            cm = float(r.get("cash_min") or 0.0)
        except ValueError:
            raise DataError(f"{path}: {row}: field 'cash_min': an amount, got {r.get('cash_min')!r}") from None
        try:
            out.append(Account(acc, r["kind"], r.get("venue", ""), r.get("currency") or "USD",
                               tuple(v.strip() for v in (r.get("venues") or "").split("|") if v.strip()), cm,
                               r.get("name") or ""))
        except DataError as exc:
            raise DataError(f"{path}: {row}: {exc}") from None
    return out


def read_book_file(path: Path, *, universe=None, fx=None) -> tuple[str, list[dict], list[Account]]:
    """Read a book CSV: ``(format, rows, accounts)``; rows carry ``_row`` (e.g. ``"row 5"``)."""
    df = read_csv(path)
    fmt = detect_format(path, df)
    if fmt == "fills":
        raise DataError(f"{path}: this is a fills file: apply it with 'computefolio book fills {path.name}'")
    if fmt == "accounts":
        return fmt, [], read_accounts(path, df)
    allowed = SNAPSHOT_COLUMNS if fmt == "snapshot" else TRANSACTION_COLUMNS
    _check_columns(path, df, allowed, "positions snapshot" if fmt == "snapshot" else "transactions")
    if df.empty:
        raise DataError(f"{path}: no rows")
    rows = []
    for i, r in enumerate(df.to_dict("records")):
        r = {k: (v if v != "" else None) for k, v in r.items()}
        r["_row"] = f"row {i + 2}"
        rows.append(r)
    if fmt == "snapshot":
        dates = {r["date"] for r in rows}
        if len(dates) != 1:
            raise DataError(f"{path}: field 'date': one date per positions snapshot, got {', '.join(sorted(map(str, dates)))}")
        for r in rows:
            if universe is not None and r.get("symbol") and not is_currency(r["symbol"], fx) \
                    and r["symbol"] not in universe:
                raise DataError(f"{path}: {r['_row']}: field 'symbol': a symbol of universe {universe.name!r} or a "
                                f"cash currency, got {r['symbol']!r}")
    return fmt, rows, []


def snapshot_entries(rows: list[dict], entries: pd.DataFrame, path: Path, *, fx=None) -> tuple[list[dict], list[str]]:
    """Adjustment entries that bring the named accounts to a positions snapshot.

    Returns ``(entries, notes)``. Refuses a snapshot dated before ledger entries of its
    accounts (import transactions instead).
    """
    day = pd.Timestamp(rows[0]["date"]).normalize()
    accts = sorted({r.get("account") or "" for r in rows})
    if "" in accts:
        bad = next(r for r in rows if not r.get("account"))
        raise DataError(f"{path}: {bad['_row']}: field 'account': an account id")
    if len(entries):
        later = entries[(entries["date"] > day) & entries["account"].isin(accts)]
        if len(later):
            raise DataError(f"{path}: the snapshot of {day.date()} is older than ledger entries of "
                            f"{', '.join(sorted(later['account'].unique()))} (up to {later['date'].max().date()}); "
                            f"record what happened since as transactions")
    target: dict[tuple[str, str], float] = {}
    for r in rows:
        sym = r.get("symbol")
        if not sym:
            raise DataError(f"{path}: {r['_row']}: field 'symbol': a symbol or cash currency")
        try:
            q = float(r.get("quantity"))
        except (TypeError, ValueError):
            raise DataError(f"{path}: {r['_row']}: field 'quantity': a number of units, got {r.get('quantity')!r}") from None
        if not np.isfinite(q):
            raise DataError(f"{path}: {r['_row']}: field 'quantity': a finite number, got {r.get('quantity')!r}")
        key = (r["account"], sym)
        if key in target:
            raise DataError(f"{path}: {r['_row']}: {sym} in {r['account']} appears twice")
        target[key] = q
    cur = holdings(entries, day) if len(entries) else None
    have: dict[tuple[str, str], float] = {}
    if cur is not None:
        for a, i, q in cur[cur["account"].isin(accts)][["account", "instrument", "quantity"]].itertuples(index=False):
            have[(a, i)] = float(q)
    out, same = [], 0
    rowof = {(r["account"], r["symbol"]): r["_row"] for r in rows}
    for key in sorted(set(target) | set(have)):
        t, h = target.get(key, 0.0), have.get(key, 0.0)
        d = t - h
        if abs(d) <= 1e-12 * max(1.0, abs(t), abs(h)):
            same += 1
            continue
        out.append({"date": str(day.date()), "kind": "adjustment", "account": key[0], "symbol": key[1],
                    "quantity": d, "memo": f"snapshot {path.name}: {h:g} -> {t:g}",
                    "_row": rowof.get(key, f"{key[1]} in {key[0]} (held, absent from the snapshot)")})
    notes = [f"{same} position(s) already as stated"] if same else []
    return out, notes


def read_fills(path: Path) -> list[dict]:
    """Rows of a fills file (``order_id,date,quantity,price`` + ``fee,fill_id,memo``), checked."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    df = read_csv(path)
    if detect_format(path, df) != "fills":
        raise DataError(f"{path}: not a fills file (header order_id,date,quantity,price[,fee,fill_id,memo])")
    _check_columns(path, df, FILL_COLUMNS, "fills")
    out = []
    for i, r in enumerate(df.to_dict("records")):
        row = f"row {i + 2}"
        oid = r.get("order_id") or ""
        if not oid:
            raise DataError(f"{path}: {row}: field 'order_id': the id of a released order")
        try:
            d = pd.Timestamp(r.get("date"))
            if pd.isna(d):
                raise ValueError
        except (ValueError, TypeError):
            raise DataError(f"{path}: {row}: field 'date': a date YYYY-MM-DD, got {r.get('date')!r}") from None
        vals = {}
        for f, lo in (("quantity", 0.0), ("price", 0.0), ("fee", None)):
            v = r.get(f) or ("0" if f == "fee" else "")
            try:
                x = float(v)
            except ValueError:
                raise DataError(f"{path}: {row}: field '{f}': a number, got {r.get(f)!r}") from None
            if not np.isfinite(x) or (lo is not None and x <= lo) or (lo is None and x < 0):
                raise DataError(f"{path}: {row}: field '{f}': " + ("a number > 0" if lo is not None else
                                                                   "a fee >= 0") + f", got {r.get(f)!r}")
            vals[f] = x
        out.append({"order_id": oid, "date": d.normalize(), **vals, "fill_id": r.get("fill_id") or None,
                    "memo": r.get("memo") or None, "_row": row})
    if not out:
        raise DataError(f"{path}: no fills")
    return out
