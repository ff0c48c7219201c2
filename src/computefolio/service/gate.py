"""The service's one door to the store file: leases, one writer at a time, idle release.

DuckDB lets one process open a file for writing, and inside that process it keeps one
database instance per file, shared by every connection. The service therefore

* keeps a *keeper* connection open while requests come in, so each request's own
  connection (:class:`~computefolio.book.store.BookStore`, ``cursor()``) attaches to the
  open instance in well under a millisecond instead of opening the file (tens of ms);
* closes it after ``idle_s`` seconds without a request, so ``computefolio`` commands
  (``book fills``, ``users add``, ``data import``) can take the file in between: they
  wait for it (:func:`~computefolio.book.store.retry_locked`), and so does the service
  while a command holds it;
* runs every write under one lock (:meth:`StoreGate.write`): DuckDB's optimistic
  concurrency would abort one of two transactions that touch the same rows, and the
  library's writes (propose, override, release, fills) read, check and append in one
  transaction that must not interleave with another.

Every write is a DuckDB transaction committed to the write-ahead log before the request
answers, so an answer the client saw survives a ``kill -9`` of the server.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

from ..book.store import BookStore, retry_locked
from ..data.store import default_store_path
from ..errors import DataError


def check_store_file(path: Path) -> None:
    """Refuse a path that exists but is not a DuckDB file (DuckDB would open, say, a CSV
    as a database that never reaches the disk, and every write would be lost)."""
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{p}: a folder, not a store file")
    if p.exists() and p.stat().st_size > 0:
        with open(p, "rb") as fh:
            head = fh.read(12)
        if head[8:12] != b"DUCK":
            raise DataError(f"{p}: not a DuckDB store file (give the store's path, e.g. store.duckdb)")


class StoreBusy(DataError):
    """Another process has held the store file for longer than the service waits."""


class StoreGate:
    """Leases on the store file for one process (see the module docstring).

    Parameters
    ----------
    path : path, optional
        The store file (default: ``$COMPUTEFOLIO_HOME/store.duckdb``).
    idle_s : float
        Seconds without a lease after which the file is released.
    wait_s : float
        Seconds a request waits for another process holding the file.
    """

    def __init__(self, path=None, *, idle_s: float = 2.0, wait_s: float = 30.0):
        self.path: Path = default_store_path(path)
        self.idle_s = float(idle_s)
        self.wait_s = float(wait_s)
        self._keeper = None
        self._users = 0
        self._last = time.monotonic()
        self._cv = threading.Condition()
        self._write = threading.RLock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.opened = 0  # times the file was opened (for tests and the docs)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name="store-gate-reaper", daemon=True)
            self._reaper.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._close()

    def _reap(self) -> None:
        while not self._stop.wait(min(0.5, max(0.05, self.idle_s / 4))):
            with self._cv:
                if self._keeper is not None and self._users == 0 and time.monotonic() - self._last > self.idle_s:
                    self._close()

    def _close(self) -> None:
        if self._keeper is not None:
            try:
                self._keeper.close()
            finally:
                self._keeper = None

    def _open(self) -> None:
        import duckdb

        check_store_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def go():
            try:
                return duckdb.connect(str(self.path))
            except Exception as exc:  # duckdb.IOException (lock) and friends
                raise DataError(f"{self.path}: cannot open the store ({str(exc).splitlines()[0]})") from None

        try:
            self._keeper = retry_locked(go, timeout=self.wait_s, what=str(self.path))
        except DataError as exc:
            raise StoreBusy(str(exc)) from None
        self.opened += 1

    @property
    def is_open(self) -> bool:
        return self._keeper is not None

    # ------------------------------------------------------------------ leases
    @contextlib.contextmanager
    def lease(self):
        """Keep the file open for the duration (nested leases are fine)."""
        with self._cv:
            if self._keeper is None:
                self._open()
            self._users += 1
        try:
            yield self
        finally:
            with self._cv:
                self._users -= 1
                self._last = time.monotonic()

    def cursor(self):
        """A connection of its own to the open instance (use inside a lease, in one thread)."""
        with self._cv:
            if self._keeper is None:
                self._open()
            return self._keeper.cursor()

    @contextlib.contextmanager
    def read(self):
        """A :class:`BookStore` on the open file, for reading."""
        with self.lease():
            bs = BookStore(self.path, timeout=self.wait_s)
            try:
                yield bs
            finally:
                bs.close()

    @contextlib.contextmanager
    def write(self):
        """A :class:`BookStore` for writing: one writer at a time in this process."""
        with self.lease(), self._write:
            bs = BookStore(self.path, timeout=self.wait_s)
            try:
                yield bs
            finally:
                bs.close()

    @contextlib.contextmanager
    def write_cursor(self):
        """A raw connection for the service's own tables, under the write lock, in a transaction."""
        with self.lease(), self._write:
            cur = self.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    yield cur
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
            finally:
                cur.close()

    @contextlib.contextmanager
    def read_cursor(self):
        with self.lease():
            cur = self.cursor()
            try:
                yield cur
            finally:
                cur.close()
