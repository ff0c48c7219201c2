"""Fuzzing the JSON API against its own OpenAPI schema: no 500, no traceback.

schemathesis reads ``/api/v1/openapi.json`` of a live ``computefolio serve`` (demo book,
sample market) and hypothesis generates requests for every operation: valid ones
(positive) and ones that break the schema (negative: wrong types, out-of-range numbers,
bad dates, unknown enum values). Every answer must be below 500 and carry no Python
traceback. Bounded: a fixed number of examples per operation (fewer for the heavy
ones: proposing orders, starting runs), derandomized so a failure reproduces, and a
wall-clock budget after which the remaining operations are reported as not run (the
test then fails: the budget is generous)."""

from __future__ import annotations

import time

import pytest

from _service_server import make_store, service_or_skip, start, token

service_or_skip()
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis not installed (pip install -e '.[test]')")
import httpx  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

#: Examples per operation and mode (positive, negative); the default for the rest.
EXAMPLES = {("POST", "/api/v1/orders"): (3, 4), ("POST", "/api/v1/runs"): (2, 4),
            ("GET", "/api/v1/risk"): (8, 6), ("GET", "/api/v1/risk/var"): (6, 6),
            ("GET", "/api/v1/runs/{run_id}/events"): (3, 5)}
DEFAULT = (25, 15)
BUDGET_S = 420.0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("service_fuzz")
    store = make_store(d)
    srv = start(store, d)
    srv.tokens = {"ada": token(store, "ada", "read", "trade", "approve", "override", "run", "admin")}
    yield srv
    srv.stop()


def _no_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" not in text and 'File "/' not in text


def test_openapi_fuzz_no_500_no_traceback(served):
    srv = served
    headers = srv.headers("ada")
    raw = httpx.get(srv.url + "/api/v1/openapi.json", headers=headers, timeout=60).json()
    assert raw["openapi"].startswith("3.") and len(raw["paths"]) >= 25
    schema = schemathesis.openapi.from_dict(raw)
    ops = [r.ok() for r in schema.get_all_operations()]
    # reads first, writes after, runs last (a queued run keeps the CPU busy)
    ops.sort(key=lambda o: (o.method.upper() != "GET", "/runs" in o.path, o.path))
    from schemathesis import GenerationMode

    t0 = time.monotonic()
    done, failures, calls = [], [], [0]
    codes: dict[tuple, dict[int, int]] = {}
    for op in ops:
        if time.monotonic() - t0 > BUDGET_S:
            break
        key = (op.method.upper(), op.path)
        npos, nneg = EXAMPLES.get(key, DEFAULT)
        for mode, n in ((GenerationMode.POSITIVE, npos), (GenerationMode.NEGATIVE, nneg)):
            strategy = op.as_strategy(generation_mode=mode)

            @settings(max_examples=n, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def check(case):
                calls[0] += 1
                resp = case.call(base_url=srv.url, headers=headers, timeout=180)
                c = codes.setdefault(key, {})  # noqa: B023 - check() runs within this iteration
                c[resp.status_code] = c.get(resp.status_code, 0) + 1
                if resp.status_code >= 500 or not _no_traceback(resp.text):
                    failures.append(f"{key[0]} {case.formatted_path} {case.query} {case.body!r}"[:300]  # noqa: B023
                                    + f" -> {resp.status_code} {resp.text[:300]}")

            try:
                check()
            except Exception as exc:  # noqa: BLE001 - schemathesis could not generate for this mode
                if "Unsatisfiable" not in type(exc).__name__ and "unsatisfiable" not in str(exc).lower():
                    raise
        done.append(key)
    # stop any run the fuzzer queued
    for r in httpx.get(srv.url + "/api/v1/runs?limit=500", headers=headers, timeout=60).json()["runs"]:
        if r["status"] in ("queued", "running"):
            httpx.post(srv.url + f"/api/v1/runs/{r['run_id']}/cancel", headers=headers, timeout=60)
    print(f"fuzz: {calls[0]} requests over {len(done)} operations in {time.monotonic() - t0:.0f} s")
    for k, c in codes.items():
        print(f"  {k[0]} {k[1]}: " + ", ".join(f"{s} x{n}" for s, n in sorted(c.items())))
    left = [f"{m} {p}" for m, p in ((o.method.upper(), o.path) for o in ops) if (m, p) not in done]
    assert not failures, "\n".join(failures[:10])
    assert not left, f"over the {BUDGET_S:.0f} s budget after {calls[0]} requests; not fuzzed: {left}"
    assert calls[0] >= 10 * len(ops)
    log = srv.output()
    assert "internal error" not in log, log[-3000:]
