"""A DuckDB store of daily prices from several sources, with provenance.

One file (default ``~/.computefolio/store.duckdb``; ``$COMPUTEFOLIO_HOME/store.duckdb``
when that variable is set; any path given explicitly wins) holds three tables:

``prices``
    ``symbol, date, open, high, low, close, adj_close, volume, source, import_id``,
    primary key ``(source, symbol, date)``. Each source (by default the imported
    file's name, as in the shared ``primary.csv``) keeps its own rows: sources that
    overlap and disagree are stored side by side, never merged.
``imports``
    One row per import: ``import_id, file, source, sha256, rows_read, rows_added,
    rows_present, rows_quarantined, imported_at`` (UTC).
``quarantine``
    Rows refused by validation and kept aside on request, with the file row number,
    the failed check and its message.

Imports are idempotent (a file whose SHA-256 was imported before adds nothing; rows
whose (source, symbol, date) is already stored with the same values are skipped) and
atomic (one transaction: an import that fails at any point, or a process killed
halfway, leaves the store as it was). Rows already stored with *different* values
are a conflict: the import is refused, nothing is overwritten.

Bad rows (the row-level errors of :mod:`~computefolio.data.validate`: non-positive
prices or volumes, rows without a price, duplicated dates, OHLC contradictions, bars
on closed days) make the import fail with a :class:`~computefolio.errors.DataError`
that lists them, unless ``quarantine=True``: then the good rows are imported and the
bad ones go to ``quarantine`` and are listed in the result. Series-level findings
(split-like jumps, gaps, stale runs, cross-source scale) do not block an import;
they are returned in :attr:`ImportResult.report` and ``computefolio data check``
reports them for the whole store.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .market import FIELDS, MarketData
from .sources import SourcePlan, SourceRule, read_long, select_plan, splice, trim_to_listing
from .validate import ValidationReport, validate

#: Environment variable naming the computefolio home folder (the store lives there).
HOME_ENV = "COMPUTEFOLIO_HOME"
STORE_FILE = "store.duckdb"
#: Checks whose errors concern single rows: such rows are refused or quarantined on import.
ROW_CHECKS = frozenset({"non_positive", "negative_volume", "missing_price", "duplicate_date",
                        "ohlc_inconsistent", "off_calendar"})
#: Rows written per INSERT inside the import transaction.
CHUNK_ROWS = 50_000
_LIST_BAD = 10

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS imports (
        import_id BIGINT PRIMARY KEY, file VARCHAR NOT NULL, source VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
        rows_read BIGINT NOT NULL, rows_added BIGINT NOT NULL, rows_present BIGINT NOT NULL,
        rows_quarantined BIGINT NOT NULL, imported_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS prices (
        symbol VARCHAR NOT NULL, date DATE NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE,
        adj_close DOUBLE, volume DOUBLE, source VARCHAR NOT NULL, import_id BIGINT NOT NULL,
        PRIMARY KEY (source, symbol, date))""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        import_id BIGINT NOT NULL, source VARCHAR NOT NULL, "row" BIGINT, symbol VARCHAR, date DATE,
        open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, adj_close DOUBLE, volume DOUBLE,
        "check" VARCHAR NOT NULL, message VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS plan (
        position BIGINT NOT NULL, symbol VARCHAR NOT NULL, file VARCHAR NOT NULL, price_column VARCHAR NOT NULL,
        start DATE, "end" DATE, set_at TIMESTAMP NOT NULL)""",
    # where volume comes from when the price source has none (same shape; price_column = volume column)
    """CREATE TABLE IF NOT EXISTS volume_plan (
        position BIGINT NOT NULL, symbol VARCHAR NOT NULL, file VARCHAR NOT NULL, price_column VARCHAR NOT NULL,
        start DATE, "end" DATE, set_at TIMESTAMP NOT NULL)""",
    # live data (computefolio data sync): per (source, symbol) what was fetched, and when
    """CREATE TABLE IF NOT EXISTS sync_state (
        source VARCHAR NOT NULL, symbol VARCHAR NOT NULL, source_symbol VARCHAR NOT NULL, quote VARCHAR,
        first_bar DATE, last_bar DATE, last_final BOOLEAN NOT NULL, final_through DATE, history_from DATE,
        fetched_at TIMESTAMP NOT NULL, import_id BIGINT NOT NULL, "rows" BIGINT NOT NULL, note VARCHAR,
        PRIMARY KEY (source, symbol))""",
    # stored rows that a sync replaced or removed (a source rewrote its history): kept, never lost
    """CREATE TABLE IF NOT EXISTS revisions (
        symbol VARCHAR NOT NULL, date DATE NOT NULL, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE,
        adj_close DOUBLE, volume DOUBLE, source VARCHAR NOT NULL, import_id BIGINT NOT NULL,
        replaced_by BIGINT NOT NULL, reason VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS actions (
        source VARCHAR NOT NULL, symbol VARCHAR NOT NULL, date DATE NOT NULL, action VARCHAR NOT NULL,
        value DOUBLE NOT NULL, import_id BIGINT NOT NULL, PRIMARY KEY (source, symbol, date, action))""",
    """CREATE TABLE IF NOT EXISTS funding (
        source VARCHAR NOT NULL, symbol VARCHAR NOT NULL, time TIMESTAMP NOT NULL, rate DOUBLE,
        import_id BIGINT NOT NULL, PRIMARY KEY (source, symbol, time))""",
    """CREATE TABLE IF NOT EXISTS sync_flags (
        import_id BIGINT NOT NULL, source VARCHAR NOT NULL, symbol VARCHAR NOT NULL, date DATE,
        "check" VARCHAR NOT NULL, value DOUBLE, message VARCHAR NOT NULL)""",
]
_COLS = ["symbol", "date", *FIELDS]


