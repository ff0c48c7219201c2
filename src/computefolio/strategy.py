"""The strategy file: one YAML document that describes a whole compute-backed book.

A strategy names everything :func:`computefolio.job.run_strategy` needs to go
from data to an investment-committee report: the universe, where prices come from,
the valuation clock, the period, the capital, how the book is built (budgets per
sleeve or per layer, an allocator per group), the mandate, when it rebalances, the
volatility target, the cost file, the benchmarks and the stress scenarios.

Schema (every key but ``name`` has a default; unknown keys are errors)::

    name: compute_backed              # also the output folder out/<name>/
    description: "..."
    universe: null                    # universe YAML; null = the shipped one
    data:
      source: auto                    # auto (store if it has prices, else sample) | sample | files | store
      path: null                      # folder of long-format files (source: files)
      store: null                     # DuckDB file (source: store); null = default store
      seed: 7                         # sample market seed
    basis: session                    # session (XNYS, 252/yr) | calendar (every day, 365/yr)
    start: 2020-01-01                 # first valuation date (history before it feeds the estimators)
    end: null                         # last valuation date; null = the last date every sleeve has fresh prices
    capital: 100000000                # in currency
    currency: USD
    sleeves:                          # or `layers:` (exactly one of the two): budgets per group
      digital_assets: {risk_budget: 0.35, allocator: erc}
      ai_equities:    {risk_budget: 0.65, allocator: hrp}
    allocator: erc                    # default allocator inside a group
    covariance: {method: ledoit_wolf} # sample | ewma (halflife) | ledoit_wolf | pairwise
    lookback: 252                     # estimation window, periods of the basis
    min_history: 126                  # periods of data before the first rebalance (an asset is held
                                      # once it has a return on every period of the lookback window)
    mandate: mandate_default.yaml     # resolved next to this file, then in the package resources
    schedule: {frequency: monthly}    # daily | weekly | monthly | quarterly
    drift_bands: {absolute: 0.05}     # optional: also rebalance when a weight drifts this far
    vol_target: {target: 0.25, leverage_max: 1.0}   # optional, annualized on `basis`
    costs: costs_default.yaml
    private: null                     # optional: private positions file (marks, lock-ups), a sleeve held
                                      # beside the liquid book (computefolio.private; docs/private.md)
    cash_rate: 0.0                    # annual rate earned on cash
    benchmarks:
      - {name: QQQ, weights: {QQQ: 1.0}}
      - {name: "60/40 QQQ/BTC", weights: {QQQ: 0.6, BTC: 0.4}, rebalance: monthly}
      - {name: Equal-weight universe, equal_weight: [digital_assets, ai_equities]}
    risk: {confidence: 0.99, horizon: 1, window: 756, participation: 0.2, correlation_window: 63}
    stress: {historical: all, hypothetical: all, file: null}
    report: {paper: A4}               # A4 | Letter: page size of `computefolio run --pdf`

Budgets of one kind only (all ``risk_budget`` or all ``weight``), each in (0, 1],
summing to 1 (fractions of total risk or of the invested book).

Errors: :func:`load_strategy` raises :class:`~computefolio.errors.ConfigError`, one
line naming the file, the item (sleeve, benchmark) and the field.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .config import line_of, load_yaml_model, parse_model
from .errors import ConfigError, ItemFieldError

#: Allocator names a strategy may use (see :mod:`computefolio.allocate`).
ALLOCATORS: tuple[str, ...] = ("equal_weight", "inverse_vol", "erc", "hrp", "herc", "min_variance",
                               "max_diversification")
COVARIANCES: tuple[str, ...] = ("sample", "ewma", "ledoit_wolf", "pairwise")
FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "monthly", "quarterly")

_TOL = 1e-6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllocatorSpec(_Strict):
    """An allocator by name with keyword parameters (``{method: hrp, linkage: single}``).

    ``method`` takes the long or the short name (``min_variance`` or ``minvar``, as in
    ``computefolio allocate --method``) and holds the long one; the parameters must be
    constructor parameters of that allocator, of the right type and range
    (:func:`computefolio.references.check_allocator_params`).
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    method: str = Field(description="allocator name, long or short: equal_weight (ew), inverse_vol (ivol), erc, "
                                    "hrp, herc, min_variance (minvar), max_diversification (maxdiv), "
                                    "max_sharpe (maxsharpe), min_cvar (mincvar)")

    @field_validator("method", mode="before")
    @classmethod
    def _known_method(cls, v):
        from .references import allocator_method

        return allocator_method(v)

    @model_validator(mode="after")
    def _known_params(self):
        from .references import check_allocator_params

        check_allocator_params(self.method, self.params)
        return self

    @property
    def params(self) -> dict[str, Any]:
        """Keyword parameters passed to the allocator's constructor."""
        return dict(self.model_extra or {})


