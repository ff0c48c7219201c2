"""Sweeps end to end on the sample market: the same bits on serial, processes and Ray; a
variant that fails at run time is reported with its parameters while the others finish;
checkpoints resume; outputs state DSR and PBO; the CLI's exit codes.

Small on purpose (half a year, 63-session lookback, 4 variants of which 2 fail): each
variant is a full policy backtest with monthly refits under the default mandate.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from computefolio.cli import app
from computefolio.scale import Checkpoint, load_grid, make_executor, run_sweep
from computefolio.scale.outputs import sweep_results, write_sweep_outputs
from computefolio.strategy import load_strategy

try:
    import ray  # noqa: F401

    HAVE_RAY = True
except ImportError:  # pragma: no cover
    HAVE_RAY = False

def _grid(tight: str) -> dict:
    return {
        # a valid mandate whose rules cannot all hold on this universe (every asset at most 1%, but
        # at least 45% in AI equities): it loads, and each variant's first rebalance fails (a run-time failure)
        "axes": {"lookback": [63, 126], "mandate": ["mandate_default.yaml", tight]},
        "fixed": {"start": "2024-07-01", "end": "2024-12-31", "min_history": 63},
        "heatmap": ["lookback", "mandate"],
        "blocks": 4,
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from computefolio.strategy import resources_dir

    d = tmp_path_factory.mktemp("sweep")
    tight = d / "tight.yaml"
    tight.write_text((resources_dir() / "mandate_default.yaml").read_text().replace("  max: 0.08", "  max: 0.01"))
    g = d / "grid.yaml"
    g.write_text(yaml.safe_dump(_grid(str(tight)), sort_keys=False))
    return load_strategy(), load_grid(g), g


@pytest.fixture(scope="module")
def runs(setup):
    s, g, gfile = setup
    out = {}
    backends = [("serial", {}), ("processes", {"workers": 2})] + \
        ([("ray", {"workers": 2, "object_store_mb": 128})] if HAVE_RAY else [])
    for name, kw in backends:
        with make_executor(name, **kw) as ex:
            out[name] = run_sweep(s, g, grid_file=str(gfile), executor=ex)
    return out


def test_failed_variants_are_reported_and_the_others_finish(runs):
    res = runs["serial"]
    assert [r.ok for r in res.results] == [True, False, True, False]
    for v, r in zip(res.variants, res.results):
        if not r.ok:
            assert r.error.startswith("InfeasibleError: ") and "assets.max" in r.error and r.params["id"] == v.id
            assert v.values["mandate"].endswith("tight.yaml") and r.params["strategy"]["mandate"] == v.values["mandate"]
    assert list(res.returns.columns) == ["v0001", "v0003"]
    t = res.table()
    assert list(t["status"]) == ["ok", "failed", "ok", "failed"]
    assert t.loc[1, "error"] and np.isfinite(t.loc[0, "sharpe"])


def test_same_bits_on_every_backend(runs):
    ref = runs["serial"]
    assert len(runs) >= 2
    for name, res in runs.items():
        assert res.backend == name
        assert [r.ok for r in res.results] == [r.ok for r in ref.results], name
        pd.testing.assert_frame_equal(res.returns, ref.returns, check_exact=True, obj=name)
        for a, b in zip(ref.results, res.results):
            if a.ok:
                assert a.value["metrics"] == b.value["metrics"], name
                assert a.value["fits"] == b.value["fits"] > 0
                assert a.value["final_value"] == b.value["final_value"]
            else:
                assert a.error == b.error
        assert res.overfitting["dsr"] == ref.overfitting["dsr"], name


def test_variant_matches_a_direct_policy_backtest(runs, setup):
    """The sweep's variant is the strategy's own policy backtest (job.steps + backtest.policy)."""
    from computefolio.allocate.mandate import load_mandate
    from computefolio.backtest.costs import load_costs
    from computefolio.backtest.policy import backtest
    from computefolio.job.steps import build_policy, investable_symbols, load_market
    from computefolio.universe import load_universe

    s0, g, _ = setup
    v = runs["serial"].variants[2]  # lookback 126, default mandate
    s = v.strategy
    u = load_universe()
    m = load_market(s.with_overrides(stress={"historical": "none", "hypothetical": "none", "file": None}), u)
    syms = [x for x in investable_symbols(s, u, m) if m.price[x].notna().any()]
    pol = build_policy(s, u, load_mandate(s.resolve(s.mandate, "mandate")), syms, m)
    r = backtest(pol, m.subset(syms), costs=load_costs(s.resolve(s.costs, "costs")), capital=s.capital,
                 start=pd.Timestamp(s.start), end=pd.Timestamp(s.end), universe=u, cash_rate=s.cash_rate, seed=7)
    got = runs["serial"].returns["v0003"]
    np.testing.assert_allclose(got.to_numpy(), r.returns.to_numpy(), rtol=0, atol=1e-12)


def test_checkpoint_resumes_only_what_is_missing(setup, tmp_path):
    s, g, gfile = setup
    ck = Checkpoint(tmp_path / "ck")
    first = run_sweep(s, g, executor=make_executor("serial"), checkpoint=ck)
    assert len(ck) == 2  # the two finished variants
    again = run_sweep(s, g, executor=make_executor("serial"), checkpoint=ck)
    assert [r.cached for r in again.results] == [True, False, True, False]
    pd.testing.assert_frame_equal(first.returns, again.returns, check_exact=True)
    # other data (another sample seed) -> other keys: nothing reused
    other = run_sweep(s.with_overrides(data={"source": "sample", "seed": 8}), g, checkpoint=ck)
    assert not any(r.cached for r in other.results)


def test_outputs_state_dsr_and_pbo(runs, tmp_path):
    res = runs["serial"]
    files = write_sweep_outputs(res, tmp_path / "out")
    js = json.loads(files["sweep.json"].read_text())
    rob = js["robustness"]
    assert 0 <= rob["dsr"]["value"] <= 1 and 0 <= rob["pbo"]["value"] <= 1
    assert rob["best"]["id"] in ("v0001", "v0003")
    assert js["overfitting"]["dsr"]["n_trials"] == 2 and js["overfitting"]["pbo"]["splits"] == 6
    assert js["sweep"]["failed"] == 2 and len(js["failures"]["rows"]) == 2
    assert set(js["heatmaps"]) >= {"sharpe", "cagr", "volatility", "max_drawdown"}
    html = files["report.html"].read_text()
    from computefolio.report import fmt

    assert fmt(rob["dsr"]["value"], "fraction") in html and fmt(rob["pbo"]["value"], "fraction") in html
    assert "SAMPLE MARKET (SIMULATED)" in html and "https://" not in html.split("<script>")[0]
    assert html.count('data-chart="heatmap_') == 4
    csv = pd.read_csv(files["variants.csv"])
    assert list(csv["status"]) == ["ok", "failed", "ok", "failed"]
    rets = pd.read_csv(files["returns.csv"], index_col=0, parse_dates=True)
    np.testing.assert_array_equal(rets.to_numpy(), res.returns.to_numpy())
    assert sweep_results(res)["variants"]["rows"][0]["id"] == rob["best"]["id"]


def test_cli_sweep_exit_codes(setup, tmp_path):
    s, g, gfile = setup
    runner = CliRunner()
    args = ["sweep", str(s.file), "--grid", str(gfile), "--out", str(tmp_path), "--no-progress", "--sample"]
    r = runner.invoke(app, args)
    assert r.exit_code == 1, r.output  # some variants failed: outputs written, failures listed
    assert "failed v0002" in r.output.replace("\n", " ") and "Deflated Sharpe ratio" in r.output
    assert (tmp_path / s.name / "sweep" / "report.html").is_file()
    r2 = runner.invoke(app, args)
    assert "2 from checkpoint" in r2.output.replace("\n", " ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("axes: {lookback: [5]}\n")
    r3 = runner.invoke(app, ["sweep", str(s.file), "--grid", str(bad), "--out", str(tmp_path)])
    assert r3.exit_code == 2 and "bad.yaml" in r3.output and "Traceback" not in r3.output
    r4 = runner.invoke(app, ["sweep", str(s.file), "--grid", str(gfile), "--backend", "dask"])
    assert r4.exit_code == 2 and "--backend" in r4.output
    r5 = runner.invoke(app, ["sweep", str(s.file), "--grid", str(tmp_path / "missing.yaml")])
    assert r5.exit_code == 2 and "missing.yaml" in r5.output
