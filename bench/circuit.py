"""Benchmark the circuit engine end to end on random 8-neighbour landscapes.

Cases (issue 3): one pair on a 1M-cell and a 4M-cell landscape, and 20 focal points (190 pairs)
with a cumulative current map on the 1M-cell landscape. Resistances are log-uniform in
[1, 100] (seed fixed). "End to end" = conductance graph build + solve + current map, through
``crossings.core.circuit.pairwise`` (the same code path as ``crossings circuitscape run``).

"cpu s" is the CPU time of the same span (user + system): on a shared, loaded machine it is
closer than wall time to what an idle machine would take.
"solve s" is the solver's own time (setup + solves), "other s" the rest of the engine
(network build, current maps). Every case runs in its own process so that the peak resident
memory (``ru_maxrss``) is the case's own. Run ``python bench/circuit.py`` (all cases) or
``--cases 1m-1 --solvers cg_amg``.
References (2-core machine, from the issue): Python Circuitscape 4.0.5 15.6 s at 1M one pair;
GFlow ~3 s at 1M and 16 s / 1.1 GB at 4M; targets 3 s, 16 s / 1.5 GB and 30 s (190 pairs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

CASES = {
    # name: (side, focal points, reference seconds, reference label, target seconds)
    "1m-1": (1000, 2, 15.6, "Circuitscape 4.0.5", 3.0),
    "4m-1": (2000, 2, 16.0, "GFlow", 16.0),
    "1m-190": (1000, 20, 30.0, "target", 30.0),
}
TARGET_PEAK_MB = {"4m-1": 1.5 * 1024}


def _landscape(side: int, seed: int = 42):
    rng = np.random.default_rng(seed)
    return 10.0 ** rng.uniform(0.0, 2.0, (side, side))


def _focal(side: int, count: int, seed: int = 7):
    if count == 2:  # one pair, far apart (10 % in from opposite corners)
        k = side // 10
        return np.array([k, side - 1 - k]), np.array([k, side - 1 - k])
    rng = np.random.default_rng(seed)
    cells = rng.choice(side * side, size=count, replace=False)
    return cells // side, cells % side


def run_case(name: str, solver_name: str, tol: float) -> dict:
    """Run one case in this process and return its figures."""
    from crossings.core.circuit import FocalPoints, SolverOptions, pairwise
    from crossings.core.graph import build_graph
    from crossings.core.grid import GridSpec
    from crossings.core.solve import Solver

    side, n_focal = CASES[name][:2]
    resistance = _landscape(side)
    rows, cols = _focal(side, n_focal)
    grid = GridSpec.from_origin(0.0, side * 100.0, 100.0, (side, side), "EPSG:3857")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    graph = build_graph(grid, 1.0 / resistance)
    built = time.perf_counter()
    result = pairwise(
        graph,
        FocalPoints(rows, cols, np.arange(1, n_focal + 1)),
        options=SolverOptions(solver=Solver(solver_name), tol=tol),
        cumulative=True,
    )
    finished = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    info = result.solve_info[0]
    pairs = int(np.sum(np.triu(result.resistances, 1) > 0))
    return {
        "case": name,
        "cells": side * side,
        "pairs": pairs,
        "solver": info.solver,
        "seconds": finished - started,  # graph + network build + solves + current map
        "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
        "graph_seconds": built - started,
        "solve_seconds": info.seconds,
        "iterations": info.iterations,
        "residual": info.max_residual,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "current_sum": float(result.cumulative_current.sum()),
    }


def _table(rows: list[dict]) -> str:
    header = (
        f"{'case':<8} {'cells':>10} {'pairs':>6} {'solver':<8} {'seconds':>8} {'cpu s':>7} "
        f"{'graph s':>8} "
        f"{'solve s':>8} {'other s':>8} {'iters':>6} {'peak MB':>8} {'target s':>8} {'vs ref':>16}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        ref_s, ref_label, target = CASES[row["case"]][2:]
        ratio = f"{row['seconds'] / ref_s:.2f}x {ref_label}"
        lines.append(
            f"{row['case']:<8} {row['cells']:>10,} {row['pairs']:>6} {row['solver']:<8} "
            f"{row['seconds']:>8.2f} {row.get('cpu_seconds', float('nan')):>7.2f} "
            f"{row['graph_seconds']:>8.2f} {row['solve_seconds']:>8.2f} "
            f"{row['seconds'] - row['graph_seconds'] - row['solve_seconds']:>8.2f} "
            f"{str(row['iterations'] or '-'):>6} {row['peak_mb']:>8.0f} {target:>8.1f} "
            f"{ratio:>16}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--solvers", nargs="*", default=["auto", "cg_amg", "cholmod"])
    parser.add_argument("--tol", type=float, default=1e-6, help="relative residual (CS: 1e-6)")
    parser.add_argument("--one", nargs=2, metavar=("CASE", "SOLVER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_case(args.one[0], args.one[1], args.tol)))
        return 0
    print("end to end: graph build + solve + cumulative current map (crossings.core.circuit)")
    print(f"relative residual tolerance {args.tol:g}; log-uniform resistances 1..100, seed 42")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{os.cpu_count()} cores; load average at start {load} (other processes slow timings)")
    rows = []
    for case in args.cases:
        for solver in args.solvers:
            command = [sys.executable, __file__, "--tol", str(args.tol), "--one", case, solver]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{case} {solver}: failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(_table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(_table(rows))
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average at end {load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
