"""Reading YAML input files into pydantic models: one reader, one-line errors.

Every configuration and input file of computefolio (universe, strategy, mandate,
stress scenarios, venue costs, holdings) is read by :func:`read_yaml_doc` and
validated by :func:`load_yaml_model` / :func:`parse_model`, so that a file either
loads exactly as meant or is refused with one line that names the file, the line in
it, the item (asset, scenario, ...) and the field::

    mandate.yaml, line 17: field 'assets.overrides.NVDX': a symbol of the universe compute_backed ...

What the reader refuses (each a :class:`~computefolio.errors.ConfigError`)
--------------------------------------------------------------------------
* a file larger than :data:`MAX_FILE_BYTES` (4 MiB: the shipped universe of 70
  assets is 32 KB), a missing file, a folder;
* content that is not UTF-8 text (a byte-order mark is allowed), or that holds NUL
  or other control characters (a binary file);
* YAML that does not parse, or more than one document;
* a key given twice in one mapping (YAML would silently keep the last one);
* a key that YAML 1.1 reads as a boolean or null (``NO:``, ``on:``, ``~:``): quote it;
* plain numbers YAML 1.1 reads in a surprising base (``012`` is octal 10, ``1:30``
  is sexagesimal 90), and numbers that are not finite (``.inf``, ``.nan``, ``1e999``);
* aliases (``*name``) in a file kind that has no use for them (strategy, mandate,
  costs, holdings); where they are allowed (universe, scenarios), at most
  :data:`MAX_ALIASES` alias uses that add at most :data:`MAX_ALIAS_EXTRA_NODES`
  nodes once expanded (a "billion laughs" file is refused before it is built), and
  no alias that contains itself;
* nesting deeper than :data:`MAX_DEPTH` levels; ``!!binary``, ``!!set``, ``!!omap``
  and ``!!pairs`` values.

After pydantic validation, :func:`parse_model` checks every number and date of the
model against ranges that hold for every file kind (finite, ``|x| <=``
:data:`MAX_ABS_NUMBER`; integers ``|n| <= 2**53``; dates within
:data:`DATE_RANGE`); the models state tighter ranges field by field.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, ItemFieldError

M = TypeVar("M", bound=BaseModel)

#: Largest input file read, in bytes.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 32
#: Most alias uses (``*name``) in a file kind that allows aliases.
MAX_ALIASES = 200
#: Most nodes that aliases may add to a file once expanded.
MAX_ALIAS_EXTRA_NODES = 10_000
#: Largest magnitude of a number in any input file.
MAX_ABS_NUMBER = 1e15
#: Largest magnitude of an integer in any input file.
MAX_ABS_INT = 2 ** 53
#: Dates an input file may hold (pandas timestamps span 1677-2262; calendars 1990-2030).
DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2100, 12, 31))

#: Top-level keys whose items are named by a ``symbol``/``name``/``id`` key, so that
#: error messages can say "asset NVDA" instead of "assets.17".
_ITEM_KEYS = ("symbol", "name", "id")

_TAG = "tag:yaml.org,2002:"
_REFUSED_TAGS = {_TAG + t: t for t in ("binary", "set", "omap", "pairs")}
_BOOL_WORDS = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")
_RANGE_WORDS = (("Input should be less than or equal to ", "at most "),
                ("Input should be greater than or equal to ", "at least "),
                ("Input should be greater than ", "more than "), ("Input should be less than ", "less than "))
_BIG_INT = re.compile(r"(?<![\d.])\d{7,}(?![\d.])")
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")


# ----------------------------------------------------------------------------- text
def read_text(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES, what: str = "a UTF-8 text file") -> str:
    """The content of a text input file, refused unless it is sane UTF-8 text.

    Raises
    ------
    ConfigError
        Missing file, a folder, larger than ``max_bytes``, not UTF-8, or binary
        (NUL or other control characters); the line of the first bad byte is named.
    """
    path = Path(path)
    file = str(path)
    if not path.exists():
        raise ConfigError(file, "(file)", "file not found")
    if not path.is_file():
        raise ConfigError(file, "(file)", f"{what}, got a folder or a special file")
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(file, "(file)", f"a readable file ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise ConfigError(file, "(file)", f"a file of at most {max_bytes:,} bytes (this one is larger): "
                                          "is it the right file?")
    return decode_text(data, file, what=what)


def decode_text(data: bytes, file: str | None, *, what: str = "a UTF-8 text file") -> str:
    """Decode bytes as UTF-8 text (BOM allowed); binary or non-UTF-8 content is refused."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(file, "(file)", f"{what}: byte 0x{data[exc.start]:02x} is not UTF-8 "
                                          "(a binary file, or text saved in another encoding?)", line=line) from None
    bad = _first_control(text)
    if bad is not None:
        line = text[:bad].count("\n") + 1
        raise ConfigError(file, "(file)", f"{what}: it holds the control character "
                                          f"{text[bad].encode('unicode_escape').decode()} (a binary file?)", line=line)
    return text


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _first_control(text: str) -> int | None:
    m = _CONTROL.search(text)
    return None if m is None else m.start()


