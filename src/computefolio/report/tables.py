"""The table and quantity layout shared by ``results.json`` and the HTML report.

Every number of a run lives either in a *quantity* or in a *table*:

quantity
    ``{"value": 0.153, "unit": "fraction/yr", "basis": "session basis (XNYS, 252/yr), USD"}``
table
    ``{"title": str, "basis": str | None, "note": str | None,
    "columns": [{"key": str, "label": str, "unit": str}, ...], "rows": [{key: value, ...}, ...]}``
    Each column states the unit of every value in it; the table states the basis.

Units (:data:`UNITS`): ``fraction`` (0.01 = 1%, shown as a percentage), ``fraction/yr``
(annualized fraction), ``USD`` (or any currency code: an amount), ``ratio`` (unitless),
``days``, ``periods``, ``count``, ``bp`` (basis points), ``date``, ``text``.

:func:`fmt` is the one formatter the report uses, so a test can find any number of
``results.json`` in ``report.html`` by formatting it the same way.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

#: Units with a fixed display rule; any other 3-letter upper-case unit is a currency.
UNITS = ("fraction", "fraction/yr", "ratio", "days", "periods", "count", "bp", "date", "text", "years")


def quantity(value, unit: str, basis: str | None = None, **extra) -> dict:
    """A number with its unit (and basis when it depends on one)."""
    out = {"value": _num(value), "unit": unit}
    if basis is not None:
        out["basis"] = basis
    out.update(extra)
    return out


def column(key: str, label: str, unit: str = "text") -> dict:
    return {"key": key, "label": label, "unit": unit}


def table(title: str, columns: list[dict], rows: Iterable[dict], *, basis: str | None = None,
          note: str | None = None) -> dict:
    """A table: columns with units, rows as dicts (numbers made JSON-safe)."""
    keys = [c["key"] for c in columns]
    clean = [{k: _num(r.get(k)) if not isinstance(r.get(k), str) else r.get(k) for k in keys} for r in rows]
    return {"title": title, "basis": basis, "note": note, "columns": columns, "rows": clean}


def _num(v):
    """JSON-safe scalar: NaN/inf -> None, numpy scalars -> Python."""
    if v is None or isinstance(v, (str, bool)):
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return None
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return int(v)
    if hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu":
        return int(v)
    return f


def is_currency(unit: str) -> bool:
    return len(unit) == 3 and unit.isalpha() and unit.isupper()


def fmt(value: Any, unit: str) -> str:
    """Format one value for display by its unit (the report's only number formatter).

    fraction, fraction/yr -> ``12.34%``; currency -> ``1,234,567``; ratio -> ``1.23``;
    days/years -> ``1.2`` (``12`` when whole); periods/count -> ``1,234``; bp -> ``12.3``; None -> ``n/a``.
    """
    if value is None:
        return "n/a"
    if unit in ("text", "date") or isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    v = float(value)
    if not math.isfinite(v):
        return "n/a"
    if unit in ("fraction", "fraction/yr"):
        s = f"{v * 100:.2f}%"
    elif is_currency(unit):
        s = f"{v:,.0f}"
    elif unit == "ratio":
        s = f"{v:.2f}"
    elif unit in ("days", "years"):
        s = f"{v:,.0f}" if v == round(v) else f"{v:,.1f}"
    elif unit in ("periods", "count"):
        s = f"{v:,.0f}" if abs(v - round(v)) < 1e-9 else f"{v:,.2f}"
    elif unit == "bp":
        s = f"{v:,.1f}"
    else:
        s = f"{v:.4g}"
    return "0.00%" if s in ("-0.00%",) else ("0" if s == "-0" else s)


def unit_label(unit: str) -> str:
    """Short unit shown in a column header."""
    return {"fraction": "%", "fraction/yr": "%/yr", "ratio": "", "days": "days", "years": "years",
            "periods": "periods", "count": "", "bp": "bp", "date": "", "text": ""}.get(unit, unit)


#: Words for identifiers that a plain rule would spell badly.
_WORDS = {"cornish_fisher": "Cornish-Fisher", "monte_carlo": "Monte Carlo", "ewma": "EWMA", "dcc": "DCC",
          "var": "VaR", "es": "ES", "adv": "ADV", "n/a": "n/a", "filtered_historical": "Filtered historical",
          "ai": "AI"}


def words(value: Any) -> str:
    """An identifier in words: ``digital_assets`` -> ``Digital assets``,
    ``liquidity.max_days_to_liquidate`` -> ``Liquidity: max days to liquidate``.

    Text that is not an identifier (has spaces, capitals or digits first) is returned unchanged.
    """
    if not isinstance(value, str) or not value:
        return "" if value is None else str(value)
    if value in _WORDS:
        return _WORDS[value]
    if " " in value or not value[0].islower() or not all(ch.isalnum() or ch in "._" for ch in value):
        return value
    parts = [" ".join(_WORDS.get(w, w) for w in p.split("_")) for p in value.split(".")]
    text = ": ".join(parts)
    return text[0].upper() + text[1:]


def heat_color(value: Any, scale: float) -> str:
    """Background colour of a heat-map cell: red for losses, blue for gains, darker when
    ``|value|`` is closer to ``scale`` (the largest ``|value|`` of the table). CSS colour string."""
    if value is None or isinstance(value, str) or not scale:
        return ""
    v = float(value)
    if not math.isfinite(v):
        return ""
    t = min(abs(v) / scale, 1.0) ** 0.7
    r0, g0, b0 = (193, 18, 31) if v < 0 else (31, 91, 170)
    r = round(255 + (r0 - 255) * t)
    g = round(255 + (g0 - 255) * t)
    b = round(255 + (b0 - 255) * t)
    return f"rgb({r},{g},{b})"


def heat_ink(value: Any, scale: float) -> str:
    """Text colour that stays readable on :func:`heat_color`."""
    if value is None or isinstance(value, str) or not scale:
        return ""
    return "#fff" if min(abs(float(value)) / scale, 1.0) ** 0.7 > 0.55 else ""
