"""crossings: connectivity of migratory mammals across Central Asian border fences.

The package is layered (see ``DESIGN.md``): :mod:`crossings.core` computes on arrays and geometry,
:mod:`crossings.io` reads and writes files, :mod:`crossings.cli` is the command line.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
