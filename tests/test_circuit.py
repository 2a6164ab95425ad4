"""The circuit engine against independent dense computations on random small grids.

The reference here never uses crossings' graph or network code: it builds the dense Laplacian
cell by cell from Circuitscape's formulas, finds components by a plain flood fill, and takes
effective resistances and voltages from the Moore-Penrose pseudo-inverse of each component.
"""

from __future__ import annotations

import numpy as np
import pytest
from dense_reference import cell_laplacian

from crossings.core import circuit
from crossings.core.circuit import (
    FocalPoints,
    PairSelection,
    RemovePolicy,
    SolverOptions,
    advanced,
    all_to_one,
    build_network,
    effective_resistance,
    one_to_all,
    pairwise,
)
from crossings.core.graph import AveragingRule, build_graph
from crossings.core.grid import GridSpec
from crossings.core.solve import Solver
from crossings.errors import ConfigError

SOLVERS = [Solver.CHOLMOD, Solver.SPLU, Solver.CG_AMG]  # CHOLMOD cases skip where it is missing
RTOL = 1e-8


def _options(solver: Solver) -> SolverOptions:
    # CG needs a tighter residual for 1e-8 relative accuracy of the solution itself.
    return SolverOptions(solver=solver, tol=1e-13 if solver is Solver.CG_AMG else 1e-10)


def _landscape(seed: int, shape=(9, 11), holes=0.15, wall=True):
    """Log-uniform resistances with NoData holes and (optionally) a wall making two parts."""
    rng = np.random.default_rng(seed)
    resistance = 10 ** rng.uniform(-1, 2, size=shape)
    resistance[rng.random(shape) < holes] = np.nan
    if wall:
        resistance[:, shape[1] // 2] = np.nan
    return resistance


# --- the independent reference --------------------------------------------------------------


def _flood_components(lap):
    n = lap.shape[0]
    label = -np.ones(n, dtype=int)
    current = 0
    for start in range(n):
        if label[start] >= 0:
            continue
        stack = [start]
        label[start] = current
        while stack:
            u = stack.pop()
            for v in np.flatnonzero(lap[u] != 0):
                if label[v] < 0:
                    label[v] = current
                    stack.append(v)
        current += 1
    return label


def _dense_pair(lap, label, a, b):
    """Effective resistance and voltages (v[a] = 0, 1 A from b to a), or None if disconnected."""
    if label[a] != label[b]:
        return None
    comp = np.flatnonzero(label == label[a])
    pinv = np.linalg.pinv(lap[np.ix_(comp, comp)])
    la, lb = np.searchsorted(comp, a), np.searchsorted(comp, b)
    rhs = np.zeros(comp.size)
    rhs[lb], rhs[la] = 1.0, -1.0
    v = pinv @ rhs
    v -= v[la]
    voltages = np.zeros(lap.shape[0])
    voltages[comp] = v
    return v[lb], voltages


def _dense_node_currents(edges, voltages, n, grounds=None):
    """Larger of inflow and outflow per node, over edges and (finite) ``grounds``."""
    inflow, outflow = np.zeros(n), np.zeros(n)
    for i, j, w in edges:
        flow = w * (voltages[i] - voltages[j])
        if flow > 0:
            outflow[i] += flow
            inflow[j] += flow
        else:
            outflow[j] -= flow
            inflow[i] -= flow
    if grounds is not None:
        outflow += np.maximum(grounds * voltages, 0.0)
        inflow += np.maximum(-grounds * voltages, 0.0)
    return np.maximum(inflow, outflow)


def _random_focal(resistance, count, seed):
    rng = np.random.default_rng(seed)
    cells = np.argwhere(np.isfinite(resistance))
    chosen = cells[rng.choice(len(cells), size=count, replace=False)]
    return FocalPoints(chosen[:, 0], chosen[:, 1], np.arange(1, count + 1))


def _graph(resistance, four, rule):
    grid = GridSpec.from_origin(0.0, float(resistance.shape[0]), 1.0, resistance.shape, "LOCAL")
    return build_graph(grid, 1.0 / resistance, connect_four=four, rule=rule)


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.value)
@pytest.mark.parametrize("four", [True, False], ids=["4N", "8N"])
@pytest.mark.parametrize("rule", list(AveragingRule), ids=lambda r: r.value)
@pytest.mark.parametrize("seed", [1, 2])
def test_pairwise_matches_dense_pseudo_inverse(seed, rule, four, solver):
    resistance = _landscape(seed)
    lap, index, edges = cell_laplacian(resistance, four, rule)
    label = _flood_components(lap)
    focal = _random_focal(resistance, 6, seed)
    maps = {}
    result = pairwise(
        _graph(resistance, four, rule),
        focal,
        options=_options(solver),
        cumulative=True,
        pair_currents=True,
        pair_voltages=True,
        on_pair=lambda m: maps.__setitem__((m.id_a, m.id_b), m),
    )
    cumulative = np.zeros(lap.shape[0])
    nodes = index[focal.rows, focal.cols]
    for x in range(6):
        for y in range(x + 1, 6):
            dense = _dense_pair(lap, label, nodes[x], nodes[y])
            got = result.resistances[x, y]
            if dense is None:
                assert got == -1 and (x + 1, y + 1) not in maps
                continue
            r, voltages = dense
            assert got == pytest.approx(r, rel=RTOL)
            pair = maps[(x + 1, y + 1)]
            valid = index >= 0
            np.testing.assert_allclose(
                pair.voltage[valid], voltages[index[valid]], rtol=RTOL, atol=RTOL * r
            )
            currents = _dense_node_currents(edges, voltages, lap.shape[0])
            np.testing.assert_allclose(pair.current[valid], currents[index[valid]], atol=1e-9)
            cumulative += currents
    np.testing.assert_allclose(result.resistances, result.resistances.T)
    valid = index >= 0
    np.testing.assert_allclose(
        result.cumulative_current[valid], cumulative[index[valid]], atol=1e-8
    )
    assert np.all(result.cumulative_current[~valid] == 0)


