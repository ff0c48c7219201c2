"""Load on the service: concurrent clients on loopback against the risk and book endpoints.

Starts ``computefolio serve`` (one uvicorn process, 127.0.0.1, a free port) on a store
holding the demo book (:mod:`computefolio.service.demo`, the sample market), makes a
viewer's token, warms the caches with one request per endpoint (that first request is
the uncached cost: valuation, P&L, the risk report), then runs ``--clients`` clients for
``--seconds`` seconds. Each client holds one keep-alive HTTP/1.1 connection and asks in
turn for ``/api/v1/risk``, ``/api/v1/book``, ``/api/v1/risk/var`` and
``/api/v1/book/exposure?by=layer`` with the bearer token (a raw asyncio client in its own
process, so that the client's own cost is small and apart from the server's). Bounded:
the duration, at most ``--max-requests`` requests, and 10 s per request.

Prints per endpoint and overall: requests, errors (status other than 200, timeouts,
dropped connections), p50/p90/p99/max latency (ms) and throughput (requests/s), and
the time of an uncached risk view (another as-of date: valuation, P&L and the whole risk
report) against the cached p50. The server answers a cached read view from memory on its
event loop (:func:`computefolio.service.api.cached`); figures on a shared machine move
with the other processes' load, which the output states. Goal of issue 16: 0 errors
and p99 under 100 ms for the cached risk view of the shipped book. Nothing is asserted;
figures depend on the machine (run it on a quiet one). Writes them to
``out/bench_service_load.json``.

    python benchmarks/service_load.py [--clients 50] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PATHS = ["/api/v1/risk", "/api/v1/book", "/api/v1/risk/var", "/api/v1/book/exposure?by=layer"]
CMD = [sys.executable, "-c", "from computefolio.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _client(i, port, token, deadline, budget, out):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        out.append(("connect", 0, 0.0, str(exc)))
        return
    k = i
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            path = PATHS[k % len(PATHS)]
            k += 1
            req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                   f"Accept: application/json\r\n\r\n").encode()
            t0 = time.perf_counter()
            try:
                writer.write(req)
                await writer.drain()
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                status = int(head.split(b" ", 2)[1])
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":", 1)[1])
                await asyncio.wait_for(reader.readexactly(n), 10)
                out.append((path, status, time.perf_counter() - t0, ""))
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
                out.append((path, 0, time.perf_counter() - t0, type(exc).__name__))
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def _load(port, token, clients, seconds, max_requests, q):
    async def main():
        out: list = []
        deadline = time.perf_counter() + seconds
        budget = [max_requests]
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(i, port, token, deadline, budget, out) for i in range(clients)))
        return out, time.perf_counter() - t0

    q.put(asyncio.run(main()))


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return xs[k]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--max-requests", type=int, default=500_000)
    ap.add_argument("--out", default="out/bench_service_load.json")
    a = ap.parse_args(argv)

    import httpx

    from computefolio.data.load import load_market
    from computefolio.service import users as U
    from computefolio.service.demo import seed_demo
    from computefolio.universe import load_universe

    tmp = Path(tempfile.mkdtemp(prefix="cf-service-load-"))
    store = tmp / "store.duckdb"
    u = load_universe()
    seed_demo(store, load_market(u, source="sample"), u, users=False)
    from computefolio.book.store import open_store

    st = open_store(store)
    U.ensure_schema(st.con)
    U.add_user(st.con, "viewer", "viewer", "benchmark password")
    token, _ = U.create_token(st.con, "viewer", ["read"], label="load benchmark")
    st.close()

    port = free_port()
    log = open(tmp / "serve.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([*CMD, "serve", "--port", str(port), "--store", str(store), "--sample"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.monotonic()
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - t0 > 120 or proc.poll() is not None:
                print("the server did not start:", (tmp / "serve.log").read_text()[-2000:])
                return 1
            time.sleep(0.3)
        h = {"Authorization": f"Bearer {token}"}
        # the uncached cost: the risk view at an as-of date nobody asked for yet (the server warms the default)
        t = time.perf_counter()
        r = httpx.get(base + "/api/v1/risk?asof=2025-12-30", headers=h, timeout=300)
        uncached = time.perf_counter() - t
        cold = {}
        for p in PATHS:
            t = time.perf_counter()
            r = httpx.get(base + p, headers=h, timeout=300)
            cold[p] = time.perf_counter() - t
            if r.status_code != 200:
                print(f"warm-up {p}: {r.status_code} {r.text[:300]}")
                return 1
        q = mp.get_context("spawn").Queue()
        worker = mp.get_context("spawn").Process(target=_load, args=(port, token, a.clients, a.seconds,
                                                                     a.max_requests, q))
        worker.start()
        res, wall = q.get(timeout=a.seconds + 120)
        worker.join(30)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()

    print(f"service load: {a.clients} clients x {a.seconds:.0f} s on loopback, one uvicorn process; "
          f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (other processes share the CPUs); demo book, sample market; viewer token")
    rows = {}
    print(f"{'endpoint':36s} {'requests':>9s} {'errors':>7s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} "
          f"{'max ms':>8s} {'req/s':>8s} {'cold s':>7s} {'cold/p50':>9s}")
    for p in [*PATHS, "all"]:
        sel = [x for x in res if p == "all" or x[0] == p]
        ok = [x[2] * 1e3 for x in sel if x[1] == 200]
        err = [x for x in sel if x[1] != 200]
        p50 = pct(ok, 50)
        c = cold.get(p)
        rows[p] = {"requests": len(sel), "errors": len(err), "p50_ms": p50, "p90_ms": pct(ok, 90),
                   "p99_ms": pct(ok, 99), "max_ms": max(ok) if ok else None, "per_s": len(sel) / wall,
                   "cold_s": c, "error_kinds": sorted({f"{x[1]} {x[3]}" for x in err})[:5]}
        print(f"{p:36s} {len(sel):9d} {len(err):7d} {p50:8.1f} {pct(ok, 90):8.1f} {pct(ok, 99):8.1f} "
              f"{(max(ok) if ok else float('nan')):8.1f} {len(sel) / wall:8.0f} "
              + (f"{c:7.2f} {c * 1e3 / p50:9.0f}" if c else f"{'':7s} {'':9s}"))
    r = rows["/api/v1/risk"]
    print(f"uncached risk view (valuation, P&L, risk report of another as-of date): {uncached:.2f} s, "
          f"{uncached * 1e3 / r['p50_ms']:.0f} times the cached p50")
    print(f"goal (issue 16): 0 errors and p99 < 100 ms on the cached risk view -> errors {rows['all']['errors']}, "
          f"risk p99 {r['p99_ms']:.1f} ms: {'met' if rows['all']['errors'] == 0 and r['p99_ms'] < 100 else 'NOT met'}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"clients": a.clients, "seconds": a.seconds, "wall_s": wall,
                                       "uncached_risk_s": uncached, "load_average": os.getloadavg(),
                                       "cpus": os.cpu_count(), "endpoints": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
