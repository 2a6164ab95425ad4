"""The Omniscape job: Omniscape.jl INI files, and a native TOML job on a crossings landscape.

``run_ini`` reads an Omniscape INI through :mod:`crossings.io.omniscape`, solves every window
through :mod:`crossings.scale` (serially, or on Dask with ``workers`` / ``scheduler``) and
writes Omniscape's project folder with ``run.toml`` and ``manifest.json``.

:func:`run` is the native job (``job = "omniscape"`` in a TOML file, ``crossings run`` or
``crossings omniscape run JOB.toml``): Omniscape on a crossings landscape (resistance, fences,
openings, as the connectivity job takes them) whose fences cut graph edges inside every window,
for the scenarios ``no_fence``, ``fence_closed`` and ``fence_mitigated``. It writes, per
scenario ``S``, ``cum_currmap_S.tif``, ``flow_potential_S.tif`` and
``normalized_cum_currmap_S.tif`` (when asked), the differences
``cum_currmap_difference_<other>_minus_fence_closed.tif``, ``failed_windows.csv``,
``run.toml`` and ``manifest.json``. Distances (radius, buffer, decay half-distance) are in
metres and rounded to whole cells.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from crossings.config import to_mapping
from crossings.core.circuit import SolverOptions
from crossings.core.omniscape import (
    DecayKernel,
    DistanceDecay,
    EdgeFactors,
    OmniscapeLayers,
    OmniscapeOptions,
    OmniscapeResult,
    Precision,
    find_targets,
    finish,
    source_from_resistance,
)
from crossings.core.solve import Solver
from crossings.errors import ConfigError
from crossings.io import omniscape as omniscape_io
from crossings.io.atomic import atomic_path
from crossings.io.raster import read_raster, write_geotiff
from crossings.io.runlog import RunLog
from crossings.jobs.base import (
    DEMO_LANDSCAPE_SECTION,
    Progress,
    RunRecord,
    check_config,
    config_from_mapping,
    report_progress,
    run_demo_job,
)
from crossings.jobs.connectivity import LandscapeFiles, Scenario

NAME = "omniscape"
SENSITIVITY = "restricted"
SENSITIVITY_REASON = "maps show the fence alignment and where current crosses it"
FAILED_WINDOWS = "failed_windows.csv"
_log = logging.getLogger(__name__)

__all__ = [
    "NAME",
    "Config",
    "Decay",
    "IniRun",
    "run",
    "run_ini",
    "scenario_maps",
    "near_cuts",
    "demo_step",
]


@dataclass(frozen=True)
class Decay:
    """Distance-decay weighting of sources (see :class:`crossings.core.omniscape.DistanceDecay`)."""

    kernel: DecayKernel
    half_distance_m: float


@dataclass(frozen=True)
class Config:
    """A native Omniscape job on a crossings landscape.

    ``radius_m`` and ``buffer_m`` are metres (rounded to whole cells); ``block_size`` is cells.
    Sources are Omniscape's ``source_from_resistance`` (``1 / r`` where ``r <= r_cutoff``)
    unless ``sources`` names a raster on the resistance grid (cells below
    ``source_threshold`` are 0); ``targets`` optionally names a separate target raster.
    ``workers`` > 0 runs the windows on a Dask LocalCluster, ``scheduler`` on a running one.

    Examples
    --------
    >>> cfg = Config.from_mapping({"landscape": {"resistance": "r.tif"}, "radius_m": 20000,
    ...                            "block_size": 5}, base_dir="/data")
    >>> cfg.scenarios[0], str(cfg.landscape.resistance), cfg.solver
    (<Scenario.NO_FENCE: 'no_fence'>, '/data/r.tif', <Solver.CG_AMG: 'cg_amg'>)
    >>> Config.from_mapping(cfg.to_mapping()) == cfg
    True
    """

    landscape: LandscapeFiles
    radius_m: float
    block_size: int = 1
    buffer_m: float = 0.0
    scenarios: tuple[Scenario, ...] = (
        Scenario.NO_FENCE,
        Scenario.FENCE_CLOSED,
        Scenario.FENCE_MITIGATED,
    )
    sources: Path | None = None
    source_threshold: float = 0.0
    r_cutoff: float | None = None
    targets: Path | None = None
    connect_four: bool = False
    calc_flow_potential: bool = True
    calc_normalized_current: bool = True
    correct_artifacts: bool = True
    precision: Precision = Precision.DOUBLE
    solver: Solver = Solver.CG_AMG
    tolerance: float = 1e-8
    decay: Decay | None = None
    workers: int = 0
    scheduler: str | None = None
    tile_size: int = 256
    max_memory_gb: float | None = None

    @classmethod
    def from_mapping(cls, data, *, source=None, base_dir=None) -> Config:
        """Strictly from a TOML table (unknown keys are errors); paths relative to ``base_dir``."""
        return config_from_mapping(cls, NAME, data, source=source, base_dir=base_dir)

    def to_mapping(self) -> dict:
        return to_mapping(self)

    def options(self, cell_size: float) -> OmniscapeOptions:
        """Omniscape's options in cells of ``cell_size`` metres."""
        decay = None
        if self.decay is not None:
            decay = DistanceDecay(self.decay.kernel, self.decay.half_distance_m / cell_size)
        return OmniscapeOptions(
            radius=_cells(self.radius_m, cell_size, "radius_m"),
            block_size=self.block_size,
            buffer=_cells(self.buffer_m, cell_size, "buffer_m"),
            connect_four=self.connect_four,
            calc_flow_potential=self.calc_flow_potential,
            calc_normalized_current=self.calc_normalized_current,
            correct_artifacts=self.correct_artifacts,
            precision=self.precision,
            solver=SolverOptions(self.solver, self.tolerance),
            decay=decay,
        )


