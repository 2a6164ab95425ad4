"""The CHOLMOD cases: skipped with the fix where scikit-sparse is missing, required in CI."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )


def test_without_cholmod_its_cases_skip_with_the_fix():
    done = _pytest("tests/test_solve.py", "-k", "cholmod", CROSSINGS_HIDE_CHOLMOD="1",
                   CROSSINGS_REQUIRE_CHOLMOD="0")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped" in done.stdout and "apt-get install libsuitesparse-dev" in done.stdout
    assert "pip install 'crossings[cholmod]'" in done.stdout


def test_required_cholmod_that_does_not_import_fails_the_run():
    done = _pytest("--collect-only", "tests/test_cli_common.py", CROSSINGS_HIDE_CHOLMOD="1",
                   CROSSINGS_REQUIRE_CHOLMOD="1")  # fmt: skip
    assert done.returncode != 0
    assert "CROSSINGS_REQUIRE_CHOLMOD=1" in done.stdout + done.stderr
