"""Benchmark tiled Omniscape on the Central Asia resistance surface (issue 11).

Cases:

- ``ca-2km``: the whole 2 km grid, radius 25 cells (50 km), block 5, cg+amg, Dask workers;
- ``ca-1km``: the 1 km grid, radius 50 cells (50 km), block 9. ``--full-1km`` runs it all;
  by default a band of tiles across the middle of the grid is run and the whole run is
  extrapolated from the measured cost per window (labelled "extrapolated");
- ``growth-1x`` / ``growth-4x``: a 200 x 200 and a 400 x 400 cut of the 2 km grid (1x and 4x
  area) at the same radius: time should grow with the number of windows, peak memory per worker
  should stay flat.

Sources are Omniscape's ``source_from_resistance`` (every valid cell, strength ``1 / r``);
tiles are read from the GeoTIFF by windowed reads. "peak MB/worker" is the largest resident
memory of a worker process (``ru_maxrss``) over the run; "cpu ms/window" is worker CPU time per
window (on a shared, loaded machine closer than wall time to what an idle machine takes);
"ratio" is seconds per window relative to the first case.

Build the inputs first: ``.venv/bin/python scripts/build_region.py`` (writes
``crossings-out/region/``). Run: ``.venv/bin/python bench/omniscape.py [--workers 2]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from crossings.core import omniscape as om
from crossings.core.circuit import SolverOptions
from crossings.core.solve import Solver
from crossings.io.raster import read_raster, write_geotiff
from crossings.scale.executor import DaskExecutor
from crossings.scale.windows import RasterLayers, plan_run, run_tiles

ROOT = Path(__file__).resolve().parents[1]
REGION = ROOT / "crossings-out" / "region"
TILE = 128


def _options(radius: int, block: int) -> om.OmniscapeOptions:
    return om.OmniscapeOptions(
        radius=radius, block_size=block, solver=SolverOptions(Solver.CG_AMG), correct_artifacts=True
    )


def _cut(path: Path, rows: slice, cols: slice, folder: Path) -> Path:
    grid, values = read_raster(path)
    west, north = grid.transform[2] + cols.start * grid.cell_size, grid.transform[5]
    north -= rows.start * grid.cell_size
    part = values[rows, cols]
    cut = type(grid).from_origin(west, north, grid.cell_size, part.shape, grid.crs)
    return write_geotiff(folder / f"cut_{part.shape[0]}.tif", cut, part, dtype="float64")


def _band(tiles, grid_shape, rows_wanted: int):
    """Tiles whose rows lie in a band of about ``rows_wanted`` rows across the grid's middle."""
    middle = grid_shape[0] // 2
    return [t for t in tiles if abs((t.rows[0] + t.rows[1]) / 2 - middle) < rows_wanted / 2]


def run_case(name, path, radius, block, executor, *, sample_rows=None):
    source = RasterLayers.open(path)
    options = _options(radius, block)
    plan, tiles = plan_run(source, options, tile_size=TILE, workers=executor.workers)
    chosen = tiles if sample_rows is None else _band(tiles, source.grid_shape, sample_rows)
    started = time.perf_counter()
    run = run_tiles(source, options, executor=executor, tiles=chosen)
    seconds = time.perf_counter() - started
    per_window = seconds / max(run.n_windows, 1)
    total = seconds if sample_rows is None else per_window * plan.windows
    return {
        "case": name,
        "cells": int(np.prod(source.grid_shape)),
        "radius": radius,
        "block": block,
        "windows": plan.windows,
        "solved": run.n_windows,
        "workers": executor.workers,
        "seconds": total,
        "measured": "measured" if sample_rows is None else "extrapolated",
        "cpu_ms": 1000 * run.cpu_seconds / max(run.n_windows, 1),
        "peak_mb": run.peak_bytes_per_worker / 2**20,
        "failed": len(run.failed),
        "per_window": per_window,
    }


def _print(rows) -> None:
    header = (
        f"{'case':10} {'cells':>10} {'radius':>6} {'block':>5} {'windows':>8} {'solved':>7} "
        f"{'workers':>7} {'seconds':>9} {'':12} {'cpu ms/window':>13} {'peak MB/worker':>14} "
        f"{'failed':>6} {'ratio':>6}"
    )
    print(header)
    first = rows[0]["per_window"]
    for r in rows:
        print(
            f"{r['case']:10} {r['cells']:>10,} {r['radius']:>6} {r['block']:>5} "
            f"{r['windows']:>8,} {r['solved']:>7,} {r['workers']:>7} {r['seconds']:>9.0f} "
            f"{r['measured']:12} {r['cpu_ms']:>13.1f} {r['peak_mb']:>14.0f} {r['failed']:>6} "
            f"{r['per_window'] / first:>6.2f}"
        )


def _fresh(workers: int):
    """A new cluster per case: a worker's peak (ru_maxrss) then belongs to that case alone."""
    return DaskExecutor(workers=workers, memory_limit="2GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--full-1km", action="store_true", help="run the whole 1 km grid")
    parser.add_argument("--cases", nargs="*", default=["growth", "ca-2km", "ca-1km"])
    args = parser.parse_args()
    grid_2km, grid_1km = REGION / "resistance_2km.tif", REGION / "resistance_1km.tif"
    if not grid_2km.exists():
        raise SystemExit("run scripts/build_region.py first (it writes crossings-out/region/)")
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if "growth" in args.cases:
            # A land-rich cut in the grid's middle (Kazakh steppe to Tian Shan foothills).
            for side, label in ((200, "growth-1x"), (400, "growth-4x")):
                cut = _cut(grid_2km, slice(250, 250 + side), slice(700, 700 + side), Path(tmp))
                with _fresh(args.workers) as executor:
                    rows.append(run_case(label, cut, 25, 5, executor))
    if "ca-2km" in args.cases:
        with _fresh(args.workers) as executor:
            rows.append(run_case("ca-2km", grid_2km, 25, 5, executor))
    if "ca-1km" in args.cases:
        if not grid_1km.exists():
            raise SystemExit("no resistance_1km.tif: run scripts/build_region.py first")
        sample = None if args.full_1km else 2 * TILE
        with _fresh(args.workers) as executor:
            rows.append(run_case("ca-1km", grid_1km, 50, 9, executor, sample_rows=sample))
    _print(rows)
    print(f"main process peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    load_after = os.getloadavg()
    print(
        f"load average (1, 5, 15 min) before {load_before[0]:.1f} {load_before[1]:.1f} "
        f"{load_before[2]:.1f}, after {load_after[0]:.1f} {load_after[1]:.1f} {load_after[2]:.1f}"
    )


if __name__ == "__main__":
    main()
