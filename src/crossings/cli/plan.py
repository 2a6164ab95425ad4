"""``crossings plan CONFIG.toml --out DIR``: choose fence openings under security constraints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common

__all__ = ["command"]


def command(
    config: Annotated[Path, typer.Argument(help="Plan config (TOML); see docs/planner.md.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (created if missing).")
    ] = Path("crossings-plan"),
) -> None:
    """Rank fence openings by exact connectivity gain under border-security constraints."""
    from crossings.jobs import plan as job

    with common.handle_errors():
        settings = job.load_config(config)
        with common.job_progress("planning") as progress:
            record = job.run(settings, out, progress)
    print_summary(record)


def print_summary(record) -> None:
    """The table of methods, openings, cost and share of the no-fence connectivity kept."""
    from rich.table import Table

    figures = record.figures
    table = Table(title=f"crossings plan -> {record.out_dir}")
    for column in ("method", "openings", "security cost", "% of no-fence connectivity"):
        table.add_column(column)
    table.add_row("fence as it is", "0", "0", f"{figures['percent_before']:.1f}")
    for plan in figures["plans"]:
        table.add_row(plan["method"], str(plan["openings"]), f"{plan['security_cost']:g}",
                      f"{plan['percent_of_no_fence']:.1f}")  # fmt: skip
    common.console.print(table)
    for plan in figures["plans"]:
        if plan["message"]:
            common.err_console.print(f"{plan['method']}: {plan['message']}", style="yellow")
    common.console.print(
        f"{figures['candidates']} candidates, {figures['rejected']} excluded by a rule "
        "(rule and reason per candidate in rejected.csv); "
        f"{len(record.outputs) + 2} files written."
    )
