"""One answer to "where do the prices come from?": files, the store, or the sample market.

Every entry point (the main job, ``computefolio risk``, ``allocate``, ``universe summary``)
loads its market through :func:`load_market`, so the rules are the same everywhere:
universe listing dates trim junk pre-history (recorded in ``provenance["trimmed"]``),
a missing folder or store is an error, and the sample market is used only when asked
for or, with ``source="auto"``, when no store exists (``market.simulated`` says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd

from ..errors import DataError
from ..universe import Universe
from .market import MarketData

Source = Literal["auto", "files", "store", "sample"]

#: Default window of the sample market.
SAMPLE_START, SAMPLE_END = "2019-01-01", "2025-12-31"


def _day(x) -> str | None:
    return None if x is None else pd.Timestamp(x).strftime("%Y-%m-%d")


def load_market(universe: Universe, *, source: Source = "auto", path: str | Path | None = None,
                store: str | Path | None = None, start=None, end=None, seed: int = 7) -> MarketData:
    """Load the market of ``universe`` from one source.

    Parameters
    ----------
    universe : Universe
        Calendars and listing dates of the symbols to load.
    source : {"auto", "files", "store", "sample"}
        ``"files"``: the folder ``path`` of long-format files (its ``primary.csv`` is the
        source plan when present). ``"store"``: the DuckDB store ``store`` (default
        location when None). ``"sample"``: the built-in sample market (simulated).
        ``"auto"``: files when ``path`` is given, else the store when ``store`` is given
        or the default store exists, else the sample market.
    path, store : path, optional
        Folder of price files; store file.
    start, end : date-like, optional
        Window (the sample market defaults to 2019-01-01 .. 2025-12-31).
    seed : int
        Seed of the sample market.

    Raises
    ------
    DataError
        A folder or store file that does not exist, or no rows for the universe.
    """
    if source == "auto":
        if path is not None:
            source = "files"
        else:
            from .store import Store

            if store is not None and not Store(store).exists():
                raise DataError(f"{store}: no such store file")
            source = "store" if Store(store).exists() else "sample"
    if source == "files":
        from .sources import load_folder

        if path is None or not Path(path).is_dir():
            raise DataError(f"{path}: not a folder of price files")
        return load_folder(Path(path), universe.calendars, listed=universe.listing_dates(), start=start, end=end)
    if source == "store":
        from .store import Store

        st = Store(store)
        if not st.exists():
            raise DataError(f"{st.path}: no such store file (import prices with 'computefolio data import')")
        return st.market(universe, start=start, end=end, listed=True)
    if source == "sample":
        from .sample import sample_market

        return sample_market(universe, start=_day(start) or SAMPLE_START, end=_day(end) or SAMPLE_END, seed=seed)
    raise ValueError(f"source must be 'auto', 'files', 'store' or 'sample', got {source!r}")
