"""Property-based mutation test of every input file kind: each mutant of a shipped file
either loads to the same meaning or is refused in one line (exit code 2 from the CLI).

For each kind (strategy, mandate, costs, universe, scenarios, holdings) hypothesis draws
at least 200 mutants of the shipped file per run from these families:

* neutral edits that must load to the same meaning: comments and blank lines, a YAML
  round trip, keys in another order, CRLF line ends, a byte-order mark, aliases for
  repeated values (the same meaning where the kind allows aliases, refused elsewhere);
* mistakes that must be refused: a key given twice (same or another value), an unknown
  key, a renamed key or name, a required key removed, a value of the wrong type, a
  number too large or not finite (also as text: ``"nan"``), a date outside the known
  range or before the date it must follow, an empty, comment-only, binary or non-UTF-8
  file, a list or a scalar at the top, an alias bomb.

A mutant "loads to the same meaning" when the loaded object equals the original's
(``model_dump``); "refused" means a :class:`~computefolio.errors.ComputefolioError` whose
message is one line naming the file, and ``computefolio config check`` exiting 2 with
one line on stderr and no traceback (checked on every refused mutant whose family is
new, and on a sample of the rest, to keep the run short). An alias bomb must be refused
with a bounded peak of Python memory (tracemalloc).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
import signal
import tracemalloc
import typing
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from typer.testing import CliRunner

from computefolio.allocate.mandate import Mandate, default_mandate_path
from computefolio.backtest.costs import CostModel, default_costs_path
from computefolio.cli import app
from computefolio.errors import ComputefolioError
from computefolio.holdings import HoldingsFile
from computefolio.references import load_checked
from computefolio.risk.stress import HistoricalScenario, HypotheticalScenario, default_scenarios_path
from computefolio.strategy import Strategy, default_strategy_path
from computefolio.universe import Universe, default_universe_path

HOLDINGS_SAMPLE = """\
# A model book as weights (fractions of capital; the rest is cash).
description: model book for the mutation test
weights:
  BTC: 0.18
  ETH: 0.08
  SOL: 0.03
  NVDA: 0.08
  AVGO: 0.05
  TSM: 0.05
  ASML: 0.03
  MU: 0.03
  ANET: 0.03
  VRT: 0.03
  EQIX: 0.03
  IREN: 0.02
"""

MIN_MUTANTS = 200
#: Kinds whose files may use YAML aliases (bounded); the others refuse any alias.
ALIAS_KINDS = {"universe", "scenarios"}

_TAXONOMIES = ("layer", "theme", "sleeve", "asset_class", "asset")
#: Mappings whose keys name things defined elsewhere (a new or renamed key must be refused).
REF_DICTS = {
    "strategy": [("sleeves",), ("layers",), ("benchmarks", "*", "weights")],
    "mandate": [("assets", "overrides"), ("risk_budgets", "budgets")],
    "costs": [("assets",)],
    "universe": [("assets", "*", "layers"), ("assets", "*", "themes"), ("assets", "*", "history", "*", "layers"),
                 ("assets", "*", "history", "*", "themes")],
    "scenarios": [("scenarios", "*", "shocks", t) for t in _TAXONOMIES],
    "holdings": [("weights",), ("holdings",), ("quantities",)],
}
#: Mappings whose keys define names (a renamed key is refused when something uses it; every
#: shipped definition is used, which test_every_shipped_definition_is_used checks).
DEF_DICTS = {"costs": [("venues",)], "universe": [("sleeves",), ("layers",), ("themes",)]}
ROOTS = {"strategy": Strategy, "mandate": Mandate, "costs": CostModel, "universe": Universe, "holdings": HoldingsFile}


def _source(kind: str) -> tuple[str, str]:
    """(text, suffix) of the shipped file of ``kind``."""
    if kind == "holdings":
        return HOLDINGS_SAMPLE, ".yaml"
    path = {"strategy": default_strategy_path(), "mandate": default_mandate_path(), "costs": default_costs_path(),
            "universe": default_universe_path(), "scenarios": default_scenarios_path()}[kind]
    return Path(path).read_text(encoding="utf-8"), ".yaml"


def meaning(kind: str, obj):
    """What a loaded file means, comparable with ==."""
    if kind == "scenarios":
        return [s.model_dump() for s in obj]
    if kind == "holdings":
        return (obj.kind, sorted(obj.book.items()))
    return obj.model_dump()


# ----------------------------------------------------------------------------- data paths
def _match(pattern: tuple, path: tuple) -> bool:
    return len(pattern) == len(path) and all(p == "*" or p == q for p, q in zip(pattern, path))


def _walk(node, path=()):
    """(path, node) for every node, containers and leaves."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, path + (i,))


