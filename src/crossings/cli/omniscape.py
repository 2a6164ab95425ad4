"""``crossings omniscape run JOB.ini|JOB.toml``: an Omniscape.jl INI job file unchanged, or a
native TOML job (``job = "omniscape"``: fences cut edges inside every window, three scenarios).

The run prints its plan (windows, solves, memory per worker, estimated time) before starting and
refuses one that will not fit; ``--workers N`` runs the windows on a Dask LocalCluster,
``--scheduler ADDRESS`` on any Dask cluster; ``--checkpoint DIR`` keeps finished tiles so that
``--resume`` continues a killed run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common

app = typer.Typer(help="Run Omniscape.jl INI job files (moving-window connectivity).")


@app.callback()
def _group() -> None:
    """Omniscape.jl-compatible moving-window connectivity."""


@app.command("run")
def run(
    ini: Annotated[
        Path, typer.Argument(help="Omniscape INI job file, or a native TOML job (.toml).")
    ],
    run_dir: Annotated[
        Path | None,
        typer.Option("--run-dir", help="Folder relative input paths are resolved against."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            help="INI: folder the project folder is created in (default: .). TOML: the run "
            "folder (default: omniscape-out beside the file).",
        ),
    ] = None,
    solver: Annotated[
        str | None,
        typer.Option("--solver", help="Override the INI's solver: cg+amg, cholmod, splu."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Dask LocalCluster worker processes.")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Address of a running Dask scheduler.")
    ] = None,
    tile_size: Annotated[
        int, typer.Option("--tile-size", help="Side of a tile of targets, in cells.")
    ] = 256,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Folder keeping finished tiles.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the tiles in --checkpoint.")
    ] = False,
    max_memory_gb: Annotated[
        float | None,
        typer.Option("--max-memory-gb", help="Refuse plans above this per worker (default 2)."),
    ] = None,
):
    """Run JOB.ini and write Omniscape's outputs (same names and formats) plus a manifest."""
    from crossings.jobs.omniscape import run_ini

    if ini.suffix.lower() == ".toml":
        common.run_toml_job(
            "omniscape", ini, out_dir or ini.parent / "omniscape-out", what="an omniscape job"
        )
        return

    with common.handle_errors():
        with common.progress() as bar:
            task = bar.add_task("windows", total=None)

            def progress(stage, done, total):
                bar.update(task, description=stage, completed=done, total=total)

            record = run_ini(
                ini,
                out_dir or Path.cwd(),
                base_dir=run_dir,
                solver=solver,
                workers=workers,
                scheduler=scheduler,
                tile_size=tile_size,
                checkpoint=checkpoint,
                resume=resume,
                max_memory_gb=max_memory_gb,
                progress=progress,
                say=lambda line: common.console.print(line, highlight=False),
            )
        common.console.print(f"wrote {len(record.outputs)} file(s) to {record.folder}")
        if record.failed:
            common.err_console.print(
                f"warning: {len(record.failed)} window(s) failed; see "
                f"{record.folder / 'failed_windows.csv'}",
                style="yellow",
            )