@pytest.mark.parametrize("rows_per_block", [None, 3], ids=["one_block", "blocks_of_3_rows"])
@pytest.mark.parametrize("zero_focal", [False, True], ids=["focal_kept", "focal_zeroed"])
@pytest.mark.parametrize("holes", [0.0, 0.15], ids=["every_cell", "nodata"])
def test_cumulative_only_map_matches_dense_sum_over_pairs(
    holes, zero_focal, rows_per_block, monkeypatch
):
    """The cumulative map summed per edge over all pairs (no per-pair maps asked) equals the
    dense sum of every pair's node currents, with each pair's focal nodes zeroed or not, in
    one block or in blocks of rows (edges across a block boundary counted once)."""
    if rows_per_block is not None:  # 7 focal nodes, 12 columns of 8-byte potentials
        monkeypatch.setattr(circuit, "_GRID_FLOW_CHUNK_BYTES", rows_per_block * 8 * 7 * 12)
    resistance = _landscape(5, shape=(10, 12), holes=holes, wall=holes > 0)
    lap, index, edges = cell_laplacian(resistance, False, AveragingRule.AVG_RESISTANCE)
    label = _flood_components(lap)
    focal = _random_focal(resistance, 7, 3)
    result = pairwise(
        _graph(resistance, False, AveragingRule.AVG_RESISTANCE),
        focal,
        cumulative=True,
        zero_focal_currents=zero_focal,
    )
    expected = np.zeros(lap.shape[0])
    nodes = index[focal.rows, focal.cols]
    for x in range(7):
        for y in range(x + 1, 7):
            dense = _dense_pair(lap, label, nodes[x], nodes[y])
            if dense is None:
                continue
            currents = _dense_node_currents(edges, dense[1], lap.shape[0])
            if zero_focal:
                currents[[nodes[x], nodes[y]]] = 0.0
            expected += currents
    valid = index >= 0
    assert expected.max() > 1.0  # the pairs carry current
    np.testing.assert_allclose(result.cumulative_current[valid], expected[index[valid]], atol=1e-8)


