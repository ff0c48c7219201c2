"""The command line reads as one tool: help, --json, streams, numbers and JSON follow one set of rules."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import typer.main
from typer.testing import CliRunner

from computefolio._json import dumps, json_safe
from computefolio.cli import app
from computefolio.cli._common import fmt_num, plain_help

runner = CliRunner()


def _commands():
    def walk(c, path=()):
        subs = getattr(c, "commands", None)
        if subs:
            yield path, c
            for n, s in subs.items():
                yield from walk(s, path + (n,))
        else:
            yield path, c
    return list(walk(typer.main.get_command(app)))


COMMANDS = [p for p, _ in _commands()]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "computefolio")
def test_help_shows_flags_as_flags_and_no_markup(path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    res = runner.invoke(app, [*path, "--help"])
    assert res.exit_code == 0, res.output
    text = res.output
    for bad in ("<bool>", "<str>", "<int>", "<float>", "<path>", "<list", "list[", "``", ":func:", ":class:",
                ":meth:", ":mod:"):
        assert bad not in text, (path, bad)
    assert not re.search(r"Usage: .*\{\w+\}", text), text.splitlines()[:3]
    usage = next(ln for ln in text.splitlines() if "Usage:" in ln)
    assert "[OPTIONS]" in usage


def test_options_have_click_style_metavars(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = runner.invoke(app, ["data", "check", "--help"]).output
    assert re.search(r"--store\s+PATH", text) and re.search(r"--limit\s+INTEGER", text)
    assert re.search(r"--jump\s+NUMBER", text) and re.search(r"--json\s+PATH\|-", text)
    assert re.search(r"--no-universe\s+Check every row", text)  # a flag: no metavar
    assert "[PATHS]..." in text
    text = runner.invoke(app, ["risk", "--help"]).output
    assert "Usage: computefolio risk [OPTIONS] [HOLDINGS]" in text


def test_json_means_the_same_in_every_command():
    found = []
    for path, c in _commands():
        for p in getattr(c, "params", []):
            if "--json" in getattr(p, "opts", []):
                found.append(" ".join(path))
                assert not p.is_flag, f"{' '.join(path)}: --json is a flag, not a path"
                assert p.metavar == "PATH|-", f"{' '.join(path)}: --json metavar {p.metavar}"
                assert "'-'" in (p.help or "") and "stdout" in (p.help or ""), (path, p.help)
    assert {"risk", "allocate", "data check", "book show", "compliance log", "config check"} <= set(found)


def test_plain_help_removes_restructured_text():
    assert plain_help("Run ``computefolio run`` with :func:`~computefolio.job.run_strategy` and "
                      ":class:`computefolio.universe.Universe`") == \
        "Run 'computefolio run' with run_strategy and computefolio.universe.Universe"
    assert plain_help("the `weight` column") == "the 'weight' column"
    assert plain_help(None) is None


@pytest.mark.parametrize("v, spec, kw, out", [
    (None, ",.0f", {}, "missing"),
    (float("nan"), ".2f", {}, "missing"),
    (np.nan, ".2f", {"pct": True}, "missing"),
    (float("inf"), ".1f", {}, "infinite"),
    (-np.inf, ".2f", {"pct": True}, "-infinite"),
    (pd.NA, ".2f", {}, "missing") if hasattr(pd, "NA") else (None, ".2f", {}, "missing"),
    (1234567.8, ",.0f", {"suffix": " USD"}, "1,234,568 USD"),
    (0.1234, ".1f", {"pct": True}, "12.3%"),
])
def test_table_numbers_print_missing_and_infinite_as_words(v, spec, kw, out):
    assert fmt_num(v, spec, **kw) == out


def test_the_one_json_rule():
    obj = {"a": 1.5, "b": float("nan"), "c": [1, float("inf"), {"d/e": -math.inf}], "t": pd.Timestamp("2024-01-02"),
           "n": np.float64(2.5), "i": np.int64(3), "arr": np.array([1.0, np.nan]), "day": pd.Timestamp("2024-01-02").date()}
    text = dumps(obj)
    d = json.loads(text)  # strict: would fail on NaN/Infinity tokens
    assert "NaN" not in text.replace('"NaN"', "") and "Infinity" not in text.replace('"Infinity"', "").replace(
        '"-Infinity"', "")
    assert d["b"] is None and d["c"][1] is None and d["c"][2]["d/e"] is None and d["arr"] == [1.0, None]
    assert d["nonfinite"] == {"/b": "NaN", "/c/1": "Infinity", "/c/2/d~1e": "-Infinity", "/arr/1": "NaN"}
    assert d["n"] == 2.5 and d["i"] == 3 and d["t"].startswith("2024-01-02") and d["day"] == "2024-01-02"
    assert json_safe({"x": 1.0}) == {"x": 1.0}  # no note when nothing was replaced
    assert json_safe([float("nan")]) == [None]  # a list has no place for the note


def test_usage_errors_are_one_line(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    res = runner.invoke(app, ["data", "check", "--jump", "0"])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines == ["error: Invalid value for '--jump': Input should be greater than or equal to 0.01 "
                     "(see 'computefolio data check --help')"] or (len(lines) == 1 and "--jump" in lines[0])
