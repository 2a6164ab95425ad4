"""Solvers: every method against dense solves, residual checks, components, auto choice."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from crossings.core import solve
from crossings.core.graph import AveragingRule, build_graph
from crossings.core.grid import GridSpec
from crossings.core.solve import (
    Solver,
    SPDSolver,
    available_solvers,
    choose_solver,
    connected_components,
    estimate_memory,
    plan_solves,
)
from crossings.errors import ConfigError, SolverConvergenceError

METHODS = [Solver.CHOLMOD, Solver.CG_AMG, Solver.SPLU]  # CHOLMOD cases skip where it is missing


def _grid_laplacian(seed: int, shape=(30, 40), connect_four=False, nodata=0.0):
    """Laplacian of a random landscape (log-uniform resistances 1..1e3, optional NoData holes)."""
    rng = np.random.default_rng(seed)
    conductance = 1.0 / 10 ** rng.uniform(0, 3, shape)
    conductance[rng.random(shape) < nodata] = np.nan
    grid = GridSpec.from_origin(0, shape[0], 1, shape, "EPSG:3857")
    rule = AveragingRule.AVG_RESISTANCE if seed % 2 else AveragingRule.AVG_CONDUCTANCE
    return build_graph(grid, conductance, connect_four=connect_four, rule=rule).laplacian()


def _grounded(laplacian: sp.csr_matrix) -> sp.csr_matrix:
    """Ground the first node of every component (remove its row and column)."""
    count, labels = connected_components(laplacian)
    first = np.unique(labels, return_index=True)[1]
    keep = np.ones(laplacian.shape[0], dtype=bool)
    keep[first] = False
    return laplacian[keep][:, keep].tocsr()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed,connect_four", [(0, False), (1, True), (2, False)])
def test_solutions_equal_dense_solve(method, seed, connect_four):
    matrix = _grounded(_grid_laplacian(seed, connect_four=connect_four, nodata=0.05))
    rng = np.random.default_rng(seed + 100)
    rhs = rng.standard_normal((matrix.shape[0], 3))
    expected = np.linalg.solve(matrix.toarray(), rhs)
    solver = SPDSolver(matrix, solver=method, tol=1e-12)
    got = solver.solve(rhs)
    assert got.shape == rhs.shape
    error = np.abs(got - expected).max() / np.abs(expected).max()
    assert error < 1e-10
    one = solver.solve(rhs[:, 0])  # a vector gives a vector, same numbers
    assert one.shape == (matrix.shape[0],)
    np.testing.assert_allclose(one, got[:, 0], rtol=1e-9, atol=1e-12 * np.abs(got).max())
    info = solver.info
    assert (info.solver, info.n_rhs, info.n_unknowns) == (method.value, 4, matrix.shape[0])
    assert info.max_residual <= 1e-12
    assert (info.iterations is None) == (method is not Solver.CG_AMG)


def test_amg_hierarchy_has_several_levels_and_is_reused():
    matrix = _grounded(_grid_laplacian(3, shape=(60, 60)))
    solver = SPDSolver(matrix, solver=Solver.CG_AMG, tol=1e-10)
    assert solver._hierarchy.n_levels >= 2  # a real multigrid, not just the coarse solve
    hierarchy = solver._hierarchy
    for k in range(3):
        b = np.zeros(matrix.shape[0])
        b[k * 100] = 1.0
        x = solver.solve(b)
        assert np.linalg.norm(matrix @ x - b) <= 1e-10 * np.linalg.norm(b)
    assert solver._hierarchy is hierarchy
    assert solver.info.iterations < 3 * 40  # AMG keeps CG iterations low


def test_missed_tolerance_raises():
    matrix = _grounded(_grid_laplacian(4, shape=(60, 60)))
    solver = SPDSolver(matrix, solver=Solver.CG_AMG, tol=1e-12, maxiter=1, component=2)
    with pytest.raises(SolverConvergenceError, match="component 2") as caught:
        solver.solve(np.random.default_rng(0).standard_normal(matrix.shape[0]))
    assert caught.value.residual > 1e-12
    assert caught.value.solver == "cg_amg"


@pytest.mark.parametrize("method", METHODS)
def test_ungrounded_laplacian_is_refused(method):
    laplacian = _grid_laplacian(5, shape=(6, 6))
    rhs = np.random.default_rng(5).standard_normal(laplacian.shape[0])  # not balanced
    with pytest.raises(ConfigError, match="grounded"):
        SPDSolver(laplacian, solver=method).solve(rhs)


def test_bad_matrix_and_rhs_are_refused():
    with pytest.raises(ConfigError, match="square"):
        SPDSolver(sp.csr_matrix(np.ones((2, 3))))
    with pytest.raises(ConfigError, match="NaN"):
        SPDSolver(sp.csr_matrix(np.array([[np.nan]])))
    solver = SPDSolver(sp.identity(3, format="csr"), solver=Solver.SPLU)
    with pytest.raises(ConfigError, match="shape"):
        solver.solve(np.ones(4))
    with pytest.raises(ConfigError, match="NaN"):
        solver.solve(np.array([1.0, np.nan, 0.0]))
    np.testing.assert_array_equal(solver.solve(np.zeros(3)), np.zeros(3))
    with pytest.raises(ConfigError, match="Did you mean 'cholmod'"):
        SPDSolver(sp.identity(3, format="csr"), solver="cholmd")
    assert SPDSolver(sp.identity(3, format="csr"), solver="splu").method is Solver.SPLU


def _components_by_union_find(laplacian) -> np.ndarray:
    coo = sp.coo_matrix(laplacian)
    parent = list(range(laplacian.shape[0]))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, v in zip(coo.row, coo.col, coo.data, strict=True):
        if i != j and v != 0:
            parent[find(i)] = find(j)
    return np.array([find(i) for i in range(laplacian.shape[0])])


@pytest.mark.parametrize("seed", [6, 7])
def test_connected_components_match_union_find(seed):
    laplacian = _grid_laplacian(seed, shape=(25, 25), connect_four=True, nodata=0.45)
    count, labels = connected_components(laplacian)
    roots = _components_by_union_find(laplacian)
    assert count == np.unique(roots).size > 1
    # Same partition: each label maps to exactly one root and vice versa.
    pairs = set(zip(labels.tolist(), roots.tolist(), strict=True))
    assert len(pairs) == count


def test_components_solved_separately_equal_dense():
    laplacian = _grid_laplacian(8, shape=(20, 20), connect_four=True, nodata=0.4)
    count, labels = connected_components(laplacian)
    assert count > 1
    for component in range(min(count, 5)):
        nodes = np.flatnonzero(labels == component)
        if nodes.size < 2:
            continue
        block = laplacian[nodes][:, nodes].tocsr()[1:, 1:]
        b = np.arange(1.0, block.shape[0] + 1)
        x = SPDSolver(block, component=component).solve(b)
        np.testing.assert_allclose(x, np.linalg.solve(block.toarray(), b), rtol=1e-9)


def test_auto_choice_and_estimates():
    direct = Solver.CHOLMOD if Solver.CHOLMOD in available_solvers() else Solver.SPLU
    assert choose_solver(10_000, 1) is direct
    assert choose_solver(1_000_000, 1) is Solver.CG_AMG
    assert choose_solver(10_000_000, 10_000) is Solver.CG_AMG  # factor would not fit
    if direct is Solver.CHOLMOD:
        assert choose_solver(1_000_000, 19) is Solver.CHOLMOD  # factor reused enough times
        assert choose_solver(1_000_000, 2) is Solver.CG_AMG
    small = estimate_memory(10_000, 90_000, Solver.CHOLMOD)
    large = estimate_memory(1_000_000, 9_000_000, Solver.CHOLMOD)
    assert 0 < small < large
    assert estimate_memory(1_000_000, 9_000_000, Solver.CG_AMG) < large
    plan = plan_solves(1_000_000, 9_000_000, 1)
    assert plan.solver is Solver.CG_AMG and "1,000,000 unknowns" in str(plan)
    matrix = _grounded(_grid_laplacian(9, shape=(10, 10)))
    assert SPDSolver(matrix).method is direct


def test_without_cholmod(monkeypatch):
    monkeypatch.setattr(solve, "_cholmod_module", lambda: None)
    assert Solver.CHOLMOD not in available_solvers()
    assert choose_solver(1000, 1) is Solver.SPLU
    with pytest.raises(ConfigError) as caught:
        SPDSolver(sp.identity(3, format="csr"), solver=Solver.CHOLMOD)
    message = str(caught.value)
    for fix in ("apt-get install libsuitesparse-dev", "pip install 'crossings[cholmod]'", "cg_amg"):
        assert fix in message