def _contract(lap, groups):
    """Dense Laplacian with each group of nodes merged into one (short circuit)."""
    n = lap.shape[0]
    target = np.arange(n)
    for group in groups:
        target[group] = group[0]
    keep = np.unique(target)
    merge = np.zeros((n, keep.size))
    merge[np.arange(n), np.searchsorted(keep, target)] = 1.0
    return merge.T @ lap @ merge, np.searchsorted(keep, target)


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.value)
def test_focal_regions_and_short_circuit_regions_match_dense(solver):
    resistance = _landscape(7, shape=(8, 9), holes=0.0, wall=False)
    rule = AveragingRule.AVG_RESISTANCE
    lap, index, _ = cell_laplacian(resistance, False, rule)
    graph = _graph(resistance, False, rule)
    # Focal region 1 = three cells in the top-left, region 2 = two cells bottom-right, 3 = a point.
    rows = [0, 0, 1, 7, 7, 4]
    cols = [0, 1, 0, 8, 7, 4]
    focal = FocalPoints(rows, cols, [1, 1, 1, 2, 2, 3])
    polygon = np.zeros(resistance.shape, dtype=int)
    polygon[3:5, 0:2] = 9  # a short-circuit region the currents may use
    result = pairwise(graph, focal, regions=polygon, options=_options(solver))
    shorted = [index[3:5, 0:2].ravel()]
    cells = {1: index[[0, 0, 1], [0, 1, 0]], 2: index[[7, 7], [8, 7]], 3: index[[4], [4]]}
    for x, y in [(1, 2), (1, 3), (2, 3)]:
        contracted, where = _contract(lap, shorted + [cells[x], cells[y]])
        label = _flood_components(contracted)
        r, _ = _dense_pair(contracted, label, where[cells[x][0]], where[cells[y][0]])
        assert result.resistances[x - 1, y - 1] == pytest.approx(r, rel=RTOL)
    a = np.zeros(resistance.shape, bool)
    a[[0, 0, 1], [0, 1, 0]] = True
    b = np.zeros(resistance.shape, bool)
    b[[7, 7], [8, 7]] = True
    contracted, where = _contract(lap, [cells[1], cells[2]])
    r, _ = _dense_pair(
        contracted, _flood_components(contracted), where[cells[1][0]], where[cells[2][0]]
    )
    assert effective_resistance(graph, a, b, options=_options(solver)) == pytest.approx(r, rel=RTOL)


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.value)
def test_advanced_matches_dense_solve(solver):
    resistance = _landscape(11, holes=0.1, wall=False)
    rule = AveragingRule.AVG_CONDUCTANCE
    lap, index, edges = cell_laplacian(resistance, True, rule)
    label = _flood_components(lap)
    rng = np.random.default_rng(3)
    cells = np.argwhere(np.isfinite(resistance))
    picks = cells[rng.choice(len(cells), 5, replace=False)]
    sources = np.zeros(resistance.shape)
    grounds = np.zeros(resistance.shape)
    sources[tuple(picks[0])], sources[tuple(picks[1])] = 2.0, 0.5
    grounds[tuple(picks[2])], grounds[tuple(picks[3])] = 0.3, 1.7
    grounds[tuple(picks[4])] = np.inf
    result = advanced(_graph(resistance, True, rule), sources, grounds, options=_options(solver))
    n = lap.shape[0]
    node_g, node_s = np.zeros(n), np.zeros(n)
    valid = index >= 0
    node_g[index[valid]] = grounds[valid]
    node_s[index[valid]] = sources[valid]
    expected = np.zeros(n)
    for comp in np.unique(label):
        nodes = np.flatnonzero(label == comp)
        if node_s[nodes].sum() == 0 or node_g[nodes].sum() == 0:
            continue
        free = nodes[~np.isinf(node_g[nodes])]
        matrix = lap[np.ix_(free, free)] + np.diag(node_g[free])
        expected[free] = np.linalg.solve(matrix, node_s[free])
    np.testing.assert_allclose(result.voltage[valid], expected[index[valid]], rtol=RTOL, atol=1e-12)
    # Node currents: larger of inflow and outflow over edges and finite grounds.
    finite = np.where(np.isinf(node_g), 0.0, node_g)
    currents = _dense_node_currents(edges, expected, n, grounds=finite)
    np.testing.assert_allclose(result.current[valid], currents[index[valid]], atol=1e-9)


