"""A run's manifest identifies its configuration: the same policy built twice hashes the same."""

import numpy as np
import pandas as pd

from computefolio.allocate import RiskParity
from computefolio.backtest import Calendar, Policy, backtest
from computefolio.risk import EWMACovariance, LedoitWolfCovariance


def _prices(seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2022-01-03", periods=300)
    return pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0, 0.01, (300, 4)), 0)), index=idx,
                        columns=list("ABCD"))


def test_config_hash_is_the_same_for_the_same_policy():
    p = _prices()
    hashes = set()
    for _ in range(2):  # new estimator objects each time: their repr must not carry an address
        pol = Policy(RiskParity(covariance=EWMACovariance(halflife=21)), Calendar("monthly"), lookback=60)
        hashes.add(backtest(pol, p).manifest["config_hash"])
    assert len(hashes) == 1
    other = Policy(RiskParity(covariance=LedoitWolfCovariance()), Calendar("monthly"), lookback=60)
    assert backtest(other, p).manifest["config_hash"] not in hashes


def test_estimator_repr_states_its_parameters():
    assert repr(EWMACovariance(halflife=21)).startswith("EWMACovariance(halflife=21")
    assert " at 0x" not in repr(RiskParity(covariance=LedoitWolfCovariance()))
