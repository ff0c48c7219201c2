"""The mandate: rules every book must obey, from a YAML file validated by pydantic.

Example (``resources/mandate_default.yaml`` is the shipped one)::

    name: default
    long_only: true
    gross_leverage_max: 1.0
    cash_min: 0.02
    assets: {max: 0.08, min: 0.0, overrides: {BTC: {max: 0.20}}}
    groups:
      - {by: sleeve, group: digital_assets, min: 0.2, max: 0.5}
      - {by: layer, group: miners, max: 0.10}
    turnover_max: 0.20        # one-way, per rebalance, against current weights
    liquidity: {max_adv_fraction: 0.10, max_days_to_liquidate: 5, participation: 0.2}
    restricted: [GBTC]
    compute_exposure_min: 0.5 # weighted average compute score of the invested book
    risk_budgets: {by: sleeve, budgets: {digital_assets: 0.35, ai_equities: 0.65}, inner: erc}

Meaning of each rule (weights ``w`` are fractions of capital, cash is ``1 - sum(w)``)
-------------------------------------------------------------------------------------
``long_only``
    ``w_i >= 0``.
``gross_leverage_max``
    ``sum |w_i| <= L``.
``cash_min``
    Cash ``>= cash_min``. Allocators invest exactly the *invested fraction*
    ``min(1 - cash_min, gross_leverage_max)`` (long-only) or ``1 - cash_min``
    (long-short, net), the ``budget`` rule -- unless the other rules cannot hold at that
    fraction (every asset at its cap): then they invest the most the rules allow and the
    rest is cash, said in the allocator's ``status_`` and ``cash_note_``.
``assets``
    ``min <= w_i <= max`` for every asset; ``overrides`` replace them per symbol.
``groups``
    Look-through exposure ``sum_i M_ig w_i`` within ``[min, max]``, where ``M`` is
    :meth:`Universe.membership` of the taxonomy field ``by`` as of the fit date
    (weighted: a miner 60% ``miners`` / 40% ``ai_hosting`` counts 0.6 of its weight
    in ``miners``).
``turnover_max``
    One-way turnover ``0.5 * sum_i |w_i - w0_i| <= turnover_max`` against the
    current weights ``w0`` (symbols absent from either side count as 0, sells of
    excluded holdings included). Not applied when no current weights are given.
``liquidity``
    With ADV (average daily traded value, currency) and ``capital``:
    ``|w_i - w0_i| * capital <= max_adv_fraction * ADV_i`` (a rebalance trades at
    most that share of a day's volume) and
    ``|w_i| * capital <= max_days_to_liquidate * participation * ADV_i``
    (days to liquidate = position / (participation x ADV)). An asset without an
    ADV (NaN: no volume data) is not bound by them, and nothing is when no ADV
    is given at all; both are recorded in ``Constraints.skipped`` (and in the
    allocator's ``diagnostics_["skipped_rules"]``), never silently. ``capital`` is
    the book value the rules are sized on: the mandate's own, or today's book value
    when the allocator is given ``capital=`` (a backtest does this at every rebalance).
    A *passive breach* (a position beyond a per-asset bound -- its days-to-liquidate
    cap, the asset cap -- by more than one day's trade cap, e.g. after the book grew,
    the price ran or volume fell) cannot be cured in one rebalance: the trade cap wins
    and the position moves toward the bound as far as it allows; this is recorded in
    ``Constraints.skipped`` and :meth:`Mandate.check` still reports it.
``restricted``
    Held at 0 (excluded before fitting, reported in ``excluded_``).
``hold_benchmarks``
    False (default): assets flagged ``benchmark`` in the universe are held at 0.
``compute_exposure_min``
    Weighted average compute score ``sum w_i c_i / sum w_i >= m``, as the linear
    rule ``sum_i w_i (c_i - m) >= 0``.
``risk_budgets``
    Shares of portfolio variance per group, with an inner allocator per group
    (see :class:`computefolio.allocate.groups.GroupRiskBudget`); used by
    :func:`computefolio.allocate.make_allocator`.

Every rule becomes rows of linear constraints over the kept symbols
(:meth:`Mandate.constraints` -> :class:`Constraints`); an infeasible set raises
:class:`~computefolio.errors.InfeasibleError` naming a minimal conflicting
subset (deletion filter over phase-1 LPs, HiGHS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..config import load_yaml_model, parse_model
from ..errors import DataError, InfeasibleError, ItemFieldError

__all__ = ["Mandate", "Constraints", "Rule", "load_mandate", "default_mandate_path", "mandate_from_dict"]

GroupFieldName = Literal["layer", "theme", "sleeve", "asset_class", "venue", "calendar", "asset"]

#: Absolute tolerance for a rule to count as met (fraction of capital).
TOL = 1e-7



_CACHE: dict = {}
_EXPLAIN: list[bool] = [True]


class unexplained:
    """Context: infeasibility raised inside is not explained (the deletion filter that names the
    conflicting rules runs dozens of LPs; a caller that will retry differently needs no names)."""

    def __enter__(self):
        _EXPLAIN.append(False)
        return self

    def __exit__(self, *exc):
        _EXPLAIN.pop()
        return False


def _membership(universe, by: str, date, symbols: list[str]) -> pd.DataFrame:
    """``universe.membership(by, date, symbols)``, cached on the classifications in force.

    A backtest compiles the mandate at every rebalance; memberships change only when an
    asset's classification does, so the key is the identity of each symbol's classification
    on ``date`` (sleeves and other fixed fields: the symbols alone).
    """
    key = (id(universe), by, tuple(symbols))
    if by in ("layer", "theme"):
        key = key + (_in_force(universe, date, symbols),)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is universe:
        return hit[1]
    m = universe.membership(by, date=date, symbols=symbols)
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[key] = (universe, m)
    return m


def _in_force(universe, date, symbols) -> tuple:
    """Which classification of each symbol is in force on ``date`` (index in its history chain,
    the rule of :meth:`computefolio.universe.Asset.classification_at`), without building it."""
    key = (id(universe), "in_force", date, tuple(symbols))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is universe:
        return hit[1]
    d = None if date is None else pd.Timestamp(date).date()
    out = []
    for s in symbols:
        a = universe.asset(s)
        if d is None or not a.history:
            out.append(-1)
            continue
        k = 0
        for j, since in enumerate([h.since for h in a.history] + [a.since]):
            if since is None or since <= d:
                k = j
        out.append(k if k < len(a.history) else -1)
    _CACHE[key] = (universe, tuple(out))
    return tuple(out)


def _vector(x, symbols: list[str], fill: float) -> np.ndarray:
    """Values over ``symbols`` from an array already in that order, a Series or a mapping
    (``fill`` where absent or NaN)."""
    if isinstance(x, np.ndarray):
        v = np.asarray(x, dtype=float).copy()
        if v.shape != (len(symbols),):
            raise ValueError(f"an array of {len(symbols)} values is expected, got shape {v.shape}")
    else:
        d = dict(zip([str(k) for k in x.index.tolist()], x.to_numpy(dtype=float))) if isinstance(x, pd.Series) else \
            {str(k): float(v) for k, v in dict(x).items()}
        v = np.array([d.get(s, fill) for s in symbols], dtype=float)
    if fill == fill:  # not NaN: NaN counts as absent
        v[np.isnan(v)] = fill
    return v


def _benchmarks(universe) -> frozenset:
    """Symbols flagged ``benchmark`` in the universe (cached)."""
    key = (id(universe), "benchmarks")
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is universe:
        return hit[1]
    out = frozenset(a.symbol for a in universe.assets if a.benchmark)
    _CACHE[key] = (universe, out)
    return out


def _member_column(universe, by: str, group: str, date, symbols: list[str]) -> np.ndarray:
    """One group's membership weights over ``symbols`` on ``date`` (cached numpy column)."""
    key = (id(universe), "col", by, group, tuple(symbols),
           _in_force(universe, date, symbols) if by in ("layer", "theme") else None)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is universe:
        return hit[1]
    col = _membership(universe, by, date, symbols)[group].to_numpy()
    _CACHE[key] = (universe, col)
    return col


