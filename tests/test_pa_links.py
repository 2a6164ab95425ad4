"""PA links: exact edge distances, least-cost and resistance distances cut by fences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from crossings.core.barriers import apply_fences
from crossings.core.fences import Fence, Opening
from crossings.core.graph import build_graph
from crossings.core.grid import GridSpec
from crossings.core.pa_links import (
    DistanceKind,
    centroid_links,
    cut_links,
    edge_links,
    least_cost_links,
    node_links,
    polygon_cells,
    region_protconn,
    resistance_links,
    simplify,
)
from crossings.core.protconn import Kernel
from crossings.errors import ConfigError

CRS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"


def random_boxes(rng, n, span=50_000.0):
    out = []
    for _ in range(n):
        x, y = rng.uniform(0, span, 2)
        w, h = rng.uniform(200, 3000, 2)
        out.append(shapely.box(x, y, x + w, y + h))
    return out


def test_edge_links_equal_brute_force_distances_within_reach():
    rng = np.random.default_rng(1)
    boxes = random_boxes(rng, 40)
    links = edge_links(boxes, 8000.0)
    found = {(i, j): d for i, j, d in zip(links.i, links.j, links.distance, strict=True)}
    for i in range(40):
        for j in range(i + 1, 40):
            d = boxes[i].distance(boxes[j])
            if d <= 8000.0:
                assert found.pop((i, j)) == d
    assert not found


def test_centroid_links_and_simplify_report():
    links = centroid_links([shapely.box(0, 0, 2, 2), shapely.box(10, 0, 12, 2)], 100.0)
    assert links.distance.tolist() == [10.0]
    circle = shapely.Point(0, 0).buffer(1000.0, quad_segs=64)
    out, report = simplify([circle], 50.0)
    assert report.area_after < report.area_before
    assert report.area_change_percent == pytest.approx(
        100 * (out[0].area - circle.area) / circle.area
    )


def test_cut_links_drops_links_across_a_barrier():
    boxes = [shapely.box(0, 0, 1, 1), shapely.box(3, 0, 4, 1), shapely.box(0, 3, 1, 4)]
    links = edge_links(boxes, 10.0)
    cut = cut_links(links, boxes, shapely.LineString([(2, -5), (2, 5)]))
    assert sorted(zip(cut.i.tolist(), cut.j.tolist(), strict=True)) == [(0, 2)]


def strip_grid(rows=5, cols=9, cell=1000.0):
    grid = GridSpec.from_origin(0, rows * cell, cell, (rows, cols), CRS)
    return grid, build_graph(grid, np.ones((rows, cols)), connect_four=True)


def test_least_cost_goes_round_a_fence_and_opening_restores_it():
    grid, graph = strip_grid()
    a, b = ([2], [0]), ([2], [8])
    assert least_cost_links(graph, [a, b], 1e9).distance.tolist() == [8000.0]
    # A fence across x = 4.5 km from the bottom up to y = 4 km: the path must go round it
    # through the top row (2 up, 8 across, 2 down).
    fence = Fence("f", [(4500.0, -100.0), (4500.0, 4000.0)])
    fenced = apply_fences(graph, [fence])
    assert least_cost_links(fenced, [a, b], 1e9).distance.tolist() == [12_000.0]
    closed = apply_fences(graph, [Fence("f", [(4500.0, -100.0), (4500.0, 5100.0)])])
    assert len(least_cost_links(closed, [a, b], 1e9)) == 0
    gap = Opening("f", 4500.0, 2500.0, 1000.0, 1.0, "gap", "o1")
    opened = apply_fences(graph, [Fence("f", [(4500.0, -100.0), (4500.0, 5100.0)])], [gap])
    assert least_cost_links(opened, [a, b], 1e9).distance.tolist() == [8000.0]


def test_resistance_links_match_series_resistors_and_fence_splits():
    grid = GridSpec.from_origin(0, 1000.0, 1000.0, (1, 5), CRS)
    graph = build_graph(grid, np.ones((1, 5)), connect_four=True)
    links = resistance_links(graph, [([0], [0]), ([0], [4]), ([0], [2])])
    got = dict(
        zip(zip(links.i.tolist(), links.j.tolist(), strict=True), links.distance, strict=True)
    )
    assert got[(0, 1)] == pytest.approx(4.0)
    assert got[(0, 2)] == pytest.approx(2.0)
    closed = apply_fences(graph, [Fence("f", [(3500.0, -10.0), (3500.0, 1010.0)])])
    split = resistance_links(closed, [([0], [0]), ([0], [4]), ([0], [2])])
    assert list(zip(split.i.tolist(), split.j.tolist(), strict=True)) == [(0, 2)]


def test_polygon_cells_take_centres_or_the_cell_under_a_small_polygon():
    grid, _ = strip_grid()
    rows, cols = polygon_cells(grid, shapely.box(0, 0, 2000, 1000))
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(4, 0), (4, 1)]
    rows, cols = polygon_cells(grid, shapely.box(2100, 2100, 2200, 2200))
    assert (rows.tolist(), cols.tolist()) == ([2], [2])


def test_landscape_distance_needs_a_surface():
    with pytest.raises(ConfigError, match="resistance surface"):
        node_links([shapely.box(0, 0, 1, 1)], Kernel(1000.0), distance=DistanceKind.LEAST_COST)


def test_region_protconn_closed_form_with_a_foreign_stepping_stone():
    # Region 100 x 20 km; national A (4 km2) and B (4 km2) 28 km apart; foreign F above the
    # border, sqrt(388) km from A and sqrt(424) km from B (corner to corner).
    region = shapely.box(0, 0, 100e3, 20e3)
    pas = [
        shapely.box(10e3, 5e3, 12e3, 7e3),
        shapely.box(40e3, 5e3, 42e3, 7e3),
        shapely.box(20e3, 25e3, 30e3, 30e3),
    ]
    kernel = Kernel(10_000.0)
    r, nodes = region_protconn(pas, region, kernel, buffer=10e3)
    assert len(nodes.national) == 2 and len(nodes.foreign) == 1

    def p(d):
        return 0.5 ** (d / 10e3)

    p_ab = max(p(28e3), p(math.sqrt(388) * 1e3) * p(math.sqrt(424) * 1e3))
    eca = math.sqrt(16 + 16 + 2 * 16 * p_ab)
    eca_n = math.sqrt(16 + 16 + 2 * 16 * p(28e3))
    assert r.region_area == pytest.approx(2000.0)
    assert r.eca == pytest.approx(eca)
    assert r.protconn_trans == pytest.approx(100 * (eca - eca_n) / eca)
    assert r.protconn_bound == pytest.approx(r.protconn)  # one land part holds both PAs
    without_buffer, _ = region_protconn(pas, region, kernel, buffer=1e3)
    assert without_buffer.protconn_trans == 0.0
    assert without_buffer.eca == pytest.approx(eca_n)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**31),
    st.floats(1500.0, 7500.0),
    st.floats(0.0, 1.0),
    st.sampled_from([DistanceKind.LEAST_COST, DistanceKind.EDGE]),
)
def test_closing_a_fence_never_raises_landscape_protconn(seed, x, permeability, kind):
    rng = np.random.default_rng(seed)
    rows, cols, cell = 8, 9, 1000.0
    grid = GridSpec.from_origin(0, rows * cell, cell, (rows, cols), CRS)
    resistance = rng.uniform(1, 5, (rows, cols))
    graph = build_graph(grid, 1 / resistance)
    region = shapely.box(0, 0, x, rows * cell)
    pas = random_boxes(rng, 5, span=7000.0)
    kernel = Kernel(3000.0)
    open_fence = Fence("f", [(x, -100.0), (x, rows * cell * rng.uniform(0.3, 1.1))], permeability)
    closed_fence = Fence("f", open_fence.coords, 0.0)
    barrier = shapely.LineString(open_fence.coords)
    results = []
    for fence in (open_fence, closed_fence):
        fenced = apply_fences(graph, [fence])
        cut = None if kind is DistanceKind.LEAST_COST else barrier
        extra = {} if fence.permeability > 0 else {"barrier": cut}
        r, _ = region_protconn(
            pas, region, kernel, buffer=5000.0, distance=kind, graph=fenced, **extra
        )
        results.append(r)
    if results[0].protected_area == 0:
        return
    assert results[1].protconn <= results[0].protconn + 1e-9
    # Not so for ProtConn[Trans]: a fence that cuts a national link but spares the way through
    # a foreign PA raises the transboundary share.
