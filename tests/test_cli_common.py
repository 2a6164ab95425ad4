"""CLI plumbing: warnings are one line without source paths; errors map to exit codes by type."""

import subprocess
import sys

from crossings.cli.common import EXIT_BAD_INPUT, EXIT_COMPUTATION, EXIT_INTERRUPTED, exit_code_for
from crossings.errors import ConfigError, InputFileError, SolverConvergenceError


def test_warnings_print_as_one_line_without_the_source_location():
    code = (
        "import warnings\n"
        "from crossings.cli import common\n"
        "from crossings.errors import CrossingsWarning\n"
        "common.install_warning_printer()\n"
        "warnings.warn('fence f7 lies outside the grid', CrossingsWarning)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "warning: fence f7 lies outside the grid"


def test_exit_codes_follow_the_error_type():
    assert exit_code_for(ConfigError("bad")) == EXIT_BAD_INPUT
    assert exit_code_for(InputFileError("x.tif", "missing")) == EXIT_BAD_INPUT
    assert exit_code_for(SolverConvergenceError(1e-2, 1e-8)) == EXIT_COMPUTATION
    assert exit_code_for(KeyboardInterrupt()) == EXIT_INTERRUPTED


def test_the_command_line_starts_without_the_heavy_libraries():
    """`crossings --help` / `--version` stay fast: no analysis library loads at start-up."""
    heavy = ("numpy", "pandas", "scipy", "rasterio", "geopandas", "pyproj", "shapely",
             "matplotlib", "sqlalchemy", "fastapi", "dask", "rich.progress")  # fmt: skip
    code = f"import sys, crossings.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
