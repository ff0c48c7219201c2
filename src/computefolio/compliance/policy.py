"""The compliance policy: pre-trade controls beside the mandate (YAML, validated by pydantic).

The mandate (:mod:`computefolio.allocate.mandate`) says what the book may hold; the policy
says how a desk may trade it (``resources/compliance_default.yaml``)::

    price_collar: {warn: 0.03, block: 0.10}      # |order price / last price - 1|
    max_order_notional: {fraction_of_nav: 0.10, amount: null}
    stale_price: {warn_days: 1, block_days: 5}   # calendar days a price is stale
    adv_warn: 0.5                                # share of the mandate's ADV cap that warns
    cure_days: 30                                # passive breaches (mandate.cure_days wins)
    issuers: {max: 0.10, above: 0.05, above_total_max: 0.40}   # optional, UCITS 5/10/40

``issuers`` is the UCITS Art. 52 rule: every issuer at most ``max``; those above
``above`` together at most ``above_total_max`` (5/10/40). The US 1940 Act diversified-fund
test (75% of assets with at most 5% per issuer and 10% of its voting shares) needs share
counts the book does not keep; it is not implemented.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import load_yaml_model, parse_model
from ..errors import ItemFieldError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Collar(_Strict):
    warn: float = Field(default=0.03, gt=0)
    block: float = Field(default=0.10, gt=0)

    @model_validator(mode="after")
    def _order(self):
        if self.warn > self.block:
            raise ItemFieldError("price_collar", "warn", f"at most block ({self.block}), got {self.warn}")
        return self


class MaxNotional(_Strict):
    fraction_of_nav: float | None = Field(default=None, gt=0)
    amount: float | None = Field(default=None, gt=0)


class StaleRule(_Strict):
    warn_days: int = Field(default=1, ge=0)
    block_days: int = Field(default=5, ge=0)


class IssuerRule(_Strict):
    """UCITS-style issuer concentration: each issuer <= max; those above ``above`` sum <= ``above_total_max``."""

    max: float = Field(gt=0, le=1)
    above: float | None = Field(default=None, gt=0, le=1)
    above_total_max: float | None = Field(default=None, gt=0, le=1)


class CompliancePolicy(_Strict):
    """Pre-trade controls (see the module docstring)."""

    name: str = "policy"
    price_collar: Collar = Field(default_factory=Collar)
    max_order_notional: MaxNotional = Field(default_factory=lambda: MaxNotional(fraction_of_nav=0.10))
    stale_price: StaleRule = Field(default_factory=StaleRule)
    adv_warn: float = Field(default=0.5, gt=0, le=1)
    cure_days: int = Field(default=30, ge=0)
    issuers: IssuerRule | None = None


def default_policy_path() -> Path:
    return Path(str(resources.files("computefolio") / "resources" / "compliance_default.yaml"))


def load_policy(path: str | Path | None = None) -> CompliancePolicy:
    """Load a policy file (the shipped one when None); ConfigError naming file and field."""
    return load_yaml_model(default_policy_path() if path is None else Path(path), CompliancePolicy)


def policy_from_dict(raw: dict, file: str | None = None) -> CompliancePolicy:
    return parse_model(CompliancePolicy, raw, file)
