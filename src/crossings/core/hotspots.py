"""Transboundary hotspots: score border sections on documented, normalised, weighted criteria.

Every criterion is a raw value per section (higher = more reason to act there, unless the
criterion is set to ``invert``):

``current``
    Modelled current crossing the section: the sum of the cumulative current of the distinct
    cells the section line passes through (the connectivity or omniscape job's current map).
``fence_closed_m``
    Metres of closed-equivalent fence on the section: each fence within ``tolerance`` counts its
    length there times ``1 - permeability``, less each opening's ``width * (opening permeability
    - fence permeability)``.
``pa_both_sides``
    Protected area (km2) within ``distance`` of the section on each side; the geometric mean of
    the two sides, so a section with PAs on one side only scores 0.
``ranges_straddling``
    Number of species whose range reaches within ``distance`` of the section on both sides.
``barrier_improvement``
    Barrier Mapper's improvement score (McRae et al. 2012): the drop in least-cost distance
    between the two sides' PAs when the section's fences are removed, per metre of fence
    removed (cost units per metre). An unreachable "before" counts as the search limit.
``gps_crossings``, ``gps_blocked``, ``camera_use``
    Evidence where given: per-fence values (e.g. located GPS crossings; BaBA bounce + trace +
    trapped encounters) summed over the fences on the section, weighted by the share of each
    fence's length lying there; camera-trap events summed over the openings on the section.

Normalisation follows Linkage Mapper's Linkage Priority (Gallo & Greene 2017, ``lp_main.py``):
``score_range`` ``(x - min) / (max - min)`` or ``max_value`` ``x / max``; inverted
``(max - x) / (max - min)`` and ``(max + min - x) / max``; all 0 when the maximum is <= 0 (and,
for ``score_range``, when every section has the same value). The score is the weighted mean
``sum w_k n_k / sum w_k`` (0..1). Stability: the weights are perturbed (each multiplied by an
independent uniform factor in ``[1 - spread, 1 + spread]``, seeded) and the rank of every section
recorded; the 5th-95th percentile of its ranks is its rank interval.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra

from crossings.core.barriers import apply_fences
from crossings.core.fences import Fence, Opening
from crossings.core.graph import ConductanceGraph
from crossings.core.grid import GridSpec
from crossings.core.pa_links import cost_graph, polygon_cells
from crossings.core.sections import Section, fences_without_section
from crossings.errors import ConfigError

__all__ = [
    "CRITERIA",
    "Criterion",
    "Normalisation",
    "RankStability",
    "barrier_improvement",
    "current_across",
    "fence_closed_length",
    "fence_evidence",
    "normalise",
    "opening_evidence",
    "pa_both_sides",
    "rank_stability",
    "ranges_straddling",
    "score",
    "section_sides",
]

CRITERIA = (
    "current",
    "fence_closed_m",
    "pa_both_sides",
    "ranges_straddling",
    "barrier_improvement",
    "gps_crossings",
    "gps_blocked",
    "camera_use",
)


class Normalisation(enum.Enum):
    SCORE_RANGE = "score_range"
    MAX_VALUE = "max_value"


@dataclass(frozen=True)
class Criterion:
    """How one criterion enters the score."""

    name: str
    weight: float = 1.0
    normalisation: Normalisation = Normalisation.SCORE_RANGE
    invert: bool = False

    def __post_init__(self):
        if self.name not in CRITERIA:
            raise ConfigError(
                f"unknown criterion '{self.name}'; choose from {', '.join(CRITERIA)}.",
                field="criteria",
            )
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ConfigError(
                f"criterion '{self.name}' weight must be >= 0; got {self.weight!r}.",
                field=f"criteria.{self.name}.weight",
            )


def normalise(values, method: Normalisation = Normalisation.SCORE_RANGE, invert: bool = False):
    """Linkage Priority's normalisation of one criterion over all sections.

    >>> normalise([2.0, 4.0, 6.0]).tolist()
    [0.0, 0.5, 1.0]
    >>> normalise([2.0, 4.0, 6.0], Normalisation.MAX_VALUE, invert=True).tolist()
    [1.0, 0.6666666666666666, 0.3333333333333333]
    """
    x = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    if hi <= 0:
        return np.zeros_like(x)
    if method is Normalisation.SCORE_RANGE:
        if hi == lo:
            return np.zeros_like(x)
        return (hi - x) / (hi - lo) if invert else (x - lo) / (hi - lo)
    return (hi + lo - x) / hi if invert else x / hi


def score(raw: Mapping[str, np.ndarray], criteria: Sequence[Criterion], weights=None):
    """Weighted mean of the normalised criteria; ``weights`` overrides the criteria's weights."""
    weights = np.array([c.weight for c in criteria] if weights is None else weights, float)
    if weights.sum() <= 0:
        raise ConfigError("at least one criterion needs a weight > 0.", field="criteria")
    columns = np.column_stack([normalise(raw[c.name], c.normalisation, c.invert) for c in criteria])
    return columns @ weights / weights.sum()


