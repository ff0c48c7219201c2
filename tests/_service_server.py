"""A live ``computefolio serve`` for the service tests: a store with the demo book on the
sample market, users made through ``computefolio users``, the server started as a
subprocess on a free port of 127.0.0.1 and stopped (or killed) by the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PASSWORD = "correct horse battery staple"
#: user -> role of the test users
USERS = {"pia": "pm", "paul": "pm", "rita": "risk", "vic": "viewer", "ada": "admin"}


#: ``computefolio`` of this interpreter.
CMD = [sys.executable, "-c", "from computefolio.cli import main; main()"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args, stdin: str | None = None, env=None, timeout=120) -> subprocess.CompletedProcess:
    """``computefolio ARGS`` in a subprocess (the installed console entry point's module)."""
    env = env or {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*CMD, *map(str, args)], input=stdin, capture_output=True, text=True, timeout=timeout,
                          env=env)


def make_store(folder: Path) -> Path:
    """A store with the demo book (bought 2025-10-01 on the sample market) and the test users."""
    from computefolio.data.load import load_market
    from computefolio.service.demo import seed_demo
    from computefolio.universe import load_universe

    store = folder / "store.duckdb"
    u = load_universe()
    seed_demo(store, load_market(u, source="sample"), u, users=False)
    for name, role in USERS.items():
        r = cli("users", "add", name, "--role", role, "--password-stdin", "--store", store, stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
    return store


def strict_policy(folder: Path) -> Path:
    """The shipped compliance policy with orders above 2% of NAV blocked (instead of 10%),
    so that a rebalance of the demo book has blocks to override."""
    from computefolio.compliance.policy import load_policy  # noqa: F401 - the shipped file's location
    from computefolio.strategy import resources_dir

    text = (resources_dir() / "compliance_default.yaml").read_text()
    assert "fraction_of_nav: 0.10" in text
    p = folder / "policy_strict.yaml"
    p.write_text(text.replace("fraction_of_nav: 0.10", "fraction_of_nav: 0.02"))
    return p


def token(store: Path, user: str, *scopes: str) -> str:
    args = ["users", "token", user, "--store", store, "--label", "test"]
    for s in scopes:
        args += ["--scope", s]
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


@dataclass
class Server:
    """A running ``computefolio serve``."""

    store: Path
    port: int
    proc: subprocess.Popen
    log: Path
    tokens: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self, user: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start(store: Path, folder: Path, *extra, wait_s: float = 90.0) -> Server:
    """Start ``computefolio serve --sample`` on a free loopback port and wait for /healthz."""
    import httpx

    port = free_port()
    log = folder / f"serve-{port}.log"
    fh = open(log, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([*CMD, "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--store", str(store), "--sample", "--runs", str(folder / "runs"), *extra],
                            stdout=fh, stderr=subprocess.STDOUT, env=os.environ.copy())
    srv = Server(store, port, proc, log)
    t0 = time.monotonic()
    while time.monotonic() - t0 < wait_s:
        if proc.poll() is not None:
            pytest.fail(f"computefolio serve exited {proc.returncode}: {srv.output()[-2000:]}")
        try:
            if httpx.get(srv.url + "/healthz", timeout=2).status_code == 200:
                return srv
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    srv.stop()
    pytest.fail(f"computefolio serve did not answer within {wait_s:.0f} s: {srv.output()[-2000:]}")


def service_or_skip():
    for mod in ("fastapi", "uvicorn", "argon2", "httpx", "sse_starlette", "multipart"):
        pytest.importorskip(mod, reason="the service extra is not installed (pip install -e '.[service,test]')")
