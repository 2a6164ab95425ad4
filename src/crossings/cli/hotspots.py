"""``crossings hotspots run JOB.toml``: a thin shell over :mod:`crossings.jobs.hotspots`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common

app = typer.Typer(
    help="Transboundary hotspots: border sections ranked on weighted criteria (rank intervals).",
    no_args_is_help=True,
)


@app.command("run")
def run(
    config: Annotated[Path, typer.Argument(help="TOML job (see docs/hotspots.md).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("hotspots-out"),
) -> None:
    """Score and rank border sections; write hotspots.csv, hotspots.gpkg and hotspots.png."""
    from crossings.jobs import hotspots as job
    from crossings.jobs.base import read_toml

    with common.handle_errors():
        data = read_toml(config, what="a hotspots job")
        settings = job.Config.from_mapping(data, source=config, base_dir=config.parent)
        with common.progress() as bar:
            task = bar.add_task("hotspots", total=None)

            def progress(stage: str, done: int, total: int | None) -> None:
                bar.update(task, description=stage, completed=done, total=total)

            record = job.run(settings, out, progress)
    for line in record.figures.get("summary", ()):
        common.console.print(line, highlight=False)
    common.console.print(
        f"{len(record.outputs)} file(s) in {out} (sensitivity {record.sensitivity})",
        highlight=False,
    )
