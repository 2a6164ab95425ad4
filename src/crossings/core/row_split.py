"""Sparse matrix products on both cores: a CSR matrix split into two halves of rows.

scipy's sparse matrix-vector product releases the GIL, so the two halves of a large matrix can
be multiplied on two threads (measured at 4M cells: 29 ms on one thread, 17 ms on two). The
split is fixed by the matrix, not by the machine: a transposed product sums the two halves'
partial results in the same order whether one or two cores run them, so results do not depend
on the number of cores.

Small matrices (below ``THREADED_MIN_NNZ`` non-zeros) are multiplied whole: handing work to a
thread costs tens of microseconds, and many small systems (Omniscape windows) already run in
parallel on Dask workers.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

__all__ = ["THREADED_MIN_NNZ", "RowSplit", "row_view"]

#: From this many non-zeros a product is split over two threads (a product of about 3 ms).
THREADED_MIN_NNZ = 1_000_000

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _second_thread() -> ThreadPoolExecutor | None:
    """One worker thread for the second half, made on first use; None on a one-core machine."""
    global _pool
    if _available_cores() < 2:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crossings-rows")
    return _pool


def row_view(m: sp.csr_matrix, rows: slice) -> sp.csr_matrix:
    """Rows ``rows`` of a CSR matrix sharing its data and indices.

    scipy's row slicing copies them, and so does its constructor for arrays that are views of a
    much larger one (``prune``): the arrays are attached to an empty matrix of the right shape
    instead (a valid CSR matrix; only the row pointers are new).
    """
    start, stop = int(m.indptr[rows.start]), int(m.indptr[rows.stop])
    view = sp.csr_matrix((rows.stop - rows.start, m.shape[1]), dtype=m.dtype)
    view.indptr = (m.indptr[rows.start : rows.stop + 1] - start).astype(m.indptr.dtype)
    view.indices = m.indices[start:stop]
    view.data = m.data[start:stop]
    return view


class RowSplit:
    """Products with a CSR matrix ``m`` (``m @ x`` and ``m.T @ x``), split by rows over two
    threads when ``m`` is large.

    >>> m = sp.csr_matrix(np.arange(12.0).reshape(4, 3))
    >>> split = RowSplit(m, min_nnz=1)
    >>> bool(np.allclose(split.matvec(np.ones(3)), m @ np.ones(3)))
    True
    >>> bool(np.allclose(split.rmatvec(np.ones(4)), m.T @ np.ones(4)))
    True
    """

    def __init__(self, m: sp.csr_matrix, min_nnz: int = THREADED_MIN_NNZ):
        self.matrix = m
        self.shape = m.shape
        self.halves = None
        if m.nnz >= min_nnz and m.shape[0] >= 2:
            middle = int(np.searchsorted(m.indptr, m.nnz // 2))
            middle = min(max(middle, 1), m.shape[0] - 1)
            self.middle = middle
            self.halves = (row_view(m, slice(0, middle)), row_view(m, slice(middle, m.shape[0])))

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """``m @ x`` (x of shape (n,) or (n, k))."""
        if self.halves is None:
            return self.matrix @ x
        first, second = self._both(_product, x, x)
        return np.concatenate([first, second])

    def rmatvec(self, x: np.ndarray) -> np.ndarray:
        """``m.T @ x``: each half's transposed product, summed in a fixed order."""
        if self.halves is None:
            return self.matrix.T @ x
        first, second = self._both(_transposed_product, x[: self.middle], x[self.middle :])
        first += second
        return first

    def _both(self, product, x_first, x_second):
        pool = _second_thread()
        if pool is None:
            return product(self.halves[0], x_first), product(self.halves[1], x_second)
        later = pool.submit(product, self.halves[1], x_second)
        return product(self.halves[0], x_first), later.result()


def _product(half: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    return half @ x


def _transposed_product(half: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    return half.T @ x
