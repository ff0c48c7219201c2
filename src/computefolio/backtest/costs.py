"""Trading costs per venue: fees, half-spread, square-root impact, minimum notional, lots.

A :class:`CostModel` is read from a YAML file (the shipped
``resources/costs_default.yaml`` by default) and turned into per-asset arrays for the
simulator with :meth:`CostModel.arrays`.

Cost of one trade of notional ``x = |quantity| * price`` (currency) in asset ``i``::

    fee    = commission_bps / 1e4 * x          (commission or taker fee)
    spread = half_spread_bps / 1e4 * x         (crossing half the quoted spread)
    impact = k * sigma_daily * sqrt(x / ADV) * x

The impact term is the square-root law of market impact (Almgren, Thum, Hauptmann and
Li, "Direct estimation of equity market impact", Risk 2005; Tóth et al., "Anomalous
price impact and the critical nature of liquidity in financial markets", PRX 2011):
the price moves by ``k * sigma * sqrt(participation)``, paid on the whole notional.
``sigma_daily`` is the asset's return volatility per period of the valuation basis
over the simulator's trailing window (``impact_window`` periods) and ``ADV`` its
average traded value per period (currency; on the session basis crypto volume over a
weekend is summed into Monday's session), both known at the trade date. The impact
of a crypto trade therefore differs slightly between the two bases. Where ADV is unknown (no volume data) the impact is zero and the simulator
records a warning.

A trade whose notional is below the venue's ``min_notional`` is skipped and
recorded. With ``lots=True`` the simulator rounds target positions toward zero to a
multiple of ``lot_size`` (whole shares on equity venues, a quantity step on crypto
venues).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import load_yaml_model, parse_model
from ..errors import ConfigError, ItemFieldError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VenueCost(_Strict):
    """Costs of one venue. Basis points of traded notional; ``min_notional`` in currency."""

    commission_bps: float = Field(default=0.0, ge=0.0, le=1000.0)
    half_spread_bps: float = Field(default=0.0, ge=0.0, le=5000.0)
    min_notional: float = Field(default=0.0, ge=0.0, le=1e9)
    lot_size: float = Field(default=0.0, ge=0.0, le=1e6)
    impact_k: float | None = Field(default=None, ge=0.0, le=5.0)


class AssetCost(_Strict):
    """Per-asset overrides of its venue's values (only the fields given)."""

    venue: str | None = None
    commission_bps: float | None = Field(default=None, ge=0.0, le=1000.0)
    half_spread_bps: float | None = Field(default=None, ge=0.0, le=5000.0)
    min_notional: float | None = Field(default=None, ge=0.0, le=1e9)
    lot_size: float | None = Field(default=None, ge=0.0, le=1e6)
    impact_k: float | None = Field(default=None, ge=0.0, le=5.0)


