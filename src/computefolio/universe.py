"""The universe: assets and their point-in-time, weighted value-chain taxonomy.

A universe file (YAML, schema below, validated by pydantic) defines

* ``sleeves``, ``layers`` and ``themes``, each a mapping ``id -> {name, description}``;
* ``assets``: one entry per symbol with its asset class, sleeve, calendar, venue,
  currency, listing dates, and its **classification**: layer membership *weights*
  (a partition: they sum to 1, so a bitcoin miner that earns 40% of its revenue from
  AI hosting is ``{miners: 0.6, ai_hosting: 0.4}``), theme weights (overlapping,
  each in [0, 1]; a plain list means weight 1 each), a compute-exposure score in
  [0, 1] and a one-line rationale.
* A classification can change over time: ``history`` lists earlier classifications,
  each in force from its ``since`` date until the next one; the top-level fields are
  the current one. :meth:`Universe.membership` answers for any date, so a backtest
  in 2021 sees the 2021 classification.

The shipped universe is ``resources/compute_backed.yaml`` (:func:`load_universe` with
no argument).
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .clock import CRYPTO
from .config import load_yaml_model, parse_model
from .errors import ItemFieldError

AssetClass = Literal["equity", "etf", "crypto", "index", "private", "rate", "cash"]
GroupField = Literal["layer", "theme", "sleeve", "asset_class", "venue", "calendar", "asset"]
GROUP_FIELDS: tuple[str, ...] = ("layer", "theme", "sleeve", "asset_class", "venue", "calendar", "asset")

_TOL = 1e-6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupDef(_Strict):
    """A sleeve, layer or theme: a display name and what belongs in it."""

    name: str
    description: str


def _themes_to_weights(v):
    if v is None:
        return {}
    if isinstance(v, (list, tuple)):
        return {str(t): 1.0 for t in v}
    return v


class Classification(_Strict):
    """Where an asset sits in the value chain, in force from ``since``.

    Attributes
    ----------
    since : date or None
        First day this classification applies (None: from the start of history).
    layers : dict[str, float]
        Layer id -> weight; weights are in (0, 1] and sum to 1.
    themes : dict[str, float]
        Theme id -> weight in (0, 1]; themes overlap, so they need not sum to 1.
    compute_exposure : float
        0 (none) to 1 (pure compute), the share of value driven by demand for compute.
    rationale : str
        One line saying why.
    """

    since: dt.date | None = None
    layers: dict[str, float]
    themes: dict[str, float] = Field(default_factory=dict)
    compute_exposure: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(min_length=3)

    _norm_themes = field_validator("themes", mode="before")(_themes_to_weights)

    @field_validator("layers")
    @classmethod
    def _layers_partition(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("at least one layer with a weight")
        for k, w in v.items():
            if not (0.0 < w <= 1.0):
                raise ValueError(f"layer weight of '{k}' must be in (0, 1], got {w}")
        total = sum(v.values())
        if abs(total - 1.0) > _TOL:
            raise ValueError(f"layer weights must sum to 1, they sum to {total:g}")
        return v

    @field_validator("themes")
    @classmethod
    def _theme_weights(cls, v: dict[str, float]) -> dict[str, float]:
        for k, w in v.items():
            if not (0.0 < w <= 1.0):
                raise ValueError(f"theme weight of '{k}' must be in (0, 1], got {w}")
        return v


class Liquidity(_Strict):
    """Liquidity terms beyond market volume (private stakes, locked or vesting tokens)."""

    locked_until: dt.date | None = None
    notice_days: int = Field(default=0, ge=0, le=3650)


class ProxyBasket(_Strict):
    """Listed assets that stand in for a private one (roll-forward of its marks, its risk).

    ``weights``: symbols of the universe (not private) with weights in (0, 1] summing to 1;
    ``beta``: how far the private asset moves per unit move of the basket (computefolio.private).
    """

    weights: dict[str, float]
    beta: float = Field(default=1.0, gt=0.0, le=5.0)
    note: str = ""

    @field_validator("weights")
    @classmethod
    def _partition(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("at least one symbol with a weight")
        for k, w in v.items():
            if not (0.0 < w <= 1.0):
                raise ValueError(f"weight of '{k}' must be in (0, 1], got {w}")
        total = sum(v.values())
        if abs(total - 1.0) > _TOL:
            raise ValueError(f"basket weights must sum to 1, they sum to {total:g}")
        return v


class TickerMigration(_Strict):
    """A ticker change at the venues (live data): the old ticker's bars continue the asset's series.

    Attributes
    ----------
    old : str
        The ticker before the change (``RNDR``).
    date : date
        First day under the current ticker; bars before it are fetched under the old one.
        ``dates`` overrides it per source (venues switch on different days).
    ratio : float
        Current units per old unit (1 for a rename). Old prices are divided by it and old
        volumes multiplied by it, so the series is in current units throughout.
    sources : dict[str, str]
        Old source symbol per source (default: derived from ``old`` like the current one).
    note : str
    """

    old: str = Field(min_length=1)
    date: dt.date
    ratio: float = Field(default=1.0, gt=0)
    sources: dict[str, str] = Field(default_factory=dict)
    dates: dict[str, dt.date] = Field(default_factory=dict)
    note: str = ""


class Asset(_Strict):
    """One tradable (or marked) asset of the universe. See the module docstring."""

    symbol: str = Field(min_length=1)
    name: str
    asset_class: AssetClass
    sleeve: str
    calendar: str
    venue: str
    currency: str = "USD"
    listed: dt.date | None = None
    delisted: dt.date | None = None
    layers: dict[str, float]
    themes: dict[str, float] = Field(default_factory=dict)
    compute_exposure: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(min_length=3)
    since: dt.date | None = None
    history: list[Classification] = Field(default_factory=list)
    benchmark: bool = False
    proxy: str | None = None
    liquidity: Liquidity | None = None
    #: Private assets (and listed ones with a private history): the listed basket their marks
    #: roll forward on and their risk is taken from (computefolio.private).
    proxy_basket: ProxyBasket | None = None
    #: Look-through: a vehicle that holds another asset one for one (a spot-bitcoin ETF or
    #: trust -> ``BTC``) counts as exposure to it for concentration rules (book, compliance).
    underlying: str | None = None
    #: Issuer of the security when it matters for issuer caps (default: the symbol itself).
    issuer: str | None = None
    #: Live data (``computefolio data sync``): source symbol per source (``yahoo: BTC-USD``,
    #: ``binance: BTC/USDT``; ccxt unified symbols name the quote currency, ``BASE/QUOTE:SETTLE``
    #: asks for the perpetual and its funding), overriding computefolio.data.symbols' defaults;
    #: and ticker migrations with their dates (a migration continues the series).
    sources: dict[str, str] = Field(default_factory=dict)
    migrations: list[TickerMigration] = Field(default_factory=list)

    _norm_themes = field_validator("themes", mode="before")(_themes_to_weights)
    _layers_partition = field_validator("layers")(Classification._layers_partition.__func__)
    _theme_weights = field_validator("themes")(Classification._theme_weights.__func__)

    @field_validator("calendar")
    @classmethod
    def _calendar_known(cls, v: str) -> str:
        if v == CRYPTO:
            return v
        import exchange_calendars as xcals

        if v not in xcals.get_calendar_names():
            raise ValueError(f"'24/7' or an exchange_calendars code such as 'XNYS', got {v!r}")
        return v

    @model_validator(mode="after")
    def _dates_ordered(self):
        if self.listed and self.delisted and self.delisted < self.listed:
            raise ValueError("delisted must not be before listed")
        sinces = [h.since for h in self.history]
        if any(s is None for s in sinces[1:]):
            raise ValueError("every history entry after the first needs a 'since' date")
        known = [s for s in sinces if s is not None] + ([self.since] if self.since else [])
        if known != sorted(known) or len(set(known)) != len(known):
            raise ValueError("history 'since' dates must increase and precede the current 'since'")
        if self.history and self.since is None:
            raise ValueError("an asset with a history needs 'since' for its current classification")
        return self

    @property
    def current(self) -> Classification:
        """The classification in force now."""
        return Classification(since=self.since, layers=self.layers, themes=self.themes,
                              compute_exposure=self.compute_exposure, rationale=self.rationale)

    def classification_at(self, date=None) -> Classification:
        """The classification in force on ``date`` (the current one when None)."""
        if date is None:
            return self.current
        d = pd.Timestamp(date).date()
        chain = [*self.history, self.current]
        chosen = chain[0]
        for c in chain:
            if c.since is None or c.since <= d:
                chosen = c
        return chosen

    def is_listed(self, date) -> bool:
        """True when ``date`` falls inside [listed, delisted]."""
        d = pd.Timestamp(date).date()
        return (self.listed is None or d >= self.listed) and (self.delisted is None or d <= self.delisted)


class Universe(_Strict):
    """A set of assets with their sleeves, layers and themes (see module docstring)."""

    name: str
    description: str = ""
    base_currency: str = "USD"
    sleeves: dict[str, GroupDef]
    layers: dict[str, GroupDef]
    themes: dict[str, GroupDef] = Field(default_factory=dict)
    assets: list[Asset]
    _index: dict | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _references(self):
        seen: set[str] = set()
        for a in self.assets:
            if a.symbol in seen:
                raise ItemFieldError(f"asset {a.symbol}", "symbol", "unique; this symbol appears twice")
            seen.add(a.symbol)
        for a in self.assets:
            if a.sleeve not in self.sleeves:
                raise ItemFieldError(f"asset {a.symbol}", "sleeve", f"one of {sorted(self.sleeves)}, got {a.sleeve!r}")
            for c in [*a.history, a.current]:
                for lay in c.layers:
                    if lay not in self.layers:
                        raise ItemFieldError(f"asset {a.symbol}", "layers", f"a layer defined under 'layers' "
                                            f"(known: {', '.join(sorted(self.layers))}), got {lay!r}")
                for th in c.themes:
                    if th not in self.themes:
                        raise ItemFieldError(f"asset {a.symbol}", "themes", f"a theme defined under 'themes', got {th!r}")
            if a.proxy is not None and a.proxy not in seen:
                raise ItemFieldError(f"asset {a.symbol}", "proxy", f"a symbol listed earlier in this universe, got {a.proxy!r}")
            if a.underlying is not None and (a.underlying not in seen or a.underlying == a.symbol):
                raise ItemFieldError(f"asset {a.symbol}", "underlying", f"another symbol of this universe, got {a.underlying!r}")
        by_sym = {a.symbol: a for a in self.assets}
        for a in self.assets:
            for s in (a.proxy_basket.weights if a.proxy_basket is not None else {}):
                if s not in by_sym or s == a.symbol or by_sym[s].asset_class == "private":
                    raise ItemFieldError(f"asset {a.symbol}", "proxy_basket.weights",
                                         f"listed (not private) symbols of this universe other than itself, got {s!r}")
        return self

    # ------------------------------------------------------------------ access
    @property
    def symbols(self) -> list[str]:
        """Symbols in file order."""
        return [a.symbol for a in self.assets]

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._by_symbol()

    def __len__(self) -> int:
        return len(self.assets)

    def _by_symbol(self) -> dict[str, Asset]:
        if self._index is None:
            self._index = {a.symbol: a for a in self.assets}
        return self._index

    def asset(self, symbol: str) -> Asset:
        """The asset with this symbol; KeyError naming the symbol if absent."""
        try:
            return self._by_symbol()[symbol]
        except KeyError:
            raise KeyError(f"{symbol!r} is not in universe {self.name!r}") from None

    def listing_dates(self) -> dict[str, tuple[dt.date | None, dt.date | None]]:
        """Symbol -> (listed, delisted): each asset's usable life (None = open-ended)."""
        return {a.symbol: (a.listed, a.delisted) for a in self.assets}

    @property
    def calendars(self) -> dict[str, str]:
        """Symbol -> calendar name."""
        return {a.symbol: a.calendar for a in self.assets}

    def select(self, *, sleeve: str | None = None, asset_class: str | None = None,
               benchmark: bool | None = None, calendar: str | None = None) -> list[str]:
        """Symbols matching every given filter."""
        out = []
        for a in self.assets:
            if sleeve is not None and a.sleeve != sleeve:
                continue
            if asset_class is not None and a.asset_class != asset_class:
                continue
            if benchmark is not None and a.benchmark != benchmark:
                continue
            if calendar is not None and a.calendar != calendar:
                continue
            out.append(a.symbol)
        return out

    def groups(self, by: str) -> list[str]:
        """Group ids of a taxonomy field, in definition order."""
        _check_field(by)
        if by == "layer":
            return list(self.layers)
        if by == "theme":
            return list(self.themes)
        if by == "sleeve":
            return list(self.sleeves)
        if by == "asset":
            return self.symbols
        return list(dict.fromkeys(getattr(a, by) for a in self.assets))

    def group_name(self, by: str, group: str) -> str:
        """Display name of a group (falls back to the id)."""
        table = {"layer": self.layers, "theme": self.themes, "sleeve": self.sleeves}.get(by, {})
        return table[group].name if group in table else group

    def membership(self, by: str = "layer", date=None, symbols=None) -> pd.DataFrame:
        """Membership weights, symbols x groups, as of ``date``.

        Parameters
        ----------
        by : {"layer", "theme", "sleeve", "asset_class", "venue", "calendar", "asset"}
            Taxonomy field. Layers are weighted partitions (rows sum to 1); themes are
            overlapping weights in [0, 1]; the other fields are 0/1 indicators.
        date : date-like, optional
            Point in time for the classification (None: current).
        symbols : sequence of str, optional
            Rows to return, in this order (default: all). Unknown symbols raise KeyError.

        Returns
        -------
        pandas.DataFrame
            float64, index = symbols, columns = group ids (groups with no member
            among ``symbols`` are kept as zero columns).
        """
        _check_field(by)
        symbols = list(self.symbols if symbols is None else symbols)
        groups = self.groups(by)
        col = {g: j for j, g in enumerate(groups)}
        m = np.zeros((len(symbols), len(groups)))
        for i, s in enumerate(symbols):
            a = self.asset(s)
            if by in ("layer", "theme"):
                c = a.classification_at(date)
                for g, w in (c.layers if by == "layer" else c.themes).items():
                    m[i, col[g]] = w
            elif by == "asset":
                m[i, col[s]] = 1.0
            else:
                m[i, col[getattr(a, by)]] = 1.0
        return pd.DataFrame(m, index=pd.Index(symbols, name="symbol"), columns=pd.Index(groups, name=by))

    def exposure(self, weights: pd.Series, by: str = "layer", date=None) -> pd.Series:
        """Look-through exposure of a book: ``weights @ membership(by)``.

        ``weights`` is a Series over symbols (fractions of capital or currency amounts);
        the result is in the same unit, indexed by group id.
        """
        w = weights.astype(float)
        m = self.membership(by, date=date, symbols=list(w.index))
        return (m.T @ w.values).rename("exposure")

    def look_through(self, values: pd.Series) -> pd.Series:
        """Values (or weights) per symbol with each vehicle's amount moved to its ``underlying``
        (GBTC and IBIT count as BTC); symbols not in the universe are kept as they are."""
        v = pd.Series(values, dtype=float)
        idx = self._by_symbol()
        keys = [idx[s].underlying if s in idx and idx[s].underlying else s for s in v.index]
        return v.groupby(pd.Index(keys, name=v.index.name), sort=False).sum()

    def issuer_of(self, symbol: str) -> str:
        """The issuer of ``symbol`` (its ``issuer`` field, else the symbol itself)."""
        return self.asset(symbol).issuer or symbol

    def compute_exposure(self, date=None, symbols=None) -> pd.Series:
        """Compute-exposure score per symbol as of ``date``."""
        symbols = list(self.symbols if symbols is None else symbols)
        return pd.Series([self.asset(s).classification_at(date).compute_exposure for s in symbols],
                         index=symbols, name="compute_exposure")

    def table(self, by: str = "layer") -> pd.DataFrame:
        """Weighted counts per group: how many assets (fractionally) sit in each.

        Columns: ``group``, ``name``, ``assets`` (weighted count), ``members``
        (symbols with their weight when below 1).
        """
        m = self.membership(by)
        rows = []
        for g in m.columns:
            col = m[g]
            members = [f"{s}" if w >= 1 - _TOL else f"{s} ({w:.0%})" for s, w in col[col > 0].items()]
            rows.append({"group": g, "name": self.group_name(by, g), "assets": float(col.sum()),
                         "members": ", ".join(members)})
        return pd.DataFrame(rows)


def _check_field(by: str) -> None:
    if by not in GROUP_FIELDS:
        raise ValueError(f"group field must be one of {', '.join(GROUP_FIELDS)}; got {by!r}")


def default_universe_path() -> Path:
    """Path of the shipped ``compute_backed.yaml``."""
    return Path(str(resources.files("computefolio") / "resources" / "compute_backed.yaml"))


def load_universe(path: str | Path | None = None) -> Universe:
    """Load and validate a universe file (the shipped one when ``path`` is None).

    Raises
    ------
    ConfigError
        Naming the file, the asset and the field when the file breaks the schema.
    """
    p = default_universe_path() if path is None else Path(path)
    return load_yaml_model(p, Universe, aliases=True)  # repeated classifications may share an anchor


def universe_from_dict(raw: dict, file: str | None = None) -> Universe:
    """Validate an in-memory universe definition (same schema as the YAML file)."""
    return parse_model(Universe, raw, file)