def _allocator_from_str(v):
    return {"method": v} if isinstance(v, str) else v


class DataSpec(_Strict):
    """Where prices come from: the built-in sample market, a folder of files, or the store.

    ``auto`` (the default) follows the order every command uses: the store named by
    ``store`` or the default store when it holds prices, else the sample market (simulated,
    and every output says so). ``--data``/``--store``/``--sample`` on the command line win.
    """

    source: Literal["auto", "sample", "files", "store"] = "auto"
    path: str | None = None
    store: str | None = None
    seed: int = Field(default=7, ge=0, le=2 ** 32 - 1)
    #: A held price older than this (calendar days) on the as-of date is a warning (stale
    #: prices are always listed with their age; this says when they must be read first).
    stale_after_days: int = Field(default=5, ge=0, le=3650)

    @model_validator(mode="after")
    def _path_for_files(self):
        if self.source == "files" and not self.path:
            raise ItemFieldError(None, "data.path", "a folder of long-format price files when data.source is 'files'")
        return self


class GroupBudget(_Strict):
    """Budget of one sleeve or layer: a share of risk or a share of the invested book."""

    risk_budget: float | None = Field(default=None, gt=0.0, le=1.0)
    weight: float | None = Field(default=None, gt=0.0, le=1.0)
    allocator: AllocatorSpec | None = None

    _alloc = field_validator("allocator", mode="before")(_allocator_from_str)

    @property
    def kind(self) -> str:
        return "risk" if self.risk_budget is not None else "weight"

    @property
    def budget(self) -> float:
        return float(self.risk_budget if self.risk_budget is not None else self.weight)


class CovarianceSpec(_Strict):
    method: Literal["sample", "ewma", "ledoit_wolf", "pairwise"] = "ledoit_wolf"
    halflife: float | None = Field(default=None, gt=0, le=10_000)


class ScheduleSpec(_Strict):
    frequency: Literal["daily", "weekly", "monthly", "quarterly"] = "monthly"


class DriftBands(_Strict):
    """Rebalance between scheduled dates when a weight drifts beyond a band.

    ``absolute``: |w - target| in fractions of the book; ``relative``: |w / target - 1|.
    ``by``: compare asset weights or group weights (sleeve/layer).
    """

    absolute: float | None = Field(default=None, gt=0.0, lt=1.0)
    relative: float | None = Field(default=None, gt=0.0, le=10.0)
    by: Literal["asset", "sleeve", "layer"] = "asset"

    @model_validator(mode="after")
    def _some_band(self):
        if self.absolute is None and self.relative is None:
            raise ValueError("at least one of 'absolute' or 'relative'")
        return self


class VolTargetSpec(_Strict):
    """Scale the book to ``target`` annualized volatility (fraction, on the strategy's basis)."""

    target: float = Field(gt=0.0, le=2.0)
    leverage_max: float = Field(default=1.0, gt=0.0, le=3.0)


class BenchmarkSpec(_Strict):
    """A benchmark book: fixed ``weights`` (rebalanced on ``rebalance``) or an equal-weight
    book of the listed sleeves (``equal_weight``), rebalanced monthly."""

    name: str = Field(min_length=1)
    weights: dict[str, float] | None = None
    equal_weight: list[str] | None = None
    rebalance: Literal["daily", "weekly", "monthly", "quarterly", "never"] = "monthly"

    @model_validator(mode="after")
    def _one_kind(self):
        item = f"benchmark {self.name}"
        if (self.weights is None) == (self.equal_weight is None):
            raise ItemFieldError(item, "weights", "exactly one of 'weights' or 'equal_weight'")
        if self.weights is not None:
            if not self.weights:
                raise ItemFieldError(item, "weights", "at least one symbol with a weight")
            for s, w in self.weights.items():
                if not (0.0 < w <= 1.0):
                    raise ItemFieldError(item, f"weights.{s}", f"a weight in (0, 1], got {w}")
            tot = sum(self.weights.values())
            if tot > 1.0 + _TOL:
                raise ItemFieldError(item, "weights", f"weights summing to at most 1, they sum to {tot:g}")
        return self


