"""Runs of the main job started from the service: a queue, one run at a time, progress.

A run is :func:`computefolio.job.execute` (what ``computefolio run`` does) on a strategy
the service knows by name — the shipped strategies, the service's own strategy and the
files of ``--strategies DIR``; a request never names a path — with the service's price
source. Runs execute one after another in a worker thread (a run is CPU-bound; two at
once would only slow both) and write to ``<runs_dir>/<run id>/<strategy name>/`` the
files ``computefolio run`` writes (``results.json``, ``report.html``, ...).

Progress is reported by a :class:`~computefolio.job.terminal.Steps` that records each
step (load, validate, construct and backtest, benchmarks, risk, correlation, write) and
the allocator fits inside the backtest as events; the dashboard follows them by
server-sent events. A run can be cancelled: it stops at the next step or fit.

The ``service_runs`` table keeps every run's id, who started it, the strategy and
parameters, status (``queued``, ``running``, ``done``, ``failed``, ``cancelled``,
``interrupted``) and output folder, so results survive a restart; a run that was
queued or running when the server stopped is marked ``interrupted`` at the next start.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ComputefolioError, DataError
from ..job.terminal import Steps
from .state import ServiceState
from .users import utcnow

#: The usual steps of a run, in order (as :func:`computefolio.job.execute` names them; a
#: book with a private sleeve has one more). Progress counts the steps as they start.
STEPS = ("load universe and market", "validate data", "construct and backtest", "benchmarks",
         "risk report: VaR/ES, contributions, stress, liquidity", "correlation regimes (rolling, EWMA, DCC)",
         "write report")
FINAL = ("done", "failed", "cancelled", "interrupted")


class RunCancelled(ComputefolioError):
    """The run was cancelled by a user."""


@dataclass
class Run:
    run_id: str
    created_at: str
    username: str
    strategy: str
    params: dict
    status: str = "queued"
    out_dir: str | None = None
    finished_at: str | None = None
    error: str | None = None
    events: list = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    step: int = 0
    step_name: str | None = None
    summary: dict = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return max(len(STEPS), self.step)

    def to_dict(self) -> dict:
        last_sub = next((e for e in reversed(self.events) if e["type"] == "fit"), None)
        return {"run_id": self.run_id, "created_at": self.created_at, "username": self.username,
                "strategy": self.strategy, "params": self.params, "status": self.status,
                "finished_at": self.finished_at, "error": self.error,
                "progress": {"step": self.step, "steps": self.steps, "name": self.step_name,
                             "fraction": min(1.0, self.step / self.steps) if self.status != "done" else 1.0,
                             "fits": None if last_sub is None else {"done": last_sub["done"],
                                                                     "total": last_sub["total"]}},
                "summary": self.summary, "files": self.files()}

    def files(self) -> list[str]:
        if not self.out_dir or not Path(self.out_dir).is_dir():
            return []
        return sorted(p.name for p in Path(self.out_dir).iterdir() if p.is_file())


class _Progress(Steps):
    """:class:`Steps` that records events on a :class:`Run` (no terminal output)."""

    def __init__(self, run: Run, emit):
        super().__init__(False)
        self.run, self.emit = run, emit

    @contextlib.contextmanager
    def step(self, name: str):
        if self.run.cancel.is_set():
            raise RunCancelled(f"run {self.run.run_id} cancelled")
        self.run.step += 1
        self.run.step_name = name
        self.emit(self.run, "step", name=name, step=self.run.step, steps=self.run.steps, state="started")
        t0 = time.perf_counter()
        yield self
        self.timings[name] = time.perf_counter() - t0
        self.emit(self.run, "step", name=name, step=self.run.step, steps=self.run.steps, state="done",
                  seconds=round(self.timings[name], 3))

    def sub(self, name: str, total: int):
        done = [0]
        last = [0.0]

        def advance(n: int = 1) -> None:
            if self.run.cancel.is_set():
                raise RunCancelled(f"run {self.run.run_id} cancelled")
            done[0] += n
            now = time.monotonic()
            if now - last[0] > 0.2 or done[0] >= total:  # at most 5 events a second
                last[0] = now
                self.emit(self.run, "fit", name=name, done=done[0], total=max(total, done[0]))

        return advance


class JobManager:
    """The run queue and its worker (see the module docstring)."""

    def __init__(self, state: ServiceState):
        self.state = state
        self.runs: dict[str, Run] = {}
        self._q: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------------ strategies
    def strategies(self) -> dict[str, Path]:
        """Strategy files a run may name: shipped ones, the service's, ``--strategies DIR``."""
        from ..strategy import default_strategy_path

        out: dict[str, Path] = {}
        for p in sorted(default_strategy_path().parent.glob("*.yaml")):
            out[p.stem] = p
        s = self.state.loaded.strategy
        if self.state.config.strategy is not None:
            out[s.name] = Path(self.state.config.strategy)
        d = self.state.config.strategies
        if d is not None and Path(d).is_dir():
            for p in sorted(Path(d).glob("*.y*ml")):
                out.setdefault(p.stem, p)
        return out

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        with self.state.gate.write_cursor() as cur:
            cur.execute("UPDATE service_runs SET status = 'interrupted', finished_at = ?, error = 'the server stopped "
                        "during the run' WHERE status IN ('queued', 'running')", [utcnow()])
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="run-worker", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        for r in list(self.runs.values()):
            r.cancel.set()
        self._q.put(None)

    # ------------------------------------------------------------------ requests
    def submit(self, username: str, strategy: str | None = None, *, start=None, end=None) -> Run:
        from .views import parse_day

        names = self.strategies()
        strategy = strategy or self.state.loaded.strategy.name
        if strategy not in names:
            raise DataError(f"strategy: one of {', '.join(names)}, got {strategy!r}")
        s, e = parse_day(start, "start"), parse_day(end, "end")
        if s is not None and e is not None and e <= s:
            raise DataError(f"end {e.date()} must be after start {s.date()}")
        params = {"start": None if s is None else str(s.date()), "end": None if e is None else str(e.date()),
                  "source": self.state.config.source}
        now = _dt.datetime.now(_dt.timezone.utc)
        rid = now.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        run = Run(rid, now.strftime("%Y-%m-%dT%H:%M:%SZ"), username, strategy, params)
        with self.state.gate.write_cursor() as cur:
            cur.execute("INSERT INTO service_runs VALUES (?, ?, ?, ?, ?, 'queued', NULL, NULL, NULL)",
                        [rid, utcnow(), username, strategy, json.dumps(params)])
        with self._lock:
            self.runs[rid] = run
        self.emit(run, "status", status="queued")
        self._q.put(rid)
        return run

    def cancel(self, run_id: str, username: str) -> Run:
        run = self.get(run_id)
        if run.status in FINAL:
            raise DataError(f"run {run_id} is {run.status}: nothing to cancel")
        run.cancel.set()
        if run.status == "queued":
            self._finish(run, "cancelled", error=f"cancelled by {username} before it started")
        else:
            self.emit(run, "status", status="cancelling", by=username)
        return run

    def get(self, run_id: str) -> Run:
        with self._lock:
            run = self.runs.get(run_id)
        if run is not None:
            return run
        with self.state.gate.read_cursor() as cur:
            r = cur.execute("SELECT run_id, created_at, username, strategy, params, status, out_dir, finished_at, "
                            "error FROM service_runs WHERE run_id = ?", [str(run_id)]).fetchall()
        if not r:
            raise LookupError(f"no run {run_id!r}")
        return self._from_row(r[0])

    def _from_row(self, r) -> Run:
        run = Run(r[0], _iso(r[1]), r[2], r[3], json.loads(r[4] or "{}"), status=r[5], out_dir=r[6],
                  finished_at=_iso(r[7]), error=r[8])
        run.step = len(STEPS) if r[5] == "done" else 0
        run.step_name = STEPS[-1] if r[5] == "done" else None
        run.summary = _summary(Path(r[6]) / "results.json") if r[5] == "done" and r[6] else {}
        return run

    def list(self, limit: int = 50) -> list[dict]:
        with self.state.gate.read_cursor() as cur:
            rows = cur.execute("SELECT run_id, created_at, username, strategy, params, status, out_dir, finished_at, "
                               "error FROM service_runs ORDER BY created_at DESC LIMIT ?", [int(limit)]).fetchall()
        out = []
        for r in rows:
            with self._lock:
                live = self.runs.get(r[0])
            out.append((live or self._from_row(r)).to_dict())
        return out

    def latest_done(self) -> Run | None:
        with self.state.gate.read_cursor() as cur:
            r = cur.execute("SELECT run_id, created_at, username, strategy, params, status, out_dir, finished_at, "
                            "error FROM service_runs WHERE status = 'done' ORDER BY finished_at DESC LIMIT 1").fetchall()
        return self._from_row(r[0]) if r else None

    def events_after(self, run_id: str, after: int) -> tuple[list[dict], bool]:
        run = self.get(run_id)
        evs = [e for e in list(run.events) if e["seq"] > after]
        return evs, run.status in FINAL

    # ------------------------------------------------------------------ worker
    def emit(self, run: Run, kind: str, **data) -> None:
        ev = {"seq": len(run.events) + 1, "type": kind, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              **data}
        run.events.append(ev)

    def _work(self) -> None:
        while True:
            rid = self._q.get()
            if rid is None:
                return
            with self._lock:
                run = self.runs.get(rid)
            if run is None or run.status != "queued":
                continue
            self._execute(run)

    def _execute(self, run: Run) -> None:
        from ..job import execute
        from ..strategy import load_strategy

        run.status = "running"
        self._set_status(run)
        self.emit(run, "status", status="running")
        try:
            path = self.strategies()[run.strategy]
            s = load_strategy(path)
            changes = self._data_override(s)
            for k in ("start", "end"):
                if run.params.get(k):
                    changes[k] = _dt.date.fromisoformat(run.params[k])
            if changes:
                s = s.with_overrides(**changes)
            folder = self.state.runs_dir / run.run_id
            steps = _Progress(run, self.emit)
            with self.state.gate.lease():
                res = execute(s, data=None, out_dir=folder, steps=steps)
            run.out_dir = str(res.out_dir)
            run.summary = _summary(res.out_dir / "results.json")
            self._finish(run, "done")
        except RunCancelled:
            self._finish(run, "cancelled", error="cancelled")
        except ComputefolioError as exc:
            self._finish(run, "failed", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: the run fails, the server goes on
            import logging

            logging.getLogger("computefolio.service").exception("run %s failed", run.run_id)
            self._finish(run, "failed", error=f"internal error ({type(exc).__name__}); see the server log")

    def _data_override(self, s) -> dict:
        c = self.state.config
        if c.source == "sample":
            return {"data": {"source": "sample", "seed": s.data.seed}}
        if c.source == "files":
            return {"data": {"source": "files", "path": str(Path(c.data).resolve()), "seed": s.data.seed}}
        return {"data": {"source": "store", "store": str(self.state.gate.path), "seed": s.data.seed}}

    def _finish(self, run: Run, status: str, error: str | None = None) -> None:
        run.status = status
        run.error = error
        run.finished_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with contextlib.suppress(Exception):
            self._set_status(run, final=True)
        self.emit(run, "status", status=status, error=error, summary=run.summary)

    def _set_status(self, run: Run, final: bool = False) -> None:
        with self.state.gate.write_cursor() as cur:
            cur.execute("UPDATE service_runs SET status = ?, out_dir = ?, error = ?, finished_at = ? WHERE run_id = ?",
                        [run.status, run.out_dir, run.error, utcnow() if final else None, run.run_id])


def _iso(v) -> str | None:
    if v is None:
        return None
    return v.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(v, "strftime") else str(v)


def _summary(path: Path) -> dict:
    """Headline figures and caveat counts of a finished run (from its results.json)."""
    try:
        r = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    cav = r.get("caveats") or {}
    head = ((r.get("headline") or {}).get("rows") or [{}])[0]
    conv = r.get("conventions") or {}
    return {"name": (r.get("strategy") or {}).get("name"), "start": conv.get("start"), "end": conv.get("end"),
            "basis": conv.get("basis_label"), "simulated": bool((r.get("data") or {}).get("simulated")),
            "caveats": cav.get("counts") or {},
            "headline": {k: head.get(k) for k in ("total_return", "cagr", "volatility", "sharpe", "max_drawdown")
                         if k in head},
            "units": {"total_return": "fraction", "cagr": "fraction per year", "volatility": "fraction per year",
                      "sharpe": "ratio", "max_drawdown": "fraction"}}
