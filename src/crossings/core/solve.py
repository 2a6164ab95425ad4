"""Solvers for symmetric positive definite systems (grounded graph Laplacians).

Three methods, one interface (:class:`SPDSolver`):

* ``CHOLMOD`` -- sparse Cholesky from SuiteSparse through scikit-sparse. The factorisation is
  computed once; every further right-hand side costs two triangular solves. Best for small and
  medium systems and for many right-hand sides.
* ``CG_AMG`` -- conjugate gradients preconditioned by a smoothed-aggregation algebraic multigrid
  hierarchy (pyamg), built once and reused for every right-hand side. Memory grows linearly with
  the size of the system, so it is the method for large landscapes.
* ``SPLU`` -- scipy's SuperLU, always available, used when CHOLMOD is not installed.

``AUTO`` resolves through :func:`choose_solver` (thresholds measured with ``bench/circuit.py`` and
documented in ``docs/solvers.md``). Every solve checks the relative residual ``||Ax - b|| / ||b||``
of each column and raises :class:`~crossings.errors.SolverConvergenceError` above ``tol``.
"""

from __future__ import annotations

import ctypes
import enum
import functools
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla
from scipy.sparse import _sparsetools

from crossings.config import parse_enum
from crossings.core.ordering import fill_reducing_order, permute_symmetric
from crossings.errors import ConfigError, SolverConvergenceError

__all__ = [
    "Solver",
    "SolveInfo",
    "SPDSolver",
    "SolvePlan",
    "available_solvers",
    "choose_solver",
    "connected_components",
    "estimate_memory",
    "explain_choice",
    "estimate_seconds",
    "plan_solves",
]

#: Up to this many unknowns a direct factorisation is used (under a second, then milliseconds
#: per solve; measured 90k unknowns: CHOLMOD 1.1 s + 0.01 s/solve, AMG-CG 0.6 s + 0.27 s/solve).
DIRECT_MAX_UNKNOWNS = 100_000
#: Above that, CHOLMOD pays off from ``DIRECT_RHS_BASE + DIRECT_RHS_PER_MILLION * millions``
#: right-hand sides: measured break-even (issue 15, third pass, ``bench/circuit.py
#: --solver-costs`` on an idle 2-core machine) 1.8 solves in wall seconds and 3.4 in CPU seconds
#: at 250k unknowns, 2.4 and 4.8 at 1M (CHOLMOD 2.9 s + 0.11 s/solve with the grid ordering,
#: AMG-CG 0.52 s + 1.13 s/solve); the rule's 2.5 and 4 lie between.
DIRECT_RHS_BASE = 2.0
DIRECT_RHS_PER_MILLION = 2.0
#: Above this many unknowns always AMG-CG: CHOLMOD took 190 s and 5.2 GB at 4M cells.
DIRECT_HARD_MAX_UNKNOWNS = 3_000_000
#: CG stops at this fraction of the requested tolerance; if the independently recomputed true
#: residual (which can drift from CG's recursive one) still misses ``tol``, CG continues. A hair
#: below 1, so that the solve's own residual check, rounded differently, cannot miss ``tol``:
#: 0.9 cost a 16th iteration on the 4M-cell benchmark (relative residual 9.25e-9 after 15).
CG_SAFETY = 0.999
#: A direct solve whose residual misses ``tol`` gets up to this many refinement steps.
REFINEMENT_STEPS = 2


class Solver(enum.Enum):
    """Linear solver method."""

    AUTO = "auto"
    CHOLMOD = "cholmod"
    CG_AMG = "cg_amg"
    SPLU = "splu"


@dataclass(frozen=True, slots=True)
class SolveInfo:
    """Figures of the solves done by one :class:`SPDSolver` (cumulative).

    Attributes
    ----------
    solver : str
        Resolved method (``Solver.value``).
    n_unknowns : int
    n_rhs : int
        Number of right-hand sides solved so far.
    iterations : int or None
        Total CG iterations (None for direct methods).
    max_residual : float
        Largest relative residual of any column solved so far.
    seconds : float
        Setup (factorisation / hierarchy) plus solve time.
    """

    solver: str
    n_unknowns: int
    n_rhs: int
    iterations: int | None
    max_residual: float
    seconds: float


#: The message when CHOLMOD is asked for but scikit-sparse does not import: the real fix.
MISSING_CHOLMOD = (
    "solver 'cholmod' needs scikit-sparse, which does not import here. It builds against "
    "SuiteSparse: on Debian/Ubuntu run `apt-get install libsuitesparse-dev`, then "
    "`pip install 'crossings[cholmod]'`; or use solver = 'cg_amg' (or 'auto'), which gives the "
    "same answers without SuiteSparse."
)


def _cholmod_module():
    try:
        from sksparse import cholmod
    except ImportError:  # optional dependency
        return None
    return cholmod


def available_solvers() -> list[Solver]:
    """Concrete methods usable here (CHOLMOD only if scikit-sparse imports).

    >>> Solver.CG_AMG in available_solvers()
    True
    """
    methods = [Solver.CG_AMG, Solver.SPLU]
    if _cholmod_module() is not None:
        methods.insert(0, Solver.CHOLMOD)
    return methods