def _set(data, path, value):
    node = data
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


def _get(data, path):
    node = data
    for k in path:
        node = node[k]
    return node


def _unwrap(ann):
    """The model class (or dict/list annotation) inside Optional/Union."""
    origin = typing.get_origin(ann)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        for a in args:
            if isinstance(a, type) and issubclass(a, BaseModel):
                return a
        for a in args:
            if typing.get_origin(a) in (dict, list):
                return a
        return args[0] if args else ann
    return ann


def model_at(kind: str, data, path: tuple):
    """The pydantic model class validating the mapping at ``path`` (None: a dict-typed mapping)."""
    if kind == "scenarios":
        if len(path) < 2:
            return None
        item = data["scenarios"][path[1]]
        cls = {"historical": HistoricalScenario, "hypothetical": HypotheticalScenario}.get(
            item.get("kind") if isinstance(item, dict) else None)
        path = path[2:]
    else:
        cls = ROOTS[kind]
    ann = cls
    for k in path:
        ann = _unwrap(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            f = ann.model_fields.get(k) if isinstance(k, str) else None
            if f is None:
                return None
            ann = f.annotation
        elif typing.get_origin(ann) is dict:
            ann = typing.get_args(ann)[1]
        elif typing.get_origin(ann) is list:
            ann = typing.get_args(ann)[0]
        else:
            return None
    ann = _unwrap(ann)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _classify(kind, path) -> str:
    if any(_match(p, path) for p in REF_DICTS.get(kind, [])):
        return "ref"
    if any(_match(p, path) for p in DEF_DICTS.get(kind, [])):
        return "def"
    return "model"


# ----------------------------------------------------------------------------- mutants
class Mutant(typing.NamedTuple):
    op: str
    content: bytes
    expect: str  # "same" | "refuse"
    note: str = ""


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=100)


def _top_key_lines(text: str) -> list[int]:
    return [i for i, ln in enumerate(text.splitlines()) if re.match(r"^[A-Za-z_][\w.-]*:", ln)]


def _key_lines(text: str) -> list[int]:
    """Lines holding a 'key: value' or 'key:' of a block mapping (not inside block scalars)."""
    doc = yaml.compose(text, Loader=yaml.SafeLoader)
    out = []
    lines = text.splitlines()

    def walk(n):
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                ln = k.start_mark.line
                if lines[ln][k.start_mark.column:].startswith(str(k.value)) and \
                        not lines[ln].lstrip().startswith(("-", "{")) and k.start_mark.column == \
                        len(lines[ln]) - len(lines[ln].lstrip()):
                    out.append(ln)
                walk(v)
        elif isinstance(n, yaml.SequenceNode):
            for c in n.value:
                walk(c)

    walk(doc)
    return sorted(set(out))


def prepare(text: str, orig) -> dict:
    """What the mutation operators draw from, computed once per file."""
    nodes = list(_walk(orig))
    leaves = [(p, v) for p, v in nodes if p and not isinstance(v, (dict, list))]
    groups: dict[str, list] = {}
    for p, v in nodes:
        if isinstance(v, (dict, list)) and v and p:
            groups.setdefault(repr(v), []).append(p)
    return {
        "leaves": leaves,
        "maps": [(p, v) for p, v in nodes if isinstance(v, dict)],
        "conts": [(p, v) for p, v in nodes if p and isinstance(v, (dict, list))],
        "nums": [(p, v) for p, v in leaves if isinstance(v, (int, float)) and not isinstance(v, bool)],
        "texts": [(p, v) for p, v in leaves if isinstance(v, (str, bool))],
        "dates": [(p, v) for p, v in leaves if isinstance(v, dt.date)],
        "top_lines": _top_key_lines(text),
        "key_lines": _key_lines(text),
        "alias_groups": [ps for ps in groups.values() if len(ps) > 1],
    }


