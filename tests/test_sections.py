"""Per-section share of ProtConn[Trans]: closed forms on two countries and one stepping stone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from crossings.core.fences import Fence
from crossings.core.graph import build_graph
from crossings.core.grid import GridSpec
from crossings.core.pa_links import DistanceKind
from crossings.core.protconn import Kernel
from crossings.core.sections import (
    Landscape,
    Section,
    boundary_sections,
    country_table,
    section_shares,
)

KM = 1000.0
KERNEL = Kernel(10 * KM)
CRS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"
# Country A west of x = 50 km, B east of it, both 40 km tall. A has two 4 km2 PAs 36 km apart,
# B one PA 9 km from each of them: the best path between A's PAs runs through B.
COUNTRIES = {
    "AAA": shapely.box(0, 0, 50 * KM, 40 * KM),
    "BBB": shapely.box(50 * KM, 0, 100 * KM, 40 * KM),
}
PAS = [
    shapely.box(40 * KM, 0, 42 * KM, 2 * KM),
    shapely.box(40 * KM, 38 * KM, 42 * KM, 40 * KM),
    shapely.box(51 * KM, 2 * KM, 59 * KM, 38 * KM),
]


def p(d_km: float) -> float:
    return 0.5 ** (d_km / 10)


def trans_land(p_best: float, p_direct: float, area_km2: float = 2000.0) -> float:
    eca = math.sqrt(16 + 16 + 2 * 16 * p_best)
    eca_n = math.sqrt(16 + 16 + 2 * 16 * p_direct)
    return 100 * (eca - eca_n) / area_km2


def test_boundary_sections_cover_the_shared_line_once():
    sections = boundary_sections(COUNTRIES, 20 * KM)
    assert [s.section_id for s in sections] == ["AAA-BBB-01", "AAA-BBB-02"]
    assert sum(s.length for s in sections) == pytest.approx(40 * KM)
    assert shapely.union_all([s.line for s in sections]).equals(
        shapely.LineString([(50 * KM, 0), (50 * KM, 40 * KM)])
    )


def test_each_section_carries_the_whole_trans_part_on_edge_distances():
    sections = boundary_sections(COUNTRIES, 20 * KM)
    shares = section_shares(PAS, COUNTRIES, sections, KERNEL, buffer=20 * KM)
    of_a = [s for s in shares if s.country == "AAA"]
    expected = trans_land(max(p(36), p(9) * p(9)), p(36))
    for share in of_a:
        assert share.trans_now == pytest.approx(expected)
        assert share.trans_closed == pytest.approx(0.0, abs=1e-12)
        assert share.share == pytest.approx(100.0)
        assert share.gain == pytest.approx(0.0, abs=1e-12)
    of_b = [s for s in shares if s.country == "BBB"]
    assert all(math.isnan(s.share) for s in of_b)  # B has no PA of its own


def test_opening_the_fence_on_one_section_gains_the_trans_part():
    sections = boundary_sections(COUNTRIES, 20 * KM)
    north = next(s for s in sections if s.line.bounds[3] > 30 * KM)
    fence = Fence("f", np.asarray(north.line.coords), 0.0, "AAA-BBB")
    landscape = Landscape(fences=(fence,))
    shares = {
        s.section_id: s
        for s in section_shares(
            PAS, COUNTRIES, sections, KERNEL, landscape=landscape, buffer=20 * KM
        )
        if s.country == "AAA"
    }
    expected = trans_land(max(p(36), p(9) * p(9)), p(36))
    assert shares[north.section_id].trans_now == pytest.approx(0.0, abs=1e-12)
    assert shares[north.section_id].gain == pytest.approx(expected)
    other = next(k for k in shares if k != north.section_id)
    assert shares[other].gain == pytest.approx(0.0, abs=1e-12)


def test_least_cost_section_closed_and_opened_on_a_grid():
    cell = 2 * KM
    rows, cols = 20, 50
    grid = GridSpec.from_origin(0, 40 * KM, cell, (rows, cols), CRS)
    graph = build_graph(grid, np.ones((rows, cols)), connect_four=True)
    sections = boundary_sections(COUNTRIES, 20 * KM)
    whole = Fence("f", [(50 * KM, -1.0), (50 * KM, 40 * KM + 1.0)], 0.0, "AAA-BBB")
    closed = Landscape(DistanceKind.LEAST_COST, graph, (whole,))
    shares = [
        s
        for s in section_shares(PAS, COUNTRIES, sections, KERNEL, landscape=closed, buffer=20 * KM)
        if s.country == "AAA"
    ]
    assert all(s.trans_now == pytest.approx(0.0, abs=1e-12) for s in shares)
    free = Landscape(DistanceKind.LEAST_COST, graph)
    table = country_table(PAS, COUNTRIES, KERNEL, landscape=free, buffer=20 * KM)
    free_trans = table["AAA"].protconn_trans_land
    assert free_trans > 0
    assert table["BBB"].prot == pytest.approx(100 * 288 / 2000)
    # Fence only on the northern half: opening it gives back everything, opening the south nothing.
    north = next(s for s in sections if s.line.bounds[3] > 30 * KM)
    half = Fence("f", [(50 * KM, 20 * KM), (50 * KM, 40 * KM + 1.0)], 0.0, "AAA-BBB")
    landscape = Landscape(DistanceKind.LEAST_COST, graph, (half,))
    shares = {
        s.section_id: s
        for s in section_shares(
            PAS, COUNTRIES, sections, KERNEL, landscape=landscape, buffer=20 * KM
        )
        if s.country == "AAA"
    }
    assert shares[north.section_id].trans_opened == pytest.approx(free_trans)
    assert shares[north.section_id].gain > 0
    south = next(k for k in shares if k != north.section_id)
    assert shares[south].gain == pytest.approx(0.0, abs=1e-12)


def test_user_section_keeps_its_id():
    line = shapely.LineString([(50 * KM, 10 * KM), (50 * KM, 12 * KM)])
    shares = section_shares(
        PAS, COUNTRIES, [Section("my-gap", "AAA-BBB", line)], KERNEL, buffer=20 * KM
    )
    assert {s.section_id for s in shares} == {"my-gap"}
    # A 2 km closed stretch in the middle cuts neither link (they cross at y = 2 and 38 km).
    a = next(s for s in shares if s.country == "AAA")
    assert a.drop == pytest.approx(0.0, abs=1e-12)
