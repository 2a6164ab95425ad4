"""Omniscape in tiles: tasks that each solve the windows of one tile of targets.

The grid is cut into square tiles of targets (sides a multiple of ``block_size``, so every target
block lies in one tile). A task reads only its tile plus ``radius + buffer`` around it, solves
the window of every target in the tile and returns the padded partial sums of current and flow
potential; the caller adds them into the map (a sum, never a max mosaic), so the result does
not depend on the tiling. Memory per task is bounded by the tile, not the grid.

Finished tiles can be kept on disk (``checkpoint``): a killed run started again with the same
checkpoint folder skips them. A window whose solve fails or misses its residual is retried with
a direct solver; if that fails too it is recorded (row, col, reason) and the run goes on.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from crossings.core import omniscape as om
from crossings.core.circuit import SolverOptions
from crossings.core.solve import Solver, estimate_memory
from crossings.errors import ConfigError, CrossingsError, PlanTooLargeError
from crossings.io.atomic import atomic_path
from crossings.scale.executor import SerialExecutor

__all__ = [
    "FailedWindow",
    "InMemoryLayers",
    "RunPlan",
    "Tile",
    "TileResult",
    "plan_run",
    "plan_tiles",
    "run_windows",
    "solve_tile",
    "write_failed_windows",
]

#: Default tile side in cells (rounded up to a multiple of block_size).
DEFAULT_TILE = 256


@dataclass(frozen=True)
class Tile:
    """Targets in rows ``rows[0]:rows[1]`` and columns ``cols[0]:cols[1]``; reads ``region``."""

    index: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    region: tuple[int, int, int, int]

    @property
    def name(self) -> str:
        return f"tile_{self.index:06d}"


@dataclass(frozen=True)
class FailedWindow:
    row: int
    col: int
    reason: str


@dataclass(frozen=True)
class TileResult:
    """Padded partial sums of one tile (origin = ``(region[0], region[2])``)."""

    tile: Tile
    maps: dict[str, np.ndarray]
    n_windows: int
    failed: tuple[FailedWindow, ...] = ()
    seconds: float = 0.0
    peak_bytes: int = 0
    cpu_seconds: float = 0.0


@dataclass(frozen=True)
class InMemoryLayers:
    """A layer source holding arrays in memory (the whole grid, or the part a task reads)."""

    layers: om.OmniscapeLayers

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.layers.grid_shape

    def read(self, region: tuple[int, int, int, int]) -> om.OmniscapeLayers:
        r0, r1, c0, c1 = region
        o0, o1 = self.layers.offset
        return self.layers.part(slice(r0 - o0, r1 - o0), slice(c0 - o1, c1 - o1))

    def target_block(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        o0, o1 = self.layers.offset
        return self.layers.target_strength[rows[0] - o0 : rows[1] - o0, cols[0] - o1 : cols[1] - o1]

    def cut(self, region: tuple[int, int, int, int]) -> InMemoryLayers:
        """Only what the task of ``region`` reads, so that a task ships its tile, not the grid."""
        return InMemoryLayers(self.read(region))


@dataclass(frozen=True)
class RasterLayers:
    """A layer source reading tiles from a resistance GeoTIFF by windowed reads.

    Conductance is ``1 / resistance`` and sources come from the resistance as Omniscape's
    ``source_from_resistance`` (``1 / r`` where ``r <= r_cutoff``), so a worker only ever holds
    its tile plus the window reach.
    """

    resistance: str
    r_cutoff: float = math.inf
    precision: om.Precision = om.Precision.DOUBLE
    grid_shape: tuple[int, int] = (0, 0)

    @classmethod
    def open(cls, path, *, r_cutoff: float = math.inf, precision=om.Precision.DOUBLE):
        from crossings.io.omniscape import raster_shape

        return cls(str(path), r_cutoff, precision, raster_shape(path))

    def _resistance(self, region) -> np.ndarray:
        from crossings.io.omniscape import read_raster_window

        return read_raster_window(self.resistance, region, self.precision.dtype)

    def read(self, region: tuple[int, int, int, int]) -> om.OmniscapeLayers:
        resistance = self._resistance(region)
        with np.errstate(divide="ignore"):
            conductance = 1.0 / resistance
        sources = om.source_from_resistance(resistance, self.r_cutoff)
        return om.OmniscapeLayers(
            conductance, sources, grid_shape=self.grid_shape, offset=(region[0], region[2])
        )

    def target_block(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        return om.source_from_resistance(self._resistance((*rows, *cols)), self.r_cutoff)


def as_source(layers):
    """A layer source for ``layers`` (whole-grid arrays are wrapped in InMemoryLayers)."""
    return InMemoryLayers(layers) if isinstance(layers, om.OmniscapeLayers) else layers


def plan_tiles(grid_shape, options: om.OmniscapeOptions, tile_size: int = DEFAULT_TILE):
    """Tiles covering the grid, sides a multiple of ``block_size``.

    >>> [t.rows + t.cols for t in plan_tiles((10, 7), om.OmniscapeOptions(radius=2), 6)]
    [(0, 6, 0, 6), (0, 6, 6, 7), (6, 10, 0, 6), (6, 10, 6, 7)]
    """
    block = options.block_size
    side = max(block, int(math.ceil(tile_size / block)) * block)
    nrows, ncols = grid_shape
    reach = options.reach
    tiles = []
    for r in range(0, nrows, side):
        for c in range(0, ncols, side):
            rows, cols = (r, min(r + side, nrows)), (c, min(c + side, ncols))
            region = (
                max(rows[0] - reach, 0),
                min(rows[1] + reach, nrows),
                max(cols[0] - reach, 0),
                min(cols[1] + reach, ncols),
            )
            tiles.append(Tile(len(tiles), rows, cols, region))
    return tiles


def _tile_targets(source, tile: Tile, options) -> om.Targets:
    strength = source.target_block(tile.rows, tile.cols)
    return om.find_targets(
        strength,
        options.block_size,
        offset=(tile.rows[0], tile.cols[0]),
        grid_shape=source.grid_shape,
    )


def _peak_bytes() -> int:
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError):  # pragma: no cover - not on Linux
        return 0


def _solve_or_retry(layers, options, row, col, amps, correction):
    try:
        return om.solve_window(layers, options, row, col, amps, correction), None
    except (CrossingsError, ArithmeticError, RuntimeError, ValueError) as first:
        direct = replace(options, solver=SolverOptions(Solver.SPLU, options.solver.tol))
        try:
            return om.solve_window(layers, direct, row, col, amps, correction), None
        except (CrossingsError, ArithmeticError, RuntimeError, ValueError) as second:
            reason = f"{type(first).__name__}: {first}; direct retry: {second}"
            return None, FailedWindow(row, col, " ".join(reason.split()))


_SOLVER_THREAD: list = []


def solve_tile(task) -> TileResult:
    """Solve every window of one tile: ``task = (source, options, tile, correction)``.

    The windows are solved on one long-lived thread per process, so that per-thread state
    (BLAS buffers, allocator caches) exists once, whatever thread an executor runs the task
    on. The growth of worker memory with the number of tiles once blamed on such buffers was
    SuperLU's: factors made on a non-main thread are never freed (scipy issue 15921), which the
    AMG preconditioner no longer uses for its coarsest level (see docs/scale.md).
    """
    if not _SOLVER_THREAD:
        from concurrent.futures import ThreadPoolExecutor

        _SOLVER_THREAD.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="windows"))
    return _SOLVER_THREAD[0].submit(_solve_tile, task).result()


def _solve_tile(task) -> TileResult:
    source, options, tile, correction = task
    started, cpu_started = time.perf_counter(), time.process_time()
    targets = _tile_targets(source, tile, options)
    r0, r1, c0, c1 = tile.region
    maps = om.empty_maps((r1 - r0, c1 - c0), options)
    if not len(targets):
        return TileResult(tile, maps, 0, (), time.perf_counter() - started, _peak_bytes())
    layers = source.read(tile.region)
    failed = []
    for k in range(len(targets)):
        row, col, amps = int(targets.row[k]), int(targets.col[k]), float(targets.amps[k])
        window, failure = _solve_or_retry(layers, options, row, col, amps, correction)
        if failure is None:
            om.accumulate(maps, window, origin=(r0, c0))
        else:
            failed.append(failure)
    return TileResult(
        tile,
        maps,
        len(targets),
        tuple(failed),
        time.perf_counter() - started,
        _peak_bytes(),
        time.process_time() - cpu_started,
    )


# ----------------------------------------------------------------------------------------------
# Plan


@dataclass(frozen=True)
class RunPlan:
    """What a run will do, and whether it fits."""

    cells: int
    windows: int
    solves: int
    tiles: int
    workers: int
    window_cells: int
    memory_per_worker: int
    seconds_per_window: float
    tile_side: int

    @property
    def estimated_seconds(self) -> float:
        return self.windows * self.seconds_per_window / max(self.workers, 1)

    def lines(self) -> list[str]:
        first = (
            f"plan: {self.cells:,} cells, {self.windows:,} windows ({self.solves:,} solves of "
            f"up to {self.window_cells:,} cells) in {self.tiles:,} tiles of {self.tile_side} cells"
        )
        memory = self.memory_per_worker / 2**20
        second = (
            f"      {self.workers} worker(s), about {memory:,.0f} MiB each, estimated "
            f"{_duration(self.estimated_seconds)} "
            f"({self.seconds_per_window * 1000:.1f} ms per window measured)"
        )
        return [first, second]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _memory_per_worker(options: om.OmniscapeOptions, tile_side: int, n_layers: int) -> int:
    reach = options.reach
    region = (tile_side + 2 * reach) ** 2
    window = (2 * reach + 1) ** 2
    n_maps = 2 if options.wants_flow_potential else 1
    arrays = region * 8 * (n_layers + n_maps)
    neighbours = 4 if options.connect_four else 8
    solve = estimate_memory(window, window * (neighbours + 1), Solver.SPLU)
    # Graph, sources, voltages and currents of one window (a few dozen arrays of its size).
    return int(arrays + solve + 40 * 8 * window + 150 * 2**20)  # + interpreter and numpy


def plan_run(
    source,
    options: om.OmniscapeOptions,
    *,
    tile_size: int = DEFAULT_TILE,
    workers: int = 1,
    memory_limit: int | None = None,
    seconds_per_window: float | None = None,
) -> tuple[RunPlan, list[Tile]]:
    """Count windows, estimate memory and time; refuse when a worker would not fit.

    ``seconds_per_window`` is measured on one window when not given.

    Raises
    ------
    PlanTooLargeError
        The estimated memory per worker exceeds ``memory_limit``.
    """
    source = as_source(source)
    tiles = plan_tiles(source.grid_shape, options, tile_size)
    windows = sum(len(_tile_targets(source, tile, options)) for tile in tiles)
    side = tiles[0].rows[1] - tiles[0].rows[0] if tiles else 0
    n_layers = 2 + 2 * len(getattr(getattr(source, "layers", None), "conditions", ()))
    memory = _memory_per_worker(options, side, n_layers)
    if seconds_per_window is None:
        seconds_per_window = _measure_one_window(source, options, tiles)
    reach = options.reach
    plan = RunPlan(
        cells=int(np.prod(source.grid_shape)),
        windows=windows,
        solves=windows * (2 if options.wants_flow_potential else 1),
        tiles=len(tiles),
        workers=workers,
        window_cells=(2 * reach + 1) ** 2,
        memory_per_worker=memory,
        seconds_per_window=seconds_per_window,
        tile_side=side,
    )
    if memory_limit is not None and memory > memory_limit:
        raise PlanTooLargeError(
            f"each worker needs about {memory / 2**30:.2f} GiB but the limit is "
            f"{memory_limit / 2**30:.2f} GiB; use a smaller --tile-size (now {side}) or a "
            "larger worker memory limit."
        )
    return plan, tiles


def _measure_one_window(source, options, tiles) -> float:
    for tile in sorted(tiles, key=lambda t: -(t.rows[1] - t.rows[0]) * (t.cols[1] - t.cols[0])):
        targets = _tile_targets(source, tile, options)
        if len(targets):
            k = len(targets) // 2
            layers = source.read(tile.region)
            correction = om.artifact_correction(options) if options.corrects else None
            started = time.perf_counter()
            _solve_or_retry(
                layers,
                options,
                int(targets.row[k]),
                int(targets.col[k]),
                float(targets.amps[k]),
                correction,
            )
            return time.perf_counter() - started
    return 0.0


# ----------------------------------------------------------------------------------------------
# Run


@dataclass
class _Totals:
    maps: dict[str, np.ndarray]
    windows: int = 0
    failed: list[FailedWindow] = field(default_factory=list)
    peak_bytes: int = 0
    task_seconds: float = 0.0
    cpu_seconds: float = 0.0


def _checkpoint_path(folder: Path, tile: Tile) -> Path:
    return folder / f"{tile.name}.npz"


def _save_tile(folder: Path, result: TileResult) -> None:
    failed = np.array([(f.row, f.col, f.reason) for f in result.failed], dtype=object).reshape(
        -1, 3
    )
    with atomic_path(_checkpoint_path(folder, result.tile), suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                n_windows=result.n_windows,
                failed=failed.astype(str),
                seconds=result.seconds,
                **{f"map_{k}": v for k, v in result.maps.items()},
            )


def _load_tile(folder: Path, tile: Tile) -> TileResult | None:
    path = _checkpoint_path(folder, tile)
    if not path.is_file():
        return None
    with np.load(path) as data:
        maps = {k[4:]: data[k] for k in data.files if k.startswith("map_")}
        failed = tuple(FailedWindow(int(r), int(c), str(m)) for r, c, m in data["failed"])
        return TileResult(tile, maps, int(data["n_windows"]), failed, float(data["seconds"]))


def _add(totals: _Totals, result: TileResult) -> None:
    r0, r1, c0, c1 = result.tile.region
    for name, values in result.maps.items():
        totals.maps[name][r0:r1, c0:c1] += values
    totals.windows += result.n_windows
    totals.failed.extend(result.failed)
    totals.peak_bytes = max(totals.peak_bytes, result.peak_bytes)
    totals.task_seconds += result.seconds
    totals.cpu_seconds += result.cpu_seconds


@dataclass(frozen=True)
class WindowsRun:
    """Sums of a tiled run and its figures."""

    maps: dict[str, np.ndarray]
    n_windows: int
    failed: tuple[FailedWindow, ...]
    tiles: int
    resumed_tiles: int
    peak_bytes_per_worker: int
    task_seconds: float
    cpu_seconds: float = 0.0


def run_windows(
    layers,
    options: om.OmniscapeOptions,
    *,
    executor=None,
    tiles: list[Tile] | None = None,
    tile_size: int = DEFAULT_TILE,
    checkpoint: str | os.PathLike | None = None,
    progress: Callable | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """Sum the windows of every target, tile by tile; returns ``(maps, n_targets)``.

    See :func:`run_tiles` for the figures of the run (failed windows, resumed tiles).
    """
    run = run_tiles(
        layers,
        options,
        executor=executor,
        tiles=tiles,
        tile_size=tile_size,
        checkpoint=checkpoint,
        progress=progress,
    )
    return run.maps, run.n_windows


def run_tiles(
    layers,
    options: om.OmniscapeOptions,
    *,
    executor=None,
    tiles: list[Tile] | None = None,
    tile_size: int = DEFAULT_TILE,
    checkpoint: str | os.PathLike | None = None,
    progress: Callable | None = None,
) -> WindowsRun:
    """Run every tile on ``executor`` (serial by default) and sum the padded results.

    Parameters
    ----------
    layers : OmniscapeLayers or a layer source (``grid_shape``, ``read``, ``target_strength``)
    options : OmniscapeOptions
    executor : Executor, optional
    tiles : list of Tile, optional
        From :func:`plan_run` (default: :func:`plan_tiles` with ``tile_size``).
    checkpoint : path-like, optional
        Folder keeping finished tiles; tiles found there are not solved again.
    progress : callable, optional
        ``progress("windows", done, total)`` as tiles finish (total = None when unknown).
    """
    source = as_source(layers)
    executor = executor or SerialExecutor()
    tiles = tiles if tiles is not None else plan_tiles(source.grid_shape, options, tile_size)
    totals = _Totals(om.empty_maps(source.grid_shape, options))
    folder = Path(checkpoint) if checkpoint is not None else None
    pending, resumed = [], 0
    for tile in tiles:
        done = _load_tile(folder, tile) if folder is not None else None
        if done is None:
            pending.append(tile)
        else:
            _add(totals, done)
            resumed += 1
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    correction = om.artifact_correction(options) if options.corrects else None
    total = None
    if progress is not None:
        total = sum(len(_tile_targets(source, t, options)) for t in tiles)
        progress("windows", totals.windows, total)

    def on_result(_, result: TileResult) -> None:
        if folder is not None:
            _save_tile(folder, result)
        _add(totals, result)
        if progress is not None:
            progress("windows", totals.windows, total)

    tasks = [(_task_source(source, tile), options, tile, correction) for tile in pending]
    executor.run(solve_tile, tasks, on_result)
    return WindowsRun(
        totals.maps,
        totals.windows,
        tuple(totals.failed),
        len(tiles),
        resumed,
        totals.peak_bytes,
        totals.task_seconds,
        totals.cpu_seconds,
    )


def _task_source(source, tile: Tile):
    """The layer source a task gets: its tile's part when the source holds arrays in memory."""
    cut = getattr(source, "cut", None)
    return source if cut is None else cut(tile.region)


def write_failed_windows(path: str | os.PathLike, failed) -> Path:
    """``failed_windows.csv``: row, col (whole-grid, 0-based) and reason of each failed window."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", "col", "reason"])
            for failure in sorted(failed, key=lambda f: (f.row, f.col)):
                writer.writerow([failure.row, failure.col, failure.reason])
    return Path(path)


def check_tile_size(tile_size: int) -> int:
    if tile_size < 1:
        raise ConfigError(f"must be >= 1 cell; got {tile_size}", field="tile_size")
    return tile_size
