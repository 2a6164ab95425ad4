"""Fences cut graph edges, not cells; openings restore the edges they overlap.

Every graph edge (the straight segment between two cell centres) that crosses a fence line has its
conductance multiplied by the fence's permeability. The cost grows with fence length, not grid
size: each fence segment is sampled at half-cell steps, the lattice squares around the samples
(with a one-square margin) give the candidate edges, and only those are tested for an exact
segment intersection.

Degenerate cases (a fence through a cell centre, along a row of cells, or with a vertex exactly on
an edge) are resolved by symbolic perturbation: the whole lattice of cell centres is shifted by an
infinitesimal ``(eps, eps**2)`` (in grid units) before testing, and orientation signs are computed
exactly (floating point with an error bound and an exactness check, integers otherwise). The
shifted configuration is in general position, so every decision is the exact answer for one
consistent geometry: a closed fence (a ring, or a line that leaves the grid on both sides)
separates the graph exactly at any angle, and an edge through a polyline vertex is cut once.

Openings: each cut edge stands for the stretch of fence around its crossing position up to half
way to the neighbouring crossings of edges with the same direction on the same fence, capped at
half the local spacing of such crossings (``cell_size / |component of the fence direction across
the edge lines|``; e.g. one cell along a fence orthogonal to the edges). On a straight fence these
stretches tile the fence exactly. An opening restores the overlapped fraction of each stretch, so
conductance grows continuously and monotonically with its width and reaches the no-fence graph
when one opening of permeability 1 spans the whole fence. On a closed ring (last vertex equal to
the first) positions wrap around, so an opening on the closing vertex covers both ends.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from crossings.core.fences import Fence, Opening
from crossings.core.graph import DIRECTIONS, ConductanceGraph
from crossings.core.grid import GridSpec
from crossings.errors import ConfigError, CrossingsWarning

__all__ = [
    "EdgeCuts",
    "fence_edge_cuts",
    "opening_restoration",
    "edge_factors",
    "apply_fences",
    "combine_openings",
]

#: Relative error bound of the floating-point orientation test (Shewchuk's ccwerrboundA is
#: 3.3e-16; a wider bound only sends a few more near-ties to exact arithmetic).
_ORIENT_ERROR_BOUND = 1e-15
#: Sampling step along a fence segment, in cells; with a one-square margin around every sample
#: no lattice square the segment touches is missed.
_SAMPLE_STEP = 0.5


@dataclass(frozen=True)
class EdgeCuts:
    """Graph edges crossed by fences: one row per (edge, fence) pair.

    Attributes
    ----------
    direction : ndarray of int
        Index into :data:`crossings.core.graph.DIRECTIONS`.
    row, col : ndarray of int
        The edge's origin cell, as in ``ConductanceGraph.edge_weights[direction][row, col]``.
    fence_index : ndarray of int
        Index into the fences sequence the cuts were computed for.
    position : ndarray of float
        Metres along that fence (from its first vertex) where the edge crosses it.
    x, y : ndarray of float
        The crossing point in the grid CRS.
    """

    direction: np.ndarray
    row: np.ndarray
    col: np.ndarray
    fence_index: np.ndarray
    position: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        arrays = {name: np.asarray(getattr(self, name)) for name in _CUT_FIELDS}
        lengths = {name: a.shape for name, a in arrays.items()}
        if len({a.shape for a in arrays.values()}) != 1 or arrays["direction"].ndim != 1:
            raise ConfigError(
                f"EdgeCuts needs 1-d arrays of one length; got shapes {lengths}. Build cuts with "
                "fence_edge_cuts or EdgeCuts.take.",
                field="cuts",
            )
        for name, array in arrays.items():
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return len(self.direction)

    def take(self, index) -> EdgeCuts:
        """The rows selected by ``index`` (integer indices or a boolean mask)."""
        return EdgeCuts(*(getattr(self, name)[index] for name in _CUT_FIELDS))

    @classmethod
    def empty(cls) -> EdgeCuts:
        ints = np.zeros(0, dtype=np.int64)
        floats = np.zeros(0, dtype=float)
        return cls(
            ints, ints.copy(), ints.copy(), ints.copy(), floats, floats.copy(), floats.copy()
        )


_CUT_FIELDS = ("direction", "row", "col", "fence_index", "position", "x", "y")


# --------------------------------------------------------------------------- exact predicates
def _exact_orient(ax, ay, bx, by, cx, cy) -> int:
    """Sign of the orientation in exact integer arithmetic (floats are dyadic rationals)."""
    ratios = [float(v).as_integer_ratio() for v in (ax, ay, bx, by, cx, cy)]
    denominator = max(d for _, d in ratios)  # powers of two: the largest is a common multiple
    a_x, a_y, b_x, b_y, c_x, c_y = (n * (denominator // d) for n, d in ratios)
    det = (a_x - c_x) * (b_y - c_y) - (a_y - c_y) * (b_x - c_x)
    return (det > 0) - (det < 0)


def _diff_error(a, b, difference):
    """Rounding error of ``difference = a - b`` (Knuth's TwoSum; 0 when it is exact)."""
    virtual = difference - a
    return (a - (difference - virtual)) + (-b - virtual)


def _product_error(a, b, product):
    """Rounding error of ``product = a * b`` (Dekker's TwoProduct; 0 when it is exact)."""
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    return a_lo * b_lo - (((product - a_hi * b_hi) - a_lo * b_hi) - a_hi * b_lo)


def _split(a):
    scaled = 134217729.0 * a  # 2**27 + 1
    high = scaled - (scaled - a)
    return high, a - high


def _computed_exactly(ax, ay, bx, by, cx, cy) -> np.ndarray:
    """True where every operation of the floating-point orientation test was exact."""
    d = [(ax, cx), (by, cy), (ay, cy), (bx, cx)]
    diffs = [u - v for u, v in d]
    exact = np.ones(np.shape(diffs[0]), dtype=bool)
    for (u, v), diff in zip(d, diffs, strict=True):
        exact &= _diff_error(u, v, diff) == 0
    left, right = diffs[0] * diffs[1], diffs[2] * diffs[3]
    exact &= _product_error(diffs[0], diffs[1], left) == 0
    exact &= _product_error(diffs[2], diffs[3], right) == 0
    return exact & (_diff_error(left, right, left - right) == 0)


def _orient_sign(ax, ay, bx, by, cx, cy) -> np.ndarray:
    """Exact sign of ``(a - c) x (b - c)`` for arrays of points (-1, 0 or 1).

    Floating point decides when the result is farther from zero than its error bound, or when
    every operation was exact (fences along rows or diagonals of cell centres); the rest is
    recomputed in integer arithmetic.
    """
    left = (ax - cx) * (by - cy)
    right = (ay - cy) * (bx - cx)
    det = left - right
    sign = np.sign(det).astype(np.int8)
    unsure = np.flatnonzero(np.abs(det) <= _ORIENT_ERROR_BOUND * (np.abs(left) + np.abs(right)))
    if not len(unsure):
        return sign
    arrays = [a[unsure] for a in np.broadcast_arrays(ax, ay, bx, by, cx, cy)]
    inexact = unsure[~_computed_exactly(*arrays)]
    arrays = np.broadcast_arrays(ax, ay, bx, by, cx, cy)
    for i in inexact:
        sign[i] = _exact_orient(*(a[i] for a in arrays))
    return sign


def _side_of_fence(px, py, qx, qy, ax, ay) -> np.ndarray:
    """Side (+1/-1) of lattice point ``a`` (shifted by the perturbation) of the line ``p -> q``."""
    sign = _orient_sign(px, py, qx, qy, ax, ay)
    # cross(q - p, delta) with delta = (eps, eps**2): -(qy - py) * eps dominates, then (qx - px).
    dy, dx = qy - py, qx - px
    tie = np.where(dy != 0, -np.sign(dy), np.sign(dx)).astype(np.int8)
    return np.where(sign != 0, sign, tie)


def _side_of_edge(ax, ay, bx, by, px, py) -> np.ndarray:
    """Side (+1/-1) of fence vertex ``p`` of the (perturbed) edge line ``a -> b``."""
    sign = _orient_sign(ax, ay, bx, by, px, py)
    # -cross(b - a, delta) = (by - ay) * eps - (bx - ax) * eps**2.
    du, dv = bx - ax, by - ay
    tie = np.where(dv != 0, np.sign(dv), -np.sign(du)).astype(np.int8)
    return np.where(sign != 0, sign, tie)


# --------------------------------------------------------------------------- fence segments
@dataclass(frozen=True)
class _Segments:
    """All fence segments, in grid units (u = column, v = row; cell centres at integers)."""

    fence_index: np.ndarray
    pu: np.ndarray
    pv: np.ndarray
    qu: np.ndarray
    qv: np.ndarray
    start: np.ndarray  # metres along the fence at p
    length: np.ndarray  # metres
    xy_p: np.ndarray  # (n, 2) metres
    xy_q: np.ndarray


def _check_fences(fences: Sequence[Fence]) -> tuple[Fence, ...]:
    fences = tuple(fences)
    for i, fence in enumerate(fences):
        if not isinstance(fence, Fence):
            raise ConfigError(
                f"expected crossings.core.fences.Fence objects; item {i} is "
                f"{type(fence).__name__}. Build fences with Fence(fence_id, coords, permeability).",
                field="fences",
            )
        if not np.isfinite(fence.coords).all():
            raise ConfigError(
                "fence coordinates contain NaN or infinity; remove empty or broken vertices.",
                field=f"fence {fence.fence_id!r} geometry",
            )
    return fences


def _segments(grid: GridSpec, fences: Sequence[Fence]) -> _Segments:
    parts = []
    for index, fence in enumerate(fences):
        xy = fence.coords
        seg_len = np.hypot(*np.diff(xy, axis=0).T)
        start = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
        keep = seg_len > 0  # repeated vertices give empty segments
        parts.append((np.full(keep.sum(), index), xy[:-1][keep], xy[1:][keep], start[keep]))
    if not parts:
        empty = np.zeros(0)
        return _Segments(empty.astype(np.int64), *([empty] * 6), np.zeros((0, 2)), np.zeros((0, 2)))
    fence_index = np.concatenate([p[0] for p in parts]).astype(np.int64)
    xy_p = np.concatenate([p[1] for p in parts])
    xy_q = np.concatenate([p[2] for p in parts])
    start = np.concatenate([p[3] for p in parts])
    pu, pv = grid.to_grid_coords(xy_p[:, 0], xy_p[:, 1])
    qu, qv = grid.to_grid_coords(xy_q[:, 0], xy_q[:, 1])
    length = np.hypot(*(xy_q - xy_p).T)
    return _Segments(fence_index, pu, pv, qu, qv, start, length, xy_p, xy_q)


def _clip_to_box(seg: _Segments, lo_u, lo_v, hi_u, hi_v):
    """Parameter range ``[t0, t1]`` of each segment inside a box (Liang-Barsky); t0 > t1 = empty."""
    t0 = np.zeros(len(seg.pu))
    t1 = np.ones(len(seg.pu))
    for p, d, lo, hi in (
        (seg.pu, seg.qu - seg.pu, lo_u, hi_u),
        (seg.pv, seg.qv - seg.pv, lo_v, hi_v),
    ):
        with np.errstate(divide="ignore", invalid="ignore"):
            a = (lo - p) / d
            b = (hi - p) / d
        enter = np.where(d != 0, np.minimum(a, b), np.where((p >= lo) & (p <= hi), -np.inf, np.inf))
        leave = np.where(d != 0, np.maximum(a, b), np.where((p >= lo) & (p <= hi), np.inf, -np.inf))
        t0 = np.maximum(t0, enter)
        t1 = np.minimum(t1, leave)
    return t0, t1


def _candidate_squares(seg: _Segments, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(segment, i, j)``: lattice squares ``[i, i+1] x [j, j+1]`` a segment may touch.

    Each segment is sampled every half cell inside the grid (plus a margin) and the squares of the
    samples are dilated by one square, so cost grows with the fence length inside the grid.
    """
    rows, cols = shape
    t0, t1 = _clip_to_box(seg, -1.5, -1.5, cols + 0.5, rows + 0.5)
    inside = np.flatnonzero(t1 >= t0)
    span = np.hypot(seg.qu - seg.pu, seg.qv - seg.pv)[inside] * (t1 - t0)[inside]
    n_samples = np.ceil(span / _SAMPLE_STEP).astype(np.int64) + 1
    seg_id = np.repeat(inside, n_samples)
    offsets = np.arange(n_samples.sum()) - np.repeat(np.cumsum(n_samples) - n_samples, n_samples)
    t = t0[seg_id] + (t1 - t0)[seg_id] * offsets / np.maximum(
        np.repeat(n_samples, n_samples) - 1, 1
    )
    su = np.floor(seg.pu[seg_id] + t * (seg.qu - seg.pu)[seg_id]).astype(np.int64)
    sv = np.floor(seg.pv[seg_id] + t * (seg.qv - seg.pv)[seg_id]).astype(np.int64)
    # The key packs (segment, square) for one sort-based deduplication; squares run -3..cols+1.
    width, height = cols + 6, rows + 6
    keys = [np.unique((seg_id * height + sv + 3) * width + su + 3)]
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                keys.append(keys[0] + dj * width + di)
    key = np.unique(np.concatenate(keys))
    seg_of, rest = np.divmod(key, width * height)
    j, i = np.divmod(rest, width)
    return seg_of, i - 3, j - 3


def _candidate_edges(seg_of, i, j, shape, connect_four: bool):
    """``(segment, direction, row, col)`` of the edges touching the candidate squares."""
    rows, cols = shape
    parts = []
    n_dirs = 2 if connect_four else len(DIRECTIONS)
    for k in range(n_dirs):
        dr, dc = DIRECTIONS[k]
        col = i + (1 if dc < 0 else 0)  # the south-west diagonal starts at the square's NE corner
        row = j
        ok = (row >= 0) & (row + dr < rows) & (col >= 0) & (col < cols)
        ok &= (col + dc >= 0) & (col + dc < cols)
        parts.append((seg_of[ok], np.full(ok.sum(), k), row[ok], col[ok]))
    return tuple(np.concatenate([p[n] for p in parts]) for n in range(4))


def _crossings(seg: _Segments, cand_seg, direction, row, col):
    """Mask of candidate (segment, edge) pairs that cross, and the parameter t along the segment."""
    dr = np.array([d[0] for d in DIRECTIONS])[direction]
    dc = np.array([d[1] for d in DIRECTIONS])[direction]
    au, av = col.astype(float), row.astype(float)
    bu, bv = au + dc, av + dr
    pu, pv, qu, qv = seg.pu[cand_seg], seg.pv[cand_seg], seg.qu[cand_seg], seg.qv[cand_seg]
    side_a = _side_of_fence(pu, pv, qu, qv, au, av)
    side_b = _side_of_fence(pu, pv, qu, qv, bu, bv)
    cross = side_a != side_b
    side_p = _side_of_edge(au[cross], av[cross], bu[cross], bv[cross], pu[cross], pv[cross])
    side_q = _side_of_edge(au[cross], av[cross], bu[cross], bv[cross], qu[cross], qv[cross])
    cross[np.flatnonzero(cross)[side_p == side_q]] = False
    # Intersection of p + t (q - p) with the edge line: cross(a - p, d) / cross(q - p, d).
    numer = (au - pu) * dr - (av - pv) * dc
    denom = (qu - pu) * dr - (qv - pv) * dc
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(np.where(denom != 0, numer / denom, 0.0), 0.0, 1.0)
    return cross, t


def _warn_outside(grid: GridSpec, fences: Sequence[Fence]) -> None:
    if not fences:
        return
    lengths = [len(f.coords) for f in fences]
    lines = shapely.linestrings(
        np.concatenate([f.coords for f in fences]),
        indices=np.repeat(np.arange(len(fences)), lengths),
    )
    inside = shapely.intersects(shapely.box(*grid.bounds), lines)
    west, south, east, north = grid.bounds
    for n in np.flatnonzero(~inside):
        warnings.warn(
            f"fence {fences[n].fence_id!r} lies entirely outside the grid (bounds west={west}, "
            f"south={south}, east={east}, north={north}) and cuts no edge. Check that the "
            "fence layer is in the grid's CRS and covers the study area.",
            CrossingsWarning,
            stacklevel=3,
        )


def fence_edge_cuts(
    grid: GridSpec, fences: Sequence[Fence], *, connect_four: bool = False
) -> EdgeCuts:
    """Find the graph edges every fence crosses.

    Parameters
    ----------
    grid : GridSpec
        The raster grid; fence coordinates must be in its CRS (metres).
    fences : sequence of Fence
    connect_four : bool
        Only test the east and south edges (a four-neighbour graph has no diagonals).

    Returns
    -------
    EdgeCuts
        One row per (edge, fence) pair, sorted by fence and position along it. An edge crossed
        twice by one fence (a zigzag within a cell) gets one row, at the first crossing.

    Warns
    -----
    CrossingsWarning
        For every fence entirely outside the grid.

    Examples
    --------
    A north-south fence between the two columns of a 2 x 2 grid cuts both east edges and both
    diagonals:

    >>> grid = GridSpec.from_origin(0, 200, 100, (2, 2), "EPSG:3857")
    >>> cuts = fence_edge_cuts(grid, [Fence("f", [(100, -50), (100, 250)])])
    >>> sorted(zip(cuts.direction.tolist(), cuts.row.tolist(), cuts.col.tolist()))
    [(0, 0, 0), (0, 1, 0), (2, 0, 0), (3, 0, 1)]
    """
    fences = _check_fences(fences)
    _warn_outside(grid, fences)
    seg = _segments(grid, fences)
    if len(seg.pu) == 0:
        return EdgeCuts.empty()
    seg_of, i, j = _candidate_squares(seg, grid.shape)
    cand_seg, direction, row, col = _candidate_edges(seg_of, i, j, grid.shape, connect_four)
    cross, t = _crossings(seg, cand_seg, direction, row, col)
    cand_seg, direction, row, col, t = (a[cross] for a in (cand_seg, direction, row, col, t))
    fence_index = seg.fence_index[cand_seg]
    position = seg.start[cand_seg] + t * seg.length[cand_seg]
    xy = seg.xy_p[cand_seg] + t[:, None] * (seg.xy_q - seg.xy_p)[cand_seg]
    # One row per (edge, fence): keep the first crossing along the fence.
    order = np.lexsort((position, col, row, direction, fence_index))
    edge_key = np.stack([fence_index, direction, row, col])[:, order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(edge_key[:, 1:] != edge_key[:, :-1], axis=0)
    keep = order[first]
    keep = keep[np.lexsort((position[keep], fence_index[keep]))]
    return EdgeCuts(
        direction[keep].astype(np.int64),
        row[keep].astype(np.int64),
        col[keep].astype(np.int64),
        fence_index[keep].astype(np.int64),
        position[keep],
        xy[keep, 0],
        xy[keep, 1],
    )


# --------------------------------------------------------------------------- openings
def _local_spacing(cuts: EdgeCuts, fences: Sequence[Fence], cell_size: float) -> np.ndarray:
    """Spacing along the fence (metres) between crossings of parallel edges near each cut."""
    starts, fence_of, unit = [], [], []
    for index, fence in enumerate(fences):
        delta = np.diff(fence.coords, axis=0)
        seg_len = np.hypot(*delta.T)
        keep = seg_len > 0  # repeated vertices give empty segments
        starts.append(np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])[keep])
        fence_of.append(np.full(keep.sum(), index))
        unit.append(delta[keep] / seg_len[keep, None])
    fence_of, starts, unit = (np.concatenate(a) for a in (fence_of, starts, unit))
    # The segment holding each cut: the last one of its fence starting at or before it.
    order = np.lexsort((starts, fence_of))
    seg = np.searchsorted(
        fence_of[order] + starts[order] / (1.0 + starts.max()),
        cuts.fence_index + cuts.position / (1.0 + starts.max()),
        side="right",
    )
    seg = order[np.clip(seg - 1, 0, len(order) - 1)]
    tu, tv = unit[seg, 0], -unit[seg, 1]  # rows grow southwards
    across = np.stack([np.abs(tv), np.abs(tu), np.abs(tu - tv), np.abs(tu + tv)])
    component = across[cuts.direction, np.arange(len(cuts))]
    return cell_size / np.maximum(component, 1e-12)


#: The last stretches computed: planners call the opening functions once per candidate opening
#: with the same cuts, and the stretches depend only on (cuts, fences, cell_size).
_STRETCH_CACHE: list = []


@dataclass(frozen=True)
class _StretchIndex:
    """The stretches of the cuts, and the cuts sorted by (fence, position) to find them fast."""

    lo: np.ndarray  # metres along the fence, per cut
    hi: np.ndarray
    order: np.ndarray  # cut rows sorted by (fence, position)
    fence_sorted: np.ndarray
    position_sorted: np.ndarray
    reach: np.ndarray  # per fence: farthest a stretch reaches from its crossing
    lengths: np.ndarray  # per fence
    closed: np.ndarray  # per fence: a ring


def _stretches(cuts: EdgeCuts, fences: Sequence[Fence], cell_size: float) -> _StretchIndex:
    """The stretch of fence each cut edge stands for (cached for the last cuts)."""
    for cached_cuts, cached_fences, cached_cell, result in _STRETCH_CACHE:
        same_fences = len(cached_fences) == len(fences) and all(
            a is b for a, b in zip(cached_fences, fences, strict=True)
        )
        if cached_cuts is cuts and same_fences and cached_cell == cell_size:
            return result
    lo, hi = _compute_stretches(cuts, fences, cell_size)
    order = np.lexsort((cuts.position, cuts.fence_index))
    reach = np.zeros(len(fences))
    np.maximum.at(reach, cuts.fence_index, np.maximum(cuts.position - lo, hi - cuts.position))
    result = _StretchIndex(
        lo, hi, order, cuts.fence_index[order], cuts.position[order], reach, *_fence_lengths(fences)
    )
    for name in ("lo", "hi", "order", "fence_sorted", "position_sorted", "reach"):
        getattr(result, name).flags.writeable = False
    _STRETCH_CACHE[:] = [(cuts, tuple(fences), cell_size, result)]
    return result


def _compute_stretches(cuts: EdgeCuts, fences: Sequence[Fence], cell_size: float):
    half = 0.5 * _local_spacing(cuts, fences, cell_size)
    order = np.lexsort((cuts.position, cuts.direction, cuts.fence_index))
    pos = cuts.position[order]
    same = (cuts.fence_index[order][1:] == cuts.fence_index[order][:-1]) & (
        cuts.direction[order][1:] == cuts.direction[order][:-1]
    )
    gap = np.where(same, 0.5 * np.diff(pos), np.inf)
    to_prev = np.concatenate([[np.inf], gap])
    to_next = np.concatenate([gap, [np.inf]])
    lo = np.empty(len(cuts))
    hi = np.empty(len(cuts))
    lo[order] = pos - np.minimum(to_prev, half[order])
    hi[order] = pos + np.minimum(to_next, half[order])
    # Open fences end at their end points; a closed ring wraps around (see _overlap_on_fence).
    lengths, closed = _fence_lengths(fences)
    length, ring = lengths[cuts.fence_index], closed[cuts.fence_index]
    return (
        np.where(ring, lo, np.clip(lo, 0.0, length)),
        np.where(ring, hi, np.clip(hi, 0.0, length)),
    )


def _fence_lengths(fences: Sequence[Fence]) -> tuple[np.ndarray, np.ndarray]:
    """Length (metres) of each fence, and whether it is a closed ring (last vertex = first)."""
    lengths = np.array([f.length for f in fences], dtype=float)
    closed = np.array([np.array_equal(f.coords[0], f.coords[-1]) for f in fences], dtype=bool)
    return lengths, closed & (lengths > 0)


def _opening_centres(fences: Sequence[Fence], openings: Sequence[Opening], cell_size: float):
    """Fence index and position (metres along it) of each opening centre."""
    by_id: dict[str, list[int]] = {}
    for index, fence in enumerate(fences):
        by_id.setdefault(fence.fence_id, []).append(index)
    lines: dict[int, shapely.LineString] = {}
    fence_of = np.empty(len(openings), dtype=np.int64)
    centre = np.empty(len(openings))
    for n, opening in enumerate(openings):
        name = f"opening {opening.opening_id or n}"
        if opening.fence_id not in by_id:
            known = ", ".join(repr(k) for k in sorted(by_id)[:10])
            raise ConfigError(
                f"refers to fence_id {opening.fence_id!r}, which is not among the fences "
                f"({known}). Give the fence_id of the fence the opening is in.",
                field=f"{name} fence_id",
            )
        if not (np.isfinite(opening.x) and np.isfinite(opening.y)):
            raise ConfigError(
                f"opening centre must be finite coordinates; got ({opening.x}, {opening.y}).",
                field=f"{name} x, y",
            )
        point = shapely.Point(opening.x, opening.y)
        candidates = by_id[opening.fence_id]
        for i in candidates:
            if i not in lines:
                lines[i] = shapely.LineString(fences[i].coords)
        distances = [lines[i].distance(point) for i in candidates]
        best = candidates[int(np.argmin(distances))]
        if min(distances) > max(cell_size, opening.width):
            warnings.warn(
                f"{name} lies {min(distances):.0f} m from fence {opening.fence_id!r}; it is "
                "snapped to the nearest point of the fence. Check its coordinates and CRS.",
                CrossingsWarning,
                stacklevel=4,
            )
        fence_of[n] = best
        centre[n] = lines[best].project(point)
    return fence_of, centre


def _opening_overlaps(cuts, fences, openings, cell_size):
    """``(cut_rows, opening_numbers, fractions)`` for every cut an opening overlaps."""
    fences = _check_fences(fences)
    openings = tuple(openings)
    empty = np.zeros(0, dtype=np.int64)
    if not openings:
        return empty, empty.copy(), np.zeros(0)
    if cell_size is None or not cell_size > 0:
        raise ConfigError(
            f"cell_size must be > 0 metres to place openings; got {cell_size}. Pass the grid's "
            "cell size (GridSpec.cell_size).",
            field="cell_size",
        )
    fence_of, centre = _opening_centres(fences, openings, cell_size)  # validates the openings
    if not len(cuts):
        return empty, empty.copy(), np.zeros(0)
    index = _stretches(cuts, fences, cell_size)
    rows_out, open_out, frac_out = [], [], []
    for n, opening in enumerate(openings):
        f = fence_of[n]
        # On a ring, the opening's interval also counts one fence length earlier and later.
        shifts = (-index.lengths[f], 0.0, index.lengths[f]) if index.closed[f] else (0.0,)
        interval = (centre[n] - opening.width / 2, centre[n] + opening.width / 2)
        rows, fraction = _overlap_on_fence(cuts, index, f, interval, shifts)
        rows_out.append(rows)
        open_out.append(np.full(len(rows), n))
        frac_out.append(fraction)
    return np.concatenate(rows_out), np.concatenate(open_out), np.concatenate(frac_out)


def _overlap_on_fence(cuts, index: _StretchIndex, fence, interval, shifts):
    """Rows of ``cuts`` on ``fence`` whose stretch overlaps ``interval``, and the fractions."""
    # Sorted by (fence, position), the cuts an opening may overlap form one contiguous run.
    order, lo, hi, reach = index.order, index.lo, index.hi, index.reach[fence]
    first, last = np.searchsorted(index.fence_sorted, [fence, fence + 1])
    run = index.position_sorted[first:last]
    parts, overlaps, covers = [], [], []
    for shift in shifts:
        start, end = interval[0] + shift, interval[1] + shift
        i0, i1 = first + np.searchsorted(run, [start - reach, end + reach], side="right")
        rows = order[max(i0 - 1, first) : i1]
        parts.append(rows)
        overlaps.append(np.clip(np.minimum(hi[rows], end) - np.maximum(lo[rows], start), 0, None))
        covers.append((cuts.position[rows] >= start) & (cuts.position[rows] <= end))
    rows, inverse = np.unique(np.concatenate(parts), return_inverse=True)
    overlap = np.bincount(inverse, weights=np.concatenate(overlaps), minlength=len(rows))
    covered = np.bincount(inverse, weights=np.concatenate(covers), minlength=len(rows)) > 0
    length = hi[rows] - lo[rows]
    # A stretch of zero length (a crossing exactly at a fence end) is restored when covered.
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(length > 0, overlap / length, covered.astype(float))
    fraction = np.clip(fraction, 0.0, 1.0)
    hit = fraction > 0
    return rows[hit], fraction[hit]


def opening_restoration(
    cuts: EdgeCuts,
    fences: Sequence[Fence],
    openings: Sequence[Opening],
    cell_size: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Which cut edges the openings restore, and by what fraction.

    Parameters
    ----------
    cuts : EdgeCuts
        From :func:`fence_edge_cuts` for the same ``fences``.
    fences : sequence of Fence
    openings : sequence of Opening
        Each is snapped to the nearest point of the fence with its ``fence_id``.
    cell_size : float
        Grid cell size in metres.

    Returns
    -------
    rows : ndarray of int
        Indices into ``cuts`` (unique, sorted).
    fraction : ndarray of float
        For each, the restored fraction in (0, 1]: the overlap of the openings' widths with the
        stretch of fence the edge stands for, divided by that stretch (summed over openings,
        capped at 1).

    Examples
    --------
    A 100 m opening in the middle of an east-west fence across a 3 x 3 grid of 100 m cells
    fully restores the south edge of the middle column (the diagonals share it by halves):

    >>> grid = GridSpec.from_origin(0, 300, 100, (3, 3), "EPSG:3857")
    >>> fence = Fence("f", [(-100, 200), (400, 200)])
    >>> cuts = fence_edge_cuts(grid, [fence], connect_four=True)
    >>> rows, fraction = opening_restoration(cuts, [fence], [Opening("f", 150, 200, 100)], 100)
    >>> cuts.col[rows].tolist(), fraction.tolist()
    ([1], [1.0])
    """
    rows, _, fraction = _opening_overlaps(cuts, fences, openings, cell_size)
    unique, inverse = np.unique(rows, return_inverse=True)
    total = np.bincount(inverse, weights=fraction, minlength=len(unique))
    return unique, np.minimum(total, 1.0)


def edge_factors(
    cuts: EdgeCuts,
    fences: Sequence[Fence],
    openings: Sequence[Opening] = (),
    cell_size: float | None = None,
) -> np.ndarray:
    """Conductance factor for every row of ``cuts``.

    The factor is the fence's permeability ``p``, raised towards the opening's permeability by
    the restored fraction ``f``: ``p + f * (p_open - p)``. Where openings overlap on one edge
    (fractions summing to more than 1), the most permeable opening takes its share first and the
    others fill what is left, and an opening less permeable than its fence changes nothing; so
    adding an opening never lowers a factor (Rayleigh monotonicity).

    Parameters
    ----------
    cuts : EdgeCuts
    fences : sequence of Fence
    openings : sequence of Opening
    cell_size : float
        Grid cell size in metres; required when there are openings.

    Returns
    -------
    ndarray of float, shape ``(len(cuts),)``
    """
    fences = _check_fences(fences)
    permeability = np.array([f.permeability for f in fences], dtype=float)
    base = permeability[cuts.fence_index] if len(cuts) else np.zeros(0)
    rows, numbers, fraction = _opening_overlaps(cuts, fences, openings, cell_size)
    if not len(rows):
        return base.copy()
    open_perm = np.array([o.permeability for o in openings], dtype=float)[numbers]
    return combine_openings(base, rows, fraction, open_perm)


def combine_openings(
    base: np.ndarray, rows: np.ndarray, fraction: np.ndarray, permeability: np.ndarray
) -> np.ndarray:
    """Factors of edges with fence permeability ``base`` once openings restore them.

    ``rows[k]`` is the edge (index into ``base``) that an opening with ``permeability[k]``
    restores by ``fraction[k]``. The rule of :func:`edge_factors`: most permeable first, up to
    the whole stretch; openings less permeable than the fence change nothing.

    >>> combine_openings(np.array([0.0]), np.array([0, 0]), np.array([0.6, 0.6]),
    ...                  np.array([0.5, 1.0])).tolist()
    [0.8]
    """
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return np.asarray(base, dtype=float).copy()
    taken = _fill_best_first(rows, np.asarray(fraction, float), np.asarray(permeability, float))
    # An "opening" less permeable than its fence is no opening: it never closes the fence further.
    lift = np.maximum(permeability - base[rows], 0.0)
    return base + np.bincount(rows, weights=taken * lift, minlength=len(base))


def _fill_best_first(rows: np.ndarray, fraction: np.ndarray, permeability: np.ndarray):
    """Share of each (edge, opening) overlap when openings fill their edge best first, up to 1."""
    order = np.lexsort((-permeability, rows))
    sorted_rows, sorted_fraction = rows[order], fraction[order]
    cumulative = np.cumsum(sorted_fraction)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_rows)) + 1]
    group_offset = np.repeat(
        cumulative[starts] - sorted_fraction[starts], np.diff(np.r_[starts, len(rows)])
    )
    before = cumulative - sorted_fraction - group_offset
    taken = np.empty_like(fraction)
    taken[order] = np.clip(np.minimum(sorted_fraction, 1.0 - before), 0.0, None)
    return taken


