"""Optional parts of the test run: the CHOLMOD solver cases.

CHOLMOD (scikit-sparse) builds only where SuiteSparse is installed. Where it does not import,
every test parametrised with the ``cholmod`` solver, or marked ``cholmod``, is skipped with the
reason and the fix (``pytest -rs`` lists them; the summary counts them).

- ``CROSSINGS_REQUIRE_CHOLMOD=1`` (set by ``.ci/run``) turns a missing CHOLMOD into an error, so
  a broken install step cannot hide the CHOLMOD cases.
- ``CROSSINGS_HIDE_CHOLMOD=1`` makes scikit-sparse unimportable in this process, so the suite can
  be run as on a machine without it (``.ci/run`` does so for the solver tests).
"""

from __future__ import annotations

import os
import sys

import pytest

if os.environ.get("CROSSINGS_HIDE_CHOLMOD") == "1":
    # A None entry makes `import sksparse` raise ImportError, as on a machine without it.
    sys.modules["sksparse"] = None
    sys.modules["sksparse.cholmod"] = None

MISSING_CHOLMOD = (
    "CHOLMOD (scikit-sparse) does not import here; to run these cases: apt-get install "
    "libsuitesparse-dev, then pip install 'crossings[cholmod]'"
)


def cholmod_imports() -> bool:
    from crossings.core.solve import Solver, available_solvers

    return Solver.CHOLMOD in available_solvers()


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "cholmod: the test needs the CHOLMOD solver")
    if os.environ.get("CROSSINGS_REQUIRE_CHOLMOD") == "1" and not cholmod_imports():
        raise pytest.UsageError(
            f"CROSSINGS_REQUIRE_CHOLMOD=1 but {MISSING_CHOLMOD} (make logs its install "
            "of it to .venv/cholmod-install.log)"
        )


def _uses_cholmod(item) -> bool:
    if item.get_closest_marker("cholmod") is not None:
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    return any(str(getattr(v, "value", v)).lower() == "cholmod" for v in params.values())


def pytest_collection_modifyitems(config, items) -> None:
    if cholmod_imports():
        return
    skip = pytest.mark.skip(reason=MISSING_CHOLMOD)
    for item in items:
        if _uses_cholmod(item):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def demo_cli_run(tmp_path_factory):
    """``crossings demo --out DIR`` run once per session: (CliRunner result, output folder)."""
    from typer.testing import CliRunner

    from crossings.cli import app

    out = tmp_path_factory.mktemp("demo") / "crossings-out"
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    return result, out
