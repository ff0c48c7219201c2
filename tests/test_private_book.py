"""The book with private positions: marks and terms in the store, NAV by marks, compliance limits.

Prices are a synthetic random walk (no real prices); marks are the shipped ones (LAMBDA's
Series D) and small test files.
"""

import numpy as np
import pandas as pd
import pytest

from computefolio.book import Account, BookStore, nav_series, value_book
from computefolio.clock import CRYPTO, sessions
from computefolio.compliance.checks import Compliance
from computefolio.data.market import MarketData
from computefolio.errors import DataError
from computefolio.private.store import PrivateStore

SYMS = ("NVDA", "IREN", "CORZ", "ORCL", "RENDER")
ACCOUNTS = [Account("prime", "broker", "prime broker", "USD", ("NASDAQ", "NYSE"), 0.0, "Prime"),
            Account("private", "private", "administrator", "USD", (), 0.0, "Private holdings")]


def _market(universe, end="2025-12-31"):
    rng = np.random.default_rng(4)
    rows = []
    for s in SYMS:
        cal = universe.asset(s).calendar
        days = pd.date_range("2024-06-01", end) if cal == CRYPTO else sessions(cal, "2024-06-01", end)
        px = 20.0 * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))
        rows.append(pd.DataFrame({"date": days, "symbol": s, "close": px, "volume": 1e9 / px}))
    return MarketData.from_long(pd.concat(rows), universe.calendars, source="synthetic test market")


def _book(tmp_path, universe, lambda_day="2025-02-19"):
    bs = BookStore(tmp_path / "store.duckdb")
    bs.append([{"date": "2025-01-02", "kind": "deposit", "account": "prime", "amount": 50e6, "currency": "USD"},
               {"date": "2025-01-03", "kind": "buy", "account": "prime", "symbol": "NVDA", "quantity": 100000,
                "price": 20.0},
               {"date": lambda_day, "kind": "deposit", "account": "private", "symbol": "LAMBDA", "quantity": 0.0012},
               {"date": "2024-09-01", "kind": "deposit", "account": "private", "symbol": "RENDER",
                "quantity": 2_000_000}], accounts=ACCOUNTS, universe=universe)
    return bs


def test_marks_and_terms_are_stored_once_with_provenance(tmp_path, universe):
    from computefolio.private import default_private_path

    with _book(tmp_path, universe) as bs:
        ps = PrivateStore(bs)
        first = ps.import_book(default_private_path(), universe=universe)
        assert first["marks"] == 28 and first["terms"] == 4 and not first["already_imported"]
        assert ps.import_book(default_private_path(), universe=universe)["already_imported"]
        prov = ps.provenance()
        assert set(prov.columns) >= {"symbol", "date", "price", "source", "reference", "batch", "file", "sha256"}
        lam = prov[prov["symbol"] == "LAMBDA"].iloc[0]
        assert lam["price"] == 2.5e9 and lam["source"] == "funding_round" and "PitchBook" in lam["reference"]
        # a file that changes a stored mark is refused, and nothing of it is written
        bad = tmp_path / "changed.yaml"
        bad.write_text(default_private_path().read_text().replace("price: 2.5e9", "price: 2.6e9"), encoding="utf-8")
        n = len(ps.marks())
        with pytest.raises(DataError, match=r"LAMBDA mark of 2025-02-19: field 'price': the stored mark of that date"):
            ps.import_book(bad, universe=universe)
        assert len(ps.marks()) == n
        d = ps.data()
        assert d.policy == "roll_forward" and len(d.terms) == 4


