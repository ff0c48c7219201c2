"""``computefolio data import|check|list``: the price store and data validation.

* ``data import FILE...`` imports long-format files into the store, one transaction
  per file (idempotent; bad rows refused unless ``--quarantine``).
* ``data check [PATH...]`` validates files, or the whole store when no file is
  given, prints the findings and exits 1 when there is any error.
* ``data plan FILE`` stores the source plan (one source per symbol and dates) that
  building market data from the store uses; ``data plan`` shows it.
* ``data list`` shows what the store holds.
* ``data sync`` fetches new daily bars from Yahoo and the crypto exchanges into the store
  (incremental, validated, one transaction per symbol; see computefolio.data.sync).

The store is ``--store PATH``, else ``$COMPUTEFOLIO_HOME/store.duckdb``, else
``~/.computefolio/store.duckdb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.table import Table

from ..data.store import Store
from ..data.validate import ValidationReport, check as check_data
from rich.markup import escape

from ._common import app, console, emit_json, err_console, fmt_num, guard, json_option

data_app = typer.Typer(help="Import, check and list market data (DuckDB store).", no_args_is_help=True)
app.add_typer(data_app, name="data")

_STORE_HELP = "Store file (default: $COMPUTEFOLIO_HOME/store.duckdb or ~/.computefolio/store.duckdb)."


def _universe(path: Optional[Path], none: bool = False):
    """The universe for calendars/classes: the file given, else the shipped one; None with --no-universe."""
    if none:
        if path is not None:
            raise typer.BadParameter("--universe and --no-universe exclude each other")
        return None
    from ..universe import load_universe

    return load_universe(path)


def _fmt_value(v) -> str:
    """A finding's value: 'missing' / 'infinite' in words, whole numbers with separators."""
    x = fmt_num(v)
    if x in ("missing", "infinite", "-infinite"):
        return x
    v = float(v)
    if v == int(v) and abs(v) < 1e12:
        return f"{int(v):,}"
    return f"{v:.6g}"


def print_report(report: ValidationReport, limit: int = 50, title: str = "Data check") -> None:
    """Findings table (first ``limit``, errors first), counts per check, notes, one-line summary."""
    if report.findings:
        shown = report.findings[:limit]
        head = f"{title}: {len(report.findings):,} findings" + (f", first {limit} shown" if len(shown) < len(report.findings) else "")
        console.print(f"[bold]{head}[/] (E error, W warning)", highlight=False)
        by_source: dict[str, list] = {}
        for f in shown:
            by_source.setdefault(f.source, []).append(f)
        for src, items in by_source.items():
            t = Table(title=f"source: {escape(src)}" if src else None, title_justify="left")
            for c, j in (("", "left"), ("check", "left"), ("symbol", "left"), ("date", "left"), ("value", "right")):
                t.add_column(c, justify=j, no_wrap=True)
            t.add_column("message", overflow="fold", ratio=1)
            for f in items:
                sev = "[red]E[/]" if f.severity == "error" else "[yellow]W[/]"
                d = "" if f.date is None or pd.isna(f.date) else str(pd.Timestamp(f.date).date())
                t.add_row(sev, f.check, escape(f.symbol), d, _fmt_value(f.value), escape(f.message))
            console.print(t)
        c = Table(title="Findings per check")
        for col, j in (("severity", "left"), ("check", "left"), ("count", "right")):
            c.add_column(col, justify=j)
        for r in report.counts().itertuples():
            c.add_row(r.severity, r.check, f"{r.count:,}")
        console.print(c)
    for n in report.notes:
        console.print(f"[dim]note: {escape(n)}[/]", highlight=False)
    style = "bold green" if report.ok else "bold red"
    console.print(f"[{style}]{escape(report.summary())}[/]", highlight=False)


