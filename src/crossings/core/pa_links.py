"""Protected-area nodes of a region and the links between them, for :mod:`crossings.core.protconn`.

Four distances, all in the projected (equal-area) CRS of the geometries, in metres:

- ``edge``: exact edge-to-edge distance between the polygons (0 where they touch or overlap);
  geometries are simplified only when a tolerance is given, and the change in area is reported;
- ``centroid``: between centroids;
- ``least_cost``: cost-weighted distance on a conductance graph (each edge costs
  ``cell_size / conductance``, i.e. metres times the mean resistance), so a fence that cuts an
  edge lengthens or cuts the path;
- ``resistance``: effective resistance (ohms) between the PAs' cells from the circuit engine.

Neighbours are searched sparsely (STRtree ``dwithin``, or Dijkstra with a cost limit), never as a
full matrix: pass the distance where the kernel falls below the probability floor.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from crossings.core.circuit import FocalPoints, SolverOptions, pairwise
from crossings.core.graph import DIRECTIONS, ConductanceGraph
from crossings.core.grid import GridSpec
from crossings.core.protconn import (
    DEFAULT_FLOOR,
    Convention,
    Kernel,
    Links,
    ProtConnResult,
    protconn,
)
from crossings.errors import ConfigError

__all__ = [
    "DistanceKind",
    "RegionNodes",
    "SimplifyReport",
    "centroid_links",
    "cost_graph",
    "cut_links",
    "edge_links",
    "least_cost_links",
    "polygon_cells",
    "region_nodes",
    "region_protconn",
    "resistance_links",
    "simplify",
]


class DistanceKind(enum.Enum):
    EDGE = "edge"
    CENTROID = "centroid"
    LEAST_COST = "least_cost"
    RESISTANCE = "resistance"


@dataclass(frozen=True)
class SimplifyReport:
    """What simplification changed: tolerance (m) and total area before / after (m2)."""

    tolerance: float
    area_before: float
    area_after: float

    @property
    def area_change_percent(self) -> float:
        return 100.0 * (self.area_after - self.area_before) / self.area_before


def simplify(geoms, tolerance: float) -> tuple[np.ndarray, SimplifyReport]:
    """Topology-preserving simplification on request, with the change in area reported."""
    geoms = np.asarray(geoms, dtype=object)
    out = shapely.simplify(geoms, tolerance, preserve_topology=True)
    return out, SimplifyReport(
        tolerance, float(shapely.area(geoms).sum()), float(shapely.area(out).sum())
    )


def _pairs_within(geoms: np.ndarray, max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="dwithin", distance=max_distance)
    keep = i < j
    return i[keep], j[keep]


def edge_links(geoms, max_distance: float) -> Links:
    """Exact edge-to-edge distances of every pair closer than ``max_distance`` (m).

    >>> a, b = shapely.box(0, 0, 1, 1), shapely.box(4, 0, 5, 1)
    >>> edge_links([a, b, shapely.box(1, 0, 2, 1)], 10.0).distance.tolist()
    [3.0, 0.0, 2.0]
    """
    geoms = np.asarray(geoms, dtype=object)
    i, j = _pairs_within(geoms, max_distance)
    return Links(i, j, shapely.distance(geoms[i], geoms[j]))


def centroid_links(geoms, max_distance: float) -> Links:
    """Distances between centroids of every pair closer than ``max_distance`` (m)."""
    centres = shapely.centroid(np.asarray(geoms, dtype=object))
    i, j = _pairs_within(centres, max_distance)
    return Links(i, j, shapely.distance(centres[i], centres[j]))


def cut_links(links: Links, geoms, barrier) -> Links:
    """Drop the edge links whose shortest segment crosses ``barrier`` (a line geometry).

    The straight-line counterpart of a closed fence for edge and centroid distances.
    """
    if not len(links) or barrier is None or shapely.is_empty(barrier):
        return links
    geoms = np.asarray(geoms, dtype=object)
    segments = shapely.shortest_line(geoms[links.i], geoms[links.j])
    keep = ~shapely.intersects(segments, barrier)
    return Links(links.i[keep], links.j[keep], links.distance[keep])


def polygon_cells(grid: GridSpec, geom) -> tuple[np.ndarray, np.ndarray]:
    """Cells whose centre lies in ``geom``; a polygon smaller than a cell gets the cell under its
    representative point (if it lies on the grid)."""
    west, south, east, north = grid.bounds
    minx, miny, maxx, maxy = geom.bounds
    c0, c1 = _index_span(minx, maxx, west, grid.cell_size, grid.cols)
    r0, r1 = _index_span(north - maxy, north - miny, 0.0, grid.cell_size, grid.rows)
    rows, cols = np.mgrid[r0:r1, c0:c1]
    x, y = grid.cell_center(rows.ravel(), cols.ravel())
    inside = shapely.contains_xy(geom, x, y)
    rows, cols = rows.ravel()[inside], cols.ravel()[inside]
    if rows.size == 0:
        point = geom.representative_point()
        r, c = grid.rowcol(point.x, point.y)
        if 0 <= r < grid.rows and 0 <= c < grid.cols:
            rows, cols = np.array([r]), np.array([c])
    return rows.astype(np.int64), cols.astype(np.int64)


def _index_span(lo, hi, origin, cell, count):
    first = max(0, int(math.floor((lo - origin) / cell)))
    last = min(count, int(math.ceil((hi - origin) / cell)) + 1)
    return first, max(first, last)


def cost_graph(graph: ConductanceGraph) -> sp.csr_matrix:
    """Edge costs ``cell_size / w``: metres times the mean resistance of the two cells."""
    heads, tails, costs = [], [], []
    node = graph.node_index
    for (dr, dc), weight in zip(DIRECTIONS, graph.edge_weights, strict=True):
        rows, cols = np.nonzero(weight > 0)
        heads.append(node[rows, cols])
        tails.append(node[rows + dr, cols + dc])
        costs.append(graph.grid.cell_size / weight[rows, cols])
    i, j, c = np.concatenate(heads), np.concatenate(tails), np.concatenate(costs)
    n = graph.n_nodes
    return sp.csr_matrix((np.r_[c, c], (np.r_[i, j], np.r_[j, i])), shape=(n, n))


def _cell_nodes(graph: ConductanceGraph, cells) -> list[np.ndarray]:
    nodes = []
    for rows, cols in cells:
        index = graph.node_index[rows, cols]
        nodes.append(np.unique(index[index >= 0]))
    return nodes


def least_cost_links(graph: ConductanceGraph, cells, max_cost: float) -> Links:
    """Least-cost distance between every pair of cell sets within ``max_cost``.

    Parameters
    ----------
    graph : ConductanceGraph
        With fences already applied (:func:`crossings.core.barriers.apply_fences`): a closed
        fence removes the edges it cuts, so paths must go round it.
    cells : sequence of (rows, cols)
        The cells of each PA (:func:`polygon_cells`).
    max_cost : float
        Search limit (cost-weighted metres).

    Examples
    --------
    >>> from crossings.core.graph import build_graph
    >>> g = build_graph(GridSpec.from_origin(0, 1, 1, (1, 5), "EPSG:3857"), np.ones((1, 5)))
    >>> least_cost_links(g, [([0], [0]), ([0], [4])], 100.0).distance.tolist()
    [4.0]
    """
    matrix = cost_graph(graph)
    nodes = _cell_nodes(graph, cells)
    owner = np.full(graph.n_nodes, -1, np.int64)
    for k, members in enumerate(nodes):
        # A cell in two PAs belongs to the later one; the earlier reaches it at cost 0, and
        # Links keeps the shorter of the two directions.
        owner[members] = k
    links_i, links_j, dist = [], [], []
    for k, members in enumerate(nodes):
        if members.size == 0:
            continue
        costs = dijkstra(matrix, directed=False, indices=members, limit=max_cost, min_only=True)
        reached = np.flatnonzero(np.isfinite(costs) & (owner >= 0) & (owner != k))
        if reached.size == 0:
            continue
        targets = owner[reached]
        best = np.full(len(nodes), np.inf)
        np.minimum.at(best, targets, costs[reached])
        found = np.flatnonzero(np.isfinite(best))
        links_i.append(np.full(found.size, k))
        links_j.append(found)
        dist.append(best[found])
    if not links_i:
        return Links.empty()
    return Links(np.concatenate(links_i), np.concatenate(links_j), np.concatenate(dist))


def resistance_links(
    graph: ConductanceGraph,
    cells,
    max_resistance: float = math.inf,
    options: SolverOptions | None = None,
) -> Links:
    """Effective resistance (ohms) between every pair of PAs, each short-circuited over its cells.

    Pairs in different components (e.g. separated by a closed fence) get no link. One solve per
    pair: meant for tens of PAs.
    """
    nodes = _cell_nodes(graph, cells)
    present = [k for k, members in enumerate(nodes) if members.size]
    if len(present) < 2:
        return Links.empty()
    rows, cols, ids = [], [], []
    for k in present:
        r, c = np.asarray(cells[k][0]), np.asarray(cells[k][1])
        ok = graph.node_index[r, c] >= 0
        rows.append(r[ok])
        cols.append(c[ok])
        ids.append(np.full(int(ok.sum()), k + 1))
    focal = FocalPoints(np.concatenate(rows), np.concatenate(cols), np.concatenate(ids))
    result = pairwise(graph, focal, options=options or SolverOptions())
    index = result.ids - 1
    ii, jj = np.triu_indices(index.size, 1)
    resistance = result.resistances[ii, jj]
    keep = (resistance >= 0) & (resistance <= max_resistance)
    return Links(index[ii[keep]], index[jj[keep]], resistance[keep])


@dataclass(frozen=True)
class RegionNodes:
    """The nodes of one region's ProtConn graph.

    Attributes
    ----------
    national : ndarray of Polygon
        The region's PAs clipped to it, dissolved and split into single parts.
    pieces : ndarray of Polygon
        Each PA clipped to the region, split into parts, undissolved (for ProtConn[Within]).
    foreign : ndarray of Polygon
        PA land outside the region within ``buffer`` of it (parts of the region's own PAs that
        extend across the border, and foreign PAs), dissolved and split: stepping stones.
    land : ndarray of Polygon
        The region's single parts (for ECA_design).
    region_area : float
        m2.
    """

    national: np.ndarray
    pieces: np.ndarray
    foreign: np.ndarray
    land: np.ndarray
    region_area: float

    @property
    def all_nodes(self) -> np.ndarray:
        return np.r_[self.national, self.foreign]


def _parts(geom) -> np.ndarray:
    if geom is None or shapely.is_empty(geom):
        return np.zeros(0, dtype=object)
    parts = shapely.get_parts(geom)
    polygons = parts[np.isin(shapely.get_type_id(parts), (3,))]
    return polygons[shapely.area(polygons) > 0]


def region_nodes(pa_geoms, region, buffer: float) -> RegionNodes:
    """National PA patches, foreign stepping stones within ``buffer`` (m) and land parts.

    >>> region = shapely.box(0, 0, 10, 10)
    >>> nodes = region_nodes([shapely.box(1, 1, 3, 3), shapely.box(2, 2, 4, 4),
    ...                       shapely.box(11, 1, 12, 2), shapely.box(30, 0, 31, 1)], region, 5.0)
    >>> len(nodes.national), len(nodes.pieces), len(nodes.foreign)
    (1, 2, 1)
    """
    if region is None or shapely.is_empty(region) or shapely.area(region) <= 0:
        raise ConfigError("the region polygon is empty; give a polygon with an area.")
    geoms = np.asarray(shapely.make_valid(np.asarray(pa_geoms, dtype=object)), dtype=object)
    if geoms.size:
        geoms = geoms[shapely.intersects(geoms, region.buffer(buffer))]
    clipped = shapely.intersection(geoms, region) if geoms.size else geoms
    pieces = np.concatenate([_parts(g) for g in clipped]) if clipped.size else clipped
    union = shapely.union_all(geoms) if geoms.size else None
    national = _parts(shapely.union_all(clipped)) if clipped.size else clipped
    outside = None
    if union is not None:
        outside = shapely.intersection(shapely.difference(union, region), region.buffer(buffer))
    return RegionNodes(
        national=national,
        pieces=pieces,
        foreign=_parts(outside),
        land=_parts(region),
        region_area=float(shapely.area(region)),
    )


def node_links(
    geoms,
    kernel: Kernel,
    *,
    distance: DistanceKind = DistanceKind.EDGE,
    graph: ConductanceGraph | None = None,
    barrier=None,
    floor: float = DEFAULT_FLOOR,
) -> Links:
    """Links among ``geoms`` by one distance kind, searched up to where ``p`` falls below ``floor``.

    ``graph`` (fences applied) is needed for ``least_cost`` and ``resistance``; ``barrier`` (a line)
    cuts edge and centroid links whose shortest segment crosses it.
    """
    reach = kernel.distance_at(floor)
    geoms = np.asarray(geoms, dtype=object)
    if distance in (DistanceKind.EDGE, DistanceKind.CENTROID):
        finder = edge_links if distance is DistanceKind.EDGE else centroid_links
        return cut_links(finder(geoms, reach), geoms, barrier)
    if graph is None:
        raise ConfigError(
            f"distance '{distance.value}' needs a resistance surface; give one or use 'edge'.",
            field="distance",
        )
    cells = [polygon_cells(graph.grid, g) for g in geoms]
    if distance is DistanceKind.LEAST_COST:
        return least_cost_links(graph, cells, reach)
    return resistance_links(graph, cells, reach)


def region_protconn(
    pa_geoms,
    region,
    kernel: Kernel,
    *,
    buffer: float,
    distance: DistanceKind = DistanceKind.EDGE,
    graph: ConductanceGraph | None = None,
    barrier=None,
    convention: Convention = Convention.SAURA,
    floor: float = DEFAULT_FLOOR,
    area_unit: float = 1e6,
    nodes: RegionNodes | None = None,
) -> tuple[ProtConnResult, RegionNodes]:
    """ProtConn of one region (country) from PA polygons, with foreign PAs as stepping stones.

    Areas are reported in ``area_unit`` m2 (default km2). ECA_design links the region's land
    parts to the nodes by edge distance (0 to every PA they hold), as Saura et al. 2018.
    ``nodes``: the region's :func:`region_nodes` from an earlier call with the same PAs, region
    and buffer (saves clipping and buffering again when only the fences change).

    Examples
    --------
    Two 1 km2 PAs 10 km apart in a 100 km x 100 km country, kernel 0.5 at 10 km:

    >>> pas = [shapely.box(0, 0, 1000, 1000), shapely.box(11_000, 0, 12_000, 1000)]
    >>> r, _ = region_protconn(pas, shapely.box(0, 0, 1e5, 1e5), Kernel(10_000.0), buffer=0.0)
    >>> round(r.eca ** 2, 9)
    3.0
    """
    nodes = nodes or region_nodes(pa_geoms, region, buffer)
    geoms = nodes.all_nodes
    links = node_links(geoms, kernel, distance=distance, graph=graph, barrier=barrier, floor=floor)
    with_land = np.r_[geoms, nodes.land]
    land_links = edge_links(with_land, kernel.distance_at(floor))
    touches_land = (land_links.i >= geoms.size) | (land_links.j >= geoms.size)
    design = Links(
        land_links.i[touches_land], land_links.j[touches_land], land_links.distance[touches_land]
    )
    result = protconn(
        shapely.area(nodes.national) / area_unit,
        len(nodes.foreign),
        links,
        kernel,
        nodes.region_area / area_unit,
        piece_areas=shapely.area(nodes.pieces) / area_unit,
        design_links=design,
        n_design=len(nodes.land),
        convention=convention,
        floor=floor,
    )
    return result, nodes
