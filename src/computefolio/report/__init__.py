"""The investment-committee report: one self-contained HTML file with Plotly charts, and its PDF.

Public API
----------
build_report(results, *, assets="embedded", paper=None) -> str
    The HTML document for a results dict (the ``results.json`` layout), rendered from
    the Jinja2 templates in ``report/templates/``.
write_report(results, path) -> Path
    Write it to a file.
write_pdf(results, path, *, paper="A4") -> Path
    Print it to PDF through headless Chromium (:class:`ChromiumNotFound` when absent).
environment() -> jinja2.Environment
    The templates and filters, for the service's dashboard (same layout, tables, charts).
build_figures(results) -> dict
    Every Plotly figure of the report by name.
fmt(value, unit) -> str
    The one number formatter of the report (tests use it to find numbers in the HTML).
words(identifier) -> str
    An identifier in words (``digital_assets`` -> ``Digital assets``).
quantity, table, column
    Builders of the results layout (numbers with units and basis).
"""

from __future__ import annotations

from .charts import build_figures
from .html import SECTIONS, build_report, environment, render_table, write_report
from .pdf import ChromiumNotFound, find_chromium, write_pdf
from .tables import column, fmt, quantity, table, words

__all__ = ["SECTIONS", "ChromiumNotFound", "build_figures", "build_report", "column", "environment",
           "find_chromium", "fmt", "quantity", "render_table", "table", "words", "write_pdf", "write_report"]
