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


#: The data-source rule every command states in its ``--help``.
RESOLUTION = ("prices come from --data PATH (a folder of long-format files or one file) or --store FILE when "
              "given; else from the default store when it holds prices; else from the built-in sample market "
              "(simulated, and every output says so)")


def store_has_data(store: str | Path | None = None) -> bool:
    """True when the store file (default location when None) exists and holds price rows."""
    from .store import Store

    st = Store(store, read_only=True)
    if not st.exists():
        return False
    try:
        return st.row_count() > 0
    except Exception:  # noqa: BLE001 - an unreadable or empty store has no data for this purpose
        return False
    finally:
        st.close()


def resolve_source(*, path=None, store=None, sample: bool = False) -> str:
    """The source a command uses, in the one order every command follows (:data:`RESOLUTION`).

    ``path`` -> ``"files"``; ``store`` -> ``"store"`` (a missing file is a :class:`DataError`);
    ``sample`` -> ``"sample"``; else the default store when it holds prices, else the sample.
    Giving more than one of them is a :class:`DataError` naming the flags.
    """
    given = [n for n, v in (("--data", path is not None), ("--store", store is not None), ("--sample", sample)) if v]
    if len(given) > 1:
        raise DataError(f"give at most one of --data, --store and --sample (got {' and '.join(given)})")
    if path is not None:
        return "files"
    if store is not None:
        from .store import Store

        if not Store(store).exists():
            raise DataError(f"--store {store}: no such store file")
        return "store"
    if sample:
        return "sample"
    return "store" if store_has_data(None) else "sample"


def load_market(universe: Universe, *, source: Source = "auto", path: str | Path | None = None,
                store: str | Path | None = None, start=None, end=None, seed: int = 7) -> MarketData:
    """Load the market of ``universe`` from one source.

    Parameters
    ----------
    universe : Universe
        Calendars and listing dates of the symbols to load.
    source : {"auto", "files", "store", "sample"}
        ``"files"``: the folder ``path`` of long-format files (its ``primary.csv`` is the
        source plan and its ``volume.csv`` the volume plan when present), or one
        long-format file. ``"store"``: the DuckDB store ``store`` (default
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
        source = resolve_source(path=path, store=store)
    if source == "files":
        from .sources import load_file, load_folder

        if path is not None and Path(path).is_file():
            return load_file(Path(path), universe.calendars, listed=universe.listing_dates(), start=start, end=end)
        if path is None or not Path(path).is_dir():
            raise DataError(f"{path}: no such file or folder of price files")
        return _cached_folder(Path(path), universe, start, end)
    if source == "store":
        from .store import Store

        st = Store(store)
        if not st.exists():
            raise DataError(f"{st.path}: no such store file (import prices with 'computefolio data import')")
        md = st.market(universe, start=start, end=end, listed=True)
        sync = st.sync_provenance(md.symbols) if hasattr(st, "sync_provenance") else {}
        if sync:
            md.provenance["sync"] = sync  # each synced symbol's source and last fetch (computefolio data sync)
        return md
    if source == "sample":
        from .sample import sample_market

        return sample_market(universe, start=_day(start) or SAMPLE_START, end=_day(end) or SAMPLE_END, seed=seed)
    raise ValueError(f"source must be 'auto', 'files', 'store' or 'sample', got {source!r}")


def _folder_key(folder: Path, universe: Universe, start, end) -> str | None:
    """A key that changes with every input of a folder load: the package version and the code that
    builds the market, the bytes of the source and volume plans and of every file they name (or of
    every price file), the universe's calendars and listing dates, and the window. None when a
    file cannot be read."""
    import hashlib

    from .. import __version__
    from .sources import SourcePlan

    h = hashlib.sha256()
    h.update(f"{__version__}|{_day(start)}|{_day(end)}|".encode())
    for mod in ("market.py", "sources.py", "load.py"):  # the code that builds the market, not only its version
        h.update((Path(__file__).parent / mod).read_bytes())
    h.update(repr(sorted(universe.calendars.items())).encode())
    h.update(repr(sorted((k, str(v)) for k, v in universe.listing_dates().items())).encode())
    try:
        names: set[str] = set()
        for plan_name, kind in (("primary.csv", "price"), ("volume.csv", "volume")):
            f = folder / plan_name
            if f.is_file():
                h.update(plan_name.encode())
                h.update(f.read_bytes())
                names |= set(SourcePlan.from_csv(f, kind=kind).files())
        if not (folder / "primary.csv").is_file():
            names |= {f.name for pat in ("*.csv", "*.csv.gz", "*.parquet") for f in folder.glob(pat)}
        for name in sorted(names):
            f = folder / name
            h.update(name.encode())
            h.update(hashlib.sha256(f.read_bytes()).digest() if f.is_file() else b"missing")
    except (OSError, DataError):
        return None
    return h.hexdigest()[:32]


def _cached_folder(folder: Path, universe: Universe, start, end) -> MarketData:
    """:func:`~computefolio.data.sources.load_folder`, kept in ``$COMPUTEFOLIO_HOME/cache/markets``
    under a key of every input (:func:`_folder_key`), so a second run on the same files does not
    parse them again. Any change to a file, a plan, the universe or the window is a new key; a
    cache that cannot be read or written is ignored."""
    import os
    import pickle

    from .sources import load_folder

    key = _folder_key(folder, universe, start, end)
    home = os.environ.get("COMPUTEFOLIO_HOME")
    path = ((Path(home) if home else Path.home() / ".computefolio") / "cache" / "markets" / f"{key}.pkl"
            if key else None)
    if path is not None and path.is_file():
        try:
            with path.open("rb") as fh:
                md = pickle.load(fh)
            if isinstance(md, MarketData):
                md._cache = {}
                return md
        except Exception:  # noqa: BLE001 - a damaged cache file is ignored and rewritten
            pass
    md = load_folder(folder, universe.calendars, listed=universe.listing_dates(), start=start, end=end)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
            saved, md._cache = md._cache, {}
            try:
                with tmp.open("wb") as fh:
                    pickle.dump(md, fh, protocol=pickle.HIGHEST_PROTOCOL)
            finally:
                md._cache = saved
            os.replace(tmp, path)
        except OSError:
            pass
    return md
