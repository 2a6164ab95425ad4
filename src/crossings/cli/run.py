"""``crossings run JOB.toml [--out DIR]``: run any job from a TOML file (``job = "<name>"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common

__all__ = ["command"]


def command(
    job_file: Annotated[
        Path, typer.Argument(help='TOML file with job = "<name>" and that job\'s keys.')
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder [default: <job>-out beside the file]."),
    ] = None,
) -> None:
    """Run any crossings job (connectivity, plan, tracks, camera, circuitscape, ...) from TOML.

    The file holds ``job = "<name>"`` plus the keys of that job's config (see docs/jobs.md);
    relative paths are taken against the file's folder.
    """
    from crossings.jobs import load_job

    with common.handle_errors():
        job, config = load_job(job_file)
        out_dir = out if out is not None else job_file.parent / f"{job.NAME}-out"
        with common.job_progress(job.NAME) as progress:
            record = job.run(config, out_dir, progress)
    for line in record.figures.get("summary", ()):
        common.console.print(line, highlight=False)
    common.console.print(
        f"{record.job}: {len(record.outputs)} file(s) written in {out_dir} "
        f"(sensitivity {record.sensitivity}); manifest.json records inputs and outputs",
        highlight=False,
    )
