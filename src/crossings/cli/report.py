"""``crossings report RUN_DIR... --out DIR``: HTML + PDF report per language, for one audience."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common

__all__ = ["command"]


def command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders (each with manifest.json).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (created if missing).")
    ] = Path("crossings-report"),
    lang: Annotated[
        str, typer.Option("--lang", help="Language: en, ru (any with a catalogue) or both.")
    ] = "both",
    audience: Annotated[
        str | None,
        typer.Option(
            "--audience",
            help="public, restricted or confidential (default: the most restrictive level "
            "among the runs' manifests).",
        ),
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write the A4 PDF.")] = True,
) -> None:
    """Write a self-contained HTML report and an A4 PDF from run folders."""
    from crossings.jobs import report as job

    with common.handle_errors():
        config = job.Config.from_mapping(
            {
                "runs": [str(p) for p in run_dirs],
                "languages": lang,
                "audience": audience,
                "pdf": pdf,
            },
            source="command line",
        )
        with common.progress() as bar:
            task = bar.add_task("report", total=len(config.languages))

            def show(stage: str, done: int, total: int | None) -> None:
                bar.update(task, description=stage, completed=done, total=total)

            job.run(config, out, progress=show)
    for line in job.summary_lines(out):
        common.console.print(line, highlight=False)
