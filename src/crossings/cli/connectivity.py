"""``crossings connectivity run CONFIG.toml --out DIR``: fence scenarios on a landscape."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common

app = typer.Typer(
    help="Pairwise circuit theory on a landscape whose fences cut graph edges.",
    no_args_is_help=True,
)


@app.command("run")
def run(
    config: Annotated[Path, typer.Argument(help="TOML job (see docs/connectivity.md).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "connectivity-out"
    ),
    maps: Annotated[
        bool | None, typer.Option("--maps/--no-maps", help="Write PNG maps [default: maps].")
    ] = None,
    max_memory_gb: Annotated[
        float | None,
        typer.Option(help="Refuse runs estimated to need more (default: available memory)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Solve the pairs on a Dask LocalCluster of N workers."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Solve the pairs on the Dask scheduler at ADDRESS."),
    ] = None,
) -> None:
    """Compare fence scenarios (no fence, closed, with openings) between focal areas.

    Prints a plan (solves, estimated memory and time) first and refuses a run that would not
    fit in memory.
    """
    from crossings.jobs import connectivity as job

    with common.handle_errors():
        settings = job.load_config(config)
        options = {
            "maps": maps,
            "max_memory_gb": max_memory_gb,
            "workers": workers,
            "scheduler": scheduler,
        }
        changes = {key: value for key, value in options.items() if value is not None}
        settings = dataclasses.replace(settings, **changes)
        with common.job_progress("scenarios") as progress:
            record = job.run(settings, out, progress)
    for line in record.figures["summary"]:
        common.console.print(line, highlight=False)
    common.console.print(f"outputs in {out}", highlight=False)
