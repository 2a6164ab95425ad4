"""Debian's Chromium for the Playwright tests: its path, or a skip that says why.

A chromium on PATH that cannot start (a leftover binary whose libraries are gone) skips with the
loader's message instead of erroring at launch. ``CROSSINGS_REQUIRE_BROWSER=1`` (set by
``.ci/run``) turns every such skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _problem(path: str | None) -> str:
    if path is None:
        return "Debian's chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install 'crossings[test]')"
    probe = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines()
        return f"{path} does not start ({lines[-1] if lines else f'exit {probe.returncode}'})"
    return ""


def chromium_or_skip() -> str:
    """The path of a Chromium that starts; skip (or fail when required) otherwise."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = _problem(path)
    if problem:
        if os.environ.get("CROSSINGS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{problem} -- CROSSINGS_REQUIRE_BROWSER=1 requires it")
        pytest.skip(problem)
    return path
