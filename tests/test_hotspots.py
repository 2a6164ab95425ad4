"""Hotspot criteria, each on a hand-built case; normalisation, score and rank intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from crossings.core.fences import Fence, Opening
from crossings.core.graph import build_graph
from crossings.core.grid import GridSpec
from crossings.core.hotspots import (
    Criterion,
    Normalisation,
    barrier_improvement,
    current_across,
    fence_closed_length,
    fence_evidence,
    normalise,
    opening_evidence,
    pa_both_sides,
    ranges_straddling,
    rank_stability,
    score,
)
from crossings.core.sections import Section, boundary_sections
from crossings.errors import ConfigError

KM = 1000.0
CRS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"
COUNTRIES = {
    "AAA": shapely.box(0, 0, 10 * KM, 10 * KM),
    "BBB": shapely.box(10 * KM, 0, 20 * KM, 10 * KM),
}


def sections():
    found = boundary_sections(COUNTRIES, 5 * KM)
    south = next(s for s in found if s.line.bounds[1] < 1)
    north = next(s for s in found if s is not south)
    return south, north


def test_current_across_sums_the_cells_under_the_line():
    grid = GridSpec.from_origin(0, 10 * KM, KM, (10, 20), CRS)
    current = np.zeros((10, 20))
    current[:, 9] = np.arange(10)  # the column just west of x = 10 km
    current[:, 10] = 100.0  # just east: a line on the cell edge samples the east cell
    south, north = sections()
    got = current_across([south, north], grid, current)
    # South (y 0-5 km, the point at y = 0 is off the grid): rows 5-9; north (y 5-10 km): 0-5.
    assert got.tolist() == [500.0, 600.0]
    across = Section(
        "h", "AAA-BBB", shapely.LineString([(0.2 * KM, 8.6 * KM), (2.8 * KM, 8.6 * KM)])
    )
    current = np.arange(200.0).reshape(10, 20)
    assert current_across([across], grid, current)[0] == 20.0 + 21.0 + 22.0


def test_fence_closed_length_counts_permeability_openings_and_tolerance():
    south, north = sections()
    fences = [
        Fence("near", [(10 * KM + 200, 1 * KM), (10 * KM + 200, 4 * KM)], 0.0),  # 3 km closed
        Fence("leaky", [(10 * KM, 6 * KM), (10 * KM, 10 * KM)], 0.5),  # 4 km half open
        Fence("far", [(15 * KM, 0), (15 * KM, 10 * KM)], 0.0),  # 5 km away: not on a section
    ]
    openings = [Opening("near", 10 * KM + 200, 2 * KM, 10.0, 1.0, "gap", "o1")]
    closed, length = fence_closed_length([south, north], fences, openings, tolerance=500.0)
    assert length.tolist() == [3000.0, 4000.0]
    assert closed.tolist() == [3000.0 - 10.0, 2000.0]


def test_pa_both_sides_is_the_geometric_mean_and_zero_with_one_side():
    south, north = sections()
    pas = [
        shapely.box(9.2 * KM, 1 * KM, 9.8 * KM, 3 * KM),  # A, south: 1.2 km2
        shapely.box(10 * KM, 0, 10.5 * KM, 4 * KM),  # B, south: 2 km2
        shapely.box(9.3 * KM, 7 * KM, 9.9 * KM, 9 * KM),  # A, north: 1.2 km2
    ]
    got = pa_both_sides([south, north], COUNTRIES, pas, distance=1 * KM)
    assert got.tolist() == pytest.approx([math.sqrt(1.2 * 2), 0.0])
    b_north = shapely.box(10.2 * KM, 6.5 * KM, 10.7 * KM, 8.5 * KM)  # 1 km2
    got = pa_both_sides([south, north], COUNTRIES, [*pas, b_north], distance=1 * KM)
    assert got.tolist() == pytest.approx([math.sqrt(1.2 * 2), math.sqrt(1.2 * 1)])


def test_ranges_straddling_counts_species_on_both_sides():
    south, north = sections()
    ranges = {
        "saiga": shapely.box(5 * KM, 0, 15 * KM, 3 * KM),  # straddles the south section
        "kulan": shapely.box(12 * KM, 0, 20 * KM, 10 * KM),  # only in B, 2 km from the line
        "argali": shapely.box(0, 8.5 * KM, 18 * KM, 10 * KM),  # straddles the north one
    }
    assert ranges_straddling([south, north], COUNTRIES, ranges, 1 * KM).tolist() == [1.0, 1.0]
    # At 3 km the north zone reaches the saiga range; kulan is still on one side only.
    assert ranges_straddling([south, north], COUNTRIES, ranges, 3 * KM).tolist() == [1.0, 2.0]


def test_barrier_improvement_matches_hand_counted_detours():
    grid = GridSpec.from_origin(0, 10 * KM, KM, (10, 20), CRS)
    graph = build_graph(grid, np.ones((10, 20)), connect_four=True)
    # Fence on x = 10 km from y = 0 to 8 km; PAs one cell each at y = 2.5 km, x = 0.5 / 19.5 km.
    fence = Fence("f", [(10 * KM, -1.0), (10 * KM, 8 * KM)], 0.0)
    pas = [shapely.box(0, 2 * KM, 1 * KM, 3 * KM), shapely.box(19 * KM, 2 * KM, 20 * KM, 3 * KM)]
    south, north = sections()
    got = barrier_improvement([south, north], COUNTRIES, pas, graph, [fence], tolerance=500.0)
    # Before: up 6, across 19, down 6 = 31 km. South removed (5 km of fence): straight, 19 km.
    # North removed (3 km, 5-8 km): the row at y = 5.5 km is free: up 3, across 19, down 3.
    assert got[0] == pytest.approx((31 - 19) * KM / (5 * KM))
    assert got[1] == pytest.approx((31 - 25) * KM / (3 * KM))
    assert barrier_improvement([south], COUNTRIES, pas, graph, [], tolerance=500.0).tolist() == [
        0.0
    ]


def test_gps_and_camera_evidence_weight_by_fence_share():
    south, north = sections()
    fence = Fence("f", [(10 * KM, 0), (10 * KM, 10 * KM)], 0.0)
    got = fence_evidence([south, north], [fence], {"f": 10.0}, tolerance=100.0)
    assert got.tolist() == pytest.approx([5.0, 5.0])
    openings = [
        Opening("f", 10 * KM, 1 * KM, 4.0, 1.0, "gap", "o1"),
        Opening("f", 10 * KM, 2 * KM, 4.0, 1.0, "gap", "o2"),
        Opening("f", 10 * KM, 9 * KM, 4.0, 1.0, "gap", "o3"),
    ]
    got = opening_evidence([south, north], openings, {"o1": 3, "o2": 4, "o3": 1}, tolerance=100.0)
    assert got.tolist() == [7.0, 1.0]


def test_normalise_score_range_max_value_and_constant():
    assert normalise([1.0, 3.0]).tolist() == [0.0, 1.0]
    assert normalise([1.0, 3.0], invert=True).tolist() == [1.0, 0.0]
    assert normalise([1.0, 3.0], Normalisation.MAX_VALUE).tolist() == [1 / 3, 1.0]
    assert normalise([2.0, 2.0]).tolist() == [0.0, 0.0]
    assert normalise([0.0, 0.0], Normalisation.MAX_VALUE).tolist() == [0.0, 0.0]


def test_score_is_the_weighted_mean_and_weights_move_the_ranking():
    raw = {"current": np.array([10.0, 0.0, 5.0]), "pa_both_sides": np.array([0.0, 4.0, 1.0])}
    one = [Criterion("current", 3.0), Criterion("pa_both_sides", 1.0)]
    assert score(raw, one).tolist() == pytest.approx([0.75, 0.25, (3 * 0.5 + 0.25) / 4])
    other = [Criterion("current", 1.0), Criterion("pa_both_sides", 3.0)]
    assert np.argmax(score(raw, other)) == 1
    with pytest.raises(ConfigError, match="weight > 0"):
        score(raw, [Criterion("current", 0.0)])
    with pytest.raises(ConfigError, match="unknown criterion 'currents'"):
        Criterion("currents")


def test_rank_intervals_are_seeded_and_collapse_without_spread():
    rng = np.random.default_rng(3)
    raw = {"current": rng.uniform(0, 1, 12), "fence_closed_m": rng.uniform(0, 1, 12)}
    crit = [Criterion("current", 1.0), Criterion("fence_closed_m", 1.0)]
    a = rank_stability(raw, crit, draws=300, seed=7)
    b = rank_stability(raw, crit, draws=300, seed=7)
    assert (
        a.rank_low.tolist() == b.rank_low.tolist() and a.rank_high.tolist() == b.rank_high.tolist()
    )
    assert np.all(a.rank_low <= a.rank) and np.all(a.rank <= a.rank_high)
    assert np.any(a.rank_high > a.rank_low)
    fixed = rank_stability(raw, crit, draws=20, spread=0.0, seed=7)
    assert fixed.rank_low.tolist() == fixed.rank.tolist() == fixed.rank_high.tolist()
    assert sorted(fixed.rank.tolist()) == list(range(1, 13))
