"""One loader for every entry point: files, store or sample, with clear errors."""

import pytest

from computefolio.data.load import load_market
from computefolio.errors import DataError


def test_auto_falls_back_to_the_sample_without_a_store(tmp_path, monkeypatch, universe):
    monkeypatch.setenv("COMPUTEFOLIO_HOME", str(tmp_path))
    md = load_market(universe, start="2024-01-01", end="2024-03-31")
    assert md.simulated and md.label == "sample market (simulated)"
    assert set(md.symbols) == set(universe.symbols)


def test_missing_folder_and_store_are_errors(tmp_path, universe):
    with pytest.raises(DataError, match="no such file or folder"):
        load_market(universe, source="files", path=tmp_path / "nope")
    with pytest.raises(DataError, match="no such store"):
        load_market(universe, source="store", store=tmp_path / "nope.duckdb")
    with pytest.raises(DataError, match="no such store"):
        load_market(universe, store=tmp_path / "nope.duckdb")


def test_files_trim_to_listing_dates(shared_dir, universe):
    md = load_market(universe, source="files", path=shared_dir, start="2021-01-01", end="2022-12-31")
    assert not md.simulated
    first = md.lives().loc["WULF", "first"]
    assert first >= __import__("pandas").Timestamp(universe.asset("WULF").listed)
    assert md.provenance["trimmed"].get("WULF", 0) > 0
