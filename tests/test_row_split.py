"""Row-split sparse products (two threads) equal whole-matrix products."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from crossings.core import row_split
from crossings.core.row_split import RowSplit, row_view
from crossings.core.solve import _absolute_row_sums, _row_blocks


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
    view = row_view(m, rows)
    assert np.shares_memory(view.data, m.data)
    assert np.shares_memory(view.indices, m.indices)
    assert (view != m[rows]).nnz == 0
    assert view.shape == (130, 300)


@pytest.mark.parametrize("cores", [1, 2])
def test_split_products_equal_whole_products(monkeypatch, cores):
    monkeypatch.setattr(row_split, "_available_cores", lambda: cores)
    m = _laplacian(400, seed=cores)
    split = RowSplit(m, min_nnz=1)
    assert split.halves is not None
    x = np.random.default_rng(1).standard_normal(400)
    block = np.random.default_rng(2).standard_normal((400, 3))
    # Rows are computed whole in either half: bit for bit the whole product.
    np.testing.assert_array_equal(split.matvec(x), m @ x)
    np.testing.assert_array_equal(split.matvec(block), m @ block)
    np.testing.assert_allclose(split.rmatvec(x), m.T @ x, rtol=1e-13, atol=1e-13)


def test_transposed_product_does_not_depend_on_the_number_of_cores(monkeypatch):
    m = _laplacian(500, seed=3)
    x = np.random.default_rng(4).standard_normal(500)
    results = []
    for cores in (1, 2):
        monkeypatch.setattr(row_split, "_available_cores", lambda cores=cores: cores)
        results.append(RowSplit(m, min_nnz=1).rmatvec(x))
    np.testing.assert_array_equal(results[0], results[1])


def test_small_matrices_are_not_split():
    m = _laplacian(50)
    assert RowSplit(m).halves is None
    x = np.ones(50)
    np.testing.assert_array_equal(RowSplit(m).matvec(x), m @ x)


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
