"""The circuitscape job: a Circuitscape INI job file run unchanged (raster and network modes).

``crossings circuitscape run JOB.ini`` and ``crossings run JOB.toml`` (``job = "circuitscape"``,
``ini = "JOB.ini"``) build a :class:`Config` and call :func:`run`. Before solving, the job logs
its plan (solves, estimated memory and time) and refuses, naming the option that lowers it, a
job that would not fit in memory. Outputs carry Circuitscape's names and formats and are
written atomically.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from crossings.config import to_mapping
from crossings.errors import ConfigError, PlanTooLargeError
from crossings.jobs.base import (
    Progress,
    RunRecord,
    check_config,
    config_from_mapping,
    memory_limit,
    report_progress,
)

__all__ = ["NAME", "Config", "run", "read", "default_out_dir"]

NAME = "circuitscape"
#: Above this many pairs the plan warns before starting (Circuitscape users' common surprise).
PAIR_WARNING = 1000
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """A Circuitscape job: the INI file and how to run it.

    ``run_dir`` is the folder relative INI paths resolve against (default: the working
    directory, then the INI's folder); ``solver`` overrides the INI's (``cg+amg``,
    ``cholmod``, ``splu`` or ``auto``); ``max_iterations`` caps CG iterations per solve;
    ``workers`` (a Dask LocalCluster) or ``scheduler`` (a Dask scheduler address) solve the
    focal nodes of raster pairwise / one-to-all / all-to-one jobs as Dask tasks.

    Examples
    --------
    >>> cfg = Config.from_mapping({"ini": "job.ini", "solver": "auto"}, base_dir="/data")
    >>> str(cfg.ini), cfg.solver
    ('/data/job.ini', 'auto')
    """

    ini: Path
    run_dir: Path | None = None
    solver: str | None = None
    max_memory_gb: float | None = None
    max_iterations: int | None = None
    workers: int | None = None
    scheduler: str | None = None

    @classmethod
    def from_mapping(cls, data, *, source=None, base_dir=None) -> Config:
        """Strictly from a TOML table (unknown keys are errors); paths relative to ``base_dir``."""
        return config_from_mapping(cls, NAME, data, source=source, base_dir=base_dir)

    def to_mapping(self) -> dict:
        return to_mapping(self)


def read(config: Config, out_dir: str | os.PathLike | None = None):
    """The parsed INI of ``config`` (a CircuitscapeConfig), writing into ``out_dir`` if given."""
    from crossings.io import circuitscape as cs

    parsed = cs.read_ini(config.ini, run_dir=config.run_dir)
    return cs.with_overrides(parsed, out_dir=out_dir, solver=config.solver)


def default_out_dir(config: Config) -> Path:
    """Where Circuitscape would write: the folder of the INI's ``output_file``."""
    return Path(read(config).output_prefix).parent


def run(config: Config, out_dir: str | os.PathLike, progress: Progress | None = None) -> RunRecord:
    """Run the INI job, writing Circuitscape's files with the INI's base name into ``out_dir``."""
    from crossings.io import circuitscape as cs
    from crossings.io.runlog import RunLog

    check_config(config, Config, NAME)
    parsed = read(config, out_dir)
    log = RunLog(
        out_dir,
        command=f"crossings circuitscape run {config.ini}",
        config=parsed.to_mapping(),
        job=NAME,
        replayable=False,
    )
    log.add_inputs([config.ini])
    if parsed.data_type is cs.DataType.NETWORK:
        written = _run_network(parsed, config, out_dir, progress)
    else:
        written = _run_raster(cs, parsed, config, log, progress)
    log.add_outputs(written)
    log.add_figures(summary=[f"wrote {len(written)} file(s) with prefix {parsed.output_prefix}"])
    return log.finish_record()


def _run_network(parsed, config: Config, out_dir, progress) -> list[Path]:
    name = "crossings.io.circuitscape_network"
    if importlib.util.find_spec(name) is None:
        raise ConfigError(
            "network (graph) mode is not available in this installation; "
            "use data_type = raster or update crossings.",
            source=parsed.source,
            field="data_type",
        )
    module = importlib.import_module(name)
    done = iter(range(1, 1 << 62))

    def step() -> None:
        report_progress(progress, "solving", next(done), None)

    written = module.run_network_job(
        parsed, config.ini, Path(out_dir), maxiter=config.max_iterations, on_step=step
    )
    return list(written or [])


def _run_raster(cs, parsed, config: Config, log, progress) -> list[Path]:
    inputs = cs.load_job(parsed)
    log.add_inputs(inputs.input_files)
    plan = cs.plan_job(parsed, inputs)
    for line in plan.lines():
        _log.info("%s", line)
    _check_plan(plan, config.max_memory_gb)
    total = max(plan.n_pairs if parsed.scenario is cs.Scenario.PAIRWISE else plan.n_focal, 1)
    done = iter(range(1, 1 << 62))

    def step() -> None:
        report_progress(progress, "solving", min(next(done), total), total)

    from crossings.scale.executor import SerialExecutor, make_executor

    with make_executor(config.workers, config.scheduler) as executor:
        written = cs.run_job(
            parsed,
            inputs,
            maxiter=config.max_iterations,
            on_step=step,
            executor=None if isinstance(executor, SerialExecutor) else executor,
        )
    log.add_figures(
        scenario=parsed.scenario.value,
        cells=plan.n_cells,
        focal_ids=plan.n_focal,
        pairs=plan.n_pairs,
        solves=plan.n_solves,
        solver=plan.solver,
    )
    return written


def _check_plan(plan, max_memory_gb: float | None) -> None:
    limit = memory_limit(max_memory_gb)
    if plan.n_pairs > PAIR_WARNING:
        _log.warning(
            "warning: %s pairs will be solved (%s focal ids); use an included-pairs file "
            "(use_included_pairs) to solve only the pairs you need",
            f"{plan.n_pairs:,}",
            plan.n_focal,
        )
    if plan.memory_bytes > limit:
        raise PlanTooLargeError(
            f"the job needs about {plan.memory_bytes / 2**30:.1f} GiB but {limit / 2**30:.1f} GiB "
            "is available. Lower it with solver = cg+amg (least memory), by turning off "
            "write_volt_maps / write_cur_maps, by fewer focal points, or allow more with "
            "max_memory_gb (--max-memory-gb)."
        )
