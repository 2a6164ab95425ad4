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
    common.run_toml_job("hotspots", config, out, what="a hotspots job")
