"""``computefolio risk``: CSV and YAML books on the sample market and real files, JSON output, errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from computefolio.cli import app

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPUTEFOLIO_HOME", str(tmp_path / "home"))  # no store there
    return tmp_path


def test_cli_sample_weights_json(home):
    book = home / "book.csv"
    book.write_text("symbol,weight\nBTC,0.3\nNVDA,0.3\nHUT,0.2\nQQQ,0.2\n")
    out = home / "r.json"
    res = runner.invoke(app, ["risk", str(book), "--sample", "--json", str(out), "--lookback", "252", "--no-dcc"])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["meta"]["simulated"] and d["meta"]["basis"] == "session" and d["meta"]["currency"] == "USD"
    assert "historical" in d["var"] and d["var"]["historical"]["currency"] == "USD"
    assert "layer" in d["contributions"]["by_group"]
    assert any(s["name"] == "crypto_crackdown" for s in d["stress"])
    assert "VaR and ES" in res.output and "Stress scenarios" in res.output


def test_cli_values_yaml_and_capital(home):
    book = home / "book.yaml"
    book.write_text("holdings: {BTC: 6000000, MSFT: 4000000}\n")
    res = runner.invoke(app, ["risk", str(book), "--sample", "--json", "-", "--lookback", "252", "--no-dcc",
                              "--confidence", "0.95", "--basis", "calendar"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["meta"]["capital"] == 10_000_000 and d["meta"]["periods_per_year"] == 365
    assert abs(d["book"]["weights"]["BTC"] - 0.6) < 1e-12 and d["meta"]["confidence"] == 0.95


def test_cli_errors_are_one_line(home):
    bad = home / "bad.csv"
    bad.write_text("symbol,weight\nBTC,abc\n")
    res = runner.invoke(app, ["risk", str(bad), "--sample"])
    assert res.exit_code == 2 and "bad.csv" in res.output and "weight" in res.output
    unk = home / "unk.csv"
    unk.write_text("symbol,weight\nNOPE,1.0\n")
    res = runner.invoke(app, ["risk", str(unk), "--sample"])
    assert res.exit_code == 2 and "NOPE" in res.output
    sc = home / "sc.yaml"
    sc.write_text("scenarios:\n  - {name: s1, kind: hypothetical, title: t, shocks: {layer: {nope: -0.1}}}\n")
    ok = home / "ok.csv"
    ok.write_text("symbol,weight\nBTC,1.0\n")
    res = runner.invoke(app, ["risk", str(ok), "--sample", "--scenarios", str(sc), "--no-dcc"])
    assert res.exit_code == 2 and "sc.yaml" in res.output and "scenario s1" in res.output


def test_cli_real_files_quantities(shared_dir, home):
    book = home / "q.csv"
    book.write_text("symbol,quantity\nNVDA,1000\nSOL,500\n")
    res = runner.invoke(app, ["risk", str(book), "--data", str(shared_dir), "--json", "-", "--no-dcc",
                              "--lookback", "252"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    ds = next(s for s in d["stress"] if s["name"] == "deepseek_jan_2025")
    assert -0.19 < ds["by_asset"]["NVDA"]["return"] < -0.15


def test_cli_strategy_file_on_sample(home):
    from computefolio.strategy import load_strategy

    path = load_strategy().file
    res = runner.invoke(app, ["risk", str(path), "--sample", "--json", "-", "--no-dcc", "--lookback", "252"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert abs(sum(d["book"]["weights"].values()) + d["book"]["cash"] - 1) < 1e-9
    old = next(s for s in d["stress"] if s["name"] == "crypto_winter_2018")
    # the sample starts after 2018 and is simulated: the window replays the recorded real returns
    assert "error" not in old and old["source"] == "recorded" and old["pnl_pct"] < 0
