"""Crossings at fence openings: assignment to openings, passages through gaps, named sides.

An opening is a point or a short line (a gap, a gate, a lowered section). A crossing whose point
lies within ``tolerance`` metres of an opening is assigned to the nearest one. Where a fence is
broken at its gaps (the line layer stops at each side of the gap), a step through the gap cuts
no fence line; it is found by a *gate*: a segment across the gap along the fence (a line opening
as drawn, or a point opening widened by ``tolerance`` each way along the nearest fence piece).
A step cutting a gate but no fence line is a passage of kind ``gap``, with its direction taken
from the fence's digitised direction as for any crossing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from crossings.core.fences import Fence
from crossings.core.tracks import (
    FenceCrossings,
    FenceLayer,
    Tracks,
    fence_segments,
    locate_crossings,
)
from crossings.errors import ConfigError

__all__ = [
    "Openings",
    "assign_openings",
    "gap_passages",
    "passages",
    "passages_per_opening",
    "SideAreas",
    "name_sides",
]


@dataclass(frozen=True)
class Openings:
    """Opening ids and their point or line geometries (CRS of the fences, metres)."""

    opening_id: np.ndarray
    geometries: np.ndarray

    def __post_init__(self):
        ids = np.asarray(self.opening_id).astype(str)
        geoms = np.asarray(self.geometries, dtype=object)
        if len(np.unique(ids)) != len(ids):
            dup = next(i for i in ids if np.sum(ids == i) > 1)
            raise ConfigError(
                f"opening id {dup!r} appears twice; give each its own id", field="opening_id"
            )
        kinds = set(shapely.get_type_id(geoms).tolist()) - {0, 1, 4, 5}
        if kinds:
            raise ConfigError("openings must be points or lines", field="geometry")
        object.__setattr__(self, "opening_id", ids)
        object.__setattr__(self, "geometries", geoms)

    def __len__(self) -> int:
        return len(self.opening_id)


def assign_openings(
    crossings: FenceCrossings, openings: Openings, tolerance: float
) -> FenceCrossings:
    """Set ``opening_id`` and ``opening_distance`` of crossings near an opening (nearest wins)."""
    if len(crossings) == 0 or len(openings) == 0:
        return crossings
    tree = shapely.STRtree(openings.geometries)
    points = shapely.points(crossings.x, crossings.y)
    (pt, op), dist = tree.query_nearest(
        points, max_distance=tolerance, return_distance=True, all_matches=False
    )
    opening_id = np.array(crossings.opening_id, dtype=object)
    distance = np.array(crossings.opening_distance, dtype=float)
    opening_id[pt] = openings.opening_id[op]
    distance[pt] = dist
    return crossings.with_columns(opening_id=opening_id, opening_distance=distance)


def _gates(
    layer: FenceLayer, openings: Openings, tolerance: float
) -> tuple[list[Fence], np.ndarray]:
    """One gate segment per opening, oriented as its nearest fence piece, and that fence's index."""
    seg_a, seg_b, seg_fence = fence_segments(layer)
    pieces = shapely.linestrings(np.stack([seg_a, seg_b], axis=1))
    nearest = shapely.STRtree(pieces).query_nearest(openings.geometries, all_matches=False)[1]
    tangent = seg_b[nearest] - seg_a[nearest]
    tangent /= np.hypot(*tangent.T)[:, None]
    gates, fence_of_gate = [], seg_fence[nearest]
    for k, geom in enumerate(openings.geometries):
        coords = shapely.get_coordinates(geom)
        if len(coords) == 1:
            ends = np.array(
                [coords[0] - tolerance * tangent[k], coords[0] + tolerance * tangent[k]]
            )
        else:
            ends = coords[[0, -1]]
            if np.dot(ends[1] - ends[0], tangent[k]) < 0:
                ends = ends[::-1]
        pair = layer.country_pairs[fence_of_gate[k]]
        gates.append(Fence(openings.opening_id[k], ends, country_pair=pair))
    return gates, fence_of_gate


