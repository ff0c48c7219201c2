"""computefolio: run a compute-backed hybrid book (digital assets + AI-equity value chain) by value chain.

The package follows the data flow of DESIGN.md::

    universe -> data (sources, store, validate, MarketData on two clocks)
             -> risk (covariance, correlation regimes, VaR/ES, stress, liquidity)
             -> allocate (allocators under a mandate) -> backtest (policy, simulator, result)
             -> metrics / report / cli

Public entry points are re-exported lazily here so that ``import computefolio`` stays cheap.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("computefolio")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from .clock import periods_per_year  # noqa: E402
from .data.market import MarketData  # noqa: E402
from .universe import Universe, load_universe  # noqa: E402

__all__ = ["MarketData", "Universe", "load_universe", "periods_per_year", "__version__"]
