"""Optional parts the tests use (PostGIS, Chromium, PDF tools, OpenCV): a skip that says why.

``.ci/run`` installs every part and sets ``CROSSINGS_REQUIRE_<PART>=1``, which turns the part's
skip into a failure, so CI proves the tests ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import NoReturn

import pytest


def missing(problem: str, flag: str) -> NoReturn:
    """Skip for a missing optional part; fail instead when the environment sets `flag` to 1."""
    if os.environ.get(flag) == "1":
        pytest.fail(f"{problem} -- {flag}=1 requires it")
    pytest.skip(problem)


def _chromium_problem(path: str | None) -> str:
    if path is None:
        return "Debian's chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install 'crossings[test]')"
    # A leftover binary whose libraries are gone must skip with the loader's message, not error
    # at launch.
    probe = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines()
        return f"{path} does not start ({lines[-1] if lines else f'exit {probe.returncode}'})"
    return ""


def chromium_or_skip() -> str:
    """The path of a Chromium that starts (Debian's, driven by Playwright)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = _chromium_problem(path)
    if problem:
        missing(problem, "CROSSINGS_REQUIRE_BROWSER")
    return path
