"""Sources of market data: long-format CSV/Parquet files and a primary-source plan.

Long format (the format of ``shared/data/prices``)::

    date,symbol,open,high,low,close,adj_close,volume

The shared files overlap and disagree, so loading several files needs a *plan*
that says which file is the primary source of which symbol over which dates
(:class:`SourcePlan`; ``primary.csv`` in that folder is one). Without a plan, a
(symbol, date) present in two files is an error, never a silent pick.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .market import FIELDS, LONG_COLUMNS, MarketData

#: Environment variable naming a folder of real long-format prices (tests use it too).
DATA_ENV = "COMPUTEFOLIO_DATA"


def read_long(path: str | Path) -> pd.DataFrame:
    """Read one long-format file (``.csv``, ``.csv.gz`` or ``.parquet``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`~computefolio.data.market.LONG_COLUMNS` (missing ones as NaN),
        ``date`` as datetime64, ``symbol`` as str, prices float. Rows keep file order.

    Raises
    ------
    DataError
        When the file is missing, unreadable, or lacks ``date``/``symbol`` or any price column.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    try:
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(p, dtype={"symbol": str})
    except Exception as exc:
        raise DataError(f"{p}: cannot read as long-format prices ({exc})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = {"date", "symbol"} - set(df.columns)
    if missing:
        raise DataError(f"{p}: missing column(s) {', '.join(sorted(missing))}; expected {','.join(LONG_COLUMNS)}")
    if not ({"close", "adj_close"} & set(df.columns)):
        raise DataError(f"{p}: needs a 'close' or 'adj_close' column")
    for f in FIELDS:
        if f not in df.columns:
            df[f] = np.nan
    bad_dates = pd.to_datetime(df["date"], errors="coerce")
    if bad_dates.isna().any():
        i = int(np.flatnonzero(bad_dates.isna().to_numpy())[0])
        raise DataError(f"{p}: row {i + 2}: date {df['date'].iloc[i]!r} is not a date (YYYY-MM-DD)")
    df["date"] = bad_dates.dt.normalize()
    df["symbol"] = df["symbol"].astype(str)
    for f in FIELDS:
        df[f] = pd.to_numeric(df[f], errors="coerce").astype(float)
    return df[LONG_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class SourceRule:
    """``symbol`` is read from ``file`` (column ``price_column``) between ``start`` and ``end``."""

    symbol: str
    file: str
    price_column: str = "close"
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None


class SourcePlan:
    """Which file is the primary source for which symbol and dates.

    Build from a CSV with columns ``symbol,file[,price_column,start,end]`` (the shared
    ``primary.csv``) or from rules. Dates outside ``[start, end]`` are not taken.
    """

    def __init__(self, rules: Iterable[SourceRule]):
        self.rules = list(rules)

    @classmethod
    def from_csv(cls, path: str | Path) -> "SourcePlan":
        p = Path(path)
        try:
            t = pd.read_csv(p, dtype=str)
        except Exception as exc:
            raise DataError(f"{p}: cannot read source plan ({exc})") from None
        if not {"symbol", "file"} <= set(t.columns):
            raise DataError(f"{p}: a source plan needs columns 'symbol' and 'file'")
        rules = []
        for _, r in t.iterrows():
            rules.append(SourceRule(
                symbol=r["symbol"], file=r["file"],
                price_column=(r.get("price_column") or "close") if isinstance(r.get("price_column"), str) else "close",
                start=pd.Timestamp(r["start"]) if isinstance(r.get("start"), str) else None,
                end=pd.Timestamp(r["end"]) if isinstance(r.get("end"), str) else None))
        return cls(rules)

    def files(self) -> list[str]:
        return sorted({r.file for r in self.rules})


def load_plan(folder: str | Path, plan: SourcePlan, symbols: Iterable[str] | None = None) -> pd.DataFrame:
    """Read the files of ``plan`` under ``folder`` and keep each symbol's primary rows.

    Returns long format with a ``source`` column (file name). When a rule's
    ``price_column`` is ``adj_close``, that column is the symbol's total-return price.
    """
    folder = Path(folder)
    wanted = None if symbols is None else set(symbols)
    by_file: dict[str, list[SourceRule]] = {}
    for r in plan.rules:
        if wanted is None or r.symbol in wanted:
            by_file.setdefault(r.file, []).append(r)
    parts = []
    for fname, rules in by_file.items():
        df = read_long(folder / fname)
        for r in rules:
            sel = df[df["symbol"] == r.symbol]
            if r.start is not None:
                sel = sel[sel["date"] >= r.start]
            if r.end is not None:
                sel = sel[sel["date"] <= r.end]
            if r.price_column == "adj_close":
                sel = sel.assign(close=sel["close"].where(sel["close"].notna(), np.nan))
            sel = sel.assign(source=fname)
            parts.append(sel)
    if not parts:
        raise DataError(f"{folder}: the source plan selects no rows")
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["symbol", "date"]).reset_index(drop=True)


def load_folder(folder: str | Path, calendars: Mapping[str, str], *, plan: SourcePlan | str | Path | None = None,
                symbols: Iterable[str] | None = None, start=None, end=None,
                listed: Mapping[str, tuple] | None = None) -> MarketData:
    """Load a folder of long-format files into :class:`MarketData`.

    Parameters
    ----------
    folder : path
        Folder with long-format files. If it holds ``primary.csv`` and no ``plan`` is
        given, that file is the plan; otherwise every ``*.csv*``/``*.parquet`` is read
        and overlapping (symbol, date) rows raise :class:`DataError`.
    calendars : mapping
        Symbol -> calendar; symbols without one are skipped (they are not in the universe).
    symbols : iterable of str, optional
        Restrict to these symbols.
    start, end : date-like, optional
        Date window.
    listed : mapping symbol -> (listed, delisted), optional
        Usable life of each symbol (from the universe); rows outside it are dropped
        *and recorded* in ``provenance["trimmed"]`` (junk pre-history such as WULF
        before its change of business).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of price files")
    if plan is None and (folder / "primary.csv").is_file():
        plan = folder / "primary.csv"
    if isinstance(plan, (str, Path)):
        plan = SourcePlan.from_csv(plan)
    wanted = [s for s in (symbols if symbols is not None else calendars) if s in calendars]
    if plan is not None:
        df = load_plan(folder, plan, wanted)
    else:
        files = sorted([*folder.glob("*.csv"), *folder.glob("*.csv.gz"), *folder.glob("*.parquet")])
        if not files:
            raise DataError(f"{folder}: no .csv, .csv.gz or .parquet files")
        df = pd.concat([read_long(f).assign(source=f.name) for f in files], ignore_index=True)
        df = df[df["symbol"].isin(wanted)]
    df = df[df["symbol"].isin(wanted)]
    if start is not None:
        df = df[df["date"] >= pd.Timestamp(start)]
    if end is not None:
        df = df[df["date"] <= pd.Timestamp(end)]
    df, trimmed = trim_to_listing(df, listed or {})
    if df.empty:
        raise DataError(f"{folder}: no rows for the requested symbols and dates")
    sources = df.groupby("symbol")["source"].agg(lambda s: sorted(set(s))).to_dict()
    md = MarketData.from_long(df.drop(columns="source"), calendars, source=f"files in {folder.name}/",
                              provenance={"folder": folder.name, "sources": sources, "trimmed": trimmed})
    md.provenance["data_hash"] = md.data_hash()
    return md


def trim_to_listing(df: pd.DataFrame, listed: Mapping[str, tuple]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop long-format rows outside each symbol's (listed, delisted) dates, and count them.

    Parameters
    ----------
    df : pandas.DataFrame
        Long format with ``symbol`` and ``date`` columns.
    listed : mapping symbol -> (listed, delisted)
        E.g. :meth:`Universe.listing_dates`; None bounds are open. Symbols absent from
        the mapping keep every row.

    Returns
    -------
    (kept rows, {symbol: number of rows dropped}) — the count is recorded in provenance,
    so junk pre-history is trimmed visibly, never silently.
    """
    keep = np.ones(len(df), dtype=bool)
    trimmed: dict[str, int] = {}
    sym = df["symbol"].to_numpy()
    date = df["date"]
    for s in pd.unique(sym):
        lo, hi = listed.get(s, (None, None))
        if lo is None and hi is None:
            continue
        m = sym == s
        out = np.zeros(len(df), dtype=bool)
        if lo is not None:
            out |= m & (date < pd.Timestamp(lo)).to_numpy()
        if hi is not None:
            out |= m & (date > pd.Timestamp(hi)).to_numpy()
        if out.any():
            trimmed[str(s)] = int(out.sum())
            keep &= ~out
    return (df[keep] if not keep.all() else df), trimmed


def shared_prices_dir() -> Path | None:
    """The real-data folder: ``$COMPUTEFOLIO_DATA`` or ``../shared/data/prices`` beside the
    working directory or any of its parents; None when absent."""
    env = os.environ.get(DATA_ENV)
    if env:
        p = Path(env)
        return p if p.is_dir() else None
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        cand = d.parent / "shared" / "data" / "prices" if d.name else None
        if cand is not None and cand.is_dir():
            return cand
        cand = d / "shared" / "data" / "prices"
        if cand.is_dir():
            return cand
    return None


def splice(df: pd.DataFrame, priority: Iterable[str]) -> pd.DataFrame:
    """One row per (symbol, date), taken from the first source in ``priority`` that has it.

    Parameters
    ----------
    df : pandas.DataFrame
        Long format with a ``source`` column (several sources may hold the same
        symbol and date).
    priority : iterable of str
        Source names, most preferred first. Rows of sources not listed are not used.

    Returns
    -------
    pandas.DataFrame
        Long format sorted by symbol and date; ``source`` says where each row came
        from. An explicit priority is the only way two sources are mixed: where the
        preferred source has no row for a date, the next one's row is used, which
        can splice differently adjusted series (validate the result).

    Raises
    ------
    DataError
        When ``priority`` is empty or names a source absent from ``df``.
    """
    order = list(priority)
    if not order:
        raise DataError("splice needs at least one source in its priority")
    if "source" not in df.columns:
        raise DataError("splice needs long-format rows with a 'source' column")
    have = set(df["source"].unique())
    unknown = [s for s in order if s not in have]
    if unknown:
        raise DataError(f"priority names source(s) with no rows: {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(have))})")
    rank = {s: i for i, s in enumerate(order)}
    d = df[df["source"].isin(rank)]
    d = d.assign(_rank=d["source"].map(rank).astype(int))
    d = d.sort_values(["symbol", "date", "_rank"], kind="stable")
    d = d[~d.duplicated(["symbol", "date"], keep="first")]
    return d.drop(columns="_rank").reset_index(drop=True)


def select_plan(df: pd.DataFrame, plan: SourcePlan, symbols: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows of ``df`` (long format with ``source``) that ``plan`` takes: for each rule, its
    symbol from its file (source) between its start and end.

    Raises
    ------
    DataError
        When two rules of one symbol overlap in dates (the plan would mix sources) or
        when the plan selects nothing.
    """
    wanted = None if symbols is None else set(symbols)
    parts = []
    for r in plan.rules:
        if wanted is not None and r.symbol not in wanted:
            continue
        m = (df["source"] == r.file) & (df["symbol"] == r.symbol)
        if r.start is not None:
            m &= df["date"] >= r.start
        if r.end is not None:
            m &= df["date"] <= r.end
        parts.append(df[m])
    if not parts or not any(len(p) for p in parts):
        raise DataError("the source plan selects no rows")
    out = pd.concat(parts, ignore_index=True)
    dup = out.duplicated(["symbol", "date"], keep=False)
    if dup.any():
        first = out[dup].iloc[0]
        srcs = sorted(set(out.loc[dup & (out["symbol"] == first["symbol"]), "source"]))
        raise DataError(f"the source plan takes {first['symbol']} {first['date'].date()} from several files "
                        f"({', '.join(srcs)}): make its rules' date ranges disjoint")
    return out.sort_values(["symbol", "date"]).reset_index(drop=True)
