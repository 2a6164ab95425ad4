"""The Omniscape job: an Omniscape.jl INI file in, Omniscape's outputs plus a manifest out.

``run_ini`` reads the INI through :mod:`crossings.io.omniscape`, solves every window through
:mod:`crossings.scale` (serially, or on Dask with ``workers`` / ``scheduler``) and writes the
project folder with ``run.toml`` and ``manifest.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crossings.core.omniscape import OmniscapeResult, finish
from crossings.errors import ConfigError
from crossings.io import omniscape as omniscape_io
from crossings.io.runlog import RunLog

NAME = "omniscape"

__all__ = ["NAME", "IniRun", "run_ini"]


@dataclass(frozen=True)
class IniRun:
    """What an INI run wrote."""

    folder: Path
    outputs: tuple[Path, ...]
    result: OmniscapeResult
    failed: tuple = ()


def run_ini(
    ini: str | Path,
    parent: str | Path,
    *,
    base_dir: str | Path | None = None,
    solver: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    tile_size: int = 256,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    max_memory_gb: float | None = None,
    progress=None,
    say=None,
) -> IniRun:
    """Run an Omniscape INI job; outputs go to ``parent/project_name`` (suffixed if it exists).

    Parameters
    ----------
    ini : path-like
    parent : path-like
        Folder the project folder is created in (Omniscape: the working directory).
    base_dir : path-like, optional
        Folder relative input paths are resolved against (default: the working directory).
    solver : str, optional
        Override the INI's solver.
    workers, scheduler : optional
        Run the windows on a Dask LocalCluster of ``workers`` processes or on ``scheduler``.
    tile_size : int
        Side of a tile of targets in cells.
    checkpoint : path-like, optional
        Folder keeping finished tiles; with ``resume`` the tiles found there are reused.
    max_memory_gb : float, optional
        Refuse plans needing more per worker (default: the worker memory limit, 2 GiB).
    progress : callable, optional
        ``progress(stage, done, total)``.
    say : callable, optional
        Receives the plan's lines before the run starts.

    Raises
    ------
    ConfigError
        Bad INI values or inputs; ``checkpoint`` not empty without ``resume``.
    PlanTooLargeError
        A worker would need more memory than allowed.
    """
    from crossings.scale import make_executor
    from crossings.scale.windows import plan_run, run_tiles, write_failed_windows

    job = omniscape_io.read_job(ini, base_dir=base_dir, solver=solver)
    inputs = omniscape_io.read_inputs(job)
    _check_checkpoint(checkpoint, resume)
    limit = int((max_memory_gb or 2.0) * 2**30)
    with make_executor(workers, scheduler, memory_limit=f"{limit}B") as executor:
        plan, tiles = plan_run(
            inputs.layers,
            job.options,
            tile_size=tile_size,
            workers=executor.workers,
            memory_limit=limit,
        )
        for line in plan.lines():
            (say or (lambda _: None))(line)
        run = run_tiles(
            inputs.layers,
            job.options,
            executor=executor,
            tiles=tiles,
            checkpoint=checkpoint,
            progress=progress,
        )
    result = finish(run.maps, inputs.nodata, job.options, run.n_windows)
    folder = omniscape_io.project_folder(parent, job.project_name)
    log = RunLog(folder, command=f"crossings omniscape run {ini}", config=job.to_mapping())
    log.add_inputs(inputs.files)
    written = omniscape_io.write_outputs(job, inputs, result, folder)
    if run.failed:
        written.append(write_failed_windows(folder / "failed_windows.csv", run.failed))
    log.add_outputs(written)
    log.add_figures(
        cells=plan.cells,
        windows=run.n_windows,
        failed_windows=len(run.failed),
        tiles=run.tiles,
        resumed_tiles=run.resumed_tiles,
        workers=executor.workers,
        radius=job.options.radius,
        block_size=job.options.block_size,
        solver=job.options.solver.solver.value,
        peak_bytes_per_worker=run.peak_bytes_per_worker,
    )
    log.finish()
    return IniRun(folder, tuple(written), result, run.failed)


def _check_checkpoint(checkpoint, resume: bool) -> None:
    if checkpoint is None:
        if resume:
            raise ConfigError(
                "--resume needs --checkpoint DIR (the folder of the run to continue).",
                field="resume",
            )
        return
    folder = Path(checkpoint)
    if not resume and folder.is_dir() and any(folder.glob("tile_*.npz")):
        raise ConfigError(
            f"{folder} holds tiles of an earlier run; pass --resume to continue it, or choose "
            "an empty folder.",
            field="checkpoint",
        )
