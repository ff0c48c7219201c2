"""The executor: same results on every backend, failures reported with their parameters,
shared data sent once per worker, checkpoints that resume, per-task seeds.

The Ray backend here is a private local instance (``ray.init(address="local")`` with
``num_cpus=2``, no dashboard, usage statistics off, a 128 MB object store, bound to
127.0.0.1) and is skipped when Ray is not installed (``pip install 'computefolio[ray]'``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from computefolio.errors import ComputefolioError
from computefolio.scale import Checkpoint, make_executor, task_key, task_seeds

try:
    import ray  # noqa: F401

    HAVE_RAY = True
except ImportError:  # pragma: no cover
    HAVE_RAY = False


# module-level task functions: pickled by reference into workers
def monte_carlo(shared, params):
    """A Monte Carlo task: seeded draws scaled by shared data, plus a BLAS product."""
    rng = np.random.default_rng(params["seed"])
    x = rng.standard_normal((200, shared["n"])) @ shared["chol"].T
    cov = x.T @ x / len(x)
    return {"mean": x.mean(axis=0), "cov": cov, "pid": os.getpid(), "shared_id": id(shared)}


def flaky(shared, params):
    if params["i"] == 2:
        raise ValueError(f"bad parameter i={params['i']}")
    return params["i"] * shared


def _shared():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 40))
    return {"n": 40, "chol": np.linalg.cholesky(a @ a.T / 40 + np.eye(40))}


def _backends():
    out = [("serial", {}), ("processes", {"workers": 2})]
    if HAVE_RAY:
        out.append(("ray", {"workers": 2, "object_store_mb": 128}))
    return out


@pytest.fixture(scope="module")
def executors():
    """One executor per backend for the module (a Ray instance starts once)."""
    exs = {name: make_executor(name, **kw) for name, kw in _backends()}
    yield exs
    for ex in exs.values():
        ex.close()


@pytest.fixture(scope="module")
def mc_results(executors):
    params = [{"seed": s, "i": i} for i, s in enumerate(task_seeds(42, 6))]
    shared = _shared()
    return params, {name: ex.map(monte_carlo, params, shared=shared) for name, ex in executors.items()}


def test_same_bits_on_every_backend(mc_results):
    params, res = mc_results
    ref = res["serial"]
    assert [r.ok for r in ref] == [True] * len(params)
    for name, rs in res.items():
        assert [r.index for r in rs] == list(range(len(params))), name  # submission order, not finish order
        for a, b in zip(ref, rs):
            assert a.params == b.params
            np.testing.assert_array_equal(a.value["mean"], b.value["mean"], err_msg=name)
            np.testing.assert_array_equal(a.value["cov"], b.value["cov"], err_msg=name)


def test_parallel_backends_use_other_processes_and_share_data_once(mc_results):
    _, res = mc_results
    for name in [n for n in res if n != "serial"]:
        pids = {r.value["pid"] for r in res[name]}
        assert os.getpid() not in pids, name
        # one unpickled copy of the shared data per worker process, not one per task
        per_pid = {}
        for r in res[name]:
            per_pid.setdefault(r.value["pid"], set()).add(r.value["shared_id"])
        assert all(len(ids) == 1 for ids in per_pid.values()), (name, per_pid)
        assert all(r.worker and ":" in r.worker for r in res[name])


@pytest.mark.parametrize("name", [n for n, _ in _backends()])
def test_a_failed_task_is_reported_and_the_others_finish(name, executors):
    params = [{"i": i} for i in range(5)]
    seen = []
    rs = executors[name].map(flaky, params, shared=10, on_result=seen.append)
    assert len(seen) == 5
    assert [r.ok for r in rs] == [True, True, False, True, True]
    bad = rs[2]
    assert bad.params == {"i": 2}
    assert bad.error == "ValueError: bad parameter i=2"
    assert "flaky" in bad.traceback
    assert [r.value for r in rs if r.ok] == [0, 10, 30, 40]


def test_checkpoint_resumes_and_skips_finished_tasks(tmp_path):
    ck = Checkpoint(tmp_path / "ck")
    params = [{"i": i} for i in range(5)]
    with make_executor("serial") as ex:
        first = ex.map(flaky, params, shared=10, checkpoint=ck)
        assert len(ck) == 4  # the failed task is not stored
        calls = []
        again = ex.map(flaky, params, shared=10, checkpoint=ck, on_result=calls.append)
    assert [r.cached for r in again] == [True, True, False, True, True]
    assert [r.value for r in again] == [r.value for r in first]
    assert not again[2].ok  # tried again, fails again
    # a damaged file is a task to run again, not a crash
    k = task_key(params[0])
    (tmp_path / "ck" / f"{k}.pkl").write_bytes(b"not a pickle")
    with make_executor("serial") as ex:
        third = ex.map(flaky, params, shared=10, checkpoint=ck)
    assert not third[0].cached and third[0].value == 0 and third[1].cached


def test_task_key_and_seeds_are_stable():
    assert task_key({"a": 1, "b": [0.1, "x"]}) == task_key({"b": [0.1, "x"], "a": 1})
    assert task_key({"a": 1}) != task_key({"a": 1}, salt="other data")
    assert task_key({"a": 0.1}) != task_key({"a": 0.1 + 1e-17 * 0 + 2 ** -56})
    s = task_seeds(7, 4)
    assert s == task_seeds(7, 4) and len(set(s)) == 4 and s != task_seeds(8, 4)


def test_bad_backend_and_address_are_clear_errors():
    with pytest.raises(ComputefolioError, match="--backend: one of serial, processes, ray"):
        make_executor("dask")
    with pytest.raises(ComputefolioError, match="--address: only with --backend ray"):
        make_executor("processes", address="127.0.0.1:6379")
    for bad in (-1, 0):
        with pytest.raises(ComputefolioError, match="--workers: a positive number"):
            make_executor("processes", workers=bad)


@pytest.mark.skipif(not HAVE_RAY, reason="Ray is an optional extra: pip install 'computefolio[ray]'")
def test_a_bad_ray_address_fails_fast_with_one_line():
    import socket
    import time as _time

    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = _time.perf_counter()
    with pytest.raises(ComputefolioError, match=rf"--address 127.0.0.1:{port}: no Ray head answers there"):
        make_executor("ray", address=f"127.0.0.1:{port}").start()
    assert _time.perf_counter() - t < 30  # Ray alone retries for minutes
    with pytest.raises(ComputefolioError, match=r"--address: HOST:PORT of a running Ray head"):
        make_executor("ray", address="nohost").start()
