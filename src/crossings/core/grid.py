"""GridSpec: the shape, north-up affine transform and CRS of a raster, and alignment checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crossings.errors import GridAlignmentError

__all__ = ["GridSpec", "check_aligned"]


@dataclass(frozen=True, slots=True)
class GridSpec:
    """A north-up raster grid.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols)``.
    transform : tuple of float
        Affine coefficients ``(a, b, c, d, e, f)`` as in rasterio: ``x = a*col + b*row + c`` and
        ``y = d*col + e*row + f`` for the corner of a cell. North-up grids have ``b = d = 0`` and
        ``e < 0``.
    crs : str
        The CRS as WKT, PROJ string or authority code. Distances are in the CRS's units (metres
        for the projected CRS crossings analyses in).

    Examples
    --------
    >>> g = GridSpec((2, 3), (1000.0, 0.0, 0.0, 0.0, -1000.0, 2000.0), "EPSG:3857")
    >>> g.cell_size
    1000.0
    >>> g.cell_center(0, 0)
    (500.0, 1500.0)
    >>> g.rowcol(2500.0, 600.0)
    (1, 2)
    """

    shape: tuple[int, int]
    transform: tuple[float, float, float, float, float, float]
    crs: str

    def __post_init__(self):
        rows, cols = self.shape
        if rows < 1 or cols < 1:
            raise GridAlignmentError(f"grid shape must be positive; got {self.shape}")
        a, b, _, d, e, _ = self.transform
        if b != 0 or d != 0:
            raise GridAlignmentError(
                f"only north-up grids are supported; transform has rotation terms b={b}, d={d}. "
                "Warp the raster to a north-up grid first (gdalwarp)."
            )
        if not math.isclose(abs(a), abs(e), rel_tol=1e-6):
            raise GridAlignmentError(
                f"cells must be square; got width {a} and height {abs(e)}. Resample the raster."
            )

    @classmethod
    def from_origin(cls, west: float, north: float, cell_size: float, shape, crs: str):
        """Grid whose top-left corner is ``(west, north)`` with square cells of ``cell_size``."""
        return cls(tuple(shape), (cell_size, 0.0, west, 0.0, -cell_size, north), crs)

    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def cols(self) -> int:
        return self.shape[1]

    @property
    def cell_size(self) -> float:
        return abs(self.transform[0])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)``."""
        a, _, c, _, e, f = self.transform
        xs = (c, c + a * self.cols)
        ys = (f, f + e * self.rows)
        return min(xs), min(ys), max(xs), max(ys)

    def cell_center(self, row, col):
        """Centre coordinates of cell ``(row, col)`` (scalars or arrays)."""
        a, _, c, _, e, f = self.transform
        x, y = c + a * (np.asarray(col) + 0.5), f + e * (np.asarray(row) + 0.5)
        if np.ndim(x) == 0:
            return float(x), float(y)
        return x, y

    def rowcol(self, x, y):
        """Row and column of the cell containing ``(x, y)`` (floored; may be outside the grid)."""
        a, _, c, _, e, f = self.transform
        col = np.floor((np.asarray(x) - c) / a).astype(int)
        row = np.floor((np.asarray(y) - f) / e).astype(int)
        if np.ndim(row) == 0:
            return int(row), int(col)
        return row, col

    def to_grid_coords(self, x, y):
        """Continuous ``(col, row)`` coordinates where cell centres sit at integers."""
        a, _, c, _, e, f = self.transform
        return (np.asarray(x) - c) / a - 0.5, (np.asarray(y) - f) / e - 0.5

    def aligned_with(self, other: GridSpec, tol: float = 1e-6) -> bool:
        """True when both grids have the same shape, transform and CRS."""
        same_transform = np.allclose(
            self.transform, other.transform, rtol=0, atol=tol * self.cell_size
        )
        return self.shape == other.shape and same_transform and self.crs == other.crs


def check_aligned(reference: GridSpec, other: GridSpec, *, name: str, reference_name: str) -> None:
    """Raise GridAlignmentError naming both layers and the fix when the grids differ."""
    if reference.aligned_with(other):
        return
    differences = []
    if reference.shape != other.shape:
        differences.append(f"shape {other.shape} vs {reference.shape}")
    if not np.allclose(reference.transform, other.transform):
        differences.append(f"transform {other.transform} vs {reference.transform}")
    if reference.crs != other.crs:
        differences.append("CRS differs")
    raise GridAlignmentError(
        f"{name} does not align with {reference_name}: {'; '.join(differences)}. "
        f"Resample {name} onto the grid of {reference_name} (same extent, cell size and CRS)."
    )
