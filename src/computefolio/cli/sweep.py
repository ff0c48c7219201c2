"""``computefolio sweep STRATEGY.yaml --grid GRID.yaml``: every variant of a strategy, with overfitting statistics.

A thin layer over :func:`computefolio.scale.run_sweep`: loads the strategy and the grid
(:mod:`computefolio.scale.sweep` describes the grid file), runs each variant's full policy
backtest on the chosen backend with a progress bar across variants, prints the best
variants, the deflated Sharpe ratio and the probability of backtest overfitting, and
writes ``OUT/<strategy-name>/sweep/`` (``report.html``, ``sweep.json``, ``variants.csv``,
``returns.csv``, ``checkpoint/``). Finished variants are checkpointed: the same command
run again (after an interruption or a failure) runs only what is missing
(``--no-resume`` starts afresh). Exit status 0 when every variant finished, 1 when
some failed (their parameters and errors are listed), 2 for a bad input.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import typer

from ._common import app, console, err_console, guard


@app.command("sweep")
@guard
def sweep(
    strategy: Path = typer.Argument(..., help="Strategy YAML file (the base of every variant)."),
    grid: Path = typer.Option(..., "--grid", help="Grid YAML file: 'axes' (strategy field -> values), optional "
                                                  "'fixed', 'heatmap', 'metric', 'blocks', 'n_trials'."),
    backend: str = typer.Option("serial", "--backend", help="serial | processes | ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray only: a running cluster's head "
                                                                  "(host:port, or 'auto'); default: a private local "
                                                                  "Ray instance."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes (processes, local ray); "
                                                                  "default: CPU count."),
    data: Optional[Path] = typer.Option(None, "--data", help="Folder of long-format price files (overrides the "
                                                             "strategy's data source)."),
    sample: bool = typer.Option(False, "--sample", help="Use the built-in sample market (simulated)."),
    out: Path = typer.Option(Path("out"), "--out", help="Output root; files go to OUT/<strategy-name>/sweep/."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Reuse finished variants from the checkpoint."),
    top: int = typer.Option(10, "--top", help="Variants shown in the terminal."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run every variant of a strategy that a grid names; report metrics, heat maps, DSR and PBO."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..errors import ConfigError
    from ..scale import load_grid, make_executor, run_sweep
    from ..scale.outputs import write_sweep_outputs
    from ..strategy import load_strategy
    from .run import _override

    if data is not None and sample:
        raise typer.BadParameter("give at most one of --data, --sample")
    if top < 0:
        raise ConfigError(None, "--top", f"a number of variants >= 0, got {top}")
    s = _override(load_strategy(strategy), sample=sample)
    g = load_grid(grid)
    folder = Path(out) / s.name / "sweep"
    ck = folder / "checkpoint"
    if not resume and ck.exists():
        shutil.rmtree(ck)
    ex = make_executor(backend, workers=workers, address=address).start()  # a bad --address fails here
    failed = 0
    with ex, Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), console=err_console, disable=not progress, transient=False) as bar:
        tid = bar.add_task(f"variants on {backend}", total=None, info="loading data")
        state = {"failed": 0, "cached": 0}

        def on_start(n):
            bar.update(tid, total=n, info="")

        def on_result(r):
            state["failed"] += not r.ok
            state["cached"] += r.cached
            bar.update(tid, advance=1, info=f"{state['failed']} failed, {state['cached']} from checkpoint")

        res = run_sweep(s, g, grid_file=str(grid), data=data, executor=ex, checkpoint=ck, on_result=on_result,
                        on_start=on_start)
    files = write_sweep_outputs(res, folder)
    failed = len(res.failures)
    _print(res, files, top)
    if failed:
        raise typer.Exit(code=1)


def _print(res, files, top: int) -> None:
    from rich.table import Table

    from ..report.tables import fmt, unit_label
    from ..scale.outputs import sweep_results
    from ..scale.sweep import METRICS

    r = sweep_results(res)
    sw, rob = r["sweep"], r["robustness"]
    if sw["simulated"]:
        console.print("[bold white on red] SAMPLE MARKET (SIMULATED) [/] none of these numbers describe real assets.")
    nw = sw["workers"]
    console.print(f"[bold]{r['strategy']['name']}[/]: {sw['variants']} variants, {sw['finished']} finished, "
                  f"{sw['failed']} failed, {sw['from_checkpoint']} from checkpoint; {sw['start']} to {sw['end']}, "
                  f"{sw['basis_label']}; backend {sw['backend']} ({nw} worker{'s' if nw != 1 else ''}), "
                  f"{sw['elapsed_s']:.1f} s", highlight=False)
    if sw.get("end_reason"):
        console.print(f"  [dim]{sw['end_reason']}[/]", highlight=False)
    vt = r["variants"]
    ok_rows = [x for x in vt["rows"] if x.get("status") == "ok"]
    t = Table(title=f"Best {min(top, len(ok_rows))} of {len(ok_rows)} finished variants by "
                    f"{METRICS[sw['metric']][0]}", show_lines=False)
    keep = {"id", *res.grid.axes, "sharpe", "cagr", "volatility", "max_drawdown", "annual_turnover"}
    cols = [c for c in vt["columns"] if c["key"] in keep]
    for c in cols:
        u = unit_label(c["unit"])
        t.add_column(c["label"] + (f" ({u})" if u else ""), justify="left" if c["unit"] == "text" else "right",
                     overflow="fold")
    for row in ok_rows[:top]:
        t.add_row(*[fmt(row.get(c["key"]), c["unit"]) for c in cols])
    if top:
        console.print(t)
    for row in rob.get("table", {}).get("rows", []):
        console.print(f"  {row['statistic']}: [bold]{row['value']}[/]")
    for n in rob.get("notes", []):
        console.print(f"  [dim]note: {n}[/]")
    for f in r["failures"]["rows"]:
        console.print(f"[red]failed[/] {f['id']} ({f['params']}): {f['error']}", highlight=False, soft_wrap=True)
    for name, p in files.items():
        console.print(f"  {name}: {p}")
