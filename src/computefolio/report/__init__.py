"""The investment-committee report: one self-contained HTML file with Plotly charts.

Public API
----------
build_report(results) -> str
    The HTML document for a results dict (the ``results.json`` layout).
write_report(results, path) -> Path
    Write it to a file.
fmt(value, unit) -> str
    The one number formatter of the report (tests use it to find numbers in the HTML).
quantity, table, column
    Builders of the results layout (numbers with units and basis).
"""

from __future__ import annotations

from .html import SECTIONS, build_report, render_table, write_report
from .tables import column, fmt, quantity, table

__all__ = ["SECTIONS", "build_report", "column", "fmt", "quantity", "render_table", "table", "write_report"]
