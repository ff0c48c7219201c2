"""Market data: sources, the DuckDB store, validation, the sample market, and MarketData.

Validation: ``from computefolio.data.validate import validate`` (the submodule name
shadows a package-level function of the same name, so it is not re-exported here).

Public names are resolved lazily so that importing :mod:`computefolio.data` does not
load DuckDB or the sample generator until they are used.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "MarketData": "market",
    "SAMPLE_LABEL": "market",
    "read_long": "sources",
    "load_folder": "sources",
    "SourcePlan": "sources",
    "shared_prices_dir": "sources",
    "Store": "store",
    "check": "validate",
    "ValidationReport": "validate",
    "sample_market": "sample",
    "load_market": "load",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'computefolio.data' has no attribute {name!r}")