# ----------------------------------------------------------------------------- YAML
@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML file: the data and the line of every key and item.

    Attributes
    ----------
    data : object
        What ``yaml.safe_load`` would give (after the checks of the module docstring).
    file : str or None
    lines : mapping
        Path (tuple of keys and list indices, as in a pydantic error location) -> 1-based line.
    """

    data: Any
    file: str | None
    lines: Mapping[tuple, int] = field(default_factory=dict)

    def line(self, loc) -> int | None:
        """Line of the deepest known prefix of ``loc`` (None when nothing is known)."""
        return line_in(self.lines, loc)


def line_in(lines: Mapping[tuple, int] | None, loc) -> int | None:
    """Line of the deepest prefix of ``loc`` present in ``lines``."""
    if not lines:
        return None
    loc = tuple(loc)
    for k in range(len(loc), -1, -1):
        ln = lines.get(loc[:k])
        if ln is not None:
            return ln
    return None


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """libyaml's parser and composer (fast, nesting capped at 1000) with PyYAML's safe constructor;
    a value that fails to construct (``2021-02-30``) names its line."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except ConfigError:
            raise
        except (ValueError, OverflowError, TypeError) as exc:
            kind = {"timestamp": "date", "int": "integer", "float": "number"}.get(node.tag.replace(_TAG, ""),
                                                                                  node.tag.replace(_TAG, ""))
            raise _NodeError(node, f"a valid {kind}, got {_short_repr(node.value)} "
                                   f"({_short_repr(str(exc), 80)})") from None


class _NodeError(Exception):
    def __init__(self, node, expected: str, line: int | None = None):
        self.line = line if line is not None else node.start_mark.line + 1
        self.expected = expected
        super().__init__(expected)