class RiskSpec(_Strict):
    confidence: float = Field(default=0.99, gt=0.5, lt=1.0)
    horizon: int = Field(default=1, ge=1, le=60)
    window: int = Field(default=756, ge=60, le=10_000)
    participation: float = Field(default=0.2, gt=0.0, le=1.0)
    correlation_window: int = Field(default=63, ge=10, le=10_000)
    seed: int = Field(default=7, ge=0, le=2 ** 32 - 1)


class StressSpec(_Strict):
    """Which stress scenarios to run: ``all``, ``none`` or a list of scenario names."""

    historical: Literal["all", "none"] | list[str] = "all"
    hypothetical: Literal["all", "none"] | list[str] = "all"
    file: str | None = None


class ReportSpec(_Strict):
    """The report's print settings: ``paper`` for ``computefolio run --pdf`` (A4 or Letter)."""

    paper: Literal["A4", "Letter"] = "A4"


class Strategy(_Strict):
    """A validated strategy file; see the module docstring for the schema."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    universe: str | None = None
    data: DataSpec = Field(default_factory=DataSpec)
    basis: Literal["session", "calendar"] = "session"
    start: dt.date = Field(default=dt.date(2020, 1, 1), ge=dt.date(1970, 1, 1), le=dt.date(2100, 12, 31))
    end: dt.date | None = Field(default=None, ge=dt.date(1970, 1, 1), le=dt.date(2100, 12, 31))
    capital: float = Field(default=100_000_000.0, ge=1.0, le=1e15)
    currency: str = "USD"
    sleeves: dict[str, GroupBudget] | None = None
    layers: dict[str, GroupBudget] | None = None
    allocator: AllocatorSpec = Field(default_factory=lambda: AllocatorSpec(method="erc"))
    covariance: CovarianceSpec = Field(default_factory=CovarianceSpec)
    lookback: int = Field(default=252, ge=20, le=10_000)
    min_history: int = Field(default=126, ge=5, le=10_000)
    mandate: str | None = "mandate_default.yaml"
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    drift_bands: DriftBands | None = None
    vol_target: VolTargetSpec | None = None
    costs: str | None = "costs_default.yaml"
    #: Private positions file (stakes, fund interests, token grants with marks and lock-ups): a sleeve
    #: held beside the liquid book, never traded by the allocator (computefolio.private).
    private: str | None = None
    cash_rate: float = Field(default=0.0, ge=-0.05, le=0.25)
    #: Active mandate breaches (caused by the book's own trades) larger than this (fraction of
    #: the book) make the run fail loudly; passive ones (caused by the market) are reported.
    mandate_tolerance: float = Field(default=1e-6, ge=0.0, le=1.0)
    benchmarks: list[BenchmarkSpec] = Field(default_factory=list)
    risk: RiskSpec = Field(default_factory=RiskSpec)
    stress: StressSpec = Field(default_factory=StressSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)

    _file: Path | None = PrivateAttr(default=None)

    _alloc = field_validator("allocator", mode="before")(_allocator_from_str)

    @model_validator(mode="after")
    def _budgets(self):
        if (self.sleeves is None) == (self.layers is None):
            raise ItemFieldError(None, "sleeves", "exactly one of 'sleeves' or 'layers' with the budgets per group")
        groups = self.budgets
        for g, b in groups.items():
            if (b.risk_budget is None) == (b.weight is None):
                raise ItemFieldError(f"{self.budget_by} {g}", "risk_budget",
                                     "exactly one of 'risk_budget' or 'weight'")
        if not groups:
            raise ItemFieldError(None, self.budget_by + "s", "at least one group with a budget")
        kinds = {g.kind for g in groups.values()}
        if len(kinds) > 1:
            raise ItemFieldError(None, self.budget_by + "s",
                                 "budgets of one kind: all 'risk_budget' or all 'weight', not a mix")
        total = sum(g.budget for g in groups.values())
        if abs(total - 1.0) > 1e-4:
            raise ItemFieldError(None, self.budget_by + "s", f"budgets summing to 1, they sum to {total:g}")
        if self.end is not None and self.end <= self.start:
            raise ItemFieldError(None, "end", f"a date after start ({self.start}), got {self.end}")
        if self.min_history > self.lookback:
            raise ItemFieldError(None, "min_history", f"at most lookback ({self.lookback}), got {self.min_history}")
        names = [b.name for b in self.benchmarks]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ItemFieldError(f"benchmark {sorted(dup)[0]}", "name", "unique; this name appears twice")
        return self

    # ------------------------------------------------------------ derived
    @property
    def budget_by(self) -> str:
        """``"sleeve"`` or ``"layer"``: the taxonomy field the budgets are set on."""
        return "sleeve" if self.sleeves is not None else "layer"

    @property
    def budgets(self) -> dict[str, GroupBudget]:
        return dict(self.sleeves if self.sleeves is not None else self.layers or {})

    @property
    def budget_kind(self) -> str:
        """``"risk"`` (risk budgets) or ``"weight"`` (weight budgets)."""
        return next(iter(self.budgets.values())).kind

    @property
    def file(self) -> Path | None:
        """The file this strategy was read from (None when built in memory)."""
        return self._file

    def resolve(self, name: str | None, field: str) -> Path | None:
        """Find a file named in the strategy: as given (absolute), next to the strategy file,
        then in the package resources. Raises :class:`ConfigError` naming the field."""
        if name is None:
            return None
        p = Path(name).expanduser()
        cands = [p] if p.is_absolute() else []
        if not p.is_absolute():
            if self._file is not None:
                cands.append(self._file.parent / p)
            cands.append(Path.cwd() / p)
            cands.append(resources_dir() / p)
        for c in cands:
            if c.is_file():
                return c
        raise ConfigError(str(self._file) if self._file else None, field,
                          f"an existing file (looked next to the strategy file and in the package resources), got {name!r}",
                          line=line_of(self._file, tuple(field.split("."))))

    def resolve_dir(self, name: str | None, field: str) -> Path | None:
        """Like :meth:`resolve` for a folder (data.path)."""
        if name is None:
            return None
        p = Path(name).expanduser()
        cands = [p] if p.is_absolute() else [*( [self._file.parent / p] if self._file else []), Path.cwd() / p]
        for c in cands:
            if c.is_dir():
                return c
        raise ConfigError(str(self._file) if self._file else None, field, f"an existing folder, got {name!r}")

    def with_overrides(self, **changes) -> "Strategy":
        """A copy with top-level fields replaced (validated again); keeps the file location."""
        raw = self.model_dump(mode="python", exclude_none=False)
        raw.update(changes)
        out = parse_model(Strategy, raw, str(self._file) if self._file else None)
        out._file = self._file
        return out


def resources_dir() -> Path:
    """The package's ``resources`` folder."""
    return Path(str(resources.files("computefolio") / "resources"))


def default_strategy_path() -> Path:
    """Path of the shipped ``resources/strategies/compute_backed.yaml``."""
    return resources_dir() / "strategies" / "compute_backed.yaml"


def load_strategy(path: str | Path | None = None, *, check: bool = True) -> Strategy:
    """Load and validate a strategy file (the shipped one when ``path`` is None).

    With ``check`` (the default) every name the file gives must exist: the universe,
    mandate, cost and scenario files, sleeves or layers, benchmark symbols, scenario
    names (:func:`computefolio.references.check_strategy`).

    Raises
    ------
    ConfigError
        One line naming the file, the item (sleeve, benchmark, ...) and the field.
    """
    p = default_strategy_path() if path is None else Path(path)
    s = load_yaml_model(p, Strategy)
    s._file = p.resolve()
    if check:
        from .references import check_strategy

        check_strategy(s)
    return s


def strategy_from_dict(raw: dict, file: str | Path | None = None) -> Strategy:
    """Validate an in-memory strategy (same schema as the YAML file)."""
    s = parse_model(Strategy, raw, str(file) if file else None)
    s._file = Path(file).resolve() if file else None
    return s
