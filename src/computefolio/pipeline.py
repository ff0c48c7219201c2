"""The main job lives in :mod:`computefolio.job` (steps, results, terminal, outputs); this module
keeps the old import path working (``from computefolio.pipeline import run_strategy``)."""

from __future__ import annotations

from .job import *  # noqa: F401,F403
from .job import __all__  # noqa: F401
