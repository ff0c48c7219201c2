"""Stress library: historical windows replayed on today's weights, and hypothetical shocks.

Scenarios live in YAML (the shipped ``resources/scenarios.yaml``; its header states the
rules). Two kinds:

``historical``
    Each asset's return is its cumulative simple return over the periods after
    ``start`` (the baseline close) up to and including ``end`` (or only ``days``), on the
    returns' basis (session by default: XNYS sessions, crypto compounded over weekends
    into the next session; crypto bars close 00:00 UTC, a few hours after the New York
    close of the same date label). An asset missing a return on any period of the
    window is given a *proxy*: its universe ``proxy`` (followed down the chain while
    the proxy has no data either), else the membership-weighted average of its layers
    over assets with data (each layer's average weighted by membership), else the
    average of its sleeve; else 0 with a note. Every proxy used is reported.
``hypothetical``
    Shocks per layer, theme, sleeve, asset_class or asset (simple returns). An asset's
    shock is the sum over taxonomies of membership-weighted shocks; an ``asset`` shock
    replaces the rest. An optional ``correlation`` block forces the correlation between
    two groups and reports volatility and Gaussian VaR under it, and (``propagate``)
    gives unshocked held assets their conditional mean given the shocked ones.

P&L is ``weight x return`` (fraction of capital) and ``x capital`` (currency), by asset
and by layer (weighted membership).

**Real history on every market.** The real returns of every historical window are
shipped (``resources/scenario_returns.json``, written by ``scripts/record_scenarios.py``
from the real files). A market that covers the window with real prices replays its own;
an asset it lacks there takes its recorded return before any proxy; the simulated sample
market replays the recorded returns only (a simulated "DeepSeek day" would mislead).
``StressResult.source`` says which (``market``, ``recorded`` or ``market+recorded``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config import check_values, line_of, read_yaml, validation_to_config_error
from ..data.market import annualization
from ..errors import ConfigError, DataError, ItemFieldError
from .portfolio import DEFAULT_CAPITAL, check_weights

__all__ = ["HistoricalScenario", "HypotheticalScenario", "Shocks", "CorrelationStress", "load_scenarios",
           "default_scenarios_path", "StressResult", "stress_test", "run_stress", "window_returns", "load_recorded",
           "default_recorded_path"]

TAXONOMIES = ("layer", "theme", "sleeve", "asset_class", "asset")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_shock(v: dict[str, float]) -> dict[str, float]:
    for k, s in v.items():
        if not -1.0 <= s <= 10.0:
            raise ValueError(f"shock of '{k}' must be a simple return in [-1, 10], got {s}")
    return v


class Shocks(_Strict):
    """Shocks as simple returns per group id (``-0.3`` = -30%)."""

    layer: dict[str, float] = Field(default_factory=dict)
    theme: dict[str, float] = Field(default_factory=dict)
    sleeve: dict[str, float] = Field(default_factory=dict)
    asset_class: dict[str, float] = Field(default_factory=dict)
    asset: dict[str, float] = Field(default_factory=dict)

    _v = field_validator("layer", "theme", "sleeve", "asset_class", "asset")(_check_shock)


class CorrelationStress(_Strict):
    """Force the correlation between two groups of a taxonomy to ``value``."""

    between: tuple[str, str]
    by: Literal["sleeve", "asset_class", "layer"] = "sleeve"
    value: float = Field(ge=-1.0, le=1.0)
    propagate: bool = True


class HistoricalScenario(_Strict):
    name: str = Field(min_length=1)
    kind: Literal["historical"]
    title: str
    description: str = ""
    start: dt.date
    end: dt.date
    days: list[dt.date] | None = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ItemFieldError(f"scenario {self.name}", "end", f"a date after start {self.start} (got {self.end})")
        for d in self.days or []:
            if not self.start < d <= self.end:
                raise ItemFieldError(f"scenario {self.name}", "days", f"dates in ({self.start}, {self.end}], got {d}")
        return self


class HypotheticalScenario(_Strict):
    name: str = Field(min_length=1)
    kind: Literal["hypothetical"]
    title: str
    description: str = ""
    shocks: Shocks
    correlation: CorrelationStress | None = None


Scenario = Union[HistoricalScenario, HypotheticalScenario]
_KINDS = {"historical": HistoricalScenario, "hypothetical": HypotheticalScenario}


def default_scenarios_path() -> Path:
    """The shipped ``resources/scenarios.yaml``."""
    return Path(str(resources.files("computefolio") / "resources" / "scenarios.yaml"))


def _parse_item(raw, i: int, file: str | None):
    name = raw.get("name") if isinstance(raw, dict) else None
    item = f"scenario {name}" if name else f"scenario #{i + 1}"
    at = ("scenarios", i)
    if not isinstance(raw, dict):
        raise ConfigError(file, "(item)", "a mapping with name, kind, title, ...", item=item, line=line_of(file, at))
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ConfigError(file, "kind", f"'historical' or 'hypothetical' (got {kind!r})", item=item,
                          line=line_of(file, at + ("kind",)))
    try:
        out = _KINDS[kind].model_validate(raw)
    except ValidationError as exc:
        err = validation_to_config_error(exc, raw, file, prefix=at)
        raise ConfigError(file, err.field, err.expected, item=err.item or item, line=err.line) from None
    try:
        check_values(out, raw, file, None)  # finite numbers, dates in range
    except ConfigError as err:
        raise ConfigError(file, err.field, err.expected, item=item, line=line_of(file, at)) from None
    return out


def load_scenarios(path: str | Path | None = None, universe=None) -> list[Scenario]:
    """Read a scenarios YAML (the shipped one when ``path`` is None).

    With ``universe``, every group and asset named in a shock or correlation block must exist.

    Raises
    ------
    ConfigError
        One line naming the file, the scenario and the field.
    """
    p = default_scenarios_path() if path is None else Path(path)
    raw = read_yaml(p, aliases=True)  # shocks repeated across scenarios may share an anchor
    return scenarios_from_dict(raw, str(p), universe)


def scenarios_from_dict(raw, file: str | None = None, universe=None) -> list[Scenario]:
    """Validate in-memory scenario definitions (same schema as the YAML file)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("scenarios"), list):
        raise ConfigError(file, "scenarios", "a list of scenarios under the top-level key 'scenarios'")
    extra = [k for k in raw if k != "scenarios"]
    if extra:
        raise ConfigError(file, str(extra[0]), "is not a known field (the file holds 'scenarios' only)",
                          line=line_of(file, (extra[0],)))
    out = [_parse_item(item, i, file) for i, item in enumerate(raw["scenarios"])]
    seen = set()
    for i, s in enumerate(out):
        if s.name in seen:
            raise ConfigError(file, "name", "unique scenario names (duplicate)", item=f"scenario {s.name}",
                              line=line_of(file, ("scenarios", i, "name")))
        seen.add(s.name)
    if universe is not None:
        for i, s in enumerate(out):
            _check_against_universe(s, universe, file, i)
    return out


