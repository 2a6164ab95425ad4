"""The core layer must stay free of I/O, CLI and web libraries (DESIGN.md)."""

import subprocess
import sys

FORBIDDEN = ("rasterio", "typer", "fastapi", "pyogrio", "geopandas", "matplotlib")


def test_importing_core_loads_no_io_cli_or_web_library():
    code = (
        "import importlib, pkgutil, sys, crossings.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__):\n"
        "    importlib.import_module('crossings.core.' + m.name)\n"
        f"print(','.join(n for n in {FORBIDDEN!r} if n in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"crossings.core imported: {out.stdout.strip()}"
