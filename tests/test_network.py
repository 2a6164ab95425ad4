"""Network (graph) mode: Circuitscape's network cases, and independent dense checks."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from crossings.core.network import (
    NetworkGraph,
    RemovePolicy,
    network_advanced,
    network_pairwise,
)
from crossings.core.solve import Solver
from crossings.errors import ConfigError, InputFileError
from crossings.io import circuitscape as cs
from crossings.io.circuitscape_network import run_network_job

DATA = Path(__file__).parent / "data" / "circuitscape"
VERIFY = DATA / "output_verify"
SOLVERS = [s.value for s in (Solver.CG_AMG, Solver.CHOLMOD, Solver.SPLU)]  # CHOLMOD may skip
CONFIG_SOLVER = {"cg_amg": "cg+amg", "cholmod": "cholmod", "splu": "splu"}


def _config(name: str, solver: str):
    config = cs.read_ini(DATA / "input" / "network" / f"{name}.ini", run_dir=DATA)
    return dataclasses.replace(config, solver=cs.SolverName(CONFIG_SOLVER[solver]))


def _keyed(path: Path, n_keys: int) -> dict[tuple[int, ...], float]:
    table = np.loadtxt(path, ndmin=2)
    return {tuple(int(v) for v in row[:n_keys]): float(row[n_keys]) for row in table}


def _keyed_sse(got: Path, expected: Path, n_keys: int) -> float:
    """Circuitscape.jl's comparison: rows keyed by node ids, a missing row counts as 0."""
    a, b = _keyed(got, n_keys), _keyed(expected, n_keys)
    return sum((a.get(k, 0.0) - b.get(k, 0.0)) ** 2 for k in set(a) | set(b))


def _compare_tables(written: list[Path], prefix: str) -> int:
    compared = 0
    for path in written:
        if "resistances" in path.name:
            continue
        expected = VERIFY / path.name
        assert expected.is_file(), f"crossings wrote {path.name}, which Circuitscape does not"
        n_keys = 2 if "branch" in path.name else 1
        assert _keyed_sse(path, expected, n_keys) < 1e-6, path.name
        compared += 1
    return compared


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("case", [1, 2, 3])
def test_network_pairwise_matches_circuitscape(case, solver, tmp_path):
    name = f"sgNetworkVerify{case}"
    written = run_network_job(_config(name, solver), None, tmp_path)
    got = np.loadtxt(tmp_path / f"{name}_resistances.out")
    expected = np.loadtxt(VERIFY / f"{name}_resistances.out")
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got[0, 1:], expected[0, 1:])  # same focal ids, same order
    np.testing.assert_allclose(got[1:, 1:], expected[1:, 1:], atol=1e-3, rtol=0)
    if (VERIFY / f"{name}_resistances_3columns.out").is_file():
        three = np.loadtxt(tmp_path / f"{name}_resistances_3columns.out")
        np.testing.assert_allclose(
            three, np.loadtxt(VERIFY / f"{name}_resistances_3columns.out"), atol=1e-3
        )
    connected = int(np.sum(np.triu(expected[1:, 1:], 1) > 0))
    pair_files = [p for p in written if p.name.startswith(f"{name}_voltages_")]
    assert len(pair_files) == connected
    assert _compare_tables(written, name) == 3 * connected + 2


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("case", [1, 2, 3])
def test_network_advanced_matches_circuitscape(case, solver, tmp_path):
    name = f"mgNetworkVerify{case}"
    written = run_network_job(_config(name, solver), None, tmp_path)
    assert sorted(p.name for p in written) == sorted(
        f"{name}_{kind}.txt" for kind in ("voltages", "node_currents", "branch_currents")
    )
    assert _compare_tables(written, name) == 3