def draw_mutant(data: st.DataObject, kind: str, text: str, orig, ctx: dict) -> Mutant:
    """One mutant of ``text`` (parsed: ``orig``; ``ctx`` from :func:`prepare`)."""
    ops = ["comment", "blank", "roundtrip", "reorder", "crlf", "bom", "alias", "dup_line", "empty", "binary",
           "latin1", "top_list", "bomb", "wrong_type", "container_to_scalar", "number_to_text", "text_to_number",
           "extreme", "nonfinite", "nonfinite_text", "date_range", "reversed_dates", "unknown_key", "rename_key",
           "drop_required"]
    op = data.draw(st.sampled_from(ops), label="op")
    b = text.encode("utf-8")
    leaves, maps = ctx["leaves"], ctx["maps"]
    if op == "comment":
        lines = text.splitlines(keepends=True)
        at = data.draw(st.sampled_from(ctx["top_lines"]), label="line")
        word = data.draw(st.text(alphabet="abcdefgh :#-'", max_size=20), label="comment")
        lines.insert(at, f"# {word}\n")
        return Mutant(op, "".join(lines).encode(), "same")
    if op == "blank":
        lines = text.splitlines(keepends=True)
        at = data.draw(st.sampled_from(ctx["top_lines"]), label="line")
        lines.insert(at, "\n" * data.draw(st.integers(1, 3)))
        return Mutant(op, "".join(lines).encode(), "same")
    if op == "roundtrip":
        return Mutant(op, _dump(orig).encode(), "same")
    if op == "reorder":
        d = copy.deepcopy(orig)
        p, m = data.draw(st.sampled_from(maps), label="map")
        keys = list(m)
        perm = data.draw(st.permutations(keys), label="order")
        new = {k: _get(d, p)[k] for k in perm}
        if p:
            _set(d, p, new)
        else:
            d = new
        return Mutant(op, _dump(d).encode(), "same", str(p))
    if op == "crlf":
        return Mutant(op, text.replace("\n", "\r\n").encode(), "same")
    if op == "bom":
        return Mutant(op, b"\xef\xbb\xbf" + b, "same")
    if op == "alias":
        # two equal subtrees become one object: the dump writes an anchor and an alias
        d = copy.deepcopy(orig)
        pairs = ctx["alias_groups"]
        if not pairs:  # no repeated subtree: alias a copy of one into an equal place is not possible
            return Mutant("roundtrip", _dump(orig).encode(), "same")
        ps = data.draw(st.sampled_from(pairs), label="pair")
        first = _get(d, ps[0])
        for p in ps[1:]:
            _set(d, p, first)
        out = _dump(d)
        assert "*id" in out
        return Mutant(op, out.encode(), "same" if kind in ALIAS_KINDS else "refuse", str(ps))
    if op == "dup_line":
        lines = text.splitlines(keepends=True)
        at = data.draw(st.sampled_from(ctx["key_lines"]), label="line")
        line = lines[at]
        m = re.match(r"^(\s*)([^:#]+):\s*(\S.*)?$", line.rstrip("\n"))
        if m and m.group(3) and not m.group(3).startswith(("{", "[", ">", "|", "&")) and data.draw(st.booleans()):
            other = f"{m.group(1)}{m.group(2)}: {data.draw(st.sampled_from(['0.5', '7', 'x', '2021-01-01']))}\n"
            lines.insert(at + 1, other)
        else:
            lines.insert(at + 1, line if line.endswith("\n") else line + "\n")
        return Mutant(op, "".join(lines).encode(), "refuse", line.strip())
    if op == "empty":
        return Mutant(op, data.draw(st.sampled_from([b"", b"\n", b"# nothing here\n", b"   \n\n", b"---\n",
                                                     b"~\n", b"null\n"])), "refuse")
    if op == "binary":
        junk = data.draw(st.binary(min_size=1, max_size=64), label="junk")
        bad = data.draw(st.sampled_from([b"\x00", b"\xff", b"\xfe\xff", b"\x07", b"\x80"]))
        pos = data.draw(st.integers(0, len(b)))
        return Mutant(op, b[:pos] + bad + junk + b[pos:], "refuse")
    if op == "latin1":
        i = data.draw(st.integers(0, len(text)))
        return Mutant(op, text[:i].encode() + "é".encode("latin-1") + text[i:].encode(), "refuse")
    if op == "top_list":
        return Mutant(op, data.draw(st.sampled_from([b"- a\n- b\n", b"just some text\n", b"42\n",
                                                     b"[1, 2, 3]\n"])), "refuse")
    if op == "bomb":
        depth = data.draw(st.integers(6, 12))
        width = data.draw(st.integers(6, 10))
        items = ", ".join(["x"] * width)
        parts = [f"  l0: &l0 [{items}]"]
        for k in range(1, depth):
            parts.append(f"  l{k}: &l{k} [{', '.join([f'*l{k - 1}'] * width)}]")
        bomb = "zz_expand:\n" + "\n".join(parts) + "\n"
        if data.draw(st.booleans()):  # the bomb where the issue put it: inside a value block
            return Mutant(op, (text + "\n" + bomb).encode(), "refuse")
        return Mutant(op, (bomb + text).encode(), "refuse")
    # ---- structural mistakes, on the parsed data
    d = copy.deepcopy(orig)
    if op == "wrong_type":
        p, v = data.draw(st.sampled_from(leaves), label="leaf")
        _set(d, p, data.draw(st.sampled_from([{"bad": [1, 2]}, [1, 2], [{"a": 1}]])))
        return Mutant(op, _dump(d).encode(), "refuse", f"{p}={v!r}")
    if op == "container_to_scalar":
        p, v = data.draw(st.sampled_from(ctx["conts"]), label="container")
        _set(d, p, data.draw(st.sampled_from([7, "text", True])))
        return Mutant(op, _dump(d).encode(), "refuse", str(p))
    nums = ctx["nums"]
    if op == "number_to_text":
        p, v = data.draw(st.sampled_from(nums), label="number")
        _set(d, p, data.draw(st.sampled_from(["abc", "12abc", "one", "1,5"])))
        return Mutant(op, _dump(d).encode(), "refuse", f"{p}={v!r}")
    if op == "text_to_number":
        p, v = data.draw(st.sampled_from(ctx["texts"]), label="text")
        _set(d, p, 5)
        return Mutant(op, _dump(d).encode(), "refuse", f"{p}={v!r}")
    if op == "extreme":
        p, v = data.draw(st.sampled_from(nums), label="number")
        _set(d, p, data.draw(st.sampled_from([1e16, -1e16, 1e308, -1e308, 10 ** 16, -(10 ** 16), 10 ** 30,
                                              1.7976931348623157e308])))
        return Mutant(op, _dump(d).encode(), "refuse", f"{p}={v!r}")
    if op == "nonfinite":
        p, v = data.draw(st.sampled_from(nums), label="number")
        _set(d, p, data.draw(st.sampled_from([math.nan, math.inf, -math.inf])))
        return Mutant(op, _dump(d).encode(), "refuse", f"{p}={v!r}")
    if op == "nonfinite_text":
        p, v = data.draw(st.sampled_from(nums), label="number")
        _set(d, p, data.draw(st.sampled_from(["nan", "inf", "-inf", "Infinity", "NaN", "-Infinity"])))
        return Mutant(op, _dump(d).encode(), "refuse", f"{p}={v!r}")
    dates = ctx["dates"]
    if op == "date_range":
        if not dates:
            return Mutant("empty", b"", "refuse")
        p, v = data.draw(st.sampled_from(dates), label="date")
        _set(d, p, data.draw(st.sampled_from([dt.date(1800, 1, 1), dt.date(1, 1, 1), dt.date(2200, 6, 30),
                                              dt.date(9999, 12, 31)])))
        return Mutant(op, _dump(d).encode(), "refuse", f"{p}={v!r}")
    if op == "reversed_dates":
        cands = []
        for p, m in _walk(d):
            if not isinstance(m, dict):
                continue
            for a, z in (("start", "end"), ("listed", "delisted")):
                if isinstance(m.get(a), dt.date):
                    cands.append((p, a, z))
            if isinstance(m.get("history"), list) and len(m["history"]) >= 2:
                cands.append((p, "history", None))
        if not cands:
            return Mutant("empty", b"", "refuse")
        p, a, z = data.draw(st.sampled_from(cands), label="pair")
        m = _get(d, p)
        if a == "history":
            m["history"] = list(reversed(m["history"]))
        elif isinstance(m.get(z), dt.date) and m[z] != m[a]:
            m[a], m[z] = m[z], m[a]
        else:
            m[z] = m[a] - dt.timedelta(days=data.draw(st.integers(1, 400)))
        return Mutant(op, _dump(d).encode(), "refuse", f"{p} {a}/{z}")
    if op == "unknown_key":
        cands = [(p, m) for p, m in maps if _classify(kind, p) in ("model", "ref")]
        p, m = data.draw(st.sampled_from(cands), label="map")
        target = _get(d, p) if p else d
        name = data.draw(st.sampled_from(["colour", "typo_field", "NOSUCH", "zz_unknown", "Capital"]))
        if name in target:
            name += "_x"
        sibling = next(iter(target.values()), 1) if _classify(kind, p) == "ref" else 1
        target[name] = copy.deepcopy(sibling)
        return Mutant(op, _dump(d).encode(), "refuse", f"{p}.{name}")
    if op == "rename_key":
        cands = [(p, k) for p, m in maps for k in m]
        p, k = data.draw(st.sampled_from(cands), label="key")
        target = _get(d, p) if p else d
        new = data.draw(st.sampled_from([k + "_x", k.swapcase(), k + "s_", "x" + k]))
        if new == k or new in target:
            new = k + "_zz"
        _set_keyed = {(new if kk == k else kk): vv for kk, vv in target.items()}
        if p:
            _set(d, p, _set_keyed)
        else:
            d = _set_keyed
        # a renamed model field is an unknown field; a renamed reference names nothing; a
        # renamed definition leaves its users without it
        return Mutant(op, _dump(d).encode(), "refuse", f"{p}: {k} -> {new}")
    if op == "drop_required":
        cands = []
        for p, m in maps:
            cls = model_at(kind, orig, p)
            if cls is None:
                continue
            for name, f in cls.model_fields.items():
                if f.is_required() and name in m:
                    cands.append((p, name))
        if kind == "holdings":
            cands.append(((), "weights"))  # exactly one of weights/holdings/quantities
        if not cands:
            return Mutant("empty", b"", "refuse")
        p, name = data.draw(st.sampled_from(cands), label="field")
        target = _get(d, p) if p else d
        del target[name]
        return Mutant(op, _dump(d).encode(), "refuse", f"{p}.{name}")
    raise AssertionError(op)


