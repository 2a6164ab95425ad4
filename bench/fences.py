"""Benchmark: cutting 1,000 km of fence into grids of growing size at the same cell size.

The cost of :func:`crossings.core.barriers.fence_edge_cuts` must grow with fence length, not with
grid size: the same fences (100 random polylines of 10 km, seed fixed, inside the smallest grid)
are cut into every grid, and the times should stay within 1.5x of each other. ``apply_fences``
copies the four edge-weight arrays, so its time grows with the grid; it is shown for reference.

Run: ``python bench/fences.py`` (add ``--quick`` for a smaller smoke run).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from crossings.core.barriers import (
    apply_fences,
    edge_factors,
    fence_edge_cuts,
    opening_restoration,
)
from crossings.core.fences import Fence, Opening
from crossings.core.graph import build_graph
from crossings.core.grid import GridSpec
from crossings.gallery import DEFAULT_CRS

CELL = 100.0


def random_fences(total_km: float, extent: float, seed: int, piece_km: float = 10.0):
    """Random-walk polylines with 500 m steps and smooth turns, inside ``[0, extent]^2``."""
    rng = np.random.default_rng(seed)
    step = 500.0
    n_steps = int(piece_km * 1000 / step)
    fences = []
    for n in range(int(round(total_km / piece_km))):
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.3, n_steps))
        steps = step * np.column_stack([np.cos(heading), np.sin(heading)])
        start = rng.uniform(0.1 * extent, 0.9 * extent, 2)
        coords = np.vstack([start, start + np.cumsum(steps, axis=0)])
        fences.append(Fence(f"f{n}", np.clip(coords, 1.0, extent - 1.0)))
    return fences


def best_time(function, repeats: int):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def peak_mb(function) -> float:
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 km into 500 and 1000 grids")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sizes = (500, 1000) if args.quick else (2000, 4000)
    total_km = 100.0 if args.quick else 1000.0
    fences = random_fences(total_km, sizes[0] * CELL, seed=20260101)
    km = sum(f.length for f in fences) / 1000

    print(f"fence_edge_cuts: {len(fences)} random polylines, {km:.0f} km, {CELL:.0f} m cells")
    header = (
        f"{'grid':>11} {'fence km':>9} {'edges cut':>10} {'seconds':>8} {'peak MB':>8} {'ratio':>6}"
    )
    print(header)
    warm_up = GridSpec.from_origin(0.0, sizes[0] * CELL, CELL, (sizes[0],) * 2, DEFAULT_CRS)
    fence_edge_cuts(warm_up, fences[:1])  # first-call imports and caches stay out of the table
    reference = None
    for size in sizes:
        grid = GridSpec.from_origin(0.0, size * CELL, CELL, (size, size), DEFAULT_CRS)
        seconds, cuts = best_time(lambda g=grid: fence_edge_cuts(g, fences), args.repeats)
        peak = peak_mb(lambda g=grid: fence_edge_cuts(g, fences))
        reference = reference or seconds
        print(
            f"{size:>5}x{size:<5} {km:>9.0f} {len(cuts):>10} {seconds:>8.3f} {peak:>8.1f} "
            f"{seconds / reference:>6.2f}"
        )

    print("\ndegenerate fences (exact ties resolved by the tie-break) in the largest grid")
    size = sizes[-1]
    grid = GridSpec.from_origin(0.0, size * CELL, CELL, (size, size), DEFAULT_CRS)
    mid = (size // 2 + 0.5) * CELL
    cases = {
        "along a row of cell centres": Fence("row", [(-CELL, mid), ((size + 1) * CELL, mid)]),
        "diagonal through cell centres": Fence(
            "diag", [(CELL / 2, (size - 0.5) * CELL), ((size - 0.5) * CELL, CELL / 2)]
        ),
    }
    for name, fence in cases.items():
        seconds, cuts = best_time(lambda f=fence: fence_edge_cuts(grid, [f]), args.repeats)
        print(f"{name:<30} {fence.length / 1000:>6.0f} km {len(cuts):>7} edges {seconds:>7.3f} s")

    print("\napply_fences (precomputed cuts; copies the 4 edge-weight arrays of the grid)")
    print(f"{'grid':>11} {'cells':>10} {'walk+apply s':>12} {'apply only s':>12} {'peak MB':>8}")
    for size in sizes:
        grid = GridSpec.from_origin(0.0, size * CELL, CELL, (size, size), DEFAULT_CRS)
        graph = build_graph(grid, np.ones(grid.shape))
        cuts = fence_edge_cuts(grid, fences)
        apply_only, _ = best_time(
            lambda g=graph, c=cuts: apply_fences(g, fences, cuts=c), args.repeats
        )
        full, _ = best_time(lambda g=graph: apply_fences(g, fences), args.repeats)
        peak = peak_mb(lambda g=graph, c=cuts: apply_fences(g, fences, cuts=c))
        print(
            f"{size:>5}x{size:<5} {size * size:>10} {full:>8.3f} {apply_only:>10.3f} {peak:>8.1f}"
        )
        del graph

    print("\nopenings (one every km of fence, 10 m wide) on the cuts of the first grid")
    grid = GridSpec.from_origin(0.0, sizes[0] * CELL, CELL, (sizes[0],) * 2, DEFAULT_CRS)
    cuts = fence_edge_cuts(grid, fences)
    openings = [
        Opening(f.fence_id, *f.coords[k], width=10.0)
        for f in fences
        for k in range(0, len(f.coords), 2)
    ]
    seconds, _ = best_time(lambda: edge_factors(cuts, fences, openings, CELL), args.repeats)
    print(f"edge_factors with {len(openings)} openings: {seconds:.3f} s")
    single, _ = best_time(
        lambda: [opening_restoration(cuts, fences, [o], CELL) for o in openings[:100]], 1
    )
    print(f"opening_restoration, one opening per call: {single / 100 * 1000:.2f} ms per call")


if __name__ == "__main__":
    main()
