"""Validation of market data: every problem reported with symbol, date and value.

:func:`validate` runs small vectorized checks over long-format prices (one or several
sources) or a :class:`~computefolio.data.market.MarketData`, and returns a
:class:`ValidationReport`. Nothing is filled, dropped or "fixed": the report says
what is wrong and where, and the caller decides.

Checks and their severity (the ``check`` name of each :class:`Finding`)
-----------------------------------------------------------------------
Errors (the data is wrong or cannot be used as is):

``non_positive``
    An open/high/low/close/adj_close <= 0. Not applied to rates (yields may be
    negative: ``^IRX`` in March 2020). Value: the price.
``negative_volume``
    Volume < 0. Value: the volume.
``missing_price``
    A row with neither ``close`` nor ``adj_close``. Value: NaN.
``duplicate_date``
    The same (source, symbol, date) more than once. Value: the number of rows.
``ohlc_inconsistent``
    ``high`` below the open, close or low, or ``low`` above the open, close or high
    (relative tolerance 1e-6 for float noise). Value: the high (or the low).
``off_calendar``
    A bar on a day the symbol's exchange is closed (weekend or holiday of its
    exchange_calendars calendar). Value: the price.
``split_unadjusted``
    One column jumps by a split ratio while the other does not: ``close`` jumps by
    ~k or ~1/k while the independent ``adj_close`` moves by less than half of that
    (in log terms), or the reverse. One of the two columns is not adjusted for a
    split. Value: the one-day price ratio; ``ratio``: the split factor.
``split_jump``
    The price series (there is no independent adjusted series to compare, or it
    jumps too) moves by a ratio near k or 1/k for k in :data:`SPLIT_RATIOS`: dividing
    the move by the split factor leaves a residual within the day's ordinary move -
    ``split_sd`` (4) of the asset's daily standard deviations (robust: 1.4826 x the
    median absolute deviation of its log returns over the 63 bars on either side),
    at least ``split_tol`` (6%) and at most ``split_tol_max`` (10%, below half the
    log distance between neighbouring factors such as 4 and 5). So a 4:1 split on a
    day the stock also fell 5% (ratio 0.2375) is found, and named: the finding's
    ``ratio`` is the split factor (4.0 for a 4:1 split, 0.25 for a 1:4 reverse split)
    and its message gives the residual move in percent and in standard deviations.
    A split-like move that is not extraordinary for the asset (less than 20 of its daily
    standard deviations: a volatile miner's real +90% day also matches 1:2) and not within
    1.5% of the factor is reported as a *warning* naming the ratio; otherwise it is an error. Plausibility guard: the move persists - the next
    ``persist`` bars do not go back more than half way, the move does not undo the
    previous bar's (the return leg of a one-bar spike) - and, when an open is
    given, the bar trades at the new level (open within 15% of the close). A real
    one-day move of exactly 2x or 0.5x that holds, with the open already at the new
    level, is rare in equities; an unadjusted split always looks like this. Equities and
    ETFs only: crypto has no splits, indices and rates neither. In a series spliced
    from several sources (an ``origin`` column per row, as :func:`check` builds for
    ``priority``/``plan``), a move where the origin changes is reported when it is
    within ``scale_tol`` of a split factor, without the plausibility guards: a seam
    is where differently adjusted sources meet. Value: the ratio.
``source_scale``
    Two sources of the same symbol disagree on price level by a split factor on
    common dates (e.g. one source adjusted for a later 10:1 split and the other
    not): splicing them makes a split-sized jump. Value: the median level ratio.

The price series of a (source, symbol) is read as MarketData reads it:
``adj_close`` when the source gives it for the symbol, else ``close``.

Warnings (real but unusual, or a limitation of the source):

``missing_value``
    A field (open, high, low, close, adj_close, volume) is NaN on a run of rows
    although the source gives that field for the symbol elsewhere (one finding per
    run). Value: the number of rows; date: the first one.
``missing_sessions``
    Sessions of the symbol's calendar between its first and last bar with no bar
    (one finding per run of consecutive missing sessions). Value: the number of
    missing sessions; date: the first missing one. Exchange calendars are known
    from 1990 to 2030; dates outside are not checked (a note says so).
``stale_close``
    ``stale_run`` or more consecutive identical prices. Value: the price; date:
    the first bar of the run.
``zero_volume``
    A run of at least ``zero_volume_run`` bars with volume 0. Value: the run length.
``extreme_jump``
    A one-day price move beyond ``jump`` (a simple return above ``jump`` or below
    ``1/(1+jump) - 1``: symmetric in log terms; default 100%, i.e. x2 or /2),
    equities and crypto alike. Catches spliced histories such as CORZ's +4,500%
    whatever the ratio. A move across a gap is measured from the previous bar and
    the message names that bar. Value: the simple return.
``source_disagree``
    Two sources of the same symbol differ in level by more than 25% (and not by a
    split factor) over common dates. Value: the median level ratio.

Calendars and asset classes
---------------------------
Taken from ``universe`` when given (with ``listed_only=True``, rows outside an
asset's listed/delisted dates are left out of the checks, with a note), then from
``calendars``;
otherwise inferred: known crypto tickers and symbols with weekend bars -> ``"24/7"``;
``^IRX``-like rate symbols -> rates; other ``^`` symbols -> indices; everything else
-> XNYS equities. Every inference is listed in :attr:`ValidationReport.notes`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..clock import CRYPTO, XNYS, sessions
from ..errors import DataError
from .market import FIELDS, LONG_COLUMNS, MarketData

ERROR = "error"
WARNING = "warning"

#: Split factors k checked as k:1 (ratio 1/k) and 1:k reverse splits (ratio k).
SPLIT_RATIOS: tuple[int, ...] = (2, 3, 4, 5, 8, 10, 15, 20, 25, 30, 40, 50, 100)

#: Tickers treated as crypto (calendar ``"24/7"``) when no universe or calendars say otherwise.
KNOWN_CRYPTO = frozenset({
    "BTC", "ETH", "SOL", "BNB", "FIL", "ICP", "TAO", "FET", "THETA", "AR", "GLM", "GNT", "LPT", "RENDER",
    "RNDR", "AKT", "HNT", "XRP", "ADA", "DOGE", "DOT", "AVAX", "LINK", "LTC", "BCH", "TRX", "MATIC", "POL",
    "ATOM", "NEAR", "USDT", "USDC", "XLM", "XMR", "ETC", "UNI", "AAVE", "ARB", "OP", "SUI", "APT", "TON",
})

#: Symbols whose values are yields in percent, not prices (no positivity or jump checks).
KNOWN_RATES = frozenset({"^IRX", "^TNX", "^FVX", "^TYX"})

_PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")
_NO_SPLIT_CLASSES = frozenset({"crypto", "index", "rate", "cash", "private"})
_CAL_RANGE = (pd.Timestamp("1990-01-01"), pd.Timestamp("2030-12-31"))  # clock's exchange calendar span
_GAP_OPEN_TOL = math.log(1.15)
#: A split-like move smaller than this many daily standard deviations of the asset is a
#: warning, not an error: for a volatile asset (a bitcoin miner, 6% a day) a real +90% day
#: also looks like a 1:2 reverse split; a split of an ordinary equity is a 20-150 s.d. move.
_SPLIT_SURPRISE = 20.0
#: ... unless the ratio is within 1.5% of the split factor (a real move rarely lands there).
_SPLIT_EXACT = math.log(1.015)


@dataclass(frozen=True)
class Finding:
    """One problem in the data.

    Attributes
    ----------
    severity : {"error", "warning"}
    check : str
        Name of the check (see the module docstring).
    symbol : str
    date : pandas.Timestamp or None
        The bar concerned (first bar of a run; first missing session of a gap).
    value : float
        The offending value (a price, a ratio, a return or a count: see the check).
    message : str
        One line for a person.
    source : str
        The source (file name) the rows came from; ``""`` when not known.
    ratio : float or None
        For split findings, the split factor the move matches: new shares per old
        share (4.0 for a 4:1 split, 0.25 for a 1:4 reverse split); None otherwise.
    """

    severity: str
    check: str
    symbol: str
    date: pd.Timestamp | None
    value: float
    message: str
    source: str = ""
    ratio: float | None = None

    def to_dict(self, *, raw: bool = False) -> dict:
        """JSON-ready dict; ``value`` None when missing or not finite (kept as is with ``raw``)."""
        d = asdict(self)
        d["date"] = None if self.date is None or pd.isna(self.date) else pd.Timestamp(self.date).date().isoformat()
        d["value"] = (None if self.value is None else float(self.value)) if raw else _json_number(self.value)
        return d


@dataclass
class ValidationReport:
    """All findings of a validation run.

    Attributes
    ----------
    findings : list of Finding
        Sorted by severity (errors first), check, source, symbol, date.
    notes : list of str
        How calendars and classes were chosen, what was not checked and why.
    rows : int
        Number of rows checked.
    """

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def to_frame(self) -> pd.DataFrame:
        """One row per finding: severity, check, source, symbol, date, value, message."""
        cols = ["severity", "check", "source", "symbol", "date", "value", "message"]
        if not self.findings:
            return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "date" else (float if c == "value" else object))
                                 for c in cols})
        df = pd.DataFrame([{c: getattr(f, c) for c in cols} for f in self.findings], columns=cols)
        df["date"] = pd.to_datetime(df["date"])
        df["value"] = df["value"].astype(float)
        return df

    def counts(self) -> pd.DataFrame:
        """Number of findings per (severity, check), errors first."""
        if not self.findings:
            return pd.DataFrame(columns=["severity", "check", "count"])
        t = self.to_frame().groupby(["severity", "check"], sort=False).size().rename("count").reset_index()
        return t

    def summary(self) -> str:
        """One line: ``"3 errors, 12 warnings in 1,234 rows (split_jump 2, ...)"``."""
        if not self.findings:
            return f"no problems found in {self.rows:,} rows"
        c = self.counts()
        detail = ", ".join(f"{r.check} {r.count}" for r in c.itertuples())
        return f"{len(self.errors)} errors, {len(self.warnings)} warnings in {self.rows:,} rows ({detail})"

    def to_dict(self, limit: int | None = None) -> dict:
        """JSON-ready dict: ok, counts, notes and findings (first ``limit`` when given).

        Under the one JSON rule (:mod:`computefolio._json`): a value that is not finite (a
        jump from a price near zero) is None and listed under ``"nonfinite"``.
        """
        from .._json import json_safe

        items = self.findings if limit is None else self.findings[:limit]
        return json_safe({
            "ok": self.ok, "rows": self.rows, "errors": len(self.errors), "warnings": len(self.warnings),
            "counts": {f"{r.severity}:{r.check}": int(r.count) for r in self.counts().itertuples()},
            "notes": list(self.notes), "findings": [f.to_dict(raw=True) for f in items],
        })

    def to_json(self, limit: int | None = None) -> str:
        """Strict JSON (the one rule of :mod:`computefolio._json`: no NaN or Infinity)."""
        from .._json import dumps

        return dumps(self.to_dict(limit), indent=2)

    def raise_for_errors(self, what: str = "data", limit: int = 5) -> None:
        """Raise :class:`DataError` listing the first ``limit`` errors when there are any."""
        errs = self.errors
        if errs:
            shown = "; ".join(_short(f) for f in errs[:limit])
            more = f" (+{len(errs) - limit} more)" if len(errs) > limit else ""
            raise DataError(f"{what}: {len(errs)} errors: {shown}{more}")

    def extend(self, other: "ValidationReport", *, dedupe: bool = True) -> None:
        """Add another report's findings (skipping ones with the same check, symbol, date)."""
        seen = {(f.check, f.symbol, f.date) for f in self.findings} if dedupe else set()
        self.findings.extend(f for f in other.findings if (f.check, f.symbol, f.date) not in seen)
        self.notes.extend(n for n in other.notes if n not in self.notes)
        self.findings.sort(key=_sort_key)


