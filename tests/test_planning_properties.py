"""Property tests of the planner: Rayleigh monotonicity and constraints never violated.

The constraint checks below are written independently of ``planning.violation`` (plain loops
over the chosen openings), so a bug in the planner's own checks cannot hide here.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossings.core import planning as P
from crossings.core.fences import Fence
from crossings.core.graph import build_graph
from crossings.core.grid import GridSpec

CELL = 100.0
N = 12
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def problem(n_types: int = 2):
    """A 12 x 12 landscape with two fences (two borders) and up to 12 candidates."""
    rng = np.random.default_rng(21)
    grid = GridSpec.from_origin(0, N * CELL, CELL, (N, N), "EPSG:3857")
    free = build_graph(grid, np.exp(rng.uniform(-1, 1, (N, N))))
    fences = (
        Fence("west", [(450.0, -100.0), (450.0, 620.0)], country_pair="KAZ-UZB"),
        Fence("east", [(450.0, 620.0), (700.0, N * CELL + 100.0)], country_pair="KAZ-TKM"),
    )
    types = [P.OpeningType("full_gap", 120.0, 1.0, 3.0), P.OpeningType("lower", 60.0, 0.6, 1.0)]
    candidates = P.candidates_along_fences(fences, types[:n_types], spacing=240.0)[:12]
    from crossings.core import barriers

    base = barriers.apply_fences(free, fences)
    model = P.FenceEdgeModel(free, fences, candidates)
    a = np.zeros((N, N), int)
    b = np.zeros((N, N), int)
    a[:, :2], b[:, -2:] = 1, 1
    evaluator = P.PlanEvaluator(base, P.Objective(P.ObjectiveKind.CONDUCTANCE, a, b), model)
    return evaluator, candidates


@SETTINGS
@given(st.data())
def test_adding_an_opening_never_lowers_conductance(data):
    evaluator, candidates = problem(1)
    subset = data.draw(st.sets(st.integers(0, len(candidates) - 1), max_size=6))
    extra = data.draw(st.integers(0, len(candidates) - 1))
    before = evaluator.value(tuple(sorted(subset)))
    after = evaluator.value(tuple(sorted(subset | {extra})))
    assert after >= before * (1 - 1e-12)
    gains = evaluator.gains(tuple(sorted(subset)), range(len(candidates)))
    assert (gains >= -1e-12 * max(before, 1e-300)).all()


def constraint_sets():
    zone = st.builds(
        lambda x, y, r, buffer: P.VetoZone(
            f"zone {x:.0f},{y:.0f}", shapely.Point(x, y).buffer(r), buffer
        ),
        st.floats(0, N * CELL),
        st.floats(0, N * CELL),
        st.floats(1, 200),
        st.floats(0, 150),
    )
    sector = st.builds(
        lambda fence, start, length, quota, types: P.Sector(
            f"{fence}-{start:.0f}", fence, start, start + length, quota, tuple(types)
        ),
        st.sampled_from(["west", "east"]),
        st.floats(0, 600),
        st.floats(50, 800),
        st.one_of(st.none(), st.integers(0, 2)),
        st.sets(st.sampled_from(["full_gap", "lower"]), max_size=2),
    )
    return st.builds(
        P.Constraints,
        max_openings=st.integers(0, 4),
        min_spacing=st.floats(0, 500),
        budget=st.one_of(st.none(), st.floats(0, 9)),
        max_per_border=st.dictionaries(st.sampled_from(["KAZ-UZB", "KAZ-TKM"]), st.integers(0, 2)),
        sectors=st.lists(sector, max_size=2).map(tuple),
        veto_zones=st.lists(zone, max_size=3).map(tuple),
        patrol=st.one_of(st.none(), st.just(shapely.LineString([(0, 300), (N * CELL, 300)]))),
        patrol_distance=st.one_of(st.none(), st.floats(100, 900)),
    )


def vetoed(candidate, constraints) -> bool:
    point = shapely.Point(candidate.x, candidate.y)
    return any(
        zone.geometry.distance(point) <= zone.buffer + candidate.width / 2
        for zone in constraints.veto_zones
    )


def sector_of(candidate, constraints):
    for sector in constraints.sectors:
        if (
            candidate.fence_id == sector.fence_id
            and sector.start <= candidate.position <= sector.end
        ):
            return sector
    return None


def assert_plan_respects(chosen, constraints):
    k = constraints
    assert len(chosen) <= k.max_openings
    assert len({c.site for c in chosen}) == len(chosen)
    for i, first in enumerate(chosen):
        assert not vetoed(first, k)
        if k.patrol is not None and k.patrol_distance is not None:
            assert k.patrol.distance(shapely.Point(first.x, first.y)) <= k.patrol_distance
        sector = sector_of(first, k)
        if sector is not None and sector.allowed_types:
            assert first.kind in sector.allowed_types
        for second in chosen[i + 1 :]:
            assert math.hypot(first.x - second.x, first.y - second.y) >= k.min_spacing
    if k.budget is not None:
        assert sum(c.security_cost for c in chosen) <= k.budget * (1 + 1e-9)
    for pair, limit in k.max_per_border.items():
        assert sum(c.country_pair == pair for c in chosen) <= limit
    for sector in k.sectors:
        if sector.max_openings is not None:
            inside = [c for c in chosen if sector_of(c, k) == sector]
            assert len(inside) <= sector.max_openings


@SETTINGS
@given(constraints=constraint_sets(), exact=st.booleans())
def test_no_plan_ever_violates_a_constraint(constraints, exact):
    evaluator, candidates = problem()
    plan = (P.exact_plan if exact else P.greedy_plan)(evaluator, candidates, constraints)
    chosen = [candidates[c] for c in plan.chosen]
    assert_plan_respects(chosen, constraints)
    assert plan.value == pytest.approx(evaluator.value(plan.chosen), rel=1e-12, abs=1e-300)
    rejected = {r.candidate_id: r.rule for r in plan.rejected}
    for candidate in candidates:
        if vetoed(candidate, constraints):
            assert candidate not in chosen
            assert rejected.get(candidate.candidate_id) == "veto_zone"
    if not plan.steps:
        assert plan.value == plan.value_before


@SETTINGS
@given(constraints=constraint_sets())
def test_greedy_never_beats_the_exact_optimum(constraints):
    evaluator, candidates = problem()
    exact = P.exact_plan(evaluator, candidates, constraints)
    greedy = P.greedy_plan(evaluator, candidates, constraints)
    assert greedy.value <= exact.value * (1 + 1e-12)
