"""Long-format readers, source plans and splicing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.data.sources import SourcePlan, SourceRule, load_folder, read_long, select_plan, splice
from computefolio.errors import DataError


def long(symbol, dates, close, source=None):
    df = pd.DataFrame({"date": pd.to_datetime(dates), "symbol": symbol, "close": np.asarray(close, float)})
    for c in ("open", "high", "low", "adj_close", "volume"):
        df[c] = np.nan
    if source is not None:
        df["source"] = source
    return df


def test_read_long_csv_and_parquet(tmp_path):
    df = pd.DataFrame({"Date": ["2024-01-02", "2024-01-03"], "Symbol": ["AAA", "AAA"], "Close": [1.0, 2.0]})
    df.to_csv(tmp_path / "a.csv", index=False)
    df.to_parquet(tmp_path / "a.parquet", index=False)
    for name in ("a.csv", "a.parquet"):
        out = read_long(tmp_path / name)
        assert list(out.columns) == ["date", "symbol", "open", "high", "low", "close", "adj_close", "volume"]
        assert out["close"].tolist() == [1.0, 2.0] and out["open"].isna().all()
        assert out["date"].iloc[0] == pd.Timestamp("2024-01-02")


def test_read_long_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_long(tmp_path / "none.csv")
    (tmp_path / "b.csv").write_text("date,symbol,close\n2024-13-45,AAA,1\n")
    with pytest.raises(DataError, match="row 2: date"):
        read_long(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("date,symbol,volume\n2024-01-02,AAA,1\n")
    with pytest.raises(DataError, match="'close' or 'adj_close'"):
        read_long(tmp_path / "c.csv")


def test_splice_takes_each_date_from_the_first_source_that_has_it():
    a = long("X", ["2024-01-02", "2024-01-03"], [10, 11], "a")
    b = long("X", ["2024-01-03", "2024-01-04"], [99, 1.2], "b")
    c = long("X", ["2024-01-05"], [5], "c")
    out = splice(pd.concat([a, b, c]), ["a", "b"])
    assert out["close"].tolist() == [10, 11, 1.2] and out["source"].tolist() == ["a", "a", "b"]
    out2 = splice(pd.concat([a, b]), ["b", "a"])
    assert out2["close"].tolist() == [10, 99, 1.2]
    with pytest.raises(DataError, match="no rows: zzz"):
        splice(pd.concat([a, b]), ["a", "zzz"])
    with pytest.raises(DataError, match="at least one"):
        splice(a, [])


def test_select_plan_and_overlap():
    a = long("X", pd.date_range("2024-01-01", periods=10), np.arange(10) + 1.0, "a.csv")
    b = long("X", pd.date_range("2024-01-01", periods=10), np.arange(10) + 100.0, "b.csv")
    df = pd.concat([a, b])
    plan = SourcePlan([SourceRule("X", "a.csv", end=pd.Timestamp("2024-01-04")),
                       SourceRule("X", "b.csv", start=pd.Timestamp("2024-01-05"))])
    out = select_plan(df, plan)
    assert out["close"].tolist() == [1, 2, 3, 4, 104, 105, 106, 107, 108, 109]
    bad = SourcePlan([SourceRule("X", "a.csv"), SourceRule("X", "b.csv")])
    with pytest.raises(DataError, match="several files"):
        select_plan(df, bad)
    with pytest.raises(DataError, match="selects no rows"):
        select_plan(df, SourcePlan([SourceRule("Y", "a.csv")]))


def test_load_folder_with_and_without_plan(tmp_path):
    long("X", ["2024-01-02", "2024-01-03"], [1, 2]).drop(columns=[]).to_csv(tmp_path / "a.csv", index=False)
    long("X", ["2024-01-03", "2024-01-04"], [3, 4]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match="duplicated"):
        load_folder(tmp_path, {"X": "XNYS"})
    pd.DataFrame({"symbol": ["X"], "file": ["b.csv"], "price_column": ["close"], "start": ["2024-01-03"],
                  "end": ["2024-01-04"]}).to_csv(tmp_path / "primary.csv", index=False)
    md = load_folder(tmp_path, {"X": "XNYS"})
    assert md.close["X"].dropna().tolist() == [3, 4]
    assert md.provenance["sources"] == {"X": ["b.csv"]}