def _cells(metres: float, cell_size: float, field: str) -> int:
    if not math.isfinite(metres) or metres < 0:
        raise ConfigError(f"must be a distance >= 0 in metres; got {metres}", field=field)
    return int(round(metres / cell_size))


def _read_layer(path: Path, grid, field: str, dtype) -> np.ndarray:
    layer_grid, values = read_raster(path, crs=grid.crs)
    if layer_grid.shape != grid.shape or not grid.aligned_with(layer_grid):
        raise ConfigError(
            f"{path} is not on the resistance grid ({layer_grid.shape[0]} x "
            f"{layer_grid.shape[1]} cells vs {grid.shape[0]} x {grid.shape[1]}); resample it "
            "onto the resistance grid.",
            field=field,
        )
    values = values.astype(dtype)
    values[~np.isfinite(values)] = 0
    return values


def _layers(config: Config, landscape, dtype) -> OmniscapeLayers:
    resistance = landscape.resistance.astype(dtype)
    if config.sources is None:
        cutoff = math.inf if config.r_cutoff is None else config.r_cutoff
        sources = source_from_resistance(resistance, cutoff)
    else:
        sources = _read_layer(config.sources, landscape.grid, "sources", dtype)
        sources[sources < config.source_threshold] = 0
    targets = None
    if config.targets is not None:
        targets = _read_layer(config.targets, landscape.grid, "targets", dtype)
    with np.errstate(divide="ignore"):
        conductance = (1.0 / resistance).astype(dtype)
    return OmniscapeLayers(conductance, sources, targets)


def scenario_edges(landscape, scenario: Scenario, connect_four: bool) -> EdgeFactors:
    """The fence cuts of ``scenario`` as edge factors (none for ``no_fence``)."""
    from crossings.core.barriers import edge_factors, fence_edge_cuts

    if scenario is Scenario.NO_FENCE or not landscape.fences:
        return EdgeFactors.none()
    cuts = fence_edge_cuts(landscape.grid, landscape.fences, connect_four=connect_four)
    openings = landscape.openings if scenario is Scenario.FENCE_MITIGATED else ()
    factors = edge_factors(cuts, landscape.fences, openings, cell_size=landscape.grid.cell_size)
    return EdgeFactors(cuts.direction, cuts.row, cuts.col, factors)


@dataclass(frozen=True)
class ScenarioMaps:
    """Omniscape's maps of one scenario and the windows that failed in it."""

    scenario: Scenario
    result: OmniscapeResult
    failed: tuple = ()
    n_windows: int = 0
    peak_bytes_per_worker: int = 0


def near_cuts(shape, edges: EdgeFactors, reach: int) -> np.ndarray:
    """Cells within ``reach`` (rows and columns) of the start cell of a cut edge.

    A window holds an edge only if the edge's start cell lies in the window's square, so the
    windows of targets outside this mask are the same in every fence scenario.

    >>> cut = EdgeFactors(*(np.array([0]), np.array([2]), np.array([2])), np.array([0.0]))
    >>> near_cuts((5, 6), cut, 1).astype(int).tolist()[1]
    [0, 1, 1, 1, 0, 0]
    """
    hits = np.zeros((shape[0] + 2 * reach + 1, shape[1] + 2 * reach + 1), dtype=np.int64)
    hits[edges.row + 2 * reach + 1 - reach, edges.col + 2 * reach + 1 - reach] = 1
    counts = hits.cumsum(0).cumsum(1)
    side = 2 * reach + 1
    box = counts[side:, side:] - counts[:-side, side:] - counts[side:, :-side]
    box = box + counts[:-side, :-side]
    return box[: shape[0], : shape[1]] > 0


