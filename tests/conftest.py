"""Shared fixtures. Real data comes from ../shared/data/prices (or $COMPUTEFOLIO_DATA);
tests that need it skip with a clear reason where it is absent."""

from __future__ import annotations

import os

# yfinance talks through curl_cffi (C code the guard below cannot see) unless this is set
# before it is imported; with it, yfinance uses requests, which `responses` intercepts.
os.environ.setdefault("YF_DISABLE_CURL_CFFI", "1")

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


_OWN: set[str] | None = None


def _own_addresses() -> set[str]:
    """This machine's own addresses (a connection to them never leaves it): the hostname's
    entries in /etc/hosts and the address a UDP socket would send from (no packet is sent)."""
    global _OWN
    if _OWN is None:
        import socket

        own: set[str] = set()
        try:
            with open("/etc/hosts") as fh:
                for line in fh:
                    parts = line.split("#")[0].split()
                    if len(parts) > 1 and socket.gethostname() in parts[1:]:
                        own.add(parts[0])
        except OSError:
            pass
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect(("10.255.255.255", 1))
                own.add(s.getsockname()[0])
        except OSError:
            pass
        _OWN = own
    return _OWN


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Fail any test that opens a network connection beyond this machine: TCP connects and
    name lookups to non-loopback addresses raise, and the test fails even if the code under
    test swallowed the error. Loopback (127.0.0.0/8, ::1, localhost) keeps working for the
    service and Ray tests; UDP 'connects' (no packet leaves) are allowed."""
    import ipaddress
    import socket

    attempts: list[str] = []
    own = _own_addresses()

    def loopback(host) -> bool:
        if host in (None, "", "localhost", "localhost.localdomain", "ip6-localhost", socket.gethostname()) or host in own:
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return str(host).endswith(".localhost")

    real_connect, real_connect_ex, real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM \
                and isinstance(address, tuple) and not loopback(address[0]):
            attempts.append(f"connect to {address[0]}:{address[1]}")
            raise OSError(f"network access blocked in tests: connect to {address[0]}:{address[1]}")

    def connect(sock, address):
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if not loopback(host.decode() if isinstance(host, bytes) else host):
            attempts.append(f"name lookup of {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"network access blocked in tests: lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    if attempts:
        pytest.fail("test tried to reach the network: " + "; ".join(dict.fromkeys(attempts)), pytrace=False)


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
