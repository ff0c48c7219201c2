"""`computefolio run ... --pdf` prints the report through headless Chromium: the PDF exists,
has a page per section at least (every section starts on a new page), carries the
headline numbers as text and the page size of the strategy; without Chromium the command
says so in one line and exits 1, leaving the HTML report.

Needs Debian's ``chromium`` and ``pypdf`` (test extra); skips with the reason otherwise.
"""

from __future__ import annotations

import re
import unicodedata

import pytest

from computefolio.report import SECTIONS, find_chromium, fmt, write_pdf

pytestmark = pytest.mark.browser


def _pypdf():
    return pytest.importorskip("pypdf", reason="pypdf not installed (pip install -e '.[test]')")


def _need_chromium():
    if find_chromium() is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium; .ci/run does it)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from _report_data import demo_run

    return demo_run(str(tmp_path_factory.getbasetemp() / "demo_out"))


def test_demo_pdf_pages_and_headline_numbers(demo, tmp_path):
    _need_chromium()
    pypdf = _pypdf()
    path = write_pdf(demo.results, tmp_path / "report.pdf", paper="A4")
    reader = pypdf.PdfReader(str(path))
    n = len(reader.pages)
    assert len(SECTIONS) <= n <= 4 * len(SECTIONS), n
    w, h = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert abs(w - 595) < 2 and abs(h - 842) < 2, (w, h)  # A4 in points
    # NFKC: the PDF's text uses typographic ligatures ("ﬁ" for "fi")
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", " ".join(p.extract_text() or "" for p in reader.pages)))
    head = demo.results["headline"]
    units = {c["key"]: c["unit"] for c in head["columns"]}
    strat = next(r for r in head["rows"] if r["book"] == "Strategy")
    for k in ("total_return", "cagr", "volatility", "sharpe", "max_drawdown", "final_value"):
        assert fmt(strat[k], units[k]) in text, k
    # every section's heading is printed, and the charts were drawn (their titles are SVG text)
    for _, title, _ in SECTIONS:
        assert title.split(":")[0] in text, title
    assert "Value of the book and benchmarks" in text
    assert "SAMPLE MARKET (SIMULATED)" in text


def test_cli_pdf_and_letter_paper(tmp_path):
    _need_chromium()
    pypdf = _pypdf()
    import yaml
    from typer.testing import CliRunner

    from computefolio.cli import app
    from computefolio.strategy import default_strategy_path

    raw = yaml.safe_load(default_strategy_path().read_text())
    raw["report"] = {"paper": "Letter"}
    sfile = tmp_path / "letter.yaml"
    sfile.write_text(yaml.safe_dump(raw, sort_keys=False))
    res = CliRunner().invoke(app, ["run", str(sfile), "--sample", "--start", "2025-06-02", "--end", "2025-09-30",
                                   "--out", str(tmp_path), "--no-progress", "--pdf"], terminal_width=200)
    # 4 = the book's own trades broke the mandate (outputs written): the PDF is printed first
    assert res.exit_code in (0, 4), res.output
    pdf = next(tmp_path.glob("*/report.pdf"))
    assert "pdf:" in res.output and "report.pdf" in res.output
    page = pypdf.PdfReader(str(pdf)).pages[0]
    assert abs(float(page.mediabox.width) - 612) < 2 and abs(float(page.mediabox.height) - 792) < 2  # Letter


def test_cli_pdf_without_chromium_says_so_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from computefolio.cli import app

    monkeypatch.setenv("COMPUTEFOLIO_CHROMIUM", str(tmp_path / "no-such-chromium"))
    res = CliRunner().invoke(app, ["run", "--sample", "--start", "2025-06-02", "--end", "2025-09-30",
                                   "--out", str(tmp_path), "--no-progress", "--pdf"], terminal_width=300)
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if "no PDF" in ln]
    assert len(lines) == 1 and "Chromium was not found" in lines[0], res.output
    assert "Traceback" not in res.output
    assert list(tmp_path.glob("*/report.html")) and not list(tmp_path.glob("*/report.pdf"))