def parse_yaml(text: str, file: str | None = None, *, aliases: bool = False) -> YamlDoc:
    """Parse YAML text with the checks of the module docstring.

    Parameters
    ----------
    text : str
    file : str, optional
        Named in error messages.
    aliases : bool
        Allow aliases (bounded by :data:`MAX_ALIASES` and :data:`MAX_ALIAS_EXTRA_NODES`).

    Raises
    ------
    ConfigError
    """
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return YamlDoc(None, file, {})
            lines = _check_nodes(node, text, aliases)
            data = loader.construct_document(node)
        except _NodeError as exc:
            raise ConfigError(file, "(file)", exc.expected, line=exc.line) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "not YAML"
            raise ConfigError(file, "(file)", f"valid YAML ({problem})",
                              line=None if mark is None else mark.line + 1) from None
        except yaml.YAMLError as exc:
            raise ConfigError(file, "(file)", f"valid YAML ({exc})") from None
        except RecursionError:
            raise ConfigError(file, "(file)", f"YAML nested at most {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()
    return YamlDoc(data, file, lines)


def _where(node) -> int:
    return node.start_mark.line + 1


def _key_path(knode) -> Any:
    """The path element a mapping key becomes (str, or int for an integer key)."""
    if isinstance(knode, yaml.ScalarNode):
        if knode.tag == _TAG + "int":
            try:
                return int(knode.value.replace("_", ""), 0)
            except ValueError:
                return knode.value
        return knode.value
    return None


def _check_scalar(node) -> None:
    tag, v = node.tag, node.value
    if tag in _REFUSED_TAGS:
        raise _NodeError(node, f"a plain value: !!{_REFUSED_TAGS[tag]} values are not read by computefolio")
    if node.style:  # quoted or a block scalar: a string as written (plain is None or '')
        return
    if tag == _TAG + "int":
        if _SEXAGESIMAL.match(v):
            raise _NodeError(node, f"a number without ':' (YAML 1.1 reads {v} as a base-60 number): "
                                   f"write the number, or quote it if it is text")
        if _OCTAL.match(v) and v.strip("+-0_"):
            raise _NodeError(node, f"a number without a leading zero (YAML 1.1 reads {v} as octal "
                                   f"{int(v.replace('_', ''), 8)}): write it without the 0, or quote it")
    elif tag == _TAG + "float":
        if _SEXAGESIMAL.match(v):
            raise _NodeError(node, f"a number without ':' (YAML 1.1 reads {v} as a base-60 number)")
        try:
            x = float(v.replace("_", ""))
        except ValueError:  # .inf, .nan and their spellings
            x = math.inf if "inf" in v.lower() else math.nan
        if not math.isfinite(x):
            raise _NodeError(node, f"a finite number, got {v}")


def _check_nodes(root, text: str, aliases: bool) -> dict[tuple, int]:
    """Walk the composed node graph once: depth, duplicate and ambiguous keys, odd scalars,
    aliases (shared nodes) and their expanded size; then the line of every path."""
    state: dict[int, int] = {}   # id -> 1 in progress, 2 done
    size: dict[int, int] = {}    # id -> expanded node count
    n_distinct = 0
    alias_uses = 0
    stack: list[tuple[Any, int, Any, int]] = [(root, 0, None, 0)]  # node, depth, parent, edge line
    while stack:
        node, depth, _, edge_line = stack.pop()
        if isinstance(node, _Done):
            state[id(node.node)] = 2
            continue
        nid = id(node)
        st = state.get(nid)
        if st is not None:
            if st == 1:
                raise _NodeError(node, "no alias inside its own anchor (a recursive structure)", edge_line)
            # reached again through another parent: an alias use
            alias_uses += 1
            if not aliases:
                raise _NodeError(node, "no aliases (*name): this kind of file has no use for them; "
                                       "write the values out", _alias_line(text, edge_line))
            if alias_uses > MAX_ALIASES:
                raise _NodeError(node, f"at most {MAX_ALIASES} alias uses (*name)", _alias_line(text, edge_line))
            continue
        if node is None:
            continue
        state[nid] = 1
        n_distinct += 1
        if depth > MAX_DEPTH:
            raise _NodeError(node, f"YAML nested at most {MAX_DEPTH} levels deep")
        if isinstance(node, yaml.ScalarNode):
            _check_scalar(node)
            state[nid] = 2
            continue
        children = []
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple, int] = {}
            for knode, vnode in node.value:
                if isinstance(knode, yaml.ScalarNode):
                    if knode.tag == _TAG + "bool" and not knode.style and _BOOL_WORDS.match(knode.value) \
                            and knode.value.lower() not in ("true", "false"):
                        raise _NodeError(knode, f"a key YAML reads as written: YAML 1.1 reads {knode.value} "
                                                f"as {knode.value.lower() in ('y', 'yes', 'on')}: "
                                                f"write it in quotes ('{knode.value}')")
                    if knode.tag == _TAG + "null":
                        raise _NodeError(knode, f"a key, got {knode.value or 'an empty key'} (YAML null)")
                    key = (knode.tag, knode.value)
                    if key in seen and knode.tag != _TAG + "merge":
                        raise _NodeError(knode, f"each key once: '{knode.value}' is given twice in this mapping "
                                                f"(first on line {seen[key]}); YAML would keep only the last")
                    seen[key] = _where(knode)
                children.append((knode, _where(knode)))
                children.append((vnode, _where(knode)))
        else:  # sequence
            children = [(c, _where(c)) for c in node.value]
        # post-order marker, then the children
        stack.append((_Done(node), depth, None, 0))
        for c, ln in reversed(children):
            stack.append((c, depth + 1, node, ln))
    if alias_uses:
        total = _expanded_size(root, size)
        extra = total - n_distinct
        if extra > MAX_ALIAS_EXTRA_NODES:
            raise _NodeError(root, f"aliases that add at most {MAX_ALIAS_EXTRA_NODES:,} values once expanded; "
                                   f"these add {_count_words(extra)}", _alias_line(text, 0))
    return _lines(root)