def _json_number(v) -> float | None:
    """A finding's value for JSON: None when missing or not finite (the message says which)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _short(f: Finding) -> str:
    d = "" if f.date is None or pd.isna(f.date) else f" {pd.Timestamp(f.date).date()}"
    return f"{f.symbol}{d} {f.check}: {f.message}"


def _sort_key(f: Finding):
    return (f.severity != ERROR, f.check, f.source, f.symbol, pd.Timestamp(f.date) if f.date is not None else pd.Timestamp.min)


# ---------------------------------------------------------------------------- inputs
def as_long(data) -> pd.DataFrame:
    """Long-format frame with a ``source`` column from a DataFrame or MarketData.

    Dates are parsed and normalized; missing field columns are added as NaN.
    Raises :class:`DataError` when ``date``/``symbol`` are missing or a date does not parse.
    """
    if isinstance(data, MarketData):
        df = data.to_long()
        df["source"] = data.source or ""
        return df
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"validate needs a long-format DataFrame or MarketData, got {type(data).__name__}")
    if not {"date", "symbol"} <= set(data.columns):
        raise DataError("long-format prices need 'date' and 'symbol' columns")
    df = data.copy()
    dates = pd.to_datetime(df["date"], errors="coerce")
    if dates.isna().any():
        i = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(f"row {i}: date {data['date'].iloc[i]!r} is not a date")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    df["date"] = dates.dt.normalize()
    df["symbol"] = df["symbol"].astype(str)
    for f in FIELDS:
        if f not in df.columns:
            df[f] = np.nan
        df[f] = pd.to_numeric(df[f], errors="coerce").astype(float)
    if "source" not in df.columns:
        df["source"] = ""
    df["source"] = df["source"].astype(str)
    extra = ["origin"] if "origin" in df.columns else []
    return df[[*LONG_COLUMNS, "source", *extra]]


def infer_classes(symbols: Iterable[str], df: pd.DataFrame | None = None, calendars: Mapping[str, str] | None = None,
                  universe=None) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Calendar and asset class of each symbol, and notes on what was inferred.

    Order: the universe, then ``calendars``, then inference (see the module docstring).

    Returns
    -------
    (calendars, classes, notes)
    """
    cals: dict[str, str] = {}
    classes: dict[str, str] = {}
    notes: list[str] = []
    inferred: dict[str, list[str]] = {}
    weekend = {}
    if df is not None and len(df):
        wd = df["date"].dt.day_of_week.to_numpy() >= 5
        weekend = pd.Series(wd).groupby(df["symbol"].to_numpy()).mean().to_dict()
    for s in sorted(set(symbols)):
        a = None
        if universe is not None and s in universe:
            a = universe.asset(s)
        if a is not None:
            cals[s], classes[s] = a.calendar, a.asset_class
            continue
        if calendars is not None and s in calendars:
            cals[s] = calendars[s]
            classes[s] = "crypto" if cals[s] == CRYPTO else ("rate" if s in KNOWN_RATES else
                                                            ("index" if s.startswith("^") else "equity"))
            continue
        if s in KNOWN_RATES:
            cals[s], classes[s] = XNYS, "rate"
            inferred.setdefault("rate (yield, XNYS)", []).append(s)
        elif s in KNOWN_CRYPTO or s.endswith(("-USD", "USDT")):
            cals[s], classes[s] = CRYPTO, "crypto"
            inferred.setdefault("crypto (24/7, known ticker)", []).append(s)
        elif weekend.get(s, 0.0) > 0.05:
            cals[s], classes[s] = CRYPTO, "crypto"
            inferred.setdefault("24/7 (has weekend bars)", []).append(s)
        elif s.startswith("^"):
            cals[s], classes[s] = XNYS, "index"
            inferred.setdefault("index (XNYS)", []).append(s)
        else:
            cals[s], classes[s] = XNYS, "equity"
            inferred.setdefault("equity on XNYS (default for unknown symbols)", []).append(s)
    for what, syms in inferred.items():
        notes.append(f"no universe entry for {len(syms)} symbol(s), inferred {what}: {', '.join(syms)}")
    return cals, classes, notes


