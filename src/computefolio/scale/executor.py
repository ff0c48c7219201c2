"""One executor for embarrassingly parallel work: serial, local processes, or Ray.

Every backend runs ``fn(shared, params)`` for each ``params`` of a list and returns one
:class:`TaskResult` per task, in the order of the list, whatever order they finished in:

* **shared data is sent once**: ``shared`` (e.g. the market, the universe, the
  mandate) goes to each worker process once -- pickled once into the process pool's
  initializer, or put once into Ray's object store and fetched once per Ray worker
  process -- never once per task;
* **a failed task does not stop the others**: its exception is caught in the worker
  and comes back as ``TaskResult(ok=False, error=..., traceback=...)`` with its
  parameters; a worker that dies is reported the same way;
* **checkpoints**: with a :class:`~computefolio.scale.checkpoint.Checkpoint`, each
  finished task is written as soon as it comes back and a re-run skips it
  (``cached=True``), so an interrupted run resumes;
* **same numbers on every backend**: tasks run with BLAS/OpenMP pools limited to one
  thread (``threadpoolctl``) on every backend, the serial one included (for the length of
  :meth:`Executor.map`), so a task's floating-point operations do not depend on where it ran; randomness
  comes from seeds in the parameters (:func:`task_seeds`), never from the worker.
* **numba's on-disk cache is reused**: worker processes import the same installed
  package, whose ``cache=True`` kernels load from ``__pycache__`` instead of compiling
  (call :func:`warm_numba` in the driver first so that the workers do not all compile
  at once).

Backends
--------
``serial`` (default)
    In this process, one task after another. Deterministic and easy to debug.
``processes``
    ``concurrent.futures.ProcessPoolExecutor`` with ``workers`` processes started by
    ``forkserver`` (``spawn`` where it is missing): no state is inherited by fork.
``ray``
    Ray tasks. ``address=None`` starts a private local Ray instance with ``num_cpus=workers``,
    no dashboard, usage statistics off and the object store capped at
    ``object_store_mb``, bound to 127.0.0.1; an ``address`` (``"host:port"`` of a
    running head, or ``"auto"``) connects to an existing cluster, as does running
    inside a Ray Job (``RAY_ADDRESS`` set). Ray is an optional extra:
    ``pip install 'computefolio[ray]'``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
import traceback as _tb
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ComputefolioError

__all__ = ["BACKENDS", "TaskResult", "Executor", "SerialExecutor", "ProcessExecutor", "RayExecutor",
           "make_executor", "task_key", "task_seeds", "warm_numba"]

#: Backend names accepted by :func:`make_executor` (and ``computefolio sweep --backend``).
BACKENDS = ("serial", "processes", "ray")


@dataclass
class TaskResult:
    """The outcome of one task.

    Attributes
    ----------
    index : int
        Position of the task in the submitted list.
    key : str
        Its key (the checkpoint file name).
    params : dict
        The parameters it ran with.
    ok : bool
    value : object
        What ``fn`` returned (None when it failed).
    error : str or None
        ``"ExceptionType: message"`` when it failed.
    traceback : str or None
    seconds : float
        Wall time of the task in the worker (0 for a result read from a checkpoint).
    worker : str or None
        ``"<host>:<pid>"`` of the process that ran it.
    cached : bool
        Read from the checkpoint instead of run.
    """

    index: int
    key: str
    params: dict
    ok: bool
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    worker: str | None = None
    cached: bool = False


def task_key(params: dict, salt: str = "") -> str:
    """A stable 16-hex-digit key of a task's parameters (and a salt such as a data hash)."""
    blob = repr((salt, _canonical(params))).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _canonical(x):
    if isinstance(x, dict):
        return tuple(sorted((str(k), _canonical(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return tuple(_canonical(v) for v in x)
    if isinstance(x, float):
        return float.hex(x)
    return x


def task_seeds(base_seed: int, n: int) -> list[int]:
    """``n`` independent seeds derived from ``base_seed`` (``numpy.random.SeedSequence.spawn``).

    Put seed ``i`` in the parameters of task ``i``: the task's random numbers then
    depend on its parameters only, not on the backend, the worker or the order.
    """
    return [int(s.generate_state(1, dtype=np.uint32)[0]) for s in np.random.SeedSequence(base_seed).spawn(n)]


def warm_numba() -> None:
    """Compile (or load from the on-disk cache) the backtest kernels in this process.

    Run once in the driver before starting workers: the kernels are ``cache=True``,
    so the workers then load the compiled code from ``__pycache__`` instead of each
    compiling it at the same time.
    """
    import pandas as pd

    from ..backtest.simulator import simulate

    idx = pd.bdate_range("2024-01-01", periods=8)
    px = pd.DataFrame({"A": np.linspace(10, 11, 8), "B": np.linspace(20, 19, 8)}, index=idx)
    w = pd.DataFrame({"A": [0.5, 0.4], "B": [0.5, 0.6]}, index=idx[[0, 4]])
    simulate(px, w, capital=1e6, keep_weights=False)


# ---------------------------------------------------------------- the task wrapper (runs in workers)

def _host() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _run_one(fn: Callable, shared: Any, params: dict) -> tuple:
    """Run one task (BLAS already limited to one thread by the caller); never raises (the
    error travels back as data)."""
    t0 = time.perf_counter()
    try:
        value = fn(shared, params)
        return True, value, None, None, time.perf_counter() - t0, _host()
    except Exception as exc:  # noqa: BLE001 - reported with the task's parameters
        return (False, None, f"{type(exc).__name__}: {exc}", _tb.format_exc(), time.perf_counter() - t0, _host())


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS")


def _worker_setup() -> None:
    """One thread per worker process for BLAS/OpenMP and numba's parallel loops (the pool
    is the parallelism, and one thread makes a task's arithmetic the same everywhere).

    Libraries already loaded are limited through ``threadpoolctl`` (numpy's and scipy's BLAS
    are loaded first so that both are); libraries loaded later read the environment.
    """
    for v in _THREAD_VARS:
        os.environ[v] = "1"
    import scipy.linalg  # noqa: F401 - loads scipy's BLAS so that the limit below reaches it
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # pragma: no cover - numba always present in the core install
        pass


# process pool: the shared object is unpickled once per worker process by the initializer
_PROC_SHARED: Any = None


def _proc_init(blob: bytes) -> None:
    global _PROC_SHARED
    _worker_setup()
    _PROC_SHARED = pickle.loads(blob)


def _proc_task(fn: Callable, params: dict) -> tuple:
    return _run_one(fn, _PROC_SHARED, params)


# ray: the shared object is fetched from the object store once per worker process
_RAY_SHARED: dict[str, Any] = {}


def _ray_task(box: list, token: str, fn: Callable, params: dict) -> tuple:
    import ray

    if token not in _RAY_SHARED:
        _worker_setup()
        _RAY_SHARED.clear()  # keep only the current sweep's data in the worker
        _RAY_SHARED[token] = ray.get(box[0])  # box: a list, so Ray passes the reference, not the value
    return _run_one(fn, _RAY_SHARED[token], params)


def _ray_warm() -> str:
    """Make a Ray worker ready before the first task: one thread, the package imported and
    the numba kernels loaded from the on-disk cache (runs while the driver loads the data)."""
    _worker_setup()
    from . import sweep  # noqa: F401 - imports the library a sweep task needs

    warm_numba()
    return _host()


# ---------------------------------------------------------------- executors

@dataclass
class Executor:
    """Base class: run ``fn(shared, params)`` for a list of parameters (see the module docstring).

    Parameters
    ----------
    workers : int
        Worker processes (``processes``; ``ray`` started locally). Ignored by ``serial``.
    """

    workers: int = 1
    backend: str = field(default="serial", init=False)

    def map(self, fn: Callable[[Any, dict], Any], params: Sequence[dict], *, shared: Any = None,
            keys: Sequence[str] | None = None, checkpoint=None,
            on_result: Callable[[TaskResult], None] | None = None) -> list[TaskResult]:
        """Run every task and return their results in the order of ``params``.

        Parameters
        ----------
        fn : callable
            ``fn(shared, params) -> value``; a module-level function (it is pickled by
            reference). ``value`` must be picklable.
        params : sequence of dict
        shared : object, optional
            Data every task reads (sent to each worker once).
        keys : sequence of str, optional
            Task keys (default :func:`task_key` of the parameters); the checkpoint's file names.
        checkpoint : Checkpoint, optional
            Finished tasks found there are not run again; new successes are written there.
        on_result : callable, optional
            Called in this process with each :class:`TaskResult` as it arrives (progress bars).
        """
        params = [dict(p) for p in params]
        keys = list(keys) if keys is not None else [task_key(p) for p in params]
        if len(keys) != len(params):
            raise ValueError(f"{len(keys)} keys for {len(params)} tasks")
        out: list[TaskResult | None] = [None] * len(params)
        todo = []
        for i, (k, p) in enumerate(zip(keys, params)):
            hit = checkpoint.get(k) if checkpoint is not None else None
            if hit is not None:
                out[i] = TaskResult(i, k, p, True, value=hit, cached=True)
                if on_result:
                    on_result(out[i])
            else:
                todo.append(i)

        def done(i: int, tup: tuple) -> None:
            ok, value, err, tb, secs, host = tup
            r = TaskResult(i, keys[i], params[i], ok, value, err, tb, secs, host)
            if ok and checkpoint is not None:
                checkpoint.put(keys[i], params[i], value)
            out[i] = r
            if on_result:
                on_result(r)

        if todo:
            self._run(fn, shared, [(i, params[i]) for i in todo], done)
        return [r for r in out if r is not None]

    def _run(self, fn, shared, tasks, done) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self) -> "Executor":
        """Start or join the workers now (Ray: connect to the cluster) so that a bad address
        fails before any data is loaded; :meth:`map` does it anyway when needed."""
        return self

    def close(self) -> None:
        """Release workers (a no-op for ``serial``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class SerialExecutor(Executor):
    """Tasks one after another in this process."""

    backend: str = field(default="serial", init=False)

    def _run(self, fn, shared, tasks, done) -> None:
        import scipy.linalg  # noqa: F401 - loaded before the limit, so that it applies to scipy's BLAS too
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # as in the workers; restored afterwards
            for i, p in tasks:
                done(i, _run_one(fn, shared, p))


@dataclass
class ProcessExecutor(Executor):
    """Tasks on a pool of ``workers`` local processes (``forkserver``, else ``spawn``).

    The pool lives until :meth:`close` and is reused by later :meth:`map` calls with the
    same shared data (compared by the hash of its pickle); other shared data starts a new
    pool, since each worker receives the shared data once, when it starts.
    """

    workers: int = 2
    backend: str = field(default="processes", init=False)
    _pool: Any = field(default=None, init=False, repr=False)
    _pool_key: str | None = field(default=None, init=False, repr=False)

    def _get_pool(self, shared):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        blob = pickle.dumps(shared, protocol=pickle.HIGHEST_PROTOCOL)
        key = hashlib.sha256(blob).hexdigest()
        if self._pool is None or key != self._pool_key:
            self.close()
            method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(max_workers=max(1, int(self.workers)), mp_context=mp.get_context(method),
                                             initializer=_proc_init, initargs=(blob,))
            self._pool_key = key
        return self._pool

    def _run(self, fn, shared, tasks, done) -> None:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        pool = self._get_pool(shared)
        broken = False
        futs = {pool.submit(_proc_task, fn, p): i for i, p in tasks}
        for f in as_completed(futs):
            i = futs[f]
            try:
                done(i, f.result())
            except BrokenProcessPool as exc:
                broken = True
                done(i, (False, None, f"worker process died: {exc}", None, 0.0, None))
            except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable return value
                done(i, (False, None, f"{type(exc).__name__}: {exc}", _tb.format_exc(), 0.0, None))
        if broken:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._pool_key = None, None


@dataclass
class RayExecutor(Executor):
    """Tasks on Ray: a private local instance, or a running cluster by ``address``.

    Parameters
    ----------
    workers : int
        CPUs of the local instance (``num_cpus``); each task asks for one CPU.
    address : str, optional
        ``"host:port"`` of a running Ray head (or ``"auto"``). Clusters with token
        authentication need ``RAY_AUTH_TOKEN`` in the environment.
    object_store_mb : int
        Object store of the local instance, MB (the default 30% of RAM is too much for
        a small shared machine). Ignored when connecting to a cluster.
    temp_dir : str, optional
        Ray's session folder of the local instance (default: Ray's own, under /tmp).
    """

    workers: int = 2
    address: str | None = None
    object_store_mb: int = 256
    temp_dir: str | None = None
    backend: str = field(default="ray", init=False)
    _started: bool = field(default=False, init=False, repr=False)
    _warm: list = field(default_factory=list, init=False, repr=False)

    def _ray(self):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            import ray
        except ImportError:
            raise ComputefolioError("the ray backend needs Ray: pip install 'computefolio[ray]'") from None
        if self.address:
            _probe(self.address)
            if ray.is_initialized() and self.address != "auto":
                cur = ray.get_runtime_context().gcs_address
                if cur != self.address:
                    raise ComputefolioError(f"--address {self.address}: this process is already connected to the Ray "
                                            f"cluster at {cur}; shut that connection down first (ray.shutdown())")
        if not ray.is_initialized():
            kw: dict = dict(log_to_driver=False, include_dashboard=False)
            if self.address:
                if _is_loopback(self.address):
                    _ray_on_loopback()
                try:
                    ray.init(address=self.address, **kw)
                except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, auth errors
                    first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
                    raise ComputefolioError(
                        f"--address {self.address}: could not join the Ray cluster ({first[:200]}); a cluster with "
                        f"token authentication needs RAY_AUTH_MODE=token and RAY_AUTH_TOKEN in the environment"
                    ) from None
                self.workers = int(ray.cluster_resources().get("CPU", self.workers))
            elif os.environ.get("RAY_ADDRESS"):  # inside a Ray Job, or pointed at a cluster by the environment
                ray.init(**kw)
                self.workers = int(ray.cluster_resources().get("CPU", self.workers))
            else:
                _ray_on_loopback()  # a private instance: every server on 127.0.0.1
                # local workers import what this process imports (task functions of a script or a test module)
                path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
                ray.init(address="local", num_cpus=max(1, int(self.workers)),
                         object_store_memory=int(self.object_store_mb) * 1024 * 1024,
                         _temp_dir=self.temp_dir, runtime_env={"env_vars": {"PYTHONPATH": path}}, **kw)
            self._started = True
        return ray

    def start(self) -> "RayExecutor":
        """Join or start Ray and warm one worker per CPU in the background (:func:`_ray_warm`)."""
        ray = self._ray()
        if not self._warm:
            remote = ray.remote(num_cpus=1, max_retries=0)(_ray_warm)
            self._warm = [remote.remote() for _ in range(max(1, int(self.workers)))]
        return self

    def _run(self, fn, shared, tasks, done) -> None:
        ray = self._ray()
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        ref = ray.put(shared)
        token = ref.hex()
        pending = {remote.remote([ref], token, fn, p): i for i, p in tasks}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for r in ready:
                i = pending.pop(r)
                try:
                    done(i, ray.get(r))
                except Exception as exc:  # noqa: BLE001 - a worker that died, a lost object
                    done(i, (False, None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                             str(exc), 0.0, None))
        del ref

    def close(self) -> None:
        self._warm = []
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at ``host:port`` (Ray itself retries for minutes)."""
    import socket

    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ComputefolioError(f"--address: HOST:PORT of a running Ray head (or 'auto'), got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ComputefolioError(f"--address {address}: no Ray head answers there ({exc.strerror or exc}); start one "
                                f"with 'ray start --head' or check the address") from None


def _is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def _ray_on_loopback() -> None:
    """Keep Ray on 127.0.0.1.

    On Linux Ray replaces a loopback address by the host's network address (so that other
    nodes could join) unless it is told this is not a multi-node cluster; the switch is
    read from ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when Ray is imported, so it is set in
    the environment (for the processes Ray starts) and in Ray's loaded constants.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    except (ImportError, AttributeError):  # pragma: no cover - a Ray without the switch
        pass


def make_executor(backend: str = "serial", *, workers: int | None = None, address: str | None = None,
                  object_store_mb: int = 256, temp_dir: str | None = None) -> Executor:
    """An executor by backend name.

    Parameters
    ----------
    backend : {"serial", "processes", "ray"}
    workers : int, optional
        Processes or local Ray CPUs (default: the machine's CPU count).
    address : str, optional
        Ray only: a running cluster (``"host:port"`` or ``"auto"``).
    object_store_mb : int
        Ray only: object store of a local instance, MB.
    temp_dir : str, optional
        Ray only: session folder of a local instance.
    """
    if backend not in BACKENDS:
        raise ComputefolioError(f"--backend: one of {', '.join(BACKENDS)}, got {backend!r}")
    if address is not None and backend != "ray":
        raise ComputefolioError(f"--address: only with --backend ray (got --backend {backend})")
    if workers is not None and int(workers) < 1:
        raise ComputefolioError(f"--workers: a positive number of workers, got {workers}")
    n = int(workers) if workers is not None else (os.cpu_count() or 1)
    if backend == "serial":
        return SerialExecutor(workers=1)
    if backend == "processes":
        return ProcessExecutor(workers=n)
    return RayExecutor(workers=n, address=address, object_store_mb=object_store_mb, temp_dir=temp_dir)