def gap_passages(
    tracks: Tracks, layer: FenceLayer, openings: Openings, tolerance: float
) -> FenceCrossings:
    """Steps through a gap (cutting a gate but no fence line), as crossings of kind ``gap``."""
    if len(openings) == 0 or tracks.n_fixes < 2:
        return locate_crossings(tracks.subset(np.zeros(0, np.int64)), layer)
    gates, fence_of_gate = _gates(layer, openings, tolerance)
    gate_layer = FenceLayer.from_fences(gates)
    through = locate_crossings(tracks, gate_layer)
    fence_steps = locate_crossings(tracks, layer).step_row
    through = through.take(~np.isin(through.step_row, fence_steps))
    gate_index = np.searchsorted(
        openings.opening_id, through.fence_id, sorter=np.argsort(openings.opening_id)
    )
    gate_index = np.argsort(openings.opening_id)[gate_index]
    distance = shapely.distance(
        shapely.points(through.x, through.y), openings.geometries[gate_index]
    )
    return through.with_columns(
        fence_id=layer.fence_ids[fence_of_gate[gate_index]],
        kind=np.full(len(through), "gap", dtype=object),
        opening_id=openings.opening_id[gate_index].astype(object),
        opening_distance=np.asarray(distance, float),
    )


def passages(
    tracks: Tracks, layer: FenceLayer, openings: Openings | None = None, tolerance: float = 50.0
) -> FenceCrossings:
    """Every fence crossing, plus passages through gaps, each assigned to its opening.

    Examples
    --------
    >>> layer = FenceLayer.from_fences([Fence("f", [(-1000, 0), (-10, 0)], country_pair="KAZ-UZB"),
    ...                                 Fence("f", [(10, 0), (1000, 0)], country_pair="KAZ-UZB")])
    >>> gap = Openings(np.array(["gap1"]), np.array([shapely.Point(0, 0)]))
    >>> t = Tracks.from_records([("a", "2020-01-01T00:00", 2, 50),
    ...                          ("a", "2020-01-01T02:00", 1, -50)])
    >>> p = passages(t, layer, gap, tolerance=20)
    >>> p.kind.tolist(), p.opening_id.tolist(), p.direction.tolist()
    (['gap'], ['gap1'], ['from KAZ to UZB'])
    """
    if tolerance < 0:
        raise ConfigError(f"must be >= 0 metres; got {tolerance}", field="opening_tolerance")
    crossings = locate_crossings(tracks, layer)
    if openings is None or len(openings) == 0:
        return crossings
    crossings = assign_openings(crossings, openings, tolerance)
    return crossings.concat(gap_passages(tracks, layer, openings, tolerance))


def passages_per_opening(crossings: FenceCrossings) -> dict[str, np.ndarray]:
    """Passages per opening, calendar month (UTC) and direction, for crossings at an opening."""
    at = np.asarray(crossings.opening_id).astype(str) != ""
    if not at.any():
        empty = np.zeros(0, dtype=str)
        return {
            "opening_id": empty,
            "fence_id": empty,
            "month": empty,
            "direction": empty,
            "passages": np.zeros(0, int),
        }
    month = crossings.time[at].astype("datetime64[M]").astype(str)
    key = np.column_stack(
        [
            np.asarray(crossings.opening_id)[at].astype(str),
            crossings.fence_id[at],
            month,
            crossings.direction[at],
        ]
    )
    groups, counts = np.unique(key, axis=0, return_counts=True)
    return {
        "opening_id": groups[:, 0],
        "fence_id": groups[:, 1],
        "month": groups[:, 2],
        "direction": groups[:, 3],
        "passages": counts,
    }


@dataclass(frozen=True)
class SideAreas:
    """Named polygons (countries, properties) that name the two sides of every crossing."""

    names: np.ndarray
    polygons: np.ndarray

    def name_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Name of the first polygon holding each point (``""`` outside every polygon)."""
        names = np.full(len(x), "", dtype=object)
        if len(x) == 0:
            return names
        pt, poly = shapely.STRtree(self.polygons).query(
            shapely.points(x, y), predicate="intersects"
        )
        order = np.lexsort((poly, pt))
        pt, poly = pt[order], poly[order]
        first = np.r_[True, pt[1:] != pt[:-1]] if len(pt) else np.zeros(0, bool)
        names[pt[first]] = np.asarray(self.names, dtype=object)[poly[first]]
        return names


def name_sides(crossings: FenceCrossings, tracks: Tracks, areas: SideAreas) -> FenceCrossings:
    """Name ``from_side``/``to_side`` by the areas holding the fixes before and after each step.

    Where a fix lies outside every area, the fence's own side name is kept.
    """
    row = np.asarray(crossings.step_row, dtype=np.int64)
    before = areas.name_of(tracks.x[row], tracks.y[row])
    after = areas.name_of(tracks.x[row + 1], tracks.y[row + 1])
    return crossings.with_columns(
        from_side=np.where(before != "", before, crossings.from_side).astype(str),
        to_side=np.where(after != "", after, crossings.to_side).astype(str),
    )
