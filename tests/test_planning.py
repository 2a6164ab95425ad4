"""Planner core: exact low-rank gains against dense re-solves, exact search against brute force.

Every reference value here is computed independently of ``crossings.core.planning``: dense
Laplacians solved with numpy (Dirichlet problems and pseudo-inverses) after applying the
openings edge by edge (synthetic groups) or through ``barriers.apply_fences`` (real fences).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from crossings.core import planning as P
from crossings.core.fences import Fence, Opening
from crossings.core.graph import DIRECTIONS, AveragingRule, build_graph
from crossings.core.grid import GridSpec
from crossings.core.solve import Solver
from crossings.errors import ConfigError

CELL = 100.0


# --------------------------------------------------------------------------------------------
# Independent dense references
# --------------------------------------------------------------------------------------------
def dense_conductance(graph, side_a, side_b) -> float:
    """Effective conductance between two short-circuited cell sets: Dirichlet energy (splu)."""
    lap = graph.laplacian().tocsc()
    a = side_a[graph.valid] > 0
    b = side_b[graph.valid] > 0
    adjacency = -lap.copy()
    adjacency.setdiag(0)
    _, labels = csgraph.connected_components(adjacency != 0, directed=False)
    anchored = np.isin(labels, np.unique(labels[a | b]))
    free = np.flatnonzero(~a & ~b & anchored)
    v = np.zeros(lap.shape[0])
    v[a] = 1.0
    rhs = -(lap[free][:, np.flatnonzero(a)] @ np.ones(a.sum()))
    v[free] = spla.splu(lap[free][:, free].tocsc()).solve(np.asarray(rhs).ravel())
    return float(v @ (lap @ v))


def dense_pairwise(graph, regions_a, regions_b) -> float:
    """Area-weighted mean pair conductance, every region short-circuited, by pseudo-inverse."""
    lap = graph.laplacian().toarray()
    ra, rb = regions_a[graph.valid], regions_b[graph.valid]
    labels = [("a", r) for r in np.unique(ra[ra > 0])] + [("b", r) for r in np.unique(rb[rb > 0])]
    group = np.full(len(lap), -1)
    for k, (side, r) in enumerate(labels):
        group[(ra if side == "a" else rb) == r] = k
    # Merge every region into one node: rows/columns summed (an independent construction).
    free = np.flatnonzero(group < 0)
    merge = np.zeros((len(lap), len(labels) + len(free)))
    merge[np.flatnonzero(group >= 0), group[group >= 0]] = 1.0
    merge[free, len(labels) + np.arange(len(free))] = 1.0
    merged = merge.T @ lap @ merge
    adjacency = -merged.copy()
    np.fill_diagonal(adjacency, 0)
    _, comp = csgraph.connected_components(np.abs(adjacency) > 1e-300, directed=False)
    pinv = np.linalg.pinv(merged, rcond=1e-13, hermitian=True)
    total, weights = 0.0, 0.0
    areas = [int(((ra if s == "a" else rb) == r).sum()) for s, r in labels]
    for p, (sp_, _) in enumerate(labels):
        for q, (sq, _) in enumerate(labels):
            if sp_ == "a" and sq == "b":
                w = areas[p] * areas[q]
                weights += w
                if comp[p] == comp[q]:
                    total += w / (pinv[p, p] + pinv[q, q] - 2 * pinv[p, q])
    return total / weights


# --------------------------------------------------------------------------------------------
# A synthetic closed fence: a vertical line between two grid columns, candidates = edge groups
# --------------------------------------------------------------------------------------------
def fenced_grid(n, seed, *, connect_four=False, rule=AveragingRule.AVG_RESISTANCE, nodata=0):
    rng = np.random.default_rng(seed)
    grid = GridSpec.from_origin(0, n * CELL, CELL, (n, n), "EPSG:3857")
    conductance = np.exp(rng.uniform(-1.5, 1.5, (n, n)))
    for _ in range(nodata):
        conductance[rng.integers(0, n), rng.integers(2, n - 2)] = np.nan
    free = build_graph(grid, conductance, connect_four=connect_four, rule=rule)
    column = n // 2 - 1
    weights = [w.copy() for w in free.edge_weights]
    cut = []
    for r in range(n):
        for d, (dr, dc) in enumerate(DIRECTIONS):
            c = column if dc >= 0 else column + 1
            if dc != 0 and 0 <= r + dr < n and weights[d][r, c] > 0:
                cut.append((d, r, c))
    full = {key: weights[key[0]][key[1], key[2]] for key in cut}
    for d, r, c in cut:
        weights[d][r, c] = 0.0
    return free.with_edge_weights(weights), cut, full


def group_model(graph, cut, full, n_candidates, seed):
    rng = np.random.default_rng(seed)
    rows = graph.grid.rows
    index = graph.node_index
    edges = np.array(
        [(index[r, c], index[r + DIRECTIONS[d][0], c + DIRECTIONS[d][1]]) for d, r, c in cut]
    )
    # Candidate k spans a band of rows; neighbouring bands overlap by one row (shared edges).
    starts = np.linspace(0, rows - 3, n_candidates).astype(int)
    members, targets = [], []
    for start in starts:
        member = [k for k, (_, r, _) in enumerate(cut) if start <= r <= start + 2]
        members.append(member)
        permeability = rng.uniform(0.2, 1.0)
        targets.append([full[cut[k]] * permeability for k in member])
    model = P.GroupEdgeModel(edges, np.zeros(len(cut)), members, targets)
    return model, members, targets


def open_groups(graph, cut, members, targets, selection):
    weights = [w.copy() for w in graph.edge_weights]
    for g in selection:
        for k, target in zip(members[g], targets[g], strict=True):
            d, r, c = cut[k]
            weights[d][r, c] = max(weights[d][r, c], target)
    return graph.with_edge_weights(weights)


def sides(n):
    a = np.zeros((n, n), int)
    b = np.zeros((n, n), int)
    a[:, :2] = 1
    b[:, -2:] = 1
    return a, b


CASES = [
    dict(n=10, seed=1),
    dict(n=16, seed=2, connect_four=True),
    dict(n=20, seed=3, rule=AveragingRule.AVG_CONDUCTANCE, nodata=6),
    dict(n=30, seed=4),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['n']}x{c['n']}" for c in CASES])
def test_exact_gain_equals_dense_resolve_conductance(case):
    graph, cut, full = fenced_grid(**case)
    model, members, targets = group_model(graph, cut, full, 8, case["seed"])
    a, b = sides(case["n"])
    evaluator = P.PlanEvaluator(graph, P.Objective(P.ObjectiveKind.CONDUCTANCE, a, b), model)
    rng = np.random.default_rng(case["seed"])
    for chosen in [(), (0,), tuple(rng.choice(8, 3, replace=False).tolist())]:
        rest = [c for c in range(8) if c not in chosen]
        gains = evaluator.gains(chosen, rest)
        before = dense_conductance(open_groups(graph, cut, members, targets, chosen), a, b)
        for c, gain in zip(rest, gains, strict=True):
            after = dense_conductance(
                open_groups(graph, cut, members, targets, chosen + (c,)), a, b
            )
            assert gain == pytest.approx(after - before, rel=1e-9, abs=1e-13)


def test_closed_fence_gives_zero_and_single_opening_positive():
    graph, cut, full = fenced_grid(12, 5)
    model, members, targets = group_model(graph, cut, full, 4, 5)
    a, b = sides(12)
    evaluator = P.PlanEvaluator(graph, P.Objective(P.ObjectiveKind.CONDUCTANCE, a, b), model)
    assert evaluator.value(()) == 0.0
    assert dense_conductance(graph, a, b) == pytest.approx(0.0, abs=1e-12)
    assert evaluator.value((2,)) > 0


def test_exact_gain_equals_dense_resolve_pairwise():
    n = 12
    graph, cut, full = fenced_grid(n, 7)
    model, members, targets = group_model(graph, cut, full, 6, 7)
    ra = np.zeros((n, n), int)
    rb = np.zeros((n, n), int)
    ra[1:4, 0:3], ra[7:11, 1:3] = 1, 2
    rb[2:6, -3:], rb[8:12, -2:] = 1, 2
    objective = P.Objective(P.ObjectiveKind.PAIRWISE, ra, rb)
    evaluator = P.PlanEvaluator(graph, objective, model)
    assert evaluator.value(()) == pytest.approx(dense_pairwise(graph, ra, rb), abs=1e-12)
    for chosen in [(1,), (0, 4)]:
        before = dense_pairwise(open_groups(graph, cut, members, targets, chosen), ra, rb)
        assert evaluator.value(chosen) == pytest.approx(before, rel=1e-9)
        for c in (2, 3, 5):
            after = dense_pairwise(open_groups(graph, cut, members, targets, chosen + (c,)), ra, rb)
            gain = evaluator.gains(chosen, [c])[0]
            assert gain == pytest.approx(after - before, rel=1e-9)


@pytest.mark.parametrize("kind", [P.ObjectiveKind.CONDUCTANCE, P.ObjectiveKind.PAIRWISE])
def test_first_order_estimate_is_the_derivative(kind):
    n = 14
    graph, cut, full = fenced_grid(n, 9)
    model, members, targets = group_model(graph, cut, full, 5, 9)
    a, b = sides(n)
    b[: n // 2] *= 2  # two regions on side b (one for the conductance objective)
    objective = P.Objective(kind, a, b)
    evaluator = P.PlanEvaluator(graph, objective, model)
    dense = dense_conductance if kind is P.ObjectiveKind.CONDUCTANCE else dense_pairwise
    state = open_groups(graph, cut, members, targets, (1,))
    for c in (0, 3):
        # d/dt V(w + t * dw) at t = 0 by a one-sided second-order difference of dense solves
        # (one-sided: a closed edge cannot take a negative weight).
        step = 1e-5
        values = []
        for t in (0.0, step, 2 * step):
            weights = [w.copy() for w in state.edge_weights]
            for k, target in zip(members[c], targets[c], strict=True):
                d, r, col = cut[k]
                weights[d][r, col] += t * (max(weights[d][r, col], target) - weights[d][r, col])
            values.append(dense(state.with_edge_weights(weights), a, b))
        derivative = (-3 * values[0] + 4 * values[1] - values[2]) / (2 * step)
        estimate = evaluator.first_order((1,), [c])[0]
        assert estimate == pytest.approx(derivative, rel=1e-4)
        assert estimate != pytest.approx(evaluator.gains((1,), [c])[0], rel=1e-3)


# --------------------------------------------------------------------------------------------
# Real fences through crossings.core.barriers
# --------------------------------------------------------------------------------------------
def fence_problem(seed, *, n=14, angle_fence=True, connect_four=False, solver=Solver.AUTO):
    from crossings.core import barriers

    rng = np.random.default_rng(seed)
    grid = GridSpec.from_origin(0, n * CELL, CELL, (n, n), "EPSG:3857")
    free = build_graph(grid, np.exp(rng.uniform(-1, 1, (n, n))), connect_four=connect_four)
    top = 760.0 if angle_fence else 530.0
    fence = Fence("f1", [(530.0, -100.0), (top, n * CELL + 100.0)], country_pair="KAZ-UZB")
    types = [P.OpeningType("full_gap", 150.0, 1.0, 3.0), P.OpeningType("lower", 60.0, 0.7, 1.0)]
    candidates = P.candidates_along_fences([fence], types, spacing=2 * n * CELL / 12)[:12]
    existing = (Opening("f1", 620.0, 650.0, 80.0, 1.0, opening_id="old"),)
    cuts = barriers.fence_edge_cuts(grid, [fence], connect_four=connect_four)
    base = barriers.apply_fences(free, [fence], existing, cuts=cuts)
    model = P.FenceEdgeModel(free, [fence], candidates, existing)
    a, b = sides(n)

    def reference(selection):
        openings = existing + tuple(candidates[c].opening() for c in selection)
        return dense_conductance(barriers.apply_fences(free, [fence], openings, cuts=cuts), a, b)

    objective = P.Objective(P.ObjectiveKind.CONDUCTANCE, a, b)
    return P.PlanEvaluator(base, objective, model, solver=solver), candidates, reference


@pytest.mark.parametrize(
    ("connect_four", "solver"),
    [(False, Solver.AUTO), (True, Solver.AUTO), (False, Solver.SPLU), (False, Solver.CG_AMG)],
)
def test_fence_model_matches_apply_fences_and_dense_solve(connect_four, solver):
    evaluator, candidates, reference = fence_problem(11, connect_four=connect_four, solver=solver)
    assert len(candidates) == 12
    rng = np.random.default_rng(3)
    selections = [(), (0,), (0, 1), (4, 5, 6)] + [
        tuple(rng.choice(12, 4, replace=False).tolist()) for _ in range(4)
    ]
    for selection in selections:  # includes two types at one site: overlapping openings
        assert evaluator.value(selection) == pytest.approx(reference(selection), rel=1e-9)


def test_exact_search_equals_brute_force_enumeration():
    evaluator, candidates, reference = fence_problem(12)
    constraints = P.Constraints(max_openings=3, min_spacing=150.0, budget=7.0)
    exact = P.exact_plan(evaluator, candidates, constraints)
    greedy = P.greedy_plan(evaluator, candidates, constraints)
    # Brute force over every subset with the independent dense evaluation.
    best, best_set = reference(()), ()
    for size in range(1, 4):
        for subset in itertools.combinations(range(len(candidates)), size):
            chosen = [candidates[c] for c in subset]
            if any(P.violation(chosen[:k], chosen[k], constraints) for k in range(size)):
                continue
            value = reference(subset)
            if value > best:
                best, best_set = value, subset
    assert exact.value == pytest.approx(best, rel=1e-9)
    assert sorted(exact.chosen) == sorted(best_set)
    assert greedy.value <= exact.value * (1 + 1e-12)
    assert greedy.value == pytest.approx(reference(greedy.chosen), rel=1e-9)


def test_greedy_steps_are_exact_rescored_gains():
    evaluator, candidates, reference = fence_problem(13)
    plan = P.greedy_plan(evaluator, candidates, P.Constraints(max_openings=4, min_spacing=200.0))
    assert len(plan.steps) == 4
    chosen = []
    for step in plan.steps:
        expected = reference(tuple(chosen) + (step.candidate,)) - reference(tuple(chosen))
        assert step.gain == pytest.approx(expected, rel=1e-9)
        # The growing-Woodbury first-order estimate equals the one from the base factorisation.
        direct = evaluator.first_order(tuple(chosen), [step.candidate])[0]
        assert step.first_order == pytest.approx(direct, rel=1e-9)
        chosen.append(step.candidate)
    assert plan.value == pytest.approx(reference(tuple(chosen)), rel=1e-9)


# --------------------------------------------------------------------------------------------
# Objectives and bad input
# --------------------------------------------------------------------------------------------
def test_focal_areas_on_one_side_only_is_a_clear_error():
    grid = GridSpec.from_origin(0, 1000, CELL, (10, 10), "EPSG:3857")
    fence = Fence("f1", [(450.0, -100.0), (450.0, 1100.0)])
    a = np.zeros((10, 10), int)
    b = np.zeros((10, 10), int)
    a[:, :2], b[:3, 2:4] = 1, 1  # both west of the fence
    objective = P.Objective(P.ObjectiveKind.CONDUCTANCE, a, b)
    with pytest.raises(ConfigError, match="same side of every fence"):
        P.check_focal_sides(grid, objective, [fence])
    b[:] = 0
    b[:, -2:] = 1
    P.check_focal_sides(grid, P.Objective(P.ObjectiveKind.CONDUCTANCE, a, b), [fence])


def test_overlapping_or_empty_focal_areas_are_errors():
    graph, _, _ = fenced_grid(10, 1)
    a, b = sides(10)
    with pytest.raises(ConfigError, match="both sides"):
        P.PlanEvaluator(graph, P.Objective(P.ObjectiveKind.CONDUCTANCE, a, a), None)
    with pytest.raises(ConfigError, match="side_b"):
        P.PlanEvaluator(graph, P.Objective(P.ObjectiveKind.CONDUCTANCE, a, 0 * b), None)


def test_fence_current_sides_split_the_grid_along_the_fence():
    grid = GridSpec.from_origin(0, 1000, CELL, (10, 10), "EPSG:3857")
    fence = Fence("f1", [(450.0, -100.0), (450.0, 1100.0)])
    a, b = P.fence_side_regions(grid, np.ones((10, 10), bool), [fence], buffer=200.0)
    # Cell centres at x = 50..950; at least 200 m from x = 450: columns 0-2 and 6-9.
    assert {tuple(np.unique(np.nonzero(m)[1])) for m in (a, b)} == {(0, 1, 2), (6, 7, 8, 9)}


def test_candidates_off_every_fence_are_rejected_with_a_clear_error():
    fence = Fence("f1", [(0.0, 0.0), (0.0, 1000.0)])
    types = {"full_gap": P.OpeningType("full_gap", 10.0, 1.0, 1.0)}
    points = [("c1", 5000.0, 500.0, "full_gap"), ("c2", -900.0, 100.0, "full_gap")]
    with pytest.raises(ConfigError, match="none of the 2 proposed openings"):
        P.snap_candidates(points, [fence], types, tolerance=100.0)
    points.append(("c3", 30.0, 400.0, "full_gap"))
    kept, rejected = P.snap_candidates(points, [fence], types, tolerance=100.0)
    assert [c.candidate_id for c in kept] == ["c3"] and kept[0].x == 0.0
    assert [(r.candidate_id, r.rule) for r in rejected] == [
        ("c1", "off_fence"),
        ("c2", "off_fence"),
    ]


def test_infeasible_constraints_give_an_empty_plan_and_a_message():
    evaluator, candidates, _ = fence_problem(14)
    veto = P.VetoZone("post", __import__("shapely").box(-1e4, -1e4, 1e4, 1e4), 0.0)
    constraints = P.Constraints(max_openings=3, veto_zones=(veto,))
    for plan in (
        P.greedy_plan(evaluator, candidates, constraints),
        P.exact_plan(evaluator, candidates, constraints),
    ):
        assert plan.steps == () and plan.value == plan.value_before
        assert "no feasible opening" in plan.message and "veto_zone" in plan.message
        assert {r.rule for r in plan.rejected} == {"veto_zone"}
        assert len(plan.rejected) == len(candidates)


def test_opening_types_table_rejects_bad_values():
    with pytest.raises(ConfigError, match="permeability"):
        P.opening_types_from_mapping(
            {"gap": {"width": 10, "permeability": 1.5, "security_cost": 1}}
        )
    with pytest.raises(ConfigError, match="unknown key"):
        P.opening_types_from_mapping({"gap": {"widht": 10, "permeability": 1, "security_cost": 1}})


def test_crossing_fences_multiply_their_factors_like_apply_fences():
    from crossings.core import barriers

    n = 14
    rng = np.random.default_rng(17)
    grid = GridSpec.from_origin(0, n * CELL, CELL, (n, n), "EPSG:3857")
    free = build_graph(grid, np.exp(rng.uniform(-1, 1, (n, n))))
    fences = (
        Fence("ns", [(640.0, -100.0), (760.0, n * CELL + 100.0)], permeability=0.1),
        Fence("diag", [(200.0, 1500.0), (1200.0, 100.0)], permeability=0.3),  # crosses "ns"
    )
    types = [P.OpeningType("gap", 200.0, 1.0, 1.0)]
    candidates = P.candidates_along_fences(fences, types, spacing=300.0)
    model = P.FenceEdgeModel(free, fences, candidates)
    base = barriers.apply_fences(free, fences)
    a, b = sides(n)
    evaluator = P.PlanEvaluator(base, P.Objective(P.ObjectiveKind.CONDUCTANCE, a, b), model)
    for selection in [(), (2,), (len(candidates) - 3,), (1, 2, len(candidates) - 2)]:
        openings = [candidates[c].opening() for c in selection]
        expected = dense_conductance(barriers.apply_fences(free, fences, openings), a, b)
        assert evaluator.value(selection) == pytest.approx(expected, rel=1e-9)
