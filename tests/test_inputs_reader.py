"""The one YAML reader: what it refuses, in one line naming the file and the line."""

from __future__ import annotations

import datetime as dt
import tracemalloc

import pytest
from pydantic import BaseModel, ConfigDict

from computefolio.config import (MAX_FILE_BYTES, check_values, load_yaml_model, parse_yaml, read_text, read_yaml,
                                 read_yaml_doc)
from computefolio.errors import ConfigError


def refused(text: str | bytes, tmp_path, *, aliases=False, name="f.yaml") -> ConfigError:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(ConfigError) as e:
        read_yaml(p, aliases=aliases)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg, msg
    return e.value


def test_clean_file_reads_with_lines(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("name: x\nitems:\n  - {a: 1}\n  - b: 2\n    c: [1, 2]\nwhen: 2024-01-02\n")
    doc = read_yaml_doc(p)
    assert doc.data == {"name": "x", "items": [{"a": 1}, {"b": 2, "c": [1, 2]}], "when": dt.date(2024, 1, 2)}
    assert doc.line(("name",)) == 1 and doc.line(("items", 1, "c")) == 5 and doc.line(("when",)) == 6
    assert doc.line(("items", 1, "c", 0, "deeper")) == 5  # deepest known prefix


def test_bom_and_crlf_are_fine(tmp_path):
    p = tmp_path / "bom.yaml"
    p.write_bytes(b"\xef\xbb\xbfa: 1\r\nb: two\r\n")
    assert read_yaml(p) == {"a": 1, "b": "two"}


@pytest.mark.parametrize("content, words, line", [
    (b"a: 1\nb: \xff\xfe\n", "not UTF-8", 2),
    (b"a: 1\n\x00\x01\x02binary", "control character", 2),
    ("a: 1\nb: caf\u00e9\n".encode("latin-1"), "not UTF-8", 2),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8", 1),
])
def test_binary_and_non_utf8_refused_with_line(tmp_path, content, words, line):
    e = refused(content, tmp_path)
    assert words in str(e) and e.line == line


def test_missing_folder_and_oversized(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        read_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="folder"):
        read_yaml(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (MAX_FILE_BYTES + 10) + b"\n")
    with pytest.raises(ConfigError, match="at most 4,194,304 bytes"):
        read_yaml(big)


@pytest.mark.parametrize("text, words, line", [
    ("a: 1\nb: 2\na: 3\n", "'a' is given twice", 3),
    ("top:\n  sleeve: x\n  other: 1\n  sleeve: y\n", "'sleeve' is given twice in this mapping (first on line 2)", 4),
    ("a: {k: 1, k: 1}\n", "'k' is given twice", 1),
    ("NO: 1\n", "quotes", 1),
    ("on: 1\n", "quotes", 1),
    ("~: 1\n", "a key", 1),
    ("x: 012\n", "octal", 1),
    ("x: 1:30\n", "base-60", 1),
    ("x: .inf\n", "finite", 1),
    ("x: -.Inf\n", "finite", 1),
    ("x: .nan\n", "finite", 1),
    ("x: 1.0e+999\n", "finite", 1),
    ("a: 1\n---\nb: 2\n", "valid YAML", 2),
    ("a: [1, 2\n", "valid YAML", 2),
    ("d: 2021-02-30\n", "a valid date", 1),
    ("x: " + "9" * 5000 + "\n", "a valid integer", 1),
    ("x: !!binary aGVsbG8=\n", "!!binary", 1),
    ("x: !!python/object:os.system ls\n", "valid YAML", 1),
    ("x: " + "[" * 40 + "]" * 40 + "\n", "nested at most", 1),
])
def test_refused_in_one_line_with_line_number(tmp_path, text, words, line):
    e = refused(text, tmp_path)
    assert words in str(e), str(e)
    assert e.line == line, str(e)


def test_quoted_values_are_what_they_say(tmp_path):
    p = tmp_path / "q.yaml"
    p.write_text("'NO': 1\nx: '012'\ny: '1:30'\nz: 'nan'\nlist: [NO, 'ON']\n")
    assert read_yaml(p) == {"NO": 1, "x": "012", "y": "1:30", "z": "nan", "list": [False, "ON"]}


def test_aliases_refused_where_a_file_has_no_use_for_them(tmp_path):
    e = refused("a: &x {method: erc}\nb: *x\n", tmp_path)
    assert "no aliases" in str(e) and e.line == 2


def test_aliases_allowed_and_bounded(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("base: &b {x: 1, y: [1, 2]}\nother: *b\nmerged:\n  <<: *b\n  z: 3\n")
    assert read_yaml(p, aliases=True) == {"base": {"x": 1, "y": [1, 2]}, "other": {"x": 1, "y": [1, 2]},
                                          "merged": {"x": 1, "y": [1, 2], "z": 3}}
    e = refused("a: &a [*a]\n", tmp_path, aliases=True)
    assert "recursive" in str(e)
    many = "a: &a 1\nb: [" + ", ".join(["*a"] * 300) + "]\n"
    assert "at most 200 alias uses" in str(refused(many, tmp_path, aliases=True))


def test_alias_bomb_refused_before_it_is_built(tmp_path):
    # a 1 KB file that expands to 10^9 values (the bomb had one level fewer)
    parts = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for k in range(1, 9):
        parts.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]")
    text = "allocator:\n  method: erc\n  " + "\n  ".join(parts) + "\n"
    assert len(text) < 1100
    tracemalloc.start()
    try:
        e = refused(text, tmp_path, aliases=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "aliases that add at most 10,000 values once expanded; these add 1,234,567,880" in str(e)
    assert peak < 8 * 2 ** 20
    assert "no aliases" in str(refused(text, tmp_path, aliases=False))


def test_read_text_is_the_same_guard_for_csv(tmp_path):
    p = tmp_path / "h.csv"
    p.write_bytes(b"symbol,weight\nBTC,\x00\x00\n")
    with pytest.raises(ConfigError, match="control character"):
        read_text(p, what="a UTF-8 CSV file")


class Leaf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: float = 0.0
    when: dt.date | None = None
    n: int = 0


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    leaves: list[Leaf] = []
    table: dict[str, float] = {}


@pytest.mark.parametrize("body, field, words", [
    ("name: a\nleaves:\n  - {x: nan}\n", "x", "a finite number"),
    ("name: a\nleaves:\n  - {x: '1e300'}\n", "x", "at most 1e+15"),
    ("name: a\ntable: {k: inf}\n", "table.k", "a finite number"),
    ("name: a\nleaves:\n  - {when: 1850-01-01}\n", "when", "a date from 1900-01-01"),
    ("name: a\nleaves:\n  - {n: 100000000000000000000}\n", "n", "2^53"),
])
def test_values_checked_after_validation(tmp_path, body, field, words):
    p = tmp_path / "d.yaml"
    p.write_text(body)
    with pytest.raises(ConfigError) as e:
        load_yaml_model(p, Doc)
    msg = str(e.value)
    assert f"field '{field}'" in msg and words in msg and e.value.line is not None, msg


def test_pydantic_errors_name_the_line(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("name: a\nleaves:\n  - {x: 1}\n  - x: 2\n    n: many\n")
    with pytest.raises(ConfigError) as e:
        load_yaml_model(p, Doc)
    assert e.value.line == 5 and "field 'n'" in str(e.value) and f"{p}, line 5:" in str(e.value)


def test_top_level_must_be_a_mapping(tmp_path):
    for text in ("- a\n- b\n", "text\n", "", "# only a comment\n"):
        p = tmp_path / "t.yaml"
        p.write_text(text)
        with pytest.raises(ConfigError, match="mapping"):
            load_yaml_model(p, Doc)


def test_names_with_line_breaks_stay_on_one_line(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text('name: a\ntable: {"bad\\nkey": nan}\n')
    with pytest.raises(ConfigError) as e:
        load_yaml_model(p, Doc)
    assert "\n" not in str(e.value) and "\\n" in str(e.value)


def test_same_content_loads_once(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("name: a\n")
    a, b = load_yaml_model(p, Doc), load_yaml_model(p, Doc)
    assert a is b
    p.write_text("name: b\n")
    assert load_yaml_model(p, Doc).name == "b"


def test_check_values_on_a_model():
    with pytest.raises(ConfigError, match="finite"):
        check_values(Doc(name="a", table={"k": float("inf")}), None, "mem")
    check_values(Doc(name="a", table={"k": 1.0}), None, "mem")


def test_parse_yaml_in_memory():
    assert parse_yaml("a: 1\n").data == {"a": 1}
    with pytest.raises(ConfigError, match="given twice"):
        parse_yaml("a: 1\na: 1\n", "mem.yaml")
