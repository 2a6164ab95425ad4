"""Raster to conductance graph and Laplacian (crossings.core.graph).

Checked against a Laplacian built here cell by cell with plain loops, effective resistances from
the dense pseudo-inverse ``R_ab = (e_a - e_b)^T L^+ (e_a - e_b)``, and hand-computed circuits.
"""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from dense_reference import cell_laplacian
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import splu

from crossings import gallery
from crossings.core.graph import AveragingRule, build_graph, resistance_to_conductance
from crossings.core.grid import GridSpec
from crossings.errors import ConfigError

RULES = [AveragingRule.AVG_RESISTANCE, AveragingRule.AVG_CONDUCTANCE]
CRS = gallery.DEFAULT_CRS


def loop_laplacian(resistance, connect_four, rule):
    """Dense Laplacian from first principles: nodes are finite cells in row-major order."""
    return cell_laplacian(resistance, connect_four, rule)[0]


def pinv_resistance(dense_laplacian, a, b):
    e = np.zeros(len(dense_laplacian))
    e[a], e[b] = 1.0, -1.0
    return float(e @ np.linalg.pinv(dense_laplacian) @ e)


def grounded_resistance(laplacian, a, b):
    """Inject 1 A at a, ground b, solve the reduced sparse system with splu."""
    keep = np.arange(laplacian.shape[0]) != b
    reduced = sp.csc_matrix(laplacian)[keep][:, keep]
    rhs = np.zeros(laplacian.shape[0])
    rhs[a] = 1.0
    voltage = splu(sp.csc_matrix(reduced)).solve(rhs[keep])
    return float(voltage[a - (a > b)])


def graph_of(resistance, connect_four, rule):
    grid = GridSpec.from_origin(0.0, resistance.shape[0] * 100.0, 100.0, resistance.shape, CRS)
    return build_graph(
        grid, resistance_to_conductance(resistance), connect_four=connect_four, rule=rule
    )


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    connect_four=st.booleans(),
    rule=st.sampled_from(RULES),
    nodata=st.floats(0.0, 0.4),
)
def test_laplacian_matches_loop_construction(seed, shape, connect_four, rule, nodata):
    rng = np.random.default_rng(seed)
    resistance = rng.uniform(0.1, 50.0, size=shape)
    resistance[rng.random(shape) < nodata] = np.nan
    lap = graph_of(resistance, connect_four, rule).laplacian()
    assert sp.issparse(lap) and lap.format == "csr" and lap.dtype == np.float64
    dense = lap.toarray()
    np.testing.assert_allclose(dense, dense.T, rtol=0, atol=1e-14)
    np.testing.assert_allclose(dense.sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(dense, loop_laplacian(resistance, connect_four, rule), rtol=1e-12)


@pytest.mark.parametrize("connect_four", [False, True])
@pytest.mark.parametrize("rule", RULES)
def test_uniform_strip_resistance(connect_four, rule):
    strip = gallery.uniform_strip(12, resistance=3.0)
    lap = strip.graph(connect_four=connect_four, rule=rule).laplacian()
    expected = pinv_resistance(loop_laplacian(strip.resistance, connect_four, rule), 0, 11)
    assert grounded_resistance(lap, 0, 11) == pytest.approx(expected, rel=1e-10)
    assert expected == pytest.approx(11 * 3.0, rel=1e-10)  # series resistors


@pytest.mark.parametrize("connect_four", [False, True])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("pair", [(0, 47), (5, 30), (13, 14)])
def test_uniform_grid_resistance_matches_dense_pseudo_inverse(connect_four, rule, pair):
    land = gallery.uniform_grid(6, 8, resistance=2.0)
    lap = land.graph(connect_four=connect_four, rule=rule).laplacian()
    expected = pinv_resistance(loop_laplacian(land.resistance, connect_four, rule), *pair)
    assert grounded_resistance(lap, *pair) == pytest.approx(expected, rel=1e-10)
    assert pinv_resistance(lap.toarray(), *pair) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("connect_four", [False, True])
@pytest.mark.parametrize("rule", RULES)
def test_nodata_holes_are_complete_barriers(connect_four, rule):
    rng = np.random.default_rng(7)
    resistance = rng.uniform(1.0, 10.0, size=(7, 9))
    resistance[2:5, 3] = np.nan
    resistance[0, 0] = np.nan
    graph = graph_of(resistance, connect_four, rule)
    assert graph.n_nodes == np.isfinite(resistance).sum()
    assert np.all(graph.node_index[np.isnan(resistance)] == -1)
    lap = graph.laplacian()
    dense = loop_laplacian(resistance, connect_four, rule)
    index = graph.node_index
    a, b = index[3, 0], index[3, 8]
    assert grounded_resistance(lap, a, b) == pytest.approx(pinv_resistance(dense, a, b), rel=1e-9)
    # No edge touches a NoData cell.
    for k, weights in enumerate(graph.edge_weights):
        assert np.all(weights[np.isnan(resistance)] == 0), k


def test_hand_computed_series_and_parallel_circuits():
    strip = np.array([[1.0, 3.0, 5.0]])
    # Average resistance: edges of 2 and 4 ohm in series.
    lap = graph_of(strip, True, AveragingRule.AVG_RESISTANCE).laplacian()
    assert grounded_resistance(lap, 0, 2) == pytest.approx(6.0)
    # Average conductance: (1 + 1/3) / 2 = 2/3 S and (1/3 + 1/5) / 2 = 4/15 S in series.
    lap = graph_of(strip, True, AveragingRule.AVG_CONDUCTANCE).laplacian()
    assert grounded_resistance(lap, 0, 2) == pytest.approx(1.5 + 3.75)
    # 2 x 2 unit cells, 8 neighbours, opposite corners: two 2-ohm paths and a sqrt(2)-ohm diagonal
    # in parallel (the other diagonal joins two nodes at equal voltage and carries nothing).
    lap = graph_of(np.ones((2, 2)), False, AveragingRule.AVG_RESISTANCE).laplacian()
    assert grounded_resistance(lap, 0, 3) == pytest.approx(1.0 / (0.5 + 0.5 + 1 / math.sqrt(2)))


def test_resistance_is_symmetric():
    rng = np.random.default_rng(3)
    lap = graph_of(rng.uniform(1, 9, size=(5, 6)), False, AveragingRule.AVG_RESISTANCE).laplacian()
    assert grounded_resistance(lap, 2, 27) == pytest.approx(grounded_resistance(lap, 27, 2))


def test_zero_or_negative_resistance_is_rejected():
    with pytest.raises(ConfigError, match="2 cell.*row/col"):
        resistance_to_conductance(np.array([[1.0, 0.0], [-1.0, 2.0]]))


def test_conductance_of_wrong_shape_is_rejected():
    grid = GridSpec.from_origin(0.0, 200.0, 100.0, (2, 2), CRS)
    with pytest.raises(ConfigError, match="shape"):
        build_graph(grid, np.ones((3, 2)))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("shape", [(1, 1), (3, 3)])
def test_graph_without_edges_gives_a_float_laplacian(shape):
    # A single cell, or cells isolated by NoData on a four-neighbour graph, have no edges.
    resistance = np.ones(shape)
    resistance[(np.indices(shape).sum(axis=0) % 2) == 1] = np.nan
    lap = graph_of(resistance, True, AveragingRule.AVG_RESISTANCE).laplacian()
    assert lap.dtype == np.float64
    assert not lap.toarray().any()
    assert lap.shape == (np.isfinite(resistance).sum(),) * 2