def _split_targets(strength: np.ndarray, options: OmniscapeOptions, near: np.ndarray):
    """The target layer split into the blocks whose target is near a cut and the others."""
    targets = find_targets(strength, options.block_size)
    close = near[targets.row, targets.col]
    clean = np.nan_to_num(strength, nan=0.0)
    near_layer = np.zeros_like(clean)
    br = options.block_radius
    for row, col in zip(targets.row[close], targets.col[close], strict=True):
        block = (slice(row - br, row + br + 1), slice(col - br, col + br + 1))
        near_layer[block] = clean[block]
    return near_layer, clean - near_layer


def scenario_maps(
    landscape,
    layers: OmniscapeLayers,
    options: OmniscapeOptions,
    scenarios: Sequence[Scenario],
    *,
    executor=None,
    tile_size: int = 256,
    progress: Progress | None = None,
) -> list[ScenarioMaps]:
    """Run Omniscape for every scenario, fences cutting edges inside every window.

    A window that holds no cut edge is the same in every scenario: those windows are solved
    once, and only the windows near a fence are solved again per scenario (each map is the sum
    of both parts, never a difference). Flow potential ignores fences (every cell at
    conductance 1), so it too is solved once.
    """
    from crossings.scale.windows import run_tiles

    edges = {s: scenario_edges(landscape, s, options.connect_four) for s in scenarios}
    cut = [e for e in edges.values() if len(e)]
    near = near_cuts(layers.grid_shape, cut[0], options.reach) if cut else None
    if near is not None:
        near_layer, far_layer = _split_targets(layers.target_strength, options, near)
    else:  # no fence cuts an edge: every scenario is the plain run
        near_layer, far_layer = None, layers.target_strength
    parts = [("shared windows", replace(layers, targets=far_layer), options)]
    plain = _without_flow_potential(options)
    if near_layer is not None:
        for number, scenario in enumerate(scenarios):
            fenced = replace(layers, targets=near_layer, edge_factors=edges[scenario])
            parts.append((scenario.value, fenced, options if number == 0 else plain))
    runs = []
    for number, (stage, part, solve) in enumerate(parts):
        label = f"{stage} ({number + 1}/{len(parts)})"

        def show(_stage, done, total, label=label):
            report_progress(progress, label, done, total)

        runs.append(run_tiles(part, solve, executor=executor, tile_size=tile_size, progress=show))
    shared = runs[0]
    nodata = ~np.isfinite(layers.conductance)
    results = []
    for number, scenario in enumerate(scenarios):
        maps = {name: values.copy() for name, values in shared.maps.items()}
        failed, windows, peak = list(shared.failed), shared.n_windows, shared.peak_bytes_per_worker
        if near_layer is not None:
            own, first = runs[1 + number], runs[1]
            maps["current"] += own.maps["current"]
            if "flow_potential" in maps:
                maps["flow_potential"] += first.maps["flow_potential"]
            failed += own.failed
            windows += own.n_windows
            peak = max(peak, own.peak_bytes_per_worker)
        result = finish(maps, nodata, options, windows)
        results.append(ScenarioMaps(scenario, result, tuple(failed), windows, peak))
    return results


def _without_flow_potential(options: OmniscapeOptions) -> OmniscapeOptions:
    return replace(options, calc_flow_potential=False, calc_normalized_current=False)


def write_scenario_maps(grid, results: Sequence[ScenarioMaps], out_dir: Path, dtype) -> list[Path]:
    """The per-scenario GeoTIFFs, the differences from ``fence_closed`` and failed_windows.csv."""
    out_dir = Path(out_dir)
    written = []
    for item in results:
        name = item.scenario.value
        maps = {
            "cum_currmap": item.result.cumulative_current,
            "flow_potential": item.result.flow_potential,
            "normalized_cum_currmap": item.result.normalized_current,
        }
        for stem, values in maps.items():
            if values is not None:
                path = out_dir / f"{stem}_{name}.tif"
                written.append(write_geotiff(path, grid, values, dtype=dtype))
    by_scenario = {item.scenario: item.result.cumulative_current for item in results}
    closed = by_scenario.get(Scenario.FENCE_CLOSED)
    for other in (Scenario.NO_FENCE, Scenario.FENCE_MITIGATED):
        if closed is not None and other in by_scenario:
            stem = f"cum_currmap_difference_{other.value}_minus_fence_closed"
            difference = by_scenario[other] - closed
            written.append(write_geotiff(out_dir / f"{stem}.tif", grid, difference, dtype=dtype))
    written.append(_write_failed(out_dir / FAILED_WINDOWS, results))
    return written


