"""Geometric nested dissection of grid Laplacians: a permutation, less fill, same solutions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from crossings.core import ordering, solve
from crossings.core.graph import build_graph
from crossings.core.grid import GridSpec
from crossings.core.ordering import (
    fill_reducing_order,
    grid_nested_dissection,
    grid_shape,
    permute_symmetric,
)
from crossings.core.solve import Solver, SPDSolver
from crossings.errors import ConfigError


def _laplacian(shape, seed=0, connect_four=False, nodata=0.0):
    rng = np.random.default_rng(seed)
    conductance = 1.0 / 10 ** rng.uniform(0, 2, shape)
    conductance[rng.random(shape) < nodata] = np.nan
    grid = GridSpec.from_origin(0, shape[0], 1, shape, "EPSG:3857")
    return build_graph(grid, conductance, connect_four=connect_four).laplacian()


def _ground_first(lap: sp.csr_matrix) -> sp.csr_matrix:
    """Ground node 0 through a conductance on the diagonal (same size and pattern)."""
    grounded = lap.tolil()
    grounded[0, 0] += 1.0
    return grounded.tocsr()


def _fill(matrix: sp.csr_matrix, permc_spec: str) -> int:
    """Entries of the Cholesky factor of an SPD matrix (SuperLU without pivoting: L = U^T)."""
    lu = spla.splu(matrix.tocsc(), permc_spec=permc_spec, diag_pivot_thresh=0.0)
    return lu.U.nnz


@pytest.mark.parametrize("rows,cols", [(1, 1), (1, 7), (2, 2), (5, 3), (17, 40), (64, 64)])
def test_order_is_a_permutation(rows, cols):
    order = grid_nested_dissection(rows, cols)
    assert np.array_equal(np.sort(order), np.arange(rows * cols))


def test_order_ends_with_the_middle_row_of_a_tall_grid():
    # The top-level separator is eliminated last: the middle row, across the longer side.
    order = grid_nested_dissection(9, 4, leaf_cells=1)
    assert np.array_equal(order[-4:], 4 * 4 + np.arange(4))


@pytest.mark.parametrize("shape", [(30, 40), (41, 7), (2, 9)])
def test_grid_shape_recognises_row_major_grids(shape):
    assert grid_shape(_laplacian(shape)) == shape


def test_grid_shape_rejects_other_patterns():
    lap = _laplacian((20, 30))
    keep = np.arange(lap.shape[0]) != 5  # one node fewer: not a full grid any more
    assert grid_shape(lap[keep][:, keep].tocsr()) is None
    far = lap.tolil()
    far[0, 35] = far[35, 0] = -1e-3  # an edge jumping over a column
    assert grid_shape(far.tocsr()) is None
    rng = np.random.default_rng(1)
    random = sp.random(400, 400, density=0.01, random_state=rng)
    assert grid_shape((random + random.T + 50 * sp.identity(400)).tocsr()) is None
    assert grid_shape(_laplacian((20, 30), connect_four=True)) is None  # AMD does better there
    for a, b in [(29, 30), (30, 59), (40, 45)]:  # wrapping round a row (both ends); 5 apart
        other = lap.tolil()
        other[a, b] = other[b, a] = -1e-3
        assert grid_shape(other.tocsr()) is None


def test_ordering_fills_less_than_minimum_degree():
    matrix = _ground_first(_laplacian((80, 90)))
    order = grid_nested_dissection(80, 90)
    nested = _fill(permute_symmetric(matrix, order), "NATURAL")
    assert nested < _fill(matrix, "MMD_AT_PLUS_A")
    assert nested < 0.5 * _fill(matrix, "NATURAL")  # the banded row-by-row order


def test_small_or_other_matrices_keep_cholmods_ordering():
    assert fill_reducing_order(_ground_first(_laplacian((60, 60)))) is None  # below the size
    large = _ground_first(_laplacian((100, 120)))
    assert np.array_equal(fill_reducing_order(large), grid_nested_dissection(100, 120))
    keep = np.arange(large.shape[0]) != 7
    assert fill_reducing_order(large[keep][:, keep].tocsr()) is None


def test_permute_symmetric_equals_dense_permutation():
    matrix = _ground_first(_laplacian((12, 9), seed=3))
    order = grid_nested_dissection(12, 9)
    permuted = permute_symmetric(matrix, order)
    dense = matrix.toarray()
    np.testing.assert_array_equal(permuted.toarray(), dense[np.ix_(order, order)])
    steps = np.diff(permuted.indices)
    steps[permuted.indptr[1:-1] - 1] = 1  # from one row's last entry to the next row's first
    assert np.all(steps > 0)  # CHOLMOD is told the indices are sorted within each column


@pytest.mark.cholmod
def test_cholmod_on_a_grid_uses_the_ordering_and_matches_a_dense_solve(monkeypatch):
    monkeypatch.setattr(ordering, "MIN_UNKNOWNS", 100)
    matrix = _ground_first(_laplacian((25, 31), seed=4))
    solver = SPDSolver(matrix, solver=Solver.CHOLMOD, tol=1e-12)
    assert isinstance(solver._direct_solve, solve._PermutedSolve)
    rhs = np.random.default_rng(5).standard_normal((matrix.shape[0], 4))
    rhs[:, 1] = 0.0
    rhs[[10, 400], 1] = [1.0, -1.0]  # unit injections: the sparse path
    expected = np.linalg.solve(matrix.toarray(), rhs)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(solver.solve(rhs), expected, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(solver.solve(rhs[:, 1]), expected[:, 1], rtol=0, atol=1e-10 * scale)


@pytest.mark.cholmod
def test_cholmod_factor_of_the_ordering_is_sparser_than_amds():
    from sksparse import cholmod

    matrix = _ground_first(_laplacian((100, 120), seed=8))
    solver = SPDSolver(matrix, solver=Solver.CHOLMOD, tol=1e-12)
    assert isinstance(solver._direct_solve, solve._PermutedSolve)
    rhs = np.random.default_rng(9).standard_normal((matrix.shape[0], 3))
    expected = SPDSolver(matrix, solver=Solver.SPLU, tol=1e-12).solve(rhs)
    np.testing.assert_allclose(
        solver.solve(rhs), expected, rtol=0, atol=1e-10 * np.abs(expected).max()
    )
    amd = cholmod.analyze(matrix.T).cholesky(matrix.T).L().nnz
    permuted = permute_symmetric(matrix, grid_nested_dissection(100, 120))
    nested = cholmod.analyze(permuted.T, ordering_method="natural").cholesky(permuted.T)
    assert nested.L().nnz < amd


@pytest.mark.cholmod
def test_cholmod_off_a_grid_keeps_its_own_ordering():
    lap = _laplacian((20, 20), seed=6, nodata=0.1)
    count, labels = solve.connected_components(lap)
    keep = labels == np.bincount(labels).argmax()
    matrix = _ground_first(lap[keep][:, keep].tocsr())
    solver = SPDSolver(matrix, solver=Solver.CHOLMOD, tol=1e-12)
    assert not isinstance(solver._direct_solve, solve._PermutedSolve)
    rhs = np.random.default_rng(7).standard_normal((matrix.shape[0], 2))
    expected = np.linalg.solve(matrix.toarray(), rhs)
    np.testing.assert_allclose(
        solver.solve(rhs), expected, rtol=0, atol=1e-10 * np.abs(expected).max()
    )


@pytest.mark.cholmod
def test_cholmod_on_an_ungrounded_grid_says_it_must_be_grounded():
    lap = _laplacian((100, 120), seed=10)  # no ground: singular
    assert fill_reducing_order(lap) is not None
    rhs = np.zeros(lap.shape[0])
    rhs[5] = 1.0  # 1 A in, none out: no solution
    with pytest.raises(ConfigError, match="must be grounded"):
        SPDSolver(lap, solver=Solver.CHOLMOD).solve(rhs)
