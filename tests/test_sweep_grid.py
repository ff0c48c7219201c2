"""Grid files: which strategy fields an axis sets, shorthands, budgets, and one-line errors."""

from __future__ import annotations

import pytest
import yaml

from computefolio.errors import ConfigError
from computefolio.scale import expand_grid, load_grid
from computefolio.strategy import load_strategy


def _grid(tmp_path, doc: dict, name: str = "grid.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


@pytest.fixture(scope="module")
def base():
    return load_strategy()


def test_axes_expand_to_every_combination_in_order(tmp_path, base):
    g = load_grid(_grid(tmp_path, {"axes": {"lookback": [126, 252], "vol_target": [0.2, None], "schedule": ["monthly",
                                                                                                         "quarterly"]}}))
    vs = expand_grid(base, g)
    assert g.size == len(vs) == 8
    assert [v.id for v in vs[:3]] == ["v0001", "v0002", "v0003"]
    assert vs[0].values == {"lookback": 126, "vol_target": 0.2, "schedule": "monthly"}
    assert vs[1].values["schedule"] == "quarterly"  # last axis fastest
    s = vs[0].strategy
    assert s.lookback == 126 and s.vol_target.target == 0.2
    assert s.vol_target.leverage_max == base.vol_target.leverage_max  # the shorthand keeps the other fields
    assert s.schedule.frequency == "monthly"
    assert vs[2].strategy.vol_target is None  # null switches the overlay off
    assert vs[0].label == "lookback=126, vol_target=0.2, schedule=monthly"
    assert vs[2].label == "lookback=126, vol_target=off, schedule=monthly"
    # the base strategy's other fields are untouched
    assert s.drift_bands == base.drift_bands and s.mandate == base.mandate and s.name == base.name


def test_allocator_axis_sets_every_group_and_dotted_paths_reach_one(tmp_path, base):
    g = load_grid(_grid(tmp_path, {"axes": {"allocator": ["inverse_vol"],
                                            "covariance": ["ewma"], "covariance.halflife": [42],
                                            "drift_bands": [0.03], "drift_bands.by": ["asset"]}}))
    s = expand_grid(base, g)[0].strategy
    assert {b.allocator.method for b in s.budgets.values()} == {"inverse_vol"}
    assert s.allocator.method == "inverse_vol"
    assert s.covariance.method == "ewma" and s.covariance.halflife == 42
    assert s.drift_bands.absolute == 0.03 and s.drift_bands.by == "asset"
    g2 = load_grid(_grid(tmp_path, {"axes": {"sleeves.ai_equities.allocator": ["erc"]}}, "g2.yaml"))
    s2 = expand_grid(base, g2)[0].strategy
    assert s2.sleeves["ai_equities"].allocator.method == "erc"
    assert s2.sleeves["digital_assets"].allocator.method == base.sleeves["digital_assets"].allocator.method


def test_one_budget_axis_rescales_the_other_groups(tmp_path, base):
    g = load_grid(_grid(tmp_path, {"axes": {"sleeves.digital_assets.risk_budget": [0.2, 0.5]}}))
    vs = expand_grid(base, g)
    for v, x in zip(vs, (0.2, 0.5)):
        b = v.strategy.budgets
        assert b["digital_assets"].risk_budget == x
        assert b["ai_equities"].risk_budget == pytest.approx(1 - x, abs=1e-12)


def test_fixed_fields_apply_to_every_variant(tmp_path, base):
    g = load_grid(_grid(tmp_path, {"axes": {"lookback": [100, 200]}, "fixed": {"start": "2023-01-03",
                                                                              "min_history": 60}}))
    vs = expand_grid(base, g)
    assert all(str(v.strategy.start) == "2023-01-03" and v.strategy.min_history == 60 for v in vs)
    assert g.heatmap_axes() == ["lookback"]


@pytest.mark.parametrize("doc,match", [
    ({"axes": {"data": [{"source": "sample"}]}}, r"axes.*'data' cannot vary"),
    ({"axes": {"lookback": []}}, r"at least one value"),
    ({"axes": {"lookback": [126, 126]}}, r"appears twice"),
    ({"axes": {"lookback": [126]}, "blocks": 5}, r"blocks.*even"),
    ({"axes": {"lookback": [126]}, "metric": "alpha"}, r"metric"),
    ({"axes": {"lookback": [126, 252], "vol_target": [0.1]}, "heatmap": ["lookback", "lokback"]},
     r"heatmap.*two different axis names"),
    ({"axes": {"lookback": [126]}, "axis": {}}, r"axis.*not a known field"),
])
def test_bad_grid_files_name_file_and_field(tmp_path, doc, match):
    p = _grid(tmp_path, doc)
    with pytest.raises(ConfigError, match=match) as ei:
        load_grid(p)
    assert str(p) in str(ei.value) and "\n" not in str(ei.value)


@pytest.mark.parametrize("axes,match", [
    ({"lokback": [126]}, r"axes.lokback.*'lokback' is not a strategy field"),
    ({"lookback": [5]}, r"variant lookback=5 is not a valid strategy.*lookback"),
    ({"schedule": ["fortnightly"]}, r"variant schedule=fortnightly is not a valid strategy"),
    ({"allocator": [{"method": "hrp", "bogus_param": 3}]}, r"not a valid strategy.*allocator"),
    ({"sleeves.digital_assets.risk_budget": [1.0]}, r"leaving nothing for ai_equities"),
    ({"lookback.days": [3]}, r"axes.lookback.days.*not a mapping"),
])
def test_axis_values_that_make_no_valid_strategy_name_the_variant(tmp_path, base, axes, match):
    p = _grid(tmp_path, {"axes": axes})
    with pytest.raises(ConfigError, match=match) as ei:
        expand_grid(base, load_grid(p), str(p))
    assert str(p) in str(ei.value) and "\n" not in str(ei.value)
