"""Omniscape's moving-window omnidirectional connectivity, one window at a time.

This follows Omniscape.jl (McRae et al.; Landau et al. 2021, commit 35deaf1) step by step, so
that its test corpus is reproduced, quirks included:

* Targets sit at the centre of every ``block_size`` x ``block_size`` block (odd sizes; an even
  size is raised by one with a warning) whose sources sum to more than zero; the block sum is
  the target's strength in amperes.
* The window around a target is the square of half-width ``radius + buffer`` clipped to the
  grid; conductances outside the circle of that radius are NoData. Sources are the cells within
  ``radius`` of the target. Omniscape then zeroes the sources of the target block at the
  window's *nominal* centre (``radius + buffer`` from its top-left corner), which differs from
  the target's position in windows clipped by the grid's top or left edge; this is kept.
* The target strength is shared among the window's sources in proportion to their strengths;
  conditional connectivity then removes the sources whose conditions do not match the target's
  (after the sharing, as Omniscape does: the injected total can fall below the strength).
* The target is a direct ground; the window is solved as Circuitscape's advanced mode with
  average-conductance edges, and the node currents are summed into the map.
* Flow potential repeats the solve on the same sources with every cell of the (rectangular)
  window at conductance 1; ``correct_artifacts`` multiplies each window's currents by the
  block-artifact correction of :func:`artifact_correction`.

Beyond Omniscape.jl: fences cut graph edges inside every window (``edge_factors``), targets may
come from their own layer (:attr:`OmniscapeLayers.targets`), sources may be weighted by a
distance-decay kernel (:class:`DistanceDecay`), and windows can be solved in any order by any
executor (:func:`window_bounds`, :func:`solve_window`, :func:`accumulate`).
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from crossings.core.circuit import RemovePolicy, SolverOptions, advanced
from crossings.core.graph import DIRECTIONS, AveragingRule, build_graph
from crossings.core.grid import GridSpec
from crossings.core.solve import Solver
from crossings.errors import ConfigError, CrossingsWarning

__all__ = [
    "Comparison",
    "Condition",
    "DecayKernel",
    "DistanceDecay",
    "EdgeFactors",
    "OmniscapeLayers",
    "OmniscapeOptions",
    "OmniscapeResult",
    "Precision",
    "Targets",
    "WindowResult",
    "accumulate",
    "artifact_correction",
    "finish",
    "find_targets",
    "omniscape",
    "reclassify",
    "solve_window",
    "source_from_resistance",
    "window_bounds",
]

#: Circuitscape drops branch currents below this fraction of the window's largest one.
BRANCH_CURRENT_CUTOFF = 1e-8


class Precision(enum.Enum):
    """Floating-point precision of the inputs, the window currents and the sums."""

    DOUBLE = "double"
    SINGLE = "single"

    @property
    def dtype(self):
        return np.float64 if self is Precision.DOUBLE else np.float32


class Comparison(enum.Enum):
    """How a source's condition is compared with its target's."""

    WITHIN = "within"
    EQUAL = "equal"


class DecayKernel(enum.Enum):
    """Shape of the distance-decay weight of a source at distance ``d`` (cells) from its target."""

    NEGATIVE_EXPONENTIAL = "negative_exponential"
    GAUSSIAN = "gaussian"


@dataclass(frozen=True, slots=True)
class DistanceDecay:
    """Weight sources by their distance to the target before the target strength is shared.

    ``negative_exponential``: ``w = exp(-ln 2 * d / half_distance)``; ``gaussian``:
    ``w = exp(-ln 2 * (d / half_distance) ** 2)``. Both are 1 at the target and 0.5 at
    ``half_distance`` (in cells, like ``radius``).

    >>> DistanceDecay(DecayKernel.NEGATIVE_EXPONENTIAL, 10).weights(np.array([0.0, 10.0, 20.0]))
    array([1.  , 0.5 , 0.25])
    """

    kernel: DecayKernel
    half_distance: float

    def __post_init__(self):
        if not self.half_distance > 0:
            raise ConfigError(
                f"half_distance must be > 0 cells; got {self.half_distance}",
                field="decay.half_distance",
            )

    def weights(self, distance: np.ndarray) -> np.ndarray:
        scaled = np.asarray(distance, dtype=float) / self.half_distance
        if self.kernel is DecayKernel.GAUSSIAN:
            scaled = scaled**2
        return np.exp(-math.log(2.0) * scaled)


@dataclass(frozen=True)
class Condition:
    """One condition layer of conditional connectivity.

    Attributes
    ----------
    present : ndarray
        Condition at the sources (NaN = unknown: such sources are kept, as in Omniscape).
    future : ndarray
        Condition at the targets (the same array when not comparing to the future).
    comparison : Comparison
        ``WITHIN``: keep sources with ``lower <= present - target_value <= upper``, where the
        target value is the median of ``future`` over the target block; ``EQUAL``: keep sources
        whose ``present`` equals the block's mode.
    lower, upper : float
    """

    present: np.ndarray
    future: np.ndarray
    comparison: Comparison = Comparison.WITHIN
    lower: float = 0.0
    upper: float = 0.0


@dataclass(frozen=True)
class EdgeFactors:
    """Conductance factors of single graph edges (fence cuts), in grid coordinates.

    ``direction[k]`` indexes :data:`crossings.core.graph.DIRECTIONS`; the edge starts at cell
    ``(row[k], col[k])`` and its conductance is multiplied by ``factor[k]`` in every window
    that holds both of its cells. Build from fences with :func:`crossings.core.barriers.
    fence_edge_cuts` and :func:`crossings.core.barriers.edge_factors`.
    """

    direction: np.ndarray
    row: np.ndarray
    col: np.ndarray
    factor: np.ndarray

    @classmethod
    def none(cls) -> EdgeFactors:
        ints = np.zeros(0, dtype=np.int64)
        return cls(ints, ints.copy(), ints.copy(), np.zeros(0))

    def __len__(self) -> int:
        return len(self.direction)

    def shifted(self, row_offset: int, col_offset: int, shape=None) -> EdgeFactors:
        """The cuts in the coordinates of a sub-array starting at the given offset.

        With ``shape``, only the edges starting inside the sub-array are kept (a window's graph
        holds no other).
        """
        row, col = self.row - row_offset, self.col - col_offset
        if shape is None:
            return EdgeFactors(self.direction, row, col, self.factor)
        keep = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
        return EdgeFactors(self.direction[keep], row[keep], col[keep], self.factor[keep])


@dataclass(frozen=True)
class OmniscapeOptions:
    """Settings of an Omniscape run (Omniscape.jl's names; cells as length unit).

    Attributes
    ----------
    radius : int
        Radius of the moving window in cells.
    block_size : int
        Targets are the centres of ``block_size`` x ``block_size`` blocks (odd; even is raised
        by one with a warning).
    buffer : int
        Extra cells of landscape around the source circle (grounds current far from sources).
    resistance_is_conductance : bool
    connect_four : bool
        Four neighbours instead of eight.
    calc_flow_potential, calc_normalized_current, correct_artifacts, mask_nodata : bool
        As in Omniscape.jl; ``mask_nodata`` gives NaN where the resistance is NoData.
    precision : Precision
        ``SINGLE`` rounds inputs, window currents and sums to float32 (half the memory).
    solver : SolverOptions
    decay : DistanceDecay, optional
        Weight sources by distance to the target (not in Omniscape.jl).
    """

    radius: int
    block_size: int = 1
    buffer: int = 0
    resistance_is_conductance: bool = False
    connect_four: bool = False
    calc_flow_potential: bool = False
    calc_normalized_current: bool = False
    correct_artifacts: bool = True
    mask_nodata: bool = True
    precision: Precision = Precision.DOUBLE
    solver: SolverOptions = field(default_factory=lambda: SolverOptions(Solver.SPLU))
    decay: DistanceDecay | None = None

    def __post_init__(self):
        for name in ("radius", "block_size", "buffer"):
            value = getattr(self, name)
            if int(value) != value:
                raise ConfigError(f"must be a whole number of cells; got {value}", field=name)
            object.__setattr__(self, name, int(value))
        if self.radius < 1:
            raise ConfigError(f"must be >= 1 cell; got {self.radius}", field="radius")
        if self.block_size < 1:
            raise ConfigError(f"must be >= 1 cell; got {self.block_size}", field="block_size")
        if self.buffer < 0:
            raise ConfigError(f"must be >= 0 cells; got {self.buffer}", field="buffer")
        if self.block_size % 2 == 0:
            warnings.warn(
                f"block_size is even ({self.block_size}), but must be odd: using "
                f"{self.block_size + 1}.",
                CrossingsWarning,
                stacklevel=3,
            )
            object.__setattr__(self, "block_size", self.block_size + 1)
        if self.block_radius > self.radius:
            raise ConfigError(
                f"block_size {self.block_size} is wider than the window (radius {self.radius}); "
                f"use block_size <= {2 * self.radius + 1}.",
                field="block_size",
            )

    @property
    def block_radius(self) -> int:
        return (self.block_size - 1) // 2

    @property
    def reach(self) -> int:
        """Half-width of a window: ``radius + buffer``."""
        return self.radius + self.buffer

    @property
    def wants_flow_potential(self) -> bool:
        return self.calc_flow_potential or self.calc_normalized_current

    @property
    def corrects(self) -> bool:
        return self.correct_artifacts and self.block_size > 1


@dataclass(frozen=True)
class OmniscapeLayers:
    """Input arrays of a run, or of the part of it one task reads.

    Attributes
    ----------
    conductance : ndarray
        Cell conductance, NaN for NoData.
    sources : ndarray
        Source strength (0 = none).
    targets : ndarray, optional
        Target strength; by default the sources (Omniscape.jl). With a separate layer, targets
        are only where it is > 0 and their strength is its block sum.
    conditions : tuple of Condition
    edge_factors : EdgeFactors
        Fence cuts, in the coordinates of these arrays.
    grid_shape : tuple of int, optional
        Shape of the whole grid when these arrays are a part of it (default: their own shape).
    offset : tuple of int
        Row and column of ``conductance[0, 0]`` in the whole grid.
    """

    conductance: np.ndarray
    sources: np.ndarray
    targets: np.ndarray | None = None
    conditions: tuple[Condition, ...] = ()
    edge_factors: EdgeFactors = field(default_factory=EdgeFactors.none)
    grid_shape: tuple[int, int] | None = None
    offset: tuple[int, int] = (0, 0)

    def __post_init__(self):
        shape = self.conductance.shape
        arrays = {"sources": self.sources, "targets": self.targets}
        for number, condition in enumerate(self.conditions, start=1):
            arrays[f"condition{number}"] = condition.present
            arrays[f"condition{number}_future"] = condition.future
        for name, array in arrays.items():
            if array is not None and array.shape != shape:
                raise ConfigError(
                    f"{name} has shape {array.shape} but the resistance has {shape}; give "
                    "every layer the grid of the resistance.",
                    field=name,
                )
        if self.grid_shape is None:
            object.__setattr__(self, "grid_shape", tuple(shape))

    @property
    def target_strength(self) -> np.ndarray:
        return self.sources if self.targets is None else self.targets

    def part(self, rows: slice, cols: slice) -> OmniscapeLayers:
        """The layers over ``rows`` x ``cols`` of these arrays (whole-grid coordinates kept)."""
        r0, c0 = rows.start, cols.start

        def cut(array):
            return None if array is None else array[rows, cols]

        conditions = tuple(
            replace(c, present=cut(c.present), future=cut(c.future)) for c in self.conditions
        )
        return OmniscapeLayers(
            cut(self.conductance),
            cut(self.sources),
            cut(self.targets),
            conditions,
            self.edge_factors.shifted(r0, c0, self.conductance[rows, cols].shape),
            self.grid_shape,
            (self.offset[0] + r0, self.offset[1] + c0),
        )


@dataclass(frozen=True)
class Targets:
    """Target cells (whole-grid row, column) and their strengths in amperes."""

    row: np.ndarray
    col: np.ndarray
    amps: np.ndarray

    def __len__(self) -> int:
        return len(self.row)

    def take(self, index) -> Targets:
        return Targets(self.row[index], self.col[index], self.amps[index])


@dataclass(frozen=True)
class WindowResult:
    """Currents of one window, placed at ``(row0, col0)`` of the whole grid."""

    row0: int
    col0: int
    current: np.ndarray
    flow_potential: np.ndarray | None
    residual: float


@dataclass(frozen=True)
class OmniscapeResult:
    """Omniscape's maps (NaN on NoData cells when ``mask_nodata``).

    Attributes
    ----------
    cumulative_current : ndarray
    flow_potential : ndarray or None
    normalized_current : ndarray or None
        ``cumulative_current / flow_potential`` (0 where both are 0).
    n_targets : int
    """

    cumulative_current: np.ndarray
    flow_potential: np.ndarray | None
    normalized_current: np.ndarray | None
    n_targets: int

    def __repr__(self) -> str:
        rows, cols = self.cumulative_current.shape
        total = float(np.nansum(self.cumulative_current))
        return f"OmniscapeResult({rows} x {cols}, {self.n_targets} targets, sum {total:.6g})"


# ----------------------------------------------------------------------------------------------
# Layers


def source_from_resistance(
    resistance: np.ndarray, r_cutoff: float = math.inf, *, resistance_is_conductance=False
) -> np.ndarray:
    """Omniscape's sources from resistance: ``1 / r`` where ``r <= r_cutoff``, else 0.

    >>> source_from_resistance(np.array([[1.0, 4.0, np.nan]]), 2.0).tolist()
    [[1.0, 0.0, 0.0]]
    """
    values = np.asarray(resistance)
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = values if resistance_is_conductance else 1.0 / values
        cutoff = 1.0 / r_cutoff if r_cutoff != 0 else math.inf
        keep = np.isfinite(strength) & (strength >= cutoff)
    return np.where(keep, strength, 0.0).astype(values.dtype, copy=False)


def reclassify(values: np.ndarray, table: Sequence[tuple[float, float]]) -> np.ndarray:
    """Replace each ``old`` value by ``new`` (NaN = NoData); lookups use the original values.

    >>> reclassify(np.array([[1.0, 2.0, 3.0]]), [(1, 2), (2, 5), (3, np.nan)]).tolist()
    [[2.0, 5.0, nan]]
    """
    original = np.asarray(values)
    out = original.copy()
    for old, new in table:
        out[original == old] = new
    return out


def find_targets(strength: np.ndarray, block_size: int, *, offset=(0, 0), grid_shape=None):
    """Omniscape's targets: block centres on a ``block_size`` lattice with a positive block sum.

    ``strength`` may be part of a grid (``offset``, ``grid_shape``); only targets whose centre
    lies in it are returned, with whole-grid coordinates, and their block must lie in it too.

    >>> t = find_targets(np.ones((6, 7)), 3)
    >>> t.row.tolist(), t.col.tolist(), t.amps.tolist()
    ([1, 1, 4, 4], [1, 4, 1, 4], [9.0, 9.0, 9.0, 9.0])
    """
    nrows, ncols = strength.shape if grid_shape is None else grid_shape
    radius = (block_size - 1) // 2
    rows = np.arange(radius, nrows - radius, block_size)
    cols = np.arange(radius, ncols - radius, block_size)
    r0, c0 = offset
    h, w = strength.shape
    rows = rows[(rows >= r0) & (rows < r0 + h)]
    cols = cols[(cols >= c0) & (cols < c0 + w)]
    clean = np.nan_to_num(np.asarray(strength, dtype=np.float64), nan=0.0)
    # Blocks tile the lattice without overlap and never reach past the grid's last row/column.
    local_rows, local_cols = rows - r0 - radius, cols - c0 - radius
    if not (local_rows.size and local_cols.size):
        return Targets(*(np.zeros(0, dtype=np.int64),) * 2, np.zeros(0))
    if (
        local_rows[0] < 0
        or local_cols[0] < 0
        or local_rows[-1] + block_size > h
        or (local_cols[-1] + block_size > w)
    ):
        raise ConfigError(
            f"the part of the grid at {offset} ({h} x {w}) cuts target blocks; align parts to "
            f"multiples of block_size ({block_size}).",
            field="tiles",
        )
    part = clean[
        local_rows[0] : local_rows[-1] + block_size, local_cols[0] : local_cols[-1] + block_size
    ]
    amps = np.add.reduceat(
        np.add.reduceat(part, np.arange(0, part.shape[0], block_size), 0),
        np.arange(0, part.shape[1], block_size),
        1,
    )
    grid_r, grid_c = np.meshgrid(rows, cols, indexing="ij")
    keep = amps > 0
    return Targets(grid_r[keep], grid_c[keep], amps[keep])


def window_bounds(row: int, col: int, options: OmniscapeOptions, grid_shape) -> tuple[int, ...]:
    """``(row0, row1, col0, col1)``: the window of the target at ``(row, col)``, end-exclusive.

    >>> window_bounds(1, 10, OmniscapeOptions(radius=3, buffer=1), (30, 30))
    (0, 6, 6, 15)
    """
    nrows, ncols = grid_shape
    reach = options.reach
    return (
        max(row - reach, 0),
        min(row + reach, nrows - 1) + 1,
        max(col - reach, 0),
        min(col + reach, ncols - 1) + 1,
    )


# ----------------------------------------------------------------------------------------------
# One window


def _distances(shape, row: int, col: int) -> np.ndarray:
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return np.sqrt((rows - row) ** 2.0 + (cols - col) ** 2.0)


def _window_sources(layers, options, target_row, target_col, amps, bounds, distance):
    """Omniscape's ``get_source``: window sources scaled to share the target's strength."""
    r0, r1, c0, c1 = bounds
    lr, lc = r0 - layers.offset[0], c0 - layers.offset[1]
    sources = np.array(layers.sources[lr : lr + r1 - r0, lc : lc + c1 - c0], dtype=np.float64)
    sources[~np.isfinite(sources) | (distance > options.radius)] = 0.0
    nrows, ncols = layers.grid_shape
    centre, br = options.reach, options.block_radius
    # Omniscape zeroes the block at the window's nominal centre (see the module docstring).
    sources[
        centre - br : min(centre + br + 1, nrows), centre - br : min(centre + br + 1, ncols)
    ] = 0
    if options.decay is not None:
        sources *= options.decay.weights(distance)
    positive = sources > 0
    total = sources[positive].sum()
    if total > 0:
        sources[positive] = sources[positive] * amps / total
    for condition in layers.conditions:
        _match_condition(sources, condition, layers, options, target_row, target_col, (lr, lc))
    return sources


def _match_condition(sources, condition, layers, options, target_row, target_col, local):
    """Omniscape's ``source_target_match!`` for one condition (in place)."""
    nrows, ncols = layers.grid_shape
    br = options.block_radius
    tr, tc = target_row - layers.offset[0], target_col - layers.offset[1]
    block = condition.future[
        tr - br : min(target_row + br, nrows - 1) - layers.offset[0] + 1,
        tc - br : min(target_col + br, ncols - 1) - layers.offset[1] + 1,
    ]
    values = block.ravel(order="F")  # Julia's column-major order decides ties of the mode
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    lr, lc = local
    present = condition.present[lr : lr + sources.shape[0], lc : lc + sources.shape[1]]
    known = np.isfinite(present)
    if condition.comparison is Comparison.WITHIN:
        difference = present - float(np.median(values))
        drop = known & ((difference > condition.upper) | (difference < condition.lower))
    else:
        drop = known & (present != _first_mode(values))
    sources[drop] = 0.0


def _first_mode(values: np.ndarray) -> float:
    """The most frequent value; among ties the one whose count reaches the maximum first, as
    StatsBase.mode counts while it iterates.

    >>> _first_mode(np.array([1.0, 2.0, 2.0, 1.0]))
    2.0
    """
    uniques, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    most = counts.max()
    best = np.flatnonzero(counts == most)
    # Position of each tied value's last (most-th) occurrence; the earliest one wins.
    reached = [np.flatnonzero(inverse == b)[most - 1] for b in best]
    return float(uniques[best[int(np.argmin(reached))]])


def _window_conductance(layers, bounds, distance, options):
    r0, r1, c0, c1 = bounds
    lr, lc = r0 - layers.offset[0], c0 - layers.offset[1]
    conductance = np.array(layers.conductance[lr : lr + r1 - r0, lc : lc + c1 - c0], np.float64)
    conductance[distance > options.reach] = np.nan
    return conductance, (lr, lc)


def _window_graph(conductance, options, edge_factors: EdgeFactors, local):
    grid = GridSpec.from_origin(0.0, float(conductance.shape[0]), 1.0, conductance.shape, "")
    graph = build_graph(
        grid, conductance, connect_four=options.connect_four, rule=AveragingRule.AVG_CONDUCTANCE
    )
    if not len(edge_factors):
        return graph
    lr, lc = local
    rows, cols = conductance.shape
    row, col = edge_factors.row - lr, edge_factors.col - lc
    inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
    if not inside.any():
        return graph
    weights = [w.copy() for w in graph.edge_weights]
    for k, weight in enumerate(weights):
        pick = inside & (edge_factors.direction == k)
        np.multiply.at(weight, (row[pick], col[pick]), edge_factors.factor[pick])
    return graph.with_edge_weights(weights)


def _window_current(graph, sources, ground_at, options) -> tuple[np.ndarray, float]:
    if not np.any(sources > 0):  # nothing injected (e.g. the block covers the circle): no current
        return np.zeros(sources.shape), 0.0
    grounds = np.zeros(sources.shape)
    grounds[ground_at] = np.inf
    result = advanced(graph, sources, grounds, policy=RemovePolicy.RMVSRC, options=options.solver)
    residual = max((info.max_residual for info in result.solve_info), default=0.0)
    return _node_currents(graph, result.voltage), residual


def _node_currents(graph, voltage: np.ndarray) -> np.ndarray:
    """Circuitscape's node currents, max(inflow, outflow), on a window grid.

    As Circuitscape does, branch currents below ``BRANCH_CURRENT_CUTOFF`` times the largest one
    in their direction are dropped; directions follow Circuitscape's column-major node order
    (only the component holding the ground carries current, so the maximum is taken over the
    window).
    """
    rows, cols = voltage.shape
    inflow, outflow = np.zeros(voltage.shape), np.zeros(voltage.shape)
    flows = []
    for (dr, dc), weight in zip(DIRECTIONS, graph.edge_weights, strict=True):
        here = (slice(0, rows - dr), slice(max(0, -dc), cols - max(0, dc)))
        there = (slice(dr, rows), slice(max(0, dc), cols + min(0, dc)))
        # Flow from the column-major-first cell of the edge to the other one.
        flow = weight[here] * (voltage[here] - voltage[there])
        flows.append((here, there, -flow if dc < 0 else flow, dc < 0))
    largest_forward = max((f.max(initial=0.0) for _, _, f, _ in flows), default=0.0)
    largest_backward = max((-f.min(initial=0.0) for _, _, f, _ in flows), default=0.0)
    for here, there, flow, swapped in flows:
        first, second = (there, here) if swapped else (here, there)
        forward = np.where(flow >= BRANCH_CURRENT_CUTOFF * largest_forward, flow, 0.0)
        backward = np.where(-flow >= BRANCH_CURRENT_CUTOFF * largest_backward, -flow, 0.0)
        forward[forward < 0] = 0.0
        backward[backward < 0] = 0.0
        inflow[second] += forward
        outflow[first] += forward
        inflow[first] += backward
        outflow[second] += backward
    return np.maximum(inflow, outflow)


def _correction_cut(correction, bounds, target_row, target_col, options, grid_shape):
    """The part of the correction surface over a window clipped by the grid (Omniscape's rule)."""
    nrows, ncols = grid_shape
    r0, r1, c0, c1 = bounds
    reach = options.reach

    def cut(size, full, position, count):
        low, high = 0, full
        if position > count - 1 - reach:
            high = size
        if position < reach:
            low = high - size
        return slice(low, high)

    return correction[
        cut(r1 - r0, correction.shape[0], target_row, nrows),
        cut(c1 - c0, correction.shape[1], target_col, ncols),
    ]


def solve_window(
    layers: OmniscapeLayers,
    options: OmniscapeOptions,
    row: int,
    col: int,
    amps: float,
    correction: np.ndarray | None = None,
) -> WindowResult:
    """Currents of the window of the target at whole-grid ``(row, col)`` with strength ``amps``.

    ``layers`` must cover the window (a part of the grid is fine); ``correction`` is
    :func:`artifact_correction` (required when ``options.corrects``).

    Raises
    ------
    SolverConvergenceError
        The window's solve missed its residual.
    """
    bounds = window_bounds(row, col, options, layers.grid_shape)
    r0, r1, c0, c1 = bounds
    target = (row - r0, col - c0)
    distance = _distances((r1 - r0, c1 - c0), *target)
    sources = _window_sources(layers, options, row, col, amps, bounds, distance)
    conductance, local = _window_conductance(layers, bounds, distance, options)
    graph = _window_graph(conductance, options, layers.edge_factors, local)
    current, residual = _window_current(graph, sources, target, options)
    flow = None
    if options.wants_flow_potential:
        null = _window_graph(np.ones(conductance.shape), options, EdgeFactors.none(), local)
        flow, null_residual = _window_current(null, sources, target, options)
        residual = max(residual, null_residual)
    if options.corrects:
        if correction is None:
            raise ConfigError(
                "correct_artifacts with block_size > 1 needs the correction surface: pass "
                "artifact_correction(options).",
                field="correction",
            )
        cut = _correction_cut(correction, bounds, row, col, options, layers.grid_shape)
        current = current * cut
        flow = None if flow is None else flow * cut
    dtype = options.precision.dtype
    return WindowResult(
        r0, c0, current.astype(dtype), None if flow is None else flow.astype(dtype), residual
    )


def artifact_correction(options: OmniscapeOptions) -> np.ndarray:
    """Omniscape's block-artifact correction surface, shape ``(2 reach + 1, 2 reach + 1)``.

    It is the current of a uniform window when every cell of the target block is its own
    target, divided by the current when the block's centre carries the block's strength.
    """
    reach, radius, block = options.reach, options.radius, options.block_size
    size = 2 * reach + 1
    ones = np.ones((size, size))
    distance = _distances((size, size), reach, reach)
    conductance = np.where(distance > reach, np.nan, 1.0)
    graph = _window_graph(conductance, options, EdgeFactors.none(), (0, 0))
    null_sources = np.where(distance > radius, 0.0, 1.0)
    n_sources = null_sources.sum()
    null_sources[reach, reach] = 0.0
    null_sources[null_sources != 0] = 1.0 / (n_sources - 1)
    plain = replace(options, decay=None, correct_artifacts=False)
    layers = OmniscapeLayers(ones, ones, grid_shape=(size, size))
    blocked = _window_sources(
        layers, plain, reach, reach, float(block**2), (0, size, 0, size), distance
    )
    block_current, _ = _window_current(graph, blocked, (reach, reach), options)
    null_current, _ = _window_current(graph, null_sources, (reach, reach), options)
    total = np.zeros((size + block - 1, size + block - 1))
    for i in range(block):
        for j in range(block):
            total[i : i + size, j : j + size] += null_current
    br = options.block_radius
    total = total[br : br + size, br : br + size]
    total[block_current == 0] = 0.0
    total[total == 0] = 1.0
    block_current = np.where(block_current == 0, 1.0, block_current)
    return total / block_current


# ----------------------------------------------------------------------------------------------
# The whole map


def accumulate(maps: dict[str, np.ndarray], window: WindowResult, origin=(0, 0)) -> None:
    """Add a window's currents into ``maps["current"]`` (and ``maps["flow_potential"]``).

    ``origin`` is the whole-grid position of ``maps``' first cell (for padded tile sums).
    """
    rows, cols = window.current.shape
    r0, c0 = window.row0 - origin[0], window.col0 - origin[1]
    maps["current"][r0 : r0 + rows, c0 : c0 + cols] += window.current
    if window.flow_potential is not None:
        maps["flow_potential"][r0 : r0 + rows, c0 : c0 + cols] += window.flow_potential


def empty_maps(shape, options: OmniscapeOptions) -> dict[str, np.ndarray]:
    dtype = options.precision.dtype
    maps = {"current": np.zeros(shape, dtype=dtype)}
    if options.wants_flow_potential:
        maps["flow_potential"] = np.zeros(shape, dtype=dtype)
    return maps


def finish(
    maps: dict[str, np.ndarray], nodata: np.ndarray, options: OmniscapeOptions, n_targets: int
) -> OmniscapeResult:
    """Normalise by flow potential and mask NoData (``nodata``: True where resistance is NoData)."""
    current = maps["current"]
    flow = maps.get("flow_potential")
    normalized = None
    if options.calc_normalized_current:
        with np.errstate(divide="ignore", invalid="ignore"):
            normalized = current / flow
        normalized[np.isnan(normalized)] = 0.0
    if options.mask_nodata:
        for array in (current, flow, normalized):
            if array is not None:
                array[nodata] = np.nan
    return OmniscapeResult(
        current, flow if options.calc_flow_potential else None, normalized, n_targets
    )


def omniscape(
    layers: OmniscapeLayers,
    options: OmniscapeOptions,
    *,
    progress=None,
) -> OmniscapeResult:
    """Run Omniscape over the whole grid, window after window (the serial executor).

    Parameters
    ----------
    layers : OmniscapeLayers
        Whole-grid layers.
    options : OmniscapeOptions
    progress : callable, optional
        ``progress(done, total)`` after every window.

    Examples
    --------
    >>> ones = np.ones((9, 9))
    >>> r = omniscape(OmniscapeLayers(ones, ones), OmniscapeOptions(radius=3, block_size=3))
    >>> r.n_targets, bool(np.all(r.cumulative_current > 0))
    (9, True)
    """
    targets = find_targets(layers.target_strength, options.block_size)
    correction = artifact_correction(options) if options.corrects else None
    maps = empty_maps(layers.grid_shape, options)
    for k in range(len(targets)):
        window = solve_window(
            layers,
            options,
            int(targets.row[k]),
            int(targets.col[k]),
            float(targets.amps[k]),
            correction,
        )
        accumulate(maps, window)
        if progress is not None:
            progress(k + 1, len(targets))
    return finish(maps, ~np.isfinite(layers.conductance), options, len(targets))


def solve_windows(
    layers: OmniscapeLayers,
    options: OmniscapeOptions,
    targets: Targets,
    correction: np.ndarray | None,
) -> Iterable[WindowResult]:
    """Solve the windows of ``targets`` one after the other (a generator)."""
    for k in range(len(targets)):
        yield solve_window(
            layers,
            options,
            int(targets.row[k]),
            int(targets.col[k]),
            float(targets.amps[k]),
            correction,
        )
