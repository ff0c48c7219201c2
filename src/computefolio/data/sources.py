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
    """``symbol`` is read from ``file`` (column ``price_column``) between ``start`` and ``end``.

    In a volume plan (``volume.csv``) ``price_column`` holds the plan's ``volume_column``.
    """

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
    def from_csv(cls, path: str | Path, kind: str = "price") -> "SourcePlan":
        """Read a plan CSV: ``symbol,file[,price_column,start,end]`` (``kind="price"``, the
        shared ``primary.csv``) or ``symbol,file[,volume_column,start,end]`` (``kind="volume"``,
        the shared ``volume.csv``). A bad row raises :class:`DataError` naming file, row and field."""
        p = Path(path)
        try:
            t = pd.read_csv(p, dtype=str)
        except Exception as exc:
            raise DataError(f"{p}: cannot read source plan ({exc})") from None
        t.columns = [str(c).strip() for c in t.columns]
        if not {"symbol", "file"} <= set(t.columns):
            raise DataError(f"{p}: a source plan needs columns 'symbol' and 'file'")
        col = "volume_column" if kind == "volume" else "price_column"
        default = "volume" if kind == "volume" else "close"
        rules = []
        for i, r in t.iterrows():
            dates = {}
            for k in ("start", "end"):
                v = r.get(k)
                if isinstance(v, str) and v.strip():
                    try:
                        dates[k] = pd.Timestamp(v)
                    except (ValueError, TypeError):
                        raise DataError(f"{p}: row {i + 2}: {k} {v!r} is not a date (YYYY-MM-DD)") from None
                else:
                    dates[k] = None
            if not isinstance(r.get("symbol"), str) or not isinstance(r.get("file"), str):
                raise DataError(f"{p}: row {i + 2}: 'symbol' and 'file' must not be empty")
            rules.append(SourceRule(
                symbol=r["symbol"].strip(), file=r["file"].strip(),
                price_column=(r.get(col) or default) if isinstance(r.get(col), str) else default,
                start=dates["start"], end=dates["end"]))
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
        by_sym = {k: g for k, g in df.groupby("symbol", sort=False)} if len(rules) > 1 else None
        for r in rules:
            sel = by_sym.get(r.symbol, df.iloc[:0]) if by_sym is not None else df[df["symbol"] == r.symbol]
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


