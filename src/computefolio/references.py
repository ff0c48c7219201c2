"""Names that refer to something must exist: checked when a file is loaded.

A strategy names a universe, sleeves or layers, allocators and their parameters,
benchmark symbols, a mandate file, a cost file and stress scenarios; a mandate names
symbols, sleeves, layers and themes; a cost file names symbols and venues; a
holdings file names symbols. Each name is checked here, when the file is loaded
(:func:`computefolio.strategy.load_strategy` calls :func:`check_strategy`), not when a
code path happens to build the thing it names. A wrong name is a
:class:`~computefolio.errors.ConfigError`: one line naming the file, the line, the
field and the names that would have been accepted.

Allocator names are the same in the CLI (``computefolio allocate --method``) and in
strategy and mandate files: every method has a long name (``min_variance``) and a
short one (``minvar``), both accepted everywhere (:func:`allocator_method` gives the
long one, which is what a loaded file holds). An allocator's parameters must be
constructor parameters of its class, of the right type and within the ranges of
:data:`PARAMETER_RULES`.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .config import line_of
from .errors import ConfigError, ItemFieldError

__all__ = ["allocator_method", "allocator_names", "check_allocator_params", "check_strategy", "check_mandate",
           "check_costs", "check_names", "PARAMETER_RULES", "KINDS", "detect_kind", "load_checked"]

#: Long names of the short method names of :data:`computefolio.allocate.METHODS` (the
#: others are the same in both forms).
_LONG = {"ew": "equal_weight", "ivol": "inverse_vol", "minvar": "min_variance", "maxdiv": "max_diversification",
         "maxsharpe": "max_sharpe", "mincvar": "min_cvar", "budgets": "risk_budgets"}

#: Constructor parameters no file sets (the library passes them).
_INTERNAL = {"self", "covariance", "mandate"}


def _tables():
    from . import allocate

    return allocate.METHODS, getattr(allocate, "_ALIASES", {})


def _short(name: str) -> str:
    methods, aliases = _tables()
    key = str(name).strip().lower()
    if key in methods:
        return key
    if key in aliases:
        return aliases[key]
    inverse = {v: k for k, v in _LONG.items()}
    return inverse.get(key, key)


def allocator_names(*, budgets: bool = False) -> list[str]:
    """Accepted method names as ``"long (short)"`` strings, for messages and docs."""
    methods, _ = _tables()
    out = []
    for s in methods:
        if s == "budgets" and not budgets:
            continue
        long = _LONG.get(s, s)
        out.append(long if long == s else f"{long} ({s})")
    return out


def allocator_method(name: Any, *, budgets: bool = False) -> str:
    """The long name of an allocator method given by its long or short name.

    Raises
    ------
    ValueError
        Naming the accepted methods (``budgets``, the mandate's own risk budgets, only
        where ``budgets=True``).
    """
    if not isinstance(name, str):
        raise ValueError(f"an allocator name ({', '.join(allocator_names(budgets=budgets))}), got {name!r}")
    methods, _ = _tables()
    s = _short(name)
    if s not in methods or (s == "budgets" and not budgets):
        raise ValueError(f"one of {', '.join(allocator_names(budgets=budgets))}")
    return _LONG.get(s, s)


# ----------------------------------------------------------------------------- parameters
def _between(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False):
    def check(v) -> str | None:
        ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
        return None if ok else f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}, got {v!r}"
    return check


def _one_of(*choices):
    def check(v) -> str | None:
        return None if v in choices else f"one of {', '.join(map(str, choices))}; got {v!r}"
    return check


def _bounds(v) -> str | None:
    lo, hi = v
    if not -10.0 <= lo <= hi <= 10.0:
        return f"[min, max] with -10 <= min <= max <= 10, got {list(v)}"
    return None


def _linkages():
    try:
        from .allocate.hierarchical import _LINKAGES
        return tuple(_LINKAGES)
    except ImportError:  # pragma: no cover
        return ("single", "complete", "average", "weighted", "centroid", "median", "ward")


#: Value rules of allocator parameters by name (after the type check): each returns
#: None when the value is acceptable, else what was expected.
PARAMETER_RULES: dict[str, Any] = {
    "linkage": lambda v: _one_of(*_linkages())(v),
    "power": _between(0.0, 10.0, lo_open=True),
    "n_clusters": lambda v: None if v is None else _between(1, 1000)(v),
    "max_k": _between(1, 1000),
    "beta": _between(0.5, 1.0, hi_open=True),
    "risk_free": _between(-1.0, 1.0),
    "risk_aversion": _between(0.0, 1e6, lo_open=True),
    "target_volatility": lambda v: None if v is None else _between(0.0, 5.0, lo_open=True)(v),
    "target_return": lambda v: None if v is None else _between(-1.0, 1.0)(v),
    "periods_per_year": lambda v: None if v is None else _between(1.0, 400.0)(v),
    "bounds": _bounds,
    "solver": _one_of("auto", "active_set", "cvxpy"),
    "formulation": _one_of("dual", "primal"),
    "method": _one_of("highs", "highs-ds", "highs-ipm"),
}


def _allocator_class(short: str):
    from . import allocate

    if short == "budgets":
        return allocate.GroupRiskBudget
    return type(allocate.make_allocator(short))


def _kind(ann, default) -> tuple[str, bool, int]:
    """(kind, optional, tuple length) of a parameter: kind is bool|int|float|str|tuple|other."""
    optional = default is None
    if ann is inspect.Parameter.empty or ann is None:
        ann = type(default) if default is not None else None
    origin = typing.get_origin(ann)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        optional = optional or len(args) < len(typing.get_args(ann))
        ann = args[0] if len(args) == 1 else None
        origin = typing.get_origin(ann)
    if ann in (bool, int, float, str):
        return ann.__name__, optional, 0
    if ann is tuple or origin is tuple:
        args = typing.get_args(ann)
        return "tuple", optional, len(args) if args and args[-1] is not Ellipsis else 0
    return "other", optional, 0


def _type_problem(kind: str, n: int, v) -> str | None:
    if kind == "bool":
        return None if isinstance(v, bool) else f"true or false, got {v!r}"
    if kind == "int":
        return None if isinstance(v, int) and not isinstance(v, bool) else f"a whole number, got {v!r}"
    if kind == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"a number, got {v!r}"
        return None if math.isfinite(v) else f"a finite number, got {v!r}"
    if kind == "str":
        return None if isinstance(v, str) else f"a name (text), got {v!r}"
    if kind == "tuple":
        if not isinstance(v, (list, tuple)) or (n and len(v) != n) \
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v):
            return f"a list of {n or 'some'} numbers, got {v!r}"
        return None
    return "a parameter that can be set in a file (this one is set by the program)"


def check_allocator_params(method: str, params: dict, *, field: str = "allocator") -> None:
    """Refuse parameters an allocator does not take, of the wrong type or out of range.

    Raises
    ------
    ItemFieldError
        Field ``"<field>.<parameter>"``.
    """
    if not params:
        return
    short = _short(method)
    cls = _allocator_class(short)
    sig = inspect.signature(cls.__init__)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # pragma: no cover - unresolvable annotations: fall back to defaults
        hints = {}
    accepted = {k: p for k, p in sig.parameters.items()
                if k not in _INTERNAL and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if short == "maxsharpe":
        accepted.pop("objective", None)  # fixed by the method name
    if short == "budgets":
        accepted = {}
    long = _LONG.get(short, short)
    for name, v in params.items():
        if name not in accepted:
            takes = f"accepted: {', '.join(accepted)}" if accepted else "it takes none"
            raise ItemFieldError(None, f"{field}.{name}", f"a parameter of the {long} allocator ({takes})")
        p = accepted[name]
        default = None if p.default is inspect.Parameter.empty else p.default
        kind, optional, n = _kind(hints.get(name, p.annotation), default)
        if v is None and optional:
            continue
        problem = _type_problem(kind, n, v)
        if problem is None and name in PARAMETER_RULES:
            problem = PARAMETER_RULES[name](v)
        if problem:
            raise ItemFieldError(None, f"{field}.{name}", problem)


# ----------------------------------------------------------------------------- names
def _known_text(known: Iterable[str], limit: int = 12) -> str:
    k = sorted(map(str, known))
    return ", ".join(k[:limit]) + (f", ... ({len(k)} in all)" if len(k) > limit else "")


def check_names(names: Iterable[str], known: Iterable[str], *, file: str | None, field: str, what: str,
                loc: tuple = (), item: str | None = None, by_key: bool = True) -> None:
    """Every name must be in ``known``; the first one that is not raises :class:`ConfigError`.

    ``loc`` is the path of the mapping or list holding the names in the file (for the
    line); with ``by_key`` the name itself is the last path element (a mapping key),
    else its index is (a list item).
    """
    known = set(known)
    for i, n in enumerate(names):
        if n not in known:
            line = line_of(file, loc + ((n,) if by_key else (i,)))
            fld = f"{field}.{n}" if by_key else field
            raise ConfigError(file, fld, f"{what} (known: {_known_text(known)}); got {n!r}", item=item, line=line)


def check_mandate(mandate, universe, file: str | Path | None = None) -> None:
    """Every symbol, sleeve, layer and theme a mandate names exists in the universe.

    Raises
    ------
    ConfigError
        Naming the mandate file, the line and the field.
    """
    f = None if file is None else str(file)
    u = universe
    where = f"a symbol of the universe {u.name}"
    check_names(mandate.assets.overrides, u.symbols, file=f, field="assets.overrides", what=where,
                loc=("assets", "overrides"))
    check_names(mandate.restricted, u.symbols, file=f, field="restricted", what=where, loc=("restricted",),
                by_key=False)
    for k, g in enumerate(mandate.groups):
        known = u.groups(g.by)
        if g.group not in known:
            raise ConfigError(f, "group", f"a {g.by} of the universe {u.name} (known: {_known_text(known)}); "
                                          f"got {g.group!r}", item=f"group #{k + 1} ({g.by} {g.group})",
                              line=line_of(f, ("groups", k, "group")))
    rb = mandate.risk_budgets
    if rb is not None:
        check_names(rb.budgets, u.groups(rb.by), file=f, field="risk_budgets.budgets",
                    what=f"a {rb.by} of the universe {u.name}", loc=("risk_budgets", "budgets"))


def check_costs(costs, universe, file: str | Path | None = None) -> None:
    """Every symbol of a cost file exists in the universe, and every venue an asset of the
    universe trades on has its costs in the file (or the asset its own ``venue`` override).

    ``default_venue`` covers symbols outside the universe only: an asset of the universe
    whose venue the cost file does not list is refused here rather than charged another
    venue's costs (a misspelt or renamed venue would otherwise go unnoticed).

    Raises
    ------
    ConfigError
    """
    f = None if file is None else str(file)
    u = universe
    check_names(costs.assets, u.symbols, file=f, field="assets", what=f"a symbol of the universe {u.name}",
                loc=("assets",))
    for a in u.assets:
        if a.asset_class == "private":
            continue  # never traded on a venue: valued by marks (computefolio.private)
        own = costs.assets[a.symbol].venue if a.symbol in costs.assets else None
        if own is None and a.venue not in costs.venues:
            raise ConfigError(f, "venues", f"the costs of every venue the universe {u.name} trades on: "
                                           f"{a.symbol} trades on {a.venue!r}, not among {_known_text(costs.venues)} "
                                           f"(add it, or give {a.symbol} a venue under 'assets')",
                              line=line_of(f, ("venues",)))


def check_strategy(strategy, universe=None) -> None:
    """Every name a strategy file gives refers to something that exists.

    Checks the universe file, the sleeves or layers of the budgets, the benchmark
    symbols and sleeves, the mandate and cost files (loaded and checked against the
    universe with :func:`check_mandate` and :func:`check_costs`), the stress scenario
    file and the scenario names the strategy selects. Allocator names and parameters
    are checked by the strategy model itself (:func:`check_allocator_params`).

    Raises
    ------
    ConfigError
        One line naming the file (the strategy, or the mandate/cost/scenario file it
        names), the line and the field.
    """
    from .universe import load_universe

    s = strategy
    f = str(s.file) if s.file is not None else None
    if universe is None:
        upath = s.resolve(s.universe, "universe") if s.universe else None
        universe = load_universe(upath)
    u = universe
    by = s.budget_by
    check_names(s.budgets, u.groups(by), file=f, field=f"{by}s", what=f"a {by} of the universe {u.name}",
                loc=(f"{by}s",))
    for i, b in enumerate(s.benchmarks):
        item = f"benchmark {b.name}"
        check_names(b.weights or {}, u.symbols, file=f, field="weights", item=item,
                    what=f"a symbol of the universe {u.name}", loc=("benchmarks", i, "weights"))
        check_names(b.equal_weight or [], u.sleeves, file=f, field="equal_weight", item=item,
                    what=f"a sleeve of the universe {u.name}", loc=("benchmarks", i, "equal_weight"), by_key=False)
    if s.mandate:
        from .allocate.mandate import load_mandate

        mp = s.resolve(s.mandate, "mandate")
        check_mandate(load_mandate(mp), u, mp)
    if s.costs:
        from .backtest.costs import load_costs

        cp = s.resolve(s.costs, "costs")
        check_costs(load_costs(cp), u, cp)
    if s.private:
        from .private.positions import load_private_book

        load_private_book(s.resolve(s.private, "private"), universe=u)
    wants = [(k, getattr(s.stress, k)) for k in ("historical", "hypothetical")]
    if any(w != "none" for _, w in wants):
        from .risk.stress import load_scenarios

        sp = s.resolve(s.stress.file, "stress.file") if s.stress.file else None
        scen = load_scenarios(sp, u)
        for kind, want in wants:
            if isinstance(want, list):
                check_names(want, [x.name for x in scen if x.kind == kind], file=f, field=f"stress.{kind}",
                            what=f"a {kind} scenario", loc=("stress", kind), by_key=False)


# ----------------------------------------------------------------------------- any input file
#: Input file kinds :func:`load_checked` reads.
KINDS: tuple[str, ...] = ("strategy", "mandate", "costs", "universe", "scenarios", "holdings")

_STRATEGY_KEYS = {"allocator", "lookback", "min_history", "schedule", "benchmarks", "data", "basis", "mandate",
                  "costs", "stress", "vol_target", "drift_bands", "covariance", "cash_rate", "start", "end"}
_MANDATE_KEYS = {"long_only", "cash_min", "groups", "restricted", "turnover_max", "gross_leverage_max", "liquidity",
                 "risk_budgets", "hold_benchmarks", "compute_exposure_min", "cure_days"}


def detect_kind(path: str | Path) -> str:
    """The kind of an input file from its suffix (CSV: holdings) and its top-level keys.

    Raises
    ------
    ConfigError
        When the file cannot be read or its keys match no kind.
    """
    from .config import read_yaml
    from .holdings import is_holdings_yaml

    p = Path(path)
    if p.suffix.lower() not in (".yaml", ".yml"):
        return "holdings"
    raw = read_yaml(p, aliases=True)
    if isinstance(raw, dict):
        if "scenarios" in raw:
            return "scenarios"
        if is_holdings_yaml(raw):
            return "holdings"
        if isinstance(raw.get("assets"), list):
            return "universe"
        if "venues" in raw or "impact_k" in raw or "default_venue" in raw:
            return "costs"
        if _STRATEGY_KEYS & set(raw) or "sleeves" in raw or "layers" in raw:
            return "strategy"
        if _MANDATE_KEYS & set(raw) or "assets" in raw:
            return "mandate"
    raise ConfigError(str(p), "(top level)", f"a {', '.join(KINDS[:-1])} or {KINDS[-1]} file "
                                             "(its top-level keys match none; give the kind)")


def load_checked(path: str | Path, kind: str | None = None, universe=None) -> tuple[str, Any]:
    """Load any input file as a run would, with every check of this module.

    Parameters
    ----------
    path : path
    kind : one of :data:`KINDS`, optional
        Detected from the file when None (:func:`detect_kind`).
    universe : Universe or path, optional
        What mandate, cost, scenario and holdings files are checked against (default:
        the shipped universe). A strategy names its own.

    Returns
    -------
    (kind, object)
        The loaded Strategy, Mandate, CostModel, Universe, list of scenarios or Holdings.

    Raises
    ------
    ConfigError
        One line naming the file, the line and the field.
    """
    from .universe import Universe, load_universe

    p = Path(path)
    kind = kind or detect_kind(p)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "strategy":
        from .strategy import load_strategy

        return kind, load_strategy(p)
    if kind == "universe":
        return kind, load_universe(p)
    u = universe if isinstance(universe, Universe) else load_universe(universe)
    if kind == "mandate":
        from .allocate.mandate import load_mandate

        m = load_mandate(p)
        check_mandate(m, u, p)
        return kind, m
    if kind == "costs":
        from .backtest.costs import load_costs

        c = load_costs(p)
        check_costs(c, u, p)
        return kind, c
    if kind == "scenarios":
        from .risk.stress import load_scenarios

        return kind, load_scenarios(p, u)
    from .holdings import load_holdings

    return kind, load_holdings(p, u)