def _random_graph(seed: int, n: int = 40, extra_edges: int = 60, parts: int = 2):
    """A graph of ``parts`` disconnected random trees plus random extra edges inside each part."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(1000, 1000 + n * 3, 3))  # non-contiguous ids
    blocks = np.array_split(ids, parts)
    a, b = [], []
    for block in blocks:
        for k in range(1, block.size):
            a.append(block[k])
            b.append(block[rng.integers(0, k)])
        for _ in range(extra_edges // parts):
            u, v = rng.choice(block, 2, replace=False)
            a.append(u)
            b.append(v)
    values = 10 ** rng.uniform(-2, 2, len(a))
    return np.array(a), np.array(b), values, blocks


def _dense_laplacian(a, b, g, node_ids):
    index = {int(v): k for k, v in enumerate(node_ids)}
    laplacian = np.zeros((node_ids.size, node_ids.size))
    for u, v, w in zip(a, b, g, strict=True):
        i, j = index[int(u)], index[int(v)]
        if i == j:
            continue
        laplacian[i, j] -= w
        laplacian[j, i] -= w
        laplacian[i, i] += w
        laplacian[j, j] += w
    return laplacian, index


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", [0, 1])
def test_pairwise_resistances_equal_dense_pseudo_inverse(seed, solver):
    a, b, r, blocks = _random_graph(seed)
    graph = NetworkGraph.from_edge_list(a, b, r, values_are_resistances=True)
    focal = np.concatenate([blocks[0][:4], blocks[1][:3]])
    result = network_pairwise(graph, focal, solver=Solver(solver), tol=1e-10)
    laplacian, index = _dense_laplacian(a, b, 1.0 / r, graph.node_ids)
    pinv = np.linalg.pinv(laplacian)
    block_of = {int(v): k for k, blk in enumerate(blocks) for v in blk}
    for (p, x), (q, y) in itertools.combinations(enumerate(result.focal_ids), 2):
        if block_of[int(x)] != block_of[int(y)]:
            assert result.resistances[p, q] == -1
            continue
        e = np.zeros(graph.n_nodes)
        e[index[int(x)]], e[index[int(y)]] = 1.0, -1.0
        assert result.resistances[p, q] == pytest.approx(e @ pinv @ e, rel=1e-8)
    for flow in result.pairs:  # voltages: 0 at the first id, R at the second
        position = {int(v): k for k, v in enumerate(flow.node_ids)}
        p, q = (int(np.searchsorted(result.focal_ids, v)) for v in flow.pair)
        assert flow.voltages[position[flow.pair[0]]] == pytest.approx(0, abs=1e-9)
        assert flow.voltages[position[flow.pair[1]]] == pytest.approx(result.resistances[p, q])
        # The unit current enters and leaves: both focal nodes carry 1 A.
        assert flow.node_currents[position[flow.pair[0]]] == pytest.approx(1.0, rel=1e-8)
        assert flow.node_currents[position[flow.pair[1]]] == pytest.approx(1.0, rel=1e-8)


def test_cumulative_is_sum_of_pairs():
    a, b, r, blocks = _random_graph(3, parts=1)
    graph = NetworkGraph.from_edge_list(a, b, r, values_are_resistances=True)
    result = network_pairwise(graph, blocks[0][:4])
    total = np.zeros(graph.n_nodes)
    for flow in result.pairs:
        total[np.searchsorted(graph.node_ids, flow.node_ids)] += flow.node_currents
    np.testing.assert_allclose(result.cumulative.node_currents, total, rtol=1e-12)
    assert len(result.pairs) == 6


@pytest.mark.parametrize("solver", SOLVERS)
def test_advanced_matches_dense_solve(solver):
    a, b, r, blocks = _random_graph(5, parts=2)
    graph = NetworkGraph.from_edge_list(a, b, r, values_are_resistances=True)
    sources = blocks[0][:3]
    strengths = np.array([1.0, 2.5, 0.5])
    grounds = np.array([blocks[0][5], blocks[0][6], blocks[1][0]])
    ground_g = np.array([np.inf, 0.3, 2.0])  # a direct ground, two finite ones
    flow = network_advanced(graph, sources, strengths, grounds, ground_g, solver=Solver(solver))
    laplacian, index = _dense_laplacian(a, b, 1.0 / r, graph.node_ids)
    matrix, rhs = laplacian.copy(), np.zeros(graph.n_nodes)
    for node, s in zip(sources, strengths, strict=True):
        rhs[index[int(node)]] = s
    matrix[index[int(grounds[1])], index[int(grounds[1])]] += 0.3
    direct = index[int(grounds[0])]
    part0 = np.array([index[int(v)] for v in blocks[0] if index[int(v)] != direct])
    expected = np.zeros(graph.n_nodes)
    expected[part0] = np.linalg.solve(matrix[np.ix_(part0, part0)], rhs[part0])
    # The second part has a ground but no source: it stays at 0 V, as in Circuitscape.
    np.testing.assert_allclose(flow.voltages, expected, rtol=1e-8, atol=1e-10)
    # Current is conserved: everything injected leaves through the grounds.
    to_finite = 0.3 * expected[index[int(grounds[1])]]
    direct_in = flow.node_currents[direct]
    assert to_finite + direct_in == pytest.approx(strengths.sum(), rel=1e-8)


def test_policies_remove_source_or_ground():
    graph = NetworkGraph.from_edge_list([0, 1], [1, 2], [1.0, 1.0])
    kept = network_advanced(graph, [0], [1.0], [0, 2], [1.0, 1.0])
    # 1 ohm to ground at node 0 in parallel with 1 + 1 + 1 ohms through node 2: 0.75 ohm.
    assert kept.voltages[0] == pytest.approx(0.75, rel=1e-9)
    no_source = network_advanced(graph, [0], [1.0], [0, 2], [1.0, 1.0], policy=RemovePolicy.RMVSRC)
    np.testing.assert_allclose(no_source.voltages, 0.0)
    no_ground = network_advanced(graph, [0], [1.0], [0, 2], [1.0, 1.0], policy=RemovePolicy.RMVGND)
    # Only the ground at node 2 remains: 1 A through 2 ohms in series plus 1 ohm to ground.
    np.testing.assert_allclose(no_ground.voltages, [3.0, 2.0, 1.0], rtol=1e-9)
    with pytest.raises(ConfigError, match="direct ground"):
        network_advanced(graph, [0], [1.0], [0], [np.inf])


def test_bad_graph_and_focal_inputs(tmp_path):
    with pytest.raises(ConfigError, match="invalid resistance"):
        NetworkGraph.from_edge_list([0, 1], [1, 2], [1.0, 0.0], values_are_resistances=True)
    with pytest.raises(ConfigError, match="invalid conductance"):
        NetworkGraph.from_edge_list([0, 1], [1, 2], [1.0, -2.0])
    with pytest.raises(ConfigError, match="integers"):
        NetworkGraph.from_edge_list([0.5], [1], [1.0])
    graph = NetworkGraph.from_edge_list([0, 1], [1, 2], [1.0, 1.0])
    with pytest.raises(ConfigError, match="not in the graph .first: 7"):
        network_pairwise(graph, [0, 7])
    with pytest.raises(ConfigError, match="at least two"):
        network_pairwise(graph, [1, 1])
    with pytest.raises(ConfigError, match="more than once"):
        network_advanced(graph, [0, 0], [1.0, 1.0], [2], [1.0])


def test_job_with_missing_file_names_the_key(tmp_path):
    config = _config("sgNetworkVerify3", "splu")
    missing = dataclasses.replace(config, point_file=tmp_path / "nowhere.txt")
    with pytest.raises(InputFileError, match="point_file"):
        run_network_job(missing, None, tmp_path)
    with pytest.raises(ConfigError, match="no point_file given"):
        run_network_job(dataclasses.replace(config, point_file=None), None, tmp_path)
    bad = tmp_path / "graph.txt"
    bad.write_text("0 1 1\n1 two 1\n")
    with pytest.raises(InputFileError, match="line 2 is not numeric"):
        run_network_job(dataclasses.replace(config, habitat_file=bad), None, tmp_path)


def test_solve_that_cannot_converge_raises(tmp_path):
    from crossings.errors import SolverConvergenceError

    a, b, r, blocks = _random_graph(7, n=800, extra_edges=1600, parts=1)
    graph = NetworkGraph.from_edge_list(a, b, r, values_are_resistances=True)
    with pytest.raises(SolverConvergenceError):
        network_pairwise(graph, blocks[0][:3], solver=Solver.CG_AMG, maxiter=1, tol=1e-12)


def test_cli_dispatches_network_ini(tmp_path):
    typer_testing = pytest.importorskip("typer.testing")
    from crossings.cli import app

    shutil.copytree(DATA / "input", tmp_path / "input")
    ini = tmp_path / "input" / "network" / "sgNetworkVerify3.ini"
    result = typer_testing.CliRunner().invoke(
        app, ["circuitscape", "run", str(ini), "--run-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    got = np.loadtxt(tmp_path / "output" / "sgNetworkVerify3_resistances.out")
    expected = np.loadtxt(VERIFY / "sgNetworkVerify3_resistances.out")
    np.testing.assert_allclose(got, expected, atol=1e-3)
    assert (tmp_path / "output" / "sgNetworkVerify3_branch_currents_cum.txt").is_file()


# ----------------------------------------------------------------------------------------------
# Included / excluded pairs (read with the raster reader, selected as in raster mode)


def _selection_case(seed: int = 11):
    """A two-part graph and six focal ids: four in the first part, two in the second."""
    a, b, r, blocks = _random_graph(seed, n=30, extra_edges=40, parts=2)
    f = [int(v) for v in np.concatenate([blocks[0][:4], blocks[1][:2]])]
    return a, b, r, f


def _pairs_files(f: list[int]) -> dict[str, tuple[str, set, set]]:
    """Pairs file text, the focal ids kept and the pairs solved, stated by hand per form."""
    same_part = {frozenset(p) for p in itertools.combinations(f[:4], 2)}
    include = (
        f"mode include\n{f[0]} {f[1]}\n{f[2]} {f[0]}\n{f[1]} {f[4]}\n{f[3]} 99999\n",
        {f[0], f[1], f[2], f[3], f[4]},  # f[5] is not listed: dropped
        {frozenset((f[0], f[1])), frozenset((f[0], f[2]))},  # f[1]-f[4]: different parts
    )
    exclude = (
        f"mode exclude\n{f[0]} {f[1]}\n{f[2]} {f[3]}\n{f[4]} {f[0]}\n",
        {f[0], f[1], f[2], f[3], f[4]},
        same_part - {frozenset((f[0], f[1])), frozenset((f[2], f[3]))},
    )
    # Matrix form: values outside [min, max] exclude a pair (9 > max, 0 < min).
    ids = f[:5]
    values = np.full((5, 5), 3.0)
    values[0, 1] = values[1, 0] = 9.0
    values[2, 3] = values[3, 2] = 0.0
    rows = [" ".join(["0"] + [str(v) for v in ids])]
    rows += [" ".join([str(ids[k])] + [f"{x:g}" for x in values[k]]) for k in range(5)]
    matrix = (
        "min 1\nmax 5\n" + "\n".join(rows) + "\n",
        set(ids),
        same_part - {frozenset((f[0], f[1])), frozenset((f[2], f[3]))},
    )
    return {"include_list": include, "exclude_list": exclude, "exclude_matrix": matrix}


def _dense_pair_flows(a, b, g, node_ids, pairs):
    """Resistance, node currents and |branch currents| of each pair from a dense pseudo-inverse."""
    laplacian, index = _dense_laplacian(a, b, g, node_ids)
    pinv = np.linalg.pinv(laplacian)
    conductance = -np.triu(laplacian, 1)
    out = {}
    for x, y in pairs:
        e = np.zeros(node_ids.size)
        e[index[y]], e[index[x]] = 1.0, -1.0  # 1 A in at the second id, out at the first
        v = pinv @ e
        flow = (v[:, None] - v[None, :]) * (conductance + conductance.T)
        node = np.maximum(np.maximum(flow, 0).sum(axis=1), np.maximum(-flow, 0).sum(axis=1))
        # Every node of the pair's part counts; nodes of other parts carry no current.
        out[frozenset((x, y))] = (v[index[y]] - v[index[x]], node, np.abs(flow * (conductance > 0)))
    return out, index


def _write_pairs(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    return path


@pytest.mark.parametrize("form", ["include_list", "exclude_list", "exclude_matrix"])
def test_pairwise_honours_pair_selection(form, tmp_path):
    from crossings.core.circuit import PairSelection

    a, b, r, f = _selection_case()
    text, kept_ids, solved = _pairs_files(f)[form]
    pairs = cs.read_included_pairs(_write_pairs(tmp_path, text))
    selection = PairSelection(pairs.mode, pairs.point_ids, pairs.matrix)
    graph = NetworkGraph.from_edge_list(a, b, r, values_are_resistances=True)
    result = network_pairwise(graph, f, selection=selection, tol=1e-11)
    assert result.focal_ids.tolist() == sorted(kept_ids)
    expected, index = _dense_pair_flows(a, b, 1.0 / r, graph.node_ids, [sorted(p) for p in solved])
    for (p, x), (q, y) in itertools.combinations(enumerate(result.focal_ids.tolist()), 2):
        want = expected[frozenset((x, y))][0] if frozenset((x, y)) in solved else -1.0
        assert result.resistances[p, q] == pytest.approx(want, rel=1e-8)
        assert result.resistances[q, p] == result.resistances[p, q]
    assert {frozenset(flow.pair) for flow in result.pairs} == solved
    # Cumulative currents: the selected pairs only.
    order = [index[int(v)] for v in graph.node_ids]
    node_sum = sum(e[1] for e in expected.values())[order]
    np.testing.assert_allclose(result.cumulative.node_currents, node_sum, rtol=1e-7, atol=1e-12)
    branch_sum = sum(e[2] for e in expected.values())
    got = {
        (index[int(i)], index[int(j)]): c
        for (i, j), c in zip(
            result.cumulative.branch_ids, result.cumulative.branch_currents, strict=True
        )
    }
    rows, cols = np.nonzero(branch_sum > 1e-12 * branch_sum.max())
    want = {(min(i, j), max(i, j)): 0.0 for i, j in zip(rows, cols, strict=True)}
    for i, j in zip(rows, cols, strict=True):
        want[min(i, j), max(i, j)] += branch_sum[i, j]
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-7)


def test_pair_selection_that_leaves_one_id_is_an_error(tmp_path):
    from crossings.core.circuit import PairSelection

    a, b, r, f = _selection_case()
    graph = NetworkGraph.from_edge_list(a, b, r, values_are_resistances=True)
    pairs = cs.read_included_pairs(_write_pairs(tmp_path, f"mode include\n{f[0]} 99999\n"))
    selection = PairSelection(pairs.mode, pairs.point_ids, pairs.matrix)
    with pytest.raises(ConfigError, match="included-pairs file"):
        network_pairwise(graph, f, selection=selection)


def _write_network_ini(tmp_path: Path, a, b, r, f, pairs_text: str | None) -> Path:
    graph = tmp_path / "graph.txt"
    graph.write_text("".join(f"{u} {v} {float(w)!r}\n" for u, v, w in zip(a, b, r, strict=True)))
    (tmp_path / "focal.txt").write_text("".join(f"{v}\n" for v in f))
    pairs = ""
    if pairs_text is not None:
        _write_pairs(tmp_path, pairs_text)
        pairs = "use_included_pairs = True\nincluded_pairs_file = pairs.txt\n"
    ini = tmp_path / "job.ini"
    ini.write_text(
        "[Circuitscape mode]\ndata_type = network\nscenario = pairwise\n"
        "[Habitat raster or graph]\nhabitat_file = graph.txt\nhabitat_map_is_resistances = True\n"
        "[Options for pairwise and one-to-all and all-to-one modes]\npoint_file = focal.txt\n"
        f"{pairs}"
        "[Calculation options]\nsolver = auto\n"
        "[Output options]\noutput_file = out/job.out\nwrite_cur_maps = True\n"
    )
    return ini


def test_cli_network_job_honours_included_pairs(tmp_path):
    typer_testing = pytest.importorskip("typer.testing")
    from crossings.cli import app

    a, b, r, f = _selection_case()
    text, kept_ids, solved = _pairs_files(f)["exclude_matrix"]
    ini = _write_network_ini(tmp_path, a, b, r, f, text)
    result = typer_testing.CliRunner().invoke(
        app, ["circuitscape", "run", str(ini), "--run-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    table = np.loadtxt(tmp_path / "out" / "job_resistances.out")
    assert table[0, 1:].tolist() == sorted(kept_ids)
    assert table[1:, 0].tolist() == sorted(kept_ids)
    node_ids = np.unique(np.concatenate([a, b]))
    expected, _ = _dense_pair_flows(a, b, 1.0 / r, node_ids, [sorted(p) for p in solved])
    for (p, x), (q, y) in itertools.combinations(enumerate(sorted(kept_ids)), 2):
        want = expected[frozenset((x, y))][0] if frozenset((x, y)) in solved else -1.0
        assert table[p + 1, q + 1] == pytest.approx(want, rel=1e-6)
    written = {p.name for p in (tmp_path / "out").iterdir()}
    per_pair = {n for n in written if n.startswith("job_node_currents_") and "cum" not in n}
    assert per_pair == {f"job_node_currents_{x}_{y}.txt" for x, y in map(sorted, solved)}
    cum = np.loadtxt(tmp_path / "out" / "job_node_currents_cum.txt")
    want_cum = sum(e[1] for e in expected.values())
    np.testing.assert_allclose(cum[:, 0], node_ids)
    np.testing.assert_allclose(cum[:, 1], want_cum, rtol=1e-6, atol=1e-9)
    # The same job without the pairs file solves every pair of each part, with all six ids.
    ini = _write_network_ini(tmp_path, a, b, r, f, None)
    result = typer_testing.CliRunner().invoke(
        app, ["circuitscape", "run", str(ini), "--run-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    full = np.loadtxt(tmp_path / "out" / "job_resistances.out")
    assert full[0, 1:].tolist() == sorted(f)
    assert (full[1:, 1:] > 0).sum() == 2 * (6 + 1)  # pairs within each part, both triangles


@pytest.mark.parametrize("form", ["include_list", "exclude_list", "exclude_matrix"])
def test_pair_selection_agrees_with_raster_pairwise(form, tmp_path):
    """The raster's cell graph run as a network gives raster mode's table and cumulative map."""
    from crossings.core.circuit import FocalPoints, PairSelection, pairwise
    from crossings.core.graph import build_graph
    from crossings.core.grid import GridSpec

    rng = np.random.default_rng(5)
    conductance = 10 ** rng.uniform(-1, 1, (6, 9))
    conductance[:, 4] = np.nan  # a NoData wall: two components
    raster = build_graph(GridSpec.from_origin(0, 6, 1, (6, 9), "EPSG:3857"), conductance)
    cells = [(0, 0), (5, 3), (2, 1), (3, 3), (1, 6), (4, 8)]  # four left, two right
    f = [int(raster.node_index[cell]) + 1 for cell in cells]  # node ids = raster focal ids
    text, _, _ = _pairs_files(f)[form]
    pairs = cs.read_included_pairs(_write_pairs(tmp_path, text))
    selection = PairSelection(pairs.mode, pairs.point_ids, pairs.matrix)
    rows, cols = (np.array(axis) for axis in zip(*cells, strict=True))
    expected = pairwise(raster, FocalPoints(rows, cols, f), selection=selection, cumulative=True)
    i, j, w = raster.edges()
    network = NetworkGraph.from_edge_list(i + 1, j + 1, w)
    result = network_pairwise(network, f, selection=selection, tol=1e-11)
    np.testing.assert_array_equal(result.focal_ids, expected.ids)
    np.testing.assert_allclose(result.resistances, expected.resistances, rtol=1e-7)
    cumulative = np.zeros(raster.n_nodes)
    cumulative[result.cumulative.node_ids - 1] = result.cumulative.node_currents
    np.testing.assert_allclose(
        cumulative, expected.cumulative_current[raster.valid], rtol=1e-6, atol=1e-10
    )
