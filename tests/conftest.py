"""Shared fixtures. Real data comes from ../shared/data/prices (or $COMPUTEFOLIO_DATA);
tests that need it skip with a clear reason where it is absent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from computefolio.data.sources import load_folder, shared_prices_dir
from computefolio.universe import load_universe

SKIP_REASON = "real price data not found: set COMPUTEFOLIO_DATA or place shared/data/prices beside the checkout"


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory):
    """No test reads or writes the user's ~/.computefolio store: COMPUTEFOLIO_HOME points at
    an empty temporary folder for the whole session (tests may override it)."""
    import os

    old = os.environ.get("COMPUTEFOLIO_HOME")
    os.environ["COMPUTEFOLIO_HOME"] = str(tmp_path_factory.mktemp("computefolio_home"))
    yield
    if old is None:
        os.environ.pop("COMPUTEFOLIO_HOME", None)
    else:
        os.environ["COMPUTEFOLIO_HOME"] = old


@pytest.fixture(scope="session")
def shared_dir():
    d = shared_prices_dir()
    if d is None:
        pytest.skip(SKIP_REASON)
    return d


@pytest.fixture(scope="session")
def universe():
    return load_universe()


@pytest.fixture(scope="session")
def real_market(shared_dir, universe):
    """Every universe symbol from the primary sources, trimmed to the universe's listed dates."""
    return load_folder(shared_dir, universe.calendars, listed=universe.listing_dates())


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def make_returns(n_days: int = 500, n_assets: int = 8, seed: int = 0) -> pd.DataFrame:
    """Synthetic daily returns with a factor structure (for tests that need no real data)."""
    r = np.random.default_rng(seed)
    f = r.standard_normal((n_days, 2)) * 0.01
    load = r.uniform(0.2, 1.5, (2, n_assets))
    eps = r.standard_normal((n_days, n_assets)) * r.uniform(0.005, 0.03, n_assets)
    idx = pd.bdate_range("2020-01-01", periods=n_days)
    df = pd.DataFrame(f @ load + eps, index=idx, columns=[f"A{i}" for i in range(n_assets)])
    df.attrs["basis"] = "session"
    df.attrs["periods_per_year"] = 252
    return df
