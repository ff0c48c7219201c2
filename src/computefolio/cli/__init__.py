"""The ``computefolio`` command: a thin layer over the library.

Each command group lives in its own module (``cli/data.py``, ``cli/universe.py``,
``cli/risk.py``, ``cli/allocate.py``, ``cli/run.py``) and registers itself on
:data:`app`. Errors raised on purpose (:class:`~computefolio.errors.ComputefolioError`)
print one line and exit with status 2; see :func:`computefolio.cli._common.guard`.
"""

from __future__ import annotations

from ._common import app
from . import universe as _universe  # noqa: F401  (registers commands)
from . import data as _data  # noqa: F401
from . import risk as _risk  # noqa: F401
from . import allocate as _allocate  # noqa: F401
from . import run as _run  # noqa: F401
from . import sweep as _sweep  # noqa: F401
from . import book as _book  # noqa: F401
from . import rebalance as _rebalance  # noqa: F401
from . import compliance as _compliance  # noqa: F401
from . import private as _private  # noqa: F401
from . import config as _config  # noqa: F401
from . import serve as _serve  # noqa: F401
from . import users as _users  # noqa: F401

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="computefolio")
