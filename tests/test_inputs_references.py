"""Every name must exist and every number be in range, checked when a file is loaded.

The cases are the findings of the issue: each was a traceback, a silently accepted
mistake or a misleading message; each is now refused in one line naming the file, the
line and the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from computefolio.allocate.mandate import default_mandate_path
from computefolio.backtest.costs import default_costs_path
from computefolio.cli import app
from computefolio.errors import ConfigError
from computefolio.references import allocator_method, allocator_names, detect_kind, load_checked
from computefolio.strategy import default_strategy_path, load_strategy, strategy_from_dict
from computefolio.universe import default_universe_path

runner = CliRunner()


def shipped(kind: str) -> str:
    return Path({"strategy": default_strategy_path(), "mandate": default_mandate_path(),
                 "costs": default_costs_path(), "universe": default_universe_path()}[kind]).read_text()


def refuse(tmp_path, kind: str, text: str, *words: str, line: int | None = None) -> str:
    p = tmp_path / f"{kind}.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_checked(p, kind)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg, msg
    for w in words:
        assert w in msg, msg
    if line is not None:
        assert e.value.line == line, msg
    res = runner.invoke(app, ["config", "check", "--kind", kind, str(p)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    return msg


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of_text(text: str, needle: str) -> int:
    return next(i + 1 for i, ln in enumerate(text.splitlines()) if needle in ln)


# ----------------------------------------------------------------------------- silently accepted before
def test_second_sleeve_line_is_refused_not_last_wins(tmp_path):
    u = shipped("universe")
    i = u.index("  - symbol: NVDA")
    j = u.index("    sleeve: ai_equities", i)
    text = u[:j] + "    sleeve: ai_equities\n    sleeve: digital_assets\n" + u[j + len("    sleeve: ai_equities\n"):]
    refuse(tmp_path, "universe", text, "'sleeve' is given twice", line=text[:j].count("\n") + 2)


def test_second_impact_k_is_refused(tmp_path):
    text = edit(shipped("costs"), "impact_k: 0.1\n", "impact_k: 0.1\nimpact_k: 50\n")
    refuse(tmp_path, "costs", text, "'impact_k' is given twice", line=line_of_text(text, "impact_k: 50"))


def test_unknown_symbols_in_mandate_overrides_and_restricted(tmp_path):
    m = shipped("mandate")
    text = edit(m, "    ETH: {max: 0.20}", "    ETHX: {max: 0.20}")
    refuse(tmp_path, "mandate", text, "field 'assets.overrides.ETHX'", "a symbol of the universe",
           line=line_of_text(text, "ETHX"))
    text = edit(m, "restricted: [GBTC]", "restricted: [GBTC, NOPE]")
    refuse(tmp_path, "mandate", text, "field 'restricted'", "'NOPE'", line=line_of_text(text, "restricted:"))


def test_unknown_symbol_and_venue_in_the_cost_file(tmp_path):
    c = shipped("costs")
    text = edit(c, "  FIL: {half_spread_bps: 8.0}", "  FILX: {half_spread_bps: 8.0}")
    refuse(tmp_path, "costs", text, "field 'assets.FILX'", line=line_of_text(text, "FILX"))
    text = edit(c, "  bybit:\n", "  bybitt:\n")  # a renamed venue: its assets would pay another venue's costs
    refuse(tmp_path, "costs", text, "trades on 'bybit'")


def test_top_level_allocator_parameters_are_validated(tmp_path):
    s = shipped("strategy")
    text = edit(s, "allocator: erc              #", "allocator: {method: erc, foo: 1}  #")
    refuse(tmp_path, "strategy", text, "field 'allocator.foo'", "a parameter of the erc allocator",
           line=line_of_text(text, "foo: 1"))


def test_hrp_linkage_checked_at_load(tmp_path):
    text = edit(shipped("strategy"), "{risk_budget: 0.65, allocator: hrp}",
                "{risk_budget: 0.65, allocator: {method: hrp, linkage: wardd}}")
    refuse(tmp_path, "strategy", text, "sleeve ai_equities", "field 'allocator.linkage'", "ward", "'wardd'")
    ok = edit(shipped("strategy"), "{risk_budget: 0.65, allocator: hrp}",
              "{risk_budget: 0.65, allocator: {method: hrp, linkage: ward, leaf_order: true}}")
    p = tmp_path / "ok.yaml"
    p.write_text(ok)
    spec = load_strategy(p).budgets["ai_equities"].allocator
    assert spec.method == "hrp" and spec.params == {"linkage": "ward", "leaf_order": True}


@pytest.mark.parametrize("params, words", [
    ("{method: hrp, leaf_order: 3}", "true or false"),
    ("{method: ivol, power: -1}", "a number in (0, 10]"),
    ("{method: erc, budgets: yes}", "allocator.budgets"),
    ("{method: ew, anything: 1}", "it takes none"),
    ("{method: maxsharpe, objective: utility}", "allocator.objective"),
    ("{method: mincvar, beta: 1.5}", "a number in [0.5, 1)"),
    ("{method: magic}", "one of equal_weight (ew)"),
    ("{method: [hrp]}", "an allocator name"),
])
def test_allocator_parameter_types_and_ranges(tmp_path, params, words):
    text = edit(shipped("strategy"), "{risk_budget: 0.65, allocator: hrp}", f"{{risk_budget: 0.65, allocator: {params}}}")
    refuse(tmp_path, "strategy", text, words)


def test_alias_bomb_in_the_allocator_block_is_refused(tmp_path):
    bomb = ("allocator:\n  method: erc\n  x0: &x0 [a, a, a, a, a, a, a, a, a]\n"
            + "".join(f"  x{k}: &x{k} [{', '.join([f'*x{k - 1}'] * 9)}]\n" for k in range(1, 7)))
    text = edit(shipped("strategy"), "allocator: erc              # default inside a group\n", bomb)
    refuse(tmp_path, "strategy", text, "no aliases")


# ----------------------------------------------------------------------------- tracebacks and misleading messages before
def test_capital_out_of_range_says_so(tmp_path):
    for value in ("1e308", "1.0e+308", "0", "-5", ".inf", "nan"):
        text = edit(shipped("strategy"), "capital: 100000000", f"capital: {value}")
        msg = refuse(tmp_path, "strategy", text, line=line_of_text(text, "capital:"))
        assert "capital" in msg and "empty" not in msg, msg
    text = edit(shipped("mandate"), "capital: 100000000", "capital: 1e308")
    refuse(tmp_path, "mandate", text, "field 'capital'")


def test_lookback_of_ten_to_the_twelve(tmp_path):
    text = edit(shipped("strategy"), "lookback: 252", "lookback: 1000000000000")
    refuse(tmp_path, "strategy", text, "field 'lookback'", "at most 10000")


def test_unknown_sleeve_names_the_sleeve_not_an_infeasible_mandate(tmp_path):
    text = edit(shipped("strategy"), "  digital_assets: {risk_budget: 0.35", "  digital_asset: {risk_budget: 0.35")
    msg = refuse(tmp_path, "strategy", text, "field 'sleeves.digital_asset'", "a sleeve of the universe",
                 line=line_of_text(text, "digital_asset:"))
    assert "infeasible" not in msg


def test_unknown_layer_in_a_mandate_group_names_file_and_line(tmp_path):
    text = edit(shipped("mandate"), "{by: layer, group: bitcoin_mining, max: 0.10}",
                "{by: layer, group: bitcoin_minning, max: 0.10}")
    refuse(tmp_path, "mandate", text, "group #3 (layer bitcoin_minning)", "a layer of the universe",
           line=line_of_text(text, "bitcoin_minning"))


def test_mandate_risk_budgets_names(tmp_path):
    text = edit(shipped("mandate"), "budgets: {digital_assets: 0.35", "budgets: {digital_asets: 0.35")
    refuse(tmp_path, "mandate", text, "risk_budgets.budgets.digital_asets")
    text = edit(shipped("mandate"), "  inner: erc", "  inner: magic")
    refuse(tmp_path, "mandate", text, "inner", "one of")


def test_strategy_names_benchmarks_and_scenarios(tmp_path):
    s = shipped("strategy")
    refuse(tmp_path, "strategy", edit(s, "weights: {QQQ: 1.0}", "weights: {QQQQ: 1.0}"),
           "benchmark QQQ", "field 'weights.QQQQ'")
    refuse(tmp_path, "strategy", edit(s, "equal_weight: [digital_assets, ai_equities]",
                                      "equal_weight: [digital_assets, ai_equity]"), "field 'equal_weight'")
    refuse(tmp_path, "strategy", edit(s, "historical: all", "historical: [ftx_nov_2022, ftx_2022]"),
           "field 'stress.historical'", "'ftx_2022'")
    refuse(tmp_path, "strategy", edit(s, "mandate: mandate_default.yaml", "mandate: mandate_defualt.yaml"),
           "field 'mandate'", "mandate_defualt.yaml")


def test_reversed_and_out_of_range_dates(tmp_path):
    s = shipped("strategy")
    refuse(tmp_path, "strategy", edit(s, "start: 2020-01-02", "start: 1066-10-14"), "field 'start'")
    refuse(tmp_path, "strategy", edit(s, "start: 2020-01-02", "start: 2020-02-30"), "a valid date")


# ----------------------------------------------------------------------------- method names
def test_method_names_long_and_short_are_one_meaning(tmp_path):
    assert allocator_method("minvar") == allocator_method("min_variance") == allocator_method("MinVar") == \
        "min_variance"
    assert allocator_method("ew") == "equal_weight" and allocator_method("ivol") == "inverse_vol"
    assert "min_variance (minvar)" in allocator_names() and "risk_budgets (budgets)" not in allocator_names()
    with pytest.raises(ValueError):
        allocator_method("budgets")  # the mandate's own: not an allocator inside a strategy group
    raw_short, raw_long = ({"name": "t", "sleeves": {"digital_assets": {"weight": 1.0}}, "allocator": m}
                           for m in ("minvar", "min_variance"))
    assert strategy_from_dict(raw_short) == strategy_from_dict(raw_long)


def test_allocate_cli_takes_the_strategy_names(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPUTEFOLIO_HOME", str(tmp_path))
    for m in ("min_variance", "minvar"):
        res = runner.invoke(app, ["allocate", "--method", m, "--sample", "--lookback", "60"])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["allocate", "--method", "magic", "--sample"])
    assert res.exit_code == 2 and "Traceback" not in res.output


# ----------------------------------------------------------------------------- holdings
def test_holdings_files(tmp_path):
    p = tmp_path / "book.yaml"
    p.write_text("weights:\n  BTC: 0.2\n  NVDA: 0.1\n")
    kind, h = load_checked(p)
    assert kind == "holdings" and h.kind == "weight" and dict(h.book) == {"BTC": 0.2, "NVDA": 0.1}
    refuse(tmp_path, "holdings", "weights:\n  BTC: 0.2\n  NVDX: 0.1\n", "field 'weights.NVDX'", line=3)
    refuse(tmp_path, "holdings", "weights: {BTC: 0.2}\nholdings: {BTC: 5}\n", "exactly one of")
    refuse(tmp_path, "holdings", "weights: {BTC: 20}\n", "[-10, 10]")
    c = tmp_path / "book.csv"
    c.write_text("symbol,value\nBTC,1000000\nETH,nan\n")
    with pytest.raises(ConfigError, match="line 3"):
        load_checked(c)
    c.write_text("symbol,value\nBTC,1000000\nBTC,2\n")
    with pytest.raises(ConfigError, match="each symbol once"):
        load_checked(c)
    c.write_text("symbol,weight,value\nBTC,1,2\n")
    with pytest.raises(ConfigError, match="exactly one of"):
        load_checked(c)


def test_detect_kind_of_the_shipped_files():
    assert detect_kind(default_strategy_path()) == "strategy"
    assert detect_kind(default_mandate_path()) == "mandate"
    assert detect_kind(default_costs_path()) == "costs"
    assert detect_kind(default_universe_path()) == "universe"


def test_config_check_cli_prints_what_loaded_and_json(tmp_path):
    res = runner.invoke(app, ["config", "check", str(default_strategy_path()), str(default_mandate_path())])
    assert res.exit_code == 0, res.output
    assert "strategy compute_backed" in res.output and "mandate default" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("weights: {BTC: .nan}\n")
    out = tmp_path / "check.json"
    res = runner.invoke(app, ["config", "check", str(default_mandate_path()), str(bad), "--json", str(out)])
    assert res.exit_code == 2
    import json

    d = json.loads(out.read_text())
    assert d["refused"] == 1 and d["files"][0]["ok"] and not d["files"][1]["ok"]
    assert "finite" in d["files"][1]["error"]
