"""Orders through the service: the CLI's proposal, four eyes, one writer, kill -9.

A live ``computefolio serve`` on the demo book (sample market). Checked: a proposal made
through the API is the one ``computefolio rebalance`` makes on the same book (same list
id, orders and checks: the service adds no logic of its own); the proposer can neither
release nor override; a viewer cannot; the risk officer overrides, another person
releases, and both names are in the hash-chained log; concurrent proposals and releases
of one list record exactly one; many requests at once leave both chains verified; and a
release the client saw answered survives a ``kill -9`` of the server."""

from __future__ import annotations

import concurrent.futures as cf
import json

import pytest

from _service_server import strict_policy, USERS, cli, make_store, service_or_skip, start, token

service_or_skip()
import httpx  # noqa: E402

ASOF = "2025-12-31"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("service_orders")
    store = make_store(d)
    tokens = {u: token(store, u, *(["read", "trade", "approve", "run"] if r == "pm" else
                                   ["read", "approve", "override", "run"] if r == "risk" else
                                   ["read"] if r == "viewer" else
                                   ["read", "trade", "approve", "override", "run", "admin"]))
              for u, r in USERS.items()}
    srv = start(store, d, "--policy", strict_policy(d))
    srv.tokens = tokens
    yield srv, d
    srv.stop()


def post(srv, user, path, body=None, timeout=180):
    return httpx.post(srv.url + path, headers=srv.headers(user), json=body if body is not None else {},
                      timeout=timeout)


def get(srv, user, path, timeout=180):
    return httpx.get(srv.url + path, headers=srv.headers(user), timeout=timeout)


def test_a_dry_run_is_the_cli_rebalance(served):
    srv, d = served
    r = post(srv, "pia", "/api/v1/orders", {"asof": ASOF, "dry_run": True})
    assert r.status_code == 200, r.text[:500]
    api = r.json()
    assert api["recorded"] is None and api["cutoff"] == f"{ASOF} 24:00 UTC"
    out = d / "cli-orders"
    c = cli("rebalance", "--book", srv.store, "--sample", "--asof", ASOF, "--dry-run", "--out", out, "--policy",
            d / "policy_strict.yaml", timeout=300)
    assert c.returncode == 0, c.stderr[-2000:]
    ref = json.loads((out / "orders.json").read_text())
    assert api["list_id"] == ref["list_id"]
    key = lambda o: o["order_id"]  # noqa: E731
    assert [(o["order_id"], o["symbol"], o["side"], o["quantity"], o["limit_price"]) for o in sorted(api["orders"], key=key)] \
        == [(o["order_id"], o["symbol"], o["side"], o["quantity"], o["limit_price"]) for o in sorted(ref["orders"], key=key)]
    assert [(x["check"], x["status"], x.get("target")) for x in api["compliance"]["results"]] == \
        [(x["check"], x["status"], x.get("target")) for x in ref["compliance"]["results"]]
    assert api["compliance"]["status"] == ref["compliance"]["status"]


