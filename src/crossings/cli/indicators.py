"""``crossings indicators run JOB.toml``: a thin shell over :mod:`crossings.jobs.indicators`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common

app = typer.Typer(
    help="ProtConn per country and its transboundary part per border section (Saura et al.).",
    no_args_is_help=True,
)


@app.command("run")
def run(
    config: Annotated[Path, typer.Argument(help="TOML job (see docs/indicators.md).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "indicators-out"
    ),
) -> None:
    """Compute ProtConn, its fractions and per-section shares for every region of the job."""
    from crossings.jobs import indicators as job
    from crossings.jobs.base import read_toml

    with common.handle_errors():
        data = read_toml(config, what="an indicators job")
        settings = job.Config.from_mapping(data, source=config, base_dir=config.parent)
        with common.progress() as bar:
            task = bar.add_task("indicators", total=None)

            def progress(stage: str, done: int, total: int | None) -> None:
                bar.update(task, description=stage, completed=done, total=total)

            record = job.run(settings, out, progress)
    for line in record.figures.get("summary", ()):
        common.console.print(line, highlight=False)
    common.console.print(
        f"{len(record.outputs)} file(s) in {out} (sensitivity {record.sensitivity})",
        highlight=False,
    )
