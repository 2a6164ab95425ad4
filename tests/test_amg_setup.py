"""AMG setup building blocks: row views without copies, absolute row sums."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from crossings.core.solve import _absolute_row_sums, _row_blocks, _row_view


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