def test_four_eyes_and_the_log(served):
    srv, _ = served
    # two proposals of one book state at once: exactly one is recorded
    with cf.ThreadPoolExecutor(3) as ex:
        rs = list(ex.map(lambda _: post(srv, "pia", "/api/v1/orders", {"asof": ASOF}), range(3)))
    codes = sorted(r.status_code for r in rs)
    assert codes == [201, 409, 409], [r.text[:200] for r in rs]
    prop = next(r.json() for r in rs if r.status_code == 201)
    assert all("already recorded" in r.json()["error"] for r in rs if r.status_code == 409)
    lid = prop["list_id"]
    assert prop["recorded"]["status"] in ("blocked", "cleared") and prop["proposed_by"] == "pia"
    blocks = sorted({x["check"] for x in prop["compliance"]["results"] if x["status"] == "block"})
    assert prop["recorded"]["status"] == "blocked" and "max_order_notional" in blocks, blocks
    # the proposer may not approve; a viewer may not; a pm may not override
    r = post(srv, "pia", f"/api/v1/orders/{lid}/release")
    assert r.status_code == 403 and "four eyes" in r.json()["error"]
    assert post(srv, "vic", f"/api/v1/orders/{lid}/release").status_code == 403
    if blocks:
        r = post(srv, "paul", f"/api/v1/orders/{lid}/override", {"check": blocks[0], "reason": "initial"})
        assert r.status_code == 403 and "may not override" in r.json()["error"]
        r = post(srv, "paul", f"/api/v1/orders/{lid}/release")
        assert r.status_code == 409 and "without an override" in r.json()["error"]
        # the risk officer overrides each block with a reason
        for c in blocks:
            r = post(srv, "rita", f"/api/v1/orders/{lid}/override", {"check": c, "reason": "rebuilding the book"})
            assert r.status_code == 200, r.text
            assert r.json()["by"] == "rita" and r.json()["proposed_by"] == "pia"
    # two releases at once: one is recorded
    with cf.ThreadPoolExecutor(2) as ex:
        rs = list(ex.map(lambda u: post(srv, u, f"/api/v1/orders/{lid}/release"), ["paul", "rita"]))
    assert sorted(r.status_code for r in rs) == [200, 409], [r.text for r in rs]
    rel = next(r.json() for r in rs if r.status_code == 200)
    assert rel["status"] == "released" and rel["proposed_by"] == "pia" and rel["by"] in ("paul", "rita")
    # both names in the compliance log; the chains verify
    lg = get(srv, "vic", f"/api/v1/compliance/log?list_id={lid}&limit=5000").json()
    ev = {(e["event"], e["actor"]) for e in lg["entries"] if e["event"] in ("propose", "override", "release")}
    assert ("propose", "pia") in ev and ("release", rel["by"]) in ev
    if blocks:
        assert ("override", "rita") in ev
    v = get(srv, "vic", "/api/v1/compliance/verify").json()
    assert v["compliance_log"]["ok"] and v["ledger"]["ok"], v
    d = get(srv, "vic", f"/api/v1/orders/{lid}").json()
    assert d["status"] == "released" and d["proposed_by"] == "pia" and d["open_blocks"] == 0
    assert all(o["status"] == "open" for o in d["orders"])
    csv = get(srv, "vic", f"/api/v1/orders/{lid}/orders.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("order_id,") and len(csv.text.splitlines()) == len(d["orders"]) + 1


def test_many_requests_at_once(served):
    srv, _ = served
    paths = ["/api/v1/book", "/api/v1/risk", "/api/v1/compliance/log", "/api/v1/orders", "/api/v1/book/nav",
             "/api/v1/freshness", "/api/v1/risk/budgets", "/api/v1/compliance/breaches"]

    def one(i):
        if i % 5 == 0:  # writes that must be refused cleanly in between
            return post(srv, "paul", "/api/v1/orders/L0000000000/cancel", {"reason": "x"}).status_code
        return get(srv, ["vic", "pia", "rita"][i % 3], paths[i % len(paths)]).status_code

    with cf.ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(one, range(80)))
    assert all(c in (200, 404) for c in codes), codes
    assert codes.count(404) == 16
    v = get(srv, "vic", "/api/v1/compliance/verify").json()
    assert v["compliance_log"]["ok"] and v["ledger"]["ok"]


def test_a_release_survives_kill_9(served, tmp_path):
    srv, d = served
    # one list per book state: cancel what is live (the released list too: no fills came) and propose again
    lists = get(srv, "vic", "/api/v1/orders").json()["lists"]
    live = [x for x in lists if x["status"] in ("blocked", "cleared", "released")]
    for x in live:
        assert post(srv, "paul", f"/api/v1/orders/{x['list_id']}/cancel", {"reason": "test"}).status_code == 200
    # propose on another NAV date (another list id), override, release, then kill -9 at once
    r = post(srv, "pia", "/api/v1/orders", {"asof": "2025-12-30"})
    assert r.status_code == 201, r.text[:400]
    lid = r.json()["list_id"]
    for c in sorted({x["check"] for x in r.json()["compliance"]["results"] if x["status"] == "block"}):
        assert post(srv, "rita", f"/api/v1/orders/{lid}/override", {"check": c, "reason": "accepted by risk"}).status_code == 200
    r = post(srv, "rita", f"/api/v1/orders/{lid}/release")
    assert r.status_code == 200, r.text
    head = r.json()["log_head"]
    srv.kill9()
    # the store opens; the release is there and the chain verifies up to the head the client saw
    c = cli("compliance", "verify", "--store", srv.store, "--head", head)
    assert c.returncode == 0, c.stdout + c.stderr
    again = start(srv.store, d, "--policy", d / "policy_strict.yaml")
    try:
        again.tokens = srv.tokens
        lst = get(again, "vic", f"/api/v1/orders/{lid}").json()
        assert lst["status"] == "released" and lst["proposed_by"] == "pia"
        assert ("release", "rita") in {(e["event"], e["actor"]) for e in lst["events"]}
        v = get(again, "vic", f"/api/v1/compliance/verify?head={head}").json()
        assert v["compliance_log"]["ok"] and v["ledger"]["ok"], v
    finally:
        again.stop()
    # the module fixture stops the first server: it is dead already
