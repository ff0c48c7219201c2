"""No command prints a traceback, whatever it is fed; errors are one line and exit 2.

Every command that reads a file is fed the mistakes a tired user makes (a binary file,
an empty file, a folder, a file that is not there, text in another encoding, a file of
the wrong kind) and every command is fed bad flags (unknown options, bad dates, numbers
out of range). The suite asserts that nothing prints ``Traceback``, that a refusal exits
non-zero, and that exit status 2 comes with exactly one ``error:`` line on stderr. A bug
(an exception nobody raised on purpose) goes through the last-resort handler: one line
naming a log file that holds the traceback, exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from computefolio.cli import app

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPUTEFOLIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "160")
    return tmp_path / "home"


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    d = tmp_path / "inputs"
    d.mkdir()
    files = {
        "binary.yaml": bytes(range(256)) * 4,
        "binary.csv": b"\x00\x01\x02" + bytes(range(128, 256)),
        "empty.yaml": b"",
        "empty.csv": b"",
        "latin1.yaml": "name: caf\u00e9\n".encode("latin-1"),
        "list.yaml": b"- a\n- b\n",
        "dupkeys.yaml": b"name: a\nname: b\n",
        "bomb.yaml": b"a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                     b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
                     b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e]\n",
        "garbage.csv": b"this is,not\na price,file\n\"unterminated\n",
        "markup.yaml": b"weights: {\"[/bold]\": 0.1, \"[red]x\": 0.2}\n",
        "nan.yaml": b"weights: {BTC: .nan}\n",
    }
    out = {}
    for name, content in files.items():
        (d / name).write_bytes(content)
        out[name] = d / name
    out["folder"] = d
    out["missing.yaml"] = d / "missing.yaml"
    return out


def _check(res, *, allow_ok: bool = False) -> None:
    out = res.output + (res.stderr if res.stderr_bytes is not None else "")
    assert "Traceback" not in out, out
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), repr(res.exception)
    if not allow_ok:
        assert res.exit_code != 0, out
    if res.exit_code == 2:
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error:")]
        assert len(errors) == 1, res.stderr
        assert "internal error" not in errors[0], errors[0]


FILE_COMMANDS = [
    ["run", "{f}", "--sample", "--no-progress", "--out", "{tmp}/out"],
    ["risk", "{f}", "--sample", "--no-dcc"],
    ["allocate", "--mandate", "{f}", "--sample"],
    ["allocate", "--current", "{f}", "--sample"],
    ["allocate", "--universe", "{f}", "--sample"],
    ["universe", "show", "--universe", "{f}"],
    ["data", "check", "{f}"],
    ["data", "import", "{f}"],
    ["data", "check", "--universe", "{f}", "{f}"],
    ["config", "check", "{f}"],
    ["sweep", "{f}", "--grid", "{f}", "--sample", "--no-progress", "--out", "{tmp}/out"],
    ["rebalance", "{f}", "--sample", "--out", "{tmp}/out"],
    ["book", "import", "{f}"],
    ["book", "fills", "{f}"],
    ["compliance", "check", "{f}", "--sample"],
]


@pytest.mark.parametrize("cmd", FILE_COMMANDS, ids=lambda c: " ".join(x for x in c if not x.startswith("{")))
def test_file_mistakes_never_print_a_traceback(home, tmp_path, bad_files, cmd):
    for name, path in bad_files.items():
        args = [a.replace("{f}", str(path)).replace("{tmp}", str(tmp_path)) for a in cmd]
        res = runner.invoke(app, args)
        _check(res)


FLAG_MISTAKES = [
    ["nosuch"],
    ["risk", "--nosuch"],
    ["risk", "x.csv", "--confidence", "1.5", "--sample"],
    ["risk", "x.csv", "--lookback", "1000000000000", "--sample"],
    ["risk", "x.csv", "--asof", "2024-13-45", "--sample"],
    ["allocate", "--method", "magic", "--sample"],
    ["allocate", "--lookback", "99999999999999", "--sample"],
    ["allocate", "--date", "yesterday", "--sample"],
    ["allocate", "--start", "not-a-date", "--sample"],
    ["allocate", "--vol-target", "nan", "--sample"],
    ["allocate", "--basis", "weekly", "--sample"],
    ["universe", "show", "--by", "colour"],
    ["universe", "show", "--date", "2024-02-30"],
    ["universe", "summary", "--start", "0001-01-01", "--sample"],
    ["data", "check", "--jump", "-5", "x.csv"],
    ["data", "check", "--stale-run", "0", "x.csv"],
    ["data", "check", "--json"],
    ["data", "check", "--json", "--priority", "a"],
    ["run", "--start", "2024-99-01", "--sample", "--no-progress"],
    ["run", "--end", "1800-01-01", "--sample", "--no-progress"],
    ["config", "check", "--kind", "recipe", "x.yaml"],
    ["book", "show", "--asof", "someday"],
    ["compliance", "log", "--since", "whenever"],
]


@pytest.mark.parametrize("args", FLAG_MISTAKES, ids=" ".join)
def test_flag_mistakes_are_one_line_usage_errors(home, tmp_path, args):
    res = runner.invoke(app, args)
    _check(res)


def test_json_to_a_data_file_is_refused_not_overwritten(home, tmp_path):
    price = tmp_path / "prices.csv"
    price.write_text("date,symbol,close\n2024-01-02,AAA,10\n2024-01-03,AAA,11\n")
    before = price.read_text()
    res = runner.invoke(app, ["data", "check", "--no-universe", "--json", str(price)])  # PATHS forgotten
    _check(res)
    assert price.read_text() == before


def test_a_bug_is_one_line_and_a_log(home, monkeypatch, tmp_path):
    import computefolio.references as refs

    def boom(*a, **k):
        return {}["no such key"]  # a bug: KeyError deep inside

    monkeypatch.setattr(refs, "load_checked", boom)
    res = runner.invoke(app, ["config", "check", str(tmp_path / "x.yaml")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: internal error (KeyError: 'no such key')"), lines
    log = Path(lines[0].split("details in ")[1].split(". Please")[0])
    assert log.is_file() and log.parent == home / "logs"
    text = log.read_text()
    assert "Traceback" in text and "boom" in text and "KeyError" in text


def test_error_messages_cannot_inject_markup_or_lines(home, tmp_path):
    p = tmp_path / "book.yaml"
    p.write_text('weights: {"[/bold] BTC": 0.1, "line\\nbreak": 0.2}\n')
    res = runner.invoke(app, ["risk", str(p), "--sample", "--no-dcc"])
    _check(res)
    assert "[/bold] BTC" in res.stderr


def test_json_to_stdout_is_clean_json(home, tmp_path):
    res = runner.invoke(app, ["config", "check", "--json", "-", str(tmp_path / "none.yaml")])
    assert res.exit_code == 2
    d = json.loads(res.stdout)
    assert d["refused"] == 1 and "file not found" in d["files"][0]["error"]
    res = runner.invoke(app, ["allocate", "--method", "ivol", "--sample", "--lookback", "60", "--json", "-"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["method"] == "inverse_vol" and abs(sum(d["weights"].values()) + d["cash"] - 1) < 1e-9
    assert "SAMPLE MARKET" not in res.stdout


def _leaves(c, path=()):
    subs = getattr(c, "commands", None)
    if subs:
        for n, s in subs.items():
            yield from _leaves(s, path + (n,))
    else:
        yield path, c


def test_every_command_answers_help_without_error(home):
    cmd = typer.main.get_command(app)
    for path, _ in _leaves(cmd):
        res = runner.invoke(app, [*path, "--help"])
        assert res.exit_code == 0 and "Traceback" not in res.output, (path, res.output)
