"""Small synthetic landscapes with known answers, for tests, doctests and benchmarks.

Every builder returns a :class:`Synthetic` landscape in the Central Asian Albers equal-area CRS
with its top-left corner at ``(0, rows * cell_size)``, so cell ``(r, c)`` has its centre at
``((c + 0.5) * cell_size, (rows - r - 0.5) * cell_size)``. Known answers:

- :func:`uniform_strip`: one row of ``n`` cells of resistance ``r``; the effective resistance
  between the end cells is ``(n - 1) * r`` (4 or 8 neighbours alike).
- :func:`uniform_grid`: a rectangle of equal resistances (compare with a dense solve).
- :func:`straight_fence`: a fence through the grid at an angle, leaving it on both sides, with an
  optional gap; closed and without gap it separates the cells on its two sides exactly
  (:func:`side_of_line` tells them apart).
- :func:`ring_fence`: a closed polygonal ring; closed and without gap it separates the cells inside
  (:func:`inside_ring`) from the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from crossings.core.fences import Fence, Opening
from crossings.core.graph import AveragingRule, ConductanceGraph, build_graph
from crossings.core.grid import GridSpec

__all__ = [
    "DEFAULT_CRS",
    "Synthetic",
    "uniform_strip",
    "uniform_grid",
    "straight_fence",
    "ring_fence",
    "side_of_line",
    "inside_ring",
]

#: Central Asian Albers equal-area (DESIGN.md), metres.
DEFAULT_CRS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"


@dataclass(frozen=True)
class Synthetic:
    """A synthetic landscape: grid, resistance, fences and openings.

    Attributes
    ----------
    grid : GridSpec
    resistance : ndarray of float
        Ohms per cell; NaN is NoData.
    fences : tuple of Fence
    openings : tuple of Opening
    description : str
    """

    grid: GridSpec
    resistance: np.ndarray
    fences: tuple[Fence, ...] = ()
    openings: tuple[Opening, ...] = ()
    description: str = ""

    def conductance(self) -> np.ndarray:
        """Cell conductances (1 / resistance; NaN stays NaN)."""
        return 1.0 / self.resistance

    def graph(
        self, connect_four: bool = False, rule: AveragingRule = AveragingRule.AVG_RESISTANCE
    ) -> ConductanceGraph:
        """The conductance graph without fences."""
        return build_graph(self.grid, self.conductance(), connect_four=connect_four, rule=rule)


def _grid(rows: int, cols: int, cell_size: float, crs: str) -> GridSpec:
    return GridSpec.from_origin(0.0, rows * cell_size, cell_size, (rows, cols), crs)


def uniform_strip(
    n_cells: int, *, cell_size: float = 100.0, resistance: float = 1.0, crs: str = DEFAULT_CRS
) -> Synthetic:
    """One row of ``n_cells`` cells of equal resistance.

    >>> strip = uniform_strip(5, resistance=2.0)
    >>> strip.grid.shape, float(strip.resistance.sum())
    ((1, 5), 10.0)
    """
    grid = _grid(1, n_cells, cell_size, crs)
    return Synthetic(
        grid, np.full(grid.shape, float(resistance)), description=f"uniform strip of {n_cells}"
    )


def uniform_grid(
    rows: int,
    cols: int,
    *,
    cell_size: float = 100.0,
    resistance: float = 1.0,
    crs: str = DEFAULT_CRS,
) -> Synthetic:
    """A ``rows x cols`` grid of equal resistance."""
    grid = _grid(rows, cols, cell_size, crs)
    return Synthetic(
        grid, np.full(grid.shape, float(resistance)), description=f"uniform {rows}x{cols} grid"
    )


def straight_fence(
    rows: int,
    cols: int,
    angle: float,
    *,
    offset: float = 0.0,
    permeability: float = 0.0,
    gap_width: float = 0.0,
    gap_shift: float = 0.0,
    gap_permeability: float = 1.0,
    cell_size: float = 100.0,
    crs: str = DEFAULT_CRS,
) -> Synthetic:
    """A uniform grid crossed by a straight fence that leaves it on both sides.

    Parameters
    ----------
    rows, cols : int
    angle : float
        Degrees counter-clockwise from east.
    offset : float
        Metres from the grid centre to the fence, perpendicular to it (to the left of its
        direction).
    permeability : float
        Of the fence (0 = closed).
    gap_width : float
        Width (metres) of one opening; 0 for none.
    gap_shift : float
        Metres along the fence from the point nearest the grid centre to the opening's centre.
    gap_permeability : float
    cell_size : float
    crs : str

    Examples
    --------
    >>> land = straight_fence(10, 10, 30.0, gap_width=200.0)
    >>> land.fences[0].length > 2 * 10 * 100, len(land.openings)
    (True, 1)
    """
    grid = _grid(rows, cols, cell_size, crs)
    theta = math.radians(angle)
    along = np.array([math.cos(theta), math.sin(theta)])
    left = np.array([-along[1], along[0]])
    centre = np.array([cols, rows]) * cell_size / 2 + offset * left
    half = (rows + cols + 4) * cell_size  # longer than the grid's diagonal from any centre
    fence = Fence("fence", [centre - half * along, centre + half * along], permeability, "A-B")
    gap = (centre + gap_shift * along, gap_width, gap_permeability)
    return _one_fence(grid, fence, gap, f"{rows}x{cols} grid, straight fence at {angle} degrees")


def ring_fence(
    rows: int,
    cols: int,
    radius: float,
    *,
    centre: tuple[float, float] | None = None,
    n_vertices: int = 64,
    rotation: float = 0.0,
    permeability: float = 0.0,
    gap_width: float = 0.0,
    gap_permeability: float = 1.0,
    cell_size: float = 100.0,
    crs: str = DEFAULT_CRS,
) -> Synthetic:
    """A uniform grid with a closed ring fence (a regular polygon) inside it.

    Parameters
    ----------
    rows, cols : int
    radius : float
        Metres from the centre to the vertices.
    centre : (float, float), optional
        Metres; the grid centre by default.
    n_vertices : int
        4 with ``rotation=45`` gives a square, 4 with ``rotation=0`` a diamond.
    rotation : float
        Degrees counter-clockwise of the first vertex from east.
    permeability, gap_width, gap_permeability, cell_size, crs
        As in :func:`straight_fence`; the gap is centred on the first vertex.

    Examples
    --------
    >>> land = ring_fence(20, 20, 500.0, n_vertices=4)
    >>> land.fences[0].coords[0].tolist(), land.fences[0].coords[-1].tolist()
    ([1500.0, 1000.0], [1500.0, 1000.0])
    """
    grid = _grid(rows, cols, cell_size, crs)
    if centre is None:
        centre = (cols * cell_size / 2, rows * cell_size / 2)
    angles = np.radians(rotation) + 2 * np.pi * np.arange(n_vertices) / n_vertices
    ring = np.column_stack(
        [centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)]
    )
    # Close exactly on the first vertex (no rounding gap).
    ring = np.vstack([ring, ring[:1]])
    fence = Fence("ring", ring, permeability, "in-out")
    gap = (ring[0], gap_width, gap_permeability)
    return _one_fence(grid, fence, gap, f"{rows}x{cols} grid, ring fence")


def _one_fence(grid: GridSpec, fence: Fence, gap: tuple, description: str) -> Synthetic:
    """A uniform grid with one fence; ``gap = (centre_xy, width, permeability)`` opens it
    (a full gap) when the width is positive.
    """
    centre, width, permeability = gap
    openings = ()
    if width > 0:
        x, y = centre
        opening = Opening(fence.fence_id, float(x), float(y), width, permeability, "full_gap")
        openings = (opening,)
    return Synthetic(grid, np.ones(grid.shape), (fence,), openings, description)


def side_of_line(grid: GridSpec, fence: Fence) -> np.ndarray:
    """Side of each cell centre of the line through the fence's end points.

    Returns +1 (left of the direction first to last vertex), -1 (right) or 0 (on the line,
    within 1e-9 of a cell).
    """
    rows, cols = np.indices(grid.shape)
    x, y = grid.cell_center(rows, cols)
    (x0, y0), (x1, y1) = fence.coords[0], fence.coords[-1]
    length = math.hypot(x1 - x0, y1 - y0)
    distance = ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / length
    side = np.sign(distance).astype(int)
    side[np.abs(distance) < 1e-9 * grid.cell_size] = 0
    return side


def inside_ring(grid: GridSpec, fence: Fence) -> np.ndarray:
    """+1 for cell centres inside the closed fence, -1 outside, 0 on it (within 1e-9 cells)."""
    rows, cols = np.indices(grid.shape)
    x, y = grid.cell_center(rows, cols)
    polygon = shapely.Polygon(fence.coords)
    points = shapely.points(x, y)
    side = np.where(shapely.contains(polygon, points), 1, -1)
    on_line = shapely.distance(shapely.LineString(fence.coords), points) < 1e-9 * grid.cell_size
    side[on_line] = 0
    return side