class _Done:
    """Marks the end of a node's children in the iterative walk."""

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node


def _count_words(n: int) -> str:
    return f"{n:,}" if n < 10 ** 12 else f"about 10^{len(str(n)) - 1}"


def _expanded_size(root, memo: dict[int, int]) -> int:
    """Nodes of the tree the DAG expands to (memoized, so linear in the distinct nodes)."""
    stack = [(root, False)]
    while stack:
        node, ready = stack.pop()
        nid = id(node)
        if nid in memo:
            continue
        if isinstance(node, yaml.ScalarNode):
            memo[nid] = 1
            continue
        kids = [x for kv in node.value for x in kv] if isinstance(node, yaml.MappingNode) else list(node.value)
        if ready:
            memo[nid] = 1 + sum(memo[id(k)] for k in kids)
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in memo)
    return memo[id(root)]


def _alias_line(text: str, fallback: int) -> int:
    """Line of the first alias (``*name``) in the text, for the message."""
    try:
        for ev in yaml.parse(text, Loader=_Loader):
            if isinstance(ev, yaml.AliasEvent):
                return ev.start_mark.line + 1
    except yaml.YAMLError:  # pragma: no cover - the text parsed once already
        pass
    return fallback


def _lines(root) -> dict[tuple, int]:
    """Path -> line of every key and list item (aliases followed: the walk is bounded above)."""
    out: dict[tuple, int] = {(): _where(root)}
    stack = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for knode, vnode in node.value:
                k = _key_path(knode)
                if k is None:
                    continue
                p = path + (k,)
                out.setdefault(p, _where(knode))
                if not isinstance(vnode, yaml.ScalarNode):
                    stack.append((vnode, p))
        elif isinstance(node, yaml.SequenceNode):
            for i, c in enumerate(node.value):
                p = path + (i,)
                out.setdefault(p, _where(c))
                if not isinstance(c, yaml.ScalarNode):
                    stack.append((c, p))
    return out


#: The lines of the files read most recently, so that checks made after loading
#: (cross-file names, see :mod:`computefolio.references`) can name the line too.
_LINES: "OrderedDict[str, dict[tuple, int]]" = OrderedDict()


def line_of(file: str | Path | None, loc) -> int | None:
    """Line of ``loc`` in a file read by :func:`read_yaml_doc` (None when not known)."""
    if file is None:
        return None
    return line_in(_LINES.get(str(file)), loc)


def read_yaml_doc(path: str | Path, *, aliases: bool = False, max_bytes: int = MAX_FILE_BYTES) -> YamlDoc:
    """Read and parse a YAML input file (see the module docstring for what is refused).

    Raises
    ------
    ConfigError
        One line naming the file and the line.
    """
    file = str(path)
    doc = parse_yaml(read_text(path, max_bytes=max_bytes, what="a UTF-8 YAML file"), file, aliases=aliases)
    _remember_lines(file, doc.lines)
    return doc


