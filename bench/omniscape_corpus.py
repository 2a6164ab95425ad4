"""Why some Omniscape corpus cases miss 1e-6 cell by cell: the reference's own solver error.

For every corpus case with expected outputs (tests/data/omniscape, MIT) the script runs the case
three ways and prints, per output map, the largest cell-by-cell relative difference (the rule of
tests/test_omniscape_corpus.py: over valid cells, with an absolute floor of 1e-6 of the map's
largest value):

- ``direct``: SuperLU (exact up to rounding), the answer the reference approximates;
- ``cg 1e-6``: our AMG-preconditioned CG asked for relative residual 1e-6, the tolerance of
  Circuitscape.jl's CG (``Krylov.cg(..., rtol=1e-6)``), which Omniscape.jl's default solver
  ``cg+amg`` (and an unknown solver name) uses;
- ``jacobi cg 1e-6``: a plain Jacobi-preconditioned CG (scipy) stopped at the first iterate
  with relative residual 1e-6: an iterate that just meets the reference's stopping rule.

Columns: ``ref-direct`` (reference vs the exact answer), ``amg-direct`` and ``jac-direct`` (how
far a CG result meeting the reference's tolerance lies from the exact answer: the size of error
that tolerance allows) and ``ref-amg`` (reference vs our CG: two different CG iterates). A
negative figure means below the absolute floor.

Run: ``.venv/bin/python bench/omniscape_corpus.py``.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from crossings.core import omniscape as om
from crossings.core.circuit import SolverOptions
from crossings.core.solve import Solver
from crossings.io import omniscape as omniscape_io
from crossings.io.raster import read_raster

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "omniscape"
CASES = {
    "test1": ("config.ini", ["cum_currmap", "flow_potential", "normalized_cum_currmap"]),
    "test1_32bit": ("config_32bit.ini", ["cum_currmap", "flow_potential"]),
    "test2": ("config2.ini", ["cum_currmap"]),
    "test3": ("config3.ini", ["cum_currmap", "flow_potential"]),
    "test4a": ("config4a.ini", ["cum_currmap", "normalized_cum_currmap"]),
    "test5": ("config5.ini", ["cum_currmap"]),
    "test6": ("config6.ini", ["cum_currmap"]),
    "test_reclass": ("config_reclass.ini", ["cum_currmap"]),
}
MAPS = {
    "cum_currmap": "cumulative_current",
    "flow_potential": "flow_potential",
    "normalized_cum_currmap": "normalized_current",
}


def relative(mine: np.ndarray, expected: np.ndarray) -> float:
    valid = np.isfinite(expected) & np.isfinite(mine)
    floor = 1e-6 * np.abs(expected[valid]).max()
    error = np.abs(mine[valid] - expected[valid]) - floor
    return float((error / np.abs(expected[valid]).clip(min=floor)).max())


def run_case(ini: str, solver: SolverOptions) -> om.OmniscapeResult:
    job = omniscape_io.read_job(DATA / "input" / ini, base_dir=DATA)
    job = replace(job, options=replace(job.options, solver=solver))
    inputs = omniscape_io.read_inputs(job)
    return om.omniscape(inputs.layers, job.options)


def _jacobi_cg(solver, b: np.ndarray) -> np.ndarray:
    """Replaces SPDSolver._cg_one: scipy's CG with a Jacobi preconditioner, rtol 1e-6."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    jacobi = sp.diags(1.0 / solver._matrix.diagonal())
    x, _ = spla.cg(solver._matrix, b, rtol=1e-6, M=jacobi, maxiter=100_000)
    return x


def run_jacobi_case(ini: str) -> om.OmniscapeResult:
    from unittest import mock

    from crossings.core.solve import SPDSolver

    # Our residual check is on the true residual; CG's recursive one may end slightly above.
    with mock.patch.object(SPDSolver, "_cg_one", _jacobi_cg):
        return run_case(ini, SolverOptions(Solver.CG_AMG, 1.5e-6))


def main() -> None:
    print(
        f"{'case':13} {'solver in INI':18} {'map':23} {'ref-direct':>10} {'amg-direct':>10} "
        f"{'jac-direct':>10} {'ref-amg':>10}"
    )
    started = time.perf_counter()
    for case, (ini, names) in CASES.items():
        settings = omniscape_io.parse_ini(DATA / "input" / ini)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            direct = run_case(ini, SolverOptions(Solver.SPLU, 1e-12))
            cg = run_case(ini, SolverOptions(Solver.CG_AMG, 1e-6))
            jacobi = run_jacobi_case(ini)
        for name in names:
            expected = read_raster(
                next((DATA / "output_verify" / case).glob(f"{name}.*")), allow_missing_crs=True
            )[1]
            ours, theirs = getattr(direct, MAPS[name]), getattr(cg, MAPS[name])
            plain = getattr(jacobi, MAPS[name])
            print(
                f"{case:13} {settings.get('solver', '(default)'):18} {name:23} "
                f"{relative(ours, expected):>10.1e} {relative(theirs, ours):>10.1e} "
                f"{relative(plain, ours):>10.1e} {relative(theirs, expected):>10.1e}"
            )
    load = os.getloadavg()
    print(f"{time.perf_counter() - started:.1f} s; load average {load[0]:.1f} {load[1]:.1f}")


if __name__ == "__main__":
    main()