def choose_solver(n_unknowns: int, n_rhs: int) -> Solver:
    """The method expected to be fastest for ``n_rhs`` solves of ``n_unknowns`` unknowns.

    Direct Cholesky for small systems or many right-hand sides (the factorisation is reused);
    AMG-CG for large systems with few right-hand sides and always above
    ``DIRECT_HARD_MAX_UNKNOWNS`` (memory). SPLU replaces CHOLMOD when it is not installed.

    >>> choose_solver(1_000_000, 1)
    <Solver.CG_AMG: 'cg_amg'>
    >>> choose_solver(10_000, 1) in (Solver.CHOLMOD, Solver.SPLU)
    True
    """
    direct = Solver.CHOLMOD if _cholmod_module() is not None else Solver.SPLU
    if n_unknowns <= DIRECT_MAX_UNKNOWNS:
        return direct
    if n_unknowns > DIRECT_HARD_MAX_UNKNOWNS:
        return Solver.CG_AMG
    break_even = DIRECT_RHS_BASE + DIRECT_RHS_PER_MILLION * n_unknowns / 1e6
    if direct is Solver.CHOLMOD and n_rhs >= break_even:
        return direct
    return Solver.CG_AMG


def explain_choice(n_unknowns: int, n_rhs: int) -> str:
    """Why :func:`choose_solver` picks its method, in one line for a run's plan.

    >>> explain_choice(1_000_000, 1).split(", ")[1]
    'fewer than the 4 solves from which a factorisation pays off'
    """
    choice = choose_solver(n_unknowns, n_rhs).value
    if n_unknowns <= DIRECT_MAX_UNKNOWNS:
        limit = f"{DIRECT_MAX_UNKNOWNS:,}"
        return f"{choice}: {n_unknowns:,} unknowns, up to {limit} a direct solve is fastest"
    if n_unknowns > DIRECT_HARD_MAX_UNKNOWNS:
        limit = f"{DIRECT_HARD_MAX_UNKNOWNS:,}"
        return f"{choice}: {n_unknowns:,} unknowns, above {limit} a factorisation would not fit"
    break_even = math.ceil(DIRECT_RHS_BASE + DIRECT_RHS_PER_MILLION * n_unknowns / 1e6)
    if choice == Solver.CG_AMG.value and n_rhs >= break_even:
        return f"{choice}: CHOLMOD (faster from {break_even} solves) is not installed"
    side = "at least" if n_rhs >= break_even else "fewer than"
    return (
        f"{choice}: {n_unknowns:,} unknowns and {n_rhs} solve(s), {side} the {break_even} solves "
        "from which a factorisation pays off"
    )


#: Bytes per ``n log2 n`` of the factorisations, measured on 8-neighbour grid Laplacians
#: (CHOLMOD: 220 MB at 250k unknowns, 880 MB at 1M; SuperLU: 375 MB and 1.6 GB).
CHOLMOD_BYTES_PER_NLOGN = 44
SPLU_BYTES_PER_NLOGN = 82


def estimate_memory(n_unknowns: int, nnz: int, solver: Solver) -> int:
    """Estimated peak bytes to set up and run ``solver`` on an ``n``-unknown system.

    Empirical models for 2-D grid Laplacians (measured, see ``docs/solvers.md``): the matrix
    itself, plus for the factorisations ``c n log2 n`` bytes, for AMG-CG the setup peak (about
    1.5 times the matrix; the hierarchy itself is half the matrix) and ten work vectors.

    >>> estimate_memory(1_000_000, 9_000_000, Solver.CG_AMG) < estimate_memory(
    ...     1_000_000, 9_000_000, Solver.SPLU)
    True
    """
    n = max(int(n_unknowns), 2)
    matrix_bytes = 12 * int(nnz) + 8 * n
    if solver is Solver.AUTO:
        solver = choose_solver(n, 1)
    if solver is Solver.CHOLMOD:
        return int(matrix_bytes + CHOLMOD_BYTES_PER_NLOGN * n * math.log2(n))
    if solver is Solver.SPLU:
        return int(matrix_bytes + SPLU_BYTES_PER_NLOGN * n * math.log2(n))
    return int(2.5 * matrix_bytes + 10 * 8 * n)


def estimate_seconds(n_unknowns: int, n_rhs: int, solver: Solver) -> float:
    """Rough wall time on a 2-core machine (fitted to ``bench/circuit.py``; order of magnitude).

    >>> estimate_seconds(1000, 1, Solver.CHOLMOD) < 1.0
    True
    """
    n = max(int(n_unknowns), 2)
    if solver is Solver.AUTO:
        solver = choose_solver(n, n_rhs)
    millions = n / 1e6
    if solver is Solver.CG_AMG:  # setup + one preconditioned CG per right-hand side
        return millions * (1.2 + 1.8 * n_rhs)
    # factorisation ~ n log n, then two triangular solves per right-hand side
    factor_s, solve_s = (24.0, 0.5) if solver is Solver.SPLU else (11.0, 0.3)
    return millions * (factor_s * math.log2(n) / 20 + solve_s * n_rhs)


@dataclass(frozen=True, slots=True)
class SolvePlan:
    """What a batch of solves will cost before it runs.

    Attributes
    ----------
    solver : Solver
    n_unknowns, n_rhs : int
    memory_bytes : int
    seconds : float
        Order-of-magnitude estimate.
    reason : str
        Why this method (the automatic choice's rule, or "as configured").
    """

    solver: Solver
    n_unknowns: int
    n_rhs: int
    memory_bytes: int
    seconds: float
    reason: str = ""

    def __str__(self) -> str:
        return (
            f"{self.n_rhs} solve(s) of {self.n_unknowns:,} unknowns with {self.solver.value}: "
            f"about {self.memory_bytes / 2**20:,.0f} MiB and {self.seconds:,.1f} s"
        )


def plan_solves(n_unknowns: int, nnz: int, n_rhs: int, solver: Solver = Solver.AUTO) -> SolvePlan:
    """Resolve the method and estimate memory and time of ``n_rhs`` solves.

    >>> plan = plan_solves(1_000_000, 9_000_000, 1)
    >>> plan.solver
    <Solver.CG_AMG: 'cg_amg'>
    """
    reason = f"{solver.value}: as configured"
    if solver is Solver.AUTO:
        solver = choose_solver(n_unknowns, n_rhs)
        reason = explain_choice(int(n_unknowns), int(n_rhs))
    return SolvePlan(
        solver=solver,
        n_unknowns=int(n_unknowns),
        n_rhs=int(n_rhs),
        memory_bytes=estimate_memory(n_unknowns, nnz, solver),
        seconds=estimate_seconds(n_unknowns, n_rhs, solver),
        reason=reason,
    )


