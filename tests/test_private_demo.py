"""The shipped private sleeve: its file, its synthetic fund marks, the demo's "Private and locked"
section, and the sleeve on the real shared prices (no CRWV prices there: marks go on, said)."""

import json

import numpy as np
import pandas as pd
import pytest

from computefolio.private import load_private_book, value_sleeve
from computefolio.private.unsmooth import smooth_ma


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from _report_data import demo_run

    return demo_run(str(tmp_path_factory.getbasetemp() / "demo_out"))


def test_the_synthetic_fund_marks_follow_their_stated_recipe(universe):
    """AIDCF's statements are what the file's header says: GLM-smoothed N(3%, 12%) quarterly
    returns from default_rng(2019), theta = (0.5, 0.3, 0.2), NAV from 100, rounded to cents."""
    rng = np.random.default_rng(2019)
    nav = np.round(100 * np.cumprod(1 + smooth_ma(rng.normal(0.03, 0.12, 25), [0.5, 0.3, 0.2])), 2)
    book = load_private_book(universe=universe)
    shipped = [m for m in book.marks if m.symbol == "AIDCF"]
    assert [m.price for m in shipped] == list(nav)
    assert all((m.reported - m.date).days == 45 for m in shipped)


def test_the_shipped_file_holds_stakes_a_fund_and_a_vesting_grant(universe):
    book = load_private_book(universe=universe)
    kinds = [p.kind for p in book.positions]
    assert kinds.count("equity_stake") >= 2 and "fund_interest" in kinds and "token_grant" in kinds
    grant = next(p for p in book.positions if p.kind == "token_grant")
    assert grant.terms.vesting and grant.symbol in book.tokens
    crwv = book.position("crwv_series_c")
    assert crwv.terms.ipo_lockup.listing == universe.asset("CRWV").listed == pd.Timestamp("2025-03-28").date()
    ipo = next(m for m in book.marks if m.symbol == "CRWV" and m.source == "ipo_price")
    assert ipo.price == 40.0 and "424B4" in ipo.reference
    for m in book.marks:
        if m.symbol in ("CRWV", "LAMBDA"):
            assert len(m.reference) > 40      # every real mark cites where it comes from


def test_demo_has_a_private_and_locked_section(demo):
    res = demo.results
    p = res["private"]
    assert "roll_forward" in p["facts"]["NAV policy between marks"]
    pos = {r["id"]: r for r in p["positions"]["rows"]}
    assert set(pos) == {"crwv_series_c", "lambda_series_d", "aidcf_lp", "render_grant"}
    # marks and their ages
    assert pos["lambda_series_d"]["method"] in ("roll_forward", "last_mark")
    assert pos["lambda_series_d"]["mark_date"] == "2025-02-19" and pos["lambda_series_d"]["age_days"] == 315
    assert pos["aidcf_lp"]["source"] == "fund_statement" and pos["aidcf_lp"]["age_days"] == 92
    assert pos["crwv_series_c"]["method"] == "market" and pos["crwv_series_c"]["mark_date"] is None
    # observed vs unsmoothed risk
    u = {r["symbol"]: r for r in p["unsmoothing"]["rows"]}
    assert u["AIDCF"]["vol_glm"] > u["AIDCF"]["vol_observed"] and 0.2 < u["AIDCF"]["xi"] < 1
    assert u["AIDCF"]["covariance"] == "glm" and u["LAMBDA"]["covariance"] == "proxy"
    # the unlock calendar and the overhang, the ladder
    cal = p["unlock_calendar"]["rows"]
    assert len(cal) == 12 and cal[0]["total"] > cal[-1]["total"] > 0
    assert p["overhang"]["rows"][0]["token"] == "RENDER" and p["overhang"]["rows"][0]["d180"] > 0
    lad = p["ladder"]["rows"]
    assert [r["horizon"] for r in lad][:3] == ["1 day", "7 days", "30 days"]
    assert all(r["liquid"] <= min(r["market"], r["unlocked"]) + 1e-6 for r in lad)
    lp = {r["symbol"]: r for r in p["ladder_private"]["rows"]}
    assert lp["LAMBDA"]["d365"] == 0.0 and lp["AIDCF"]["d30"] == 0.0 and lp["AIDCF"]["d365"] > 0
    # limits
    assert [r["rule"] for r in p["limits"]["rows"]] == ["private_max", "locked_max", "mark_age_max_days"]
    # NAV: liquid + private, and the risk report is of the whole book
    nav = p["nav"]
    assert nav["total"]["value"] == pytest.approx(nav["liquid"]["value"] + nav["private"]["value"])
    assert nav["private"]["value"] == pytest.approx(sum(r["value"] for r in p["positions"]["rows"]))
    meta = demo.risk["meta"]
    assert set(meta["private"]) == {"LAMBDA", "AIDCF"} and "unsmoothed" in meta["private"]["AIDCF"]
    assert {"LAMBDA", "AIDCF", "CRWV"} <= set(demo.risk["book"]["weights"])
    classes = {c["class"] for c in res["caveats"]["items"]}
    assert {"private_mark", "unsmoothing"} <= classes


def test_demo_report_shows_the_private_section(demo):
    html = demo.files["report.html"].read_text()
    assert 'id="private"' in html and "Private and locked" in html
    for words in ("Observed vs unsmoothed risk", "Locked value by month-end", "Liquidity ladder", "True-ups",
                  "Marks with their provenance", "424B4"):
        assert words in html, words
    res = json.loads(demo.files["results.json"].read_text())
    assert res["private"]["positions"]["rows"]


@pytest.mark.realdata
def test_the_sleeve_on_real_prices(real_market, universe):
    """The shared files have no CRWV prices: after its 2025-03-28 listing the stake stays on its marks
    (rolled on its real peers), and the outputs say so; LAMBDA rolls on real IREN/CORZ/NVDA/ORCL."""
    book = load_private_book(universe=universe)
    days = pd.bdate_range("2024-05-01", "2026-07-31")
    sv = value_sleeve(book, real_market, universe, days)
    assert sv.values.notna().all().all()
    assert (sv.methods["CRWV"] != "market").all()
    assert any("CRWV listed on 2025-03-28 but the market has no price" in n for n in sv.notes)
    snap = sv.snapshot()
    lam = snap.set_index("id").loc["lambda_series_d"]
    assert lam["method"] == "roll_forward" and lam["age_days"] == (pd.Timestamp("2026-07-31")
                                                                   - pd.Timestamp("2025-02-19")).days