# ---------------------------------------------------------------------------- the checks
def validate(data, calendars: Mapping[str, str] | None = None, universe=None, *, stale_run: int = 5,
             jump: float = 1.0, split_tol: float = 0.06, split_ratios: Sequence[int] = SPLIT_RATIOS,
             split_sd: float = 4.0, split_tol_max: float = 0.10,
             persist: int = 3, zero_volume_run: int = 1, scale_tol: float = 0.15, disagree: float = 0.25,
             min_overlap: int = 3, listed_only: bool = False) -> ValidationReport:
    """Check market data and report every problem with symbol, date and value.

    Parameters
    ----------
    data : pandas.DataFrame or MarketData
        Long format (``date, symbol`` + any of ``open, high, low, close, adj_close,
        volume``, optionally ``source``) or a MarketData. With several sources, each
        (source, symbol) series is checked on its own, and sources are compared with
        each other (``source_scale``, ``source_disagree``).
    calendars : mapping symbol -> calendar, optional
    universe : Universe, optional
        Calendars, asset classes and listed/delisted dates.
    stale_run : int
        Minimum number of consecutive identical prices reported as ``stale_close``.
    jump : float
        ``extreme_jump`` threshold as a simple return (1.0 = +100%, and symmetric -50%).
    split_tol, split_sd, split_tol_max : float
        A one-day ratio matches a split factor k (or 1/k) when the residual move
        ``ratio * k`` (or ``ratio / k``) is within ``split_sd`` daily standard
        deviations of the asset, at least ``split_tol`` and at most
        ``split_tol_max`` (relative; see ``split_jump`` in the module docstring).
    split_ratios : sequence of int
        The k of :data:`SPLIT_RATIOS`.
    persist : int
        Bars after a split-like move that must not revert half way (plausibility guard).
    zero_volume_run : int
        Minimum run of zero-volume bars reported.
    scale_tol : float
        Relative tolerance for a cross-source level ratio to match a split factor
        (nearest factor in log terms; wide because sources adjusted for dividends
        as of different dates also differ by a few percent).
    disagree : float
        Cross-source level difference (relative) reported as ``source_disagree``.
    min_overlap : int
        Minimum common dates (in a run) for cross-source findings.
    listed_only : bool
        With a universe, leave rows outside each asset's listed/delisted dates out of
        the checks (a note counts them). Off by default: a check reports what the data
        holds, junk pre-history included.

    Returns
    -------
    ValidationReport
    """
    df = as_long(data)
    cals, classes, notes = infer_classes(df["symbol"].unique(), df, calendars, universe)
    if universe is not None and listed_only:
        df, trim_notes = _trim_listed(df, universe)
        notes.extend(trim_notes)
    findings: list[Finding] = []
    if len(df):
        findings += _row_checks(df, classes)
        series_findings, series_notes = _series_checks(df, cals, classes, stale_run=stale_run, jump=jump,
                                                       split_tol=(split_tol, split_sd, split_tol_max),
                                                       split_ratios=split_ratios,
                                                       persist=persist, zero_volume_run=zero_volume_run,
                                                       scale_tol=scale_tol)
        findings += series_findings
        notes.extend(series_notes)
        if df["source"].nunique() > 1:
            findings += _cross_source(df, classes, scale_tol=scale_tol, split_ratios=split_ratios,
                                      disagree=disagree, min_overlap=min_overlap)
    findings.sort(key=_sort_key)
    return ValidationReport(findings=findings, notes=notes, rows=len(df))


