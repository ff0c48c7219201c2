"""Runs of the main job from the service: queued, followed by server-sent events, results.

A live ``computefolio serve`` (demo book, sample market). A run started through the API
reports each of the job's seven steps and the allocator fits as events, ends ``done``,
and serves its results.json and its report (sandboxed: the report's inline scripts run
in an opaque origin that reaches nothing); the overview then shows the run's caveats. A
second run is cancelled while it runs."""

from __future__ import annotations

import json
import time

import pytest

from _service_server import make_store, service_or_skip, start, token

service_or_skip()
import httpx  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("service_runs")
    store = make_store(d)
    srv = start(store, d)
    srv.tokens = {"pia": token(store, "pia", "read", "run"), "vic": token(store, "vic")}
    yield srv
    srv.stop()


def events(srv, user: str, run_id: str, timeout: float = 300.0) -> list[tuple[str, dict]]:
    """Read the run's event stream to its end: [(event, data)]."""
    out, ev = [], None
    with httpx.stream("GET", f"{srv.url}/api/v1/runs/{run_id}/events", headers=srv.headers(user),
                      timeout=httpx.Timeout(timeout, connect=10)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event:"):
                ev = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and ev:
                out.append((ev, json.loads(line.split(":", 1)[1])))
                if ev == "end":
                    break
    return out


def test_a_run_with_progress_results_and_report(served):
    srv = served
    r = httpx.post(srv.url + "/api/v1/runs", headers=srv.headers("pia"),
                   json={"start": "2025-01-02", "end": "2025-06-30"}, timeout=60)
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] in ("queued", "running") and run["username"] == "pia" and run["params"]["source"] == "sample"
    evs = events(srv, "vic", run["run_id"])
    kinds = [e for e, _ in evs]
    assert kinds[-1] == "end" and evs[-1][1]["status"] == "done", evs[-3:]
    from computefolio.service.jobs import STEPS

    steps = [d for e, d in evs if e == "step" and d["state"] == "done"]
    assert [d["step"] for d in steps] == list(range(1, len(steps) + 1)) and len(steps) >= 7, steps
    assert set(STEPS) <= {d["name"] for d in steps} and steps[-1]["steps"] == len(steps)
    assert all(d["seconds"] >= 0 for d in steps)
    assert any(e == "fit" for e in kinds), "the allocator fits are reported"
    # the events are numbered: a reconnect with Last-Event-ID resumes after it
    with httpx.stream("GET", f"{srv.url}/api/v1/runs/{run['run_id']}/events",
                      headers={**srv.headers("vic"), "last-event-id": "3"}, timeout=60) as s:
        first = next(line for line in s.iter_lines() if line.startswith("id:"))
    assert first == "id: 4"
    done = httpx.get(srv.url + f"/api/v1/runs/{run['run_id']}", headers=srv.headers("vic")).json()
    assert done["status"] == "done" and {"results.json", "report.html"} <= set(done["files"])
    assert done["summary"]["simulated"] and "volatility" in done["summary"]["headline"]
    res = httpx.get(srv.url + f"/api/v1/runs/{run['run_id']}/results", headers=srv.headers("vic"), timeout=60)
    assert res.status_code == 200 and "caveats" in res.json() and res.json()["conventions"]["end"] <= "2025-06-30"
    rep = httpx.get(srv.url + f"/api/v1/runs/{run['run_id']}/report", headers=srv.headers("vic"), timeout=60)
    assert rep.status_code == 200 and rep.headers["content-type"].startswith("text/html")
    csp = rep.headers["content-security-policy"]
    assert csp.startswith("sandbox allow-scripts") and "connect-src 'none'" in csp and "default-src 'none'" in csp
    # the overview shows the caveats of the latest run
    page = httpx.get(srv.url + "/", headers=srv.headers("vic"), timeout=120)
    assert page.status_code == 200 and "Before you read the numbers" in page.text and run["run_id"] in page.text
    lst = httpx.get(srv.url + "/api/v1/runs", headers=srv.headers("vic")).json()["runs"]
    assert lst[0]["run_id"] == run["run_id"]


def test_a_run_can_be_cancelled(served):
    srv = served
    r = httpx.post(srv.url + "/api/v1/runs", headers=srv.headers("pia"), json={}, timeout=60)
    assert r.status_code == 202
    rid = r.json()["run_id"]
    t0 = time.monotonic()
    while httpx.get(srv.url + f"/api/v1/runs/{rid}", headers=srv.headers("vic")).json()["status"] == "queued":
        assert time.monotonic() - t0 < 60
        time.sleep(0.2)
    c = httpx.post(srv.url + f"/api/v1/runs/{rid}/cancel", headers=srv.headers("pia"), timeout=60)
    assert c.status_code == 200
    evs = events(srv, "vic", rid, timeout=120)
    assert evs[-1][1]["status"] == "cancelled", evs[-3:]
    again = httpx.post(srv.url + f"/api/v1/runs/{rid}/cancel", headers=srv.headers("pia"), timeout=60)
    assert again.status_code == 409 and "nothing to cancel" in again.json()["error"]
    assert httpx.get(srv.url + f"/api/v1/runs/{rid}/report", headers=srv.headers("vic")).status_code == 404
    bad = httpx.post(srv.url + "/api/v1/runs", headers=srv.headers("pia"), json={"strategy": "nope"})
    assert bad.status_code == 409 and "strategy: one of" in bad.json()["error"]