def connected_components(laplacian) -> tuple[int, np.ndarray]:
    """Connected components of the graph behind a Laplacian (or any symmetric adjacency).

    Only off-diagonal non-zeros count as edges.

    Returns
    -------
    count : int
    labels : ndarray of int, shape (n,)
        Component label of every node, ``0 .. count-1``.

    >>> L = sp.csr_matrix(np.array([[1., -1, 0], [-1, 1, 0], [0, 0, 0]]))
    >>> connected_components(L)
    (2, array([0, 0, 1], dtype=int32))
    """
    adjacency = sp.csr_matrix(laplacian, copy=True)
    adjacency.setdiag(0)
    adjacency.eliminate_zeros()
    count, labels = csgraph.connected_components(adjacency, directed=False)
    return int(count), labels


def _as_spd_matrix(matrix) -> sp.csr_matrix:
    if not sp.issparse(matrix):
        matrix = sp.csr_matrix(np.asarray(matrix, dtype=float))
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    rows, cols = matrix.shape
    if rows != cols:
        raise ConfigError(
            f"the system matrix must be square; got shape {matrix.shape}.", field="matrix"
        )
    if rows == 0:
        raise ConfigError("the system matrix is empty (0 unknowns).", field="matrix")
    if not np.all(np.isfinite(matrix.data)):
        raise ConfigError(
            "the system matrix holds NaN or infinite values; check the conductances.",
            field="matrix",
        )
    return matrix


@functools.cache
def _malloc_trim():
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except (OSError, TypeError):  # no C library to load symbols from (Windows): nothing to do
        return None


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``; a no-op where
    there is none).

    glibc serves arrays up to 32 MiB from its heap once one of that size was freed, so the
    temporaries of the AMG setup and of the solves leave free but resident holes there: 136 MB
    after the setup and 181 MB after the solves at 4M cells, which the next stage's arrays
    (mapped anew) did not reuse.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _not_positive_definite(component: int | None) -> ConfigError:
    where = f" (component {component})" if component is not None else ""
    return ConfigError(
        f"the system matrix{where} is not positive definite: a graph Laplacian must be grounded "
        "(one node removed or a ground conductance added) in every connected component.",
        field="matrix",
    )


def _dot(x: np.ndarray, y: np.ndarray) -> float:
    """Inner product without BLAS: multithreaded BLAS ``ddot`` stalls when the other core is
    busy (measured 5-20x slower on a loaded 2-core machine); einsum's own loop does not."""
    return float(np.einsum("i,i->", x, y))


def _norm(x: np.ndarray) -> float:
    return math.sqrt(_dot(x, x))


def _lanczos_max_eigenvalue(matrix, scale: np.ndarray, steps: int = 10) -> float:
    """Largest eigenvalue of ``diag(scale) A diag(scale)`` by a few Lanczos steps.

    pyamg estimates it with restarted Arnoldi (about 90 matrix products and a dense basis), which
    took 80 % of the hierarchy setup on a 1M-cell Laplacian; a dozen symmetric Lanczos steps give
    the same 1 % accuracy the prolongation smoother needs.
    """
    n = matrix.shape[0]
    rng = np.random.default_rng(0)  # fixed seed: the hierarchy is reproducible
    q = rng.standard_normal(n)
    q /= np.linalg.norm(q)
    q_prev = np.zeros(n)
    alphas, betas = [], []
    beta = 0.0
    for _ in range(min(steps, n)):
        w = scale * (matrix @ (scale * q))
        w -= beta * q_prev
        alpha = _dot(q, w)
        w -= alpha * q
        alphas.append(alpha)
        beta = math.sqrt(_dot(w, w))
        if beta < 1e-12:
            break
        betas.append(beta)
        q_prev, q = q, w / beta
    k = len(alphas)
    tridiagonal = np.diag(alphas) + np.diag(betas[: k - 1], 1) + np.diag(betas[: k - 1], -1)
    # The largest Ritz value approaches rho from below, as pyamg's estimate does.
    return float(np.linalg.eigvalsh(tridiagonal).max())


#: Storage of the prolongations and coarse levels: the preconditioner only has to be a fixed
#: symmetric approximation of A^-1, and in single precision it keeps the iteration counts and
#: solutions (to 1e-12) of double at 4M cells with 43 MB less and a faster setup; the finest
#: level, CG and every residual stay in double.
COARSE_DTYPE = np.float32


