"""CLI commands for data (placeholder: filled in by its issue)."""

from __future__ import annotations

from ._common import app, console, guard  # noqa: F401
