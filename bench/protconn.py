"""Benchmark ProtConn on random PAs: sparse neighbour search vs a full-matrix baseline.

Run: ``python bench/protconn.py [--sizes 500 1000 2000 5000] [--baseline-max 2000]``.

Random square-ish PAs (0.5-10 km across, seeded) are scattered over a 2,000 x 1,500 km region
(about the size of Kazakhstan); the kernel is the DOPA one (p = 0.5 at 10 km) and the floor
1e-6 (search within 199 km). Each case runs in a fresh process, so ``peak MB`` is that process's
maximum resident memory (interpreter and libraries included) and ``CPU s`` its processor time
(includes imports; it tells the work apart from waiting on a busy machine).

- ``sparse``: :func:`crossings.core.pa_links.edge_links` (STRtree ``dwithin``, exact
  shapely distances) then :func:`crossings.core.protconn.pc` (blocked Dijkstra with a limit);
- ``full matrix``: every pair's exact edge distance in an n x n matrix, then Floyd-Warshall on
  ``-ln p`` over the complete graph (what a tool without a distance cap does). It is measured up
  to ``--baseline-max`` nodes; above that its seconds are extrapolated as n^3 from the largest
  measured size (marked ``~``) and its matrix memory as n^2 (two float64 matrices).

``CPU ratio`` is the baseline's processor time over the sparse run's. The last column checks
that both give the same PCnum (relative difference; the sparse result must stay within its
reported truncation bound).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np
import shapely

REGION = (2_000_000.0, 1_500_000.0)
SEED = 12


def random_pas(n: int, seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, REGION[0], n)
    y = rng.uniform(0, REGION[1], n)
    w = rng.uniform(500, 10_000, n)
    h = w * rng.uniform(0.5, 2.0, n)
    areas_m2 = w * h
    return shapely.box(x, y, x + w, y + h), areas_m2 / 1e6


def _sparse(n: int, queue) -> None:
    from crossings.core.pa_links import edge_links
    from crossings.core.protconn import DEFAULT_FLOOR, Kernel, pc

    geoms, areas = random_pas(n)
    kernel = Kernel(10_000.0)
    start = time.perf_counter()
    links = edge_links(geoms, kernel.distance_at(DEFAULT_FLOOR))
    found = time.perf_counter() - start
    result = pc(areas, links, kernel)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    peak = usage.ru_maxrss / 1024
    queue.put((seconds, cpu, found, peak, result.pcnum, result.pcnum_truncation_bound, len(links)))


def _full(n: int, queue) -> None:
    from scipy.sparse.csgraph import floyd_warshall

    geoms, areas = random_pas(n)
    start = time.perf_counter()
    i, j = np.triu_indices(n, 1)
    distance = np.zeros((n, n))
    distance[i, j] = shapely.distance(geoms[i], geoms[j])
    distance += distance.T
    cost = distance * (np.log(2.0) / 10_000.0)
    del distance
    # A dense csgraph matrix reads 0, and anything np.isclose to 0 (below 1e-8), as "no edge":
    # touching PAs (d = 0) get a cost of 1e-6 (p = 0.999999) so they stay links (otherwise this
    # baseline has the DOPA "wrong" fixture's bug).
    cost[cost < 1e-6] = 1e-6
    np.fill_diagonal(cost, 0.0)
    best = np.exp(-floyd_warshall(cost, directed=False))  # dense: every pair is an edge
    pcnum = float(areas @ best @ areas)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put((seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, pcnum))


def in_process(target, n: int):
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(n, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 5000])
    parser.add_argument("--baseline-max", type=int, default=2000)
    args = parser.parse_args()
    header = (
        f"{'PAs':>6} {'links':>9} {'sparse s':>9} {'(search s)':>10} {'CPU s':>7} {'peak MB':>8} "
        f"{'full s':>9} {'full CPU s':>10} {'full MB':>8} {'CPU ratio':>9} {'PCnum rel. diff':>16}"
    )
    print(header)
    print("-" * len(header))
    last_full = None
    for n in args.sizes:
        seconds, cpu, found, peak, pcnum, bound, links = in_process(_sparse, n)
        if n <= args.baseline_max:
            full_seconds, full_cpu, full_peak, full_pcnum = in_process(_full, n)
            last_full = (n, full_seconds, full_cpu)
            full_text, mem_text = f"{full_seconds:9.2f}", f"{full_peak:8.0f}"
            cpu_text = f"{full_cpu:10.2f}"
            diff = abs(full_pcnum - pcnum) / full_pcnum
            diff_text = f"{diff:16.2e}"
            assert full_pcnum - pcnum <= bound * (1 + 1e-9) + 1e-9 * full_pcnum
        else:
            scale = (n / last_full[0]) ** 3 if last_full else float("nan")
            full_seconds, full_cpu = last_full[1] * scale, last_full[2] * scale
            full_text, cpu_text = f"~{full_seconds:8.0f}", f"~{full_cpu:9.0f}"
            mem_text = f"~{2 * n * n * 8 / 2**20:7.0f}"
            diff_text = f"{'(not run)':>16}"
        print(
            f"{n:6d} {links:9d} {seconds:9.2f} {found:10.2f} {cpu:7.2f} {peak:8.0f} {full_text} "
            f"{cpu_text} {mem_text} {full_cpu / cpu:8.0f}x {diff_text}"
        )


if __name__ == "__main__":
    main()
