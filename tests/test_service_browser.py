"""The dashboard in headless Chromium, as a PM and a risk officer use it.

A live ``computefolio serve`` (demo book, sample market). The PM signs in, sees the
overview's charts drawn, proposes orders; the risk officer signs in, overrides the
blocks and releases the list (the PM is offered neither); the compliance log shows both
names. The stress page swaps a scenario in with htmx; a run started from the runs page
reports its progress by server-sent events to the end. At 390 px and 1,440 px the pages
never scroll sideways; no console error, no CSP violation, and no request leaves the
application. Screenshots go to ``out/service_*.png``.

Needs Debian's Chromium (``/usr/bin/chromium``) and the python ``playwright`` package;
skips with the reason otherwise.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from _service_server import strict_policy, PASSWORD, make_store, service_or_skip, start

pytestmark = pytest.mark.browser
service_or_skip()

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
OUT = Path(__file__).resolve().parents[1] / "out"
PAGE_CHECK = """() => ({charts: document.documentElement.dataset.charts || '',
    drawn: Array.from(document.querySelectorAll('div.chart')).filter(d => d.querySelector('.main-svg')
           && d._fullData && d._fullData.length > 0 && d.getBoundingClientRect().height > 100).length,
    divs: document.querySelectorAll('div.chart').length,
    sw: document.documentElement.scrollWidth, iw: window.innerWidth})"""


def _chromium() -> str:
    for cand in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if cand and Path(cand).exists():
            return cand
    pytest.skip("headless Chromium not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    exe = _chromium()
    pytest.importorskip("playwright.sync_api", reason="python package 'playwright' not installed")
    d = tmp_path_factory.mktemp("service_browser")
    store = make_store(d)
    srv = start(store, d, "--policy", strict_policy(d))
    yield srv, exe
    srv.stop()


class Watch:
    """Console errors, CSP violations and every request of a page."""

    def __init__(self, page, base: str):
        self.base, self.errors, self.requests = base, [], []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                             "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")

    def outside(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.base + "/") and not u.startswith("data:")]


def sign_in(page, base: str, user: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/", timeout=60_000)


def until(page, expr: str, timeout_s: float = 60.0) -> None:
    """Poll a JavaScript expression from outside the page (Playwright's wait_for_function
    evaluates strings in the page, which the page's CSP forbids, rightly)."""
    import time

    t0 = time.monotonic()
    while not page.evaluate(f"() => !!({expr})"):
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"not true within {timeout_s:.0f} s: {expr}")
        page.wait_for_timeout(200)


def charts(page) -> dict:
    until(page, "document.documentElement.dataset.charts")
    return page.evaluate(PAGE_CHECK)


def test_pm_proposes_risk_approves(served):
    from playwright.sync_api import sync_playwright

    srv, exe = served
    base = srv.url
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=ARGS)
        # ---- the PM, on a laptop
        ctx = browser.new_context(viewport={"width": 1440, "height": 900})
        page = ctx.new_page()
        w = Watch(page, base)
        sign_in(page, base, "pia")
        c = charts(page)
        assert c["charts"] == "ready" and c["divs"] >= 3 and c["drawn"] == c["divs"], c
        assert c["sw"] <= c["iw"], c
        assert page.locator("#simulated-banner").is_visible()
        assert "P&L today" in page.inner_text("main") and "Exposure by layer" in page.inner_text("main")
        page.screenshot(path=str(OUT / "service_overview_1440.png"), full_page=True)
        page.goto(base + "/orders")
        page.fill("input[name=asof]", "2025-12-31")
        page.click("#propose-btn")
        page.wait_for_url("**/orders/L*", timeout=180_000)
        lid = page.url.rsplit("/", 1)[-1].split("?")[0]
        status = page.inner_text("#list-status")
        assert status == "blocked"  # the strict policy blocks orders above 2% of NAV
        assert page.locator("#release-btn").count() == 0, "the proposer must not be offered the release"
        assert page.locator("#override-form").count() == 0
        page.screenshot(path=str(OUT / "service_orders_1440.png"), full_page=True)
        page.goto(base + "/stress")
        charts(page)
        options = page.locator("#scenario option").all()
        assert len(options) >= 5
        target = options[0].get_attribute("value")
        with page.expect_response(lambda r: "/stress/panel" in r.url):
            page.select_option("#scenario", target)
        page.wait_for_selector(f"#scenario-panel .panel[data-scenario='{target}'] div.chart .main-svg", timeout=30_000)
        # a run with live progress
        page.goto(base + "/runs")
        page.fill("input[name=start]", "2025-01-02")
        page.fill("input[name=end]", "2025-06-30")
        page.click("#run-btn")
        page.wait_for_url("**/runs/2*", timeout=60_000)
        until(page, "document.documentElement.dataset.run === 'done'", 240)
        assert page.locator("#run-links").is_visible() and page.inner_text("#run-status") == "done"
        bar = page.evaluate("() => [document.getElementById('run-bar').value, document.getElementById('run-bar').max]")
        assert bar[0] == bar[1] >= 7, bar
        assert not w.errors, w.errors
        assert not w.outside(), w.outside()
        ctx.close()
        # ---- the risk officer, on a phone
        ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = ctx.new_page()
        w = Watch(page, base)
        page.on("dialog", lambda d: d.accept())
        sign_in(page, base, "rita")
        c = charts(page)
        assert c["charts"] == "ready" and c["drawn"] == c["divs"] and c["sw"] <= c["iw"], c
        page.screenshot(path=str(OUT / "service_overview_390.png"), full_page=True)
        page.goto(f"{base}/orders/{lid}")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        while page.locator("#override-form").count():
            page.fill("#override-form input[name=reason]", "rebuilding the book after the quarter")
            page.click("#override-form button[type=submit]")
            page.wait_for_load_state()
            assert "Override recorded" in page.inner_text("main")
        page.click("#release-btn")
        page.wait_for_url("**done=released", timeout=60_000)
        assert page.inner_text("#list-status") == "released"
        page.screenshot(path=str(OUT / "service_orders_390.png"), full_page=True)
        page.goto(f"{base}/compliance?list_id={lid}")
        actors = {(r.locator("td").nth(2).inner_text(), r.locator("td.actor").inner_text())
                  for r in page.locator("table.log tbody tr").all()}
        assert ("propose", "pia") in actors and ("release", "rita") in actors, actors
        assert ("override", "rita") in actors
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(OUT / "service_log_390.png"), full_page=True)
        # the log's filter through htmx
        with page.expect_response(lambda r: "/compliance?" in r.url):
            page.select_option("select[name=event]", "release")
        until(page, "document.querySelectorAll('table.log tbody tr').length === 1")
        assert not w.errors, w.errors
        assert not w.outside(), w.outside()
        ctx.close()
        browser.close()
