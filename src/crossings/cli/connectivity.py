"""``crossings connectivity run CONFIG.toml --out DIR``: fence scenarios on a landscape."""

from __future__ import annotations

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
    maps: Annotated[bool, typer.Option("--maps/--no-maps", help="Write PNG maps.")] = True,
) -> None:
    """Compare fence scenarios (no fence, closed, with openings) between focal areas."""
    from crossings.connectivity import run_config

    with common.handle_errors(), common.progress() as bar:
        task = bar.add_task("scenarios", total=None)

        def show(scenario) -> None:
            bar.update(task, description=f"solving {scenario.value}", advance=1)

        lines = run_config(config, out, maps=maps, on_scenario=show)
    for line in lines:
        common.console.print(line, highlight=False)
    common.console.print(f"outputs in {out}", highlight=False)