def default_store_path(path: str | Path | None = None) -> Path:
    """The store file: ``path`` if given, else ``$COMPUTEFOLIO_HOME/store.duckdb``, else
    ``~/.computefolio/store.duckdb``. A folder given as ``path`` gets ``store.duckdb`` inside."""
    if path is not None:
        p = Path(path).expanduser()
        return p / STORE_FILE if p.is_dir() else p
    home = os.environ.get(HOME_ENV)
    base = Path(home).expanduser() if home else Path.home() / ".computefolio"
    return base / STORE_FILE


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class ImportResult:
    """What one :meth:`Store.import_file` did.

    Attributes
    ----------
    import_id : int
        Id of this import (or of the earlier import of the same file when ``already_imported``).
    file, source, sha256 : str
    rows_read : int
        Rows in the file.
    rows_added : int
        Rows written to ``prices``.
    rows_present : int
        Good rows already stored with the same values (skipped).
    quarantined : pandas.DataFrame
        Rows kept aside (file row number, symbol, date, fields, check, message).
    already_imported : bool
        The same bytes were imported before: nothing was read or written.
    report : ValidationReport
        Every finding on the file (series-level ones included).
    """

    import_id: int
    file: str
    source: str
    sha256: str
    rows_read: int = 0
    rows_added: int = 0
    rows_present: int = 0
    quarantined: pd.DataFrame = field(default_factory=pd.DataFrame)
    already_imported: bool = False
    report: ValidationReport = field(default_factory=ValidationReport)

    @property
    def status(self) -> str:
        if self.already_imported:
            return f"already imported (import {self.import_id}); nothing added"
        q = f", {len(self.quarantined)} quarantined" if len(self.quarantined) else ""
        return f"import {self.import_id}: {self.rows_added:,} rows added, {self.rows_present:,} already present{q}"


#: Live-sync tables and their key order (in :meth:`Store.snapshot` when the store has them).
_SYNC_TABLES = (("sync_state", "source, symbol"), ("revisions", "source, symbol, date, replaced_by"),
                ("actions", "source, symbol, date, action"), ("funding", "source, symbol, time"),
                ("sync_flags", 'import_id, symbol, date, "check"'))


@dataclass
class UpsertResult:
    """What one :meth:`Store.upsert_fetched` did (counts of rows)."""

    import_id: int
    rows_added: int = 0
    rows_rewritten: int = 0
    rows_removed: int = 0
    rows_present: int = 0
    rows_quarantined: int = 0


def _check_on_disk(con, path: Path) -> None:
    """Refuse a file that DuckDB did not open as a database on disk.

    DuckDB opens a file of another kind (a CSV given as ``--store``) as an in-memory database
    that never reaches the disk: every write would be lost. Asked through the connection
    itself, never by reading the file (closing any descriptor of a file drops this process's
    POSIX locks on it, which would let another process write beside the service).
    """
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    if row is None or not row[0]:
        con.close()
        raise DataError(f"{path}: not a DuckDB store file (give the store's .duckdb file; import price files "
                        "with 'computefolio data import FILE')")


