"""Shared CLI plumbing: exit codes, one-line errors, progress bars, --debug."""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import typer
from rich.console import Console

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
    """Route Python warnings through :func:`show_warning`, and jobs' notes to stderr."""
    warnings.showwarning = show_warning
    show_job_notes()


def show_job_notes() -> None:
    """Print what jobs log at INFO and above (their plans) on stderr, once per process."""
    logger = logging.getLogger("crossings")
    if not any(isinstance(h, _NoteHandler) for h in logger.handlers):
        logger.addHandler(_NoteHandler())
        logger.setLevel(logging.INFO)


class _NoteHandler(logging.Handler):
    """Jobs log what a user should read before a long run (its plan) at INFO level."""

    def emit(self, record: logging.LogRecord) -> None:
        style = "yellow" if record.levelno >= logging.WARNING else None
        err_console.print(record.getMessage(), style=style, highlight=False, soft_wrap=True)


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
    show_job_notes()
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
    except (typer.Exit, typer.Abort, _click().exceptions.ClickException):
        raise
    except Exception as error:  # noqa: BLE001 - the last line of defence: never a traceback
        if _state["debug"]:
            raise
        report_unexpected(error, _command_and_inputs())
        raise typer.Exit(EXIT_COMPUTATION) from None


def _click():
    """The click typer runs on (recent typer vendors its own copy as ``typer._click``)."""
    import types

    try:
        from typer._click import exceptions, globals
    except ImportError:
        from click import exceptions, globals
    return types.SimpleNamespace(
        exceptions=exceptions, get_current_context=globals.get_current_context
    )


def _command_and_inputs() -> tuple[str, list[str]]:
    """The running command (``crossings tracks rank``) and the files among its arguments."""
    context = _click().get_current_context(silent=True)
    if context is None:
        return "crossings", []
    # Path parameters hold Path objects or, before typer converts them, their text.
    values = [v for v in context.params.values() if isinstance(v, (str, Path)) and v]
    files = [str(v) for v in values if Path(v).exists()]
    return context.command_path, files


def report_unexpected(error: BaseException, where: tuple[str, list[str]]) -> None:
    """One line for an error crossings did not foresee: what ran, on what, and what to do."""
    command, files = where
    reading = f" on {', '.join(files)}" if files else ""
    detail = (str(error).strip().splitlines() or [""])[0][:200]
    err_console.print(
        f"error: {command}{reading} failed unexpectedly ({type(error).__name__}: {detail}). "
        "This is a bug in crossings: rerun with --debug and report it.",
        style="red",
        highlight=False,
        soft_wrap=True,
    )


def progress():
    """A rich progress bar that stays quiet when stderr is not a terminal."""
    # rich.progress costs a tenth of the start-up: only commands that run import it.
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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


@contextlib.contextmanager
def job_progress(description: str) -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar and the ``progress(stage, done, total)`` callback a job drives it with."""
    with progress() as bar:
        task = bar.add_task(description, total=None)

        def update(stage: str, done: int, total: int | None) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        yield update


def run_toml_job(name: str, config: Path, out: Path, *, what: str) -> None:
    """Run the job ``name`` from a TOML file with a progress bar, then print its summary."""
    from crossings.jobs import get
    from crossings.jobs.base import read_toml

    job = get(name)
    with handle_errors():
        data = read_toml(config, what=what)
        settings = job.Config.from_mapping(data, source=config, base_dir=config.parent)
        with progress() as bar:
            task = bar.add_task(name, total=None)

            def report(stage: str, done: int, total: int | None) -> None:
                bar.update(task, description=stage, completed=done, total=total)

            record = job.run(settings, out, report)
    for line in record.figures.get("summary", ()):
        console.print(line, highlight=False)
    console.print(
        f"{len(record.outputs)} file(s) in {out} (sensitivity {record.sensitivity})",
        highlight=False,
    )
