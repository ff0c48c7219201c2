"""Deflated Sharpe ratio and PBO by CSCV against the papers' formulas and planted cases.

* DSR: the numerical example of Bailey & López de Prado (2014), section "A numerical
  example": annualized SR 2.5 over T = 1,250 daily returns (250 a year), skew -3,
  kurtosis 10, N = 100 trials whose annualized Sharpe ratios have variance 0.5. The
  paper gives an expected maximum SR of 0.1132 per day and DSR 0.9004; the formula is
  recomputed here by hand (closed form, tolerance 1e-12) and against the paper's
  rounded figures (tolerance 1e-4).
* PBO: near 1 when every variant has the same full-sample performance (demeaned
  noise: a good in-sample half means a bad out-of-sample half), near 0.5 for
  independent noise strategies (the in-sample winner is a random pick), near 0 when
  one variant has a real edge planted; and the CSCV bookkeeping (splits, blocks,
  ranks) on a tiny case checked by brute force.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from computefolio.overfitting import (EULER_GAMMA, deflated_sharpe_ratio, expected_max_sharpe, pbo_cscv,
                                      probabilistic_sharpe_ratio, sharpe_per_period)


def test_paper_numerical_example():
    sr = 2.5 / math.sqrt(250)  # per day
    var = 0.5 / 250  # variance of per-day Sharpe ratios
    n, t, g3, g4 = 100, 1250, -3.0, 10.0
    # by hand, the paper's two equations
    emax = math.sqrt(var) * ((1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / n)
                             + EULER_GAMMA * stats.norm.ppf(1 - 1 / (n * math.e)))
    z = (sr - emax) * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2)
    assert expected_max_sharpe(var, n) == pytest.approx(emax, abs=1e-12)
    assert probabilistic_sharpe_ratio(sr, emax, t, g3, g4) == pytest.approx(stats.norm.cdf(z), abs=1e-12)
    # the paper's printed figures
    assert expected_max_sharpe(var, n) == pytest.approx(0.1132, abs=1e-4)
    assert probabilistic_sharpe_ratio(sr, emax, t, g3, g4) == pytest.approx(0.9004, abs=1e-4)


def test_expected_max_sharpe_edges():
    assert expected_max_sharpe(0.01, 1) == 0.0
    assert expected_max_sharpe(0.0, 50) == 0.0
    # grows with the number of trials
    assert expected_max_sharpe(0.01, 10) < expected_max_sharpe(0.01, 100) < expected_max_sharpe(0.01, 1000)
    with pytest.raises(ValueError):
        expected_max_sharpe(-1.0, 3)


def test_deflated_sharpe_on_a_matrix_uses_stated_conventions():
    rng = np.random.default_rng(3)
    r = rng.standard_t(5, size=(1000, 20)) * 0.01 + 0.0002
    r[:, 7] += 0.001
    out = deflated_sharpe_ratio(r)
    sr = r.mean(0) / r.std(0, ddof=1)
    assert out.best == 7 == int(np.argmax(sr))
    assert out.sharpe == pytest.approx(sr[7], rel=1e-12)
    assert out.variance == pytest.approx(np.var(sr, ddof=1), rel=1e-12)
    g3 = stats.skew(r[:, 7], bias=True)
    g4 = stats.kurtosis(r[:, 7], fisher=False, bias=True)
    thr = expected_max_sharpe(np.var(sr, ddof=1), 20)
    assert out.dsr == pytest.approx(probabilistic_sharpe_ratio(sr[7], thr, 1000, g3, g4), abs=1e-12)
    assert out.psr_zero > out.dsr  # deflation lowers it
    # more trials claimed -> a higher bar -> lower DSR
    assert deflated_sharpe_ratio(r, n_trials=1000).dsr < out.dsr


def test_dsr_low_for_best_of_noise_high_for_real_edge():
    rng = np.random.default_rng(11)
    noise = rng.normal(0, 0.01, size=(1500, 200))
    assert deflated_sharpe_ratio(noise).dsr < 0.5
    edge = noise.copy()
    edge[:, 0] = rng.normal(0.0015, 0.01, 1500)  # ~2.4 annualized
    d = deflated_sharpe_ratio(edge)
    assert d.best == 0 and d.dsr > 0.95


def test_pbo_demeaned_noise_near_one():
    rng = np.random.default_rng(5)
    r = rng.normal(0, 0.01, size=(1600, 50))
    r -= r.mean(axis=0)  # every variant has the same (zero) full-sample mean
    res = pbo_cscv(r, blocks=16)
    assert res.splits == 12870 and res.blocks == 16 and res.trials == 50
    assert res.pbo > 0.9
    assert res.degradation_slope < 0


def test_pbo_independent_noise_near_half():
    vals = []
    for seed in range(6):
        r = np.random.default_rng(100 + seed).normal(0, 0.01, size=(1200, 40))
        vals.append(pbo_cscv(r, blocks=10).pbo)
    assert 0.3 < float(np.mean(vals)) < 0.7


def test_pbo_planted_edge_near_zero():
    rng = np.random.default_rng(9)
    r = rng.normal(0, 0.01, size=(1600, 50))
    r[:, 13] += 0.002  # a real edge in one variant
    res = pbo_cscv(r, blocks=16)
    assert res.pbo < 0.05
    assert res.prob_oos_loss < 0.05


def test_pbo_bookkeeping_by_brute_force():
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, size=(43, 5))  # 43 = 6 * 7 + 1: the oldest period is dropped
    res = pbo_cscv(r, blocks=6)
    a = r[1:]
    blocks = np.split(a, 6)
    lam = []
    for c in combinations(range(6), 3):
        ins = np.vstack([blocks[i] for i in c])
        oos = np.vstack([blocks[i] for i in range(6) if i not in c])
        best = int(np.argmax(sharpe_per_period(ins)))
        rank = stats.rankdata(sharpe_per_period(oos))[best]
        w = rank / 6
        lam.append(math.log(w / (1 - w)))
    assert res.splits == 20 and res.periods == 42
    np.testing.assert_allclose(res.logits, lam, rtol=1e-9, atol=1e-12)
    assert res.pbo == pytest.approx(np.mean(np.array(lam) <= 0))


def test_pbo_errors():
    with pytest.raises(ValueError, match="even"):
        pbo_cscv(np.zeros((100, 3)), blocks=5)
    with pytest.raises(ValueError, match="at least 2 variants"):
        pbo_cscv(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="NaN"):
        pbo_cscv(np.full((100, 3), np.nan))
    with pytest.raises(ValueError, match="too few"):
        pbo_cscv(np.zeros((10, 3)), blocks=16)