@data_app.command("import")
@guard
def import_files(
    files: list[Path] = typer.Argument(..., help="Long-format CSV/CSV.gz/Parquet files (date,symbol,open,high,low,close,adj_close,volume)."),
    store: Optional[Path] = typer.Option(None, "--store", help=_STORE_HELP),
    quarantine: bool = typer.Option(False, "--quarantine", help="Import the good rows and keep bad rows aside (listed) instead of refusing the file."),
    universe: Optional[Path] = typer.Option(None, "--universe", "-u", help="Universe YAML for calendars and asset classes (default: the shipped one)."),
    no_universe: bool = typer.Option(False, "--no-universe", help="Infer calendars and classes from the symbols and data instead."),
    source: Optional[str] = typer.Option(None, "--source", help="Source name for the rows (one file only; default: the file name)."),
    plan: Optional[Path] = typer.Option(None, "--plan", help="Also store this source plan (e.g. primary.csv), as `data plan FILE` does."),
) -> None:
    """Import files into the store: one transaction per file, idempotent, with provenance.

    Each file is its own transaction: when a file fails, the files before it stay imported
    and the store holds nothing of the failing one.
    """
    if source is not None and len(files) != 1:
        raise typer.BadParameter("--source names the rows of one file; give one file")
    u = _universe(universe, no_universe)
    with Store(store) as st:
        t = Table(title=f"Import into {st.path}")
        for c, j in (("file (source)", "left"), ("import", "right"), ("read", "right"), ("added", "right"),
                     ("present", "right"), ("quarantined", "right"), ("errors", "right"), ("warnings", "right")):
            t.add_column(c, justify=j, overflow="fold")
        quarantined = []
        for f in files:
            try:
                r = st.import_file(f, quarantine=quarantine, universe=u, source=source)
            except Exception:
                if t.row_count:
                    console.print(t)
                raise
            name = f.name if r.source == f.name else f"{f.name} ({r.source})"
            if r.already_imported:
                t.add_row(f"{name}: already imported", str(r.import_id), "", "0", "", "", "", "", style="dim")
            else:
                t.add_row(name, str(r.import_id), f"{r.rows_read:,}", f"{r.rows_added:,}",
                          f"{r.rows_present:,}", f"{len(r.quarantined):,}", f"{len(r.report.errors):,}",
                          f"{len(r.report.warnings):,}")
            if len(r.quarantined):
                quarantined.append((f.name, r.quarantined))
        console.print(t)
        for name, q in quarantined:
            qt = Table(title=f"Quarantined rows of {name}" + (f" (first 20 of {len(q)})" if len(q) > 20 else ""))
            for c in ("row", "symbol", "date", "check", "message"):
                qt.add_column(c, overflow="fold")
            for r in q.head(20).itertuples():
                qt.add_row(str(r.row), r.symbol, str(pd.Timestamp(r.date).date()), r.check, r.message)
            console.print(qt)
        if plan is not None:
            n = st.set_plan(plan)
            console.print(f"source plan stored: {n} rules from {plan.name}", highlight=False)
        console.print(f"store holds {st.row_count():,} rows from {len(st.sources())} source(s); "
                      "series-level findings (errors/warnings columns) do not block an import: "
                      "see `computefolio data check`.", highlight=False)


@data_app.command("check")
@guard
def check_cmd(
    paths: Optional[list[Path]] = typer.Argument(None, help="Files to check (each one source); the store when none."),
    store: Optional[Path] = typer.Option(None, "--store", help=_STORE_HELP),
    universe: Optional[Path] = typer.Option(None, "--universe", "-u", help="Universe YAML: calendars and asset classes (default: the shipped one)."),
    no_universe: bool = typer.Option(False, "--no-universe", help="Check every row; infer calendars and classes from the symbols and data."),
    listed_only: bool = typer.Option(False, "--listed-only", help="Leave out rows outside each asset's listed dates in the universe."),
    json_out: Optional[str] = json_option("Write the report as JSON to PATH ('-' for stdout, then without the "
                                          "tables)."),
    priority: Optional[str] = typer.Option(None, "--priority", help="Also check the series spliced from these sources, most preferred first (comma-separated names)."),
    plan: Optional[Path] = typer.Option(None, "--plan", help="Also check the series a source plan (primary.csv) selects."),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="Check only these symbols (comma-separated)."),
    limit: int = typer.Option(50, "--limit", min=0, help="Findings shown in the table."),
    stale_run: int = typer.Option(5, "--stale-run", min=2, max=100_000,
                                  help="Identical closes in a row reported as stale."),
    jump: float = typer.Option(1.0, "--jump", min=0.01, max=1000.0,
                               help="Extreme one-day move (simple return; 1.0 = +100%/-50%)."),
) -> None:
    """Validate prices; exit 1 when an error is found (warnings alone exit 0)."""
    u = _universe(universe, no_universe)
    prio = [s.strip() for s in priority.split(",") if s.strip()] if priority else None
    syms = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    if paths:
        report = check_data(paths, universe=u, priority=prio, plan=plan, symbols=syms, stale_run=stale_run,
                            jump=jump, listed_only=listed_only)
        what = ", ".join(p.name for p in paths)
    else:
        with Store(store, read_only=True) as st:
            report = check_data(None, store=st, universe=u, priority=prio, plan=plan, symbols=syms,
                                stale_run=stale_run, jump=jump, listed_only=listed_only)
            what = str(st.path)
    if json_out != "-":
        print_report(report, limit=limit, title=f"Check of {what}")
    emit_json(report.to_dict(), json_out, what="data check report")
    if not report.ok:
        raise typer.Exit(code=1)


