"""One exception root for crossings; each subclass also derives from the matching builtin.

Messages are built from fields so that every error names the file, the field, the bad value and
the fix. The CLI maps these types to exit codes (1 bad input, 3 computation failed).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CrossingsError",
    "ConfigError",
    "InputFileError",
    "GridAlignmentError",
    "SolverConvergenceError",
    "MissingDependencyError",
    "PlanTooLargeError",
    "CrossingsWarning",
    "did_you_mean",
]


def did_you_mean(value: str, allowed: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest allowed value, or ``""``.

    >>> did_you_mean("chol", ["cg_amg", "cholmod"])
    " Did you mean 'cholmod'?"
    """
    match = difflib.get_close_matches(str(value), list(allowed), n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


class CrossingsError(Exception):
    """Root of every error crossings raises on purpose."""


class ConfigError(CrossingsError, ValueError):
    """A configuration value or an input value is invalid.

    Parameters
    ----------
    message : str
        What is wrong and how to fix it.
    source : str, optional
        The file (or other origin) the value came from.
    field : str, optional
        The key, column or parameter that holds the bad value.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.message = message
        self.source = source
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class InputFileError(CrossingsError, OSError):
    """A file is missing, unreadable or has the wrong content."""

    def __init__(self, path: object, problem: str, fix: str = ""):
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.path}: {self.problem}"
        return f"{text}. {self.fix}" if self.fix else text


class GridAlignmentError(CrossingsError, ValueError):
    """Two rasters (or a raster and a grid) do not share shape, transform or CRS."""


class SolverConvergenceError(CrossingsError, RuntimeError):
    """A linear solve missed its residual tolerance."""

    def __init__(self, residual: float, tol: float, component: int | None = None, solver: str = ""):
        self.residual = residual
        self.tol = tol
        self.component = component
        self.solver = solver
        super().__init__(str(self))

    def __str__(self) -> str:
        comp = f" on component {self.component}" if self.component is not None else ""
        other = "splu" if "cholmod" in self.solver.lower() else "cholmod"
        return (
            f"{self.solver or 'solver'} did not converge{comp}: relative residual "
            f"{self.residual:.3e} > tolerance {self.tol:.1e}. Try solver = '{other}', raise the "
            "iteration cap, or check the resistance range (very large contrasts make the system "
            "ill-conditioned)."
        )


class MissingDependencyError(CrossingsError, ImportError):
    """An optional dependency is not installed; the message gives the install command."""


class PlanTooLargeError(CrossingsError, MemoryError):
    """A run would need more memory than allowed; the message names the option that lowers it."""


class CrossingsWarning(UserWarning):
    """Base of every warning crossings emits."""
