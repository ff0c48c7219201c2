"""Configuration errors name the file, the item and the field in one line."""

from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict

from computefolio.config import load_yaml_model
from computefolio.errors import ConfigError


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    weight: float
    kind: Literal["a", "b"] = "a"


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item]


def test_error_names_file_item_and_field(tmp_path):
    p = tmp_path / "doc.yaml"
    p.write_text("items:\n  - {name: first, weight: 1}\n  - {name: second, weight: heavy}\n")
    with pytest.raises(ConfigError) as e:
        load_yaml_model(p, Doc)
    msg = str(e.value)
    assert "doc.yaml" in msg and "item second" in msg and "'weight'" in msg
    assert "\n" not in msg


def test_unknown_field_and_missing_file(tmp_path):
    p = tmp_path / "doc.yaml"
    p.write_text("items:\n  - {name: x, weight: 1, wieght: 2}\n")
    with pytest.raises(ConfigError, match="wieght.*not a known field"):
        load_yaml_model(p, Doc)
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml_model(tmp_path / "nope.yaml", Doc)
