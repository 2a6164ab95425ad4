"""The cumulative map's per-cell flows over all pairs of focal nodes, on a grid: equal to the
brute-force sum over pairs and edges, whatever the step size."""

from __future__ import annotations

import numpy as np
import pytest

from crossings.core import circuit
from crossings.core.circuit import _grid_pair_flows, build_network
from crossings.core.graph import build_graph
from crossings.core.grid import GridSpec


def _brute_force(network, potentials):
    i, j, w = network.edges()
    flows = np.zeros(network.n_nodes)
    k = potentials.shape[1]
    for a in range(k):
        for b in range(a + 1, k):
            pair = potentials[:, b] - potentials[:, a]
            carried = w * np.abs(pair[i] - pair[j])
            flows += np.bincount(i, carried, network.n_nodes) + np.bincount(
                j, carried, network.n_nodes
            )
    return flows


@pytest.mark.parametrize("k", [5, 12])  # summed directly / sorted
@pytest.mark.parametrize("connect_four", [False, True])
@pytest.mark.parametrize("chunk_bytes", [1, 2**20])  # one row per step / all rows at once
def test_grid_pair_flows_equal_brute_force(monkeypatch, k, connect_four, chunk_bytes):
    monkeypatch.setattr(circuit, "_GRID_FLOW_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(k)
    shape = (9, 11)
    grid = GridSpec.from_origin(0, shape[0], 1, shape, "EPSG:3857")
    graph = build_graph(grid, 1.0 / 10 ** rng.uniform(0, 2, shape), connect_four=connect_four)
    network = build_network(graph)
    potentials = rng.standard_normal((network.n_nodes, k))
    potentials[:, 0] = 0.0  # the ground column
    coefficients = 2.0 * np.arange(k) - (k - 1)
    got = _grid_pair_flows(graph, potentials.copy(), coefficients)
    expected = _brute_force(network, potentials)
    assert expected.max() > 1.0
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * expected.max())
