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
    common.run_toml_job("indicators", config, out, what="an indicators job")
