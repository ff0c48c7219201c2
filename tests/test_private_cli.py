"""`computefolio private`: import marks and terms into the store, list them, value a sleeve;
the book's commands price private positions by the stored marks; bad input is one line, exit 2."""

import json

import pytest
from typer.testing import CliRunner

from computefolio.cli import app
from computefolio.private import default_private_path

ACCOUNTS = "account,kind,venue,currency,name\nprime,broker,prime broker,USD,Prime\n" \
           "private,private,administrator,USD,Private holdings\n"
TX = ("date,kind,account,symbol,quantity,price,amount,currency\n"
      "2025-01-02,deposit,prime,,,,50000000,USD\n"
      "2025-02-19,deposit,private,LAMBDA,0.0012,,,\n"
      "2024-09-01,deposit,private,RENDER,2000000,,,\n")


def _run(args, **kw):
    return CliRunner().invoke(app, args, terminal_width=200, **kw)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPUTEFOLIO_HOME", str(tmp_path))
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    (tmp_path / "tx.csv").write_text(TX)
    return tmp_path


def test_import_list_and_value_by_marks(home):
    st = str(home / "store.duckdb")
    for f in ("accounts.csv", "tx.csv"):
        assert _run(["book", "import", str(home / f), "--store", st]).exit_code == 0
    before = _run(["book", "show", "--store", st, "--sample", "--asof", "2025-06-30"])
    assert before.exit_code == 2 and "priced by its stored marks" in before.output
    assert "computefolio private import FILE" in before.output
    res = _run(["private", "import", str(default_private_path()), "--store", st])
    assert res.exit_code == 0 and "28 mark(s)" in res.output and "roll_forward" in res.output
    again = _run(["private", "import", str(default_private_path()), "--store", st])
    assert "already imported" in again.output
    out = json.loads(_run(["private", "marks", "--store", st, "--asof", "2025-06-30", "--json", "-"]).output)
    lam = next(m for m in out["marks"] if m["symbol"] == "LAMBDA")
    assert lam["age_days"] == 131 and lam["source"] == "funding_round" and lam["file"].endswith(".yaml")
    show = _run(["book", "show", "--store", st, "--sample", "--asof", "2025-06-30", "--json", "-"])
    assert show.exit_code == 0, show.output
    v = json.loads(show.output)
    pr = {p["symbol"]: p for p in v["prices"]}
    assert pr["LAMBDA"]["status"] == "mark" and pr["LAMBDA"]["field"] == "roll_forward:funding_round"
    ren = next(p for p in v["positions"] if p["symbol"] == "RENDER")
    assert ren["locked_units"] == 2_000_000          # before the 2025-09-01 cliff
    assert any("valued by marks" in n for n in v["notes"])


def test_show_values_a_sleeve(home):
    res = _run(["private", "show", "--sample", "--asof", "2025-12-31", "--json", "-"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["policy"] == "roll_forward" and len(out["positions"]) == 4
    assert out["risk"]["kinds"]["AIDCF"] == "glm" and "RENDER" in out["overhang"]
    last = _run(["private", "show", "--sample", "--asof", "2025-12-31", "--policy", "last_mark", "--json", "-"])
    lam = next(p for p in json.loads(last.output)["positions"] if p["symbol"] == "LAMBDA")
    assert lam["price"] == 2.5e9 and lam["method"] == "last_mark"


@pytest.mark.parametrize("args, words", [
    (["private", "show", "--sample", "--policy", "mark_to_myth"], "--policy: one of last_mark, roll_forward"),
    (["private", "show", "--sample", "--asof", "yesterday-ish"], "--asof 'yesterday-ish': expected a date"),
    (["private", "show", "NOPE.yaml", "--sample"], "NOPE.yaml"),
])
def test_bad_input_is_one_line(home, args, words):
    res = _run(args)
    assert res.exit_code == 2 and words in res.output and "Traceback" not in res.output


def test_a_bad_mark_in_an_imported_file_writes_nothing(home):
    st = str(home / "store.duckdb")
    bad = home / "bad.yaml"
    bad.write_text(default_private_path().read_text().replace("price: 40.00\n    source: secondary_trade",
                                                              "price: -40.00\n    source: secondary_trade"))
    res = _run(["private", "import", str(bad), "--store", st])
    assert res.exit_code == 2 and "CRWV mark of 2024-11-13: field 'price': a positive price" in res.output
    out = json.loads(_run(["private", "marks", "--store", st, "--json", "-"]).output)
    assert out["marks"] == []