def _check_against_universe(s, universe, file, i: int = 0):
    if not isinstance(s, HypotheticalScenario):
        return
    item = f"scenario {s.name}"
    for by in TAXONOMIES:
        known = set(universe.symbols) if by == "asset" else set(universe.groups(by))
        for g in getattr(s.shocks, by):
            if g not in known:
                raise ConfigError(file, f"shocks.{by}.{g}", f"a {by} of the universe ({', '.join(sorted(known)[:8])}, ...)",
                                  item=item, line=line_of(file, ("scenarios", i, "shocks", by, g)))
    if s.correlation is not None:
        known = set(universe.groups(s.correlation.by))
        for g in s.correlation.between:
            if g not in known:
                raise ConfigError(file, "correlation.between", f"{s.correlation.by} ids of the universe, got {g!r}",
                                  item=item, line=line_of(file, ("scenarios", i, "correlation", "between")))


# ----------------------------------------------------------------------------- results
@dataclass
class StressResult:
    """P&L of the book in one scenario.

    ``by_asset``: DataFrame indexed by symbol, columns ``weight`` (fraction of capital),
    ``return`` (simple, over the scenario), ``pnl_pct`` (fraction of capital), ``pnl``
    (currency), ``source`` ("data", "proxy ETH", "layer average", "shock", ...).
    ``by_layer``: DataFrame indexed by layer, ``exposure``, ``pnl_pct``, ``pnl``.
    """

    name: str
    kind: str
    title: str
    description: str
    pnl_pct: float
    capital: float
    currency: str
    basis: str | None
    by_asset: pd.DataFrame
    by_layer: pd.DataFrame
    start: str | None = None
    end: str | None = None
    periods: int | None = None
    proxies: dict = field(default_factory=dict)
    stressed_risk: dict | None = None
    source: str | None = None

    @property
    def pnl(self) -> float:
        return self.pnl_pct * self.capital

    def to_dict(self) -> dict:
        def rows(df):
            return {str(k): {c: (v if isinstance(v, str) else (None if pd.isna(v) else float(v)))
                             for c, v in r.items()} for k, r in df.iterrows()}

        return {"name": self.name, "kind": self.kind, "title": self.title, "description": self.description,
                "pnl_pct": self.pnl_pct, "pnl": self.pnl, "capital": self.capital, "currency": self.currency,
                "basis": self.basis, "start": self.start, "end": self.end, "periods": self.periods,
                "proxies": self.proxies, "stressed_risk": self.stressed_risk, "source": self.source,
                "by_asset": rows(self.by_asset), "by_layer": rows(self.by_layer)}


