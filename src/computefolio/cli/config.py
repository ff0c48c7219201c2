"""``computefolio config check FILE...``: load input files as a run would, or refuse them in one line.

Each file (strategy, mandate, costs, universe, scenarios or holdings; the kind is
told by ``--kind`` or detected from the file) goes through the same reader and checks
as every other command (:func:`computefolio.references.load_checked`): a file that
loads prints what it holds; a file that does not prints one line naming the file, the
line and the field. Exit status 0 when every file loads, 2 otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..errors import ComputefolioError
from ._common import app, console, emit_json, json_option, report_error

config_app = typer.Typer(help="Check configuration and input files before a run.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def _describe(kind: str, obj) -> str:
    if kind == "strategy":
        return (f"strategy {obj.name}: {len(obj.budgets)} {obj.budget_by} budgets ({obj.budget_kind}), "
                f"allocator {obj.allocator.method}, capital {obj.capital:,.0f} {obj.currency}, "
                f"mandate {obj.mandate or 'none'}, costs {obj.costs or 'none'}")
    if kind == "mandate":
        return f"mandate {obj.name}: {len(obj.groups)} group rules, {len(obj.assets.overrides)} asset overrides, " \
               f"{len(obj.restricted)} restricted"
    if kind == "costs":
        return f"costs: {len(obj.venues)} venues, {len(obj.assets)} asset overrides, impact_k {obj.impact_k:g}"
    if kind == "universe":
        return f"universe {obj.name}: {len(obj)} assets, {len(obj.sleeves)} sleeves, {len(obj.layers)} layers, " \
               f"{len(obj.themes)} themes"
    if kind == "scenarios":
        n_h = sum(1 for s in obj if s.kind == "historical")
        return f"scenarios: {n_h} historical, {len(obj) - n_h} hypothetical"
    return f"holdings: {len(obj.book)} positions as {obj.kind}s"


def _content(kind: str, obj):
    if kind == "scenarios":
        return [s.model_dump(mode="json") for s in obj]
    if kind == "holdings":
        return {"kind": obj.kind, "book": obj.book.to_dict()}
    return obj.model_dump(mode="json")


@config_app.command("check")
def check(
    files: list[Path] = typer.Argument(..., help="Input files to check."),
    kind: Optional[str] = typer.Option(None, "--kind", help="strategy, mandate, costs, universe, scenarios or "
                                                            "holdings (default: told from the file)."),
    universe: Optional[Path] = typer.Option(None, "--universe", "-u", help="Universe the names of mandate, cost, "
                                                                           "scenario and holdings files must exist "
                                                                           "in (default: the shipped one)."),
    json_out: Optional[str] = json_option("Write what each file holds (or why it was refused) as JSON to PATH "
                                          "('-' for stdout)."),
) -> None:
    """Load each file with every check a run makes; exit 2 when one is refused."""
    from ..references import KINDS, load_checked

    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}; got {kind!r}")
    u = None
    if universe is not None:
        from ..universe import load_universe

        u = load_universe(universe)
    results, failed = [], 0
    for f in files:
        try:
            k, obj = load_checked(f, kind, u)
        except ComputefolioError as exc:
            failed += 1
            report_error(exc)
            results.append({"file": str(f), "ok": False, "error": str(exc)})
            continue
        results.append({"file": str(f), "ok": True, "kind": k, "content": _content(k, obj)})
        if json_out != "-":
            console.print(f"[green]ok[/] {escape(str(f))}: {escape(_describe(k, obj))}", highlight=False,
                          soft_wrap=True)
    emit_json({"files": results, "refused": failed}, json_out, what="check results")
    if failed:
        raise typer.Exit(code=2)