def test_nav_prices_private_positions_by_their_marks(tmp_path, universe):
    m = _market(universe)
    from computefolio.private import default_private_path

    with _book(tmp_path, universe) as bs:
        ps = PrivateStore(bs)
        ps.import_book(default_private_path(), universe=universe)
        data, e = ps.data(), bs.entries()
    with pytest.raises(DataError, match="no market data for held LAMBDA"):
        value_book(e, m, "2025-06-30")
    v = value_book(e, m, "2025-06-30", private=data, universe=universe)
    row = v.prices.loc["LAMBDA"]
    assert row["status"] == "mark" and row["field"] == "roll_forward:funding_round"
    assert row["age_days"] == (pd.Timestamp("2025-06-30") - pd.Timestamp("2025-02-19")).days
    lam = v.positions.set_index("symbol").loc["LAMBDA"]
    assert lam["value"] == pytest.approx(0.0012 * row["price"])
    assert any("valued by marks (roll_forward" in n for n in v.notes)
    assert "LAMBDA" not in v.stale().query("status == 'stale'").index
    # the grant is locked until its cliff (2025-09-01): every unit locked on 2025-06-30
    ren = v.positions.set_index("symbol").loc["RENDER"]
    assert ren["locked_units"] == 2_000_000 and ren["locked_value"] == pytest.approx(ren["value"])
    v2 = value_book(e, m, "2025-09-01", private=data.__class__(data.marks, data.terms, "last_mark"),
                    universe=universe)
    assert v2.prices.at["LAMBDA", "price"] == 2.5e9 and v2.prices.at["LAMBDA", "field"] == "last_mark:funding_round"
    assert v2.positions.set_index("symbol").at["RENDER", "locked_units"] == pytest.approx(1_500_000)
    # the NAV series: every day from the first entry, the marked count and the mark's age
    s = nav_series(e, m, "2025-02-19", "2025-06-30", private=data, universe=universe)
    assert s["nav"].notna().all() and (s["marked"] == 1).all()
    assert s["oldest_mark_days"].iloc[-1] == row["age_days"]
    assert s.loc["2025-06-30", "nav"] == pytest.approx(v.nav, rel=1e-12)


def test_a_mark_before_the_position_exists_is_an_error_in_the_book(tmp_path, universe):
    m = _market(universe)
    from computefolio.private import default_private_path

    with _book(tmp_path, universe, lambda_day="2025-03-03") as bs:  # booked after its only mark
        ps = PrivateStore(bs)
        ps.import_book(default_private_path(), universe=universe)
        data, e = ps.data(), bs.entries()
    with pytest.raises(DataError, match=r"LAMBDA mark of 2025-02-19: field 'date': on or after 2025-03-03, when the "
                                        r"position was first booked \(a mark before the position exists\)"):
        value_book(e, m, "2025-06-30", private=data, universe=universe)


def test_compliance_enforces_the_private_limits(tmp_path, universe):
    m = _market(universe)
    from computefolio.private import default_private_path

    with _book(tmp_path, universe) as bs:
        ps = PrivateStore(bs)
        ps.import_book(default_private_path(), universe=universe)
        data, e = ps.data(), bs.entries()
    v = value_book(e, m, "2025-06-30", private=data, universe=universe)
    from computefolio.allocate.mandate import Mandate

    nav = v.nav
    lam_w = float(v.weights()["LAMBDA"])
    ren_w = float(v.weights()["RENDER"])
    tight = Mandate(private_max=lam_w / 2, locked_max=ren_w / 2, mark_age_max_days=100)
    orders = pd.DataFrame([{"order_id": "o1", "account": "private", "symbol": "RENDER", "side": "sell",
                            "quantity": 10.0, "price": float(v.prices.at["RENDER", "price"])},
                           {"order_id": "o2", "account": "private", "symbol": "LAMBDA", "side": "sell",
                            "quantity": 0.0001, "price": float(v.prices.at["LAMBDA", "price"])}])
    rep = Compliance(tight, universe=universe).check(orders, v, market=m, asof="2025-06-30")
    by = {}
    for r in rep.results:
        by.setdefault(r.check, []).append(r)
    assert by["private_share"][0].status == "warn" and by["private_share"][0].kind == "passive"
    # the order sells 0.0001 of the 0.0012 held: the share after the orders
    assert by["private_share"][0].value == pytest.approx(lam_w * 11 / 12 * nav / rep.nav_post, rel=1e-9)
    assert by["locked_share"][0].limit == pytest.approx(ren_w / 2)
    sale = by["locked_sale"][0]
    assert sale.status == "block" and sale.order_id == "o1" and "locked on 2025-06-30" in sale.message
    ages = {(r.key, r.status) for r in by["mark_age"]}
    assert ("LAMBDA", "warn") in ages and any(r.order_id == "o2" and r.status == "block" for r in by["mark_age"])
    # within the limits: no private finding
    loose = Mandate(private_max=0.5, locked_max=0.5, mark_age_max_days=365)
    ok = Compliance(loose, universe=universe).check(orders.iloc[:0], v, market=m, asof="2025-06-30")
    assert not [r for r in ok.results if r.check in ("private_share", "locked_share", "locked_sale", "mark_age")]