class _AMGHierarchy:
    """Smoothed-aggregation levels and a symmetric V-cycle (a forward Gauss-Seidel sweep before
    and a backward one after the coarse correction), usable as a CG preconditioner.

    The finest operator is A itself (float64); prolongations and coarser operators are stored
    as ``COARSE_DTYPE``, so the coarse correction is computed in that precision.
    """

    def __init__(self, operators, prolongations, coarse_solve):
        self.operators = operators
        self.prolongations = prolongations
        self.coarse_solve = coarse_solve

    @property
    def n_levels(self) -> int:
        return len(self.operators)

    def operator_complexity(self) -> float:
        return sum(a.nnz for a in self.operators) / self.operators[0].nnz

    def apply(self, b: np.ndarray, work: _CGVectors) -> np.ndarray:
        """The V-cycle into ``work.z``; the finest level runs in ``work``'s vectors (no new
        arrays: fresh ones are new memory to fault in, and their holes stayed resident)."""
        from pyamg.relaxation.relaxation import gauss_seidel

        if self.n_levels == 1:
            np.copyto(work.z, self.coarse_solve(b))
            return work.z
        a, p, x, residual = self.operators[0], self.prolongations[0], work.z, work.q
        x.fill(0.0)
        gauss_seidel(a, x, b, iterations=1, sweep="forward")
        np.subtract(b, _product_into(a, x, residual), out=residual)
        np.copyto(work.narrow, residual, casting="same_kind")
        correction = self._cycle(1, p.T @ work.narrow)
        x += _product_into(p, correction, work.narrow)
        gauss_seidel(a, x, b, iterations=1, sweep="backward")
        return x

    def _cycle(self, level: int, b: np.ndarray) -> np.ndarray:
        from pyamg.relaxation.relaxation import gauss_seidel

        if level == self.n_levels - 1:
            return self.coarse_solve(b)
        a, p = self.operators[level], self.prolongations[level]
        x = np.zeros_like(b)
        # Forward sweep before, backward after: the V-cycle stays symmetric (as CG needs) at half
        # the cost of symmetric sweeps; measured 25-35 % faster per solve despite 11 vs 9
        # iterations at 1M cells.
        gauss_seidel(a, x, b, iterations=1, sweep="forward")
        residual = a @ x
        np.subtract(b, residual, out=residual)  # in place: one vector less at the peak
        coarse_rhs = p.T @ residual.astype(p.dtype, copy=False)
        del residual
        x += p @ self._cycle(level + 1, coarse_rhs)
        gauss_seidel(a, x, b, iterations=1, sweep="backward")
        return x


class _CGVectors:
    """The vectors one CG solve works in, made once per call of :meth:`SPDSolver.solve` and
    reused over its iterations and columns: ``r``, ``p``, ``q`` (also the V-cycle's residual),
    ``z`` (the V-cycle's result) and ``narrow``, the finest level's vector in the coarse levels'
    precision (restricted from, prolonged into)."""

    def __init__(self, n: int):
        self.r, self.p, self.q, self.z = (np.empty(n) for _ in range(4))
        self.narrow = np.empty(n, dtype=COARSE_DTYPE)


def _product_into(a: sp.csr_matrix, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = a @ x`` into a given vector, through scipy's own kernel (which ``a @ x`` calls on
    a new vector; pyamg uses these kernels too). Other dtypes take the ordinary product."""
    if not (a.dtype == x.dtype == out.dtype and a.indptr.dtype == a.indices.dtype):
        np.copyto(out, a @ x)
        return out
    out.fill(0.0)
    product = getattr(_sparsetools, a.format + "_matvec")
    product(a.shape[0], a.shape[1], a.indptr, a.indices, a.data, x, out)
    return out


def _smoothed_aggregation(matrix: sp.csr_matrix, max_coarse: int = 500, max_levels: int = 20):
    """Smoothed-aggregation AMG hierarchy for a symmetric M-matrix (a grounded Laplacian).

    The same construction as ``pyamg.smoothed_aggregation_solver(A, symmetry='symmetric',
    strength=('symmetric', {'theta': 0}), improve_candidates=None)`` (constant near-null space,
    standard aggregation, one damped-Jacobi prolongation smoothing step with omega = 4/3,
    Gauss-Seidel smoothing), built leaner for large landscapes:

    * with ``theta = 0`` every off-diagonal entry is strong, so the aggregation runs on the
      pattern of A itself (same aggregates, no strength matrix);
    * on the finest level the prolongation smoother is weighted by the rows' absolute sums
      (pyamg's ``weighting='local'``), a Gershgorin bound instead of an eigenvalue estimate; on
      coarser levels by the diagonal and a spectral radius from a few Lanczos steps;
    * restriction is ``P.T`` as a transposed view (no copy) and the Galerkin product
      ``P.T A P`` is summed over row blocks, which bounds its temporary memory;
    * the coarsest level is solved by a dense Cholesky (a sparse LU above 1000 unknowns; a
      dense pseudo-inverse took seconds);
    * the V-cycle is applied directly (pyamg's ``aspreconditioner`` computes two extra
      residuals per application).
    """
    from pyamg.aggregation.aggregate import standard_aggregation

    operators, prolongations = [matrix], []
    a = matrix
    candidates = np.ones(a.shape[0])
    while a.shape[0] > max_coarse and len(operators) < max_levels:
        aggregates, _ = standard_aggregation(a)
        tentative, candidates = _tentative(aggregates, candidates)
        del aggregates  # free before the memory peak of the prolongation
        if tentative.shape[1] >= a.shape[0]:  # no coarsening possible
            break
        prolongation = _smoothed_prolongation(a, tentative, finest=len(operators) == 1)
        del tentative
        a = _galerkin_product(a, prolongation)  # in double: the next level is built from it
        prolongations.append(prolongation)
        operators[-1] = operators[-1] if len(operators) == 1 else _stored(operators[-1])
        operators.append(a)
    coarse_solve = _coarse_solve(operators[-1])
    if len(operators) > 1:
        operators[-1] = _stored(operators[-1])
    return _AMGHierarchy(operators, prolongations, coarse_solve)


def _stored(m: sp.csr_matrix) -> sp.csr_matrix:
    """A coarse-level matrix in ``COARSE_DTYPE``."""
    return _with_values_as(m, COARSE_DTYPE)


#: Coarsest levels up to this size are factorised densely (see :func:`_coarse_solve`).
DENSE_COARSE = 1000


def _coarse_solve(coarse: sp.csr_matrix):
    """Solve with the coarsest level: dense Cholesky when small, else a sparse LU.

    SuperLU factors made on a thread other than the main one are never freed (scipy issue
    15921): on Dask workers, whose tasks run on threads, every AMG setup leaked its coarse
    factor (about 50 MB per 700 Omniscape windows measured). A dense Cholesky of a few hundred
    unknowns costs about as much and frees normally.
    """
    import scipy.linalg as la

    if coarse.shape[0] > DENSE_COARSE:
        return _in_double_precision(spla.splu(coarse.tocsc()).solve)
    try:
        factor = la.cho_factor(coarse.toarray(), lower=True, check_finite=False)
    except la.LinAlgError as exc:  # not positive definite: the coarse level is singular
        raise RuntimeError(str(exc)) from exc
    return _in_double_precision(lambda b: la.cho_solve(factor, b, check_finite=False))


def _in_double_precision(solve):
    """``solve`` run in double whatever the levels' storage (a solve of a few hundred unknowns
    costs nothing); the correction goes back in the right-hand side's precision."""
    return lambda b: solve(b.astype(np.float64)).astype(b.dtype, copy=False)


