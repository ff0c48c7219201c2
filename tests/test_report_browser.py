"""The HTML report renders offline in headless Chromium: every chart draws an SVG, the
console shows no error, and no request leaves the file. A full-page screenshot is kept
as ``out/report_screenshot.png``.

Needs Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it) and the
python ``playwright`` package (which must not download a browser). Skips with the
reason otherwise.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from _report_data import fake_results

from computefolio.report import build_report, write_report

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUT = Path(__file__).resolve().parents[1] / "out"


def _chromium() -> str:
    for cand in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if cand and Path(cand).exists():
            return cand
    pytest.skip("headless Chromium not installed (apt-get install chromium; .ci/run does it)")


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("python package 'playwright' not installed (pip install -e '.[test]')")
    return sync_playwright


def render(html_path: Path, screenshot: Path | None = None) -> dict:
    """Open ``html_path`` in headless Chromium; return charts, rendered SVG count, console
    errors, page errors and requests that were not to the file itself."""
    exe = _chromium()
    sync_playwright = _playwright()
    errors, requests = [], []
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"Chromium at {exe} could not start: {exc}")
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:", "blob:"))
                    else None)
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('div.chart')).every(d => d.querySelector('.main-svg'))",
                timeout=60_000)
            info = page.evaluate("""() => {
                const charts = Array.from(document.querySelectorAll('div.chart'));
                return {charts: charts.map(d => d.id), names: charts.map(d => d.dataset.chart),
                        rendered: charts.filter(d => d.querySelector('.main-svg') && d._fullData
                                                     && d._fullData.length > 0).map(d => d.id),
                        banner: !!document.getElementById('simulated-banner'),
                        // tables whose header row covers their first data row (a sticky-header bug)
                        covered: Array.from(document.querySelectorAll('table')).filter(t => {
                            const h = t.querySelector('thead th'), r = t.querySelector('tbody tr');
                            if (!h || !r) return false;
                            return h.getBoundingClientRect().bottom > r.getBoundingClientRect().top + 1;
                        }).map(t => (t.closest('section') || {}).id || '?'),
                        sections: Array.from(document.querySelectorAll('section')).map(s => s.id)};
            }""")
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    info.update(errors=errors, requests=requests)
    return info


def _no_external_urls(html: str) -> list[str]:
    """URLs in the page outside the embedded plotly.js bundle (which only names URLs in strings)."""
    from plotly.offline import get_plotlyjs

    own = html.replace(get_plotlyjs(), "")
    return re.findall(r"(?:https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}[^\s\"'<>]*", own)


def test_static_report_is_self_contained():
    html = build_report(fake_results())
    assert html.count("<script>") >= 2  # plotly.js once + the loader
    from plotly.offline import get_plotlyjs

    assert html.count(get_plotlyjs()[:200]) == 1, "plotly.js must be embedded exactly once"
    assert _no_external_urls(html) == []
    own = html.replace(get_plotlyjs(), "")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", own)
    assert "@import" not in own and "url(" not in own
    assert "SAMPLE MARKET (SIMULATED)" in html
    assert "SAMPLE MARKET (SIMULATED)" not in build_report(fake_results(simulated=False))
    # the embedded results are valid JSON and equal to the input (without series)
    m = re.search(r'<script type="application/json" id="cf-results">(.*?)</script>', html, re.S)
    data = json.loads(m.group(1).replace("<\\/", "</"))
    assert data["headline"] == fake_results()["headline"]


def test_fake_report_renders_in_chromium(tmp_path):
    path = write_report(fake_results(), tmp_path / "report.html")
    info = render(path)
    assert info["charts"], "the report has no chart"
    assert sorted(info["rendered"]) == sorted(info["charts"])
    assert info["errors"] == []
    assert info["requests"] == []
    assert info["banner"]
    assert info["covered"] == []


def test_demo_report_renders_in_chromium(tmp_path_factory):
    """The report of `computefolio demo` (shipped strategy on the sample market)."""
    _chromium()
    _playwright()
    from _report_data import demo_run

    res = demo_run(str(tmp_path_factory.getbasetemp() / "demo_out"))
    info = render(res.report_path, screenshot=OUT / "report_screenshot.png")
    assert len(info["charts"]) >= 10
    # every chart the issue asks for
    assert {"equity", "drawdown", "rolling_vol", "correlation", "weights_by_layer", "exposure_sleeve",
            "exposure_layer", "exposure_theme", "stress_by_layer", "liquidity", "turnover",
            "costs_by_venue"} <= set(info["names"])
    missing = sorted(set(info["charts"]) - set(info["rendered"]))
    assert not missing, f"charts that did not render: {missing}"
    assert info["errors"] == [], info["errors"]
    assert info["requests"] == [], f"the report tried to reach the network: {info['requests'][:5]}"
    assert info["banner"], "the sample-market banner is missing"
    assert info["covered"] == [], f"table headers cover the first row in sections {info['covered']}"
    assert (OUT / "report_screenshot.png").stat().st_size > 10_000
