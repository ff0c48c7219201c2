"""What one running service holds: its settings, the store gate, the loaded configuration
(universe, strategy, mandate, policy, venue rules) and caches of what it computed.

Everything the service shows is computed by the library, as the CLI computes it; this
module only decides *when* to compute again. A cached view is keyed by a fingerprint of
the store (the ledger's head, the compliance log's last entry, the price imports and
syncs) and by the request's parameters, so a change made by the service itself or by a
``computefolio`` command in between (``book fills``, ``data import``) is seen on the next
request (the fingerprint is read at most every ``fingerprint_s`` seconds).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import DataError
from .gate import StoreGate

#: Market sources the service can value the book on.
SOURCES = ("store", "files", "sample")


@dataclass
class ServiceConfig:
    """Settings of ``computefolio serve`` (see :mod:`computefolio.cli.serve`).

    Attributes
    ----------
    store : path or None
        The store file holding the book, users and (by default) the prices.
    source : {"store", "files", "sample"}
        Where prices come from: the store, a folder of long-format files (``data``), or
        the built-in sample market (simulated; every page says so).
    data : path or None
        The folder of price files for ``source="files"``.
    strategy : path or None
        The strategy whose allocator proposes orders and whose budgets the overview
        compares risk with (default: the shipped one).
    strategies : path or None
        A folder of further strategy files a run may name (runs may use the shipped
        strategies and these, by name; never a path from the request).
    runs_dir : path or None
        Where runs write their outputs (default: ``<store folder>/runs``).
    policy, venues, universe : path or None
        Compliance policy, venue rules and universe files (default: shipped / the
        strategy's).
    cookie_secure : bool
        Mark the session cookie ``Secure`` (serve behind HTTPS).
    session_ttl_s : float
        Lifetime of a browser session (seconds).
    login_attempts, login_window_s : int, float
        Failed logins allowed per user name and per client address within the window.
    idle_s : float
        Seconds without a request after which the store file is released.
    fingerprint_s : float
        How often (at most) the store's fingerprint is read to see outside changes.
    """

    store: Path | None = None
    source: str = "store"
    data: Path | None = None
    strategy: Path | None = None
    strategies: Path | None = None
    runs_dir: Path | None = None
    policy: Path | None = None
    venues: Path | None = None
    universe: Path | None = None
    cookie_secure: bool = False
    session_ttl_s: float = 12 * 3600.0
    login_attempts: int = 5
    login_window_s: float = 300.0
    idle_s: float = 2.0
    fingerprint_s: float = 0.5
    title: str = "computefolio"

    def __post_init__(self):
        if self.source not in SOURCES:
            raise DataError(f"source: one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.source == "files" and self.data is None:
            raise DataError("source 'files' needs the folder of price files (--data)")


class Memo:
    """A small LRU cache where each key is computed once even under concurrent requests."""

    def __init__(self, maxsize: int = 64):
        self.maxsize = maxsize
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._keys: dict = {}

    def get(self, key, fn: Callable[[], Any]):
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
            lk = self._keys.setdefault(key, threading.Lock())
        with lk:
            with self._lock:
                if key in self._d:
                    return self._d[key]
            value = fn()
            with self._lock:
                self._d[key] = value
                while len(self._d) > self.maxsize:
                    self._d.popitem(last=False)
                self._keys.pop(key, None)
        return value

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


@dataclass(frozen=True)
class Fingerprint:
    """Where the store stands: ledger, compliance log, prices."""

    ledger: tuple
    log: int
    prices: tuple

    @property
    def book(self) -> tuple:
        return self.ledger


@dataclass
class Loaded:
    """Configuration files, loaded once at start."""

    universe: Any
    strategy: Any
    mandate: Any
    policy: Any
    rules: Any
    notes: list = field(default_factory=list)


class ServiceState:
    """The running service's state (see the module docstring)."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.gate = StoreGate(config.store, idle_s=config.idle_s)
        self.memo = Memo()
        self._fp: Fingerprint | None = None
        self._fp_at = 0.0
        self._fp_lock = threading.Lock()
        self._fp_refresh = threading.Lock()
        self._revalidating = False
        self._market = None
        self._market_key = None
        self._market_lock = threading.Lock()
        self.market_version = 0  # counts market (re)loads
        self.responses: dict = {}  # serialized answers of read views (computefolio.service.api.cached)
        self.responses_lock = threading.Lock()
        self.loaded = self._load()
        self.started_at = time.time()
        self._ready = False
        self._setup_lock = threading.Lock()

    # ------------------------------------------------------------------ config files
    def _load(self) -> Loaded:
        from ..allocate.mandate import load_mandate
        from ..compliance.policy import load_policy
        from ..rebalance.venues import VenueRules
        from ..strategy import load_strategy
        from ..universe import load_universe

        s = load_strategy(self.config.strategy)
        upath = self.config.universe or (s.resolve(s.universe, "universe") if s.universe else None)
        u = load_universe(upath)
        mandate = load_mandate(s.resolve(s.mandate, "mandate")) if s.mandate else None
        pol = load_policy(self.config.policy)
        rules = VenueRules(self.config.venues, s.resolve(s.costs, "costs") if s.costs else None, u)
        return Loaded(u, s, mandate, pol, rules)

    @property
    def universe(self):
        return self.loaded.universe

    @property
    def runs_dir(self) -> Path:
        return Path(self.config.runs_dir) if self.config.runs_dir else self.gate.path.parent / "runs"

    # ------------------------------------------------------------------ store
    def setup(self) -> None:
        """Create every table the service reads (book, orders, log, users) once, so that
        readers never race to create them."""
        from ..compliance.log import ComplianceLog
        from ..rebalance.store import OrderStore
        from . import users

        with self._setup_lock:
            if self._ready:
                return
            with self.gate.write() as bs:
                ComplianceLog(bs).con  # noqa: B018
                OrderStore(bs).con  # noqa: B018
                users.ensure_schema(bs.con)
            self.gate.start()
            self._ready = True

    def fingerprint(self, *, fresh: bool = False) -> Fingerprint:
        """The store's fingerprint, read again when older than ``fingerprint_s`` (one reader
        at a time: concurrent callers wait for it rather than all querying the store)."""
        if not self._ready:
            self.setup()
        if not fresh:
            fp = self.fresh_fingerprint(revalidate=False)
            if fp is not None:
                return fp
        with self._fp_refresh:
            if not fresh:
                fp = self.fresh_fingerprint(revalidate=False)
                if fp is not None:
                    return fp
            return self._read_fingerprint()

    def _read_fingerprint(self) -> Fingerprint:
        with self.gate.read_cursor() as cur:
            r = cur.execute(
                "SELECT (SELECT count(*) FROM book_entries), (SELECT hash FROM book_entries ORDER BY entry_id DESC "
                "LIMIT 1), (SELECT count(*) FROM book_accounts), (SELECT coalesce(max(seq), 0) FROM compliance_log), "
                "(SELECT coalesce(max(import_id), 0) FROM imports), (SELECT count(*) FROM imports), "
                "(SELECT CAST(max(fetched_at) AS VARCHAR) FROM sync_state), (SELECT CAST(max(set_at) AS VARCHAR) "
                "FROM plan)").fetchall()[0]
        fp = Fingerprint(ledger=(int(r[0]), r[1] or "", int(r[2])), log=int(r[3]), prices=tuple(r[4:]))
        with self._fp_lock:
            self._fp, self._fp_at = fp, time.monotonic()
        return fp

    def fresh_fingerprint(self, *, revalidate: bool = True) -> Fingerprint | None:
        """The fingerprint when it was read less than ``fingerprint_s`` ago, else None
        (never touches the store: safe on the event loop). With ``revalidate``, one up to
        four times that old is still returned while a background thread reads it again
        (stale while revalidating); never after a write by the service (:meth:`invalidate`)."""
        now = time.monotonic()
        with self._fp_lock:
            if self._fp is None:
                return None
            age = now - self._fp_at
            if age < self.config.fingerprint_s:
                return self._fp
            if not revalidate or age > 4 * self.config.fingerprint_s:
                return None
            fp = self._fp
            if self._revalidating:
                return fp
            self._revalidating = True
        threading.Thread(target=self._revalidate, name="fingerprint", daemon=True).start()
        return fp

    def _revalidate(self) -> None:
        try:
            self.fingerprint()
        except Exception:  # noqa: BLE001 - the next request reads it synchronously and reports
            pass
        finally:
            with self._fp_lock:
                self._revalidating = False

    def invalidate(self) -> None:
        """After a write by the service: read the fingerprint again on the next request."""
        with self._fp_lock:
            self._fp_at = -1e9

    # ------------------------------------------------------------------ market
    def _market_fp(self, fp: Fingerprint | None) -> tuple:
        c = self.config
        if c.source == "sample":
            return ("sample",)
        if c.source == "files":
            p = Path(c.data)
            files = [p] if p.is_file() else sorted(x for x in p.iterdir() if x.is_file()) if p.is_dir() else []
            return ("files", str(p), tuple((x.name, x.stat().st_mtime_ns, x.stat().st_size) for x in files))
        return ("store", fp.prices)

    def market(self, fp: Fingerprint | None = None):
        """The market the book is valued on (loaded again when its source changed)."""
        from ..data.load import load_market

        if fp is None and self.config.source == "store":
            fp = self.fingerprint()
        key = self._market_fp(fp)
        with self._market_lock:
            if self._market is not None and self._market_key == key:
                return self._market
            c = self.config
            if c.source == "sample":
                m = load_market(self.universe, source="sample")
            elif c.source == "files":
                m = load_market(self.universe, source="files", path=c.data)
            else:
                with self.gate.lease():
                    m = self._store_market()
            self._market, self._market_key = m, key
            self.market_version += 1
            self.memo.clear()
            return m

    def _store_market(self):
        from ..data.store import Store

        st = Store(self.gate.path)
        try:
            have = {r[0] for r in st.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if "prices" not in have or st.row_count() == 0:
                raise DataError(f"{st.path}: the store holds no prices: import them (computefolio data import) or "
                                "serve with --data FOLDER or --sample")
            m = st.market(self.universe, listed=True)
            sync = st.sync_provenance(m.symbols)
            if sync:
                m.provenance["sync"] = sync
            return m
        finally:
            st.close()

    def market_key(self, fp: Fingerprint) -> tuple:
        return self._market_fp(fp)