def _tentative(aggregates, candidates: np.ndarray):
    """Tentative prolongation of one near-null-space vector, and its coarse counterpart.

    What ``pyamg.aggregation.tentative.fit_candidates`` computes for a single candidate (its QR
    per aggregate is a normalisation; measured 0.7 s at 1M unknowns there), in a few array
    operations: ``T[i, agg(i)] = b_i / ||b_agg||`` and coarse ``b = ||b_agg||``.
    """
    indicator = aggregates.tocsr()  # (n x n_aggregates), at most one entry per row
    n_coarse = indicator.shape[1]
    aggregated = np.diff(indicator.indptr).astype(bool)
    # The candidate of each entry of T: all of it when every node is aggregated (no copy).
    per_entry = candidates if aggregated.all() else candidates[aggregated]
    del aggregated
    columns = indicator.indices
    norms = np.sqrt(np.bincount(columns, per_entry * per_entry, n_coarse))
    values = per_entry / norms[columns]
    # T has the pattern of the aggregation operator: its arrays are reused, not rebuilt from
    # coordinates (at 4M unknowns that churned 300 MB of temporaries that stayed resident).
    tentative = sp.csr_matrix(
        (values, columns, indicator.indptr), shape=(candidates.size, n_coarse), copy=False
    )
    return tentative, norms


def _smoothed_prolongation(
    a: sp.csr_matrix, tentative: sp.csr_matrix, finest: bool
) -> sp.csr_matrix:
    """``P = (I - omega W A) T`` with omega = 4/3, built over blocks of rows and stored as
    ``COARSE_DTYPE`` (P in double was 51 MB of the setup's peak at 4M cells).

    On the finest level ``W`` is the inverse of the rows' absolute sums (pyamg's
    ``weighting='local'``), a Gershgorin bound on the spectral radius of ``D^-1 A``, one pass
    over A: for a grid Laplacian it is twice the diagonal, close to the spectral radius, and
    the Lanczos estimate there took a third of the setup at 1M cells. The coarse (Galerkin)
    operators have positive off-diagonal entries that make that bound loose (19 instead of 15
    iterations at 4M cells), so there ``W = D^-1 / rho`` with rho from a few Lanczos steps.
    """
    if finest:
        weights = _absolute_row_sums(a)
        np.divide(4.0 / 3.0, weights, out=weights, where=weights != 0)
    else:
        diagonal = a.diagonal()
        weights = np.where(diagonal != 0, 1.0 / np.where(diagonal != 0, diagonal, 1), 0.0)
        weights *= 4.0 / 3.0 / _lanczos_max_eigenvalue(a, np.sqrt(weights))
    # nnz(P) <= nnz(A T) + nnz(T) <= nnz(A) + n: 32-bit row pointers when that fits.
    rows_out = _RowsBuffer(
        a.shape[0], tentative.shape[1], max_nnz=a.nnz + a.shape[0], dtype=COARSE_DTYPE
    )
    for rows in _row_blocks(a):
        smoothed = (_row_view(a, rows) @ tentative).tocsr()
        smoothed.data *= np.repeat(weights[rows], np.diff(smoothed.indptr))
        rows_out.append(rows, (_row_view(tentative, rows) - smoothed).tocsr())
    return rows_out.matrix()


class _RowsBuffer:
    """A CSR matrix filled block of rows by block of rows into arrays sized from the blocks
    so far (2 % slack, grown by a quarter if short): stacking the blocks at the end would hold
    the matrix twice (190 MB more at 4M cells)."""

    def __init__(self, n_rows: int, n_cols: int, max_nnz: int, dtype):
        self.shape = (n_rows, n_cols)
        self.index_type = np.int32 if max(max_nnz, n_cols) < 2**31 else np.int64
        self.indptr = np.zeros(n_rows + 1, dtype=self.index_type)
        self.data = np.empty(0, dtype=dtype)
        self.indices = np.empty(0, dtype=self.index_type)
        self.filled = 0

    def append(self, rows: slice, block: sp.csr_matrix) -> None:
        end = self.filled + block.nnz
        if end > self.data.size:
            expected = math.ceil(end / rows.stop * self.shape[0] * 1.02)
            self._grow(max(expected, math.ceil(1.25 * self.data.size), end))
        self.data[self.filled : end] = block.data
        self.indices[self.filled : end] = block.indices
        self.indptr[rows.start + 1 : rows.stop + 1] = block.indptr[1:] + self.filled
        self.filled = end

    def _grow(self, capacity: int) -> None:
        for name in ("data", "indices"):
            old = getattr(self, name)
            new = np.empty(capacity, dtype=old.dtype)
            new[: self.filled] = old[: self.filled]
            setattr(self, name, new)

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix(
            (self.data[: self.filled], self.indices[: self.filled], self.indptr),
            shape=self.shape,
            copy=False,
        )


