"""Print the report to PDF through headless Chromium.

:func:`write_pdf` renders the report with its assets inline (plotly.js and the figures
uncompressed, so the charts draw as the page loads), then runs
``chromium --headless --print-to-pdf`` on it. The page size (A4 or Letter) is set by the
report's CSS ``@page`` rule; every section starts on a new page (``break-before: page``).

Chromium is found at ``$COMPUTEFOLIO_CHROMIUM``, then ``chromium``, ``chromium-browser``,
``google-chrome`` on the PATH; when none is there :class:`ChromiumNotFound` says so in
one line. Chromium runs with ``--no-sandbox`` (it is often root in containers) and with
background networking, component updates and sync off: printing never touches the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import ComputefolioError
from .html import build_report

#: Paper sizes a strategy may ask for.
PAPERS = ("A4", "Letter")

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-extensions", "--disable-quic", "--mute-audio",
                  "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw")

#: Window width (CSS px) of the layout printed: the A4/Letter text width at 96 dpi, so
#: charts are drawn at the width they are printed.
_PRINT_WIDTH = {"A4": 710, "Letter": 730}


class ChromiumNotFound(ComputefolioError):
    """No headless Chromium to print with."""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None."""
    env = os.environ.get("COMPUTEFOLIO_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


def write_pdf(results: dict, path: str | Path, *, paper: str = "A4", chromium: str | None = None,
              timeout: float = 120.0) -> Path:
    """Print the report of ``results`` to ``path`` (PDF) and return the path.

    Parameters
    ----------
    results : dict
        The ``results.json`` layout (with its series, for the charts).
    path : path
        Output PDF file. It is written only when Chromium succeeds (a temporary file is
        renamed into place), so a failure leaves an earlier PDF as it was.
    paper : {"A4", "Letter"}
    chromium : str, optional
        Executable (default: :func:`find_chromium`).
    timeout : float
        Seconds before Chromium is stopped.

    Raises
    ------
    ChromiumNotFound
        No Chromium: one line saying how to get one.
    ComputefolioError
        Chromium failed or wrote no PDF (its last line of output is in the message).
    """
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {PAPERS}, got {paper!r}")
    exe = chromium or find_chromium()
    if not exe:
        raise ChromiumNotFound("no PDF: headless Chromium was not found (install the 'chromium' package or set "
                               "COMPUTEFOLIO_CHROMIUM to a Chromium or Chrome executable); the HTML report is written")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="computefolio-pdf-") as tmp:
        html = Path(tmp) / "report.html"
        html.write_text(build_report(results, assets="inline", paper=paper), encoding="utf-8")
        pdf = Path(tmp) / "report.pdf"
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}",
               f"--window-size={_PRINT_WIDTH[paper]},1000", "--virtual-time-budget=20000",
               f"--print-to-pdf={pdf}", html.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ComputefolioError(f"no PDF: Chromium did not finish printing within {timeout:.0f} s") from None
        except OSError as exc:
            raise ChromiumNotFound(f"no PDF: Chromium at {exe} could not start ({exc})") from None
        if proc.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
            last = next((ln for ln in reversed((proc.stderr or proc.stdout or "").splitlines()) if ln.strip()), "")
            raise ComputefolioError(f"no PDF: Chromium exited with code {proc.returncode}"
                                    + (f" ({last.strip()[:200]})" if last else ""))
        tmp_out = out.with_name(out.name + ".part")
        shutil.copyfile(pdf, tmp_out)
        os.replace(tmp_out, out)
    return out