@data_app.command("plan")
@guard
def plan_cmd(
    file: Optional[Path] = typer.Argument(None, help="Source plan CSV (symbol,file[,price_column,start,end]), e.g. primary.csv."),
    store: Optional[Path] = typer.Option(None, "--store", help=_STORE_HELP),
    clear: bool = typer.Option(False, "--clear", help="Remove the stored plan."),
    volume: bool = typer.Option(False, "--volume", help="The volume plan instead (symbol,file,volume_column,start,end, "
                                                       "e.g. volume.csv): where volume comes from when the price "
                                                       "source has none."),
) -> None:
    """Store the source plan that picks one source per symbol and dates (or show it)."""
    kind = "volume" if volume else "price"
    if file is not None and clear:
        raise typer.BadParameter("give a plan file or --clear, not both")
    if file is None and not clear:
        with Store(store, read_only=True) as st:
            plan = st.plan(kind)
            if plan is None:
                console.print("no volume plan stored: volume comes from each price source" if volume else
                              "no source plan stored: Store.market needs one source per symbol or a priority")
                return
            t = Table(title=f"{'Volume' if volume else 'Source'} plan of {st.path} ({len(plan.rules)} rules)")
            for c in ("symbol", "file", "volume column" if volume else "price column", "start", "end", "stored"):
                t.add_column(c)
            have = set(st.sources())
            for r in plan.rules:
                t.add_row(r.symbol, r.file, r.price_column, "" if r.start is None else str(r.start.date()),
                          "" if r.end is None else str(r.end.date()), "yes" if r.file in have else "[red]no[/]")
            console.print(t)
        return
    with Store(store) as st:
        n = st.set_plan(None if clear else file, kind=kind)
        console.print(f"{'volume' if volume else 'source'} plan {'cleared' if clear else f'stored: {n} rules'} "
                      f"in {st.path}", highlight=False)


@data_app.command("list")
@guard
def list_cmd(
    store: Optional[Path] = typer.Option(None, "--store", help=_STORE_HELP),
    symbols: bool = typer.Option(False, "--symbols", help="One row per source and symbol."),
) -> None:
    """What the store holds: sources, rows, symbols, dates, imports, quarantine."""
    with Store(store, read_only=True) as st:
        if symbols:
            s = st.con.execute("SELECT source, symbol, count(*) AS rows, min(date) AS first, max(date) AS last "
                               "FROM prices GROUP BY 1, 2 ORDER BY 1, 2").df()
            t = Table(title=f"{st.path}: rows per source and symbol")
            for c, j in (("source", "left"), ("symbol", "left"), ("rows", "right"), ("first", "left"), ("last", "left")):
                t.add_column(c, justify=j)
            for r in s.itertuples():
                t.add_row(r.source, r.symbol, f"{r.rows:,}", str(pd.Timestamp(r.first).date()), str(pd.Timestamp(r.last).date()))
            console.print(t)
        summ = st.summary()
        t = Table(title=f"{st.path}: {st.row_count():,} rows, {len(st.symbols())} symbols, {len(summ)} sources")
        for c, j in (("source", "left"), ("rows", "right"), ("symbols", "right"), ("first", "left"), ("last", "left"),
                     ("imports", "left")):
            t.add_column(c, justify=j)
        for r in summ.itertuples():
            t.add_row(r.source, f"{r.rows:,}", str(r.symbols), str(pd.Timestamp(r.first).date()),
                      str(pd.Timestamp(r.last).date()), str(r.imports))
        console.print(t)
        imp = st.imports()
        it = Table(title="Imports")
        for c, j in (("id", "right"), ("file (source)", "left"), ("sha256", "left"), ("read", "right"),
                     ("added", "right"), ("quar.", "right"), ("at (UTC)", "left")):
            it.add_column(c, justify=j, overflow="fold")
        for r in imp.itertuples():
            fname = Path(r.file).name
            name = fname if fname == r.source else f"{fname} ({r.source})"
            it.add_row(str(r.import_id), name, r.sha256[:10], f"{r.rows_read:,}", f"{r.rows_added:,}",
                       f"{r.rows_quarantined:,}", str(pd.Timestamp(r.imported_at))[:16])
        console.print(it)
        plan = st.plan()
        if plan is not None:
            console.print(f"source plan: {len(plan.rules)} rules ({len(set(r.symbol for r in plan.rules))} symbols); "
                          "see `computefolio data plan`", highlight=False)
        q = st.quarantined()
        if len(q):
            console.print(f"{len(q):,} quarantined row(s); first: " + "; ".join(
                f"{r.symbol} {pd.Timestamp(r.date).date()} {r.check}" for r in q.head(5).itertuples()), highlight=False)