def test_remove_policies_change_only_conflicting_nodes():
    resistance = np.ones((1, 3))
    graph = _graph(resistance, True, AveragingRule.AVG_RESISTANCE)
    sources = np.array([[1.0, 0.0, 1.0]])
    grounds = np.array([[0.0, 0.0, 1.0]])  # node 2 is both source and (finite) ground
    keep = advanced(graph, sources, grounds, policy=RemovePolicy.KEEPALL)
    rmvsrc = advanced(graph, sources, grounds, policy=RemovePolicy.RMVSRC)
    rmvgnd = advanced(graph, sources, grounds, policy=RemovePolicy.RMVGND)
    # keepall: 2 A into a 1 S ground -> v2 = 2, v1 = 3, v0 = 4.
    np.testing.assert_allclose(keep.voltage, [[4.0, 3.0, 2.0]])
    np.testing.assert_allclose(rmvsrc.voltage, [[3.0, 2.0, 1.0]])
    assert rmvgnd.solved_components == 0 and not rmvgnd.voltage.any()


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.value)
def test_one_to_all_and_all_to_one_match_dense(solver):
    resistance = _landscape(5, holes=0.0, wall=False)
    rule = AveragingRule.AVG_RESISTANCE
    lap, index, _ = cell_laplacian(resistance, False, rule)
    focal = _random_focal(resistance, 4, 9)
    graph = _graph(resistance, False, rule)
    strengths = {1: 2.0, 3: 0.5}
    result = one_to_all(graph, focal, strengths=strengths, options=_options(solver))
    nodes = index[focal.rows, focal.cols]
    for k in range(4):
        others = np.delete(nodes, k)
        free = np.setdiff1d(np.arange(lap.shape[0]), others)
        rhs = np.zeros(free.size)
        rhs[np.searchsorted(free, nodes[k])] = strengths.get(k + 1, 1.0)
        v = np.linalg.solve(lap[np.ix_(free, free)], rhs)
        expected = v[np.searchsorted(free, nodes[k])] / strengths.get(k + 1, 1.0)
        assert result.values[k] == pytest.approx(expected, rel=RTOL)
    maps = {}
    reverse = all_to_one(
        graph,
        focal,
        options=_options(solver),
        cumulative=True,
        on_id=lambda pid, cur, volt: maps.__setitem__(pid, (cur, volt)),
    )
    assert reverse.values.tolist() == [0.0] * 4
    for k in range(4):
        # 1 A at each other id, the id itself grounded: dense solve with its node removed.
        free = np.setdiff1d(np.arange(lap.shape[0]), [nodes[k]])
        rhs = np.zeros(free.size)
        rhs[np.searchsorted(free, np.delete(nodes, k))] = 1.0
        v = np.zeros(lap.shape[0])
        v[free] = np.linalg.solve(lap[np.ix_(free, free)], rhs)
        current, voltage = maps[k + 1]
        np.testing.assert_allclose(voltage[index >= 0], v[index[index >= 0]], rtol=RTOL, atol=1e-12)
        # All 3 A leave through the grounded cell.
        assert current[focal.rows[k], focal.cols[k]] == pytest.approx(3.0, rel=1e-8)


def test_included_pairs_list_and_matrix_forms():
    resistance = _landscape(3, holes=0.0, wall=False)
    graph = _graph(resistance, False, AveragingRule.AVG_RESISTANCE)
    focal = _random_focal(resistance, 4, 2)
    full = pairwise(graph, focal)
    include = PairSelection(
        "include", np.array([1, 2, 4]), np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    )
    result = pairwise(graph, focal, selection=include)
    assert result.ids.tolist() == [1, 2, 4]  # id 3 is not in the file: dropped
    assert result.resistances[0, 1] == pytest.approx(full.resistances[0, 1])
    assert result.resistances[1, 2] == pytest.approx(full.resistances[1, 3])
    assert result.resistances[0, 2] == -1  # 1-4 not included
    exclude = PairSelection("exclude", np.array([1, 2, 3, 4]), np.eye(4, dtype=int)[[1, 0, 2, 3]])
    result = pairwise(graph, focal, selection=exclude)
    assert result.resistances[0, 1] == -1 and result.n_solves == 5


