"""ProtConn: the Conefor fixture, closed forms on 2-4 PAs, a dense brute force and invariants."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from crossings.core.protconn import Convention, Kernel, Links, node_importance, pc, protconn
from crossings.errors import ConfigError

CONEFOR = Path(__file__).parent / "data" / "protconn" / "conefor"
KERNEL = Kernel(10_000.0, 0.5)


def p(d: float) -> float:
    return 0.5 ** (d / 10_000.0)


def read_conefor(case: str):
    suffix = "" if case == "good" else "_wrong"
    nodes = np.loadtxt(CONEFOR / case / f"nodes_BFA_2022{suffix}")
    pairs = np.loadtxt(CONEFOR / case / f"distances_BFA_2022{suffix}")
    index = {int(v): k for k, v in enumerate(nodes[:, 0])}
    i = [index[int(v)] for v in pairs[:, 0]]
    j = [index[int(v)] for v in pairs[:, 1]]
    expected = {}
    for line in (CONEFOR / case / "overall_indices.txt").read_text().splitlines():
        name, value = line.split("\t")
        expected[name] = float(value)
    return nodes[:, 1], Links(i, j, pairs[:, 2]), expected


def six_digits(x: float) -> float:
    return float(f"{x:.6g}")


@pytest.mark.parametrize("case", ["good", "wrong"])
def test_conefor_fixture_reproduced_to_printed_precision(case):
    attributes, links, expected = read_conefor(case)
    result = pc(attributes, links, Kernel(10_000.0, 0.5))
    got = {
        "F": result.f,
        "AWF": result.awf,
        "PCnum": result.pcnum,
        "EC(PC)": result.eca,
        "PCintra(%)": result.intra,
        "PCdirect(%)": result.direct,
        "PCstep(%)": result.step,
    }
    assert {k: six_digits(v) for k, v in got.items()} == expected


def test_zero_distance_links_are_links_not_gaps():
    # The "wrong" fixture is the good one without its d = 0 pairs: dropping them must give it.
    attributes, links, _ = read_conefor("good")
    touching = links.distance == 0
    assert touching.sum() == 78
    without = Links(links.i[~touching], links.j[~touching], links.distance[~touching])
    full, cut = pc(attributes, links, KERNEL), pc(attributes, without, KERNEL)
    assert six_digits(full.eca) == 45140.4
    assert cut.eca < 0.6 * full.eca


def dense_pcnum(a, links: Links, kernel: Kernel, weight_one=None) -> float:
    """Floyd-Warshall on probabilities with plain loops (max-product paths)."""
    n = len(a)
    best = np.eye(n)
    for i, j, d in zip(links.i, links.j, links.distance, strict=True):
        best[i, j] = best[j, i] = max(best[i, j], float(kernel.probability_at(d)))
    for k in range(n):
        for i in range(n):
            for j in range(n):
                best[i, j] = max(best[i, j], best[i, k] * best[k, j])
    heavy = np.zeros(n, bool) if weight_one is None else np.asarray(weight_one)
    weights = np.outer(a, a)
    weights[heavy, :] = 1.0
    weights[:, heavy] = 1.0
    return float(np.sum(weights * best))


@st.composite
def graphs(draw, max_nodes=7):
    n = draw(st.integers(2, max_nodes))
    a = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0, 7.5]), min_size=n, max_size=n))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
    dist = draw(
        st.lists(
            st.sampled_from([0.0, 1_000.0, 5_000.0, 12_000.0, 40_000.0]),
            min_size=len(chosen),
            max_size=len(chosen),
        )
    )
    i = [c[0] for c in chosen]
    j = [c[1] for c in chosen]
    return np.asarray(a), Links(np.array(i, int), np.array(j, int), np.array(dist, float))


@settings(max_examples=60, deadline=None)
@given(graphs(), st.integers(0, 3))
def test_pcnum_matches_dense_max_product_paths(graph, n_heavy):
    a, links = graph
    heavy = np.zeros(a.size, bool)
    heavy[: min(n_heavy, a.size)] = True
    heavy &= a == 0
    assert pc(a, links, KERNEL, floor=1e-12).pcnum == pytest.approx(dense_pcnum(a, links, KERNEL))
    got = pc(a, links, KERNEL, floor=1e-12, weight_one=heavy).pcnum
    assert got == pytest.approx(dense_pcnum(a, links, KERNEL, heavy))


@settings(max_examples=40, deadline=None)
@given(graphs(max_nodes=6))
def test_node_importance_matches_removal_brute_force(graph):
    a, links = graph
    if a.sum() == 0:
        return
    total = dense_pcnum(a, links, KERNEL)
    imp = node_importance(a, links, KERNEL, floor=1e-12)
    for k in range(a.size):
        keep = np.arange(a.size) != k
        sub, _ = links.within(keep)
        removed = dense_pcnum(a[keep], sub, KERNEL)
        assert imp.dpc[k] == pytest.approx(100 * (total - removed) / total, abs=1e-9)
        assert imp.intra[k] == pytest.approx(100 * a[k] ** 2 / total)
    assert np.all(imp.connector >= -1e-9)
    np.testing.assert_allclose(imp.dpc, imp.intra + imp.flux + imp.connector)


def test_floor_error_within_reported_bound():
    rng = np.random.default_rng(5)
    n = 60
    a = rng.uniform(0.5, 5, n)
    i, j = np.triu_indices(n, 1)
    links = Links(i, j, rng.uniform(0, 80_000, i.size))
    exact = pc(a, links, KERNEL, floor=1e-300)
    coarse = pc(a, links, KERNEL, floor=1e-2)
    assert coarse.n_links < exact.n_links
    assert 0 <= exact.pcnum - coarse.pcnum <= coarse.pcnum_truncation_bound
    # Two nodes 50 km apart (p = 1/32) with a floor of 0.1: the link and 2/32 of PCnum go.
    pair = Links([0], [1], [50_000.0])
    dropped = pc([1.0, 1.0], pair, KERNEL, floor=0.1)
    assert dropped.pcnum == 2.0
    assert pc([1.0, 1.0], pair, KERNEL).pcnum - dropped.pcnum == pytest.approx(1 / 16)
    assert dropped.pcnum_truncation_bound == pytest.approx(0.2)


def test_closed_form_two_national_one_foreign_stepping_stone():
    # A and B (national, 4 and 2 km2) 30 km apart; foreign F 12 km from A and 9 km from B.
    a, b = 4.0, 2.0
    links = Links([0, 0, 1], [1, 2, 2], [30_000.0, 12_000.0, 9_000.0])
    area = 1000.0
    r = protconn([a, b], 1, links, KERNEL, area)
    p_ab = max(p(30_000), p(12_000) * p(9_000))
    assert p_ab == p(21_000)  # the stepping stone wins
    eca = math.sqrt(a * a + b * b + 2 * a * b * p_ab)
    eca_n = math.sqrt(a * a + b * b + 2 * a * b * p(30_000))
    assert r.eca == pytest.approx(eca)
    assert r.eca_national == pytest.approx(eca_n)
    assert r.prot == pytest.approx(100 * 6 / area)
    assert r.protconn == pytest.approx(100 * eca / area)
    assert r.protunconn == pytest.approx(r.prot - 100 * eca / area)
    assert r.relconn == pytest.approx(100 * eca / 6)
    assert r.protconn_prot == pytest.approx(100 * math.sqrt(a * a + b * b) / eca)
    assert r.protconn_trans == pytest.approx(100 * (eca - eca_n) / eca)
    assert r.protconn_unprot == pytest.approx(100 * (eca_n - math.sqrt(a * a + b * b)) / eca)
    assert r.protconn_within == pytest.approx(r.protconn_prot)
    assert r.protconn_contig == pytest.approx(0.0, abs=1e-12)
    assert r.protconn_trans_land == pytest.approx(100 * (eca - eca_n) / area)
    assert math.isnan(r.protconn_bound)
    # Makurhini weighs every pair touching F with 1: PCnum gains p*_FF + 2 p*_AF + 2 p*_BF.
    mk = protconn([a, b], 1, links, KERNEL, area, convention=Convention.MAKURHINI)
    extra = 1 + 2 * max(p(12_000), p(30_000) * p(9_000)) + 2 * p(9_000)
    assert mk.pcnum == pytest.approx(eca**2 + extra)
    assert mk.protconn_contig == pytest.approx(100 - mk.protconn_within)


def test_closed_form_touching_pieces_within_contig_and_bound_on_two_islands():
    # Region of two islands; island 1 holds two touching PAs (1 and 3 km2, dissolved into one
    # 4 km2 node), island 2 a 2 km2 PA; the islands' PAs are 20 km apart.
    pieces = [1.0, 3.0, 2.0]
    national = [4.0, 2.0]
    links = Links([0], [1], [20_000.0])
    # Land parts: node 2 holds national node 0, node 3 holds national node 1; islands 18 km apart.
    design = Links([0, 1, 2], [2, 3, 3], [0.0, 0.0, 18_000.0])
    area = 500.0
    r = protconn(
        national, 0, links, KERNEL, area, piece_areas=pieces, design_links=design, n_design=2
    )
    eca = math.sqrt(16 + 4 + 2 * 8 * p(20_000))
    eca_design = math.sqrt(16 + 4 + 2 * 8 * p(18_000))
    within = 100 * math.sqrt(1 + 9 + 4) / eca  # no overlap: sqrt(S / sum b) = 1
    assert r.protconn_within == pytest.approx(within)
    assert r.protconn_contig == pytest.approx(100 * math.sqrt(20) / eca - within)
    assert r.protunconn_design == pytest.approx(100 * (eca_design - eca) / area)
    assert r.protconn_bound == pytest.approx(r.prot - 100 * (eca_design - eca) / area)
    assert r.protconn_bound > r.protconn
    mk = protconn(
        national,
        0,
        links,
        KERNEL,
        area,
        piece_areas=pieces,
        design_links=design,
        n_design=2,
        convention=Convention.MAKURHINI,
    )
    assert mk.protconn_contig == pytest.approx(100 - within)


def test_no_protected_area_gives_zero_and_nan_fractions():
    r = protconn([], 2, Links([0], [1], [0.0]), KERNEL, 100.0)
    assert r.prot == 0 and r.protconn == 0
    assert math.isnan(r.protconn_trans) and math.isnan(r.relconn)


@settings(max_examples=60, deadline=None)
@given(graphs(), st.integers(0, 3), st.sampled_from(list(Convention)))
def test_protconn_invariants(graph, n_foreign, convention):
    a, links = graph
    n_foreign = min(n_foreign, a.size - 1)
    national = a[: a.size - n_foreign]
    r = protconn(national, n_foreign, links, KERNEL, 100.0, convention=convention)
    if national.sum() == 0:
        return
    if convention is Convention.SAURA:  # Makurhini's weight-1 foreign pairs can exceed Prot
        assert r.protconn <= r.prot + 1e-9
    assert r.protconn_prot + r.protconn_trans + r.protconn_unprot == pytest.approx(100)
    assert r.protconn_trans >= 0 and r.protconn_unprot >= -1e-9
    if convention is Convention.SAURA:
        assert r.protconn_within + r.protconn_contig == pytest.approx(r.protconn_prot)
    else:
        assert r.protconn_within + r.protconn_contig == pytest.approx(100)


def test_bad_inputs_name_the_field():
    with pytest.raises(ConfigError, match="kernel probability"):
        Kernel(1000.0, 1.5)
    with pytest.raises(ConfigError, match="distance"):
        Links([0], [1], [-1.0])
    with pytest.raises(ConfigError, match="attribute"):
        pc([1.0, np.nan], Links.empty(), KERNEL)
    with pytest.raises(ConfigError, match="node 3"):
        pc([1.0, 1.0], Links([0], [3], [1.0]), KERNEL)


def test_region_nodes_clip_dissolve_and_foreign_buffer():
    from crossings.core.pa_links import region_nodes

    region = shapely.box(0, 0, 10_000, 10_000)
    pas = [
        shapely.box(1000, 1000, 3000, 3000),
        shapely.box(3000, 1000, 4000, 2000),  # touches the first
        shapely.box(9000, 4000, 12_000, 5000),  # crosses the border: 1 km2 in, 2 km2 out
        shapely.box(13_000, 0, 14_000, 1000),  # foreign, within 5 km
        shapely.box(30_000, 0, 31_000, 1000),  # foreign, beyond the buffer
    ]
    nodes = region_nodes(pas, region, 5000.0)
    assert sorted(shapely.area(nodes.national).round()) == [1e6, 5e6]
    assert sorted(shapely.area(nodes.pieces).round()) == [1e6, 1e6, 4e6]
    assert sorted(shapely.area(nodes.foreign).round()) == [1e6, 2e6]
    assert nodes.region_area == 1e8