def _absolute_row_sums(a: sp.csr_matrix) -> np.ndarray:
    """``sum_j |a_ij|`` per row.

    For an M-matrix (positive diagonal, no positive off-diagonal entry: every grounded
    Laplacian) that is ``2 a_ii - sum_j a_ij``, one matrix-vector product (0.26 -> 0.05 s at 4M
    cells); otherwise the absolute values are summed a block of rows at a time (``abs`` of all
    of A at once was the setup's memory peak: 290 MB at 4M cells).
    """
    diagonal = a.diagonal()
    positive_diagonal = np.count_nonzero(diagonal > 0)
    if positive_diagonal == diagonal.size and np.count_nonzero(a.data > 0) == positive_diagonal:
        sums = a @ np.ones(a.shape[1])
        np.subtract(2.0 * diagonal, sums, out=sums)
        return sums
    sums = np.zeros(a.shape[0])
    for rows in _row_blocks(a):
        block = _row_view(a, rows)
        nonempty = np.flatnonzero(np.diff(block.indptr))
        absolute = np.abs(block.data)
        sums[rows][nonempty] = np.add.reduceat(absolute, block.indptr[nonempty])
    return sums


def _row_view(m: sp.csr_matrix, rows: slice) -> sp.csr_matrix:
    """Rows ``rows`` of a CSR matrix sharing its data and indices.

    scipy's row slicing copies them, and so does its constructor for arrays that are views of a
    much larger one (``prune``: 0.19 s of the setup at 4M cells). The arrays are attached to an
    empty matrix of the right shape instead (a valid CSR matrix; only the row pointers are new).
    """
    start, stop = int(m.indptr[rows.start]), int(m.indptr[rows.stop])
    view = sp.csr_matrix((rows.stop - rows.start, m.shape[1]), dtype=m.dtype)
    view.indptr = (m.indptr[rows.start : rows.stop + 1] - start).astype(m.indptr.dtype)
    view.indices = m.indices[start:stop]
    view.data = m.data[start:stop]
    return view


def _row_blocks(a: sp.csr_matrix, block_nnz: int = 1 << 22) -> list[slice]:
    """Row ranges of about ``block_nnz`` non-zeros: sparse products allocate their upper
    bound on the result's size, so products of large matrices are done block by block."""
    n_blocks = max(1, math.ceil(a.nnz / block_nnz))
    bounds = np.linspace(0, a.shape[0], n_blocks + 1).astype(int)
    return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


def _galerkin_product(a: sp.csr_matrix, p: sp.csr_matrix) -> sp.csr_matrix:
    """``P.T A P`` in double, summed over blocks of rows of A (the full ``A P`` is the memory
    peak); P may be stored in single precision."""
    coarse = None
    for rows in _row_blocks(a):
        a_rows = _row_view(a, rows)
        part = _with_values_as(_row_view(p, rows), np.float64).T @ _times_rows_used(a_rows, p)
        coarse = part if coarse is None else coarse + part
    return sp.csr_matrix(coarse)


def _times_rows_used(a_rows: sp.csr_matrix, p: sp.csr_matrix) -> sp.csr_matrix:
    """``a_rows @ p`` in double, converting only the rows of P that ``a_rows`` reaches (its
    column range: a band around the block on a grid) instead of all of P for every block."""
    if a_rows.nnz == 0:
        return sp.csr_matrix((a_rows.shape[0], p.shape[1]))
    low, high = int(a_rows.indices.min()), int(a_rows.indices.max()) + 1
    shifted = sp.csr_matrix((a_rows.shape[0], high - low), dtype=a_rows.dtype)
    shifted.indptr, shifted.data = a_rows.indptr, a_rows.data
    shifted.indices = a_rows.indices - a_rows.indices.dtype.type(low)
    return shifted @ _with_values_as(_row_view(p, slice(low, high)), np.float64)


def _with_values_as(m: sp.csr_matrix, dtype) -> sp.csr_matrix:
    """The matrix with its values converted to ``dtype``, sharing its pattern (scipy's
    ``astype`` first sorts the indices and sums duplicates: 0.17 s of the setup at 4M cells)."""
    return sp.csr_matrix((m.data.astype(dtype), m.indices, m.indptr), shape=m.shape)


class _PermutedSolve:
    """Solves ``A x = b`` through the factor of ``P A P^T`` (``order[k]`` is the node in row k
    of the permuted matrix). A class, not a closure over the solver, so that it holds no
    reference back to it."""

    def __init__(self, solve_permuted, order: np.ndarray):
        self._solve = solve_permuted
        self._order = order
        self._position = np.empty_like(order)
        self._position[order] = np.arange(order.size)

    def __call__(self, rhs: np.ndarray) -> np.ndarray:
        if rhs.ndim == 1:
            return self._solve(rhs[self._order])[self._position]
        # Column by column into Fortran order: what CHOLMOD reads and writes, and columns the
        # residual check reads contiguously.
        solutions = self._solve(self._permuted(rhs))
        out = np.empty(rhs.shape, order="F")
        for k in range(rhs.shape[1]):
            np.take(solutions[:, k], self._position, out=out[:, k])
        return out

    def _permuted(self, rhs: np.ndarray) -> np.ndarray:
        rows, columns = np.nonzero(rhs)
        if rows.size > rhs.shape[0]:
            return np.asfortranarray(rhs[self._order])
        # Unit injections: a few non-zeros per column, scattered into a zero block.
        permuted = np.zeros(rhs.shape, order="F")
        permuted[self._position[rows], columns] = rhs[rows, columns]
        return permuted