def _ranks(values: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score; ties share the best rank."""
    order = np.sort(values)[::-1]
    return np.searchsorted(-order, -values, side="left") + 1


@dataclass(frozen=True)
class RankStability:
    """Rank of each section at the configured weights and over perturbed weights."""

    score: np.ndarray
    rank: np.ndarray
    rank_low: np.ndarray
    rank_high: np.ndarray
    rank_median: np.ndarray
    draws: int
    spread: float
    seed: int


def rank_stability(
    raw: Mapping[str, np.ndarray],
    criteria: Sequence[Criterion],
    *,
    draws: int = 1000,
    spread: float = 0.5,
    seed: int = 0,
) -> RankStability:
    """Scores, ranks and 5-95 % rank intervals under seeded weight perturbations.

    >>> raw = {"current": np.array([3.0, 2.0, 1.0]), "fence_closed_m": np.array([0.0, 1.0, 2.0])}
    >>> crit = [Criterion("current", 2.0), Criterion("fence_closed_m", 1.0)]
    >>> rank_stability(raw, crit, draws=200, spread=0.3, seed=1).rank_low.tolist()
    [1, 2, 3]
    >>> wide = rank_stability(raw, crit, draws=2000, spread=0.5, seed=1)  # weights may swap
    >>> wide.rank.tolist(), wide.rank_low.tolist(), wide.rank_high.tolist()
    ([1, 2, 3], [1, 2, 1], [3, 2, 3])
    """
    if not 0 <= spread < 1:
        raise ConfigError(f"spread must be in [0, 1); got {spread!r}.", field="spread")
    if draws < 1:
        raise ConfigError(f"draws must be >= 1; got {draws!r}.", field="draws")
    base = np.array([c.weight for c in criteria], float)
    values = score(raw, criteria)
    rng = np.random.default_rng(seed)
    ranks = np.empty((draws, values.size), np.int64)
    for k in range(draws):
        factors = rng.uniform(1 - spread, 1 + spread, base.size)
        ranks[k] = _ranks(score(raw, criteria, base * factors))
    return RankStability(
        score=values,
        rank=_ranks(values),
        rank_low=np.percentile(ranks, 5, axis=0, method="lower").astype(np.int64),
        rank_high=np.percentile(ranks, 95, axis=0, method="higher").astype(np.int64),
        rank_median=np.median(ranks, axis=0),
        draws=draws,
        spread=spread,
        seed=seed,
    )


# -- criteria -------------------------------------------------------------------------------


def section_sides(section: Section, countries: Mapping[str, object], distance: float):
    """The two zones within ``distance`` of the section, each clipped to one country."""
    zone = section.line.buffer(distance)
    a, b = section.countries
    return shapely.intersection(zone, countries[a]), shapely.intersection(zone, countries[b])


def current_across(sections: Sequence[Section], grid: GridSpec, current: np.ndarray) -> np.ndarray:
    """Sum of ``current`` over the distinct cells each section line passes through.

    >>> grid = GridSpec.from_origin(0, 2, 1, (2, 3), "EPSG:3857")
    >>> s = Section("s", "A-B", shapely.LineString([(1.5, 0), (1.5, 2)]))
    >>> current_across([s], grid, np.array([[1.0, 2.0, 4.0], [1.0, 3.0, 4.0]])).tolist()
    [5.0]
    """
    current = np.nan_to_num(np.asarray(current, dtype=float), nan=0.0)
    if current.shape != tuple(grid.shape):
        raise ConfigError(
            f"current map has shape {current.shape} but the grid is {tuple(grid.shape)}.",
            field="current",
        )
    out = np.zeros(len(sections))
    for k, section in enumerate(sections):
        points = shapely.get_coordinates(shapely.segmentize(section.line, grid.cell_size / 4))
        rows, cols = grid.rowcol(points[:, 0], points[:, 1])
        rows, cols = np.asarray(rows), np.asarray(cols)
        inside = (rows >= 0) & (rows < grid.rows) & (cols >= 0) & (cols < grid.cols)
        cells = np.unique(np.column_stack([rows[inside], cols[inside]]), axis=0)
        out[k] = float(current[cells[:, 0], cells[:, 1]].sum()) if cells.size else 0.0
    return out


def _zone(section: Section, tolerance: float):
    return section.line.buffer(tolerance, cap_style="flat")


def fence_closed_length(
    sections: Sequence[Section],
    fences: Sequence[Fence],
    openings: Sequence[Opening] = (),
    tolerance: float = 1000.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(closed-equivalent metres, fence metres)`` on each section.

    >>> s = Section("s", "A-B", shapely.LineString([(0, 0), (1000, 0)]))
    >>> f = Fence("f", [(-500, 10), (2000, 10)], 0.25)
    >>> closed, length = fence_closed_length([s], [f], [Opening("f", 500, 10, 4.0, 1.0)], 50)
    >>> closed.tolist(), length.tolist()
    ([747.0], [1000.0])
    """
    by_id = {f.fence_id: f for f in fences}
    closed, total = np.zeros(len(sections)), np.zeros(len(sections))
    for k, section in enumerate(sections):
        zone = _zone(section, tolerance)
        for fence in fences:
            inside = shapely.length(shapely.intersection(shapely.LineString(fence.coords), zone))
            total[k] += inside
            closed[k] += inside * (1.0 - fence.permeability)
        for opening in openings:
            fence = by_id.get(opening.fence_id)
            if fence is None or not shapely.intersects(zone, shapely.Point(opening.x, opening.y)):
                continue
            closed[k] -= opening.width * max(opening.permeability - fence.permeability, 0.0)
    return np.maximum(closed, 0.0), total


def pa_both_sides(
    sections: Sequence[Section],
    countries: Mapping[str, object],
    pa_geoms,
    distance: float,
    area_unit: float = 1e6,
) -> np.ndarray:
    """Geometric mean of the PA area (``area_unit`` m2) within ``distance`` on each side."""
    pas = shapely.union_all(np.asarray(pa_geoms, dtype=object)) if len(pa_geoms) else None
    out = np.zeros(len(sections))
    if pas is None:
        return out
    for k, section in enumerate(sections):
        side_a, side_b = section_sides(section, countries, distance)
        area_a = shapely.area(shapely.intersection(pas, side_a)) / area_unit
        area_b = shapely.area(shapely.intersection(pas, side_b)) / area_unit
        out[k] = math.sqrt(area_a * area_b)
    return out


def ranges_straddling(
    sections: Sequence[Section],
    countries: Mapping[str, object],
    ranges: Mapping[str, object],
    distance: float,
) -> np.ndarray:
    """Number of species (``ranges``: species -> range geometry) reaching both sides."""
    out = np.zeros(len(sections))
    for k, section in enumerate(sections):
        side_a, side_b = section_sides(section, countries, distance)
        out[k] = sum(
            bool(shapely.intersects(geom, side_a) and shapely.intersects(geom, side_b))
            for geom in ranges.values()
        )
    return out


def _set_distance(matrix, graph: ConductanceGraph, sources, targets, limit: float) -> float:
    if sources.size == 0 or targets.size == 0:
        return math.nan
    costs = dijkstra(matrix, directed=False, indices=sources, limit=limit, min_only=True)
    best = float(costs[targets].min())
    return best if math.isfinite(best) else limit


def _side_nodes(graph: ConductanceGraph, geoms) -> np.ndarray:
    nodes = []
    for geom in geoms:
        for part in shapely.get_parts(geom):
            if part.is_empty or part.area <= 0:
                continue
            rows, cols = polygon_cells(graph.grid, part)
            index = graph.node_index[rows, cols]
            nodes.append(index[index >= 0])
    return np.unique(np.concatenate(nodes)) if nodes else np.zeros(0, np.int64)


def barrier_improvement(
    sections: Sequence[Section],
    countries: Mapping[str, object],
    pa_geoms,
    graph: ConductanceGraph,
    fences: Sequence[Fence],
    openings: Sequence[Opening] = (),
    *,
    tolerance: float = 1000.0,
    limit: float = 1e9,
) -> np.ndarray:
    """Drop in least-cost distance between the two countries' PAs per metre of fence removed.

    ``graph`` is the landscape without fences; sections without fence score 0.
    """
    pa_geoms = np.asarray(pa_geoms, dtype=object)
    before_graph = apply_fences(graph, list(fences), list(openings)) if fences else graph
    before_matrix = cost_graph(before_graph)
    out = np.zeros(len(sections))
    for k, section in enumerate(sections):
        kept, kept_openings = fences_without_section(fences, openings, section, tolerance)
        removed = sum(f.length for f in fences) - sum(f.length for f in kept)
        if removed <= 0:
            continue
        a, b = section.countries
        side_a = _side_nodes(graph, shapely.intersection(pa_geoms, countries[a]))
        side_b = _side_nodes(graph, shapely.intersection(pa_geoms, countries[b]))
        after_graph = apply_fences(graph, kept, kept_openings) if kept else graph
        before = _set_distance(before_matrix, before_graph, side_a, side_b, limit)
        after = _set_distance(cost_graph(after_graph), after_graph, side_a, side_b, limit)
        if math.isfinite(before) and math.isfinite(after):
            out[k] = max(before - after, 0.0) / removed
    return out


def fence_evidence(
    sections: Sequence[Section],
    fences: Sequence[Fence],
    values: Mapping[str, float],
    tolerance: float = 1000.0,
) -> np.ndarray:
    """Per-fence values summed over each section, weighted by the fence length lying there."""
    out = np.zeros(len(sections))
    for k, section in enumerate(sections):
        zone = _zone(section, tolerance)
        for fence in fences:
            if fence.fence_id not in values or fence.length <= 0:
                continue
            line = shapely.LineString(fence.coords)
            share = shapely.length(shapely.intersection(line, zone)) / fence.length
            out[k] += share * float(values[fence.fence_id])
    return out


def opening_evidence(
    sections: Sequence[Section],
    openings: Sequence[Opening],
    values: Mapping[str, float],
    tolerance: float = 1000.0,
) -> np.ndarray:
    """Per-opening values (e.g. camera events) summed over the openings on each section."""
    out = np.zeros(len(sections))
    for k, section in enumerate(sections):
        zone = _zone(section, tolerance)
        for opening in openings:
            if opening.opening_id in values and shapely.intersects(
                zone, shapely.Point(opening.x, opening.y)
            ):
                out[k] += float(values[opening.opening_id])
    return out
