"""The reference pages of the input formats are generated from the models and current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _gen():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "scripts" / "gen_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def gen():
    return _gen()


@pytest.fixture(scope="module")
def pages(gen):
    return gen.pages()


def test_reference_pages_are_current(pages):
    assert {"strategy.md", "mandate.md", "holdings.md", "costs.md"} <= set(pages)
    stale = [n for n, text in pages.items()
             if not (ROOT / "docs" / "reference" / n).is_file()
             or (ROOT / "docs" / "reference" / n).read_text(encoding="utf-8") != text]
    assert not stale, f"run: python scripts/gen_reference.py (stale: {', '.join(stale)})"


def test_every_field_of_the_four_formats_is_on_its_page(pages):
    from computefolio.allocate.mandate import Mandate
    from computefolio.backtest.costs import CostModel
    from computefolio.holdings import HoldingsFile
    from computefolio.strategy import Strategy

    for page, root in (("strategy.md", Strategy), ("mandate.md", Mandate), ("costs.md", CostModel),
                       ("holdings.md", HoldingsFile)):
        text = pages[page]
        for name in root.model_fields:
            assert f"| `{name}` |" in text, (page, name)
    assert "| `min_variance` | `minvar` |" in pages["strategy.md"]


def test_meanings_table_names_fields_that_exist(gen):
    import computefolio.allocate.mandate as m
    import computefolio.backtest.costs as c
    import computefolio.strategy as s

    classes = {k: v for mod in (m, c, s) for k, v in vars(mod).items() if isinstance(v, type)}
    for (cls, field) in gen.MEANINGS:
        assert cls in classes and field in classes[cls].model_fields, (cls, field)
