"""A real Ray head on loopback: ``ray start --head`` in a temporary folder, a small sweep
against it by address, the same bits as the serial backend, and ``ray stop`` even on failure.

The head runs with 2 CPUs, no dashboard, usage statistics off, a 100 MB object store,
every server bound to 127.0.0.1 (``--node-ip-address=127.0.0.1`` and
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, without which Ray replaces 127.0.0.1 by the
host's address) and token authentication on with a fresh random token, which the driver
passes as ``RAY_AUTH_TOKEN``, as a client of a real cluster would. Skipped without Ray
(``pip install 'computefolio[ray]'``).

The head is stopped by signalling its own processes (found through the temporary folder
in their command lines), not by ``ray stop``, which ends every Ray process of the user:
on a shared machine that would stop other people's clusters and test runs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'computefolio[ray]'")

from computefolio.scale import load_grid, run_sweep  # noqa: E402
from computefolio.strategy import load_strategy  # noqa: E402

RAY = Path(sys.executable).parent / "ray"


def _env(token: str) -> dict:
    env = dict(os.environ)
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=token)
    env.pop("RAY_ADDRESS", None)
    return env


def _head_pids(tmp: str) -> set[int]:
    """Processes of the head started in ``tmp``: every process whose command line names the
    folder, and their descendants (Ray's agents rename themselves ``ray::...``)."""
    ppid, mine = {}, set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if tmp in cmd:
            mine.add(int(d.name))
    grew = True
    while grew:
        kids = {p for p, pp in ppid.items() if pp in mine and p not in mine}
        grew = bool(kids)
        mine |= kids
    mine.discard(os.getpid())
    return mine


def _stop_head(tmp: str, env: dict) -> None:
    """Stop exactly this head. ``ray stop`` would end every Ray process of the user -- on a
    shared machine, other people's clusters too -- so the head's own processes are
    signalled instead: SIGTERM, then SIGKILL for what is left after 15 s."""
    pids = _head_pids(tmp)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 15
        while pids and time.time() < deadline:
            pids = {p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _state(p)}
            time.sleep(0.2)
        if not pids:
            return


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.fixture
def ray_head():
    if not RAY.is_file():
        pytest.skip(f"no 'ray' command next to {sys.executable}")
    if sys.platform != "linux":
        pytest.skip("the head is stopped through /proc (Linux)")
    if ray.is_initialized():
        ray.shutdown()
    token = secrets.token_hex(16)
    env = _env(token)
    tmp = tempfile.mkdtemp(prefix="cfray")  # short: Ray's socket paths must stay under 107 characters
    try:
        # the daemons inherit stdout/stderr: a file, not a pipe, or the call would wait for them to exit
        with open(Path(tmp) / "ray_start.log", "w") as log:
            start = subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", "--port=0",
                                    "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                                    f"--object-store-memory={100 * 1024 * 1024}", f"--temp-dir={tmp}"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   timeout=180)
        assert start.returncode == 0, (Path(tmp) / "ray_start.log").read_text()[-3000:]
        addr_file = Path(tmp) / "ray_current_cluster"
        for _ in range(100):
            if addr_file.is_file() and addr_file.read_text().strip():
                break
            time.sleep(0.2)
        address = addr_file.read_text().strip()
        assert address.startswith("127.0.0.1:"), address
        yield address, token
    finally:
        _stop_head(tmp, env)
        leftover = _head_pids(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        assert not leftover, f"Ray head processes still running: {sorted(leftover)}"


def _listening_on_loopback_only(pids: set[int]) -> list[str]:
    """Listening TCP sockets of the head's processes that are not on 127.0.0.1 (from /proc)."""
    bad = []
    try:
        inodes = {}
        for pid in pids:
            fd_dir = Path(f"/proc/{pid}/fd")
            for fd in fd_dir.iterdir():
                try:
                    link = os.readlink(fd)
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes[link[8:-1]] = pid
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                local, state, inode = f[1], f[3], f[9]
                if state != "0A" or inode not in inodes:  # 0A = LISTEN
                    continue
                ip = local.split(":")[0]
                if ip not in ("0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"):
                    bad.append(f"pid {inodes[inode]} listens on {local}")
    except (OSError, PermissionError):  # pragma: no cover - no /proc: nothing to check
        return []
    return bad


def test_sweep_on_a_ray_head_by_address(ray_head, tmp_path):
    """``computefolio sweep ... --backend ray --address HOST:PORT`` as a client process of the head."""
    address, token = ray_head
    g = tmp_path / "grid.yaml"
    g.write_text(yaml.safe_dump({"axes": {"lookback": [63, 126]},
                                 "fixed": {"start": "2024-07-01", "end": "2024-12-31", "min_history": 63},
                                 "blocks": 4}, sort_keys=False))
    s, grid = load_strategy(), load_grid(g)
    env = _env(token)  # a client of a token-authenticated cluster needs RAY_AUTH_MODE=token and the token
    cli = Path(sys.executable).parent / "computefolio"
    r = subprocess.run([str(cli), "sweep", str(s.file), "--grid", str(g), "--backend", "ray", "--address", address,
                        "--out", str(tmp_path / "out"), "--no-progress"], env=env, capture_output=True, text=True,
                       timeout=600, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    folder = tmp_path / "out" / s.name / "sweep"
    js = json.loads((folder / "sweep.json").read_text())
    assert js["sweep"]["backend"] == "ray" and js["sweep"]["workers"] == 2 and js["sweep"]["finished"] == 2
    # every server of the head listens on loopback only (checked while it runs)
    tmp = next(p for p in Path(tempfile.gettempdir()).glob("cfray*") if (p / "ray_current_cluster").is_file()
               and (p / "ray_current_cluster").read_text().strip() == address)
    pids = _head_pids(str(tmp))
    assert pids and _listening_on_loopback_only(pids) == []
    # the same bits as the serial backend in this process
    serial = run_sweep(s, grid)
    got = pd.read_csv(folder / "returns.csv", index_col=0, parse_dates=True)
    assert list(got.columns) == list(serial.returns.columns)
    np.testing.assert_array_equal(got.to_numpy(), serial.returns.to_numpy())
    assert js["overfitting"]["dsr"]["dsr"] == serial.overfitting["dsr"]["dsr"]
