"""``crossings circuitscape run JOB.ini``: run a Circuitscape 4/5 job file unchanged.

Before solving, the command prints a plan (solves, estimated memory and time) and refuses, naming
the option that lowers it, when the job would not fit in memory. Outputs are written atomically,
so Ctrl-C leaves no half-written file.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from crossings.cli import common
from crossings.errors import ConfigError, PlanTooLargeError

app = typer.Typer(
    help="Run Circuitscape INI job files (raster and network modes).", no_args_is_help=True
)

#: Above this many pairs the plan warns before starting (Circuitscape users' common surprise).
PAIR_WARNING = 1000


def _run_network(config, ini: Path, max_iterations: int | None) -> list[Path]:
    name = "crossings.io.circuitscape_network"
    if importlib.util.find_spec(name) is None:
        raise ConfigError(
            "network (graph) mode is not available in this installation; "
            "use data_type = raster or update crossings.",
            source=config.source,
            field="data_type",
        )
    module = importlib.import_module(name)
    out_dir = Path(config.output_prefix).parent
    with common.progress() as bar:
        task = bar.add_task("solving", total=None)
        written = module.run_network_job(
            config, ini, out_dir, maxiter=max_iterations, on_step=lambda: bar.advance(task)
        )
    return list(written or [])


def _check_plan(plan, max_memory_gb: float | None) -> None:
    from crossings.jobs.base import memory_limit

    limit = memory_limit(max_memory_gb)
    if plan.n_pairs > PAIR_WARNING:
        message = (
            f"{plan.n_pairs:,} pairs will be solved ({plan.n_focal} focal ids); use an "
            "included-pairs file (use_included_pairs) to solve only the pairs you need"
        )
        common.err_console.print(f"warning: {message}", style="yellow")
    if plan.memory_bytes > limit:
        raise PlanTooLargeError(
            f"the job needs about {plan.memory_bytes / 2**30:.1f} GiB but {limit / 2**30:.1f} GiB "
            "is available. Lower it with solver = cg+amg (least memory), by turning off "
            "write_volt_maps / write_cur_maps, by fewer focal points, or allow more with "
            "--max-memory-gb."
        )


@app.command("run")
def run(
    ini: Annotated[Path, typer.Argument(help="Circuitscape INI job file.")],
    run_dir: Annotated[
        Path | None,
        typer.Option(
            "--run-dir",
            help="Folder relative paths are resolved against (default: the working directory, "
            "then the INI's folder).",
        ),
    ] = None,
    max_memory_gb: Annotated[
        float | None,
        typer.Option(
            "--max-memory-gb", help="Refuse jobs estimated above this (default: free RAM)."
        ),
    ] = None,
    max_iterations: Annotated[
        int | None,
        typer.Option("--max-iterations", help="Cap on CG iterations per solve (cg+amg only)."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="Write the outputs here instead of output_file's folder."),
    ] = None,
    solver: Annotated[
        str | None,
        typer.Option("--solver", help="Override the INI's solver: cg+amg, cholmod, splu or auto."),
    ] = None,
):
    """Run JOB.ini and write the files Circuitscape writes (same names and formats)."""
    from crossings.io import circuitscape as cs
    from crossings.io.runlog import RunLog

    with common.handle_errors():
        config = cs.read_ini(ini, run_dir=run_dir)
        config = cs.with_overrides(config, out_dir=out_dir, solver=solver)
        log = RunLog(
            Path(config.output_prefix).parent,
            command=f"crossings circuitscape run {ini}",
            config=config.to_mapping(),
        )
        if config.data_type is cs.DataType.NETWORK:
            written = _run_network(config, ini, max_iterations)
        else:
            written = _run_raster(cs, config, max_memory_gb, max_iterations, log)
        log.add_outputs(written)
        log.finish()
        common.console.print(f"wrote {len(written)} file(s) with prefix {config.output_prefix}")


def _run_raster(cs, config, max_memory_gb, max_iterations, log) -> list[Path]:
    inputs = cs.load_job(config)
    log.add_inputs(inputs.input_files)
    plan = cs.plan_job(config, inputs)
    for line in plan.lines():
        common.console.print(line, highlight=False)
    _check_plan(plan, max_memory_gb)
    total = plan.n_pairs if config.scenario is cs.Scenario.PAIRWISE else plan.n_focal
    with common.progress() as bar:
        task = bar.add_task("solving", total=max(total, 1))
        written = cs.run_job(
            config, inputs, maxiter=max_iterations, on_step=lambda: bar.advance(task)
        )
        bar.update(task, completed=max(total, 1))
    log.add_figures(
        scenario=config.scenario.value,
        cells=plan.n_cells,
        focal_ids=plan.n_focal,
        pairs=plan.n_pairs,
        solves=plan.n_solves,
        solver=plan.solver,
    )
    return written
