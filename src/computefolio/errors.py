"""Error types for user and data mistakes.

Every error raised on purpose by computefolio derives from :class:`ComputefolioError`
and carries a one-line message meant for a person: the CLI prints that line and
exits non-zero, never a traceback.
"""

from __future__ import annotations


class ComputefolioError(Exception):
    """Base class of all errors raised on purpose by computefolio."""


class ConfigError(ComputefolioError, ValueError):
    """A configuration file (universe, strategy, mandate, scenarios, costs) is invalid.

    The message names the file, the item (asset, scenario, ...) and the field, and
    says what was expected.
    """

    def __init__(self, file: str | None, field: str, expected: str, item: str | None = None):
        self.file = file
        self.field = field
        self.expected = expected
        self.item = item
        where = f"{file}: " if file else ""
        what = f"{item}: " if item else ""
        if field.startswith("(") and not item:  # the whole file: "(file)", "(top level)", "line 3"
            super().__init__(f"{where}{expected}" if field == "(file)" else f"{where}{field}: {expected}")
        else:
            super().__init__(f"{where}{what}field '{field}': {expected}")


class ItemFieldError(ValueError):
    """Raised inside pydantic validators to name the item and field of a problem.

    :func:`computefolio.config.parse_model` turns it into a :class:`ConfigError`
    with the file name added.
    """

    def __init__(self, item: str | None, field: str, expected: str):
        self.item, self.field, self.expected = item, field, expected
        super().__init__(f"{item + ': ' if item else ''}field '{field}': {expected}")


class DataError(ComputefolioError, ValueError):
    """Market data is missing, malformed or inconsistent."""


class InfeasibleError(ComputefolioError):
    """A mandate's rules cannot all hold at once; the message names the rules."""

    def __init__(self, message: str, rules: list[str] | None = None):
        self.rules = list(rules or [])
        super().__init__(message)


class SolverError(ComputefolioError):
    """An optimizer failed to converge to a solution it could certify."""
