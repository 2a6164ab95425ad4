"""Batches of the column solves: within 1.25 times the memory budget, no small last batch,
and the same solutions whatever the batching."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from crossings.core import circuit
from crossings.core.circuit import ColumnSolves, SolverOptions, _batch_size, solve_columns
from crossings.core.graph import build_graph
from crossings.core.grid import GridSpec
from crossings.core.solve import Solver


@pytest.mark.parametrize("n_columns", [1, 3, 16, 19, 20, 21, 40, 100])
@pytest.mark.parametrize("budget", [1, 7, 16])
def test_batches_stay_near_the_budget_and_cover_every_column(n_columns, budget):
    size = _batch_size(n_columns, budget)
    assert 1 <= size <= 1.25 * budget
    calls = math.ceil(n_columns / size)
    assert calls <= math.ceil(n_columns / budget)  # never more passes than plain batching
    last = n_columns - (calls - 1) * size
    assert calls == 1 or last > budget // 4  # no small batch left at the end


def test_nineteen_columns_at_a_budget_of_sixteen_are_one_batch():
    assert _batch_size(19, 16) == 19
    assert _batch_size(21, 16) == 11  # 5 left over is too many: two even batches


@pytest.mark.parametrize("method", [Solver.CHOLMOD, Solver.SPLU, Solver.CG_AMG])
def test_solutions_do_not_depend_on_the_batching(monkeypatch, method):
    rng = np.random.default_rng(3)
    shape = (30, 36)
    grid = GridSpec.from_origin(0, shape[0], 1, shape, "EPSG:3857")
    lap = build_graph(grid, 1.0 / 10 ** rng.uniform(0, 2, shape)).laplacian().tolil()
    lap[0, 0] += 1.0
    matrix = lap.tocsr()
    n = matrix.shape[0]
    rhs = sp.csc_matrix((np.ones(9), (rng.choice(n, 9, replace=False), np.arange(9))), (n, 9))
    problem = ColumnSolves(matrix, rhs, SolverOptions(solver=method, tol=1e-12), None)
    expected = np.linalg.solve(matrix.toarray(), rhs.toarray())
    for budget_columns in (1, 4, 8, 9):
        monkeypatch.setattr(circuit, "_MAP_CHUNK_BYTES", budget_columns * 8 * n)
        got = np.zeros((n, 9))
        calls = []

        def store(columns, values, got=got, calls=calls):
            got[:, columns] = values
            calls.append(columns.size)

        solve_columns(problem, store)
        assert sum(calls) == 9 and max(calls) <= 1.25 * budget_columns
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9 * np.abs(expected).max())
