"""``computefolio serve`` and ``users`` given the mistakes a tired user makes: one line, exit 2,
no traceback, nothing created where nothing was asked for."""

from __future__ import annotations

import pytest

from _service_server import cli, service_or_skip

service_or_skip()


@pytest.mark.parametrize("args,words", [
    (["--port", "0"], "--port: 1 to 65535"),
    (["--data", "/no/such/folder"], "no such file or folder"),
    (["--data", "x", "--sample"], "at most one of --data and --sample"),
    (["--store", "{csv}", "--sample"], "not a DuckDB store file"),
    (["--store", "{empty}"], "holds no prices"),
    (["--strategy", "/no/such.yaml", "--sample"], "file not found"),
])
def test_serve_refuses_in_one_line(tmp_path, args, words):
    (tmp_path / "book.csv").write_text("a,b\n1,2\n")
    args = [a.format(csv=tmp_path / "book.csv", empty=tmp_path / "empty.duckdb") for a in args]
    r = cli("serve", "--port", "1", *args, timeout=120) if "--port" not in args else cli("serve", *args, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out[-2000:]
    assert words in out and "Traceback" not in out and len(out.strip().splitlines()) <= 3, out
    assert (tmp_path / "book.csv").read_text() == "a,b\n1,2\n"


def test_users_on_a_missing_store(tmp_path):
    r = cli("users", "list", "--store", tmp_path / "none.duckdb")
    assert r.returncode == 2 and "no store" in r.stderr and not (tmp_path / "none.duckdb").exists()
    r = cli("users", "token", "--store", tmp_path / "none.duckdb")
    assert r.returncode == 2 and "Traceback" not in r.stderr