def _compute_scores(universe, date, symbols: list[str]) -> np.ndarray:
    """Compute-exposure score per symbol on ``date`` (cached like :func:`_membership`)."""
    key = (id(universe), "compute", tuple(symbols), _in_force(universe, date, symbols))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is universe:
        return hit[1]
    c = np.array([universe.asset(s).classification_at(date).compute_exposure for s in symbols], dtype=float)
    _CACHE[key] = (universe, c)
    return c


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bounds(_Strict):
    """Per-asset override: either bound may be omitted (then the general one applies)."""

    min: float | None = Field(default=None, ge=-10.0, le=10.0)
    max: float | None = Field(default=None, ge=-10.0, le=10.0)


class AssetRules(_Strict):
    """Bounds for every asset, fractions of capital, with per-symbol overrides."""

    min: float = Field(default=0.0, ge=-10.0, le=10.0)
    max: float = Field(default=1.0, ge=-10.0, le=10.0)
    overrides: dict[str, Bounds] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min > self.max:
            raise ItemFieldError("assets", "min", f"at most max ({self.max}), got {self.min}")
        for s, b in self.overrides.items():
            lo = self.min if b.min is None else b.min
            hi = self.max if b.max is None else b.max
            if lo > hi:
                raise ItemFieldError(f"override {s}", "min", f"at most max ({hi}), got {lo}")
        return self