def volume_from_plan(rows: pd.DataFrame, plan: SourcePlan, symbols: Iterable[str] | None = None) -> pd.DataFrame:
    """Volume and traded value per (symbol, date) from a volume plan.

    Parameters
    ----------
    rows : pandas.DataFrame
        Long format with a ``source`` column (the files the plan names).
    plan : SourcePlan
        A volume plan (``volume.csv``): for each rule, ``symbol``'s volume comes from
        ``file`` between ``start`` and ``end``.

    Returns
    -------
    pandas.DataFrame
        Columns ``date, symbol, volume, traded_value, volume_source``: volume in the
        file's units (shares or coins) and ``traded_value = volume x that file's own close``
        (currency), so that files split-adjusted at different dates cannot mis-scale it.
        A row without a close in its file has no traded value (NaN). Rules of one symbol
        whose date ranges overlap raise :class:`DataError`.
    """
    wanted = None if symbols is None else set(symbols)
    parts = []
    by_key = _by_source_symbol(rows)
    for r in plan.rules:
        if wanted is not None and r.symbol not in wanted:
            continue
        sel = by_key.get((r.file, r.symbol), rows.iloc[:0])
        if r.start is not None:
            sel = sel[sel["date"] >= r.start]
        if r.end is not None:
            sel = sel[sel["date"] <= r.end]
        if r.price_column not in sel.columns:
            raise DataError(f"volume plan: {r.file} has no column {r.price_column!r} (symbol {r.symbol})")
        vol = pd.to_numeric(sel[r.price_column], errors="coerce")
        close = sel["close"].where(sel["close"].notna(), sel["adj_close"])
        parts.append(pd.DataFrame({"date": sel["date"].to_numpy(), "symbol": r.symbol, "volume": vol.to_numpy(),
                                   "traded_value": (vol * close).to_numpy(), "volume_source": r.file}))
    cols = ["date", "symbol", "volume", "traded_value", "volume_source"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    dup = out.duplicated(["symbol", "date"], keep=False)
    if dup.any():
        first = out[dup].iloc[0]
        raise DataError(f"the volume plan takes {first['symbol']} {pd.Timestamp(first['date']).date()} from several "
                        f"files: make its rules' date ranges disjoint")
    return out.sort_values(["symbol", "date"]).reset_index(drop=True)[cols]


def _by_source_symbol(rows: pd.DataFrame) -> dict:
    """Long rows split once by (source, symbol) (a mask per rule over every row is slow)."""
    if rows.empty:
        return {}
    return {k: g for k, g in rows.groupby(["source", "symbol"], sort=False)}


def volume_seams(rows: pd.DataFrame, plan: SourcePlan, symbols: Iterable[str] | None = None,
                 tolerance: float = 3.0) -> dict[str, dict]:
    """Where a volume plan switches files for a symbol, do the two files agree on scale?

    For consecutive rules of one symbol from files A then B, the ratio of traded value
    (volume x own close) B/A is the median over the days both files have (positive
    volume in each); without common days, the median of B's first 20 bars over A's last 20.
    A ratio outside ``[1/tolerance, tolerance]`` means the files do not measure the same
    volume (for example one is a single venue's feed, the other consolidated) and ADV
    changes scale at the seam.

    Returns
    -------
    dict
        Symbol -> ``{"from", "to", "seam" (date), "ratio", "days", "method"}`` for every
        switch whose ratio is outside the tolerance.
    """
    wanted = None if symbols is None else set(symbols)
    out: dict[str, dict] = {}
    by_key = _by_source_symbol(rows)
    by_sym: dict[str, list[SourceRule]] = {}
    for r in plan.rules:
        if wanted is None or r.symbol in wanted:
            by_sym.setdefault(r.symbol, []).append(r)
    for sym, rs in by_sym.items():
        rs = sorted(rs, key=lambda r: r.start or pd.Timestamp.min)
        for a, b in zip(rs, rs[1:]):
            if a.file == b.file:
                continue
            def tv(f, col):
                d = by_key.get((f, sym), rows.iloc[:0])
                close = d["close"].where(d["close"].notna(), d["adj_close"])
                v = pd.Series((pd.to_numeric(d[col], errors="coerce") * close).to_numpy(), index=d["date"].to_numpy())
                return v[v > 0]
            va, vb = tv(a.file, a.price_column), tv(b.file, b.price_column)
            common = va.index.intersection(vb.index)
            if len(common) >= 20:
                ratio, n, how = float((vb[common] / va[common]).median()), len(common), "median over common days"
            else:
                seam = b.start or (vb.index.min() if len(vb) else None)
                if seam is None or va.empty or vb.empty:
                    continue
                before, after = va[va.index < seam].tail(20), vb[vb.index >= seam].head(20)
                if before.empty or after.empty:
                    continue
                ratio, n, how = float(after.median() / before.median()), len(after), "20 bars each side of the seam"
            if not (1.0 / tolerance <= ratio <= tolerance):
                out[sym] = {"from": a.file, "to": b.file, "seam": str((b.start or common.min()).date()),
                            "ratio": ratio, "days": int(n), "method": how}
    return out


def attach_volume(md: MarketData, vol: pd.DataFrame) -> MarketData:
    """``md`` with volume and traded value of the symbols in ``vol`` (from :func:`volume_from_plan`)
    replacing its own; ``provenance["volume_sources"]`` names the file(s) per symbol and
    ``provenance["volume_unmatched"]`` counts volume rows on dates without a price (not used)."""
    if vol is None or vol.empty:
        return md
    v = vol[vol["symbol"].isin(md.symbols)]
    if v.empty:
        return md
    idx = md.close.index
    vw = v.pivot(index="date", columns="symbol", values="volume")
    tw = v.pivot(index="date", columns="symbol", values="traded_value")
    unmatched = {}
    outside = ~vw.index.isin(idx)
    if outside.any():
        cnt = vw.loc[outside].notna().sum()
        unmatched = {str(s): int(n) for s, n in cnt.items() if n}
    covered = list(vw.columns)
    volume = md.volume.copy() if md.volume is not None else pd.DataFrame(np.nan, index=idx, columns=md.close.columns)
    traded = md.traded_value.copy() if md.traded_value is not None else \
        pd.DataFrame(np.nan, index=idx, columns=md.close.columns)
    volume[covered] = vw.reindex(idx)[covered].to_numpy()
    traded[covered] = tw.reindex(idx)[covered].to_numpy()
    md.volume = volume.reindex(columns=md.close.columns)
    md.traded_value = traded.reindex(columns=md.close.columns)
    md._cache.clear()
    vp = v[["symbol", "volume_source"]].drop_duplicates()
    srcs = {str(k): sorted(map(str, g)) for k, g in vp.groupby("symbol")["volume_source"]}
    md.provenance["volume_sources"] = {**(md.provenance.get("volume_sources") or {}), **srcs}
    if unmatched:
        md.provenance["volume_unmatched"] = unmatched
    md.provenance.pop("data_hash", None)  # the caller hashes the finished market once
    return md


def load_file(path: str | Path, calendars: Mapping[str, str], *, symbols: Iterable[str] | None = None, start=None,
              end=None, listed: Mapping[str, tuple] | None = None) -> MarketData:
    """Load one long-format file (CSV, CSV.GZ or Parquet) into :class:`MarketData`.

    Symbols without a calendar (not in the universe) are left out and listed in
    ``provenance["skipped"]``; rows outside listing dates are trimmed and counted.
    """
    p = Path(path)
    df = read_long(p)
    wanted = [s for s in (symbols if symbols is not None else calendars) if s in calendars]
    skipped = sorted(set(df["symbol"]) - set(wanted))
    df = df[df["symbol"].isin(wanted)]
    if start is not None:
        df = df[df["date"] >= pd.Timestamp(start)]
    if end is not None:
        df = df[df["date"] <= pd.Timestamp(end)]
    df, trimmed = trim_to_listing(df, listed or {})
    if df.empty:
        raise DataError(f"{p}: no rows for the universe's symbols and the requested dates"
                        + (f" (symbols in the file not in the universe: {', '.join(skipped[:8])})" if skipped else ""))
    sources = {s: [p.name] for s in sorted(set(df["symbol"]))}
    md = MarketData.from_long(df, calendars, source=f"file {p.name}",
                              provenance={"file": p.name, "sources": sources, "trimmed": trimmed,
                                          "skipped": skipped})
    md.provenance["data_hash"] = md.data_hash()
    return md


def load_folder(folder: str | Path, calendars: Mapping[str, str], *, plan: SourcePlan | str | Path | None = None,
                symbols: Iterable[str] | None = None, start=None, end=None,
                listed: Mapping[str, tuple] | None = None,
                volume_plan: SourcePlan | str | Path | None = None) -> MarketData:
    """Load a folder of long-format files into :class:`MarketData`.

    Parameters
    ----------
    folder : path
        Folder with long-format files. If it holds ``primary.csv`` and no ``plan`` is
        given, that file is the plan; otherwise every ``*.csv*``/``*.parquet`` is read
        and overlapping (symbol, date) rows raise :class:`DataError`. If it holds
        ``volume.csv`` and no ``volume_plan`` is given, that file is the volume plan.
    volume_plan : SourcePlan or path, optional
        Where volume comes from, per symbol and date range (``symbol,file,volume_column,
        start,end``), when the price source has none: the traded value is that file's
        volume times that file's own close (:func:`volume_from_plan`); the files used are
        in ``provenance["volume_sources"]``.
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
    pairs = df[["symbol", "source"]].drop_duplicates()
    sources = {str(k): sorted(map(str, g)) for k, g in pairs.groupby("symbol")["source"]}
    md = MarketData.from_long(df.drop(columns="source"), calendars, source=f"files in {folder.name}/",
                              provenance={"folder": folder.name, "sources": sources, "trimmed": trimmed})
    if volume_plan is None and (folder / "volume.csv").is_file():
        volume_plan = folder / "volume.csv"
    if isinstance(volume_plan, (str, Path)):
        volume_plan = SourcePlan.from_csv(volume_plan, kind="volume")
    if volume_plan is not None:
        syms = set(md.symbols)
        vfiles = sorted({r.file for r in volume_plan.rules if r.symbol in syms})
        vrows = []
        for f in vfiles:
            if not (folder / f).is_file():
                raise DataError(f"{folder / 'volume.csv'}: names {f}, which is not in {folder.name}/")
            d = read_long(folder / f)
            vrows.append(d[d["symbol"].isin(syms)].assign(source=f))
        if vrows:
            vr = pd.concat(vrows, ignore_index=True)
            if start is not None:
                vr = vr[vr["date"] >= pd.Timestamp(start)]
            if end is not None:
                vr = vr[vr["date"] <= pd.Timestamp(end)]
            vr, _ = trim_to_listing(vr, listed or {})
            attach_volume(md, volume_from_plan(vr, volume_plan, syms))
            scale = volume_seams(vr, volume_plan, syms)
            if scale:
                md.provenance["volume_scale"] = scale
            md.provenance["volume_plan"] = "volume.csv" if (folder / "volume.csv").is_file() else "given"
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