def apply_fences(
    graph: ConductanceGraph,
    fences: Sequence[Fence],
    openings: Sequence[Opening] = (),
    *,
    cuts: EdgeCuts | None = None,
) -> ConductanceGraph:
    """A new graph whose edges crossed by fences are scaled by the fences' factors.

    Parameters
    ----------
    graph : ConductanceGraph
        The graph without fences (not modified).
    fences : sequence of Fence
    openings : sequence of Opening
    cuts : EdgeCuts, optional
        Precomputed :func:`fence_edge_cuts` for ``graph.grid`` and ``fences`` (saves the walk
        when several scenarios share the fences).

    Returns
    -------
    ConductanceGraph
        Edges cut by several fences get the product of their factors.

    Examples
    --------
    >>> from crossings.core.graph import build_graph
    >>> grid = GridSpec.from_origin(0, 100, 100, (1, 3), "EPSG:3857")
    >>> graph = build_graph(grid, np.ones((1, 3)), connect_four=True)
    >>> fenced = apply_fences(graph, [Fence("f", [(100, -50), (100, 150)])])
    >>> fenced.edge_weights[0].tolist()
    [[0.0, 1.0, 0.0]]
    """
    fences = _check_fences(fences)
    if cuts is None:
        cuts = fence_edge_cuts(graph.grid, fences, connect_four=graph.connect_four)
    _check_cuts_fit(cuts, graph, len(fences))
    factors = edge_factors(cuts, fences, openings, cell_size=graph.grid.cell_size)
    weights = [w.copy() for w in graph.edge_weights]
    for k in range(len(weights)):
        rows = cuts.direction == k
        np.multiply.at(weights[k], (cuts.row[rows], cuts.col[rows]), factors[rows])
    return graph.with_edge_weights(weights)


def _check_cuts_fit(cuts: EdgeCuts, graph: ConductanceGraph, n_fences: int) -> None:
    if not len(cuts):
        return
    rows, cols = graph.grid.shape
    fits = (
        cuts.row.min() >= 0
        and cuts.col.min() >= 0
        and cuts.row.max() < rows
        and cuts.col.max() < cols
        and cuts.direction.min() >= 0
        and cuts.direction.max() < len(DIRECTIONS)
        and cuts.fence_index.max() < n_fences
    )
    if not fits:
        raise ConfigError(
            f"the precomputed cuts do not fit this graph (grid {graph.grid.shape}, {n_fences} "
            "fences). Recompute them with fence_edge_cuts(graph.grid, fences).",
            field="cuts",
        )