class GroupRule(_Strict):
    """Look-through exposure of one group of a taxonomy field within ``[min, max]``."""

    by: GroupFieldName
    group: str
    min: float | None = Field(default=None, ge=-10.0, le=10.0)
    max: float | None = Field(default=None, ge=-10.0, le=10.0)

    @model_validator(mode="after")
    def _one_bound(self):
        if self.min is None and self.max is None:
            raise ItemFieldError(f"group {self.group}", "min/max", "at least one of min, max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ItemFieldError(f"group {self.group}", "min", f"at most max ({self.max}), got {self.min}")
        return self


class LiquidityRules(_Strict):
    """Trading and liquidation limits against average daily traded value (ADV)."""

    max_adv_fraction: float | None = Field(default=None, gt=0, le=10.0)
    max_days_to_liquidate: float | None = Field(default=None, gt=0, le=3650.0)
    participation: float = Field(default=0.2, gt=0, le=1)


class RiskBudgets(_Strict):
    """Shares of portfolio variance per group (must sum to 1) and the allocator inside each."""

    by: GroupFieldName
    budgets: dict[str, float]
    inner: str = "erc"

    @field_validator("inner", mode="before")
    @classmethod
    def _known_inner(cls, v):
        from ..references import allocator_method  # long or short name, as everywhere

        return allocator_method(v)

    @model_validator(mode="after")
    def _sum_one(self):
        if any(v < 0 for v in self.budgets.values()):
            raise ItemFieldError("risk_budgets", "budgets", "non-negative shares")
        tot = sum(self.budgets.values())
        if abs(tot - 1.0) > 1e-6:
            raise ItemFieldError("risk_budgets", "budgets", f"shares summing to 1, they sum to {tot:g}")
        return self


class Mandate(_Strict):
    """A mandate (see the module docstring for the meaning of every field)."""

    name: str = "mandate"
    description: str = ""
    capital: float = Field(default=100_000_000.0, ge=1.0, le=1e15)
    long_only: bool = True
    gross_leverage_max: float | None = Field(default=1.0, gt=0, le=10.0)
    cash_min: float = Field(default=0.0, ge=0, lt=1)
    assets: AssetRules = Field(default_factory=AssetRules)
    groups: list[GroupRule] = Field(default_factory=list)
    turnover_max: float | None = Field(default=None, ge=0, le=10.0)
    liquidity: LiquidityRules | None = None
    restricted: list[str] = Field(default_factory=list)
    hold_benchmarks: bool = False
    compute_exposure_min: float | None = Field(default=None, ge=0, le=1)
    risk_budgets: RiskBudgets | None = None
    #: Days within which a passive breach (the market moved the book beyond a rule) must be
    #: cured; used by pre-trade compliance (:mod:`computefolio.compliance`), not by allocators.
    cure_days: int | None = Field(default=None, ge=0, le=3650)
    #: Private markets (computefolio.private): the most NAV in positions valued by marks (fraction);
    #: checked by pre-trade compliance and a run's private section, ignored by allocators.
    private_max: float | None = Field(default=None, ge=0, le=1)
    #: The most NAV locked on the day (lock-ups, vesting, fund lock-ups; fraction); compliance and runs.
    locked_max: float | None = Field(default=None, ge=0, le=1)
    #: The oldest mark a position may be valued by (calendar days from its valuation date); compliance and runs.
    mark_age_max_days: int | None = Field(default=None, ge=0, le=3650)

    @model_validator(mode="after")
    def _consistent(self):
        if self.long_only and self.assets.min < 0:
            raise ItemFieldError("assets", "min", "non-negative when long_only is true")
        for s, b in self.assets.overrides.items():
            if self.long_only and b.min is not None and b.min < 0:
                raise ItemFieldError(f"override {s}", "min", "non-negative when long_only is true")
        return self

    # ----------------------------------------------------------- quantities
    def scaled(self, scale: float, *, static: bool = True) -> "Mandate":
        """The rules a *composition* ``w`` must meet so that ``scale * w`` meets this mandate.

        A volatility-target overlay multiplies the allocator's book (summing to the invested
        fraction) by ``scale``; every limit in fractions of capital is divided by it (asset
        bounds and overrides, group bounds, turnover, and the liquidity caps against ADV, through
        ``max_adv_fraction`` and ``max_days_to_liquidate``). Current weights given to the
        scaled mandate must be divided by ``scale`` too; the capital is unchanged. Ratios (compute exposure) and the
        budget are unchanged. ``scale = 1`` returns ``self``.

        ``static=False`` leaves the *maxima* as they are (asset caps and overrides' caps,
        group maxima, days to liquidate) and scales the rest (minimums, turnover, the ADV
        trade cap ``max_adv_fraction``): the composition then keeps every maximum at scale 1
        -- so for any overlay scale up to 1 -- and meets the minimums and the trade rules at
        ``scale``.
        """
        if scale == 1.0:
            return self
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if not static:
            a = self.assets
            ov = {k: b.model_copy(update={"min": None if b.min is None else b.min / scale})
                  for k, b in a.overrides.items()}
            upd = {"assets": a.model_copy(update={"min": a.min / scale, "overrides": ov}),
                   "groups": [g.model_copy(update={"min": None if g.min is None else g.min / scale})
                              for g in self.groups]}
            if self.turnover_max is not None:
                upd["turnover_max"] = self.turnover_max / scale
            if self.liquidity is not None and self.liquidity.max_adv_fraction:
                upd["liquidity"] = self.liquidity.model_copy(
                    update={"max_adv_fraction": self.liquidity.max_adv_fraction / scale})
            return self.model_copy(update=upd)
        a = self.assets
        ov = {k: b.model_copy(update={"min": None if b.min is None else b.min / scale,
                                      "max": None if b.max is None else b.max / scale})
              for k, b in a.overrides.items()}
        assets = a.model_copy(update={"min": a.min / scale, "max": a.max / scale, "overrides": ov})
        groups = [g.model_copy(update={"min": None if g.min is None else g.min / scale,
                                       "max": None if g.max is None else g.max / scale}) for g in self.groups]
        upd = {"assets": assets, "groups": groups}
        if self.turnover_max is not None:
            upd["turnover_max"] = self.turnover_max / scale
        liq = self.liquidity
        if liq is not None:
            upd["liquidity"] = liq.model_copy(update={
                "max_adv_fraction": None if not liq.max_adv_fraction else liq.max_adv_fraction / scale,
                "max_days_to_liquidate": None if not liq.max_days_to_liquidate else liq.max_days_to_liquidate / scale})
        return self.model_copy(update=upd)

    def invested_fraction(self) -> float:
        """Fraction of capital an allocator invests (weights sum to it)."""
        inv = 1.0 - self.cash_min
        if self.long_only and self.gross_leverage_max is not None:
            inv = min(inv, self.gross_leverage_max)
        return float(inv)

    def fixed_zero(self, symbols, universe=None, date=None) -> dict[str, str]:
        """Symbols the mandate holds at 0, with the reason (excluded before fitting)."""
        out: dict[str, str] = {}
        restricted = set(self.restricted)
        overrides = self.assets.overrides
        amax, amin = self.assets.max, self.assets.min
        bench = _benchmarks(universe) if universe is not None and not self.hold_benchmarks else frozenset()
        for s in symbols:
            ov = overrides.get(s)
            hi = amax if ov is None or ov.max is None else ov.max
            lo = amin if ov is None or ov.min is None else ov.min
            if s in restricted:
                out[s] = "restricted list"
            elif s in bench:
                out[s] = "benchmark (hold_benchmarks is false)"
            elif hi == 0.0 and lo == 0.0:
                out[s] = "asset max is 0"
        return out

    def constraints(self, symbols, *, universe=None, date=None, current_weights=None, adv=None,
                    held_out=None, check: bool = True, cure_passive: bool = True,
                    sale_margin: float = 0.0) -> "Constraints":
        """Compile the rules into linear constraints over ``symbols``.

        Parameters
        ----------
        symbols : list of str
            Kept symbols (after exclusions), the order of the weight vector.
        universe : Universe, optional
            Needed for group and compute-exposure rules.
        date : date-like, optional
            Classification date for memberships.
        current_weights : pandas.Series, mapping or array, optional
            Current book (fractions of capital); turnover and the ADV rule use it. An array
            is in the order of ``symbols``.
        adv : pandas.Series, mapping or array, optional
            Average daily traded value per symbol (currency); NaN or absent: unknown.
        held_out : mapping, optional
            Current weights of holdings outside ``symbols`` (sold to 0): their
            sells count toward turnover.
        check : bool
            Run the feasibility check (raises :class:`InfeasibleError`).
        cure_passive : bool
            For construction (default): a passive breach -- a position beyond a per-asset
            bound (asset cap, override, days-to-liquidate) by more than one day's trade
            cap -- moves toward the bound as far as the trade cap allows (recorded in
            ``skipped``). :meth:`check` passes False so that compliance reports the
            breach as it stands.
        sale_margin : float
            Keep a sale short of the ADV trade cap by this fraction of the position kept (at
            most down to no sale). A simulator that sizes holdings on the book *after* the
            rebalance's costs executes a sale larger than planned by (kept weight) x (costs /
            book); the strategy's allocator uses 1% (:class:`~computefolio.allocate.sleeves.StrategyAllocator`).
        """
        symbols = list(symbols)
        n = len(symbols)
        idx = {s: i for i, s in enumerate(symbols)}
        rules: list[Rule] = []
        skipped: list[str] = []
        inf = np.inf
        if self.long_only:
            rules.append(Rule.box("long_only", np.zeros(n), np.full(n, inf), "weights >= 0"))
        ovs = self.assets.overrides
        ovr_max = np.array([s in ovs and ovs[s].max is not None for s in symbols], dtype=bool)
        ovr_min = np.array([s in ovs and ovs[s].min is not None for s in symbols], dtype=bool)
        if self.assets.max < inf:
            hi = np.where(ovr_max, inf, self.assets.max)
            rules.append(Rule.box("assets.max", np.full(n, -inf), hi,
                                  f"every asset <= {self.assets.max:g} ({int((~ovr_max).sum())} assets, "
                                  f"at most {self.assets.max * (~ovr_max).sum():.4g} in all)"))
        if self.assets.min != 0.0 or not self.long_only:
            lo = np.where(ovr_min, -inf, self.assets.min)
            rules.append(Rule.box("assets.min", lo, np.full(n, inf),
                                  f"every asset >= {self.assets.min:g} ({int((~ovr_min).sum())} assets, "
                                  f"at least {self.assets.min * (~ovr_min).sum():.4g} in all)"))
        for s, b in self.assets.overrides.items():
            if s not in idx:
                continue
            lo, hi = np.full(n, -inf), np.full(n, inf)
            if b.min is not None:
                lo[idx[s]] = b.min
            if b.max is not None:
                hi[idx[s]] = b.max
            rules.append(Rule.box(f"assets.overrides.{s}", lo, hi,
                                  f"{s} in [{'' if b.min is None else f'{b.min:g}'}, "
                                  f"{'' if b.max is None else f'{b.max:g}'}]"))
        inv = self.invested_fraction()
        why = "1 - cash_min" if inv == 1.0 - self.cash_min else "gross_leverage_max, long-only"
        # long-only: gross = sum of weights = the budget, which is at most gross_leverage_max
        if self.gross_leverage_max is not None and not self.long_only:
            if True:
                rules.append(Rule("gross_leverage_max", "gross", limit=float(self.gross_leverage_max),
                                  detail=f"sum |w| <= {self.gross_leverage_max:g}"))
        if not self.long_only and self.cash_min > 0:
            rules.append(Rule.ineq("cash_min", np.ones((1, n)), np.array([1.0 - self.cash_min]),
                                   f"cash >= {self.cash_min:g}"))
        if (self.groups or self.compute_exposure_min is not None) and universe is None:
            raise DataError(f"mandate {self.name!r} has group or compute-exposure rules: pass universe= to fit")
        for k, g in enumerate(self.groups):
            if universe is None:  # pragma: no cover - guarded above
                break
            known = universe.groups(g.by)
            if g.group not in known:
                raise DataError(f"mandate {self.name!r}: groups[{k}] names {g.by} {g.group!r}, not in universe "
                                f"{universe.name!r} (known: {', '.join(map(str, known))})")
            m = _member_column(universe, g.by, g.group, date, symbols)
            label = f"group {g.by}:{g.group}"
            if g.max is not None:
                rules.append(Rule.ineq(f"{label} max", m[None, :], np.array([g.max]),
                                       f"exposure to {g.by} {g.group} <= {g.max:g} "
                                       f"({int((m > 0).sum())} members)"))
            if g.min is not None:
                rules.append(Rule.ineq(f"{label} min", -m[None, :], np.array([-g.min]),
                                       f"exposure to {g.by} {g.group} >= {g.min:g} "
                                       f"({int((m > 0).sum())} members)"))
        w0 = np.zeros(n)
        if current_weights is not None:
            w0 = _vector(current_weights, symbols, 0.0)
        out_sold = float(sum(abs(v) for v in (held_out or {}).values()))
        if self.turnover_max is not None:
            if current_weights is None:
                skipped.append("turnover_max (no current weights)")
            else:
                lim = 2.0 * self.turnover_max - out_sold
                rules.append(Rule("turnover_max", "turnover", w0=w0, limit=lim,
                                  detail=f"one-way turnover <= {self.turnover_max:g}"
                                         + (f" ({out_sold / 2:.4g} already used selling excluded holdings)"
                                            if out_sold else "")))
        if self.liquidity is not None and (self.liquidity.max_adv_fraction or self.liquidity.max_days_to_liquidate):
            if adv is None:
                skipped.append("liquidity (no ADV given)")
            else:
                av = _vector(adv, symbols, np.nan)
                known = np.isfinite(av) & (av >= 0)
                if not known.all():
                    miss = [s for s, k in zip(symbols, known) if not k]
                    skipped.append(f"liquidity for {len(miss)} asset(s) without ADV: {', '.join(miss[:8])}"
                                   + (" ..." if len(miss) > 8 else ""))
                # without an ADV the liquidity rules do not bind that asset (reported in skipped)
                av = np.where(known, av, np.inf)
                cap = self.capital
                if self.liquidity.max_adv_fraction:
                    c = self.liquidity.max_adv_fraction * av / cap
                    lo_t = w0 - c
                    if sale_margin > 0 and current_weights is not None:
                        lo_t = np.where(lo_t > 0, np.minimum(lo_t / (1.0 - sale_margin), w0), lo_t)
                    rules.append(Rule.box("liquidity.max_adv_fraction", lo_t, w0 + c,
                                          f"trade <= {self.liquidity.max_adv_fraction:g} x ADV per asset "
                                          f"(capital {cap:,.0f})"))
                if self.liquidity.max_days_to_liquidate:
                    c = self.liquidity.max_days_to_liquidate * self.liquidity.participation * av / cap
                    lo, hi = -c, c
                    if cure_passive and self.liquidity.max_adv_fraction and current_weights is not None:
                        # Passive breach: a position already above its cap by more than one
                        # day's trade cap cannot be cured today. The trade cap wins and the
                        # position is cut as far as it allows (reported, never hidden).
                        t = self.liquidity.max_adv_fraction * av / cap
                        over, under = (w0 - t) > c, (w0 + t) < -c
                        hi, lo = np.where(over, w0 - t, hi), np.where(under, w0 + t, lo)
                        cut = [s for s, o, u in zip(symbols, over, under) if o or u]
                        if cut:
                            skipped.append(f"liquidity.max_days_to_liquidate: {len(cut)} position(s) over the cap "
                                           f"by more than one day's trade cap, cut as far as max_adv_fraction "
                                           f"allows: {', '.join(cut[:8])}" + (" ..." if len(cut) > 8 else ""))
                    rules.append(Rule.box("liquidity.max_days_to_liquidate", lo, hi,
                                          f"position <= {self.liquidity.max_days_to_liquidate:g} days x "
                                          f"{self.liquidity.participation:g} x ADV (capital {cap:,.0f})"))
        if self.compute_exposure_min is not None and universe is not None:
            c = _compute_scores(universe, date, symbols)
            mm = self.compute_exposure_min
            rules.append(Rule.ineq("compute_exposure_min", -(c - mm)[None, :], np.array([0.0]),
                                   f"weighted average compute score >= {mm:g} "
                                   f"(best asset {c.max() if n else 0:.2f})"))
        trade = next((r for r in rules if r.name == "liquidity.max_adv_fraction"), None)
        if cure_passive and trade is not None and current_weights is not None:
            # Passive breach of a per-asset bound (a position that drifted above its cap, or
            # a cap that fell) by more than one day's trade cap: the trade cap wins and the
            # position moves toward the bound as far as it allows (reported, never hidden).
            for r in rules:
                if r.kind != "box" or r is trade:
                    continue
                up = r.hi < trade.lo - 1e-15
                down = r.lo > trade.hi + 1e-15
                if up.any() or down.any():
                    r.hi = np.where(up, trade.lo, r.hi)
                    r.lo = np.where(down, trade.hi, r.lo)
                    cut = [s for s, a, b in zip(symbols, up, down) if a or b]
                    skipped.append(f"{r.name}: {len(cut)} position(s) beyond the bound by more than one day's "
                                   f"trade cap, moved toward it as far as max_adv_fraction allows: "
                                   f"{', '.join(cut[:8])}" + (" ..." if len(cut) > 8 else ""))
        # the budget goes last: the deletion filter tries to drop earlier rules first, so
        # conflicts are explained by the specific rules rather than by the budget's twins
        rules.append(Rule.eq("budget", np.ones(n), inv, f"weights sum to {inv:g} ({why})"))
        cons = Constraints(symbols=symbols, rules=rules, skipped=skipped, name=self.name)
        if check:
            cons.check_feasible()
        return cons

    def check(self, weights: pd.Series, *, universe=None, date=None, current_weights=None, adv=None) -> list[str]:
        """Rules that ``weights`` (a Series over symbols) break; empty when all hold."""
        w = pd.Series(weights, dtype=float)
        out = []
        fixed = self.fixed_zero(list(w.index), universe=universe, date=date)
        for s, why in fixed.items():
            if abs(w[s]) > TOL:
                out.append(f"{why}: {s} has weight {w[s]:.6g}")
        syms = [s for s in w.index if s not in fixed]
        held_out = None
        if current_weights is not None:
            cw = pd.Series(current_weights, dtype=float)
            held_out = {s: v for s, v in cw.items() if s not in set(syms)}
        cons = self.constraints(syms, universe=universe, date=date, current_weights=current_weights, adv=adv,
                                held_out=held_out, check=False, cure_passive=False)
        return out + cons.breaches(w.reindex(syms).to_numpy())


@dataclass
class Rule:
    """One named mandate rule as linear algebra over the weight vector.

    ``kind``: ``"box"`` (``lo <= w <= hi``), ``"ineq"`` (``A w <= b``), ``"eq"``
    (``a . w = value``), ``"turnover"`` (``sum |w - w0| <= limit``) or ``"gross"``
    (``sum |w| <= limit``).
    """

    name: str
    kind: str
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    A: np.ndarray | None = None
    b: np.ndarray | None = None
    w0: np.ndarray | None = None
    limit: float | None = None
    detail: str = ""

    @classmethod
    def box(cls, name, lo, hi, detail=""):
        return cls(name, "box", lo=np.asarray(lo, float), hi=np.asarray(hi, float), detail=detail)

    @classmethod
    def ineq(cls, name, A, b, detail=""):
        return cls(name, "ineq", A=np.atleast_2d(np.asarray(A, float)), b=np.asarray(b, float), detail=detail)

    @classmethod
    def eq(cls, name, a, value, detail=""):
        return cls(name, "eq", A=np.atleast_2d(np.asarray(a, float)), b=np.atleast_1d(float(value)), detail=detail)

    def violation(self, w: np.ndarray) -> float:
        """How far ``w`` breaks this rule (0 when it holds), fraction of capital."""
        if self.kind == "box":
            return float(max(np.max(self.lo - w, initial=0.0), np.max(w - self.hi, initial=0.0), 0.0))
        if self.kind == "ineq":
            return float(max(np.max(self.A @ w - self.b, initial=0.0), 0.0))
        if self.kind == "eq":
            return float(np.max(np.abs(self.A @ w - self.b)))
        if self.kind == "turnover":
            return float(max(np.abs(w - self.w0).sum() - self.limit, 0.0))
        if self.kind == "gross":
            return float(max(np.abs(w).sum() - self.limit, 0.0))
        raise ValueError(self.kind)  # pragma: no cover


@dataclass
class Constraints:
    """Compiled mandate rules over ``symbols`` (see :class:`Rule`)."""

    symbols: list[str]
    rules: list[Rule]
    skipped: list[str] = field(default_factory=list)
    name: str = "mandate"

    # ------------------------------------------------------------ compiled
    @property
    def n(self) -> int:
        return len(self.symbols)

    def bounds(self, rules=None) -> tuple[np.ndarray, np.ndarray]:
        """Tightest per-asset ``(lo, hi)`` over the box rules (copies: callers may change them)."""
        if rules is None and "_bounds" in self.__dict__:
            lo, hi = self.__dict__["_bounds"]
            return lo.copy(), hi.copy()
        lo, hi = np.full(self.n, -np.inf), np.full(self.n, np.inf)
        for r in (self.rules if rules is None else rules):
            if r.kind == "box":
                lo = np.maximum(lo, r.lo)
                hi = np.minimum(hi, r.hi)
        if rules is None:
            self.__dict__["_bounds"] = (lo.copy(), hi.copy())
        return lo, hi

    def linear(self, kind: str, rules=None) -> tuple[np.ndarray, np.ndarray]:
        """Stacked ``(A, b)`` of the ``"ineq"`` or ``"eq"`` rules."""
        rs = [r for r in (self.rules if rules is None else rules) if r.kind == kind]
        if not rs:
            return np.zeros((0, self.n)), np.zeros(0)
        return np.vstack([r.A for r in rs]), np.concatenate([r.b for r in rs])

    def rule(self, kind: str, rules=None) -> Rule | None:
        for r in (self.rules if rules is None else rules):
            if r.kind == kind:
                return r
        return None

    @property
    def budget(self) -> float | None:
        r = next((r for r in self.rules if r.name == "budget"), None)
        return None if r is None else float(r.b[0])

    def is_box_budget(self) -> bool:
        """True when the only rules are per-asset bounds and the budget."""
        return all(r.kind == "box" or r.name == "budget" for r in self.rules)

    def bound_sources(self, rules=None) -> tuple[list[str | None], list[str | None]]:
        """Per asset, the name of the box rule giving the tightest lower and upper bound
        (None where no rule bounds it; ``long_only`` names the 0 floor)."""
        lo, hi = np.full(self.n, -np.inf), np.full(self.n, np.inf)
        slo: list[str | None] = [None] * self.n
        shi: list[str | None] = [None] * self.n
        for r in (self.rules if rules is None else rules):
            if r.kind != "box":
                continue
            for i in np.flatnonzero(r.lo > lo):
                lo[i], slo[i] = r.lo[i], r.name
            for i in np.flatnonzero(r.hi < hi):
                hi[i], shi[i] = r.hi[i], r.name
        return slo, shi

    def homogeneous_supported(self) -> bool:
        """True when risk budgeting applies: long-only bounds (every ``lo >= 0``) and a positive budget."""
        lo, _ = self.bounds()
        B = self.budget
        return B is not None and B > 0 and bool((lo >= 0).all()) and not any(r.kind == "gross" for r in self.rules)

    def homogeneous(self, budget: float | None = None):
        """The rules as homogeneous rows over ``y`` (any positive multiple of the weights).

        A rule ``a'w <= c`` on weights summing to ``B`` (the budget rule) is the row
        ``(a - c/B 1)'y <= 0``; per-asset bounds become ``y_i - hi_i 1'y/B <= 0`` and, for
        ``lo_i > 0``, ``-y_i + lo_i 1'y/B <= 0`` (``lo_i = hi_i`` gives an equality row).
        Used by constrained risk budgeting (:func:`~computefolio.allocate.riskparity.constrained_risk_budget`).

        Returns
        -------
        F : ndarray (m, n)
            Inequality rows ``F y <= 0``.
        H : ndarray (p, n)
            Equality rows ``H y = 0`` (every equality rule except the budget).
        labels_F, labels_H : list of (rule name, symbol or None)
            What each row is: the rule and, for per-asset rows, the symbol.
        other : list of Rule
            Rules that are not linear rows (turnover, gross leverage): not in ``F``.
        """
        B = self.budget if budget is None else budget
        if B is None or B <= 0:
            raise ValueError("homogeneous rows need a positive budget rule")
        memo = self.__dict__.setdefault("_homogeneous", {})
        if B in memo:
            return memo[B]
        n = self.n
        lo, hi = self.bounds()
        slo, shi = self.bound_sources()
        F, lf, H, lh = [], [], [], []
        one = np.ones(n)
        for i in range(n):
            e = np.zeros(n)
            e[i] = 1.0
            if np.isfinite(hi[i]) and np.isfinite(lo[i]) and hi[i] - lo[i] <= 1e-15:
                H.append(e - hi[i] / B * one)
                lh.append((shi[i] or "bounds", self.symbols[i]))
                continue
            if np.isfinite(hi[i]):
                F.append(e - hi[i] / B * one)
                lf.append((shi[i], self.symbols[i]))
            if np.isfinite(lo[i]) and lo[i] > 0:
                F.append(-e + lo[i] / B * one)
                lf.append((slo[i], self.symbols[i]))
        other = []
        for r in self.rules:
            if r.kind == "ineq":
                for k in range(r.A.shape[0]):
                    F.append(r.A[k] - r.b[k] / B * one)
                    lf.append((r.name, None))
            elif r.kind == "eq" and r.name != "budget":
                for k in range(r.A.shape[0]):
                    H.append(r.A[k] - r.b[k] / B * one)
                    lh.append((r.name, None))
            elif r.kind in ("turnover", "gross"):
                other.append(r)
        F = np.array(F) if F else np.zeros((0, n))
        H = np.array(H) if H else np.zeros((0, n))
        memo[B] = (F, H, lf, lh, other)
        return memo[B]

    # --------------------------------------------------------------- checks
    def breaches(self, w: np.ndarray, tol: float = TOL) -> list[str]:
        """Human lines for the rules ``w`` breaks by more than ``tol``."""
        out = []
        for r in self.rules:
            v = r.violation(np.asarray(w, float))
            if v > tol:
                out.append(f"{r.name} ({r.detail}) broken by {v:.3g}")
        return out

    def feasible(self, rules=None) -> bool:
        """Phase-1 LP (HiGHS): is there any ``w`` meeting ``rules`` (default: all)?"""
        rules = self.rules if rules is None else rules
        n = self.n
        lo, hi = self.bounds(rules)
        if (lo > hi + 1e-12).any():
            return False
        A, b = self.linear("ineq", rules)
        Ae, be = self.linear("eq", rules)
        extra = [r for r in rules if r.kind in ("turnover", "gross")]
        if not extra and n and not len(b) and not len(be):
            return True
        res = self._lp(rules, np.zeros(n))
        if res is None:
            return False
        if res.status == 2:
            return False
        if res.status != 0:  # pragma: no cover - numerical trouble: call it feasible and let the solver speak
            return True
        # Guard against HiGHS tolerances: accept only if the point meets every rule
        x = res.x[:n]
        return all(r.violation(x) <= 1e-6 for r in rules)

    def max_investable(self) -> float | None:
        """The largest ``sum(w)`` the rules allow with the budget rule relaxed to ``sum(w) <= budget``
        (an LP); None when no book meets the other rules at all."""
        B = self.budget
        rules = [r for r in self.rules if r.name != "budget"]
        if B is not None:
            rules.append(Rule.ineq("budget", np.ones((1, self.n)), np.array([B])))
        res = self._lp(rules, -np.ones(self.n))
        if res is None or res.status != 0:
            return None
        return float(-res.fun)

    def min_investable(self) -> float | None:
        """The smallest ``sum(w)`` the rules allow with the budget rule relaxed to ``sum(w) <= budget``
        (an LP): e.g. group minimums force at least their sum; None when infeasible."""
        B = self.budget
        rules = [r for r in self.rules if r.name != "budget"]
        if B is not None:
            rules.append(Rule.ineq("budget", np.ones((1, self.n)), np.array([B])))
        res = self._lp(rules, np.ones(self.n))
        if res is None or res.status != 0:
            return None
        return float(res.fun)

    def with_budget(self, budget: float, detail: str) -> "Constraints":
        """A copy whose budget rule is ``sum(w) = budget``."""
        rules = [r for r in self.rules if r.name != "budget"]
        rules.append(Rule.eq("budget", np.ones(self.n), budget, detail))
        return Constraints(symbols=list(self.symbols), rules=rules, skipped=list(self.skipped), name=self.name)

    def _lp(self, rules, cost):
        """HiGHS LP ``min cost'w`` over ``rules`` (``|w - c| <= u`` variables for turnover/gross)."""
        n = self.n
        lo, hi = self.bounds(rules)
        if (lo > hi + 1e-12).any():
            return None
        A, b = self.linear("ineq", rules)
        Ae, be = self.linear("eq", rules)
        extra = [r for r in rules if r.kind in ("turnover", "gross")]
        from scipy.optimize import linprog

        nv = n * (1 + len(extra))
        A_rows, b_rows = [], []
        if len(b):
            A_rows.append(np.hstack([A, np.zeros((A.shape[0], nv - n))]))
            b_rows.append(b)
        bounds = [(None if np.isinf(l) else l, None if np.isinf(h) else h) for l, h in zip(lo, hi)]
        for k, r in enumerate(extra):
            # u >= |w - c|: w - u <= c, -w - u <= -c, sum u <= limit
            c = r.w0 if r.kind == "turnover" else np.zeros(n)
            off = n * (k + 1)
            blk = np.zeros((2 * n + 1, nv))
            blk[:n, :n] = np.eye(n)
            blk[:n, off:off + n] = -np.eye(n)
            blk[n:2 * n, :n] = -np.eye(n)
            blk[n:2 * n, off:off + n] = -np.eye(n)
            blk[2 * n, off:off + n] = 1.0
            A_rows.append(blk)
            b_rows.append(np.concatenate([c, -c, [r.limit]]))
            bounds += [(0, None)] * n
        A_ub = np.vstack(A_rows) if A_rows else None
        b_ub = np.concatenate(b_rows) if b_rows else None
        A_eq = np.hstack([Ae, np.zeros((Ae.shape[0], nv - n))]) if len(be) else None
        c = np.concatenate([np.asarray(cost, float), np.zeros(nv - n)])
        return linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=be if len(be) else None,
                       bounds=bounds, method="highs")

    def active(self, w: np.ndarray, tol: float = 1e-9) -> list[str]:
        """Rules at their limit for ``w`` (slack at most ``tol``), one line each, with the assets
        for per-asset rules (``"assets.max: NVDA, DLR"``); the budget and 0 floors are left out."""
        w = np.asarray(w, float)
        out = []
        slo, shi = self.bound_sources()
        lo, hi = self.bounds()
        at_hi: dict[str, list[str]] = {}
        at_lo: dict[str, list[str]] = {}
        for i, s in enumerate(self.symbols):
            if np.isfinite(hi[i]) and w[i] >= hi[i] - tol and shi[i]:
                at_hi.setdefault(shi[i], []).append(s)
            if np.isfinite(lo[i]) and lo[i] > 0 and w[i] <= lo[i] + tol and slo[i]:
                at_lo.setdefault(slo[i], []).append(s)
        for name, syms in at_hi.items():
            out.append(f"{name}: {', '.join(syms)}")
        for name, syms in at_lo.items():
            out.append(f"{name} (floor): {', '.join(syms)}")
        for r in self.rules:
            if r.kind == "ineq" and np.max(r.A @ w - r.b) >= -tol:
                out.append(r.name)
            elif r.kind in ("turnover", "gross") and r.violation(w) <= tol and \
                    (np.abs(w - (r.w0 if r.kind == "turnover" else 0.0)).sum() >= r.limit - tol):
                out.append(r.name)
        return out

    def conflicting_rules(self) -> list[Rule]:
        """A minimal subset of rules that cannot hold together (deletion filter).

        Chinneck & Dravnieks (1991): drop each rule in turn; if the rest stays
        infeasible the rule is not needed for the conflict and is removed for
        good. The result is an irreducible infeasible subset.
        """
        keep = list(self.rules)
        for r in list(self.rules):
            trial = [q for q in keep if q is not r]
            if not self.feasible(trial):
                keep = trial
        return keep

    def check_feasible(self) -> None:
        """Raise :class:`InfeasibleError` naming conflicting rules when infeasible (inside
        :func:`unexplained`, without naming them: a caller that retries needs no names)."""
        if self.n == 0 or self.feasible():
            return
        if not _EXPLAIN[-1]:
            raise InfeasibleError(f"mandate {self.name!r} is infeasible over {self.n} assets", [])
        conflict = self.conflicting_rules()
        names = [r.name for r in conflict]
        detail = "; ".join(f"{r.name} ({r.detail})" for r in conflict)
        raise InfeasibleError(f"mandate {self.name!r} is infeasible over {self.n} assets: these rules conflict: "
                              f"{detail}", names)

    # ------------------------------------------------------------- cvxpy
    def cvxpy(self, w, k=None) -> list:
        """cvxpy constraints on variable ``w``; with ``k`` (a scalar variable) the
        homogenized form ``w = k * x`` used by ratio objectives (every rule scaled by ``k``)."""
        import cvxpy as cp

        one = 1.0 if k is None else k
        out = []
        lo, hi = self.bounds()
        fl, fh = np.isfinite(lo), np.isfinite(hi)
        if fl.any():
            out.append(w[fl] >= lo[fl] * one)
        if fh.any():
            out.append(w[fh] <= hi[fh] * one)
        A, b = self.linear("ineq")
        if len(b):
            out.append(A @ w <= b * one)
        Ae, be = self.linear("eq")
        if len(be):
            out.append(Ae @ w == be * one)
        for r in self.rules:
            if r.kind == "turnover":
                out.append(cp.norm1(w - r.w0 * one) <= r.limit * one)
            elif r.kind == "gross":
                out.append(cp.norm1(w) <= r.limit * one)
        return out


def default_mandate_path() -> Path:
    """Path of the shipped ``mandate_default.yaml``."""
    return Path(str(resources.files("computefolio") / "resources" / "mandate_default.yaml"))


def load_mandate(path: str | Path | None = None) -> Mandate:
    """Load and validate a mandate file (the shipped default when ``path`` is None).

    Raises
    ------
    ConfigError
        One line naming the file, the item and the field.
    """
    return load_yaml_model(default_mandate_path() if path is None else Path(path), Mandate)


def mandate_from_dict(raw: dict, file: str | None = None) -> Mandate:
    """Validate an in-memory mandate (same schema as the YAML file)."""
    return parse_model(Mandate, raw, file)