def test_disconnected_pair_is_minus_one_and_same_cell_is_zero():
    resistance = np.ones((3, 5))
    resistance[:, 2] = np.nan
    graph = _graph(resistance, False, AveragingRule.AVG_RESISTANCE)
    focal = FocalPoints([0, 2, 1, 1], [0, 4, 4, 4], [1, 2, 3, 4])
    result = pairwise(graph, focal)
    assert result.resistances[0, 1] == -1 and result.resistances[0, 2] == -1
    assert result.resistances[2, 3] == 0 and result.resistances[1, 2] > 0


@pytest.mark.parametrize("mode", ["pairwise", "one_to_all"])
def test_maps_asked_for_are_zero_grids_when_nothing_is_solved(mode):
    """The summed and max grids are made when first written; with no solve at all (every
    pair disconnected) they are still there, all zeros, as Circuitscape writes them."""
    resistance = np.ones((3, 5))
    resistance[:, 2] = np.nan
    graph = _graph(resistance, False, AveragingRule.AVG_RESISTANCE)
    focal = FocalPoints([0, 2], [0, 4], [1, 2])
    run = pairwise if mode == "pairwise" else one_to_all
    result = run(graph, focal, cumulative=True, maximum=True)
    for grid in (result.cumulative_current, result.max_current):
        assert grid.shape == (3, 5) and not grid.any()


def test_a_handed_over_graph_gives_the_same_results_and_is_taken_once():
    graph = _graph(_landscape(8, holes=0.0, wall=False), False, AveragingRule.AVG_RESISTANCE)
    focal = FocalPoints([0, 8, 4], [0, 10, 5], [1, 2, 3])
    handover = circuit.Handover(graph)
    given = pairwise(handover, focal, cumulative=True)
    kept = pairwise(graph, focal, cumulative=True)
    np.testing.assert_array_equal(given.resistances, kept.resistances)
    np.testing.assert_array_equal(given.cumulative_current, kept.cumulative_current)
    with pytest.raises(ValueError, match="already handed over"):
        one_to_all(handover, focal)


def test_inputs_are_not_modified_and_network_is_symmetric():
    resistance = _landscape(4)
    graph = _graph(resistance, False, AveragingRule.AVG_RESISTANCE)
    before = [w.copy() for w in graph.edge_weights]
    regions = np.zeros(resistance.shape, dtype=int)
    regions[0, :3] = 5
    network = build_network(graph, regions)
    lap = network.laplacian
    assert abs(lap - lap.T).max() == 0
    np.testing.assert_allclose(np.asarray(lap.sum(axis=1)).ravel(), 0, atol=1e-12)
    pairwise(graph, _random_focal(resistance, 3, 1), regions=regions)
    for w0, w1 in zip(before, graph.edge_weights, strict=True):
        np.testing.assert_array_equal(w0, w1)


# --- bad input ---------------------------------------------------------------------------------


def test_focal_point_on_nodata_is_an_error_by_default():
    resistance = np.ones((3, 3))
    resistance[1, 1] = np.nan
    graph = _graph(resistance, False, AveragingRule.AVG_RESISTANCE)
    with pytest.raises(ConfigError, match=r"NoData .*id 2 at row 1, col 1"):
        pairwise(graph, FocalPoints([0, 1], [0, 1], [1, 2]))
    relaxed = pairwise(
        graph, FocalPoints([0, 1, 2], [0, 1, 2], [1, 2, 3]), nodata_focal="disconnect"
    )
    assert relaxed.resistances[0, 1] == -1 and relaxed.resistances[0, 2] > 0


def test_focal_point_outside_grid_is_an_error():
    graph = _graph(np.ones((3, 3)), False, AveragingRule.AVG_RESISTANCE)
    with pytest.raises(ConfigError, match="outside the 3 x 3 grid"):
        pairwise(graph, FocalPoints([0, 5], [0, 1], [1, 2]))


