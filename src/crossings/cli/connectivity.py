"""``crossings connectivity run CONFIG.toml --out DIR``: fence scenarios on a landscape."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common
from crossings.errors import PlanTooLargeError

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
    max_memory_gb: Annotated[
        float | None,
        typer.Option(help="Refuse runs estimated to need more (default: available memory)."),
    ] = None,
) -> None:
    """Compare fence scenarios (no fence, closed, with openings) between focal areas.

    Prints a plan (solves, estimated memory and time) first and refuses a run that would not
    fit in memory.
    """
    from crossings.connectivity import run_config

    def check(plan) -> None:
        common.err_console.print(f"plan: {plan}", highlight=False)
        limit = int(max_memory_gb * 2**30) if max_memory_gb else common.available_memory_bytes()
        if plan.memory_bytes > limit:
            raise PlanTooLargeError(
                f"the run needs about {plan.memory_bytes / 2**30:.1f} GiB but "
                f'{limit / 2**30:.1f} GiB is available. Lower it with solver = "cg_amg" '
                "(least memory) or a coarser resistance grid, or allow more with --max-memory-gb."
            )

    with common.handle_errors(), common.progress() as bar:
        task = bar.add_task("scenarios", total=None)

        def show(scenario) -> None:
            bar.update(task, description=f"solving {scenario.value}", advance=1)

        lines = run_config(config, out, maps=maps, on_scenario=show, on_plan=check)
    for line in lines:
        common.console.print(line, highlight=False)
    common.console.print(f"outputs in {out}", highlight=False)
