"""What a run shows in the terminal: progress over its steps and the closing summary."""

from __future__ import annotations

import time
from contextlib import contextmanager


class Steps:
    """Rich progress over the steps of a run (a no-op without ``progress``)."""

    def __init__(self, enabled: bool, console=None, total: int = 7):
        self.enabled = enabled
        self.timings: dict[str, float] = {}
        self._p = None
        if enabled:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._p = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                               console=console, transient=False)
            self._task = self._p.add_task("computefolio run", total=total)

    def __enter__(self):
        if self._p is not None:
            self._p.__enter__()
        return self

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.__exit__(*exc)

    @contextmanager
    def step(self, name: str):
        t0 = time.perf_counter()
        if self._p is not None:
            self._p.update(self._task, description=name)
        yield self
        self.timings[name] = time.perf_counter() - t0
        if self._p is not None:
            self._p.advance(self._task)

    def sub(self, name: str, total: int):
        """A nested bar for a long loop; returns a callable ``advance(n=1)``.

        ``total`` is an estimate (scheduled rebalances); drift-band refits can exceed it,
        and the bar's total then grows with the count instead of showing "81/72".
        """
        if self._p is None:
            return lambda n=1: None
        tid = self._p.add_task(f"  {name}", total=total)
        done = [0]

        def advance(n: int = 1) -> None:
            done[0] += n
            self._p.update(tid, completed=done[0], total=max(total, done[0]))

        return advance


def print_summary(res, console, *, layer_table: bool = False) -> None:
    """Terminal summary: headline metrics, risk, stress, and where the files are."""
    from rich.table import Table

    r = res.results
    if r.get("data", {}).get("simulated"):
        console.print("[bold white on red] SAMPLE MARKET (SIMULATED) [/] every price in this run comes from the built-in sample market; no number below describes real assets or real performance.")
    if layer_table and r.get("layer_summary"):
        console.print(_rich_table(r["layer_summary"], Table))
    if r.get("headline"):
        console.print(_rich_table(r["headline"], Table, skip=("sortino", "max_drawdown_days", "calmar", "beta",
                                                              "correlation")))
    if r.get("budgets"):
        console.print(_rich_table(r["budgets"], Table))
    cons = r.get("construction") or {}
    if cons.get("fits"):
        style = "bold" if not cons.get("missed") else "yellow"
        console.print(f"[{style}]{cons['title']}[/]" + (f"; the others bound by {cons['binding_summary']}"
                                                        if cons.get("missed") else ""), highlight=False)
    if r.get("var_es"):
        console.print(_rich_table(r["var_es"], Table))
    st = r.get("stress") or {}
    for key in ("historical", "hypothetical"):
        if st.get(key):
            console.print(_rich_table(st[key], Table, max_rows=12))
    mt = r.get("mandate")
    if mt and mt.get("rows"):
        broken = [row for row in mt["rows"] if row.get("status") == "breach"]
        if broken:
            console.print(_rich_table({**mt, "rows": broken}, Table, skip=()))
        else:
            console.print(f"[bold]{mt['title']}[/]", highlight=False)
    mt2 = r.get("mandate_through_time") or {}
    if mt2.get("title"):
        style = "bold red" if mt2.get("failed") else ("yellow" if mt2.get("active_rebalances") else "bold")
        console.print(f"[{style}]{mt2['title']}[/]", highlight=False)
        act = (mt2.get("active") or {}).get("rows") or []
        if act:
            console.print(_rich_table({**mt2["active"], "rows": act}, Table, max_rows=10,
                                      skip=("detail", "cured", "days_to_cure")))
    v = (r.get("data") or {}).get("validation") or {}
    if v.get("line"):
        console.print(f"[bold]data validation:[/] {v['line']}")
    console.print(f"finished in {res.elapsed_s:.1f} s; outputs in {res.out_dir.resolve()}", soft_wrap=True)
    console.print(f"[bold green]report:[/] {res.report_path.resolve()}", soft_wrap=True, highlight=False)
    console.print(f"results: {res.files['results.json'].resolve()}", soft_wrap=True, highlight=False)
    print_caveats(r.get("caveats"), console)


def print_caveats(cav: dict | None, console, *, top: int = 3) -> None:
    """The closing panel: what a reader must know, counted by severity, the top items of each
    class in words with the symbols involved (``results["caveats"]``)."""
    from rich.panel import Panel

    if not cav:
        return
    counts = cav.get("counts") or {}
    items = cav.get("items") or []
    head = ", ".join(f"{counts.get(k, 0)} {k}{'s' if counts.get(k, 0) != 1 else ''}" for k in ("error", "warning",
                                                                                              "note"))
    lines = []
    style = {"error": "bold red", "warning": "yellow", "note": "dim"}
    by_class: dict[str, list] = {}
    for it in items:
        by_class.setdefault((it["severity"], it["class"]), []).append(it)
    for (sev, _cls), its in by_class.items():
        name = its[0].get("class_name") or its[0]["class"]
        lines.append(f"[{style[sev]}]{sev}[/] [bold]{name}[/] ({len(its)})")
        for it in its[:top]:
            syms = it.get("symbols") or []
            text = it["text"]
            if len(text) > 300:
                text = text[:297] + "..."
            lines.append(f"  - {text}" + (f" [dim][{', '.join(syms[:12])}{' ...' if len(syms) > 12 else ''}][/]"
                                          if syms and not all(s in text for s in syms[:12]) else ""))
        if len(its) > top:
            lines.append(f"  ... and {len(its) - top} more (results.json: caveats)")
    border = "red" if counts.get("error") else ("yellow" if counts.get("warning") else "green")
    console.print(Panel("\n".join(lines) or "nothing to report", title=f"What you must know: {head}",
                        border_style=border, expand=True), highlight=False, soft_wrap=False)


def _rich_table(tab: dict, Table, max_rows: int | None = None, skip=("horizon_rule", "note", "name")):
    from ..report.tables import fmt, unit_label

    t = Table(title=tab.get("title"), caption=tab.get("basis"))
    cols = [c for c in tab["columns"] if c["key"] not in skip]
    for c in cols:
        u = unit_label(c.get("unit", "text"))
        t.add_column(c["label"] + (f" ({u})" if u else ""),
                     justify="left" if c.get("unit") in ("text", "date") else "right")
    rows = tab.get("rows") or []
    for row in rows[: max_rows or len(rows)]:
        t.add_row(*[fmt(row.get(c["key"]), c.get("unit", "text")) for c in cols])
    return t