def _trim_listed(df: pd.DataFrame, universe) -> tuple[pd.DataFrame, list[str]]:
    codes, uniq = pd.factorize(df["symbol"])
    lo = np.full(len(uniq), np.datetime64("NaT"), dtype="datetime64[ns]")
    hi = lo.copy()
    for k, s in enumerate(uniq):
        if s in universe:
            a = universe.asset(s)
            if a.listed is not None:
                lo[k] = np.datetime64(pd.Timestamp(a.listed))
            if a.delisted is not None:
                hi[k] = np.datetime64(pd.Timestamp(a.delisted))
    dates = df["date"].to_numpy().astype("datetime64[ns]")
    lo_r, hi_r = lo[codes], hi[codes]
    out = (~np.isnat(lo_r) & (dates < lo_r)) | (~np.isnat(hi_r) & (dates > hi_r))
    notes = []
    if out.any():
        n = np.bincount(codes[out], minlength=len(uniq))
        for k in np.flatnonzero(n):
            a = universe.asset(uniq[k])
            notes.append(f"{uniq[k]}: {int(n[k]):,} rows outside its listed dates "
                         f"({a.listed or '-'} to {a.delisted or '-'}) not checked")
    return df[~out], notes


def _price_column(df: pd.DataFrame) -> pd.Series:
    """Per row, its series' price column, as MarketData reads it: ``adj_close`` when the
    (source, symbol) has any adj_close, else ``close``."""
    has_adj = df["adj_close"].notna().groupby([df["source"], df["symbol"]]).transform("any")
    return pd.Series(np.where(has_adj.to_numpy(), "adj_close", "close"), index=df.index)


def _mk(sev, check, src, sym, date, value, msg, ratio=None) -> Finding:
    return Finding(sev, check, str(sym), None if date is None else pd.Timestamp(date), float(value), msg, str(src),
                   None if ratio is None else float(ratio))


def _day(x) -> str:
    return str(pd.Timestamp(x).date())


