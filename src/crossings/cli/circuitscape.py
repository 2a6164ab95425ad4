"""``crossings circuitscape run JOB.ini``: run a Circuitscape 4/5 job file unchanged.

Before solving, the command prints a plan (solves, estimated memory and time) and refuses, naming
the option that lowers it, when the job would not fit in memory. Outputs are written atomically,
so Ctrl-C leaves no half-written file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common

app = typer.Typer(
    help="Run Circuitscape INI job files (raster and network modes).", no_args_is_help=True
)


@app.command("run")
def run(
    ini: Annotated[Path, typer.Argument(help="Circuitscape INI job file.")],
    run_dir: Annotated[
        Path | None,
        typer.Option(
            "--run-dir",
            help="Folder relative paths are resolved against (default: the working directory, "
            "then the INI's folder).",
        ),
    ] = None,
    max_memory_gb: Annotated[
        float | None,
        typer.Option(
            "--max-memory-gb", help="Refuse jobs estimated above this (default: free RAM)."
        ),
    ] = None,
    max_iterations: Annotated[
        int | None,
        typer.Option("--max-iterations", help="Cap on CG iterations per solve (cg+amg only)."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="Write the outputs here instead of output_file's folder."),
    ] = None,
    solver: Annotated[
        str | None,
        typer.Option("--solver", help="Override the INI's solver: cg+amg, cholmod, splu or auto."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Solve focal nodes on a Dask LocalCluster of N workers."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Solve focal nodes on the Dask scheduler at ADDRESS."),
    ] = None,
):
    """Run JOB.ini and write the files Circuitscape writes (same names and formats)."""
    from crossings.jobs import circuitscape as job

    with common.handle_errors():
        config = job.Config(ini=ini, run_dir=run_dir, solver=solver,
                            max_memory_gb=max_memory_gb, max_iterations=max_iterations,
                            workers=workers, scheduler=scheduler)  # fmt: skip
        target = out_dir if out_dir is not None else job.default_out_dir(config)
        with common.job_progress("solving") as progress:
            record = job.run(config, target, progress)
    for line in record.figures["summary"]:
        common.console.print(line, highlight=False)
