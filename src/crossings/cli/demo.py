"""``crossings demo [--out DIR]``: run the bundled Ustyurt demo and print a short summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common

__all__ = ["command"]


def command(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (created if missing).")
    ] = Path("crossings-out"),
    mitigation: Annotated[
        bool,
        typer.Option(
            "--mitigation/--no-mitigation",
            help="Include the mitigation openings (lower strands removed every 1 km).",
        ),
    ] = True,
) -> None:
    """Run the Ustyurt demo: resistance GeoTIFF, fences GeoPackage, map and summary."""
    from crossings.demo import DEMO_STEPS, run_demo

    with common.handle_errors(), common.progress() as bar:
        task = bar.add_task("demo", total=len(DEMO_STEPS))
        done = iter(range(len(DEMO_STEPS)))

        def show(name: str) -> None:
            bar.update(task, description=name.split(":")[0], completed=next(done, 0))

        summary = run_demo(out, mitigation=mitigation, on_step=show)
        bar.update(task, completed=len(DEMO_STEPS))
    common.console.rule(f"crossings demo -> {summary.out_dir}")
    for line in summary.lines:
        common.console.print(line, highlight=False)
    common.console.rule()
    common.console.print(
        f"{len(summary.outputs)} files written in {summary.seconds:.1f} s "
        "(run.toml and manifest.json record inputs and outputs)",
        highlight=False,
    )
