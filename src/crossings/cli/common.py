"""Shared CLI plumbing: exit codes, one-line errors, progress bars, --debug."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from crossings.errors import ConfigError, CrossingsError, InputFileError, SolverConvergenceError

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_COMPUTATION, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}


def set_debug(debug: bool) -> None:
    _state["debug"] = debug


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print warnings as one line, without the source location (kept under ``--debug``)."""
    where = f" ({filename}:{lineno})" if _state["debug"] else ""
    err_console.print(f"warning: {message}{where}", style="yellow", highlight=False, soft_wrap=True)


def install_warning_printer() -> None:
    """Route Python warnings through :func:`show_warning` for the rest of the process."""
    warnings.showwarning = show_warning


def available_memory_bytes() -> int:
    """Memory the operating system reports as available (MemAvailable), else total RAM."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def exit_code_for(error: BaseException) -> int:
    """Map an exception type (never its text) to the documented exit code."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, SolverConvergenceError):
        return EXIT_COMPUTATION
    if isinstance(error, (ConfigError, InputFileError, CrossingsError)):
        return EXIT_BAD_INPUT
    return EXIT_COMPUTATION


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn crossings errors into one line on stderr and the matching exit code."""
    try:
        yield
    except (CrossingsError, KeyboardInterrupt) as error:
        if _state["debug"]:
            raise
        if isinstance(error, KeyboardInterrupt):
            err_console.print("interrupted: no output was half-written", style="yellow")
        else:
            err_console.print(f"error: {error}", style="red", highlight=False, soft_wrap=True)
        raise typer.Exit(exit_code_for(error)) from None


def progress() -> Progress:
    """A rich progress bar that stays quiet when stderr is not a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
        disable=not sys.stderr.isatty(),
    )