# ----------------------------------------------------------------------------- historical
def window_returns(returns: pd.DataFrame, start, end, days=None) -> tuple[pd.Series, int, pd.DatetimeIndex]:
    """Cumulative simple return per symbol over periods in ``(start, end]`` (or ``days``).

    A symbol missing a return on any period of the window gets NaN.
    Returns (series, number of periods, the periods used).
    """
    idx = returns.index
    sel = (idx > pd.Timestamp(start)) & (idx <= pd.Timestamp(end))
    if days:
        sel &= idx.isin(pd.DatetimeIndex([pd.Timestamp(d) for d in days]))
    sub = returns.loc[sel]
    if len(sub) == 0:
        return pd.Series(np.nan, index=returns.columns), 0, sub.index
    x = sub.to_numpy(float)
    cum = np.prod(1.0 + x, axis=0) - 1.0  # NaN if any period is NaN
    return pd.Series(cum, index=returns.columns), len(sub), sub.index


def _proxy_returns(held: list[str], cum: pd.Series, universe) -> tuple[pd.Series, dict]:
    """Fill held assets without data in the window by proxy chain, layer average, sleeve average."""
    have = cum.dropna()
    out = cum.reindex(held)
    notes: dict[str, str] = {}
    if universe is None:
        for s in held:
            if pd.isna(out[s]):
                out[s] = 0.0
                notes[s] = "no data and no universe: 0 assumed"
        return out, notes
    in_u = [s for s in have.index if s in universe]
    lay = universe.membership("layer", symbols=in_u) if in_u else None
    if lay is not None:
        mw = lay.to_numpy()
        den = mw.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            layer_avg = pd.Series(mw.T @ have.loc[in_u].to_numpy() / den, index=lay.columns)
    else:
        layer_avg = pd.Series(dtype=float)
    for s in held:
        if not pd.isna(out[s]):
            continue
        if s not in universe:
            out[s] = 0.0
            notes[s] = "no data, not in the universe: 0 assumed"
            continue
        a = universe.asset(s)
        chain: list[str] = []
        p = a.proxy
        while p is not None and p not in have.index and p not in chain and p != s:
            chain.append(p)
            p = universe.asset(p).proxy if p in universe else None
        if p is not None and p in have.index:
            out[s] = float(have[p])
            notes[s] = f"proxy {p}" + (f" (via {' -> '.join(chain)})" if chain else "")
            continue
        lw = pd.Series(a.classification_at(None).layers)
        avail = [l for l in lw.index if l in layer_avg.index and np.isfinite(layer_avg[l])]
        if avail:
            ww = lw[avail] / lw[avail].sum()
            out[s] = float((ww * layer_avg[avail]).sum())
            notes[s] = "layer average (" + ", ".join(avail) + ")"
            continue
        peers = [q for q in in_u if universe.asset(q).sleeve == a.sleeve]
        if peers:
            out[s] = float(have[peers].mean())
            notes[s] = f"sleeve average ({a.sleeve})"
            continue
        out[s] = 0.0
        notes[s] = "no data and no proxy with data: 0 assumed"
    return out, notes


def _by_asset(w: pd.Series, ret: pd.Series, src: pd.Series, capital: float) -> pd.DataFrame:
    """Weight, scenario return, P&L (fraction of capital and currency) and the return's source per asset."""
    pnl_pct = w * ret
    return pd.DataFrame({"weight": w, "return": ret, "pnl_pct": pnl_pct, "pnl": pnl_pct * capital, "source": src})


def _by_layer(w: pd.Series, ret: pd.Series, universe, capital: float) -> pd.DataFrame:
    contrib = w * ret
    if universe is None:
        return pd.DataFrame({"exposure": [w.sum()], "pnl_pct": [contrib.sum()]}, index=["all"]).assign(
            pnl=lambda d: d.pnl_pct * capital)
    from .decompose import aggregate

    df = pd.DataFrame({"exposure": aggregate(w, universe, "layer"), "pnl_pct": aggregate(contrib, universe, "layer")})
    df["pnl"] = df["pnl_pct"] * capital
    return df.sort_values("pnl_pct")


def default_recorded_path() -> Path:
    """Path of the shipped recorded scenario returns (``resources/scenario_returns.json``)."""
    return Path(str(resources.files("computefolio") / "resources" / "scenario_returns.json"))


