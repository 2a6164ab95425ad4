"""Benchmark of the opening planner: exact low-rank scoring versus re-solving every candidate.

Landscape: 500 x 500 = 250,000 cells of 100 m (8 neighbours, log-uniform resistances, seed 0),
cut north-south by a closed 50 km fence; 200 candidate openings (100 m full gaps every 250 m);
objective: effective conductance between the western and eastern 2 km strips; greedy choice of
20 openings with every remaining candidate re-scored exactly after each pick.

* ``lowrank``: crossings' planner (one factorisation, Kron reduction + Woodbury updates).
* ``resolve``: the same greedy scoring by re-building and re-solving the whole system for every
  candidate in every round (200 + 199 + ... + 181 = 3,810 solves). It is timed on a few
  candidates and extrapolated (said so in the table).

Each mode runs in its own process so that its peak memory (max RSS) is its own.

Run: ``python bench/plan.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np

N = 500
CELL = 100.0
N_CANDIDATES = 200
N_CHOOSE = 20
RESOLVE_SAMPLE = 3


def landscape():
    from crossings.core import planning as P
    from crossings.core.fences import Fence
    from crossings.core.graph import build_graph
    from crossings.core.grid import GridSpec

    rng = np.random.default_rng(0)
    grid = GridSpec.from_origin(0.0, N * CELL, CELL, (N, N), "EPSG:3857")
    resistance = np.exp(rng.uniform(0.0, np.log(100.0), (N, N)))
    free = build_graph(grid, 1.0 / resistance)
    x0 = N * CELL / 2 + 37.0
    fence = Fence("F", [(x0, -CELL), (x0 + 900.0, N * CELL + CELL)], country_pair="A-B")
    spacing = fence.length / N_CANDIDATES
    gap = P.OpeningType("full_gap", 100.0, 1.0, 1.0)
    candidates = P.candidates_along_fences([fence], [gap], spacing=spacing)[:N_CANDIDATES]
    side_a = np.zeros((N, N), int)
    side_b = np.zeros((N, N), int)
    side_a[:, :20], side_b[:, -20:] = 1, 1
    objective = P.Objective(P.ObjectiveKind.CONDUCTANCE, side_a, side_b)
    return free, fence, candidates, objective


def run_lowrank() -> dict:
    from crossings.core import planning as P
    from crossings.core.barriers import apply_fences, fence_edge_cuts

    started = time.perf_counter()
    free, fence, candidates, objective = landscape()
    built = time.perf_counter()
    cuts = fence_edge_cuts(free.grid, [fence])
    base = apply_fences(free, [fence], cuts=cuts)
    model = P.FenceEdgeModel(free, [fence], candidates, cuts=cuts)
    evaluator = P.PlanEvaluator(base, objective, model)
    setup = time.perf_counter()
    plan = P.greedy_plan(evaluator, candidates, P.Constraints(max_openings=N_CHOOSE))
    done = time.perf_counter()
    # Check the plan's value against an independent fresh solve of the opened landscape.
    opened = apply_fences(free, [fence], [candidates[c].opening() for c in plan.chosen], cuts=cuts)
    check = P.objective_value(opened, objective)
    return {
        "cells": N * N,
        "candidates": len(candidates),
        "edges": len(model.edges),
        "solver": evaluator.solve_info.solver,
        "build_s": built - started,
        "setup_s": setup - built,
        "greedy_s": done - setup,
        "plan_s": done - built,
        "evaluations": plan.evaluations,
        "value": plan.value,
        "check_rel": abs(plan.value - check) / check,
        "chosen": list(plan.chosen),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_resolve() -> dict:
    from crossings.core import planning as P
    from crossings.core.barriers import apply_fences, fence_edge_cuts

    free, fence, candidates, objective = landscape()
    cuts = fence_edge_cuts(free.grid, [fence])
    times = []
    for c in range(RESOLVE_SAMPLE):
        started = time.perf_counter()
        graph = apply_fences(free, [fence], [candidates[c].opening()], cuts=cuts)
        P.objective_value(graph, objective)
        times.append(time.perf_counter() - started)
    per_solve = float(np.median(times))
    solves = sum(N_CANDIDATES - k for k in range(N_CHOOSE))
    return {
        "per_solve_s": per_solve,
        "solves": solves,
        "plan_s": per_solve * solves,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, mode], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    low = child("lowrank")
    res = child("resolve")
    print(
        f"Planner benchmark: {low['cells']:,} cells, {low['candidates']} candidates, "
        f"choose {N_CHOOSE} (greedy, exact re-scoring every round); solver {low['solver']}"
    )
    print(f"{'method':<34}{'solves':>8}{'seconds':>10}{'peak MB':>10}{'ratio':>8}")
    print(
        f"{'low-rank (Kron + Woodbury)':<34}{low['edges']:>8}{low['plan_s']:>10.1f}"
        f"{low['peak_mb']:>10.0f}{1.0:>8.1f}"
    )
    label = f"re-solve ({RESOLVE_SAMPLE} timed, extrapolated)"
    print(
        f"{label:<34}{res['solves']:>8}{res['plan_s']:>10.0f}{res['peak_mb']:>10.0f}"
        f"{res['plan_s'] / low['plan_s']:>8.0f}"
    )
    print(
        f"low-rank detail: setup (factorise + {low['edges']} edge solves) {low['setup_s']:.1f} s, "
        f"greedy {low['greedy_s']:.1f} s ({low['evaluations']} exact evaluations); one re-solve "
        f"{res['per_solve_s']:.2f} s; landscape build {low['build_s']:.1f} s (not counted)"
    )
    print(
        f"plan value {low['value']:.6g}; fresh re-solve of the chosen plan differs by "
        f"{low['check_rel']:.1e} (relative)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        result = run_lowrank() if sys.argv[1] == "lowrank" else run_resolve()
        print(json.dumps(result))
    else:
        main()
