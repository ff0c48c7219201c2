"""``computefolio data import|check|list`` through the Typer app."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from computefolio.cli import app
from computefolio.clock import sessions
from computefolio.data.store import Store

runner = CliRunner()


def feed(path, symbol="AAA", n=30, scale=1.0, bad=False):
    dates = sessions("XNYS", "2024-01-02", "2025-12-31")[:n]
    p = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, n))) * scale
    df = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "symbol": symbol, "open": p, "high": p * 1.01,
                       "low": p * 0.99, "close": p, "adj_close": p, "volume": 1e6})
    if bad:
        df.loc[4, "close"] = 0.0
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPUTEFOLIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "home"


def test_import_twice_then_list(home, tmp_path):
    f = feed(tmp_path / "a.csv")
    r = runner.invoke(app, ["data", "import", str(f)])
    assert r.exit_code == 0, r.output
    assert "30" in r.output
    r2 = runner.invoke(app, ["data", "import", str(f)])
    assert r2.exit_code == 0
    with Store(home / "store.duckdb", read_only=True) as s:
        assert s.row_count() == 30 and len(s.imports()) == 1
    r3 = runner.invoke(app, ["data", "list"])
    assert r3.exit_code == 0 and "a.csv" in r3.output and "30 rows" in r3.output
    r4 = runner.invoke(app, ["data", "list", "--symbols"])
    assert r4.exit_code == 0 and "AAA" in r4.output


def test_store_option_wins(home, tmp_path):
    target = tmp_path / "elsewhere.duckdb"
    r = runner.invoke(app, ["data", "import", str(feed(tmp_path / "a.csv")), "--store", str(target)])
    assert r.exit_code == 0 and target.is_file() and not (home / "store.duckdb").exists()


def test_bad_rows_exit_2_with_one_line_or_quarantine(home, tmp_path):
    f = feed(tmp_path / "bad.csv", bad=True)
    r = runner.invoke(app, ["data", "import", str(f)])
    assert r.exit_code == 2
    assert "refused, nothing imported" in r.output and "row 6 AAA 2024-01-08" in r.output
    assert "Traceback" not in r.output
    r2 = runner.invoke(app, ["data", "import", str(f), "--quarantine"])
    assert r2.exit_code == 0 and "Quarantined rows of bad.csv" in r2.output and "non_positive" in r2.output
    r3 = runner.invoke(app, ["data", "list"])
    assert "1 quarantined row" in r3.output


def test_check_exit_codes_and_json(home, tmp_path):
    a = feed(tmp_path / "a.csv")
    r = runner.invoke(app, ["data", "check", str(a)])
    assert r.exit_code == 0, r.output
    assert "no problems found" in r.output and "default for unknown symbols" in r.output
    b = feed(tmp_path / "b.csv", scale=0.1)  # the same prices on another basis (10:1)
    r2 = runner.invoke(app, ["data", "check", str(a), str(b)])
    assert r2.exit_code == 1 and "source_scale" in r2.output
    r3 = runner.invoke(app, ["data", "check", str(a), str(b), "--json", "-"])
    assert r3.exit_code == 1
    d = json.loads(r3.output)
    assert d["ok"] is False and d["counts"]["error:source_scale"] == 1
    assert d["findings"][0]["symbol"] == "AAA" and d["findings"][0]["date"] == "2024-01-02"


def test_check_the_store(home, tmp_path):
    r0 = runner.invoke(app, ["data", "check"])
    assert r0.exit_code == 2 and "no store at" in r0.output
    a = feed(tmp_path / "a.csv", n=20)
    b = feed(tmp_path / "b.csv", n=40, scale=0.1)
    assert runner.invoke(app, ["data", "import", str(a), str(b)]).exit_code == 0
    r = runner.invoke(app, ["data", "check", "--priority", "a.csv,b.csv"])
    assert r.exit_code == 1
    assert "split_jump" in r.output and "splice" in r.output
    r2 = runner.invoke(app, ["data", "check", "--priority", "a.csv,zzz.csv"])
    assert r2.exit_code == 2 and "zzz.csv" in r2.output


@pytest.mark.realdata
def test_check_real_files_flags_splice_and_corz(shared_dir, home):
    a = shared_dir / "equities_ohlcv_daily_dieperdev.csv.gz"
    b = shared_dir / "equities_ohlcv_daily_spookylabs.csv.gz"
    r = runner.invoke(app, ["data", "check", str(b), "--symbols", "CORZ", "--json", "-"])
    assert r.exit_code == 0, r.output  # warnings only
    d = json.loads(r.output)
    corz = [f for f in d["findings"] if f["check"] == "extreme_jump" and f["date"] == "2024-01-24"]
    assert len(corz) == 1 and corz[0]["value"] > 40
    r2 = runner.invoke(app, ["data", "check", str(a), str(b), "--symbols", "NVDA", "--json", "-",
                             "--priority", f"{a.name},{b.name}"])
    assert r2.exit_code == 1
    d2 = json.loads(r2.output)
    got = {(f["check"], f["source"], f["date"]) for f in d2["findings"] if f["severity"] == "error"}
    assert got == {("source_scale", f"{a.name} vs {b.name}", "2020-07-27"), ("split_jump", "splice", "2024-03-11")}


def test_plan_command(home, tmp_path):
    a = feed(tmp_path / "a.csv", n=20)
    b = feed(tmp_path / "b.csv", n=40, scale=0.1)
    assert runner.invoke(app, ["data", "import", str(a), str(b)]).exit_code == 0
    plan = tmp_path / "primary.csv"
    plan.write_text("symbol,file,price_column,start,end\nAAA,b.csv,close,,\n")
    r = runner.invoke(app, ["data", "plan", str(plan)])
    assert r.exit_code == 0 and "1 rules" in r.output
    r2 = runner.invoke(app, ["data", "plan"])
    assert r2.exit_code == 0 and "b.csv" in r2.output
    with Store(home / "store.duckdb", read_only=True) as s:
        md = s.market({"AAA": "XNYS"})
        assert md.provenance["sources"]["AAA"][0][0] == "b.csv"
    assert "source plan: 1 rules" in runner.invoke(app, ["data", "list"]).output
    r3 = runner.invoke(app, ["data", "plan", "--clear"])
    assert r3.exit_code == 0 and "cleared" in r3.output
    r4 = runner.invoke(app, ["data", "import", str(a), "--plan", str(plan)])
    assert r4.exit_code == 0 and "source plan stored: 1 rules" in r4.output