_RECORDED: dict = {}


def load_recorded(path: str | Path | None = None) -> dict:
    """The recorded real returns of the historical scenarios (see :mod:`scripts/record_scenarios.py`).

    Returns ``{}`` when the file is absent (stress then uses the market alone and says so).
    """
    import json

    p = Path(path) if path is not None else default_recorded_path()
    key = str(p)
    if key not in _RECORDED:
        try:
            _RECORDED[key] = json.loads(p.read_text(encoding="utf-8")).get("scenarios", {}) if p.is_file() else {}
        except (OSError, ValueError) as exc:
            raise DataError(f"{p}: recorded scenario returns unreadable ({exc})") from None
    return _RECORDED[key]


def _historical(s: HistoricalScenario, w, returns, universe, capital, currency, recorded=None,
                simulated: bool = False):
    basis = (returns.attrs or {}).get("basis") or "session"
    rec = ((recorded or {}).get(s.name) or {}).get("bases", {}).get(basis)
    held = list(w.index)
    cum, n, used = window_returns(returns, s.start, s.end, s.days)
    notes: dict[str, str] = {}
    if simulated or n == 0:
        if rec is None:
            if n == 0:
                raise DataError(f"scenario {s.name}: no periods of data between {s.start} and {s.end}, and no "
                                f"recorded real returns for it")
            raise DataError(f"scenario {s.name}: the market is simulated and no real returns are recorded for it "
                            f"(run scripts/record_scenarios.py)")
        # replay the recorded real window; an asset not recorded stands in by its layer's or sleeve's recorded mean
        cum = pd.Series(rec["assets"], dtype=float).reindex(sorted(set(held) | set(rec["assets"])))
        source, n, first, last = "recorded", int(rec["periods"]), rec["first"], rec["last"]
        ret, notes = _proxy_returns(held, cum, universe)
        srcs = {h: ("recorded" if h in rec["assets"] else notes.get(h, "")) for h in held}
    else:
        first, last = str(used[0].date()), str(used[-1].date())
        source = "market"
        if rec is not None and rec.get("first") == first and rec.get("last") == last:
            # assets the market lacks over the window take their recorded real return before any proxy
            fill = [h for h in held if pd.isna(cum.get(h, np.nan)) and h in rec["assets"]]
            if fill:
                cum = cum.copy()
                for h in fill:
                    cum[h] = rec["assets"][h]
                source = "market+recorded"
        else:
            fill = []
        ret, notes = _proxy_returns(held, cum, universe)
        srcs = {h: ("recorded" if h in fill else notes.get(h, "data")) for h in held}
    src = pd.Series(srcs)
    by_asset = _by_asset(w, ret, src, capital)
    return StressResult(s.name, "historical", s.title, s.description, float((w * ret).sum()), capital, currency,
                        basis, by_asset, _by_layer(w, ret, universe, capital),
                        start=first, end=last, periods=n, proxies=notes, source=source)


# ----------------------------------------------------------------------------- hypothetical
def _shock_vector(s: HypotheticalScenario, symbols: list[str], universe) -> tuple[pd.Series, pd.Series]:
    total = pd.Series(0.0, index=symbols)
    direct = pd.Series(False, index=symbols)
    in_u = [x for x in symbols if universe is not None and x in universe]
    for by in ("layer", "theme", "sleeve", "asset_class"):
        shocks = getattr(s.shocks, by)
        if not shocks or not in_u:
            continue
        m = universe.membership(by, symbols=in_u)
        sv = pd.Series(shocks).reindex(m.columns).fillna(0.0)
        add = m.to_numpy() @ sv.to_numpy()
        total.loc[in_u] += add
        direct.loc[in_u] |= (m.to_numpy() @ (sv.to_numpy() != 0).astype(float)) > 0
    for sym, v in s.shocks.asset.items():
        if sym in total.index:
            total[sym] = v
            direct[sym] = True
    return total, direct


def _hypothetical(s: HypotheticalScenario, w, returns, universe, capital, currency, confidence=0.99):
    held = list(w.index)
    shock, direct = _shock_vector(s, held, universe)
    src = pd.Series(np.where(direct, "shock", "no shock"), index=held, dtype=object)
    stressed = None
    if s.correlation is not None:
        if returns is None or universe is None:
            raise DataError(f"scenario {s.name}: a correlation stress needs returns and a universe")
        stressed, shock, src = _correlation_stress(s, w, returns, universe, shock, direct, src, confidence)
    ret = shock
    by_asset = _by_asset(w, ret, src, capital)
    return StressResult(s.name, "hypothetical", s.title, s.description, float((w * ret).sum()), capital, currency,
                        (returns.attrs or {}).get("basis") if returns is not None else None, by_asset,
                        _by_layer(w, ret, universe, capital), stressed_risk=stressed)


