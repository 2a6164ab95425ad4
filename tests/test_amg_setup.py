"""AMG setup building blocks: row views without copies, absolute row sums, the Galerkin product
with a single-precision prolongation, and the hierarchy's precisions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import crossings.core.solve as solve_module
from crossings.core.solve import (
    Solver,
    SPDSolver,
    _absolute_row_sums,
    _CGVectors,
    _galerkin_product,
    _product_into,
    _row_blocks,
    _row_view,
)


def _laplacian(n: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    upper = sp.random(n, n, density=0.05, random_state=rng, format="csr")
    upper = sp.triu(upper, k=1)
    weights = upper + upper.T
    degree = np.asarray(weights.sum(axis=1)).ravel()
    grounded = sp.diags(degree + rng.uniform(0, 1, n)) - weights
    return sp.csr_matrix(grounded)


def test_row_view_shares_arrays_and_equals_slicing():
    m = _laplacian(300)
    rows = slice(40, 170)
    view = _row_view(m, rows)
    assert np.shares_memory(view.data, m.data)
    assert np.shares_memory(view.indices, m.indices)
    assert (view != m[rows]).nnz == 0
    assert view.shape == (130, 300)


def _blockwise_absolute_sums(a: sp.csr_matrix) -> np.ndarray:
    return np.asarray(abs(a).sum(axis=1)).ravel()


def test_absolute_row_sums_of_an_m_matrix_by_one_product():
    m = _laplacian(300, seed=5)
    np.testing.assert_allclose(_absolute_row_sums(m), _blockwise_absolute_sums(m), rtol=1e-12)


def test_absolute_row_sums_with_positive_off_diagonal_entries():
    m = _laplacian(300, seed=6).tolil()
    m[3, 7] = 0.5  # not an M-matrix: the identity 2 a_ii - sum_j a_ij does not hold
    m = m.tocsr()
    assert len(_row_blocks(m)) >= 1
    np.testing.assert_allclose(_absolute_row_sums(m), _blockwise_absolute_sums(m), rtol=1e-12)


def _random_prolongation(n: int, n_coarse: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    p = sp.random(n, n_coarse, density=0.1, random_state=rng, format="csr", dtype=np.float32)
    return p


def test_galerkin_product_with_a_single_precision_prolongation_equals_dense(monkeypatch):
    a = _laplacian(300, seed=7)  # random pattern: blocks of rows reach columns far apart
    p = _random_prolongation(300, 40, seed=8)
    original = solve_module._row_blocks
    monkeypatch.setattr(solve_module, "_row_blocks", lambda m: original(m, block_nnz=500))
    assert len(solve_module._row_blocks(a)) > 3  # the block-by-block path is what is tested
    dense_p = p.toarray().astype(np.float64)
    expected = dense_p.T @ a.toarray() @ dense_p
    coarse = _galerkin_product(a, p)
    assert coarse.dtype == np.float64
    np.testing.assert_allclose(coarse.toarray(), expected, rtol=1e-12, atol=1e-12)


def test_galerkin_product_of_a_banded_matrix_by_blocks(monkeypatch):
    """A grid-like band: each block of rows converts only the rows of P its columns reach."""
    n = 400
    band = sp.diags([-1.0, -1.0, 4.5, -1.0, -1.0], [-20, -1, 0, 1, 20], shape=(n, n), format="csr")
    p = _random_prolongation(n, 50, seed=9)
    original = solve_module._row_blocks
    monkeypatch.setattr(solve_module, "_row_blocks", lambda m: original(m, block_nnz=300))
    dense_p = p.toarray().astype(np.float64)
    np.testing.assert_allclose(
        _galerkin_product(band, p).toarray(), dense_p.T @ band.toarray() @ dense_p, rtol=1e-12
    )


def _grid_system(side: int = 70):
    rng = np.random.default_rng(3)
    east = 10.0 ** -rng.uniform(0, 3, (side, side - 1))
    south = 10.0 ** -rng.uniform(0, 3, (side - 1, side))
    index = np.arange(side * side).reshape(side, side)
    i = np.concatenate([index[:, :-1].ravel(), index[:-1, :].ravel()])
    j = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])
    w = np.concatenate([east.ravel(), south.ravel()])
    off = sp.coo_matrix((w, (i, j)), shape=(side * side, side * side))
    laplacian = sp.diags(np.asarray((off + off.T).sum(axis=1)).ravel()) - off - off.T
    grounded = sp.csr_matrix(laplacian + sp.diags(np.r_[1.0, np.zeros(side * side - 1)]))
    rhs = np.zeros((side * side, 2))
    rhs[side * side // 2, 0] = rhs[side + 3, 1] = 1.0
    return grounded, rhs


def test_coarse_levels_in_single_precision_finest_in_double():
    matrix, _ = _grid_system()
    hierarchy = SPDSolver(matrix, solver=Solver.CG_AMG)._hierarchy
    assert hierarchy.n_levels >= 3
    assert hierarchy.operators[0].dtype == np.float64
    assert {a.dtype for a in hierarchy.operators[1:]} == {np.dtype(np.float32)}
    assert {p.dtype for p in hierarchy.prolongations} == {np.dtype(np.float32)}


def test_single_precision_coarse_levels_lose_no_accuracy_or_iterations(monkeypatch):
    """The same solutions (to the tolerance, against a dense solve) and CG iterations as a
    hierarchy stored in double."""
    matrix, rhs = _grid_system()
    exact = np.linalg.solve(matrix.toarray(), rhs)
    runs = {}
    for dtype in (np.float64, np.float32):
        monkeypatch.setattr(solve_module, "COARSE_DTYPE", dtype)
        solver = SPDSolver(matrix, solver=Solver.CG_AMG, tol=1e-11)
        x = solver.solve(rhs)
        assert solver._hierarchy.operators[1].dtype == dtype
        runs[dtype] = (x, solver.info.iterations)
    for x, _ in runs.values():
        assert np.abs(x - exact).max() <= 1e-7 * np.abs(exact).max()
    assert runs[np.float32][1] <= runs[np.float64][1] + 1


def test_single_precision_coarse_levels_on_a_high_contrast_landscape(monkeypatch):
    """Resistances over 8 decades and two near-closed barrier lines (1e9), as users draw them:
    single-precision coarse levels converge like double ones (measured equal up to 8 decades
    at 90k cells)."""
    from crossings.core.circuit import build_network
    from crossings.core.graph import build_graph
    from crossings.core.grid import GridSpec

    side = 100
    resistance = 10.0 ** np.random.default_rng(1).uniform(0, 8, (side, side))
    resistance[33, 5:95] = resistance[66, :85] = 1e9
    grid = GridSpec.from_origin(0.0, side * 100.0, 100.0, (side, side), "EPSG:3857")
    laplacian = build_network(build_graph(grid, 1.0 / resistance)).laplacian
    matrix = sp.csr_matrix(laplacian + sp.diags(np.r_[laplacian[0, 0], np.zeros(side * side - 1)]))
    rhs = np.zeros(side * side)
    rhs[5 * side + 7] = 1.0
    iterations = {}
    for dtype in (np.float64, np.float32):
        monkeypatch.setattr(solve_module, "COARSE_DTYPE", dtype)
        solver = SPDSolver(matrix, solver=Solver.CG_AMG, tol=1e-8)
        x = solver.solve(rhs)
        assert np.linalg.norm(matrix @ x - rhs) <= 1e-8 * np.linalg.norm(rhs)
        iterations[dtype] = solver.info.iterations
    assert iterations[np.float32] <= iterations[np.float64] + 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_product_into_a_given_vector_equals_the_product(dtype):
    a = _laplacian(200, seed=10).astype(dtype)
    x = np.random.default_rng(11).standard_normal(200).astype(dtype)
    out = np.full(200, np.nan, dtype=dtype)  # whatever it held is overwritten
    assert _product_into(a, x, out) is out
    np.testing.assert_array_equal(out, a @ x)
    np.testing.assert_array_equal(_product_into(a.T, x, out), a.T @ x)  # a CSC view


def test_product_into_with_other_dtypes_falls_back_to_the_product():
    a = _laplacian(50, seed=12)
    x = np.arange(50, dtype=np.float32)
    out = np.empty(50)
    np.testing.assert_allclose(_product_into(a, x, out), a @ x, rtol=1e-15)


def test_v_cycle_in_reused_vectors_equals_the_allocating_one():
    """The finest level run in a CG's work vectors gives the recursion's result bit for bit,
    also when the work vectors held an earlier cycle's values."""
    matrix, _ = _grid_system()
    hierarchy = SPDSolver(matrix, solver=Solver.CG_AMG)._hierarchy
    work = _CGVectors(matrix.shape[0])
    rng = np.random.default_rng(13)
    for _ in range(2):
        b = rng.standard_normal(matrix.shape[0])
        np.testing.assert_array_equal(hierarchy.apply(b, work), hierarchy._cycle(0, b))
