"""Loading YAML configuration files into pydantic models with human error messages.

Every configuration file of computefolio (universe, strategy, mandate, stress
scenarios, venue costs) goes through :func:`load_yaml_model`, so that a bad file
always gives one line that names the file, the item and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, ItemFieldError

M = TypeVar("M", bound=BaseModel)

#: Top-level keys whose items are named by a ``symbol``/``name``/``id`` key, so that
#: error messages can say "asset NVDA" instead of "assets.17".
_ITEM_KEYS = ("symbol", "name", "id")


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file or bad YAML raises :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "(file)", "file not found")
    try:
        with path.open("r", encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:  # pragma: no cover - message depends on PyYAML
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(parse)"
        raise ConfigError(str(path), where, f"valid YAML ({getattr(exc, 'problem', exc)})") from None


def _describe_location(raw: Any, loc: tuple) -> tuple[str | None, str]:
    """Turn a pydantic error location into (item, dotted field) using the raw data.

    ``("assets", 3, "layers", "chips")`` becomes ``("asset NVDA", "layers.chips")``
    when ``raw["assets"][3]["symbol"] == "NVDA"``.
    """
    item = None
    parts: list[str] = []
    node = raw
    i = 0
    while i < len(loc):
        key = loc[i]
        if isinstance(node, dict) and key in node and isinstance(node[key], list) and i + 1 < len(loc) \
                and isinstance(loc[i + 1], int) and item is None:
            idx = loc[i + 1]
            seq = node[key]
            label = str(key).rstrip("s") or str(key)
            name = None
            if 0 <= idx < len(seq) and isinstance(seq[idx], dict):
                for k in _ITEM_KEYS:
                    if k in seq[idx]:
                        name = seq[idx][k]
                        break
            item = f"{label} {name}" if name is not None else f"{label} #{idx + 1}"
            node = seq[idx] if 0 <= idx < len(seq) else None
            i += 2
            continue
        if isinstance(node, dict) and key in node and isinstance(node[key], dict) and item is None \
                and i + 1 < len(loc) and key in ("scenarios", "venues", "layers", "themes", "sleeves", "rules"):
            # mapping of named items: scenarios: {name: {...}}
            sub = loc[i + 1]
            item = f"{str(key).rstrip('s')} {sub}"
            node = node[key].get(sub) if isinstance(node[key], dict) else None
            i += 2
            continue
        parts.append(str(key))
        node = node.get(key) if isinstance(node, dict) else (
            node[key] if isinstance(node, list) and isinstance(key, int) and key < len(node) else None)
        i += 1
    return item, ".".join(parts) if parts else "(top level)"


def validation_to_config_error(exc: ValidationError, raw: Any, file: str | None) -> ConfigError:
    """The first pydantic error as a :class:`ConfigError` naming file, item and field."""
    err = exc.errors()[0]
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, ItemFieldError):
        return ConfigError(file, inner.field, inner.expected, item=inner.item)
    loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-")))
    item, field = _describe_location(raw, loc)
    msg = err.get("msg", "invalid value")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err.get("type") == "missing":
        msg = "is required but missing"
    elif err.get("type") == "extra_forbidden":
        msg = "is not a known field (check the spelling)"
    got = err.get("input")
    expected = msg if err.get("type") in ("missing", "extra_forbidden") or isinstance(got, (dict, list)) \
        else f"{msg} (got {got!r})"
    n = len(exc.errors())
    if n > 1:
        expected += f" [and {n - 1} more problem{'s' if n > 2 else ''}]"
    return ConfigError(file, field, expected, item=item)


def parse_model(model: type[M], raw: Any, file: str | None = None) -> M:
    """Validate already-parsed data into ``model``; errors become :class:`ConfigError`."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise validation_to_config_error(exc, raw, file) from None
    except ConfigError:
        raise
    except ValueError as exc:  # model-level validators that raise plain ValueError
        raise ConfigError(file, "(model)", str(exc)) from None


def load_yaml_model(path: str | Path, model: type[M]) -> M:
    """Read a YAML file and validate it into ``model``.

    Raises
    ------
    ConfigError
        One line naming the file, the item (asset, scenario, ...) and the field.
    """
    raw = read_yaml(path)
    if raw is None:
        raise ConfigError(str(path), "(top level)", "a non-empty YAML mapping")
    return parse_model(model, raw, str(path))
