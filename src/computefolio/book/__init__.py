"""The book today: accounts, an append-only ledger, positions and cash derived from it,
NAV at a stated cut-off on both clocks, and exposure by value chain, venue and account.

Public API (importable without the CLI)::

    from computefolio.book import BookStore, Account, value_book, nav_series, exposure

    with BookStore() as bs:                     # the price store's DuckDB file
        bs.import_file("accounts.csv")          # accounts, snapshot or transactions CSV
        v = value_book(bs.entries(), market, "2025-06-30", state=bs.state())
    v.nav, v.cutoff, v.stale()                  # NAV, "2025-06-30 24:00 UTC", stale prices
    exposure(v, universe, "layer")              # value and weight per layer (look-through)

Modules: ``accounts`` (kinds, routing), ``ledger`` (entry kinds, legs, holdings),
``store`` (tables, hash chain, imports), ``formats`` (CSV formats), ``pricing`` (the
cut-off rule, prices with ages), ``valuation`` (NAV), ``exposure``, ``chain``
(hash chains shared with the compliance log).
"""

from .accounts import KINDS, Account
from .exposure import exposure
from .ledger import ENTRY_KINDS, PEGGED, cash, holdings, legs, positions
from .pricing import CUTOFF_RULE, cutoff_label, prices_at
from .store import BookState, BookStore, open_store, retry_locked
from .valuation import Valuation, nav_series, value_book

__all__ = ["Account", "KINDS", "ENTRY_KINDS", "PEGGED", "BookStore", "BookState", "open_store", "retry_locked",
           "legs", "holdings", "positions", "cash", "CUTOFF_RULE", "cutoff_label", "prices_at", "Valuation",
           "value_book", "nav_series", "exposure"]