def test_all_focal_points_in_one_cell_is_an_error():
    graph = _graph(np.ones((3, 3)), False, AveragingRule.AVG_RESISTANCE)
    with pytest.raises(ConfigError, match="all 3 focal points fall in one cell"):
        pairwise(graph, FocalPoints([1, 1, 1], [1, 1, 1], [1, 2, 3]))
    with pytest.raises(ConfigError, match="fewer than two focal ids"):
        pairwise(graph, FocalPoints([1, 2], [1, 2], [4, 4]))


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_effective_resistance_is_a_metric_and_monotone(seed):
    """Triangle inequality, and Rayleigh monotonicity: raising conductances lowers resistances."""
    resistance = _landscape(seed, holes=0.1, wall=False)
    rule = AveragingRule.AVG_RESISTANCE
    focal = _random_focal(resistance, 5, seed)
    base = pairwise(_graph(resistance, False, rule), focal).resistances
    for a in range(5):
        for b in range(5):
            for c in range(5):
                if min(base[a, b], base[b, c], base[a, c]) >= 0:
                    assert base[a, c] <= base[a, b] + base[b, c] + 1e-12
    rng = np.random.default_rng(seed)
    improved = resistance / rng.uniform(1.0, 3.0, size=resistance.shape)
    better = pairwise(_graph(improved, False, rule), focal).resistances
    connected = base > 0
    assert np.all(better[connected] <= base[connected] + 1e-12)


def test_zero_focal_currents_clears_only_each_pairs_own_focal_cells():
    resistance = _landscape(8, holes=0.0, wall=False)
    graph = _graph(resistance, False, AveragingRule.AVG_RESISTANCE)
    focal = _random_focal(resistance, 3, 4)
    maps, zeroed = {}, {}
    pairwise(
        graph, focal, pair_currents=True, on_pair=lambda m: maps.__setitem__((m.id_a, m.id_b), m)
    )
    result = pairwise(
        graph,
        focal,
        cumulative=True,
        pair_currents=True,
        zero_focal_currents=True,
        on_pair=lambda m: zeroed.__setitem__((m.id_a, m.id_b), m),
    )
    cumulative = np.zeros(resistance.shape)
    for (a, b), pair in maps.items():
        expected = pair.current.copy()
        for pid in (a, b):
            expected[focal.rows[pid - 1], focal.cols[pid - 1]] = 0.0
            assert pair.current[focal.rows[pid - 1], focal.cols[pid - 1]] >= 1.0 - 1e-9
        np.testing.assert_allclose(zeroed[(a, b)].current, expected, atol=1e-12)
        cumulative += expected
    np.testing.assert_allclose(result.cumulative_current, cumulative, atol=1e-12)


@pytest.mark.parametrize("to_all", [True, False], ids=["one_to_all", "all_to_one"])
def test_reduced_one_to_all_path_equals_one_solve_per_id(to_all):
    """The one-factorisation path gives what one advanced solve per id gives (an all-keeping
    pair selection forces the per-id path), with regions, strengths and two components."""
    resistance = _landscape(13, shape=(10, 12), holes=0.1, wall=True)
    graph = _graph(resistance, False, AveragingRule.AVG_CONDUCTANCE)
    focal = _random_focal(resistance, 6, 5)
    regions = np.zeros(resistance.shape, dtype=int)
    regions[0:2, 0:2] = 4
    strengths = {1: 0.5, 2: 2.0, 5: 1.5}
    mode = one_to_all if to_all else all_to_one
    keep_all = PairSelection("exclude", focal.unique_ids, np.zeros((6, 6), dtype=int))
    runs = []
    for selection in (None, keep_all):
        maps = {}
        result = mode(
            graph,
            focal,
            regions=regions,
            strengths=strengths,
            cumulative=True,
            maximum=True,
            selection=selection,
            on_id=lambda pid, cur, volt, maps=maps: maps.__setitem__(pid, (cur, volt)),
        )
        runs.append((result, maps))
    (fast, fast_maps), (general, general_maps) = runs
    np.testing.assert_allclose(fast.values, general.values, rtol=1e-9)
    np.testing.assert_allclose(fast.cumulative_current, general.cumulative_current, atol=1e-9)
    np.testing.assert_allclose(fast.max_current, general.max_current, atol=1e-9)
    for pid, (current, voltage) in general_maps.items():
        np.testing.assert_allclose(fast_maps[pid][0], current, atol=1e-9)
        np.testing.assert_allclose(fast_maps[pid][1], voltage, atol=1e-9)
    assert len(fast.solve_info) == 1 and len(general.solve_info) >= 5