def _write_failed(path: Path, results: Sequence[ScenarioMaps]) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["scenario", "row", "col", "reason"])
            for item in results:
                for failure in sorted(item.failed, key=lambda f: (f.row, f.col)):
                    writer.writerow([item.scenario.value, failure.row, failure.col, failure.reason])
    return path


def run(config: Config, out_dir: str | os.PathLike, progress: Progress | None = None) -> RunRecord:
    """Run every scenario of ``config`` and write the maps, their differences and the manifest.

    Raises
    ------
    ConfigError
        Bad distances, layers off the resistance grid.
    PlanTooLargeError
        A worker would need more memory than ``max_memory_gb`` (default 2 GiB).
    """
    from crossings.landscape import load_landscape
    from crossings.scale import make_executor
    from crossings.scale.windows import plan_run

    check_config(config, Config, NAME)
    files = config.landscape
    landscape = load_landscape(
        files.resistance,
        files.fences,
        fences_layer=files.fences_layer,
        openings_path=files.openings,
        openings_layer=files.openings_layer,
        crs=files.crs,
    )
    options = config.options(landscape.grid.cell_size)
    layers = _layers(config, landscape, options.precision.dtype)
    log = RunLog(
        out_dir,
        command="crossings omniscape run",
        config=config.to_mapping(),
        sensitivity=SENSITIVITY,
        sensitivity_reason=SENSITIVITY_REASON,
        job=NAME,
    )
    log.add_inputs(p for p in (*_landscape_inputs(files), config.sources, config.targets) if p)
    limit = int((config.max_memory_gb or 2.0) * 2**30)
    with make_executor(config.workers, config.scheduler, memory_limit=f"{limit}B") as executor:
        plan, _ = plan_run(
            layers,
            options,
            tile_size=config.tile_size,
            workers=executor.workers,
            memory_limit=limit,
        )
        for line in plan.lines():
            _log.info(line)
        results = scenario_maps(
            landscape,
            layers,
            options,
            config.scenarios,
            executor=executor,
            tile_size=config.tile_size,
            progress=progress,
        )
    report_progress(progress, "writing", len(config.scenarios), len(config.scenarios))
    dtype = "float32" if options.precision is Precision.SINGLE else "float64"
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    log.add_outputs(write_scenario_maps(landscape.grid, results, Path(out_dir), dtype))
    log.add_figures(
        cells=plan.cells,
        radius_cells=options.radius,
        buffer_cells=options.buffer,
        block_size=options.block_size,
        windows_per_scenario=plan.windows,
        workers=executor.workers,
        plan=plan.lines(),
        failed_windows={r.scenario.value: len(r.failed) for r in results},
        peak_bytes_per_worker=max(r.peak_bytes_per_worker for r in results),
        summary=summary_lines(results),
    )
    return log.finish_record()


def _landscape_inputs(files: LandscapeFiles):
    return (files.resistance, files.fences, files.openings)


def summary_lines(results: Sequence[ScenarioMaps]) -> list[str]:
    """Total current per scenario and its share of the no-fence total."""
    totals = {r.scenario: float(np.nansum(r.result.cumulative_current)) for r in results}
    reference = totals.get(Scenario.NO_FENCE)
    lines = []
    for scenario, total in totals.items():
        line = f"omniscape {scenario.value}: total current {total:,.4g} A"
        if reference and scenario is not Scenario.NO_FENCE:
            line += f" ({100 * total / reference:.2f}% of no fence)"
        failed = next(len(r.failed) for r in results if r.scenario is scenario)
        if failed:
            line += f", {failed} failed window(s)"
        lines.append(line)
    return lines


# ----------------------------------------------------------------------------------------------
# Omniscape.jl INI files


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
    log = RunLog(
        folder, command=f"crossings omniscape run {ini}", config=job.to_mapping(), job=NAME
    )
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


#: The demo's job (docs/omniscape.md shows it as TOML); paths are the bundled demo files.
DEMO_JOB = {
    "radius_m": 10000.0,
    "block_size": 9,
    "solver": "splu",
    "landscape": DEMO_LANDSCAPE_SECTION,
}


def demo_step(landscape, out_dir: Path) -> list[str]:
    """Omniscape on the demo landscape (radius 10 km): no fence, fence closed, with openings."""
    heading = "omniscape (moving window, radius 10 km, block 9 cells):"
    return run_demo_job(sys.modules[__name__], DEMO_JOB, Path(out_dir), heading)