def _remember_lines(file: str, lines: Mapping[tuple, int]) -> None:
    _LINES[file] = dict(lines)
    _LINES.move_to_end(file)
    while len(_LINES) > 32:
        _LINES.popitem(last=False)


def read_yaml(path: str | Path, *, aliases: bool = False) -> Any:
    """Parse a YAML input file (see :func:`read_yaml_doc`); a bad file raises :class:`ConfigError`."""
    return read_yaml_doc(path, aliases=aliases).data


# ----------------------------------------------------------------------------- pydantic
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
                    if k in seq[idx] and isinstance(seq[idx][k], (str, int, float)):
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
            node[key] if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node) else None)
        i += 1
    return item, ".".join(parts) if parts else "(top level)"


def _short_repr(v: Any, limit: int = 60) -> str:
    r = str(v) if isinstance(v, (dt.date, dt.datetime)) else repr(v)
    return r if len(r) <= limit else r[:limit - 3] + "..."


def validation_to_config_error(exc: ValidationError, raw: Any, file: str | None,
                               lines: Mapping[tuple, int] | None = None, prefix: tuple = ()) -> ConfigError:
    """The first pydantic error as a :class:`ConfigError` naming file, line, item and field.

    ``prefix`` is the path of ``raw`` inside the file (``("scenarios", 3)`` when ``raw`` is
    one item of a list), so that the line can be found.
    """
    err = exc.errors()[0]
    loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-")))
    line = line_in(lines, prefix + loc) if lines is not None else line_of(file, prefix + loc)
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, ItemFieldError):
        item = inner.item
        if item is None and loc:  # raised by a nested model: name the item it sits in
            item, _ = _describe_location(raw, loc)
        return ConfigError(file, inner.field, inner.expected, item=item, line=line)
    item, fld = _describe_location(raw, loc)
    msg = err.get("msg", "invalid value")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err.get("type") == "missing":
        msg = "is required but missing"
    elif err.get("type") == "extra_forbidden":
        msg = "is not a known field (check the spelling)"
    msg = _BIG_INT.sub(lambda m: f"{int(m.group(0)):.0e}".replace("e+", "e"), msg)
    for a, b in _RANGE_WORDS:
        if msg.startswith(a):
            msg = b + msg[len(a):]
            break
    got = err.get("input")
    expected = msg if err.get("type") in ("missing", "extra_forbidden") or isinstance(got, (dict, list)) \
        else f"{msg} (got {_short_repr(got)})"
    if isinstance(got, bool) and "string" in msg:
        expected += " (YAML 1.1 reads unquoted yes/no/on/off/y/n as true/false: put the value in quotes)"
    n = len(exc.errors())
    if n > 1:
        expected += f" [and {n - 1} more problem{'s' if n > 2 else ''}]"
    return ConfigError(file, fld, expected, item=item, line=line)


def parse_model(model: type[M], raw: Any, file: str | None = None,
                lines: Mapping[tuple, int] | None = None) -> M:
    """Validate already-parsed data into ``model``; errors become :class:`ConfigError`.

    After pydantic's own checks every number and date in the result is checked
    against the ranges that hold for every input file (see the module docstring).
    """
    if not isinstance(raw, dict):
        kind = "nothing" if raw is None else f"a {_yaml_kind(raw)}"
        raise ConfigError(file, "(top level)", f"a YAML mapping of fields (key: value lines), got {kind}", line=1 if raw is not None else None)
    try:
        out = model.model_validate(raw)
    except ValidationError as exc:
        raise validation_to_config_error(exc, raw, file, lines) from None
    except ConfigError:
        raise
    except ItemFieldError as exc:
        raise ConfigError(file, exc.field, exc.expected, item=exc.item) from None
    except (ValueError, TypeError, OverflowError) as exc:  # validators that raise plain errors
        raise ConfigError(file, "(model)", str(exc)) from None
    check_values(out, raw, file, lines)
    return out


