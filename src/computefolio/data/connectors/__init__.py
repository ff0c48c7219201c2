"""Live market-data connectors: Yahoo Finance (``yfinance``) and crypto exchanges (``ccxt``).

One contract (:mod:`.base`): ``fetch(source_symbol, start, end) -> Fetched`` with bars in the
store's long format. :func:`make_connector` builds one by source name. yfinance and ccxt are
optional (``pip install 'computefolio[live]'``) and imported only when a fetch runs.
"""

from __future__ import annotations

from .base import (BadResponse, Connector, Fetched, FetchError, NoData, RateLimited, Retry, SourceOffline,
                   Timeout, UnknownSymbol)

#: Source names :func:`make_connector` knows.
SOURCES: tuple[str, ...] = ("yahoo", "binance", "coinbase", "kraken", "okx", "bybit")


def make_connector(name: str, **kwargs) -> Connector:
    """A connector for source ``name`` (``"yahoo"`` or a ccxt exchange id of :data:`SOURCES`)."""
    if name == "yahoo":
        from .yahoo import YahooConnector

        return YahooConnector(**kwargs)
    from .exchanges import EXCHANGES, ExchangeConnector

    if name not in EXCHANGES:
        raise ValueError(f"unknown source {name!r}: one of {', '.join(SOURCES)}")
    return ExchangeConnector(name, **kwargs)


__all__ = ["SOURCES", "make_connector", "Connector", "Fetched", "FetchError", "SourceOffline", "RateLimited",
           "Timeout", "BadResponse", "NoData", "UnknownSymbol", "Retry"]
