"""Fences cut graph edges (crossings.core.barriers), checked against independent computations.

Separation is checked with scipy's connected components of the Laplacian, cut sets with a brute
force over every edge of the grid (sides of the end points for straight lines, shapely segment
intersection for polylines), conductance across a fence with a direct sparse solve written here.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse.csgraph as csgraph
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import splu

from crossings import gallery
from crossings.core.barriers import (
    EdgeCuts,
    apply_fences,
    edge_factors,
    fence_edge_cuts,
    opening_restoration,
)
from crossings.core.fences import Fence, Opening
from crossings.core.graph import DIRECTIONS, AveragingRule, build_graph
from crossings.core.grid import GridSpec
from crossings.errors import ConfigError, CrossingsWarning

CELL = 100.0


# ----------------------------------------------------------------------------- independent tools
def components(graph):
    """Component label of every cell (-1 for NoData)."""
    _, labels = csgraph.connected_components(graph.laplacian(), directed=False)
    out = np.full(graph.grid.shape, -1)
    out[graph.valid] = labels
    return out


def effective_conductance(graph, region_a, region_b):
    """Conductance between two short-circuited regions: Dirichlet solve with splu."""
    laplacian = graph.laplacian().tocsr()
    a = graph.node_index[region_a & graph.valid]
    b = graph.node_index[region_b & graph.valid]
    voltage = np.zeros(graph.n_nodes)
    voltage[a] = 1.0
    free = np.ones(graph.n_nodes, dtype=bool)
    free[a] = free[b] = False
    fixed = ~free
    block = laplacian[free][:, free].tocsc()
    rhs = -(laplacian[free][:, fixed] @ voltage[fixed])
    voltage[free] = splu(block).solve(rhs)
    return float((laplacian @ voltage)[a].sum())


def all_edges(shape, connect_four):
    """``(direction, row, col)`` of every edge of a grid."""
    rows, cols = shape
    out = []
    for k, (dr, dc) in enumerate(DIRECTIONS[: 2 if connect_four else 4]):
        r, c = np.indices(shape).reshape(2, -1)
        ok = (r + dr < rows) & (c + dc >= 0) & (c + dc < cols)
        out += [(k, int(i), int(j)) for i, j in zip(r[ok], c[ok], strict=True)]
    return out


def cut_set(cuts):
    return set(zip(cuts.direction.tolist(), cuts.row.tolist(), cuts.col.tolist(), strict=True))


def brute_force_line_cuts(shape, side, connect_four):
    """Edges whose end cells lie strictly on opposite sides of a straight line."""
    expected, undecided = set(), set()
    for k, r, c in all_edges(shape, connect_four):
        dr, dc = DIRECTIONS[k]
        s0, s1 = side[r, c], side[r + dr, c + dc]
        if s0 == 0 or s1 == 0:
            undecided.add((k, r, c))
        elif s0 != s1:
            expected.add((k, r, c))
    return expected, undecided


def brute_force_shapely_cuts(grid, fence, connect_four):
    """Edges whose centre-to-centre segment intersects the fence polyline (shapely)."""
    edges = all_edges(grid.shape, connect_four)
    k, r, c = np.array(edges).T
    dr = np.array([d[0] for d in DIRECTIONS])[k]
    dc = np.array([d[1] for d in DIRECTIONS])[k]
    x0, y0 = grid.cell_center(r, c)
    x1, y1 = grid.cell_center(r + dr, c + dc)
    lines = shapely.linestrings(np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], 1))
    hit = shapely.intersects(lines, shapely.LineString(fence.coords))
    return {e for e, h in zip(edges, hit, strict=True) if h}


def assert_separates(graph, side):
    """Every component holds cells of one side only, and both sides are present."""
    labels = components(graph)
    for label in np.unique(labels[labels >= 0]):
        sides = set(np.unique(side[labels == label]).tolist()) - {0}
        assert len(sides) <= 1, f"component {label} joins both sides of the fence"
    assert (side > 0).any() and (side < 0).any()


def far_regions(side_distance, margin):
    return side_distance > margin, side_distance < -margin


def signed_distance_to_line(grid, fence):
    rows, cols = np.indices(grid.shape)
    x, y = grid.cell_center(rows, cols)
    (x0, y0), (x1, y1) = fence.coords[0], fence.coords[-1]
    return ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / math.hypot(x1 - x0, y1 - y0)


# ----------------------------------------------------------------------------- separation
@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 77.0, 90.0, 135.0])
@pytest.mark.parametrize("connect_four", [False, True])
@pytest.mark.parametrize("shape", [(21, 21), (20, 23)])
def test_closed_straight_fence_separates_exactly(angle, connect_four, shape):
    # (21, 21) puts cell centres exactly on the 0, 45, 90 and 135 degree lines.
    land = gallery.straight_fence(*shape, angle)
    graph = apply_fences(land.graph(connect_four=connect_four), land.fences)
    side = gallery.side_of_line(land.grid, land.fences[0])
    assert_separates(graph, side)
    assert len(np.unique(components(graph))) == 2
    cuts = fence_edge_cuts(land.grid, land.fences, connect_four=connect_four)
    expected, undecided = brute_force_line_cuts(land.grid.shape, side, connect_four)
    assert cut_set(cuts) - undecided == expected
    a, b = far_regions(signed_distance_to_line(land.grid, land.fences[0]), 3 * CELL)
    assert effective_conductance(graph, a, b) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "n_vertices, rotation, centre",
    [
        (4, 0.0, None),  # diamond with vertices on cell centres
        (4, 45.0, None),  # square
        (64, 0.0, None),
        (7, 13.0, (1234.5, 1567.8)),
        (4, 0.0, (1500.0, 1500.0)),  # diamond with its vertices exactly on cell corners
    ],
)
@pytest.mark.parametrize("connect_four", [False, True])
def test_closed_ring_fence_separates_exactly(n_vertices, rotation, centre, connect_four):
    land = gallery.ring_fence(
        30, 30, 1000.0, n_vertices=n_vertices, rotation=rotation, centre=centre
    )
    graph = apply_fences(land.graph(connect_four=connect_four), land.fences)
    side = gallery.inside_ring(land.grid, land.fences[0])
    assert_separates(graph, side)
    assert len(np.unique(components(graph))) == 2


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    angle=st.floats(0.0, 180.0),
    offset=st.floats(-600.0, 600.0),
    connect_four=st.booleans(),
)
def test_random_closed_straight_fence_always_separates(angle, offset, connect_four):
    land = gallery.straight_fence(16, 19, angle, offset=offset)
    graph = apply_fences(land.graph(connect_four=connect_four), land.fences)
    side = gallery.side_of_line(land.grid, land.fences[0])
    if not ((side > 0).any() and (side < 0).any()):
        return  # the line misses the grid's cell centres on one side
    assert_separates(graph, side)
    cuts = fence_edge_cuts(land.grid, land.fences, connect_four=connect_four)
    expected, undecided = brute_force_line_cuts(land.grid.shape, side, connect_four)
    assert cut_set(cuts) - undecided == expected


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    cx=st.floats(600.0, 1400.0),
    cy=st.floats(600.0, 1400.0),
    radius=st.floats(250.0, 550.0),
    n_vertices=st.integers(3, 12),
    rotation=st.floats(0.0, 90.0),
    connect_four=st.booleans(),
)
def test_random_closed_ring_always_separates(cx, cy, radius, n_vertices, rotation, connect_four):
    land = gallery.ring_fence(
        20, 20, radius, centre=(cx, cy), n_vertices=n_vertices, rotation=rotation
    )
    graph = apply_fences(land.graph(connect_four=connect_four), land.fences)
    side = gallery.inside_ring(land.grid, land.fences[0])
    if not (side > 0).any():
        return  # a thin ring with no cell centre inside
    assert_separates(graph, side)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), connect_four=st.booleans())
def test_cuts_match_shapely_intersection_for_random_polylines(seed, connect_four):
    rng = np.random.default_rng(seed)
    grid = GridSpec.from_origin(0.0, 1500.0, CELL, (15, 12), gallery.DEFAULT_CRS)
    coords = rng.uniform([-300, -300], [1500, 1800], size=(rng.integers(2, 8), 2))
    fence = Fence("f", coords)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CrossingsWarning)
        cuts = fence_edge_cuts(grid, [fence], connect_four=connect_four)
    assert cut_set(cuts) == brute_force_shapely_cuts(grid, fence, connect_four)
    assert len(cut_set(cuts)) == len(cuts)  # one row per (edge, fence)
    # Crossing points lie on both the fence and the edge.
    line = shapely.LineString(fence.coords)
    points = shapely.points(cuts.x, cuts.y)
    assert np.all(shapely.distance(line, points) < 1e-6)
    positions = shapely.line_locate_point(line, points)
    assert np.allclose(positions, cuts.position, atol=1e-6) or len(cuts) == 0


def test_polyline_vertex_on_an_edge_is_cut_once():
    grid = GridSpec.from_origin(0.0, 400.0, CELL, (4, 4), gallery.DEFAULT_CRS)
    # The vertex (150, 200) is the midpoint of the south edge of cell (1, 1).
    through = Fence("through", [(-100.0, 260.0), (150.0, 200.0), (450.0, 130.0)])
    touch = Fence("touch", [(-100.0, 300.0), (150.0, 200.0), (450.0, 300.0)])
    for fence in (through, touch):
        cuts = fence_edge_cuts(grid, [fence], connect_four=True)
        hits = (cuts.direction == 1) & (cuts.row == 1) & (cuts.col == 1)
        assert hits.sum() <= 1, fence.fence_id
    cuts = fence_edge_cuts(grid, [through], connect_four=True)
    assert ((cuts.direction == 1) & (cuts.row == 1) & (cuts.col == 1)).sum() == 1
    graph = apply_fences(build_graph(grid, np.ones((4, 4)), connect_four=True), [through])
    # The fence crosses the grid from west to east: rows 0-1 above it, rows 2-3 below.
    side = np.array([[1] * 4, [1] * 4, [-1] * 4, [-1] * 4])
    assert_separates(graph, side)


def test_fence_along_cell_centres_and_through_cell_corners():
    grid = GridSpec.from_origin(0.0, 1000.0, CELL, (10, 10), gallery.DEFAULT_CRS)
    along_row = Fence("row", [(-100.0, 450.0), (1100.0, 450.0)])  # through row 5's centres
    corner_zigzag = Fence("zig", [(-100.0, 600.0), (300.0, 600.0), (500.0, 400.0), (1100.0, 400.0)])
    for fence in (along_row, corner_zigzag):
        for connect_four in (False, True):
            graph = apply_fences(
                build_graph(grid, np.ones((10, 10)), connect_four=connect_four), [fence]
            )
            assert len(np.unique(components(graph))) == 2, fence.fence_id


# ----------------------------------------------------------------------------- openings
def _sweep_conductance(land, widths, connect_four, shift=0.0):
    graph = land.graph(connect_four=connect_four)
    a, b = far_regions(signed_distance_to_line(land.grid, land.fences[0]), 3 * CELL)
    fence = land.fences[0]
    cuts = fence_edge_cuts(land.grid, land.fences, connect_four=connect_four)
    centre = fence.coords.mean(axis=0)
    direction = (fence.coords[-1] - fence.coords[0]) / fence.length
    x, y = centre + shift * direction
    values = []
    for width in widths:
        openings = [Opening(fence.fence_id, x, y, width)] if width > 0 else []
        fenced = apply_fences(graph, land.fences, openings, cuts=cuts)
        values.append(effective_conductance(fenced, a, b))
    return np.array(values), effective_conductance(graph, a, b)


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 77.0])
@pytest.mark.parametrize("connect_four", [False, True])
def test_opening_raises_conductance_monotonically_to_the_no_fence_value(angle, connect_four):
    land = gallery.straight_fence(16, 16, angle)
    length = land.fences[0].length
    widths = np.concatenate([[0.0], np.linspace(10.0, 2500.0, 40), [length]])
    values, no_fence = _sweep_conductance(land, widths, connect_four, shift=37.0)
    assert values[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(values) >= -1e-12 * no_fence), values
    assert values[1] > 0  # even a 10 m opening lets some current through
    assert values[-1] == pytest.approx(no_fence, rel=1e-10)
    assert np.all(values <= no_fence * (1 + 1e-10))


def test_narrow_opening_restores_in_proportion_to_width():
    # East-west fence between rows on a 4-neighbour graph: each south edge stands for one cell of
    # fence, so a 150 m opening centred on a column restores it fully and half of each of the
    # two neighbouring stretches (25 m each of 100 m).
    grid = GridSpec.from_origin(0.0, 1000.0, CELL, (10, 10), gallery.DEFAULT_CRS)
    fence = Fence("f", [(-200.0, 500.0), (1200.0, 500.0)])
    cuts = fence_edge_cuts(grid, [fence], connect_four=True)
    rows, fraction = opening_restoration(cuts, [fence], [Opening("f", 450.0, 480.0, 150.0)], CELL)
    got = dict(zip(cuts.col[rows].tolist(), fraction.tolist(), strict=True))
    assert got == pytest.approx({3: 0.25, 4: 1.0, 5: 0.25})
    factors = edge_factors(cuts, [fence], [Opening("f", 450.0, 500.0, 150.0, 0.5)], CELL)
    assert factors[cuts.col == 4] == pytest.approx([0.5])
    assert factors[cuts.col == 3] == pytest.approx([0.125])
    assert factors[cuts.col == 7] == pytest.approx([0.0])


@pytest.mark.parametrize("connect_four", [False, True])
def test_fully_open_ring_and_leaky_fence_give_the_no_fence_graph(connect_four):
    land = gallery.ring_fence(20, 20, 600.0, n_vertices=9, rotation=11.0, permeability=0.3)
    fence = land.fences[0]
    graph = land.graph(connect_four=connect_four)
    opening = Opening("ring", *fence.coords[0], width=2 * fence.length)
    fenced = apply_fences(graph, land.fences, [opening])
    for before, after in zip(graph.edge_weights, fenced.edge_weights, strict=True):
        np.testing.assert_allclose(after, before, rtol=1e-12)
    # An opening as permeable as the fence changes nothing.
    same = Opening("ring", *fence.coords[0], width=500.0, permeability=0.3)
    np.testing.assert_allclose(
        apply_fences(graph, land.fences, [same]).edge_weights[1],
        apply_fences(graph, land.fences).edge_weights[1],
    )


def test_edge_cut_by_two_fences_gets_the_product_of_factors():
    grid = GridSpec.from_origin(0.0, 300.0, CELL, (3, 3), gallery.DEFAULT_CRS)
    graph = build_graph(
        grid, np.ones((3, 3)), connect_four=True, rule=AveragingRule.AVG_CONDUCTANCE
    )
    fences = [
        Fence("a", [(100.0, -50.0), (100.0, 350.0)], permeability=0.5),
        Fence("b", [(110.0, -50.0), (110.0, 350.0)], permeability=0.4),
    ]
    fenced = apply_fences(graph, fences)
    np.testing.assert_allclose(fenced.edge_weights[0][:, 0], [0.2, 0.2, 0.2])
    np.testing.assert_allclose(fenced.edge_weights[0][:, 1], [1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------- bad input, purity
def test_fence_outside_the_grid_warns_and_cuts_nothing():
    grid = GridSpec.from_origin(0.0, 1000.0, CELL, (10, 10), gallery.DEFAULT_CRS)
    outside = Fence("far", [(5000.0, 5000.0), (6000.0, 5000.0)])
    with pytest.warns(CrossingsWarning, match="'far' lies entirely outside the grid"):
        cuts = fence_edge_cuts(grid, [outside])
    assert len(cuts) == 0
    inside = Fence("near", [(-500.0, 500.0), (500.0, 500.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", CrossingsWarning)
        assert len(fence_edge_cuts(grid, [inside])) > 0


def test_bad_inputs_raise_clear_errors():
    grid = GridSpec.from_origin(0.0, 1000.0, CELL, (10, 10), gallery.DEFAULT_CRS)
    fence = Fence("f", [(0.0, 500.0), (1000.0, 500.0)])
    with pytest.raises(ConfigError, match="fence 'bad' geometry.*NaN"):
        fence_edge_cuts(grid, [Fence("bad", [(0.0, 0.0), (np.nan, 1.0)])])
    with pytest.raises(ConfigError, match="item 0 is list"):
        fence_edge_cuts(grid, [[(0.0, 0.0), (1.0, 1.0)]])
    cuts = fence_edge_cuts(grid, [fence])
    with pytest.raises(ConfigError, match="fence_id 'g'.*not among the fences"):
        edge_factors(cuts, [fence], [Opening("g", 500.0, 500.0, 10.0)], CELL)
    with pytest.raises(ConfigError, match="cell_size"):
        edge_factors(cuts, [fence], [Opening("f", 500.0, 500.0, 10.0)])
    with pytest.warns(CrossingsWarning, match="snapped"):
        edge_factors(cuts, [fence], [Opening("f", 500.0, 5000.0, 10.0)], CELL)
    small = build_graph(
        GridSpec.from_origin(0.0, 300.0, CELL, (3, 3), "EPSG:3857"), np.ones((3, 3))
    )
    with pytest.raises(ConfigError, match="precomputed cuts do not fit"):
        apply_fences(small, [fence], cuts=cuts)


def test_inputs_are_not_modified():
    land = gallery.straight_fence(12, 12, 30.0, gap_width=250.0, permeability=0.1)
    graph = land.graph()
    weights = [w.copy() for w in graph.edge_weights]
    coords = land.fences[0].coords.copy()
    opening = land.openings[0]
    fenced = apply_fences(graph, land.fences, land.openings)
    for before, after in zip(weights, graph.edge_weights, strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(coords, land.fences[0].coords)
    assert land.openings[0] == opening
    assert fenced is not graph
    assert not np.array_equal(fenced.edge_weights[0], graph.edge_weights[0])


def test_precomputed_cuts_and_empty_inputs():
    land = gallery.straight_fence(10, 10, 60.0)
    graph = land.graph()
    cuts = fence_edge_cuts(land.grid, land.fences)
    a = apply_fences(graph, land.fences)
    b = apply_fences(graph, land.fences, cuts=cuts)
    for wa, wb in zip(a.edge_weights, b.edge_weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert len(fence_edge_cuts(land.grid, [])) == 0
    assert isinstance(cuts.take(cuts.fence_index == 0), EdgeCuts)
    unchanged = apply_fences(graph, [])
    np.testing.assert_array_equal(unchanged.edge_weights[2], graph.edge_weights[2])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    angle=st.floats(0.0, 180.0),
    width=st.floats(1.0, 900.0),
    shift=st.floats(-300.0, 300.0),
    connect_four=st.booleans(),
)
def test_restored_edges_per_direction_match_width_over_spacing(angle, width, shift, connect_four):
    # On a straight fence the edges of one direction are crossed every cell / |component| metres,
    # so an opening of width w restores w * |component| / cell edges' worth in that direction.
    land = gallery.straight_fence(30, 30, angle)
    fence = land.fences[0]
    cuts = fence_edge_cuts(land.grid, land.fences, connect_four=connect_four)
    direction = (fence.coords[-1] - fence.coords[0]) / fence.length
    x, y = fence.coords.mean(axis=0) + shift * direction
    rows, fraction = opening_restoration(cuts, [fence], [Opening("fence", x, y, width)], CELL)
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    # Rows grow southwards: east, south, south-east, south-west edges as in DIRECTIONS.
    components = [abs(sin), abs(cos), abs(cos + sin), abs(cos - sin)]
    for k in range(2 if connect_four else 4):
        if components[k] < 0.2:
            continue  # crossings more than 5 cells apart: too few inside the grid to tile it
        got = fraction[cuts.direction[rows] == k].sum()
        assert got == pytest.approx(width * components[k] / CELL, rel=1e-9, abs=1e-9), k


def test_cost_follows_fence_length_not_grid_size(monkeypatch):
    import crossings.core.barriers as barriers

    seen = []
    original = barriers._crossings

    def counting(seg, cand_seg, *rest):
        seen.append(len(cand_seg))
        return original(seg, cand_seg, *rest)

    monkeypatch.setattr(barriers, "_crossings", counting)
    fence = Fence("f", [(1000.0, 1000.0), (2500.0, 3100.0), (3500.0, 1200.0)])
    cut_counts = []
    for size in (40, 400):
        grid = GridSpec.from_origin(0.0, size * CELL, CELL, (size, size), gallery.DEFAULT_CRS)
        cut_counts.append(len(fence_edge_cuts(grid, [fence])))
    assert seen[0] == seen[1]  # the same candidate edges were tested in both grids
    assert cut_counts[0] == cut_counts[1]
    assert seen[0] < 20 * fence.length / CELL


def test_fences_with_different_vertex_counts_and_ids():
    grid = GridSpec.from_origin(0.0, 1000.0, CELL, (10, 10), gallery.DEFAULT_CRS)
    fences = [
        Fence("a", [(-50.0, 250.0), (1050.0, 250.0)]),
        Fence("b", [(-50.0, 750.0), (400.0, 760.0), (700.0, 740.0), (1050.0, 750.0)], 0.5),
    ]
    cuts = fence_edge_cuts(grid, fences)
    assert set(cuts.fence_index.tolist()) == {0, 1}
    assert np.all(np.diff(cuts.fence_index) >= 0)
    for index in (0, 1):
        assert np.all(np.diff(cuts.position[cuts.fence_index == index]) >= 0)
    factors = edge_factors(cuts, fences)
    np.testing.assert_array_equal(factors, np.where(cuts.fence_index == 0, 0.0, 0.5))
    with pytest.raises(ConfigError, match="finite"):
        edge_factors(cuts, fences, [Opening("a", np.nan, 250.0, 10.0)], CELL)


@pytest.mark.parametrize("connect_four", [False, True])
def test_openings_on_each_leg_of_a_bent_fence(connect_four):
    # An L-shaped fence (east-west leg, then a leg at 60 degrees): an opening of width w on a
    # leg restores w * |component| / cell edges' worth in each direction, with the leg's angle.
    grid = GridSpec.from_origin(0.0, 3000.0, CELL, (30, 30), gallery.DEFAULT_CRS)
    bend = np.array([1530.0, 1210.0])
    far = bend + 2500.0 * np.array([math.cos(math.radians(60)), math.sin(math.radians(60))])
    fence = Fence("L", [(-300.0, 1210.0), tuple(bend), tuple(far)])
    cuts = fence_edge_cuts(grid, [fence], connect_four=connect_four)
    for angle, centre in ((0.0, (700.0, 1210.0)), (60.0, bend + 0.5 * (far - bend) * 0.5)):
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        expected = [abs(sin), abs(cos), abs(cos + sin), abs(cos - sin)]
        rows, fraction = opening_restoration(cuts, [fence], [Opening("L", *centre, 230.0)], CELL)
        for k in range(2 if connect_four else 4):
            got = fraction[cuts.direction[rows] == k].sum()
            assert got == pytest.approx(230.0 * expected[k] / CELL, abs=1e-9), (angle, k)


def test_only_the_fences_outside_the_grid_warn():
    grid = GridSpec.from_origin(0.0, 1000.0, CELL, (10, 10), gallery.DEFAULT_CRS)
    fences = [
        Fence("inside", [(-500.0, 500.0), (500.0, 500.0), (600.0, 900.0)]),
        Fence("beyond", [(5000.0, 5000.0), (6000.0, 5000.0)]),
        # Its bounding box overlaps the grid, but the line passes outside its north-east corner.
        Fence("corner", [(900.0, 1200.0), (1050.0, 1150.0), (1200.0, 900.0)]),
    ]
    with pytest.warns(CrossingsWarning) as record:
        cuts = fence_edge_cuts(grid, fences)
    named = sorted(str(w.message).split("'")[1] for w in record)
    assert named == ["beyond", "corner"]
    assert set(cuts.fence_index.tolist()) == {0}


def _factors_by_edge(grid, fence, opening, connect_four=False):
    cuts = fence_edge_cuts(grid, [fence], connect_four=connect_four)
    factors = edge_factors(cuts, [fence], [opening], CELL)
    edges = zip(cuts.direction.tolist(), cuts.row.tolist(), cuts.col.tolist(), strict=True)
    return dict(zip(edges, factors.tolist(), strict=True))


@pytest.mark.parametrize("width", [30.0, 120.0, 400.0])
def test_opening_across_the_closing_vertex_of_a_ring(width):
    # A tilted square ring that starts and ends in the middle of one side, and the same ring
    # starting at a corner: an opening on that mid-side point must restore the same edges.
    grid = GridSpec.from_origin(0.0, 2000.0, CELL, (20, 20), gallery.DEFAULT_CRS)
    theta = np.radians(20.0 + 90.0 * np.arange(4) + 45.0)
    corners = np.column_stack([1000 + 700 * np.cos(theta), 1000 + 700 * np.sin(theta)])
    middle = (corners[0] + corners[1]) / 2
    seam_in_middle = Fence("ring", np.vstack([middle, corners[1:], corners[:1], [middle]]))
    seam_at_corner = Fence("ring", np.vstack([corners, corners[:1]]))
    opening = Opening("ring", *middle, width)
    got = _factors_by_edge(grid, seam_in_middle, opening)
    expected = _factors_by_edge(grid, seam_at_corner, opening)
    assert got.keys() == expected.keys()
    assert got == pytest.approx(expected, abs=1e-12)
    assert sum(expected.values()) > 0


@pytest.mark.parametrize("connect_four", [False, True])
def test_ring_opening_at_its_closing_vertex_raises_conductance_monotonically(connect_four):
    land = gallery.ring_fence(24, 24, 800.0, n_vertices=11, rotation=7.0)
    fence = land.fences[0]
    graph = land.graph(connect_four=connect_four)
    side = gallery.inside_ring(land.grid, fence)
    rows, cols = np.indices(land.grid.shape)
    centre_cell = (np.abs(rows - 11.5) <= 1) & (np.abs(cols - 11.5) <= 1)
    border = (rows == 0) | (cols == 0) | (rows == 23) | (cols == 23)
    assert side[centre_cell].min() > 0 and side[border].max() < 0
    cuts = fence_edge_cuts(land.grid, land.fences, connect_four=connect_four)
    values = []
    for width in [0.0, 20.0, 100.0, 250.0, 600.0, 2000.0, fence.length]:
        openings = [Opening("ring", *fence.coords[0], width)] if width else []
        fenced = apply_fences(graph, land.fences, openings, cuts=cuts)
        values.append(effective_conductance(fenced, centre_cell, border))
    no_fence = effective_conductance(graph, centre_cell, border)
    assert values[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(values) > 0)
    assert values[-1] == pytest.approx(no_fence, rel=1e-10)


def test_edge_cuts_rejects_arrays_of_different_lengths():
    with pytest.raises(ConfigError, match="one length"):
        EdgeCuts([0, 1], [0, 0], [0, 1], [0, 0], [1.0, 2.0], [0.0], [0.0, 1.0])
    cuts = EdgeCuts([0], [2], [3], [0], [5.0], [1.0], [2.0])
    assert len(cuts) == 1 and isinstance(cuts.row, np.ndarray)


def test_openings_are_checked_even_when_no_edge_is_cut():
    grid = GridSpec.from_origin(0.0, 1000.0, CELL, (10, 10), gallery.DEFAULT_CRS)
    fence = Fence("f", [(2000.0, 0.0), (3000.0, 0.0)])
    with pytest.warns(CrossingsWarning, match="outside"):
        cuts = fence_edge_cuts(grid, [fence])
    assert len(edge_factors(cuts, [fence], [Opening("f", 2500.0, 0.0, 10.0)], CELL)) == 0
    with pytest.raises(ConfigError, match="fence_id 'typo'"):
        edge_factors(cuts, [fence], [Opening("typo", 2500.0, 0.0, 10.0)], CELL)


@pytest.mark.parametrize("connect_four", [False, True])
def test_ring_made_of_two_fence_pieces_separates(connect_four):
    # Pieces meeting at shared vertices (as the demo's border fence is split into sections) close
    # the ring between them; the junction vertices lie on cell corners, where diagonals cross.
    land = gallery.ring_fence(20, 20, 600.0, n_vertices=8, rotation=0.0)
    ring = land.fences[0].coords
    pieces = [Fence("north", ring[:5]), Fence("south", ring[4:])]
    graph = apply_fences(land.graph(connect_four=connect_four), pieces)
    assert_separates(graph, gallery.inside_ring(land.grid, land.fences[0]))
    assert len(np.unique(components(graph))) == 2


def test_fence_and_opening_reject_non_finite_coordinates():
    with pytest.raises(ConfigError, match="fence 'inf' geometry.*infinity"):
        Fence("inf", [(0.0, 0.0), (np.inf, 1.0)])
    with pytest.raises(ConfigError, match="opening gate x, y.*finite"):
        Opening("f", 1.0, np.nan, 10.0, opening_id="gate")


def _fraction_orientation(ax, ay, bx, by, cx, cy):
    from fractions import Fraction

    ax, ay, bx, by, cx, cy = (Fraction(float(v)) for v in (ax, ay, bx, by, cx, cy))
    det = (ax - cx) * (by - cy) - (ay - cy) * (bx - cx)
    return (det > 0) - (det < 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_orientation_sign_is_exact_for_nearly_collinear_points(seed):
    from crossings.core.barriers import _orient_sign

    rng = np.random.default_rng(seed)
    n = 3000
    c = rng.integers(-500, 500, size=(n, 2)).astype(float)  # lattice points (cell centres)
    a = c + rng.uniform(-50, 50, size=(n, 2))
    a[: n // 3] = np.round(a[: n // 3] * 4) / 4  # some on a quarter-cell lattice: exact ties
    b = c + (a - c) * rng.choice([-3.0, 0.5, 2.0, 7.0], size=(n, 1))
    nudge = rng.integers(-2, 3, size=(n, 2))
    b = np.where(nudge == 0, b, np.nextafter(b, np.where(nudge > 0, np.inf, -np.inf)))
    got = _orient_sign(a[:, 0], a[:, 1], b[:, 0], b[:, 1], c[:, 0], c[:, 1])
    expected = np.array([_fraction_orientation(*a[i], *b[i], *c[i]) for i in range(n)])
    np.testing.assert_array_equal(got, expected)
    assert {-1, 0, 1} <= set(got.tolist())
    # The cases are hard: plain floating point gets some of them wrong.
    naive = np.sign(
        (a[:, 0] - c[:, 0]) * (b[:, 1] - c[:, 1]) - (a[:, 1] - c[:, 1]) * (b[:, 0] - c[:, 0])
    )
    assert (naive != expected).sum() > 10


@given(
    centre=st.floats(200.0, 800.0),
    width=st.floats(20.0, 400.0),
    second_shift=st.floats(-300.0, 300.0),
    second_width=st.floats(20.0, 400.0),
    second_permeability=st.floats(0.0, 1.0),
)
@settings(max_examples=60, deadline=None, derandomize=True)
def test_adding_an_overlapping_opening_never_lowers_any_edge_factor(
    centre, width, second_shift, second_width, second_permeability
):
    # Rayleigh monotonicity at the level of edges: a lower-permeability opening laid over a full
    # gap must not take conductance away from the gap.
    grid = GridSpec.from_origin(0.0, 1000.0, CELL, (10, 10), gallery.DEFAULT_CRS)
    fence = Fence("f", [(-200.0, 500.0), (1200.0, 500.0)], permeability=0.1)
    cuts = fence_edge_cuts(grid, [fence])
    gap = Opening("f", centre, 500.0, width, 1.0)
    other = Opening("f", centre + second_shift, 500.0, second_width, second_permeability)
    alone = edge_factors(cuts, [fence], [gap], CELL)
    both = edge_factors(cuts, [fence], [gap, other], CELL)
    assert np.all(both >= alone - 1e-12)
    assert np.all(both <= 1.0 + 1e-12)