def _correlation_stress(s, w, returns, universe, shock, direct, src, confidence):
    from scipy import stats

    from .covariance import PairwiseShrunkCovariance, cov_to_corr, nearest_psd

    c = s.correlation
    held = list(w.index)
    est = PairwiseShrunkCovariance().fit(returns.loc[:, held].dropna(how="all"))
    cov = est.covariance_.to_numpy()
    corr = cov_to_corr(cov)
    m = universe.membership(c.by, symbols=held)
    ga = m[c.between[0]].to_numpy() > 0
    gb = m[c.between[1]].to_numpy() > 0
    block = np.outer(ga, gb) | np.outer(gb, ga)
    corr_s = corr.copy()
    corr_s[block] = c.value
    np.fill_diagonal(corr_s, 1.0)
    corr_s = nearest_psd(corr_s, 1e-8)
    d = np.sqrt(np.diag(cov))
    cov_s = corr_s * np.outer(d, d)
    wv = w.to_numpy()
    ppy = est.periods_per_year_ or annualization(returns)  # never a guessed 252 (raises without a basis)
    z = stats.norm.ppf(confidence)
    vol0 = float(np.sqrt(wv @ cov @ wv))
    vol1 = float(np.sqrt(wv @ cov_s @ wv))
    out = {"between": list(c.between), "by": c.by, "value": c.value,
           "mean_block_correlation_before": float(corr[block].mean()) if block.any() else None,
           "volatility_annualized_before": float(vol0 * np.sqrt(ppy)),
           "volatility_annualized_stressed": float(vol1 * np.sqrt(ppy)),
           "gaussian_var_pct_before": float(z * vol0), "gaussian_var_pct_stressed": float(z * vol1),
           "confidence": confidence, "horizon_periods": 1, "periods_per_year": ppy,
           "covariance": est.describe(), "propagated": []}
    if c.propagate:
        sh = direct.to_numpy()
        un = ~sh
        if sh.any() and un.any():
            css = cov_s[np.ix_(sh, sh)]
            cus = cov_s[np.ix_(un, sh)]
            cond = cus @ np.linalg.solve(css + 1e-12 * np.eye(sh.sum()), shock.to_numpy()[sh])
            shock = shock.copy()
            src = src.copy()
            for sym, v in zip(np.asarray(held)[un], cond):
                shock[str(sym)] = float(v)
                src[str(sym)] = "conditional mean under stressed correlation"
                out["propagated"].append(str(sym))
    return out, shock, src


# ----------------------------------------------------------------------------- public
def stress_test(weights: pd.Series, scenario: Scenario, returns: pd.DataFrame | None = None, universe=None, *,
                capital: float = DEFAULT_CAPITAL, currency: str | None = None,
                confidence: float = 0.99, recorded: dict | None = None, simulated: bool = False) -> StressResult:
    """P&L of a book (fractions of capital) in one scenario.

    ``returns``: per-period simple returns on one basis (needed for historical scenarios and
    correlation stress), e.g. ``market.returns("session")``.
    ``recorded``: the recorded real window returns (:func:`load_recorded`; default: the
    shipped ones). ``simulated``: the returns come from a simulated market, so historical
    windows replay the recorded real returns instead (module docstring).
    """
    if recorded is None:
        recorded = load_recorded()
    w = check_weights(weights)
    w = w[w != 0]
    cur = currency or ((returns.attrs or {}).get("currency") if returns is not None else None) or "USD"
    if isinstance(scenario, HistoricalScenario):
        if returns is None:
            raise DataError(f"scenario {scenario.name}: historical replay needs returns")
        return _historical(scenario, w, returns, universe, float(capital), cur, recorded, simulated)
    return _hypothetical(scenario, w, returns, universe, float(capital), cur, confidence)


def run_stress(weights: pd.Series, returns: pd.DataFrame | None = None, universe=None, scenarios=None, *,
               capital: float = DEFAULT_CAPITAL, currency: str | None = None,
               confidence: float = 0.99) -> list[StressResult]:
    """Every scenario (default: the shipped library) on the book; see :func:`stress_test`.

    ``scenarios``: list of scenario models, a path to a YAML file, or None.
    """
    if scenarios is None or isinstance(scenarios, (str, Path)):
        scenarios = load_scenarios(scenarios, universe)
    return [stress_test(weights, s, returns, universe, capital=capital, currency=currency, confidence=confidence)
            for s in scenarios]
