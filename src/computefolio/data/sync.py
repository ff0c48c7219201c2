"""``computefolio data sync``: bring the store up to date from the live sources, symbol by symbol.

For each asset (its source and symbols from :mod:`computefolio.data.symbols`):

1. **What to fetch.** A first sync fetches the whole history (from ``--since``, else the
   asset's listing date, else as far back as the source goes). Later syncs fetch from a
   short overlap (:data:`OVERLAP_DAYS` calendar days) before the last *final* bar.
2. **Validate.** Every fetched row goes through :func:`computefolio.data.validate.validate`;
   rows with row-level errors (zero or negative prices, no price, OHLC contradictions,
   duplicated dates, bars on closed days) are quarantined with their reason, never stored.
3. **Rewrites.** When a final bar of the overlap disagrees with the stored one beyond
   ``tol`` (relative), or the source reports a split the store has not seen, the whole
   history of that symbol is fetched again (Yahoo rewrites its history after splits and
   its adjusted closes after dividends). The store ends equal to the new history; the
   rows it replaced (or that the source no longer has) are kept in ``revisions`` with the
   reason.
4. **Final bars.** A crypto day is final after 24:00 UTC; an equity session after its
   close (exchange_calendars, early closes included) plus :data:`FINAL_GRACE`. An
   unfinished last bar is stored with ``last_final = false`` in ``sync_state`` and is
   replaced by the next sync (the unfinished version kept in ``revisions``).
5. **Commit.** One transaction per symbol (:meth:`Store.upsert_fetched`): a sync killed
   halfway leaves each symbol fully updated or untouched; the next sync resumes.

The quote currency: USDT is not USD. Before USDT-quoted symbols, the USDT/USD rate is
synced (:data:`~computefolio.data.symbols.QUOTE_RATES`); each day it closes further than
:data:`~computefolio.data.symbols.DEPEG_TOL` from 1 is flagged on every USDT-quoted symbol
(``sync_flags``, check ``quote_depeg``). Prices stay in their quote currency.

Failures are per symbol (:class:`SymbolSync.status` ``failed`` with the reason); a source
that cannot be reached is ``offline``: its remaining symbols are not tried and the result
says so in one line per source.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from ..clock import CRYPTO
from ..errors import DataError
from .connectors.base import Connector, Fetched, FetchError, NoData, SourceOffline, UnknownSymbol
from .market import FIELDS
from .store import ROW_CHECKS, Store, _quarantine_frame
from .symbols import DEPEG_TOL, EXTRA_SYMBOLS, QUOTE_RATES, SOURCES, SourceRef, extra_ref, resolve
from .validate import validate

#: Calendar days re-fetched before the last final bar on an incremental sync.
OVERLAP_DAYS = 7
#: After an exchange session's close, how long before its bar counts as final (late prints, auction).
FINAL_GRACE = pd.Timedelta(minutes=30)
#: Relative difference between a stored final bar and its re-fetched value that triggers a full re-fetch.
TOLERANCE = 1e-6


@dataclass
class SymbolSync:
    """What a sync did for one (source, symbol).

    ``status``: ``updated`` (rows written), ``unchanged`` (nothing new), ``failed`` (see
    ``reason`` and ``message``), ``offline`` (the source could not be reached).
    """

    symbol: str
    source: str
    source_symbol: str
    status: str = "unchanged"
    reason: str = ""
    message: str = ""
    rows_fetched: int = 0
    rows_added: int = 0
    rows_rewritten: int = 0
    rows_removed: int = 0
    rows_quarantined: int = 0
    full: bool = False
    last_bar: pd.Timestamp | None = None
    last_final: bool | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class SyncResult:
    """Every symbol's :class:`SymbolSync`, and the sources that could not be reached."""

    symbols: list[SymbolSync] = field(default_factory=list)
    offline: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No symbol failed and every source was reached."""
        return not self.offline and all(s.status in ("updated", "unchanged") for s in self.symbols)

    def to_frame(self) -> pd.DataFrame:
        """One row per (source, symbol) with the counts, status and reason."""
        cols = ["symbol", "source", "source_symbol", "status", "rows_added", "rows_rewritten", "rows_removed",
                "rows_quarantined", "full", "last_bar", "last_final", "reason", "message"]
        return pd.DataFrame([{c: getattr(s, c) for c in cols} for s in self.symbols], columns=cols)

    def totals(self) -> dict[str, int]:
        """Symbols updated, unchanged, failed (offline included); rows added, rewritten, quarantined."""
        f = [s for s in self.symbols]
        return {"updated": sum(s.status == "updated" for s in f), "unchanged": sum(s.status == "unchanged" for s in f),
                "failed": sum(s.status in ("failed", "offline") for s in f),
                "rows_added": sum(s.rows_added for s in f), "rows_rewritten": sum(s.rows_rewritten + s.rows_removed for s in f),
                "rows_quarantined": sum(s.rows_quarantined for s in f)}


# ---------------------------------------------------------------------------- final bars
@lru_cache(maxsize=8)
def _xcal(name: str):
    import exchange_calendars as xcals

    return xcals.get_calendar(name)


def bar_final(date, calendar: str, now: pd.Timestamp) -> bool:
    """Is the daily bar labelled ``date`` complete at ``now`` (UTC)?

    A crypto day (``"24/7"``) is final from 24:00 UTC; an exchange session from its close
    (early closes included) plus :data:`FINAL_GRACE`. A date that is not a session of the
    calendar (validation refuses such bars) counts as final once its UTC day is over.
    """
    day = pd.Timestamp(date).normalize()
    now = _utc(now)
    if calendar != CRYPTO:
        try:
            cal = _xcal(calendar)
            if cal.is_session(day):
                close = pd.Timestamp(cal.session_close(day))
                close = close.tz_localize("UTC") if close.tzinfo is None else close.tz_convert("UTC")
                return now >= close + FINAL_GRACE
        except Exception:  # outside the calendar's range: fall back to the UTC day
            pass
    return now >= day.tz_localize("UTC") + pd.Timedelta(days=1)


def _utc(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


# ---------------------------------------------------------------------------- the plan
def plan(universe, *, symbols: Iterable[str] | None = None, venue: str | None = None) -> list[SourceRef]:
    """The (source, symbol) pairs a sync fetches, in universe order.

    ``symbols`` limits it (symbols outside the universe are accepted when listed in
    :data:`~computefolio.data.symbols.EXTRA_SYMBOLS`, e.g. ``^IRX``); ``venue`` fetches from
    that source instead of each asset's default (assets it cannot serve — equities on a
    crypto exchange — are left out).
    """
    if venue is not None and venue not in SOURCES:
        raise DataError(f"--venue: one of {', '.join(SOURCES)}, got {venue!r}")
    wanted = None if symbols is None else list(dict.fromkeys(symbols))
    refs: list[SourceRef] = []
    if wanted is not None:
        unknown = [s for s in wanted if s not in universe and s not in EXTRA_SYMBOLS]
        if unknown:
            raise DataError(f"--symbols: not in universe {universe.name!r} and not a known extra symbol: "
                            f"{', '.join(unknown)} (extras: {', '.join(EXTRA_SYMBOLS)})")
    for a in universe.assets:
        if wanted is not None and a.symbol not in wanted:
            continue
        if venue is not None and venue != "yahoo" and a.asset_class != "crypto":
            continue
        ref = resolve(a, venue)
        if ref is not None:
            refs.append(ref)
    for s in wanted or []:
        if s not in universe:
            refs.append(extra_ref(s))
    return refs


# ---------------------------------------------------------------------------- the sync
class Syncer:
    """Fetch, validate and store the bars of a plan (see the module docstring).

    Parameters
    ----------
    store : Store
    connectors : mapping source -> Connector, optional
        Connectors to use (default: :func:`~computefolio.data.connectors.make_connector`).
    now : callable, optional
        Current time (UTC Timestamp); decides which bars are final.
    overlap : int
        Calendar days re-fetched before the last final bar.
    tol : float
        Relative disagreement of a final bar that triggers a full re-fetch.
    depeg_tol : float
        Quote-currency distance from 1 flagged as a de-peg.
    """

    def __init__(self, store: Store, *, connectors: Mapping[str, Connector] | None = None,
                 now: Callable[[], pd.Timestamp] | None = None, overlap: int = OVERLAP_DAYS, tol: float = TOLERANCE,
                 depeg_tol: float = DEPEG_TOL):
        self.store = store
        self.connectors = dict(connectors or {})
        self.now = now or (lambda: pd.Timestamp.now(tz="UTC"))
        self.overlap = overlap
        self.tol = tol
        self.depeg_tol = depeg_tol

    def connector(self, source: str) -> Connector:
        if source not in self.connectors:
            from .connectors import make_connector

            self.connectors[source] = make_connector(source)
        return self.connectors[source]

    def run(self, refs: list[SourceRef], *, since=None, full: bool = False,
            progress: Callable[[SourceRef, SymbolSync | None], None] | None = None) -> SyncResult:
        """Sync every ref; the quote-currency rates they need first. Returns a SyncResult."""
        result = SyncResult()
        since = None if since is None else pd.Timestamp(since).date()
        quotes = sorted({r.quote for r in refs if r.quote in QUOTE_RATES})
        rate_refs = []
        for q in quotes:
            sym, src, ss = QUOTE_RATES[q]
            if not any(r.symbol == sym and r.source == src for r in refs):
                rate_refs.append(extra_ref(sym, src) if sym in EXTRA_SYMBOLS else None)
        ordered = [r for r in rate_refs if r is not None] + sorted(refs, key=lambda r: r.symbol not in
                                                                   {v[0] for v in QUOTE_RATES.values()})
        for ref in ordered:
            if progress:
                progress(ref, None)
            if ref.source in result.offline:
                out = SymbolSync(ref.symbol, ref.source, ref.describe(), status="offline", reason="offline",
                                 message=f"not tried: {result.offline[ref.source]}")
            else:
                out = self.sync_one(ref, since=since, full=full)
                if out.status == "offline":
                    result.offline[ref.source] = out.message
            result.symbols.append(out)
            if progress:
                progress(ref, out)
        return result

    # ------------------------------------------------------------------ one symbol
    def sync_one(self, ref: SourceRef, *, since: dt.date | None = None, full: bool = False) -> SymbolSync:
        out = SymbolSync(ref.symbol, ref.source, ref.describe())
        st = self.store.sync_state(ref.source)
        st = st[st["symbol"] == ref.symbol] if len(st) else st
        state = None if st.empty or pd.isna(st.iloc[0]["first_bar"]) else st.iloc[0]
        now = _utc(self.now())
        try:
            if state is None or full:
                start = since or ref.listed
                fetched = self._fetch(ref, start, out)
                mode = "full"
                reason = "re-fetched in full" if state is not None else "first sync"
            else:
                anchor = state["final_through"] if pd.notna(state["final_through"]) else state["first_bar"]
                start = (pd.Timestamp(anchor) - pd.Timedelta(days=self.overlap)).date()
                if since is not None and since < start:
                    start = since
                fetched = self._fetch(ref, start, out)
                mode = "incremental"
                why = self._needs_full(ref, fetched, state)
                if why:
                    out.notes.append(f"full re-fetch: {why}")
                    first = pd.Timestamp(state["first_bar"]).date() if pd.notna(state["first_bar"]) else None
                    fetched = self._fetch(ref, min(d for d in (first, since, ref.listed) if d is not None)
                                          if any(d is not None for d in (first, since, ref.listed)) else None, out)
                    mode, reason = "full", f"history rewritten by the source ({why})"
                else:
                    reason = "revised by the source"
        except SourceOffline as exc:
            out.status, out.reason, out.message = "offline", exc.reason, exc.detail
            return out
        except FetchError as exc:
            out.status, out.reason, out.message = "failed", exc.reason, exc.detail
            return out
        try:
            return self._store(ref, fetched, state, mode, reason, now, out)
        except DataError as exc:  # an answer the store cannot take as it is: this symbol fails, the sync goes on
            out.status, out.reason, out.message = "failed", "bad response", str(exc)
            return out

    def _fetch(self, ref: SourceRef, start: dt.date | None, out: SymbolSync) -> Fetched:
        """Fetch ``ref`` from ``start``, one call per ticker segment (migrations), joined by date."""
        con = self.connector(ref.source)
        parts, first = [], None
        segs = [s for s in ref.segments if s.end is None or start is None or s.end > start]
        for seg in segs:
            s0 = max(d for d in (start, seg.start) if d is not None) if (start or seg.start) else None
            e0 = None if seg.end is None else seg.end - dt.timedelta(days=1)
            try:
                f = con.fetch(seg.source_symbol, s0, e0)
            except (NoData, UnknownSymbol) as exc:
                if seg.end is None:
                    raise
                out.notes.append(f"{seg.source_symbol} before {seg.end}: {exc.detail}; the series starts with "
                                 f"{ref.source_symbol}")
                continue
            bars = f.bars
            if seg.end is not None:
                bars = bars[bars["date"] < pd.Timestamp(seg.end)]
            if seg.ratio != 1.0:
                bars = bars.copy()
                for c in ("open", "high", "low", "close", "adj_close"):
                    bars[c] = bars[c] / seg.ratio
                bars["volume"] = bars["volume"] * seg.ratio
            parts.append((seg, bars, f))
            first = first or f
        if not parts:
            raise NoData(ref.source, ref.source_symbol, "no bars")
        last = parts[-1][2]
        bars = pd.concat([p[1] for p in parts], ignore_index=True)
        actions = pd.concat([p[2].actions for p in parts if len(p[2].actions)] or [last.actions], ignore_index=True)
        notes = [n for p in parts for n in p[2].notes]
        if len(parts) > 1:
            notes.append("ticker migration: " + ", ".join(
                f"{seg.source_symbol} {'until ' + str(seg.end) if seg.end else 'from ' + str(seg.start)}"
                for seg, _, _ in parts))
        out.notes.extend(n for n in notes if n not in out.notes)
        return Fetched(source=ref.source, source_symbol=ref.source_symbol, bars=bars, actions=actions,
                       funding=last.funding, currency=last.currency or ref.quote,
                       history_from=parts[0][2].history_from, notes=notes,
                       requests=sum(p[2].requests for p in parts))

    def _needs_full(self, ref: SourceRef, fetched: Fetched, state) -> str:
        """Why the whole history must be fetched again ('' when it need not)."""
        splits = fetched.actions[fetched.actions["action"] == "split"] if len(fetched.actions) else fetched.actions
        if len(splits):
            known = self.store.corporate_actions(ref.symbol)
            known = known[(known["source"] == ref.source) & (known["action"] == "split")] if len(known) else known
            seen = set(pd.to_datetime(known["date"]).dt.normalize()) if len(known) else set()
            new = [r for r in splits.itertuples() if pd.Timestamp(r.date).normalize() not in seen]
            if new:
                r = new[0]
                return f"new split {r.value:g}:1 on {pd.Timestamp(r.date).date()}"
        if pd.isna(state["final_through"]):
            return ""
        stored = self.store.prices(symbols=[ref.symbol], sources=[ref.source], start=fetched.bars["date"].min(),
                                   end=state["final_through"])
        if stored.empty:
            return ""
        fresh = fetched.bars[(fetched.bars["close"] > 0) | (fetched.bars["adj_close"] > 0)]
        both = stored.merge(fresh, on="date", suffixes=("_s", ""))
        for col in ("close", "adj_close"):
            a, b = both[col].to_numpy(dtype=float), both[col + "_s"].to_numpy(dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
            bad = np.flatnonzero(rel > self.tol)
            if len(bad):
                i = bad[0]
                return (f"stored {col} {b[i]:g} on {pd.Timestamp(both['date'].iloc[i]).date()} is now {a[i]:g} "
                        f"({len(bad)} day(s) of the overlap differ)")
        return ""

    def _store(self, ref: SourceRef, fetched: Fetched, state, mode: str, reason: str, now: pd.Timestamp,
               out: SymbolSync) -> SymbolSync:
        bars = fetched.bars.sort_values("date", kind="stable").reset_index(drop=True)
        out.rows_fetched = len(bars)
        out.full = mode == "full"
        long = bars.assign(symbol=ref.symbol, source=ref.source)
        report = validate(long[["date", "symbol", *FIELDS, "source"]], {ref.symbol: ref.calendar})
        bad_keys: dict[tuple, list] = {}
        for f in report.errors:
            if f.check in ROW_CHECKS:
                bad_keys.setdefault((f.symbol, pd.Timestamp(f.date)), []).append(f)
        bad = long["date"].isin([d for _, d in bad_keys]).to_numpy() if bad_keys else np.zeros(len(long), bool)
        rows = long.assign(row=np.arange(1, len(long) + 1, dtype=np.int64))
        q = _quarantine_frame(rows[bad], bad_keys) if bad.any() else None
        good = long[~bad]
        for f in report.errors:
            if f.check not in ROW_CHECKS:
                out.notes.append(f"{f.check} {pd.Timestamp(f.date).date() if f.date is not None else ''}: {f.message}")
        if good.empty:
            out.status, out.reason = "failed", "bad response"
            out.rows_quarantined = int(bad.sum())
            out.message = (f"every fetched row was refused by validation ({int(bad.sum())} quarantined"
                           + (f"; first: {q.iloc[0]['check']}: {q.iloc[0]['message']}" if q is not None else "") + ")")
            if q is not None:  # keep the refused rows aside even though nothing is stored
                self.store.upsert_fetched(good, source=ref.source, symbol=ref.symbol, quarantined=q, state=None,
                                          sha256=_sha(long))
            return out
        final = np.array([bar_final(d, ref.calendar, now) for d in good["date"]])
        if not final[:-1].all():
            i = int(np.flatnonzero(~final[:-1])[0])
            raise DataError(f"{ref.source} {ref.symbol}: bar {good['date'].iloc[i].date()} is not final but a later bar exists")
        reasons = {}
        if state is not None and pd.notna(state["last_bar"]) and not bool(state["last_final"]):
            reasons[pd.Timestamp(state["last_bar"])] = "unfinished bar replaced"
        flags = self._depeg_flags(ref, good)
        window = (good["date"].min(), good["date"].max()) if mode == "full" else None
        if window is not None and fetched.history_from is not None:
            window = (fetched.history_from, window[1])
        res = self.store.upsert_fetched(
            good, source=ref.source, symbol=ref.symbol, quarantined=q, window=window, reason=reason,
            reasons=reasons, tol=self.tol, actions=fetched.actions, funding=fetched.funding, flags=flags,
            state=self._state(ref, fetched, state, good, now, out, final=final), sha256=_sha(long))
        out.rows_added, out.rows_rewritten, out.rows_removed = res.rows_added, res.rows_rewritten, res.rows_removed
        out.rows_quarantined = res.rows_quarantined
        out.status = "updated" if (res.rows_added or res.rows_rewritten or res.rows_removed) else "unchanged"
        out.last_bar, out.last_final = good["date"].iloc[-1], bool(final[-1])
        if q is not None:
            out.notes.append(f"{len(q)} row(s) quarantined: " + "; ".join(
                f"{pd.Timestamp(r.date).date()} {r.check}" for r in q.head(3).itertuples()))
        if flags:
            out.notes.append(f"{len(flags)} day(s) with {ref.quote} off its USD peg by more than "
                             f"{self.depeg_tol:.1%}: " + ", ".join(str(pd.Timestamp(d).date()) for d, *_ in flags[:3]))
        return out

    def _state(self, ref, fetched, state, good, now, out, final=None) -> dict:
        final_through = None
        if final is not None and len(good):
            fin = good["date"][final]
            final_through = fin.max() if len(fin) else None
        if final_through is None and state is not None and pd.notna(state["final_through"]):
            final_through = state["final_through"]
        elif final_through is not None and state is not None and pd.notna(state["final_through"]):
            final_through = max(pd.Timestamp(final_through), pd.Timestamp(state["final_through"]))
        history_from = fetched.history_from
        if history_from is None and state is not None and pd.notna(state.get("history_from")):
            history_from = state["history_from"]
        return {"source_symbol": ref.describe(), "quote": fetched.currency or ref.quote,
                "last_final": bool(final[-1]) if final is not None and len(final) else
                (bool(state["last_final"]) if state is not None else False),
                "final_through": final_through, "history_from": history_from, "fetched_at": now,
                "note": "; ".join(out.notes)[:2000]}

    def _depeg_flags(self, ref: SourceRef, good: pd.DataFrame) -> list[tuple]:
        """Days the quote currency of ``ref`` closed off its USD peg (its rate as stored)."""
        if ref.quote not in QUOTE_RATES or ref.symbol == QUOTE_RATES[ref.quote][0]:
            return []
        sym, src, ss = QUOTE_RATES[ref.quote]
        rate = self.store.prices(symbols=[sym], sources=[src], start=good["date"].min(), end=good["date"].max())
        if rate.empty:
            return []
        r = rate.set_index("date")["close"].reindex(pd.DatetimeIndex(good["date"])).dropna()
        off = r[(r - 1.0).abs() > self.depeg_tol]
        return [(d, "quote_depeg", float(v),
                 f"{ref.quote}/USD closed at {v:.4f} on {d.date()} ({src} {ss}): {ref.symbol} prices in "
                 f"{ref.quote} are {abs(v - 1):.2%} off USD that day") for d, v in off.items()]


def _sha(df: pd.DataFrame) -> str:
    return hashlib.sha256(b"sync|" + df.to_csv(index=False).encode()).hexdigest()


def sync(store: Store, universe, *, symbols: Iterable[str] | None = None, since=None, venue: str | None = None,
         full: bool = False, connectors: Mapping[str, Connector] | None = None,
         now: Callable[[], pd.Timestamp] | None = None, progress=None, **options) -> SyncResult:
    """Sync the universe's assets (or ``symbols``) into ``store``; see the module docstring.

    Parameters
    ----------
    store : Store
    universe : Universe
    symbols : iterable of str, optional
    since : date-like, optional
        Fetch from this date (a first sync; or back-fill before the stored history).
    venue : str, optional
        Fetch from this source instead of each asset's default.
    full : bool
        Re-fetch every symbol's whole history.
    connectors, now, progress, options
        See :class:`Syncer`.
    """
    refs = plan(universe, symbols=symbols, venue=venue)
    return Syncer(store, connectors=connectors, now=now, **options).run(refs, since=since, full=full,
                                                                        progress=progress)
