"""``crossings plan CONFIG.toml --out DIR``: choose fence openings under security constraints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from crossings.cli import common

__all__ = ["command"]


def command(
    config: Annotated[Path, typer.Argument(help="Plan config (TOML); see docs/planner.md.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (created if missing).")
    ] = Path("crossings-plan"),
) -> None:
    """Rank fence openings by exact connectivity gain under border-security constraints."""
    from crossings.plan import run_plan

    with common.handle_errors(), common.progress() as bar:
        task = bar.add_task("planning", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report, written = run_plan(config, out, progress=show)
    _print_summary(report, out, len(written))


def _print_summary(report, out: Path, n_files: int) -> None:
    percent = 100.0 / report.value_no_fence if report.value_no_fence > 0 else float("nan")
    table = Table(title=f"crossings plan -> {out}")
    for column in ("method", "openings", "security cost", "% of no-fence connectivity"):
        table.add_column(column)
    table.add_row("fence as it is", "0", "0", f"{report.value_before * percent:.1f}")
    for plan in report.plans:
        cost = sum(report.candidates[c].security_cost for c in plan.chosen)
        table.add_row(plan.method, str(len(plan.steps)), f"{cost:g}", f"{plan.value * percent:.1f}")
    common.console.print(table)
    for plan in report.plans:
        if plan.message:
            common.err_console.print(f"{plan.method}: {plan.message}", style="yellow")
    common.console.print(
        f"{len(report.candidates)} candidates, {len(report.rejected)} excluded by a rule "
        "(rule and reason per candidate in rejected.csv); "
        f"{n_files} files written."
    )
