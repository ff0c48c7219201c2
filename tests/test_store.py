"""The DuckDB store: location, idempotent and atomic imports, quarantine, provenance, market()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from computefolio.clock import sessions
from computefolio.data import store as store_mod
from computefolio.data.sources import SourcePlan, SourceRule
from computefolio.data.store import Store, default_store_path
from computefolio.errors import DataError


def frame(symbol="AAA", n=30, start=100.0, seed=0, first="2024-01-02"):
    dates = sessions("XNYS", first, "2025-12-31")[:n]
    p = start * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n)))
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "symbol": symbol, "open": p, "high": p * 1.01,
                         "low": p * 0.99, "close": p, "adj_close": p, "volume": 1e6})


def write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("COMPUTEFOLIO_HOME", str(h))
    return h


@pytest.fixture
def st(home):
    s = Store()
    yield s
    s.close()


# ---------------------------------------------------------------------------- location
def test_store_path_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPUTEFOLIO_HOME", str(tmp_path / "h"))
    assert default_store_path() == tmp_path / "h" / "store.duckdb"
    assert default_store_path(tmp_path / "x.duckdb") == tmp_path / "x.duckdb"
    assert default_store_path(tmp_path) == tmp_path / "store.duckdb"  # a folder
    monkeypatch.delenv("COMPUTEFOLIO_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_store_path() == tmp_path / "user" / ".computefolio" / "store.duckdb"


def test_read_only_store_must_exist(tmp_path):
    with pytest.raises(DataError, match="no store at"):
        Store(tmp_path / "none.duckdb", read_only=True).row_count()


# ---------------------------------------------------------------------------- imports
def test_import_and_provenance(st, tmp_path, home):
    f = write(frame(), tmp_path / "feed_a.csv")
    r = st.import_file(f)
    assert (r.rows_read, r.rows_added, r.rows_present) == (30, 30, 0) and not r.already_imported
    assert st.path == home / "store.duckdb" and st.path.is_file()
    assert st.row_count() == 30 and st.sources() == ["feed_a.csv"] and st.symbols() == ["AAA"]
    imp = st.imports()
    assert imp.loc[0, "import_id"] == r.import_id and imp.loc[0, "sha256"] == r.sha256
    assert Path(imp.loc[0, "file"]).name == "feed_a.csv"
    rows = st.prices()
    assert list(rows.columns) == ["symbol", "date", "open", "high", "low", "close", "adj_close", "volume",
                                  "source", "import_id"]
    assert (rows["import_id"] == r.import_id).all() and (rows["source"] == "feed_a.csv").all()
    np.testing.assert_array_equal(rows["close"].to_numpy(), frame()["close"].to_numpy())  # exact round trip


def test_import_is_idempotent(st, tmp_path):
    f = write(frame(), tmp_path / "a.csv")
    st.import_file(f)
    before = st.snapshot()
    again = st.import_file(f)
    assert again.already_imported and again.rows_added == 0
    assert st.row_count() == 30 and st.snapshot() == before
    # the same rows in a file with other bytes (a parquet copy under the same source name)
    p = write(frame(), tmp_path / "a.parquet")
    r = st.import_file(p, source="a.csv")
    assert (r.rows_added, r.rows_present) == (0, 30) and st.row_count() == 30
    # a longer version of the feed adds only the new dates
    longer = write(frame(n=40), tmp_path / "a_v2.csv")
    r2 = st.import_file(longer, source="a.csv")
    assert (r2.rows_added, r2.rows_present) == (10, 30) and st.row_count() == 40


def test_conflicting_rows_are_refused_not_overwritten(st, tmp_path):
    st.import_file(write(frame(), tmp_path / "a.csv"))
    before = st.snapshot()
    changed = frame()
    changed.loc[7, "close"] *= 1.5
    changed.loc[7, "high"] = changed.loc[7, "close"]
    with pytest.raises(DataError, match="differ from the stored rows"):
        st.import_file(write(changed, tmp_path / "a2.csv"), source="a.csv")
    assert st.snapshot() == before
    # under its own source name both versions are kept side by side
    st.import_file(tmp_path / "a2.csv")
    assert st.row_count() == 60 and st.sources() == ["a.csv", "a2.csv"]


def bad_frame():
    df = frame(n=20)
    df.loc[3, "close"] = -2.0
    df.loc[8, "high"] = df.loc[8, "low"] * 0.5
    return pd.concat([df, df.iloc[[12]]], ignore_index=True)  # row 12 duplicated


def test_bad_rows_refuse_the_import(st, tmp_path):
    st.import_file(write(frame("BBB"), tmp_path / "b.csv"))
    before = st.snapshot()
    f = write(bad_frame(), tmp_path / "bad.csv")
    with pytest.raises(DataError) as ei:
        st.import_file(f)
    msg = str(ei.value)
    assert "4 bad row(s) refused, nothing imported" in msg and "--quarantine" in msg
    assert "row 5 AAA" in msg and "non_positive" in msg  # CSV line numbers (header is line 1)
    assert "duplicate_date" in msg and "ohlc_inconsistent" in msg
    assert "\n" not in msg
    assert st.snapshot() == before and st.imports().shape[0] == 1


def test_quarantine_keeps_bad_rows_aside(st, tmp_path):
    f = write(bad_frame(), tmp_path / "bad.csv")
    r = st.import_file(f, quarantine=True)
    assert r.rows_read == 21 and r.rows_added == 17 and len(r.quarantined) == 4
    assert set(",".join(r.quarantined["check"]).split(",")) == {"non_positive", "ohlc_inconsistent", "duplicate_date"}
    assert sorted(r.quarantined["row"]) == [5, 10, 14, 22]
    q = st.quarantined()
    assert len(q) == 4 and (q["import_id"] == r.import_id).all()
    assert st.row_count() == 17
    assert st.imports().loc[0, "rows_quarantined"] == 4


def test_import_failing_halfway_leaves_the_store_as_it_was(st, tmp_path, monkeypatch):
    st.import_file(write(frame("BBB"), tmp_path / "b.csv"))
    before = st.snapshot()
    monkeypatch.setattr(store_mod, "CHUNK_ROWS", 5)
    calls = {"n": 0}
    real = Store._insert_chunk

    def flaky(self, con, chunk, src, import_id):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(self, con, chunk, src, import_id)

    monkeypatch.setattr(Store, "_insert_chunk", flaky)
    with pytest.raises(RuntimeError, match="disk on fire"):
        st.import_file(write(frame("AAA"), tmp_path / "a.csv"))
    assert calls["n"] == 3  # two chunks (10 rows) were written inside the transaction
    assert st.snapshot() == before and st.row_count() == 30 and st.symbols() == ["BBB"]
    monkeypatch.setattr(Store, "_insert_chunk", real)
    r = st.import_file(tmp_path / "a.csv")  # the same file imports cleanly afterwards
    assert r.rows_added == 30 and st.row_count() == 60


def test_killed_import_leaves_the_store_as_it_was(tmp_path):
    path = tmp_path / "s.duckdb"
    write(frame("BBB"), tmp_path / "b.csv")
    write(frame("AAA", n=200), tmp_path / "a.csv")
    with Store(path) as s:
        s.import_file(tmp_path / "b.csv")
        before = s.snapshot()
    script = textwrap.dedent(f"""
        import os, signal
        from computefolio.data import store as m
        m.CHUNK_ROWS = 20
        calls = [0]
        real = m.Store._insert_chunk
        def die(self, con, chunk, src, import_id):
            calls[0] += 1
            if calls[0] == 4:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, con, chunk, src, import_id)
        m.Store._insert_chunk = die
        m.Store({str(path)!r}).import_file({str(tmp_path / 'a.csv')!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    with Store(path, read_only=True) as s:
        assert s.snapshot() == before and s.row_count() == 30
    with Store(path) as s:
        assert s.import_file(tmp_path / "a.csv").rows_added == 200


def test_unreadable_files_are_one_line_errors(st, tmp_path):
    with pytest.raises(DataError, match="file not found"):
        st.import_file(tmp_path / "nope.csv")
    (tmp_path / "x.csv").write_text("when,what\n1,2\n")
    with pytest.raises(DataError, match="missing column"):
        st.import_file(tmp_path / "x.csv")
    assert st.row_count() == 0 and st.imports().empty


# ---------------------------------------------------------------------------- reading and market()
@pytest.fixture
def two_sources(st, tmp_path):
    old = frame("AAA", n=40)
    new = frame("AAA", n=60)
    for c in ("open", "high", "low", "close", "adj_close"):
        new[c] = new[c] / 10.0  # adjusted for a 10:1 split the old feed does not know
    st.import_file(write(old.iloc[:30], tmp_path / "old.csv"))
    st.import_file(write(new, tmp_path / "new.csv"))
    st.import_file(write(frame("BTC", n=50, start=30000.0), tmp_path / "btc.csv"))
    return st


def test_market_refuses_to_mix_sources_silently(two_sources):
    cals = {"AAA": "XNYS", "BTC": "XNYS"}
    with pytest.raises(DataError, match="several sources .*AAA: new.csv, old.csv.*priority"):
        two_sources.market(cals)
    md = two_sources.market(cals, symbols=["BTC"])
    assert md.symbols == ["BTC"] and md.provenance["sources"]["BTC"][0][0] == "btc.csv"
    assert md.provenance["data_hash"] == md.data_hash()


def test_market_with_priority_list_and_plan(two_sources):
    cals = {"AAA": "XNYS", "BTC": "XNYS"}
    md = two_sources.market(cals, symbols=["AAA"], priority=["old.csv", "new.csv"])
    seg = md.provenance["sources"]["AAA"]
    assert [s[0] for s in seg] == ["old.csv", "new.csv"] and [s[3] for s in seg] == [30, 30]
    assert md.close["AAA"].notna().sum() == 60
    rep = two_sources.check(priority=["old.csv", "new.csv"])
    assert any(f.check == "split_jump" and f.source == "splice" for f in rep.errors)
    assert any(f.check == "source_scale" for f in rep.errors)
    md2 = two_sources.market(cals, symbols=["AAA"], priority=["new.csv"])
    assert md2.close["AAA"].iloc[0] == pytest.approx(frame("AAA")["close"].iloc[0] / 10)
    plan = SourcePlan([SourceRule("AAA", "new.csv", "close", None, None), SourceRule("BTC", "btc.csv")])
    md3 = two_sources.market(cals, priority=plan, start="2024-02-01")
    assert md3.symbols == ["AAA", "BTC"] and md3.start >= pd.Timestamp("2024-02-01")
    overlap = SourcePlan([SourceRule("AAA", "new.csv"), SourceRule("AAA", "old.csv")])
    with pytest.raises(DataError, match="several files"):
        two_sources.market(cals, symbols=["AAA"], priority=overlap)


def test_market_symbols_and_calendars(two_sources):
    with pytest.raises(DataError, match="no stored rows for ZZZ"):
        two_sources.market({"ZZZ": "XNYS"}, symbols=["ZZZ"])
    with pytest.raises(DataError, match="no calendar for BTC"):
        two_sources.market({"AAA": "XNYS"}, symbols=["BTC"])
    md = two_sources.market({"BTC": "24/7"})  # AAA has no calendar: skipped, and said so
    assert md.symbols == ["BTC"] and md.provenance["skipped"] == ["AAA"]
    assert md.calendars == {"BTC": "24/7"}


def test_store_listing(two_sources):
    s = two_sources.summary()
    assert list(s["source"]) == ["btc.csv", "new.csv", "old.csv"]
    assert list(s["rows"]) == [50, 60, 30]
    assert two_sources.row_count("new.csv") == 60
    assert two_sources.symbols("btc.csv") == ["BTC"]
    p = two_sources.prices(symbols=["AAA"], sources=["old.csv"], start="2024-01-10", end="2024-01-20")
    assert set(p["source"]) == {"old.csv"} and p["date"].between("2024-01-10", "2024-01-20").all()


# ---------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_importing_a_real_file_twice_adds_nothing(shared_dir, tmp_path):
    f = shared_dir / "equities_ohlcv_daily_spookylabs.csv.gz"
    with Store(tmp_path / "real.duckdb") as s:
        r = s.import_file(f)
        assert r.rows_added == 39_365 and s.row_count() == 39_365
        assert any(x.check == "extreme_jump" and x.symbol == "CORZ" for x in r.report.warnings)
        again = s.import_file(f)
        assert again.already_imported and s.row_count() == 39_365
        md = s.market({sym: "XNYS" for sym in s.symbols()}, symbols=["NVDA"])
        assert md.close.loc["2024-06-10", "NVDA"] == pytest.approx(121.89, abs=0.5)


# ---------------------------------------------------------------------------- properties
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as hst  # noqa: E402


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=hst.integers(1, 40), seed=hst.integers(0, 10_000), missing_volume=hst.booleans())
def test_round_trip_is_exact_and_reimport_adds_nothing(tmp_path, n, seed, missing_volume):
    import tempfile

    df = frame(n=n, seed=seed, start=float(np.random.default_rng(seed).uniform(0.001, 5000)))
    if missing_volume:
        df["volume"] = np.nan
    with tempfile.TemporaryDirectory(dir=tmp_path) as d:
        f = write(df, Path(d) / "f.parquet")
        with Store(Path(d) / "s.duckdb") as s:
            assert s.import_file(f).rows_added == n
            got = s.prices()
            for c in ("open", "high", "low", "close", "adj_close", "volume"):
                np.testing.assert_array_equal(got[c].to_numpy(), df[c].to_numpy(dtype=float))
            assert (got["date"] == pd.to_datetime(df["date"])).all()
            r = s.import_file(f, source="f.parquet")
            assert r.already_imported and s.row_count() == n


def test_market_trims_to_listed_dates_only_when_asked(st, tmp_path):
    from computefolio.universe import universe_from_dict

    u = universe_from_dict({
        "name": "t", "sleeves": {"s": {"name": "S", "description": "d"}},
        "layers": {"l": {"name": "L", "description": "d"}},
        "assets": [{"symbol": "AAA", "name": "A", "asset_class": "equity", "sleeve": "s", "calendar": "XNYS",
                    "venue": "NYSE", "listed": "2024-01-10", "layers": {"l": 1.0}, "compute_exposure": 0.5,
                    "rationale": "test asset"}]})
    st.import_file(write(frame(), tmp_path / "a.csv"))
    assert st.market(u).close["AAA"].notna().sum() == 30
    md = st.market(u, listed=True)
    assert md.start == pd.Timestamp("2024-01-10") and md.provenance["trimmed"] == {"AAA": 6}


def test_stored_plan_is_the_default_priority(two_sources, tmp_path):
    cals = {"AAA": "XNYS", "BTC": "XNYS"}
    assert two_sources.plan() is None
    plan_csv = tmp_path / "primary.csv"
    pd.DataFrame({"symbol": ["AAA"], "file": ["new.csv"], "price_column": ["close"], "start": ["2024-01-02"],
                  "end": [""]}).to_csv(plan_csv, index=False)
    assert two_sources.set_plan(plan_csv) == 1
    md = two_sources.market(cals)  # AAA from the plan, BTC from its only source
    assert md.provenance["priority"] == "stored plan"
    assert {k: [s[0] for s in v] for k, v in md.provenance["sources"].items()} == {"AAA": ["new.csv"], "BTC": ["btc.csv"]}
    two_sources.set_plan(SourcePlan([SourceRule("AAA", "gone.csv")]))
    with pytest.raises(DataError, match="not in the store"):
        two_sources.market(cals, symbols=["AAA", "BTC"])
    with pytest.raises(DataError, match="overlap"):
        two_sources.set_plan(SourcePlan([SourceRule("AAA", "new.csv"), SourceRule("AAA", "old.csv")]))
    two_sources.set_plan(None)
    assert two_sources.plan() is None


@pytest.mark.realdata
def test_store_with_primary_plan_matches_load_folder(shared_dir, universe, real_market, tmp_path):
    """Import the primary files, store primary.csv as the plan: the store's market is the
    conftest ``real_market`` (load_folder on the same plan) value for value."""
    plan = SourcePlan.from_csv(shared_dir / "primary.csv")
    vplan = SourcePlan.from_csv(shared_dir / "volume.csv", kind="volume")
    with Store(tmp_path / "real.duckdb") as s:
        for f in sorted(set(plan.files()) | set(vplan.files())):
            s.import_file(shared_dir / f, universe=universe, quarantine=True)
        s.set_plan(plan)
        s.set_plan(vplan, kind="volume")  # volume from the OHLCV files, as load_folder reads volume.csv
        md = s.market(universe, listed=True)
    assert md.symbols == real_market.symbols
    assert md.data_hash() == real_market.data_hash()
    assert md.provenance["priority"] == "stored plan"


def test_conflict_message_with_missing_columns(st, tmp_path):
    df = frame(n=5).drop(columns=["close", "open", "high", "low", "volume"])
    st.import_file(write(df, tmp_path / "adj.csv"))
    df.loc[2, "adj_close"] += 1
    with pytest.raises(DataError, match=r"stored close - / adj [0-9.]+, file close - / adj"):
        st.import_file(write(df, tmp_path / "adj2.csv"), source="adj.csv")
