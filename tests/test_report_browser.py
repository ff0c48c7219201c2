"""The HTML report renders offline in headless Chromium at a phone, a laptop and a wide
screen: every chart draws, the page never scrolls sideways, following a link of the sticky
navigation leaves the section's heading visible below it, the console shows no error and
no request leaves the file. Screenshots are kept under ``out/`` (``report_390.png``,
``report_1366.png``, ``report_1920.png``).

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

from computefolio.report import SECTIONS, build_report, write_report

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
OUT = Path(__file__).resolve().parents[1] / "out"
#: (width, height) of the three screens of the issue: phone, laptop, wide.
VIEWPORTS = [(390, 844), (1366, 768), (1920, 1080)]


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


_INSPECT = """() => {
    const charts = Array.from(document.querySelectorAll('div.chart'));
    const points = d => (d._fullData || []).reduce((n, t) => n + ((t.x && t.x.length) || (t.y && t.y.length)
                                                                  || (t.z && t.z.length) || 0), 0);
    return {charts: charts.map(d => d.id), names: charts.map(d => d.dataset.chart),
            rendered: charts.filter(d => d.querySelector('.main-svg') && d._fullData && d._fullData.length > 0
                                         && points(d) > 0 && d.getBoundingClientRect().height > 100).map(d => d.id),
            banner: !!document.getElementById('simulated-banner'),
            scroll_width: document.documentElement.scrollWidth, inner_width: window.innerWidth,
            wide: Array.from(document.querySelectorAll('main *')).filter(e => e.getBoundingClientRect().right
                  > window.innerWidth + 1 && !e.closest('.wide, .scroll')).slice(0, 5)
                  .map(e => e.tagName + '.' + e.className + ' in #' + ((e.closest('section') || {}).id || '?')),
            // tables whose header row covers their first data row (a sticky-header bug)
            covered: Array.from(document.querySelectorAll('table')).filter(t => {
                const h = t.querySelector('thead th'), r = t.querySelector('tbody tr');
                if (!h || !r) return false;
                return h.getBoundingClientRect().bottom > r.getBoundingClientRect().top + 1;
            }).map(t => (t.closest('section') || {}).id || '?'),
            sections: Array.from(document.querySelectorAll('section')).map(s => s.id),
            links: Array.from(document.querySelectorAll('nav a')).map(a => a.getAttribute('href'))};
}"""

_HIDDEN = """(href) => {
    const nav = document.querySelector('nav').getBoundingClientRect();
    const h = document.querySelector(href + ' h2').getBoundingClientRect();
    return {nav_bottom: nav.bottom, top: h.top, bottom: h.bottom, vh: window.innerHeight,
            hidden: h.top < nav.bottom - 0.5 || h.bottom > window.innerHeight};
}"""


def render(html_path: Path, viewport=(1400, 900), screenshot: Path | None = None, follow_links: bool = False) -> dict:
    """Open ``html_path`` in headless Chromium at ``viewport``; return its charts, rendered
    charts, console errors, requests that were not to the file itself, horizontal overflow
    and (``follow_links``) the headings hidden under the navigation after following each link."""
    exe = _chromium()
    sync_playwright = _playwright()
    errors, requests = [], []
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"Chromium at {exe} could not start: {exc}")
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:", "blob:"))
                    else None)
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            page.wait_for_function("() => ['ready', 'failed'].includes(document.documentElement.dataset.charts)",
                                   timeout=90_000)
            info = page.evaluate(_INSPECT)
            info["state"] = page.evaluate("() => document.documentElement.dataset.charts")
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
            hidden = []
            if follow_links:
                for href in info["links"]:
                    page.click(f'nav a[href="{href}"]')
                    page.wait_for_timeout(60)
                    h = page.evaluate(_HIDDEN, href)
                    if h["hidden"]:
                        hidden.append((href, h))
            info["hidden"] = hidden
        finally:
            browser.close()
    info.update(errors=errors, requests=requests)
    return info


def _no_external_urls(html: str) -> list[str]:
    """URLs in the page outside the embedded (compressed) plotly.js bundle."""
    own = re.sub(r'<script type="application/octet-stream"[^>]*>.*?</script>', "", html, flags=re.S)
    return re.findall(r"(?:https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}[^\s\"'<>]*", own)


def _embedded(html: str, sid: str) -> str:
    import base64
    import gzip

    m = re.search(rf'<script type="application/octet-stream" id="{sid}" data-encoding="gzip\+base64">(.*?)</script>',
                  html, re.S)
    assert m, f"{sid} is not embedded"
    return gzip.decompress(base64.b64decode(m.group(1))).decode("utf-8")


def test_static_report_is_self_contained():
    from plotly.offline import get_plotlyjs

    html = build_report(fake_results())
    # plotly.js is the installed package's own file, embedded once, compressed
    assert _embedded(html, "cf-plotly") == get_plotlyjs()
    assert html.count('id="cf-plotly"') == 1
    figs = json.loads(_embedded(html, "cf-figures"))
    assert figs and all(f.get("data") for f in figs.values())
    assert _no_external_urls(html) == []
    own = re.sub(r'<script type="application/octet-stream"[^>]*>.*?</script>', "", html, flags=re.S)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", own)
    assert "@import" not in own and "url(" not in own
    assert "SAMPLE MARKET (SIMULATED)" in html
    assert "SAMPLE MARKET (SIMULATED)" not in build_report(fake_results(simulated=False))
    # the embedded results are valid JSON and equal to the input (without series)
    m = re.search(r'<script type="application/json" id="cf-results">(.*?)</script>', html, re.S)
    data = json.loads(m.group(1).replace("<\\/", "</"))
    assert data["headline"] == fake_results()["headline"]
    # every section, in order, with a link in the navigation
    ids = re.findall(r'<section id="([a-z_]+)"', html)
    assert ids == [s[0] for s in SECTIONS]
    assert re.findall(r'<nav[^>]*>(.*?)</nav>', html, re.S)[0].count("<a ") == len(SECTIONS)


def test_report_escapes_text_from_the_results():
    res = fake_results()
    res["strategy"]["description"] = "<script>alert(1)</script> & co"
    res["warnings"] = ["<b>bold</b>"]
    html = build_report(res)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_labels_are_words_not_identifiers():
    from computefolio.report import words

    assert words("digital_assets") == "Digital assets"
    assert words("liquidity.max_days_to_liquidate") == "Liquidity: max days to liquidate"
    assert words("cornish_fisher") == "Cornish-Fisher"
    assert words("held at zero: WULF") == "held at zero: WULF"
    assert words("BTC") == "BTC"
    html = build_report(fake_results())
    # the budgets and exposure tables show names, not ids
    assert ">digital_assets<" not in html and ">Digital assets<" in html


def test_fake_report_renders_in_chromium(tmp_path):
    path = write_report(fake_results(), tmp_path / "report.html")
    info = render(path)
    assert info["state"] == "ready", info["errors"]
    assert info["charts"], "the report has no chart"
    assert sorted(info["rendered"]) == sorted(info["charts"])
    assert info["errors"] == []
    assert info["requests"] == []
    assert info["banner"]
    assert info["covered"] == []


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    _chromium()
    _playwright()
    from _report_data import demo_run

    return demo_run(str(tmp_path_factory.getbasetemp() / "demo_out"))


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=[f"{w}px" for w, _ in VIEWPORTS])
def test_demo_report_at_three_widths(demo_report, viewport):
    """The report of `computefolio demo` (shipped strategy on the sample market) at a phone,
    a laptop and a wide screen."""
    shot = OUT / f"report_{viewport[0]}.png"
    info = render(demo_report.report_path, viewport, screenshot=shot, follow_links=True)
    assert info["state"] == "ready", info["errors"]
    # every chart the issue asks for
    assert {"equity", "drawdown", "rolling_vol", "rolling_sharpe", "rolling_beta", "cumulative_contribution",
            "cumulative_effects", "return_distribution", "correlation", "weights_by_layer", "exposure_sleeve",
            "exposure_layer", "exposure_theme", "liquidity", "turnover", "costs_by_venue"} <= set(info["names"])
    missing = sorted(set(info["charts"]) - set(info["rendered"]))
    assert not missing, f"charts that are empty or did not render: {missing}"
    assert info["errors"] == [], info["errors"]
    assert info["requests"] == [], f"the report tried to reach the network: {info['requests'][:5]}"
    assert info["banner"], "the sample-market banner is missing"
    assert info["scroll_width"] <= info["inner_width"], f"the page scrolls sideways: {info['wide']}"
    assert info["covered"] == [], f"table headers cover the first row in sections {info['covered']}"
    assert info["sections"] == [s[0] for s in SECTIONS]
    assert info["hidden"] == [], f"headings hidden under the navigation after following its link: {info['hidden']}"
    assert shot.stat().st_size > 10_000


def test_demo_report_is_at_most_3_mb(demo_report):
    size = demo_report.report_path.stat().st_size
    assert size <= 3_000_000, f"report.html is {size / 1e6:.2f} MB"