@data_app.command("sync")
@guard
def sync_cmd(
    symbols: Optional[str] = typer.Option(None, "--symbols", help="Only these symbols (comma-separated; ^IRX and other extras accepted)."),
    since: Optional[str] = typer.Option(None, "--since", help="Fetch from this date (YYYY-MM-DD): first sync, or back-fill."),
    venue: Optional[str] = typer.Option(None, "--venue", help="Fetch from this source instead of each asset's default: yahoo, binance, coinbase, kraken, okx, bybit."),
    store: Optional[Path] = typer.Option(None, "--store", help=_STORE_HELP),
    universe: Optional[Path] = typer.Option(None, "--universe", "-u", help="Universe YAML (default: the shipped one)."),
    full: bool = typer.Option(False, "--full", help="Re-fetch every symbol's whole history."),
) -> None:
    """Bring the store up to date from the live sources (needs the 'live' extra: yfinance, ccxt).

    Incremental: re-fetches a short overlap and upserts; a disagreeing overlap or a new split
    re-fetches the symbol's whole history (replaced rows kept in provenance). Every row is
    validated; bad rows are quarantined. Exit 1 when a symbol failed or a source was offline.
    """
    from rich.progress import BarColumn, Progress, TextColumn

    from ..data.sync import plan as sync_plan, Syncer

    since_d = None
    if since is not None:
        try:
            since_d = pd.Timestamp(since).date()
        except (ValueError, TypeError):
            raise typer.BadParameter(f"--since: a date YYYY-MM-DD, got {since!r}") from None
    u = _universe(universe)
    syms = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    refs = sync_plan(u, symbols=syms, venue=venue.lower() if venue else None)
    if not refs:
        console.print("nothing to sync: no asset matches --symbols/--venue")
        return
    with Store(store) as st:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      console=err_console, transient=True) as bar:
            task = bar.add_task("sync", total=len(refs))

            def progress(ref, out):
                if out is None:
                    bar.update(task, description=f"{ref.source} {ref.symbol} ({ref.source_symbol})")
                elif ref in refs:
                    bar.advance(task)

            result = Syncer(st).run(refs, since=since_d, full=full, progress=progress)
        t = Table(title=f"Sync into {st.path}")
        for c, j in (("symbol", "left"), ("source", "left"), ("status", "left"), ("added", "right"),
                     ("rewritten", "right"), ("quar.", "right"), ("last bar", "left"), ("notes / reason", "left")):
            t.add_column(c, justify=j, overflow="fold")
        style = {"updated": "green", "unchanged": "dim", "failed": "red", "offline": "red"}
        for s in result.symbols:
            last = "" if s.last_bar is None else str(pd.Timestamp(s.last_bar).date()) + ("" if s.last_final else " (unfinished)")
            why = "source offline (below)" if s.status == "offline" else f"{s.reason}: {s.message}" if s.status == "failed" else "; ".join(
                (["full re-fetch"] if s.full and s.rows_rewritten + s.rows_removed else []) + s.notes)
            t.add_row(s.symbol, f"{s.source} {s.source_symbol}", f"[{style.get(s.status, '')}]{s.status}[/]",
                      f"{s.rows_added:,}", f"{s.rows_rewritten + s.rows_removed:,}", f"{s.rows_quarantined:,}",
                      last, why)
        console.print(t)
        tot = result.totals()
        console.print(f"{tot['updated']} symbol(s) updated, {tot['unchanged']} unchanged, {tot['failed']} failed; "
                      f"{tot['rows_added']:,} rows added, {tot['rows_rewritten']:,} rewritten (old rows kept in "
                      f"revisions), {tot['rows_quarantined']:,} quarantined", highlight=False)
        for src, msg in result.offline.items():
            err_console.print(f"[bold red]{src}: offline[/] - {msg}; the store holds nothing new from {src}",
                              highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(code=1)
