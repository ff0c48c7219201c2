"""Error types for user and data mistakes.

Every error raised on purpose by computefolio derives from :class:`ComputefolioError`
and carries a one-line message meant for a person: the CLI prints that line and
exits non-zero, never a traceback.
"""

from __future__ import annotations


class ComputefolioError(Exception):
    """Base class of all errors raised on purpose by computefolio."""


class ConfigError(ComputefolioError, ValueError):
    """A configuration or input file (universe, strategy, mandate, scenarios, costs, holdings) is invalid.

    The message is one line naming the file (and the line in it when known), the
    item (asset, scenario, ...) and the field, and says what was expected::

        strategy.yaml, line 12: sleeve ai_equities: field 'allocator.linkage': one of ...

    Attributes
    ----------
    file, field, expected, item : str or None
        As given; ``field`` is a dotted path or a parenthesized place such as ``"(file)"``.
    line : int or None
        1-based line of the file where the problem is (None when not known).
    """

    def __init__(self, file: str | None, field: str, expected: str, item: str | None = None,
                 line: int | None = None):
        self.file = file
        self.field = field
        self.expected = expected
        self.item = item
        self.line = line
        where = f"{file}{f', line {line}' if line else ''}: " if file else (f"line {line}: " if line else "")
        what = f"{item}: " if item else ""
        if field.startswith("(") and not item:  # the whole file: "(file)", "(top level)", "line 3"
            msg = f"{where}{expected}" if field == "(file)" else f"{where}{field}: {expected}"
        else:
            msg = f"{where}{what}field '{field}': {expected}"
        super().__init__(one_line(msg))


def one_line(text: str) -> str:
    """``text`` on one line: line breaks and other control characters written as escapes.

    Every error message meant for a person goes through it, so that a name read from a
    file (which may hold anything) cannot split the message over several lines.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


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