class SPDSolver:
    """Factorise (or build the AMG hierarchy of) an SPD matrix once; solve many right-hand sides.

    Parameters
    ----------
    matrix : scipy.sparse matrix, shape (n, n)
        Symmetric positive definite (e.g. a Laplacian with one node grounded per component).
    solver : Solver
        ``AUTO`` picks by size (:func:`choose_solver` with one right-hand side; pass
        ``n_rhs_hint`` when many solves will follow).
    tol : float
        Largest accepted relative residual ``||Ax - b|| / ||b||`` of any column.
    component : int, optional
        Component id, only used in error messages.
    maxiter : int, optional
        Cap on CG iterations (CG_AMG only; default 1000).
    n_rhs_hint : int
        Expected number of right-hand sides, for ``AUTO``.

    Raises
    ------
    ConfigError
        Matrix not square, not finite or not positive definite; CHOLMOD asked but not installed.
    SolverConvergenceError
        From :meth:`solve`, when a column misses ``tol``.

    Examples
    --------
    >>> A = sp.csr_matrix(np.array([[2.0, -1.0], [-1.0, 2.0]]))
    >>> s = SPDSolver(A, solver=Solver.SPLU)
    >>> s.solve(np.array([1.0, 0.0]))
    array([0.66666667, 0.33333333])
    >>> s.info.n_rhs
    1
    """

    def __init__(
        self,
        matrix,
        *,
        solver: Solver = Solver.AUTO,
        tol: float = 1e-8,
        component: int | None = None,
        maxiter: int | None = None,
        n_rhs_hint: int = 1,
    ):
        started = time.perf_counter()
        self._matrix = _as_spd_matrix(matrix)
        self._tol = float(tol)
        self._component = component
        self._maxiter = 1000 if maxiter is None else int(maxiter)
        solver = parse_enum(Solver, solver, field="solver")
        if solver is Solver.AUTO:
            solver = choose_solver(self._matrix.shape[0], n_rhs_hint)
        if solver is Solver.CHOLMOD and _cholmod_module() is None:
            raise ConfigError(
                MISSING_CHOLMOD,
                field="solver",
            )
        self.method = solver
        # A direct method's solve function, or None for CG (a bound method of self stored on
        # self would be a reference cycle, keeping the matrix and the hierarchy alive until
        # the cyclic garbage collector runs: 600 MB at 4M cells while the maps were written).
        self._direct_solve = self._setup(solver)
        self._iterations = 0 if solver is Solver.CG_AMG else None
        self._n_rhs = 0
        self._max_residual = 0.0
        self._seconds = time.perf_counter() - started

    # -- setup -------------------------------------------------------------------------------
    def _setup(self, solver: Solver):
        if solver is Solver.CHOLMOD:
            return self._setup_cholmod()
        if solver is Solver.SPLU:
            return self._setup_splu()
        return self._setup_amg()

    def _setup_cholmod(self):
        cholmod = _cholmod_module()
        order = fill_reducing_order(self._matrix)
        try:
            # The matrix is symmetric: its transpose is the CSC form sharing its arrays (no
            # copy; CHOLMOD reads one triangle).
            if order is None:
                return cholmod.cholesky(self._matrix.T).solve_A
            # A grid: its geometric ordering costs a fraction of CHOLMOD's AMD analysis and
            # gives a factor with fewer flops (docs/solvers.md); CHOLMOD takes no ordering of
            # ours, so it factorises the permuted matrix in its natural order.
            permuted = permute_symmetric(self._matrix, order)
            factor = cholmod.cholesky(permuted.T, ordering_method="natural")
        except cholmod.CholmodNotPositiveDefiniteError as exc:
            raise _not_positive_definite(self._component) from exc
        return _PermutedSolve(factor.solve_A, order)

    def _setup_splu(self):
        try:
            lu = spla.splu(self._matrix.tocsc(), permc_spec="MMD_AT_PLUS_A")
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise _not_positive_definite(self._component) from exc
        return lu.solve

    def _setup_amg(self):
        if np.any(self._matrix.diagonal() <= 0):
            raise _not_positive_definite(self._component)
        try:
            self._hierarchy = _smoothed_aggregation(self._matrix)
        except RuntimeError as exc:  # SuperLU: the coarsest level is singular
            raise _not_positive_definite(self._component) from exc
        release_free_memory()
        return None

    def _apply(self, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Solutions, and their relative residuals when the method already computed them."""
        if self._direct_solve is None:
            return self._cg_columns(rhs)
        return self._direct_solve(rhs), None

    def _cg_columns(self, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        columns = rhs[:, None] if rhs.ndim == 1 else rhs
        residuals = np.zeros(columns.shape[1])
        work = _CGVectors(columns.shape[0])
        if columns.shape[1] == 1:  # the solution itself, not a copy of it into a block
            x, residuals[0] = self._cg_one(np.ascontiguousarray(columns[:, 0]), work)
            return x.reshape(rhs.shape), residuals
        out = np.empty_like(columns)
        for k in range(columns.shape[1]):
            out[:, k], residuals[k] = self._cg_one(np.ascontiguousarray(columns[:, k]), work)
        return out, residuals

    def _cg_one(self, b: np.ndarray, work: _CGVectors) -> tuple[np.ndarray, float]:
        """One right-hand side by CG: the solution and its true relative residual (recomputed
        from A, not CG's recursive one, which drifts)."""
        b_norm = _norm(b)
        if b_norm == 0:
            return np.zeros_like(b), 0.0
        x = self._pcg(b, None, self._tol * CG_SAFETY, work)
        residual = self._true_residual_norm(x, b, work.q) / b_norm
        if residual > self._tol:
            # CG's recursive residual drifted from the true one: polish from where it stopped.
            x = self._pcg(b, x, self._tol * CG_SAFETY / 10, work)
            residual = self._true_residual_norm(x, b, work.q) / b_norm
        return x, residual

    def _true_residual_norm(self, x: np.ndarray, b: np.ndarray, out=None) -> float:
        residual = self._matrix @ x if out is None else _product_into(self._matrix, x, out)
        residual -= b  # in place: one vector less than ``A x - b``
        return _norm(residual)

    def _pcg(self, b: np.ndarray, x0: np.ndarray | None, rtol: float, work: _CGVectors):
        """Preconditioned conjugate gradients from 0 or from ``x0`` (updated in place), stopping
        at ``||r|| <= rtol ||b||``; every vector but x and b is one of ``work``'s."""
        matrix, r, p, q = self._matrix, work.r, work.p, work.q
        if x0 is None:
            x = np.zeros_like(b)
            np.copyto(r, b)
        else:
            x = x0
            np.subtract(b, _product_into(matrix, x, r), out=r)
        limit = (rtol * math.sqrt(_dot(b, b))) ** 2
        z = self._hierarchy.apply(r, work)
        np.copyto(p, z)
        rz = _dot(r, z)
        for _ in range(self._maxiter):
            if _dot(r, r) <= limit:
                break
            _product_into(matrix, p, q)
            alpha = rz / _dot(p, q)
            q *= alpha
            r -= q
            np.multiply(p, alpha, out=q)  # q is free now: alpha p without a new vector
            x += q
            self._iterations += 1
            z = self._hierarchy.apply(r, work)  # q is the V-cycle's residual from here
            rz, rz_old = _dot(r, z), rz
            p *= rz / rz_old
            p += z
        return x

    # -- solving -----------------------------------------------------------------------------
    def solve(self, rhs) -> np.ndarray:
        """Solve ``A x = rhs`` for rhs of shape (n,) or (n, k); x has the same shape.

        Raises
        ------
        ConfigError
            rhs of the wrong length or not finite.
        SolverConvergenceError
            Some column's relative residual is above ``tol``.
        """
        started = time.perf_counter()
        rhs = np.asarray(rhs, dtype=np.float64)
        n = self._matrix.shape[0]
        if rhs.ndim not in (1, 2) or rhs.shape[0] != n:
            raise ConfigError(
                f"right-hand side has shape {rhs.shape}; expected ({n},) or ({n}, k).",
                field="rhs",
            )
        if not np.all(np.isfinite(rhs)):
            raise ConfigError("right-hand side holds NaN or infinite values.", field="rhs")
        try:
            x, residual = self._apply(rhs)
        except RuntimeError as exc:  # SuperLU on a singular (coarse) matrix
            raise _not_positive_definite(self._component) from exc
        x = np.asarray(x, dtype=np.float64).reshape(rhs.shape)
        if residual is None:
            residual = self._relative_residuals(x, rhs)
        for _ in range(REFINEMENT_STEPS if self.method is not Solver.CG_AMG else 0):
            if residual.max(initial=0.0) <= self._tol:
                break
            # Iterative refinement: one more solve with the residual recovers digits that
            # rounding in the factorisation lost (ill-conditioned, high-contrast landscapes).
            correction, _ = self._apply(rhs - self._matrix @ x)
            x = x + np.asarray(correction, dtype=np.float64).reshape(rhs.shape)
            residual = self._relative_residuals(x, rhs)
        worst = float(residual.max(initial=0.0))
        self._n_rhs += 1 if rhs.ndim == 1 else rhs.shape[1]
        self._max_residual = max(self._max_residual, worst)
        self._seconds += time.perf_counter() - started
        if not worst <= self._tol and self._has_floating_component():
            raise _not_positive_definite(self._component)
        if not worst <= self._tol:  # also catches NaN
            raise SolverConvergenceError(
                residual=worst, tol=self._tol, component=self._component, solver=self.method.value
            )
        return x

    def _has_floating_component(self) -> bool:
        """True if some connected block has zero row sums: the constant vector on it is in the
        null space (a Laplacian component without ground), so the matrix is singular."""
        row_sums = np.abs(self._matrix @ np.ones(self._matrix.shape[0]))
        scale = np.abs(self._matrix.diagonal()).max(initial=0.0)
        grounded = row_sums > 1e-12 * scale
        count, labels = connected_components(self._matrix)
        return bool(np.any(np.bincount(labels, weights=grounded, minlength=count) == 0))

    def _relative_residuals(self, x: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        columns = [(x, rhs)] if x.ndim == 1 else [(x[:, k], rhs[:, k]) for k in range(x.shape[1])]
        # Column by column: scipy's product with a block of columns is 2-4 times slower (0.59 s
        # against 0.2 s for 16 columns at 1M unknowns), and norms over axis 0 of a block make
        # squared copies of it.
        r_norm = np.array([self._true_residual_norm(xk, bk) for xk, bk in columns])
        b_norm = np.array([_norm(bk) for _, bk in columns])
        # A zero right-hand side has the exact solution 0: judge it by the absolute residual.
        return np.atleast_1d(np.where(b_norm > 0, r_norm / np.where(b_norm > 0, b_norm, 1), r_norm))

    @property
    def info(self) -> SolveInfo:
        """Cumulative figures of this solver (setup included in ``seconds``)."""
        return SolveInfo(
            solver=self.method.value,
            n_unknowns=int(self._matrix.shape[0]),
            n_rhs=self._n_rhs,
            iterations=self._iterations,
            max_residual=self._max_residual,
            seconds=self._seconds,
        )

    def __repr__(self) -> str:
        i = self.info
        return (
            f"SPDSolver({i.solver}, n={i.n_unknowns:,}, solves={i.n_rhs}, "
            f"max_residual={i.max_residual:.1e}, seconds={i.seconds:.3f})"
        )