def _row_checks(df: pd.DataFrame, classes: Mapping[str, str]) -> list[Finding]:
    out: list[Finding] = []
    rates = [s for s, c in classes.items() if c == "rate"]
    is_rate = df["symbol"].isin(rates).to_numpy(dtype=bool)
    src, sym, dates = df["source"].to_numpy(), df["symbol"].to_numpy(), df["date"].to_numpy()
    for f in _PRICE_FIELDS:
        v = df[f].to_numpy()
        m = (v <= 0) & ~is_rate
        for i in np.flatnonzero(m):
            out.append(_mk(ERROR, "non_positive", src[i], sym[i], dates[i], v[i], f"{f} = {v[i]:g} (prices must be > 0)"))
    vol = df["volume"].to_numpy()
    for i in np.flatnonzero(vol < 0):
        out.append(_mk(ERROR, "negative_volume", src[i], sym[i], dates[i], vol[i], f"volume = {vol[i]:g}"))
    nop = np.isnan(df["close"].to_numpy()) & np.isnan(df["adj_close"].to_numpy())
    for i in np.flatnonzero(nop):
        out.append(_mk(ERROR, "missing_price", src[i], sym[i], dates[i], np.nan, "row with neither close nor adj_close"))
    dup = df.duplicated(["source", "symbol", "date"], keep=False).to_numpy()
    if dup.any():
        cnt = df[dup].groupby(["source", "symbol", "date"]).size()
        for (s_, y_, d_), n in cnt.items():
            out.append(_mk(ERROR, "duplicate_date", s_, y_, d_, n, f"{n} rows for the same date"))
    o, h, lo, c = (df[f].to_numpy() for f in ("open", "high", "low", "close"))
    with np.errstate(invalid="ignore"):
        top = np.fmax(np.fmax(o, c), lo)
        bot = np.fmin(np.fmin(o, c), h)
        bad_h = ~np.isnan(h) & ~np.isnan(top) & (h < top * (1 - 1e-6))
        bad_l = ~np.isnan(lo) & ~np.isnan(bot) & (lo > bot * (1 + 1e-6))
    for i in np.flatnonzero(bad_h | bad_l):
        which = "high" if bad_h[i] else "low"
        val = h[i] if bad_h[i] else lo[i]
        out.append(_mk(ERROR, "ohlc_inconsistent", src[i], sym[i], dates[i], val,
                       f"{which} {val:g} contradicts open {o[i]:g} / high {h[i]:g} / low {lo[i]:g} / close {c[i]:g}"))
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start and end (inclusive) positions of runs of True."""
    if not mask.any():
        return []
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def _sorted_in(x: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    """``np.isin`` for a sorted reference array (binary search)."""
    if not len(sorted_ref):
        return np.zeros(len(x), dtype=bool)
    pos = np.searchsorted(sorted_ref, x).clip(max=len(sorted_ref) - 1)
    return sorted_ref[pos] == x


def _split_match(lr: np.ndarray, logs: np.ndarray, tol: float) -> np.ndarray:
    """Index into ``logs`` (signed log split factors) of the nearest match within tol, else -1."""
    if not len(lr):
        return np.zeros(0, dtype=int)
    with np.errstate(invalid="ignore"):
        dist = np.abs(lr[:, None] - logs[None, :])
    dist = np.where(np.isnan(dist), np.inf, dist)
    j = dist.argmin(axis=1)
    ok = dist[np.arange(len(lr)), j] < math.log1p(tol)
    return np.where(ok, j, -1)


def _ratio_words(r: float, k: float | None = None) -> str:
    """``"a 10:1 split"`` for a ratio near 1/10, ``"a 1:10 reverse split"`` near 10."""
    k = round(max(r, 1 / r)) if k is None else round(k)
    return f"a {k}:1 split" if r < 1 else f"a 1:{k} reverse split"


def _series_checks(df, cals, classes, *, stale_run, jump, split_tol, split_ratios, persist, zero_volume_run,
                   scale_tol):
    out: list[Finding] = []
    notes: list[str] = []
    ks = np.asarray(sorted(split_ratios), dtype=float)
    logs = np.concatenate([np.log(ks), -np.log(ks)])
    jump_lim = math.log1p(jump)
    cal_sessions: dict[str, np.ndarray] = {}
    outside_range = []
    d = df.sort_values(["source", "symbol", "date"], kind="stable")
    d = d.assign(_pcol=_price_column(d))
    has_origin = "origin" in d.columns
    for (src, sym), g in d.groupby(["source", "symbol"], sort=False):
        g = g[~g["date"].duplicated()]  # duplicates are reported by the row checks
        # ---- fields the source gives for this symbol but not on every row
        gd = g["date"].to_numpy()
        for f in FIELDS:
            miss = g[f].isna().to_numpy()
            if miss.any() and not miss.all():
                for a, b in _runs(miss):
                    n = b - a + 1
                    span = _day(gd[a]) + ("" if n == 1 else f" to {_day(gd[b])}")
                    out.append(_mk(WARNING, "missing_value", src, sym, gd[a], n,
                                   f"{f} missing on {n} row{'s' if n > 1 else ''} ({span}) although the source "
                                   f"gives {f} for {sym} elsewhere"))
        pcol = g["_pcol"].iat[0]
        g = g[g[pcol].notna()]
        if g.empty:
            continue
        cls = classes.get(sym, "equity")
        cal = cals.get(sym, XNYS)
        dates = g["date"].to_numpy()
        p = g[pcol].to_numpy()
        # ---- calendar: off-calendar bars and missing sessions
        if cal != CRYPTO:
            if cal not in cal_sessions:
                cal_sessions[cal] = sessions(cal, *_CAL_RANGE).to_numpy()
            sess = cal_sessions[cal]
            in_range = (dates >= np.datetime64(_CAL_RANGE[0])) & (dates <= np.datetime64(_CAL_RANGE[1]))
            if not in_range.all():
                outside_range.append(sym)
            off = in_range & ~_sorted_in(dates, sess)
            for i in np.flatnonzero(off):
                out.append(_mk(ERROR, "off_calendar", src, sym, dates[i], p[i],
                               f"bar on {pd.Timestamp(dates[i]).day_name()} {_day(dates[i])}, a day {cal} is closed"))
            dr = dates[in_range]
            expected = dr
            if len(dr):
                lo_i, hi_i = np.searchsorted(sess, dr[0]), np.searchsorted(sess, dr[-1], side="right")
                expected = sess[lo_i:hi_i]
        else:
            dr = dates
            expected = np.arange(dates[0], dates[-1] + np.timedelta64(1, "D"), np.timedelta64(1, "D")).astype(dates.dtype)
        if len(dr):
            miss = ~_sorted_in(expected, dr)
            unit = "day" if cal == CRYPTO else "session"
            for a, b in _runs(miss):
                n = b - a + 1
                span = _day(expected[a]) + ("" if n == 1 else f" to {_day(expected[b])}")
                out.append(_mk(WARNING, "missing_sessions", src, sym, expected[a], n,
                               f"{n} {unit}{'s' if n > 1 else ''} missing on {cal}: {span}"))
        # ---- stale runs of identical prices
        if len(p) >= stale_run:
            same = np.concatenate([[False], p[1:] == p[:-1]])
            for a, b in _runs(same):
                n = b - a + 2  # bars in the run, counting the first one
                if n >= stale_run:
                    out.append(_mk(WARNING, "stale_close", src, sym, dates[a - 1], p[a],
                                   f"{n} identical {pcol} values {p[a]:g} from {_day(dates[a - 1])} to {_day(dates[b])}"))
        # ---- zero volume
        vol = g["volume"].to_numpy()
        for a, b in _runs(vol == 0):
            n = b - a + 1
            if n >= zero_volume_run:
                span = _day(dates[a]) + ("" if n == 1 else f" to {_day(dates[b])}")
                out.append(_mk(WARNING, "zero_volume", src, sym, dates[a], n,
                               f"volume 0 on {n} bar{'s' if n > 1 else ''}: {span}"))
        if cls == "rate" or len(p) < 2:
            continue
        # ---- jumps, between positive prices: a price <= 0 is an error of its own (non_positive)
        # and the move around it is measured from the last positive bar, as across a gap
        pos = p > 0
        if not pos.all():
            g, dates, p = g[pos], dates[pos], p[pos]
            if len(p) < 2:
                continue
        with np.errstate(over="ignore", divide="ignore"):
            lr = np.log(p[1:] / p[:-1])
        for j in np.flatnonzero(np.abs(lr) > jump_lim):
            i = j + 1
            ret = math.expm1(lr[j]) if lr[j] < 700 else math.inf  # a price near 0 and back: x1e300
            out.append(_mk(WARNING, "extreme_jump", src, sym, dates[i], ret,
                           f"{pcol} {p[j]:g} -> {p[i]:g} ({ret:+.1%}) since {_day(dates[j])}"))
        if cls in _NO_SPLIT_CLASSES:
            continue
        origin = g["origin"].to_numpy() if has_origin else None
        out += _split_checks(src, sym, g, pcol, dates, p, lr, logs, split_tol, persist, origin, scale_tol)
    if outside_range:
        notes.append(f"calendar checks skipped before {_CAL_RANGE[0].date()} / after {_CAL_RANGE[1].date()} "
                     f"(exchange calendars known 1990-2030): {', '.join(sorted(set(outside_range)))}")
    return out, notes


def _ordinary_sd(lr: np.ndarray, j: int, window: int = 63) -> float:
    """Robust daily standard deviation of log returns around position ``j`` (excluded):
    1.4826 x the median absolute deviation over ``window`` bars on either side (the whole
    series when that holds fewer than 10 returns); NaN with fewer than 5."""
    ref = np.concatenate([lr[max(0, j - window):j], lr[j + 1:j + 1 + window]])
    ref = ref[np.isfinite(ref)]
    if len(ref) < 10:
        ref = np.delete(lr, j)
        ref = ref[np.isfinite(ref)]
    if len(ref) < 5:
        return math.nan
    return float(1.4826 * np.median(np.abs(ref - np.median(ref))))


def _split_candidates(lr: np.ndarray, logs: np.ndarray, split_tol) -> tuple[np.ndarray, np.ndarray]:
    """Per return: index into ``logs`` of the split factor it matches (-1: none), and the
    daily standard deviation used (NaN where not a candidate). ``split_tol`` is
    (floor, number of standard deviations, cap), the floor and cap relative."""
    lo, n_sd, hi = split_tol
    m = _split_match(lr, logs, hi)
    sd = np.full(len(lr), np.nan)
    for j in np.flatnonzero(m >= 0):
        sd[j] = _ordinary_sd(lr, j)
        tol = math.log1p(lo) if not np.isfinite(sd[j]) else min(max(n_sd * sd[j], math.log1p(lo)), math.log1p(hi))
        if abs(lr[j] - logs[m[j]]) >= tol:
            m[j] = -1
    return m, sd


def _factor(r: float, k: float) -> float:
    """Split factor as new shares per old: k for a k:1 split (price / k), 1/k for a reverse split."""
    return float(round(k)) if r < 1 else 1.0 / round(k)


def _residual_words(lr_j: float, log_factor: float, sd: float) -> str:
    res = lr_j - log_factor
    in_sd = f", {res / sd:+.1f} daily s.d." if np.isfinite(sd) and sd > 0 else ""
    return f"with a same-day move of {math.expm1(res):+.1%}{in_sd}"


def _split_checks(src, sym, g, pcol, dates, p, lr, logs, split_tol, persist, origin, scale_tol) -> list[Finding]:
    """Split-like one-day moves of one series (see the module docstring)."""
    out: list[Finding] = []
    other = "close" if pcol == "adj_close" else None
    q = g["close"].to_numpy() if other else None
    independent = q is not None and np.isfinite(q).any() and not np.allclose(q, p, equal_nan=True)
    lq = None
    if independent:
        with np.errstate(divide="ignore", invalid="ignore"):
            lq = np.log(q[1:] / q[:-1])
        # the other column jumps by a split factor while the price column does not
        mq, sdq = _split_candidates(lq, logs, split_tol)
        for j in np.flatnonzero(mq >= 0):
            k = abs(logs[mq[j]])
            if np.isfinite(lr[j]) and abs(lr[j]) < k / 2:
                i = j + 1
                r = math.exp(lq[j])
                words = _ratio_words(r, math.exp(k))
                out.append(_mk(ERROR, "split_unadjusted", src, sym, dates[i], r,
                               f"{other} {q[j]:g} -> {q[i]:g} (x{r:.4g}, like {words}, ratio "
                               f"{_factor(r, math.exp(k)):g}) while {pcol} moves {math.expm1(lr[j]):+.1%}: "
                               f"{other} is not adjusted for the split", ratio=_factor(r, math.exp(k))))
    m, sd = _split_candidates(lr, logs, split_tol)
    seam = np.zeros(len(lr), dtype=bool)
    if origin is not None:
        seam = origin[1:] != origin[:-1]
        ms = _split_match(lr, logs, scale_tol)
        m = np.where(seam & (ms >= 0), ms, m)
    opens = g["open"].to_numpy()
    closes = g["close"].to_numpy()
    for j in np.flatnonzero(m >= 0):
        i = j + 1
        k = abs(logs[m[j]])
        r = math.exp(lr[j])
        words = _ratio_words(r, math.exp(k))
        factor = _factor(r, math.exp(k))
        if seam[j]:
            out.append(_mk(ERROR, "split_jump", src, sym, dates[i], r,
                           f"{pcol} {p[j]:g} -> {p[i]:g} (x{r:.4g}) where the series passes from {origin[j]} to "
                           f"{origin[i]}: matches {words} (ratio {factor:g}): the sources are adjusted differently "
                           f"(or hold different instruments)", ratio=factor))
            continue
        if lq is not None and np.isfinite(lq[j]) and abs(lq[j]) < k / 2:
            out.append(_mk(ERROR, "split_unadjusted", src, sym, dates[i], r,
                           f"{pcol} {p[j]:g} -> {p[i]:g} (x{r:.4g}, like {words}, ratio {factor:g}) while close "
                           f"moves {math.expm1(lq[j]):+.1%}: {pcol} is not adjusted consistently", ratio=factor))
            continue
        # plausibility guards: not the return leg of a one-bar spike, the new level holds,
        # and the bar trades at it (open near close)
        if j >= 1 and np.isfinite(p[j - 1]) and abs(math.log(p[i] / p[j - 1])) < k / 2:
            continue
        after = p[i + 1:i + 1 + persist]
        with np.errstate(divide="ignore", invalid="ignore"):
            back = np.log(after / p[j]) * np.sign(lr[j])
        if len(after) and np.any(back < k / 2):
            continue
        if np.isfinite(opens[i]) and np.isfinite(closes[i]) and opens[i] > 0 and closes[i] > 0:
            if abs(math.log(opens[i] / closes[i])) > _GAP_OPEN_TOL:
                continue
        both = " (close jumps too)" if lq is not None else ""
        surprise = abs(lr[j]) / sd[j] if np.isfinite(sd[j]) and sd[j] > 0 else math.inf
        sev, tail = ERROR, ": unadjusted split or spliced sources"
        if surprise < _SPLIT_SURPRISE and abs(lr[j] - logs[m[j]]) > _SPLIT_EXACT:
            sev = WARNING
            tail = (f"; a move of {surprise:.0f} daily s.d. is not rare for {sym}, so it may be real: check "
                    f"against a corporate-actions source")
        out.append(_mk(sev, "split_jump", src, sym, dates[i], r,
                       f"{pcol} {p[j]:g} -> {p[i]:g} (x{r:.4g}) on {_day(dates[i])} matches {words} (ratio "
                       f"{factor:g}) {_residual_words(lr[j], logs[m[j]], sd[j])} and holds{both}{tail}",
                       ratio=factor))
    return out


def _cross_source(df, classes, *, scale_tol, split_ratios, disagree, min_overlap) -> list[Finding]:
    """Compare price levels of the same symbol across sources on common dates."""
    out: list[Finding] = []
    ks = np.asarray(sorted(split_ratios), dtype=float)
    logs = np.concatenate([np.log(ks), -np.log(ks)])
    lim = math.log1p(disagree)
    d = df[~df.duplicated(["source", "symbol", "date"])]
    nsrc = d.groupby("symbol")["source"].nunique()
    multi = [s for s in nsrc.index[nsrc.to_numpy() > 1] if classes.get(s) != "rate"]
    d = d[d["symbol"].isin(multi)].sort_values(["symbol", "source", "date"])
    for sym, g in d.groupby("symbol", sort=True):
        per = {}
        for src_name, h in g.groupby("source", sort=True):
            per[src_name] = (h["date"].to_numpy(), h["close"].to_numpy(), h["adj_close"].to_numpy())
        srcs = list(per)
        for ai in range(len(srcs)):
            for bi in range(ai + 1, len(srcs)):
                a, b = srcs[ai], srcs[bi]
                (xd, xc, xa), (yd, yc, ya) = per[a], per[b]
                common, ix, iy = np.intersect1d(xd, yd, assume_unique=True, return_indices=True)
                if len(common) < min_overlap:
                    continue
                col = None
                for c, xv, yv in (("close", xc, yc), ("adj_close", xa, ya)):
                    if np.isfinite(xv[ix]).any() and np.isfinite(yv[iy]).any():
                        col, xs, ys = c, xv[ix], yv[iy]
                        break
                if col is None:
                    continue
                with np.errstate(divide="ignore", invalid="ignore"):
                    lr = np.log(xs / ys)
                ok = np.isfinite(lr)
                lr, cd = lr[ok], pd.DatetimeIndex(common[ok])
                if len(lr) < min_overlap:
                    continue
                m = _split_match(lr, logs, scale_tol)
                cls = np.where(m >= 0, m, np.where(np.abs(lr) > lim, -2, -1))
                # runs of the same class
                edges = np.flatnonzero(np.diff(cls)) + 1
                starts = np.concatenate([[0], edges])
                ends = np.concatenate([edges, [len(cls)]]) - 1
                for s0, e0 in zip(starts, ends):
                    c0 = cls[s0]
                    n = e0 - s0 + 1
                    if c0 == -1 or n < min_overlap:
                        continue
                    ratio = float(np.exp(np.median(lr[s0:e0 + 1])))
                    span = f"{n} common dates {cd[s0].date()} to {cd[e0].date()}"
                    if c0 >= 0:
                        k = math.exp(abs(logs[c0]))
                        out.append(_mk(ERROR, "source_scale", f"{a} vs {b}", sym, cd[s0], ratio,
                                       f"{col} in {a} is x{ratio:.4g} {col} in {b} on {span}: a {k:g}:1 split "
                                       f"is adjusted in one source and not the other; splicing them makes a jump"))
                    else:
                        out.append(_mk(WARNING, "source_disagree", f"{a} vs {b}", sym, cd[s0], ratio,
                                       f"{col} in {a} is x{ratio:.4g} {col} in {b} on {span}"))
    return out


# ---------------------------------------------------------------------------- files and store
def check(paths: Sequence | None = None, *, store=None, calendars: Mapping[str, str] | None = None, universe=None,
          priority: Sequence[str] | None = None, plan=None, symbols: Iterable[str] | None = None,
          **options) -> ValidationReport:
    """Validate files, or the store when no file is given (what ``computefolio data check`` runs).

    Parameters
    ----------
    paths : sequence of path, optional
        Long-format files; each file is one source (named by its file name).
    store : Store or path, optional
        The store to check when ``paths`` is empty (default: the default store).
    calendars, universe
        See :func:`validate`.
    priority : sequence of str, optional
        Also validate the series spliced from these sources in this order
        (:func:`~computefolio.data.sources.splice`): the jumps a splice creates are
        reported with source ``"splice"``.
    plan : SourcePlan or path, optional
        Also validate the series the plan selects (source ``"plan"``). When checking
        the store with neither ``priority`` nor ``plan``, its stored plan (if any) is used.
    symbols : iterable of str, optional
        Check only these symbols.
    **options
        Passed to :func:`validate`.
    """
    from .sources import read_long, select_plan, splice, SourcePlan

    if paths:
        from pathlib import Path

        parts = [read_long(p).assign(source=Path(p).name) for p in paths]
        df = pd.concat(parts, ignore_index=True)
        if symbols is not None:
            df = df[df["symbol"].isin(list(symbols))]
    else:
        from .store import Store

        st = store if isinstance(store, Store) else Store(store, read_only=True)
        df = st.prices(symbols=symbols)
        if plan is None and priority is None:
            plan = st.plan()  # the stored plan: check the series market() would build
    if df.empty:
        raise DataError("nothing to check: no rows" + (" for the requested symbols" if symbols is not None else ""))
    rep = validate(df, calendars, universe, **options)
    if priority:
        sp = splice(df, priority)
        sp = sp.assign(origin=sp["source"], source="splice")
        rep.extend(validate(sp, calendars, universe, **options))
    if plan is not None:
        if not isinstance(plan, SourcePlan):
            plan = SourcePlan.from_csv(plan)
        have = set(df["source"].unique())
        missing = sorted({r.file for r in plan.rules} - have)
        if missing:
            rep.notes.append(f"source plan: files not among the checked sources, their rules skipped: {', '.join(missing)}")
        rules = [r for r in plan.rules if r.file in have and (symbols is None or r.symbol in set(symbols))]
        if rules:
            sel = select_plan(df, SourcePlan(rules))
            sel = sel.assign(origin=sel["source"], source="plan")
            rep.extend(validate(sel, calendars, universe, **options))
    return rep