class CostModel(_Strict):
    """Trading costs per venue with per-asset overrides (see the module docstring).

    Attributes
    ----------
    venues : dict[str, VenueCost]
        Venue name (as in ``Asset.venue``) -> costs.
    assets : dict[str, AssetCost]
        Symbol -> overrides.
    default_venue : str or None
        Venue used for a symbol whose venue is unknown (with a warning); None makes
        an unknown venue an error.
    impact_k : float
        Square-root impact coefficient ``k`` (dimensionless), unless a venue or asset
        sets its own.
    """

    default_venue: str | None = None
    impact_k: float = Field(default=0.0, ge=0.0, le=5.0)  # Almgren et al. (2005): of order 0.1-1
    venues: dict[str, VenueCost] = Field(default_factory=dict)
    assets: dict[str, AssetCost] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_refs(self):
        if self.default_venue is not None and self.default_venue not in self.venues:
            raise ItemFieldError(None, "default_venue", f"one of the venues {sorted(self.venues)}, got {self.default_venue!r}")
        for sym, a in self.assets.items():
            if a.venue is not None and a.venue not in self.venues:
                raise ItemFieldError(f"asset {sym}", "venue", f"one of the venues {sorted(self.venues)}, got {a.venue!r}")
        return self

    # ------------------------------------------------------------------ builders
    @classmethod
    def zero(cls) -> "CostModel":
        """No costs at all (one venue ``"any"``)."""
        return cls(default_venue="any", venues={"any": VenueCost()})

    @classmethod
    def proportional(cls, bps: float, half_spread_bps: float = 0.0) -> "CostModel":
        """A flat fee of ``bps`` (plus optional half-spread) on every trade, no impact, no lots."""
        return cls(default_venue="any", venues={"any": VenueCost(commission_bps=bps, half_spread_bps=half_spread_bps)})

    # ------------------------------------------------------------------ lookup
    def venue_of(self, symbol: str, venue: str | None) -> tuple[str, bool]:
        """Venue used for ``symbol`` and whether it fell back to the default."""
        a = self.assets.get(symbol)
        if a is not None and a.venue is not None:
            return a.venue, False
        if venue is not None and venue in self.venues:
            return venue, False
        if self.default_venue is None:
            raise ConfigError(None, "venue", f"a venue of the cost file {sorted(self.venues)} "
                              f"(got {venue!r}; set default_venue)", item=f"asset {symbol}")
        return self.default_venue, venue is not None or len(self.venues) > 1

    def arrays(self, symbols: Sequence[str], venues: Mapping[str, str] | None = None) -> dict:
        """Per-asset cost parameters as arrays aligned with ``symbols``.

        Parameters
        ----------
        symbols : sequence of str
        venues : mapping symbol -> venue name, optional
            Usually ``{a.symbol: a.venue for a in universe.assets}``.

        Returns
        -------
        dict
            ``fee`` and ``spread`` (fractions of notional), ``impact_k``,
            ``min_notional`` (currency), ``lot`` (units, 0 = none), all float arrays of
            shape (n_assets,); ``venue`` (list of str); ``fallback`` (symbols mapped to
            the default venue).
        """
        venues = dict(venues or {})
        n = len(symbols)
        out = {k: np.zeros(n) for k in ("fee", "spread", "impact_k", "min_notional", "lot")}
        names, fallback = [], []
        for i, s in enumerate(symbols):
            v, fell = self.venue_of(s, venues.get(s))
            if fell and s in venues:
                fallback.append(s)
            vc = self.venues[v]
            a = self.assets.get(s) or AssetCost()

            def pick(field):
                val = getattr(a, field)
                return getattr(vc, field) if val is None else val

            out["fee"][i] = pick("commission_bps") / 1e4
            out["spread"][i] = pick("half_spread_bps") / 1e4
            out["min_notional"][i] = pick("min_notional")
            out["lot"][i] = pick("lot_size")
            k = a.impact_k if a.impact_k is not None else (vc.impact_k if vc.impact_k is not None else self.impact_k)
            out["impact_k"][i] = k
            names.append(v)
        if fallback:
            warnings.warn(f"unknown venue for {', '.join(fallback)}: using default venue {self.default_venue!r}",
                          stacklevel=2)
        out["venue"] = names
        out["fallback"] = fallback
        return out

    @property
    def has_impact(self) -> bool:
        return self.impact_k > 0 or any((v.impact_k or 0) > 0 for v in self.venues.values()) or \
            any((a.impact_k or 0) > 0 for a in self.assets.values())


def default_costs_path() -> Path:
    """Path of the shipped ``costs_default.yaml``."""
    return Path(str(resources.files("computefolio") / "resources" / "costs_default.yaml"))


def load_costs(path: str | Path | None = None) -> CostModel:
    """Load a cost file (the shipped default when ``path`` is None).

    Raises
    ------
    ConfigError
        One line naming the file, the venue or asset, and the field.
    """
    return load_yaml_model(default_costs_path() if path is None else Path(path), CostModel)


def costs_from_dict(raw: dict, file: str | None = None) -> CostModel:
    """Validate an in-memory cost definition (same schema as the YAML file)."""
    return parse_model(CostModel, raw, file)


def as_cost_model(costs) -> CostModel:
    """Accept a CostModel, a path, ``None`` (zero costs), a number (flat bps) or ``"default"``."""
    if costs is None:
        return CostModel.zero()
    if isinstance(costs, CostModel):
        return costs
    if isinstance(costs, str) and costs == "default":
        return load_costs()
    if isinstance(costs, (int, float)) and not isinstance(costs, bool):
        return CostModel.proportional(float(costs))
    if isinstance(costs, (str, Path)):
        return load_costs(costs)
    if isinstance(costs, dict):
        return costs_from_dict(costs)
    raise TypeError(f"costs must be a CostModel, a YAML path, a number of bps, 'default' or None; got {type(costs).__name__}")