# ----------------------------------------------------------------------------- the oracle
@contextmanager
def _hang_guard(seconds: int = 20):
    """Fail (not hang) when one load runs away; the limit is far above a normal load (ms)."""
    def boom(*_):
        raise TimeoutError(f"loading one mutant took over {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


runner = CliRunner()


def check_mutant(kind: str, m: Mutant, path: Path, base, cli: bool) -> str:
    """Load the mutant; assert the oracle. Returns "same" or "refused"."""
    path.write_bytes(m.content)
    traced = m.op == "bomb"
    if traced:
        tracemalloc.start()
    try:
        with _hang_guard():
            try:
                _, obj = load_checked(path, kind)
                outcome = "same" if meaning(kind, obj) == base else "changed"
                err = None
            except ComputefolioError as exc:
                outcome, err = "refused", str(exc)
    finally:
        if traced:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert peak < 32 * 2 ** 20, f"alias bomb used {peak / 2 ** 20:.0f} MiB before it was refused"
    what = f"{kind} mutant {m.op} ({m.note})"
    assert outcome != "changed", f"{what} loaded with another meaning instead of being refused"
    if m.expect == "same":
        assert outcome == "same", f"{what} should load unchanged but was refused: {err}"
    else:
        assert outcome == "refused", f"{what} should be refused but loaded"
    if err is not None:
        assert "\n" not in err and "\r" not in err, f"{what}: message on several lines: {err!r}"
        assert str(path) in err, f"{what}: message does not name the file: {err}"
        assert len(err) < 1500, f"{what}: message too long ({len(err)} chars)"
    if cli:
        res = runner.invoke(app, ["config", "check", "--kind", kind, str(path)])
        out = res.output + (res.stderr if res.stderr_bytes is not None else "")
        assert "Traceback" not in out, out
        assert res.exit_code == (2 if err else 0), f"{what}: exit {res.exit_code}: {out}"
        if err:
            lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("error:"), f"{what}: stderr {res.stderr!r}"
    return outcome


@pytest.mark.parametrize("kind", ["strategy", "mandate", "costs", "universe", "scenarios", "holdings"])
def test_mutants_load_the_same_or_are_refused_in_one_line(kind, tmp_path):
    text, suffix = _source(kind)
    orig = yaml.safe_load(text)
    src = tmp_path / f"original{suffix}"
    src.write_text(text, encoding="utf-8")
    _, obj = load_checked(src, kind)
    base = meaning(kind, obj)
    path = tmp_path / f"mutant{suffix}"
    ctx = prepare(text, orig)
    counts: dict[str, int] = {}
    cli_seen: set[str] = set()

    @settings(max_examples=MIN_MUTANTS + 10, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        m = draw_mutant(data, kind, text, orig, ctx)
        n = counts.get(m.op, 0)
        cli = m.op not in cli_seen or n % 20 == 0
        check_mutant(kind, m, path, base, cli)
        cli_seen.add(m.op)
        counts[m.op] = n + 1

    run()
    assert sum(counts.values()) >= MIN_MUTANTS, counts


def test_every_shipped_definition_is_used():
    """Renaming a definition (a layer, a venue) is refused only because something uses it."""
    from computefolio.backtest.costs import load_costs
    from computefolio.universe import load_universe

    u, c = load_universe(), load_costs()
    layers, themes = set(), set()
    for a in u.assets:
        for cl in [*a.history, a.current]:
            layers |= set(cl.layers)
            themes |= set(cl.themes)
    assert layers == set(u.layers) and themes == set(u.themes)
    assert {a.sleeve for a in u.assets} == set(u.sleeves)
    assert {a.venue for a in u.assets if a.asset_class != "private"} == set(c.venues)  # private: marks, no venue
