"""The one JSON rule of computefolio: strict JSON, non-finite numbers as ``null`` with a note.

Every JSON file or stream computefolio writes (``--json``, ``results.json``,
``allocation.json``, data-check reports) is strict RFC 8259 JSON, which has no NaN or
Infinity. The rule:

* a number that is not finite (NaN, +Infinity, -Infinity) is written as ``null``;
* when the document is an object, it then carries a top-level ``"nonfinite"`` object
  mapping the JSON Pointer (RFC 6901) of each such value to ``"NaN"``, ``"Infinity"``
  or ``"-Infinity"``, so a reader can tell a missing number from an infinite one;
* dates and timestamps are ISO 8601 strings, NumPy and pandas scalars plain numbers,
  paths strings, sets sorted lists.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
from pathlib import PurePath
from typing import Any

__all__ = ["json_safe", "dumps", "NONFINITE_KEY"]

#: Top-level key listing the non-finite numbers written as null.
NONFINITE_KEY = "nonfinite"


def _word(x: float) -> str:
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _pointer_part(k) -> str:
    return str(k).replace("~", "~0").replace("/", "~1")


def json_safe(obj: Any, *, note: bool = True) -> Any:
    """``obj`` made of JSON types only, non-finite numbers as None (see the module docstring).

    With ``note`` and a dict at the top, the ``"nonfinite"`` key is added when needed.
    """
    found: dict[str, str] = {}

    def conv(v, path: str):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            if math.isfinite(v):
                return v
            found[path or "/"] = _word(v)
            return None
        if isinstance(v, dict):
            return {str(k): conv(x, f"{path}/{_pointer_part(k)}") for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x, f"{path}/{i}") for i, x in enumerate(v)]
        if isinstance(v, (set, frozenset)):
            return [conv(x, f"{path}/{i}") for i, x in enumerate(sorted(v, key=str))]
        if isinstance(v, enum.Enum):
            return conv(v.value, path)
        if isinstance(v, PurePath):
            return str(v)
        if isinstance(v, (dt.datetime, dt.date)):
            return v.isoformat()
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return conv(dataclasses.asdict(v), path)
        mod = type(v).__module__.split(".")[0]
        if mod == "numpy":
            import numpy as np

            if isinstance(v, np.ndarray):
                return conv(v.tolist(), path)
            if isinstance(v, np.bool_):
                return bool(v)
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.floating):
                return conv(float(v), path)
            if isinstance(v, np.datetime64):
                return None if np.isnat(v) else str(v)
        if mod == "pandas":
            import pandas as pd

            if v is pd.NaT or (isinstance(v, type(pd.NaT)) and pd.isna(v)):
                return None
            if isinstance(v, pd.Timestamp):
                return v.isoformat()
            if isinstance(v, pd.Series):
                return conv(v.to_dict(), path)
            if isinstance(v, pd.DataFrame):
                return conv(v.to_dict(orient="index"), path)
            if v is pd.NA:
                return None
        if hasattr(v, "model_dump"):  # pydantic
            return conv(v.model_dump(mode="python"), path)
        if hasattr(v, "item") and callable(v.item):  # other array scalars
            try:
                return conv(v.item(), path)
            except (TypeError, ValueError):
                pass
        return str(v)

    out = conv(obj, "")
    if note and found and isinstance(out, dict):
        out = {**out, NONFINITE_KEY: found}
    return out


def dumps(obj: Any, *, indent: int | None = 1, note: bool = True) -> str:
    """Strict JSON text of ``obj`` under the rule of the module docstring."""
    return json.dumps(json_safe(obj, note=note), indent=indent, allow_nan=False, ensure_ascii=False)