def _yaml_kind(v: Any) -> str:
    return {list: "list", str: "text", int: "number", float: "number", bool: "true/false value"}.get(
        type(v), type(v).__name__)


def check_values(obj: Any, raw: Any = None, file: str | None = None,
                 lines: Mapping[tuple, int] | None = None) -> None:
    """Every number finite and within :data:`MAX_ABS_NUMBER` (integers within 2**53), every
    date within :data:`DATE_RANGE`, in a validated model (recursively).

    Raises
    ------
    ConfigError
        Naming the field (and the line, with ``lines`` or a file read by :func:`read_yaml_doc`).
    """
    stack: list[tuple[tuple, Any]] = [((), obj)]
    while stack:
        loc, v = stack.pop()
        problem = None
        if isinstance(v, BaseModel):
            for name in type(v).model_fields:
                stack.append((loc + (name,), getattr(v, name)))
            for name, x in (v.model_extra or {}).items():
                stack.append((loc + (name,), x))
            continue
        if isinstance(v, dict):
            stack.extend((loc + (k,), x) for k, x in v.items())
            continue
        if isinstance(v, (list, tuple)):
            stack.extend((loc + (i,), x) for i, x in enumerate(v))
            continue
        if isinstance(v, bool):
            continue
        if isinstance(v, float):
            if not math.isfinite(v):
                problem = f"a finite number, got {v}"
            elif abs(v) > MAX_ABS_NUMBER:
                problem = f"a number of at most {MAX_ABS_NUMBER:g} in magnitude, got {v:g}"
        elif isinstance(v, int):
            if abs(v) > MAX_ABS_INT:
                problem = f"an integer of at most 2^53 in magnitude, got one of {len(str(abs(v)))} digits"
        elif isinstance(v, (dt.date, dt.datetime)):
            d = v.date() if isinstance(v, dt.datetime) else v
            if not DATE_RANGE[0] <= d <= DATE_RANGE[1]:
                problem = f"a date from {DATE_RANGE[0]} to {DATE_RANGE[1]}, got {d}"
        if problem:
            item, fld = _describe_location(raw, loc) if raw is not None else (None, ".".join(map(str, loc)))
            line = line_in(lines, loc) if lines is not None else line_of(file, loc)
            raise ConfigError(file, fld, problem, item=item, line=line)


#: Models loaded most recently, by file, model, aliases and content digest: loading the
#: same bytes again (a run reads the universe, mandate and costs the strategy check read)
#: returns the same frozen object instead of parsing and validating again.
_MODELS: "OrderedDict[tuple, tuple[Any, dict]]" = OrderedDict()


def load_yaml_model(path: str | Path, model: type[M], *, aliases: bool = False) -> M:
    """Read a YAML file and validate it into ``model``.

    Parameters
    ----------
    path : path
    model : pydantic model class
    aliases : bool
        Whether the file kind may use YAML aliases (bounded; see the module docstring).

    Returns
    -------
    model instance
        Frozen; a file whose content has not changed since it was last loaded gives the
        same instance.

    Raises
    ------
    ConfigError
        One line naming the file, the line, the item (asset, scenario, ...) and the field.
    """
    import hashlib

    file = str(path)
    text = read_text(path, what="a UTF-8 YAML file")
    key = (file, model, aliases, hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest())
    hit = _MODELS.get(key)
    if hit is not None:
        _MODELS.move_to_end(key)
        _remember_lines(file, hit[1])
        return hit[0]
    doc = parse_yaml(text, file, aliases=aliases)
    _remember_lines(file, doc.lines)
    if doc.data is None:
        raise ConfigError(file, "(top level)", "a non-empty YAML mapping")
    out = parse_model(model, doc.data, file, doc.lines)
    _MODELS[key] = (out, dict(doc.lines))
    while len(_MODELS) > 16:
        _MODELS.popitem(last=False)
    return out