def _dense_all_to_one(lap, nodes, ground, currents):
    """Dense all-to-one solve: ``currents[k]`` A into ``nodes[k]``, node ``ground`` at 0 V."""
    free = np.setdiff1d(np.arange(lap.shape[0]), [ground])
    rhs = np.zeros(lap.shape[0])
    np.add.at(rhs, nodes, currents)
    v = np.zeros(lap.shape[0])
    v[free] = np.linalg.solve(lap[np.ix_(free, free)], rhs[free])
    return v


@pytest.mark.parametrize("compat", [False, True], ids=["clean", "circuitscape_compat"])
def test_all_to_one_with_included_pairs_clean_and_circuitscape_compat(compat):
    """Clean: ids not paired with the grounded id are neither sources nor grounds.
    Circuitscape compatibility: they stay sources at 1 A (their variable strength is ignored),
    and an id paired with nobody is -1 with no map at all (allToOneVerify12)."""
    resistance = _landscape(7, holes=0.0, wall=False)
    rule = AveragingRule.AVG_RESISTANCE
    lap, index, _ = cell_laplacian(resistance, False, rule)
    focal = _random_focal(resistance, 4, 3)
    nodes = index[focal.rows, focal.cols]
    strengths = {1: 2.0, 2: 0.5, 3: 3.0, 4: 1.5}
    pairs = np.array([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    selection = PairSelection("include", np.array([1, 2, 3, 4]), pairs)
    maps = {}
    result = all_to_one(
        _graph(resistance, False, rule),
        focal,
        strengths=strengths,
        selection=selection,
        cumulative=True,
        circuitscape_compat=compat,
        on_id=lambda pid, cur, volt: maps.__setitem__(pid, (cur, volt)),
    )
    assert result.values.tolist() == [0.0, 0.0, 0.0, -1.0]
    assert (4 in maps) is not compat  # compat: no map for an id paired with nobody
    if not compat:
        assert not maps[4][0].any() and not maps[4][1].any()
    partners = {1: [2, 3], 2: [1], 3: [1]}
    for pid, paired in partners.items():
        others = [o for o in (1, 2, 3, 4) if o != pid]
        if compat:
            currents = [strengths[o] if o in paired else 1.0 for o in others]
        else:
            currents = [strengths[o] if o in paired else 0.0 for o in others]
        v = _dense_all_to_one(lap, nodes[np.array(others) - 1], nodes[pid - 1], currents)
        voltage = maps[pid][1]
        np.testing.assert_allclose(voltage[index >= 0], v[index[index >= 0]], rtol=1e-6, atol=1e-9)
        grounded = maps[pid][0][focal.rows[pid - 1], focal.cols[pid - 1]]
        assert grounded == pytest.approx(sum(currents), rel=1e-8)  # all current leaves there


class _ProcessExecutor:
    """Two worker processes behind the executor interface of crossings.scale (run, workers):
    tasks and results cross process boundaries (pickled), as on Dask."""

    workers = 2

    def run(self, function, tasks, on_result):
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
            futures = {pool.submit(function, task): k for k, task in enumerate(tasks)}
            for future in concurrent.futures.as_completed(futures):
                on_result(futures[future], future.result())


@pytest.mark.parametrize("solver", [Solver.CG_AMG, Solver.SPLU], ids=lambda s: s.value)
def test_pairwise_on_an_executor_equals_serial(solver):
    """Focal nodes solved in batches on other processes give the serial results (1e-10), with
    two components, a cumulative-only map and per-pair maps."""
    resistance = _landscape(21, shape=(14, 16), holes=0.1, wall=True)
    graph = _graph(resistance, False, AveragingRule.AVG_RESISTANCE)
    focal = _random_focal(resistance, 9, 5)
    options = _options(solver)
    serial = pairwise(graph, focal, options=options, cumulative=True)
    spread = pairwise(graph, focal, options=options, cumulative=True, executor=_ProcessExecutor())
    np.testing.assert_allclose(spread.resistances, serial.resistances, rtol=0, atol=1e-10)
    np.testing.assert_allclose(spread.cumulative_current, serial.cumulative_current, atol=1e-10)
    assert spread.n_solves == serial.n_solves > 0
    assert sum(i.n_rhs for i in spread.solve_info) == sum(i.n_rhs for i in serial.solve_info)
    both = pairwise(graph, focal, options=options, maximum=True, executor=_ProcessExecutor())
    reference = pairwise(graph, focal, options=options, maximum=True)
    np.testing.assert_allclose(both.max_current, reference.max_current, atol=1e-10)


@pytest.mark.parametrize("four", [False, True])
@pytest.mark.parametrize("holes", [0.0, 0.3])
def test_grid_laplacian_equals_the_edge_list_laplacian(four, holes):
    """The stencil assembly (blocks of rows, zeros removed) against the COO assembly from the
    graph's edge list, with NoData, edges cut to zero by a fence, and a cell without edges."""
    resistance = _landscape(11, shape=(37, 23), holes=holes, wall=False)
    resistance[5, 5] = 1.0
    resistance[4:7, 4:7][np.arange(9).reshape(3, 3) != 4] = np.nan  # (5, 5) isolated
    graph = build_graph(GridSpec.from_origin(0, 37, 1, (37, 23), "EPSG:3857"), 1 / resistance)
    cut = [w.copy() for w in graph.edge_weights]
    cut[0][10:30, 12] = 0.0  # a closed fence across the east-going edges
    graph = graph.with_edge_weights(cut)
    assembled = build_network(graph).laplacian
    reference = graph.laplacian()
    assert assembled.has_sorted_indices
    np.testing.assert_allclose(assembled.toarray(), reference.toarray(), rtol=1e-15, atol=0)
    node = graph.node_index[5, 5]
    row = assembled.indices[assembled.indptr[node] : assembled.indptr[node + 1]]
    assert row.tolist() == [node]  # the isolated node keeps its (zero) diagonal entry
    assert assembled.nnz == reference.nnz + int(np.count_nonzero(reference.diagonal() == 0))


def test_components_of_full_grids_with_and_without_a_closed_fence():
    """The shortcut for full grids whose east and south edges all conduct, and the graph
    search when a fence closes them, against the independent flood fill."""
    grid = GridSpec.from_origin(0, 12, 1, (12, 9), "EPSG:3857")
    graph = build_graph(grid, 1 / _landscape(3, shape=(12, 9), holes=0.0, wall=False))
    open_network = build_network(graph)
    assert open_network.n_components == 1
    assert open_network.component.tolist() == [0] * 108
    cut = [w.copy() for w in graph.edge_weights]
    cut[0][:, 4] = 0.0  # east edges from column 4
    cut[2][:, 4] = 0.0  # south-east edges from column 4
    cut[3][:, 5] = 0.0  # south-west edges from column 5
    fenced = build_network(graph.with_edge_weights(cut))
    reference = _flood_components(fenced.laplacian.toarray())
    assert fenced.n_components == 2 == reference.max() + 1
    np.testing.assert_array_equal(fenced.component, reference)


@pytest.mark.parametrize("four", [False, True])
@pytest.mark.parametrize("holes", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(37, 23), (5, 2), (1, 6), (6, 1)])
def test_grid_edges_read_back_from_the_laplacian_equal_the_graphs(four, holes, shape, monkeypatch):
    """The network keeps no copy of the graph's edge weights: it reads them back from the
    Laplacian, bit for bit, with and without NoData, through a fence cut to zero, on grids one
    or two cells wide, and in blocks of nodes that split grid rows."""
    monkeypatch.setattr(circuit, "_READBACK_NODES", 7)
    resistance = _landscape(5, shape=shape, holes=holes, wall=False)
    grid = GridSpec.from_origin(0, shape[0], 1, shape, "EPSG:3857")
    graph = build_graph(grid, 1 / resistance, connect_four=four)
    cut = [w.copy() for w in graph.edge_weights]
    cut[1][: shape[0] // 2, 0] = 0.0  # a closed fence across some south-going edges
    graph = graph.with_edge_weights(cut)
    edges = build_network(graph).grid_edges
    for read, stored in zip(edges.edge_weights, graph.edge_weights, strict=True):
        np.testing.assert_array_equal(read, stored)
    assert edges.edge_weights is edges.edge_weights  # read once, then kept
