"""The ``crossings`` command line: ``crossings <noun> <verb>``, thin shells over the library."""

from __future__ import annotations

import importlib
import importlib.util

import typer

from crossings import __version__
from crossings.cli import common

app = typer.Typer(
    name="crossings",
    help="Connectivity of migratory mammals across Central Asian border fences.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help for the command list: rich's layout costs a third of `crossings --help`
    # (bench/startup.py); each command's own --help keeps rich's panels.
    rich_markup_mode=None,
)


def _version(value: bool):
    if value:
        typer.echo(f"crossings {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
):
    common.set_debug(debug)


def _register() -> None:
    # Each noun lives in its own module; importing here keeps `crossings --help` complete.
    for noun in (
        "run",
        "demo",
        "circuitscape",
        "omniscape",
        "connectivity",
        "plan",
        "tracks",
        "camera",
        "serve",
        "indicators",
        "hotspots",
        "report",
    ):
        if importlib.util.find_spec(f"crossings.cli.{noun}") is None:
            continue
        module = importlib.import_module(f"crossings.cli.{noun}")
        if hasattr(module, "app"):
            app.add_typer(module.app, name=noun)
        elif hasattr(module, "command"):
            app.command(noun)(module.command)


_register()


def main() -> None:
    """Entry point of the ``crossings`` script."""
    import sys

    common.install_warning_printer()
    try:
        app()
    except Exception as error:  # noqa: BLE001 - a command without handle_errors: still one line
        if "--debug" in sys.argv:
            raise
        common.report_unexpected(error, ("crossings " + " ".join(sys.argv[1:3]), []))
        sys.exit(common.EXIT_COMPUTATION)