class Store:
    """Prices from several sources in one DuckDB file (see the module docstring).

    Parameters
    ----------
    path : path, optional
        The store file (see :func:`default_store_path`).
    read_only : bool
        Open without write access (several readers may share the file); the file must exist.

    Use as a context manager, or call :meth:`close`, to release the file.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False):
        self.path = default_store_path(path)
        self.read_only = read_only
        self._con = None

    # ---------------------------------------------------------------- connection
    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.is_file()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def con(self):
        """The DuckDB connection (opened on first use; the schema is created when writable)."""
        if self._con is None:
            import duckdb

            if self.read_only and not self.exists():
                raise DataError(f"no store at {self.path}: import files first (computefolio data import FILE)")
            if not self.read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._con = duckdb.connect(str(self.path), read_only=self.read_only)
            except Exception as exc:
                if "in-memory database" in str(exc):
                    raise DataError(f"{self.path}: not a DuckDB store file (give the store's .duckdb file)") from None
                raise DataError(f"{self.path}: cannot open the store ({str(exc).splitlines()[0]})") from None
            try:
                _check_on_disk(self._con, self.path)
            except DataError:
                self._con = None
                raise
            if not self.read_only:
                for stmt in _SCHEMA:
                    self._con.execute(stmt)
            else:
                have = {r[0] for r in self._con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
                if "prices" not in have:
                    raise DataError(f"{self.path}: not a computefolio store (no 'prices' table)")
        return self._con

    # ---------------------------------------------------------------- import
    def import_file(self, path: str | Path, *, quarantine: bool = False, universe=None,
                    calendars: Mapping[str, str] | None = None, source: str | None = None) -> ImportResult:
        """Import one long-format file (CSV, CSV.gz or Parquet) in one transaction.

        Parameters
        ----------
        path : path
            The file (columns ``date,symbol,open,high,low,close,adj_close,volume``).
        quarantine : bool
            Keep bad rows aside (table ``quarantine``) and import the good ones,
            instead of refusing the whole file.
        universe, calendars
            Calendars and asset classes for validation (see :func:`validate`).
        source : str, optional
            Source name of the rows (default: the file name).

        Returns
        -------
        ImportResult

        Raises
        ------
        DataError
            The file is unreadable; it has bad rows and ``quarantine`` is False (the
            message lists the first rows and the count); or rows conflict with stored
            values. Nothing is written in any of these cases.
        """
        p = Path(path)
        if not p.is_file():
            raise DataError(f"{p}: file not found")
        sha = file_sha256(p)
        src = source or p.name
        con = self.con
        prev = con.execute("SELECT import_id, source FROM imports WHERE sha256 = ? ORDER BY import_id LIMIT 1",
                           [sha]).fetchall()
        prev = prev[0] if prev else None
        if prev is not None:
            return ImportResult(import_id=int(prev[0]), file=str(p), source=str(prev[1]), sha256=sha,
                                already_imported=True)
        df = read_long(p)
        first_row = 0 if p.suffix == ".parquet" else 2  # CSV: line numbers (header is line 1)
        df = df.assign(source=src, row=np.arange(len(df), dtype=np.int64) + first_row)
        report = validate(df.drop(columns="row"), calendars, universe, listed_only=False)
        bad_keys: dict[tuple, list] = {}
        for f in report.errors:
            if f.check in ROW_CHECKS:
                bad_keys.setdefault((f.symbol, pd.Timestamp(f.date)), []).append(f)
        bad = np.zeros(len(df), dtype=bool)
        if bad_keys:
            keys = pd.MultiIndex.from_frame(df[["symbol", "date"]])
            bad = keys.isin(list(bad_keys))
        qdf = _quarantine_frame(df[bad], bad_keys) if bad.any() else _quarantine_frame(df.iloc[:0], {})
        if bad.any() and not quarantine:
            raise DataError(f"{p.name}: {int(bad.sum())} bad row(s) refused, nothing imported "
                            f"(use --quarantine / quarantine=True to import the good rows and keep these aside): "
                            f"{_list_rows(qdf)}")
        good = df[~bad]
        con.execute("BEGIN TRANSACTION")
        try:
            import_id = int(con.execute("SELECT coalesce(max(import_id), 0) + 1 FROM imports").fetchall()[0][0])
            present, added = self._write(con, good, src, import_id)
            if len(qdf):
                q = qdf.assign(import_id=import_id, source=src)
                con.register("_cf_quarantine", q)
                try:
                    con.execute('INSERT INTO quarantine SELECT import_id, source, "row", symbol, CAST(date AS DATE), '
                                'open, high, low, close, adj_close, volume, "check", message FROM _cf_quarantine')
                finally:
                    con.unregister("_cf_quarantine")
            now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
            con.execute("INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [import_id, str(p.resolve()), src, sha, len(df), added, present, len(qdf), now])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return ImportResult(import_id=import_id, file=str(p), source=src, sha256=sha, rows_read=len(df),
                            rows_added=added, rows_present=present, quarantined=qdf, report=report)

    def _write(self, con, good: pd.DataFrame, src: str, import_id: int) -> tuple[int, int]:
        """Inside the open transaction: refuse conflicts, then insert new rows in chunks."""
        inc = good[_COLS].copy()
        con.register("_cf_incoming", inc)
        try:
            cmp = " OR ".join(f"p.{f} IS DISTINCT FROM i.{f}" for f in FIELDS)
            conflicts = con.execute(
                f"SELECT i.symbol, CAST(i.date AS DATE) AS date, {', '.join(f'p.{f} AS stored_{f}, i.{f}' for f in ('close', 'adj_close'))} "
                f"FROM _cf_incoming i JOIN prices p ON p.source = ? AND p.symbol = i.symbol "
                f"AND p.date = CAST(i.date AS DATE) WHERE {cmp} ORDER BY 1, 2", [src]).df()
            if len(conflicts):
                shown = "; ".join(f"{r.symbol} {pd.Timestamp(r.date).date()} stored close {_g(r.stored_close)} / "
                                  f"adj {_g(r.stored_adj_close)}, file close {_g(r.close)} / adj {_g(r.adj_close)}"
                                  for r in conflicts.head(_LIST_BAD).itertuples())
                more = f" (+{len(conflicts) - _LIST_BAD} more)" if len(conflicts) > _LIST_BAD else ""
                raise DataError(f"source {src!r}: {len(conflicts)} row(s) differ from the stored rows of the same "
                                f"(source, symbol, date); nothing imported or overwritten (import under another "
                                f"source name to keep both): {shown}{more}")
            present = int(con.execute(
                "SELECT count(*) FROM _cf_incoming i JOIN prices p ON p.source = ? AND p.symbol = i.symbol "
                "AND p.date = CAST(i.date AS DATE)", [src]).fetchall()[0][0])
        finally:
            con.unregister("_cf_incoming")
        added = 0
        for start in range(0, len(inc), CHUNK_ROWS):
            added += self._insert_chunk(con, inc.iloc[start:start + CHUNK_ROWS], src, import_id)
        return present, added

    def _insert_chunk(self, con, chunk: pd.DataFrame, src: str, import_id: int) -> int:
        """Insert the rows of ``chunk`` not yet stored for ``src``; returns how many."""
        con.register("_cf_chunk", chunk)
        try:
            n = con.execute(
                "INSERT INTO prices SELECT c.symbol, CAST(c.date AS DATE), c.open, c.high, c.low, c.close, "
                "c.adj_close, c.volume, ?, ? FROM _cf_chunk c WHERE NOT EXISTS (SELECT 1 FROM prices p "
                "WHERE p.source = ? AND p.symbol = c.symbol AND p.date = CAST(c.date AS DATE))",
                [src, import_id, src]).fetchall()[0][0]
        finally:
            con.unregister("_cf_chunk")
        return int(n)

    # ---------------------------------------------------------------- reading
    def prices(self, symbols: Iterable[str] | None = None, sources: Iterable[str] | None = None,
               start=None, end=None) -> pd.DataFrame:
        """Stored rows in long format with ``source`` and ``import_id``, sorted by source, symbol, date."""
        where, args = [], []
        if symbols is not None:
            symbols = list(symbols)
            where.append(f"symbol IN ({', '.join('?' * len(symbols))})" if symbols else "FALSE")
            args += symbols
        if sources is not None:
            sources = list(sources)
            where.append(f"source IN ({', '.join('?' * len(sources))})" if sources else "FALSE")
            args += sources
        if start is not None:
            where.append("date >= ?")
            args.append(pd.Timestamp(start).date())
        if end is not None:
            where.append("date <= ?")
            args.append(pd.Timestamp(end).date())
        sql = "SELECT * FROM prices" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY source, symbol, date"
        df = self.con.execute(sql, args).df()
        df["date"] = pd.to_datetime(df["date"])
        df["symbol"] = df["symbol"].astype(str)
        df["source"] = df["source"].astype(str)
        for f in FIELDS:
            df[f] = df[f].astype(float)
        return df[[*_COLS, "source", "import_id"]]

    def symbols(self, source: str | None = None) -> list[str]:
        """Symbols with rows (in ``source`` when given), sorted."""
        if source is None:
            rows = self.con.execute("SELECT DISTINCT symbol FROM prices ORDER BY 1").fetchall()
        else:
            rows = self.con.execute("SELECT DISTINCT symbol FROM prices WHERE source = ? ORDER BY 1", [source]).fetchall()
        return [r[0] for r in rows]

    def sources(self) -> list[str]:
        """Source names with rows, sorted."""
        return [r[0] for r in self.con.execute("SELECT DISTINCT source FROM prices ORDER BY 1").fetchall()]

    def row_count(self, source: str | None = None) -> int:
        """Rows in ``prices`` (of ``source`` when given)."""
        if source is None:
            return int(self.con.execute("SELECT count(*) FROM prices").fetchall()[0][0])
        return int(self.con.execute("SELECT count(*) FROM prices WHERE source = ?", [source]).fetchall()[0][0])

    def imports(self) -> pd.DataFrame:
        """The import log, oldest first."""
        return self.con.execute("SELECT * FROM imports ORDER BY import_id").df()

    def quarantined(self, import_id: int | None = None) -> pd.DataFrame:
        """Rows kept aside on import (all, or those of one import)."""
        if import_id is None:
            return self.con.execute('SELECT * FROM quarantine ORDER BY import_id, "row"').df()
        return self.con.execute('SELECT * FROM quarantine WHERE import_id = ? ORDER BY "row"', [import_id]).df()

    def summary(self) -> pd.DataFrame:
        """Per source: rows, symbols, first and last date, imports."""
        return self.con.execute(
            "SELECT source, count(*) AS rows, count(DISTINCT symbol) AS symbols, min(date) AS first, "
            "max(date) AS last, string_agg(DISTINCT CAST(import_id AS VARCHAR), ',') AS imports "
            "FROM prices GROUP BY source ORDER BY source").df()

    def snapshot(self) -> str:
        """SHA-256 of every stored row of every table, in key order (to compare states)."""
        h = hashlib.sha256()
        have = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for table, order in (("prices", "source, symbol, date"), ("imports", "import_id"),
                             ("quarantine", 'import_id, "row", "check"'), ("plan", "position"), *_SYNC_TABLES):
            if table not in have:
                continue
            for row in self.con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall():
                h.update(repr(row).encode())
            h.update(b"|")
        return h.hexdigest()

    def set_plan(self, plan: SourcePlan | str | Path | None, kind: str = "price") -> int:
        """Store the source plan :meth:`market` uses by default (None removes it); returns its rule count.

        ``kind="volume"`` stores a volume plan instead (``volume.csv``: where each symbol's
        volume comes from when its price source has none). Rules naming a file that is not
        a stored source are accepted (import it later), but overlapping date ranges for one
        symbol are refused.
        """
        if kind not in ("price", "volume"):
            raise ValueError(f"kind must be 'price' or 'volume', got {kind!r}")
        table = "plan" if kind == "price" else "volume_plan"
        if isinstance(plan, (str, Path)):
            plan = SourcePlan.from_csv(plan, kind=kind)
        rules = [] if plan is None else list(plan.rules)
        by_sym: dict[str, list] = {}
        for r in rules:
            by_sym.setdefault(r.symbol, []).append(r)
        for sym, rs in by_sym.items():
            spans = sorted((r.start or pd.Timestamp.min, r.end or pd.Timestamp.max) for r in rs)
            for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
                if b0 <= a1:
                    raise DataError(f"source plan: rules for {sym} overlap in dates; make them disjoint")
        now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM {table}")
            for i, r in enumerate(rules):
                con.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [i, r.symbol, r.file, r.price_column,
                             None if r.start is None else r.start.date(), None if r.end is None else r.end.date(), now])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return len(rules)

    def plan(self, kind: str = "price") -> SourcePlan | None:
        """The stored source plan (``kind="volume"``: the volume plan), or None."""
        table = "plan" if kind == "price" else "volume_plan"
        have = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if table not in have:
            return None
        rows = self.con.execute(f'SELECT symbol, file, price_column, start, "end" FROM {table} '
                                'ORDER BY position').fetchall()
        if not rows:
            return None
        return SourcePlan([SourceRule(sym, f, pc, None if a is None else pd.Timestamp(a), None if b is None else pd.Timestamp(b))
                           for sym, f, pc, a, b in rows])

    def check(self, calendars: Mapping[str, str] | None = None, universe=None, *, priority=None, plan=None,
              **options) -> ValidationReport:
        """Validate every stored source (and a splice or plan when given); see :func:`validate.check`."""
        from .validate import check as _check

        return _check(None, store=self, calendars=calendars, universe=universe, priority=priority, plan=plan,
                      **options)

    def market(self, calendars, symbols: Iterable[str] | None = None, start=None, end=None,
               priority: SourcePlan | Sequence[str] | str | Path | None = None, *, listed: bool = False) -> MarketData:
        """Build :class:`MarketData` from the store, one source per (symbol, date).

        Parameters
        ----------
        calendars : mapping symbol -> calendar, or Universe
            Symbols without a calendar are left out (recorded in ``provenance["skipped"]``).
        symbols : iterable of str, optional
            Symbols wanted (default: every stored symbol that has a calendar). A wanted
            symbol with no rows raises :class:`DataError`.
        start, end : date-like, optional
        priority : SourcePlan, path of a plan CSV, or sequence of source names, optional
            How to choose a source: a plan takes each symbol from its file over its
            dates; a sequence takes each (symbol, date) from the first source that has
            it (:func:`~computefolio.data.sources.splice`). Without one, the plan stored
            with :meth:`set_plan` is used when there is one; symbols it does not cover
            (or all symbols, without a plan) must be held by one source, else
            :class:`DataError`: sources are never mixed silently.
        listed : bool
            With a Universe, leave out rows outside each asset's listed/delisted dates
            (counted in ``provenance["trimmed"]``).

        Returns
        -------
        MarketData
            ``provenance`` holds ``store`` (file name), ``sources`` (per symbol: list of
            ``(source, first, last, rows)`` segments in date order), ``skipped``,
            ``trimmed`` and ``data_hash``.
        """
        universe = None
        if not isinstance(calendars, Mapping) and hasattr(calendars, "calendars"):
            universe = calendars
            cals = dict(universe.calendars)
        else:
            cals = dict(calendars)
        stored = self.symbols()
        if symbols is None:
            wanted = [s for s in stored if s in cals]
            skipped = [s for s in stored if s not in cals]
        else:
            wanted = list(symbols)
            skipped = []
            none = [s for s in wanted if s not in stored]
            if none:
                raise DataError(f"{self.path.name}: no stored rows for {', '.join(none)}")
            nocal = [s for s in wanted if s not in cals]
            if nocal:
                raise DataError(f"no calendar for {', '.join(nocal)} (add them to the universe or calendars)")
        if not wanted:
            raise DataError(f"{self.path.name}: no stored symbol has a calendar")
        df = self.prices(symbols=wanted, start=start, end=end)
        if isinstance(priority, (str, Path)):
            priority = SourcePlan.from_csv(priority)
        how = "explicit"
        if priority is None:
            stored = self.plan()
            if stored is not None:
                priority, how = stored, "stored plan"
        if priority is None or isinstance(priority, SourcePlan):
            covered = set() if priority is None else {r.symbol for r in priority.rules}
            rest = df[~df["symbol"].isin(covered)]
            nsrc = rest.groupby("symbol")["source"].nunique()
            multi = nsrc[nsrc > 1]
            if len(multi):
                detail = "; ".join(f"{s}: {', '.join(sorted(rest.loc[rest['symbol'] == s, 'source'].unique()))}"
                                   for s in multi.index[:5])
                what = "are held by several sources" if priority is None else "are not in the source plan and are held by several sources"
                raise DataError(f"{len(multi)} symbol(s) {what} ({detail}): pass priority= "
                                f"(a SourcePlan or a list of sources, most preferred first) or store a plan "
                                f"(computefolio data plan FILE)")
            parts = [rest]
            planned = df[df["symbol"].isin(covered) & df["source"].isin(priority.files())] if priority is not None else df.iloc[:0]
            if len(planned):
                parts.append(select_plan(planned, priority, wanted))
            chosen = pd.concat(parts, ignore_index=True)
        else:
            chosen = splice(df, list(priority))
        lost = sorted(set(wanted) - set(chosen["symbol"]))
        if lost and symbols is not None:
            raise DataError(f"no rows chosen for {', '.join(lost)}: the source plan takes them from files "
                            f"that are not in the store ({', '.join(self.sources())})")
        skipped = skipped + lost
        trimmed: dict[str, int] = {}
        if listed and universe is not None:
            chosen, trimmed = trim_to_listing(chosen, universe.listing_dates())
        if chosen.empty:
            raise DataError(f"{self.path.name}: no rows for the requested symbols, dates and sources")
        prov = {"store": self.path.name, "sources": _segments(chosen), "skipped": skipped, "trimmed": trimmed,
                "priority": how if priority is not None else "single source per symbol"}
        md = MarketData.from_long(chosen[_COLS], cals, source=f"store {self.path.name}", provenance=prov)
        vplan = self.plan("volume")
        if vplan is not None:
            from .sources import attach_volume, volume_from_plan, volume_seams

            vsyms = sorted({r.symbol for r in vplan.rules} & set(md.symbols))
            vfiles = sorted({r.file for r in vplan.rules if r.symbol in set(vsyms)} & set(self.sources()))
            if vsyms and vfiles:
                vr = self.prices(symbols=vsyms, sources=vfiles, start=start, end=end)
                if listed and universe is not None:
                    vr, _ = trim_to_listing(vr, universe.listing_dates())
                attach_volume(md, volume_from_plan(vr, vplan, vsyms))
                seams = volume_seams(vr, vplan, vsyms)
                if seams:
                    md.provenance["volume_scale"] = seams
                md.provenance["volume_plan"] = "stored volume plan"
        md.provenance["data_hash"] = md.data_hash()
        return md


    # ---------------------------------------------------------------- live sync (data sync)
    def upsert_fetched(self, good: pd.DataFrame, *, source: str, symbol: str, state: Mapping | None,
                       quarantined: pd.DataFrame | None = None, window: tuple | None = None,
                       reason: str = "revised by the source", reasons: Mapping | None = None, tol: float = 1e-9,
                       actions: pd.DataFrame | None = None, funding: pd.DataFrame | None = None,
                       flags: Sequence[tuple] = (), sha256: str = "") -> UpsertResult:
        """Write one fetch of one (source, symbol) in one transaction (``computefolio data sync``).

        Parameters
        ----------
        good : pandas.DataFrame
            Validated rows (``date`` + :data:`FIELDS`), one per date.
        source, symbol : str
            Source name (``"yahoo"``, ``"binance"``...) and universe symbol.
        state : mapping or None
            The ``sync_state`` row (``source_symbol, quote, last_final, final_through,
            history_from, note``; ``first_bar, last_bar, rows, fetched_at, import_id`` are filled in).
            None leaves ``sync_state`` as it is (a fetch whose every row was refused).
        quarantined : pandas.DataFrame, optional
            Rows refused by validation (``row, symbol, date, fields, check, message``).
        window : (first, last), optional
            A full re-fetch covered these dates: stored rows inside it that the fetch no longer
            holds are removed (kept in ``revisions``).
        reason, reasons : str, mapping date -> str
            Why stored rows were rewritten (per date where ``reasons`` says).
        tol : float
            A stored value within this relative difference of the fetched one is kept as is.
        actions, funding : pandas.DataFrame, optional
            Corporate actions (``date, action, value``) and funding rates (``time, rate``).
        flags : sequence of (date, check, value, message)
            Findings about the fetched rows kept in ``sync_flags`` (a de-pegged quote currency).

        Returns
        -------
        UpsertResult
            ``rows_rewritten`` counts stored rows whose values changed (the old ones are in
            ``revisions``), ``rows_removed`` stored rows absent from a full re-fetch.

        All or nothing: a failure, or the process killed halfway, leaves the store as it was.
        """
        con = self.con
        inc = good[["date", *FIELDS]].copy()
        inc["date"] = pd.to_datetime(inc["date"]).dt.normalize()
        inc = inc.sort_values("date").reset_index(drop=True)
        stored = con.execute("SELECT * FROM prices WHERE source = ? AND symbol = ? ORDER BY date",
                             [source, symbol]).df()
        stored["date"] = pd.to_datetime(stored["date"])
        both = inc.merge(stored, on="date", how="left", suffixes=("", "_s"), indicator=True)
        old = both["_merge"].to_numpy() == "both"
        diff = np.zeros(len(both), dtype=bool)
        for f in FIELDS:
            a, b = both[f].to_numpy(dtype=float), both[f + "_s"].to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                far = np.abs(a - b) > tol * np.maximum(np.abs(a), np.abs(b))
            diff |= far | (np.isnan(a) != np.isnan(b))
        changed = both.loc[old & diff, "date"]
        added = both.loc[~old, "date"]
        removed = pd.Series([], dtype="datetime64[ns]")
        if window is not None and len(stored):
            lo, hi = pd.Timestamp(window[0]), pd.Timestamp(window[1])
            inside = (stored["date"] >= lo) & (stored["date"] <= hi) & ~stored["date"].isin(inc["date"])
            removed = stored.loc[inside, "date"]
        reasons = dict(reasons or {})
        q = quarantined if quarantined is not None else _quarantine_frame(inc.iloc[:0].assign(symbol=symbol, row=0), {})
        now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
        con.execute("BEGIN TRANSACTION")
        try:
            import_id = int(con.execute("SELECT coalesce(max(import_id), 0) + 1 FROM imports").fetchall()[0][0])
            gone = pd.concat([changed, removed], ignore_index=True)
            if len(gone):
                old_rows = stored[stored["date"].isin(gone)].copy()
                why = [reasons.get(pd.Timestamp(d), reason) for d in old_rows["date"]]
                absent = old_rows["date"].isin(removed).to_numpy()
                old_rows["reason"] = np.where(absent, "absent from the re-fetched history", why)
                old_rows["replaced_by"] = import_id
                con.register("_cf_old", old_rows)
                try:
                    con.execute("INSERT INTO revisions SELECT symbol, CAST(date AS DATE), open, high, low, close, "
                                "adj_close, volume, source, import_id, replaced_by, reason FROM _cf_old")
                    con.execute("DELETE FROM prices WHERE source = ? AND symbol = ? AND date IN "
                                "(SELECT CAST(date AS DATE) FROM _cf_old)", [source, symbol])
                finally:
                    con.unregister("_cf_old")
            write = inc[inc["date"].isin(pd.concat([changed, added], ignore_index=True))].assign(symbol=symbol)
            for start in range(0, len(write), CHUNK_ROWS):
                self._insert_chunk(con, write[_COLS].iloc[start:start + CHUNK_ROWS], source, import_id)
            if len(q):
                con.register("_cf_quarantine", q.assign(import_id=import_id, source=source))
                try:
                    con.execute('INSERT INTO quarantine SELECT import_id, source, "row", symbol, CAST(date AS DATE), '
                                'open, high, low, close, adj_close, volume, "check", message FROM _cf_quarantine')
                finally:
                    con.unregister("_cf_quarantine")
            if actions is not None and len(actions):
                a = actions.assign(date=pd.to_datetime(actions["date"]).dt.normalize())
                con.register("_cf_actions", a)
                try:
                    con.execute("DELETE FROM actions WHERE source = ? AND symbol = ? AND (date, action) IN "
                                "(SELECT CAST(date AS DATE), action FROM _cf_actions)", [source, symbol])
                    con.execute("INSERT INTO actions SELECT ?, ?, CAST(date AS DATE), action, value, ? FROM _cf_actions",
                                [source, symbol, import_id])
                finally:
                    con.unregister("_cf_actions")
            if funding is not None and len(funding):
                con.register("_cf_funding", funding)
                try:
                    con.execute("DELETE FROM funding WHERE source = ? AND symbol = ? AND time IN "
                                "(SELECT CAST(time AS TIMESTAMP) FROM _cf_funding)", [source, symbol])
                    con.execute("INSERT INTO funding SELECT ?, ?, CAST(time AS TIMESTAMP), rate, ? FROM _cf_funding",
                                [source, symbol, import_id])
                finally:
                    con.unregister("_cf_funding")
            for d, check, value, message in flags:
                con.execute("INSERT INTO sync_flags VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [import_id, source, symbol, None if d is None else pd.Timestamp(d).date(), check,
                             None if value is None else float(value), message])
            n_rows, first, last = con.execute("SELECT count(*), min(date), max(date) FROM prices WHERE source = ? "
                                              "AND symbol = ?", [source, symbol]).fetchall()[0]
            con.execute("INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [import_id, f"{source}:{symbol}", source, sha256 or "-", len(inc) + len(q),
                         len(changed) + len(added), len(inc) - len(changed) - len(added), len(q), now])
            if state is not None:
                row = dict(state, source=source, symbol=symbol, first_bar=first, last_bar=last, rows=int(n_rows),
                           fetched_at=state.get("fetched_at") or now, import_id=import_id)
                self._put_sync_state(con, row)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return UpsertResult(import_id=import_id, rows_added=len(added), rows_rewritten=len(changed),
                            rows_removed=len(removed), rows_present=len(inc) - len(changed) - len(added),
                            rows_quarantined=len(q))

    def _put_sync_state(self, con, row: Mapping) -> None:
        """Inside the open transaction: replace the sync_state row of (source, symbol)."""
        con.execute("DELETE FROM sync_state WHERE source = ? AND symbol = ?", [row["source"], row["symbol"]])
        day = lambda x: None if x is None or pd.isna(x) else pd.Timestamp(x).date()  # noqa: E731
        fetched = pd.Timestamp(row["fetched_at"])
        if fetched.tzinfo is not None:
            fetched = fetched.tz_convert("UTC").tz_localize(None)
        con.execute("INSERT INTO sync_state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [row["source"], row["symbol"], row["source_symbol"], row.get("quote"), day(row.get("first_bar")),
                     day(row.get("last_bar")), bool(row.get("last_final", False)), day(row.get("final_through")),
                     day(row.get("history_from")), fetched.to_pydatetime(), int(row["import_id"]), int(row["rows"]),
                     row.get("note") or None])

    def _live_table(self, table: str, where: str = "", args: Sequence = (), order: str = "") -> pd.DataFrame:
        have = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if table not in have:
            return pd.DataFrame()
        sql = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "") + (f" ORDER BY {order}" if order else "")
        return self.con.execute(sql, list(args)).df()

    def sync_state(self, source: str | None = None) -> pd.DataFrame:
        """The ``sync_state`` table: per (source, symbol) the source symbol, quote currency, first
        and last bar, whether the last bar was final (and the last final day), the first day a
        source that cuts history could serve, when it was fetched (UTC), the import id and rows."""
        return self._live_table("sync_state", "source = ?" if source else "", [source] if source else [],
                                "symbol, source")

    def sync_provenance(self, symbols: Iterable[str] | None = None) -> dict[str, list[dict]]:
        """Where each synced symbol's prices come from and when they were fetched.

        Returns
        -------
        dict
            ``symbol -> [ {source, source_symbol, quote, first_bar, last_bar, last_final,
            fetched_at, rows, note}, ... ]`` (one dict per source, most recent fetch first).
            Dates are ``YYYY-MM-DD`` strings; ``fetched_at`` is ISO 8601 UTC
            (``2025-01-11T07:00:03Z``); ``last_final`` is False while the last stored bar was
            still forming when fetched (a crypto day before 24:00 UTC, a session before its
            close). Symbols never synced are absent.
        """
        st = self.sync_state()
        out: dict[str, list[dict]] = {}
        if st.empty:
            return out
        wanted = None if symbols is None else set(symbols)
        day = lambda x: None if x is None or pd.isna(x) else str(pd.Timestamp(x).date())  # noqa: E731
        for r in st.sort_values("fetched_at", ascending=False).itertuples(index=False):
            if wanted is not None and r.symbol not in wanted:
                continue
            out.setdefault(str(r.symbol), []).append({
                "source": r.source, "source_symbol": r.source_symbol, "quote": r.quote,
                "first_bar": day(r.first_bar), "last_bar": day(r.last_bar), "last_final": bool(r.last_final),
                "fetched_at": pd.Timestamp(r.fetched_at).strftime("%Y-%m-%dT%H:%M:%SZ"), "rows": int(r.rows),
                "note": r.note if isinstance(r.note, str) else ""})
        return dict(sorted(out.items()))

    def revisions(self, symbol: str | None = None, source: str | None = None) -> pd.DataFrame:
        """Stored rows a sync replaced or removed, with the import that replaced them and why."""
        where, args = [], []
        for col, v in (("symbol", symbol), ("source", source)):
            if v is not None:
                where.append(f"{col} = ?")
                args.append(v)
        return self._live_table("revisions", " AND ".join(where), args, "source, symbol, date, replaced_by")

    def corporate_actions(self, symbol: str | None = None) -> pd.DataFrame:
        """Splits (new shares per old) and dividends (cash per share) reported by the sources."""
        return self._live_table("actions", "symbol = ?" if symbol else "", [symbol] if symbol else [],
                                "source, symbol, date")

    def funding(self, symbol: str | None = None) -> pd.DataFrame:
        """Funding rates of perpetuals (fraction per funding interval; ``time`` naive UTC)."""
        return self._live_table("funding", "symbol = ?" if symbol else "", [symbol] if symbol else [],
                                "source, symbol, time")

    def sync_flags(self, symbol: str | None = None) -> pd.DataFrame:
        """Findings kept by syncs (``quote_depeg``: the quote currency off its peg that day)."""
        return self._live_table("sync_flags", "symbol = ?" if symbol else "", [symbol] if symbol else [],
                                "source, symbol, date")


def _segments(df: pd.DataFrame) -> dict[str, list[tuple[str, str, str, int]]]:
    """Per symbol, the runs of consecutive rows from one source: (source, first, last, rows)."""
    out: dict[str, list] = {}
    for sym, g in df.sort_values(["symbol", "date"]).groupby("symbol", sort=True):
        src = g["source"].to_numpy()
        dates = g["date"].to_numpy()
        cut = np.flatnonzero(src[1:] != src[:-1]) + 1
        starts = np.concatenate([[0], cut])
        ends = np.concatenate([cut, [len(src)]]) - 1
        out[str(sym)] = [(str(src[a]), str(pd.Timestamp(dates[a]).date()), str(pd.Timestamp(dates[b]).date()),
                          int(b - a + 1)) for a, b in zip(starts, ends)]
    return out


def _quarantine_frame(rows: pd.DataFrame, bad_keys: Mapping[tuple, list]) -> pd.DataFrame:
    cols = ["row", "symbol", "date", *FIELDS, "check", "message"]
    if rows.empty:
        out = pd.DataFrame({c: pd.Series(dtype=float if c in FIELDS else ("int64" if c == "row" else object))
                            for c in cols})
        out["date"] = pd.to_datetime(out["date"])
        return out
    checks, msgs = [], []
    for s, d in zip(rows["symbol"], rows["date"]):
        fs = bad_keys[(s, pd.Timestamp(d))]
        checks.append(",".join(sorted({f.check for f in fs})))
        msgs.append("; ".join(f.message for f in fs))
    return rows.assign(check=checks, message=msgs)[cols].reset_index(drop=True)


def _g(x) -> str:
    return "-" if x is None or pd.isna(x) else f"{float(x):g}"


def _list_rows(q: pd.DataFrame) -> str:
    shown = "; ".join(f"row {r.row} {r.symbol} {pd.Timestamp(r.date).date()} {r.check}: {r.message}"
                      for r in q.head(_LIST_BAD).itertuples())
    more = f" (+{len(q) - _LIST_BAD} more)" if len(q) > _LIST_BAD else ""
    return shown + more
