"""Fence-opening planner: which openings restore the most connectivity under security limits.

The objective is a circuit quantity between *terminals* (focal areas, each short-circuited into
one node): the effective conductance between two sets of focal areas across a fence, the
area-weighted mean conductance over focal-area pairs, or the total current across the fence
between the land on its two sides. Every terminal system is reduced onto its terminals (Kron
reduction, i.e. the Schur complement ``S = L_TT - L_TF K^-1 L_FT`` with ``K`` the Laplacian block
of the free nodes), factorising ``K`` ONCE.

An opening raises the conductance of a few graph edges, ``L' = L + U D U^T`` with one column
``e_i - e_j`` per edge, so the reduced matrix of any set of openings follows exactly from the
Woodbury identity with the precomputed products ``M = U_F^T K^-1 U_F``, ``H = L_TF K^-1 U_F``
and ``G = L_TF K^-1 L_FT``. The gain of every candidate given the openings already chosen is
therefore exact (no first-order approximation) and costs only small dense algebra; the
first-order estimate ``dV/dw_e = (v_i - v_j)^2``-style sensitivity is reported beside it.

Coordinates are in the landscape's projected CRS (metres).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import shapely

from crossings.core.fences import Fence, Opening
from crossings.core.graph import DIRECTIONS, ConductanceGraph
from crossings.core.solve import Solver, SPDSolver, connected_components
from crossings.errors import ConfigError, CrossingsWarning, SolverConvergenceError

__all__ = [
    "ObjectiveKind",
    "OpeningType",
    "Candidate",
    "Objective",
    "Sector",
    "VetoZone",
    "Constraints",
    "Rejection",
    "GroupEdgeModel",
    "FenceEdgeModel",
    "PlanEvaluator",
    "WoodburyState",
    "PlanStep",
    "PlanResult",
    "opening_types_from_mapping",
    "candidates_along_fences",
    "snap_candidates",
    "fence_side_regions",
    "check_focal_sides",
    "screen_candidates",
    "violation",
    "greedy_plan",
    "exact_plan",
    "pareto_front",
    "objective_value",
]

#: Columns of ``K^-1 U`` solved together (memory: n_unknowns * 8 bytes * this).
SOLVE_BLOCK = 64
#: Relative size below which an off-diagonal of the reduced matrix counts as "not connected".
DISCONNECTED_RTOL = 1e-13


class ObjectiveKind(enum.Enum):
    """What the planner maximises."""

    CONDUCTANCE = "conductance"
    PAIRWISE = "pairwise"
    FENCE_CURRENT = "fence_current"


# --------------------------------------------------------------------------------------------
# Opening types and candidates
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpeningType:
    """A kind of opening from the editable types table.

    Parameters
    ----------
    name : str
        E.g. ``lower_strands_removed``, ``seasonal_gate``, ``full_gap``.
    width : float
        Width along the fence, metres.
    permeability : float
        Conductance factor inside the opening (1 = as if there were no fence).
    security_cost : float
        Cost in the border agency's units (the budget is in the same units).
    months : tuple of int
        Months (1-12) the opening is open; empty = all year. Informational for the plan.
    description : str
    """

    name: str
    width: float
    permeability: float
    security_cost: float
    months: tuple[int, ...] = ()
    description: str = ""

    def __post_init__(self):
        where = f"opening type {self.name!r}"
        if not self.width > 0:
            raise ConfigError(f"width must be > 0 metres; got {self.width}", field=f"{where} width")
        if not 0.0 < self.permeability <= 1.0:
            raise ConfigError(
                f"permeability must be in (0, 1]; got {self.permeability}",
                field=f"{where} permeability",
            )
        if not self.security_cost >= 0:
            raise ConfigError(
                f"security_cost must be >= 0; got {self.security_cost}",
                field=f"{where} security_cost",
            )
        if any(m not in range(1, 13) for m in self.months):
            raise ConfigError(
                f"months must be within 1..12; got {list(self.months)}", field=f"{where} months"
            )


def opening_types_from_mapping(
    data: Mapping[str, Mapping], *, source: str | None = None
) -> dict[str, OpeningType]:
    """Build the types table from ``{name: {width=..., permeability=..., security_cost=...}}``.

    >>> t = opening_types_from_mapping({"full_gap": {"width": 20, "permeability": 1.0,
    ...                                              "security_cost": 3}})
    >>> t["full_gap"].width
    20.0
    """
    from crossings.config import from_mapping  # local: config imports nothing heavy either

    @dataclass(frozen=True)
    class _Row:
        width: float
        permeability: float
        security_cost: float
        months: tuple[int, ...] = ()
        description: str = ""

    table = {}
    for name, row in data.items():
        parsed = from_mapping(_Row, row, source=source, prefix=f"{name}.")
        table[name] = OpeningType(name=name, **dataclasses.asdict(parsed))
    if not table:
        raise ConfigError(
            "the opening types table is empty; define at least one type.", source=source
        )
    return table


@dataclass(frozen=True)
class Candidate:
    """One proposed opening: a site on a fence and an opening type.

    ``site`` groups the candidates of one location (one per type); at most one per site is
    chosen. ``position`` is metres along the fence from its first vertex.
    """

    candidate_id: str
    fence_id: str
    x: float
    y: float
    position: float
    kind: str
    width: float
    permeability: float
    security_cost: float
    site: str = ""
    country_pair: str = ""

    def opening(self) -> Opening:
        """The :class:`~crossings.core.fences.Opening` this candidate would create."""
        return Opening(
            fence_id=self.fence_id,
            x=self.x,
            y=self.y,
            width=self.width,
            permeability=self.permeability,
            kind=self.kind,
            opening_id=self.candidate_id,
        )


def _candidate(fence: Fence, position: float, kind: OpeningType, site: str) -> Candidate:
    point = shapely.LineString(fence.coords).interpolate(position)
    return Candidate(
        candidate_id=f"{site}:{kind.name}",
        fence_id=fence.fence_id,
        x=float(point.x),
        y=float(point.y),
        position=float(position),
        kind=kind.name,
        width=kind.width,
        permeability=kind.permeability,
        security_cost=kind.security_cost,
        site=site,
        country_pair=fence.country_pair,
    )


def candidates_along_fences(
    fences: Sequence[Fence],
    types: Sequence[OpeningType],
    *,
    spacing: float = 1000.0,
    fence_ids: Sequence[str] | None = None,
) -> tuple[Candidate, ...]:
    """Candidate sites every ``spacing`` metres along the chosen fences, one per opening type.

    Sites sit at ``spacing/2, 3*spacing/2, ...`` from each fence's first vertex so that none is
    on a fence end.

    >>> f = Fence("f1", [(0, 0), (0, 3000)])
    >>> t = OpeningType("full_gap", 20, 1.0, 1)
    >>> [(c.candidate_id, c.y) for c in candidates_along_fences([f], [t])]
    [('f1@500:full_gap', 500.0), ('f1@1500:full_gap', 1500.0), ('f1@2500:full_gap', 2500.0)]
    """
    if not spacing > 0:
        raise ConfigError(f"must be > 0 metres; got {spacing}", field="candidates.spacing")
    known = {f.fence_id for f in fences}
    for fid in fence_ids or ():
        if fid not in known:
            raise ConfigError(
                f"unknown fence {fid!r}; the fences are {sorted(known)}",
                field="candidates.fence_ids",
            )
    out = []
    for fence in fences:
        if fence_ids and fence.fence_id not in fence_ids:
            continue
        for position in np.arange(spacing / 2.0, fence.length, spacing):
            site = f"{fence.fence_id}@{position:.0f}"
            out.extend(_candidate(fence, position, kind, site) for kind in types)
    return tuple(out)


@dataclass(frozen=True)
class Rejection:
    """A candidate removed from the plan, with the rule that removed it."""

    candidate_id: str
    rule: str
    detail: str


def snap_candidates(
    points: Sequence[tuple[str, float, float, str]],
    fences: Sequence[Fence],
    types: Mapping[str, OpeningType],
    *,
    tolerance: float,
    source: str = "candidates",
) -> tuple[tuple[Candidate, ...], tuple[Rejection, ...]]:
    """Snap user-proposed openings ``(id, x, y, type)`` onto the nearest fence.

    Points farther than ``tolerance`` metres from every fence are rejected (rule ``off_fence``);
    if no point is near a fence a ConfigError says so.
    """
    lines = [shapely.LineString(f.coords) for f in fences]
    candidates, rejected = [], []
    for cid, x, y, kind in points:
        if kind not in types:
            raise ConfigError(
                f"candidate {cid!r} has opening type {kind!r}; the types table defines "
                f"{sorted(types)}",
                source=source,
                field="type",
            )
        point = shapely.Point(x, y)
        distances = [line.distance(point) for line in lines]
        nearest = int(np.argmin(distances)) if distances else -1
        if nearest < 0 or distances[nearest] > tolerance:
            gap = f"{distances[nearest]:.0f} m" if distances else "no fences"
            rejected.append(Rejection(str(cid), "off_fence", f"nearest fence is {gap} away"))
            continue
        position = lines[nearest].project(point)
        base = _candidate(fences[nearest], position, types[kind], str(cid))
        candidates.append(dataclasses.replace(base, candidate_id=str(cid)))
    if points and not candidates:
        raise ConfigError(
            f"none of the {len(points)} proposed openings lies within {tolerance:g} m of a fence "
            "(the closest is listed in rejected.csv). Check that the candidates and fences are "
            "in the same CRS, or raise candidates.snap_tolerance.",
            source=source,
            field="geometry",
        )
    return tuple(candidates), tuple(rejected)


# --------------------------------------------------------------------------------------------
# Objective (focal areas) and side checks
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Objective:
    """What to maximise and between which focal areas.

    Parameters
    ----------
    kind : ObjectiveKind
    regions_a, regions_b : ndarray of int, grid shape
        Focal areas on each side of the fence, 0 outside, region ids 1..n inside. For
        ``CONDUCTANCE`` and ``FENCE_CURRENT`` each side is short-circuited into one node; for
        ``PAIRWISE`` every region is its own node and the objective is the area-weighted mean
        of the conductances of all (a, b) pairs.
    """

    kind: ObjectiveKind
    regions_a: np.ndarray
    regions_b: np.ndarray

    def __post_init__(self):
        a, b = np.asarray(self.regions_a), np.asarray(self.regions_b)
        if a.shape != b.shape:
            raise ConfigError(
                f"focal area rasters differ in shape: {a.shape} vs {b.shape}",
                field="objective",
            )
        object.__setattr__(self, "regions_a", a.astype(np.int64))
        object.__setattr__(self, "regions_b", b.astype(np.int64))


def _terminals(objective: Objective, valid: np.ndarray):
    """Terminal index per cell (-1 = free) and, per terminal, (side, region id, area cells)."""
    a = np.where(valid, objective.regions_a, 0)
    b = np.where(valid, objective.regions_b, 0)
    for name, regions in (("side_a", a), ("side_b", b)):
        if not (regions > 0).any():
            raise ConfigError(
                "the focal areas of this side cover no valid (non-NoData) cell of the grid. "
                "Check the layer, its CRS and the region names (for kind = 'fence_current': "
                "lower objective.buffer).",
                field=f"objective.{name}",
            )
    overlap = (a > 0) & (b > 0)
    if overlap.any():
        raise ConfigError(
            f"{int(overlap.sum())} cell(s) belong to focal areas of both sides; the two sides "
            "must be disjoint.",
            field="objective",
        )
    terminal = np.full(valid.shape, -1, dtype=np.int64)
    info = []
    if objective.kind is ObjectiveKind.PAIRWISE:
        for side, regions in ((0, a), (1, b)):
            for rid in np.unique(regions[regions > 0]):
                terminal[regions == rid] = len(info)
                info.append((side, int(rid), int((regions == rid).sum())))
    else:
        terminal[a > 0], terminal[b > 0] = 0, 1
        info = [(0, 0, int((a > 0).sum())), (1, 0, int((b > 0).sum()))]
    return terminal, info


def _signed_side(fence: Fence, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """+1 left of the fence (walking from its first vertex), -1 right, 0 on it."""
    line = shapely.LineString(fence.coords)
    points = shapely.points(x, y)
    along = shapely.line_locate_point(line, points)
    cumulative = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(fence.coords, axis=0).T))])
    segment = np.clip(
        np.searchsorted(cumulative, along, side="right") - 1, 0, len(fence.coords) - 2
    )
    start, end = fence.coords[segment], fence.coords[segment + 1]
    nearest = shapely.get_coordinates(shapely.line_interpolate_point(line, along))
    cross = (end[:, 0] - start[:, 0]) * (y - nearest[:, 1]) - (end[:, 1] - start[:, 1]) * (
        x - nearest[:, 0]
    )
    return np.sign(cross)


def fence_side_regions(
    grid, valid: np.ndarray, fences: Sequence[Fence], *, buffer: float
) -> tuple[np.ndarray, np.ndarray]:
    """Focal rasters for ``FENCE_CURRENT``: the land beside the fences, on each side.

    A cell belongs to side a (left of its nearest fence) or side b (right) when it is at least
    ``buffer`` metres from every fence and its nearest point on that fence is not a fence end
    (cells beyond the ends are on neither side).
    """
    rows, cols = np.nonzero(valid)
    x, y = grid.cell_center(rows, cols)
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    lines = [shapely.LineString(f.coords) for f in fences]
    points = shapely.points(x, y)
    distances = np.stack([shapely.distance(line, points) for line in lines])
    nearest = distances.argmin(axis=0)
    side = np.zeros(len(x))
    for k, fence in enumerate(fences):
        mine = nearest == k
        along = shapely.line_locate_point(lines[k], points[mine])
        inner = (along > 1e-9) & (along < fence.length - 1e-9)
        side[np.flatnonzero(mine)[inner]] = _signed_side(fence, x[mine][inner], y[mine][inner])
    far = distances.min(axis=0) >= buffer
    regions_a, regions_b = np.zeros(valid.shape, np.int64), np.zeros(valid.shape, np.int64)
    regions_a[rows[far & (side > 0)], cols[far & (side > 0)]] = 1
    regions_b[rows[far & (side < 0)], cols[far & (side < 0)]] = 1
    return regions_a, regions_b


def check_focal_sides(grid, objective: Objective, fences: Sequence[Fence]) -> None:
    """Raise ConfigError when no fence has the two sides' focal areas on opposite sides.

    The side of an area is the majority side of its cells with respect to each fence (extended
    past its ends). Openings cannot change the connectivity between two areas on one side.
    """
    masks = []
    for regions in (objective.regions_a, objective.regions_b):
        rows, cols = np.nonzero(regions > 0)
        x, y = grid.cell_center(rows, cols)
        masks.append((np.atleast_1d(x), np.atleast_1d(y)))
    for fence in fences:
        sides = [np.sign(_signed_side(fence, x, y).sum()) for x, y in masks]
        if sides[0] != 0 and sides[1] != 0 and sides[0] != sides[1]:
            return
    raise ConfigError(
        "the focal areas of side_a and side_b lie on the same side of every fence, so no opening "
        "can change the connectivity between them. Choose focal areas on opposite sides of the "
        "fence (e.g. summer range north, winter range south).",
        field="objective",
    )


# --------------------------------------------------------------------------------------------
# Edge changes: which graph edges each candidate restores, and by how much
# --------------------------------------------------------------------------------------------
class GroupEdgeModel:
    """Candidates as explicit groups of graph edges, each raised to a target conductance.

    An edge's conductance for a set of chosen candidates is the largest of its base value and
    the targets of the chosen candidates that cover it (monotone: opening more never lowers a
    conductance). Useful for tests and for user-defined edge groups.

    Parameters
    ----------
    edges : ndarray, shape (m, 2)
        Graph node numbers of both ends of every edge any candidate touches.
    base_weights : ndarray, shape (m,)
        Their conductance with no candidate open (0 for a closed fence).
    members : sequence of ndarray of int
        Per candidate, indices into ``edges``.
    targets : sequence of ndarray of float
        Per candidate, the conductance of each member edge when that candidate is open.
    """

    def __init__(self, edges, base_weights, members, targets):
        self.edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        self.base_weights = np.asarray(base_weights, dtype=float)
        self.members = tuple(np.asarray(m, dtype=np.int64) for m in members)
        self.targets = tuple(np.asarray(t, dtype=float) for t in targets)

    @property
    def n_candidates(self) -> int:
        return len(self.members)

    def deltas(self, selection: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Edge indices and conductance increases over the base state for ``selection``."""
        best = {}
        for c in selection:
            for e, target in zip(self.members[c], self.targets[c], strict=True):
                best[int(e)] = max(best.get(int(e), -np.inf), float(target))
        if not best:
            return np.zeros(0, np.int64), np.zeros(0)
        index = np.fromiter(best, dtype=np.int64)
        raised = np.maximum(np.fromiter(best.values(), dtype=float), self.base_weights[index])
        return index, raised - self.base_weights[index]

    def upper_deltas(self, selection: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per-edge increases at least as large as those of any subset of ``selection``."""
        return self.deltas(selection)


class FenceEdgeModel:
    """Candidate openings on fences, through :mod:`crossings.core.barriers`.

    An edge's conductance is its no-fence conductance times the product of the factors of
    every fence cutting it, with the existing openings plus the chosen candidates open.

    Parameters
    ----------
    free_graph : ConductanceGraph
        The landscape graph WITHOUT fences.
    fences : sequence of Fence
    candidates : sequence of Candidate
    existing : sequence of Opening
        Openings already in the fences (part of the base state).
    cuts : EdgeCuts, optional
        ``barriers.fence_edge_cuts`` of these fences on this grid (computed if omitted).
    """

    def __init__(self, free_graph, fences, candidates, existing=(), cuts=None):
        from crossings.core import barriers

        self._barriers = barriers
        self.fences = tuple(fences)
        self.existing = tuple(existing)
        cell = free_graph.grid.cell_size
        self.cell_size = cell
        if cuts is None:
            cuts = barriers.fence_edge_cuts(
                free_graph.grid, self.fences, connect_four=free_graph.connect_four
            )
        self.cuts = cuts
        key = (np.asarray(cuts.direction) * free_graph.grid.rows + np.asarray(cuts.row)) * (
            free_graph.grid.cols
        ) + np.asarray(cuts.col)
        edge_keys, self._row_edge = np.unique(key, return_inverse=True)
        self._rows_of_edge = _group_rows(self._row_edge, len(edge_keys))
        self._permeability = np.array([f.permeability for f in self.fences], dtype=float)
        self._candidates = tuple(candidates)
        cand_cover = [self._restoration(c.opening()) for c in self._candidates]
        self._existing_cover = [self._restoration(o) for o in self.existing]
        member_rows = [np.unique(self._row_edge[rows]) for rows, _ in cand_cover]
        used = np.unique(np.concatenate(member_rows)) if member_rows else np.zeros(0, np.int64)
        nodes, keep = _edge_nodes(free_graph, edge_keys[used])
        used = used[keep]
        local = {int(e): k for k, e in enumerate(used)}
        self.edges = nodes
        self.members = tuple(
            np.array([local[int(e)] for e in rows if int(e) in local], dtype=np.int64)
            for rows in member_rows
        )
        self._cand_cover = [
            (rows, fraction, np.full(len(rows), c.permeability))
            for (rows, fraction), c in zip(cand_cover, self._candidates, strict=True)
        ]
        # Existing openings restoring a row of an edge some candidate touches (the only ones that
        # can interact with the candidates).
        used_rows = np.concatenate([self._rows_of_edge[e] for e in used] + [np.zeros(0, np.int64)])
        self._existing_near = [
            (rows, fraction, np.full(len(rows), o.permeability))
            for (rows, fraction), o in zip(self._existing_cover, self.existing, strict=True)
            if np.isin(rows, used_rows).any()
        ]
        self._used = used
        self._free_weights = _edge_weight_at(free_graph, edge_keys[used])
        self.base_weights = self._weights_with([], np.arange(len(used)))
        self._single = [self._raw_deltas((c,)) for c in range(len(self._candidates))]

    def _restoration(self, opening: Opening) -> tuple[np.ndarray, np.ndarray]:
        rows, fraction = self._barriers.opening_restoration(
            self.cuts, self.fences, [opening], self.cell_size
        )
        return np.asarray(rows, dtype=np.int64), np.asarray(fraction, dtype=float)

    def _row_factors(self, rows: np.ndarray, covers) -> np.ndarray:
        """``edge_factors`` of ``rows`` with the given openings (``barriers.combine_openings``).

        Computed from each opening's restoration so that scoring a candidate does not re-walk
        every opening.
        """
        base = self._permeability[np.asarray(self.cuts.fence_index)[rows]]
        position = {int(r): k for k, r in enumerate(rows)}
        parts = [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0)]
        for cover_rows, fraction, perm in covers:
            idx = np.array([position.get(int(r), -1) for r in cover_rows], dtype=np.int64)
            hit = idx >= 0
            for part, values in zip(parts, (idx[hit], fraction[hit], perm[hit]), strict=True):
                part.append(values)
        idx, fraction, perm = (np.concatenate(part) for part in parts)
        return self._barriers.combine_openings(base, idx, fraction, perm)

    def _weights_with(self, chosen_covers, local_edges) -> np.ndarray:
        """Conductance of the local edges with the existing openings and ``chosen_covers``."""
        if len(local_edges) == 0:
            return np.zeros(0)
        edge_ids = self._used[local_edges]
        groups = [self._rows_of_edge[e] for e in edge_ids]
        rows = np.concatenate(groups)
        factors = self._row_factors(rows, list(self._existing_near) + list(chosen_covers))
        owner = np.repeat(np.arange(len(edge_ids)), [len(g) for g in groups])
        product = np.ones(len(edge_ids))
        np.multiply.at(product, owner, factors)
        return self._free_weights[local_edges] * product

    def _raw_deltas(self, selection) -> tuple[np.ndarray, np.ndarray]:
        parts = [self.members[c] for c in selection] + [np.zeros(0, np.int64)]
        local = np.unique(np.concatenate(parts)).astype(np.int64)
        weights = self._weights_with([self._cand_cover[c] for c in selection], local)
        return local, np.maximum(weights - self.base_weights[local], 0.0)

    def deltas(self, selection: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Edge indices and conductance increases over the base state for ``selection``."""
        selection = tuple(selection)
        members = [self.members[c] for c in selection]
        flat = np.concatenate(members + [np.zeros(0, np.int64)])
        if len(np.unique(flat)) == len(flat):  # no shared edge: single-candidate results add up
            parts = [self._single[c] for c in selection]
            return (
                np.concatenate([p[0] for p in parts] + [np.zeros(0, np.int64)]),
                np.concatenate([p[1] for p in parts] + [np.zeros(0)]),
            )
        return self._raw_deltas(selection)

    def upper_deltas(self, selection: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per-edge increases at least as large as those of any subset of ``selection``.

        The sum of the single-candidate increases (overlapping openings share an edge, so their
        joint increase is at most that sum), capped at removing the fence from the edge.
        """
        total = np.zeros(len(self.base_weights))
        for c in selection:
            index, delta = self._single[c]
            np.add.at(total, index, delta)
        cap = np.maximum(self._free_weights - self.base_weights, 0.0)
        index = np.flatnonzero(total > 0)
        return index, np.minimum(total[index], cap[index])


def _group_rows(row_edge: np.ndarray, n_edges: int) -> list[np.ndarray]:
    order = np.argsort(row_edge, kind="stable")
    bounds = np.searchsorted(row_edge[order], np.arange(n_edges + 1))
    return [order[bounds[k] : bounds[k + 1]] for k in range(n_edges)]


def _decode(graph: ConductanceGraph, keys: np.ndarray):
    rows_n, cols_n = graph.grid.shape
    direction, rest = np.divmod(keys, rows_n * cols_n)
    row, col = np.divmod(rest, cols_n)
    return direction, row, col


def _edge_nodes(graph: ConductanceGraph, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    direction, row, col = _decode(graph, keys)
    offsets = np.array(DIRECTIONS)
    row2, col2 = row + offsets[direction, 0], col + offsets[direction, 1]
    inside = (row2 >= 0) & (row2 < graph.grid.rows) & (col2 >= 0) & (col2 < graph.grid.cols)
    i = np.full(len(keys), -1)
    j = np.full(len(keys), -1)
    i[inside] = graph.node_index[row[inside], col[inside]]
    j[inside] = graph.node_index[row2[inside], col2[inside]]
    keep = (i >= 0) & (j >= 0)
    return np.stack([i[keep], j[keep]], axis=1), keep


def _edge_weight_at(graph: ConductanceGraph, keys: np.ndarray) -> np.ndarray:
    direction, row, col = _decode(graph, keys)
    stacked = np.stack(graph.edge_weights)
    return stacked[direction, row, col].astype(float)


# --------------------------------------------------------------------------------------------
# Exact evaluation by Kron reduction + Woodbury
# --------------------------------------------------------------------------------------------
class PlanEvaluator:
    """Exact objective value of any set of candidates, from one factorisation.

    Parameters
    ----------
    graph : ConductanceGraph
        The landscape in its base state (fences and existing openings applied).
    objective : Objective
    model : GroupEdgeModel or FenceEdgeModel or None
        Which edges each candidate changes (node numbers of ``graph``).
    solver : Solver
    tol : float
        Residual tolerance of every solve.

    Notes
    -----
    Free nodes whose connected component (base state) holds no focal area carry no current and
    are dropped; candidate edges into such enclosed areas are ignored (a warning says how many).
    """

    def __init__(self, graph, objective, model=None, *, solver=Solver.AUTO, tol=1e-10):
        started = time.perf_counter()
        self.objective = objective
        self.model = model
        if objective.regions_a.shape != tuple(graph.grid.shape):
            raise ConfigError(
                f"focal rasters have shape {objective.regions_a.shape}, grid is {graph.grid.shape}",
                field="objective",
            )
        terminal_cell, self.terminal_info = _terminals(objective, graph.valid)
        terminal = terminal_cell[graph.valid]
        laplacian = graph.laplacian()
        n_terminals = len(self.terminal_info)
        free = self._anchored_free_nodes(laplacian, terminal)
        n = laplacian.shape[0]
        assign = sp.csr_matrix(
            (
                np.ones(int((terminal >= 0).sum())),
                (np.flatnonzero(terminal >= 0), terminal[terminal >= 0]),
            ),
            shape=(n, n_terminals),
        )
        self._free_index = np.full(n, -1, dtype=np.int64)
        self._free_index[free] = np.arange(len(free))
        self._assign = assign
        l_tt = (assign.T @ laplacian @ assign).toarray()
        l_tf = (assign.T @ laplacian[:, free]).tocsr()
        if len(free):
            self._k = laplacian[free][:, free]
            self._solver = SPDSolver(self._k, solver=solver, tol=tol, n_rhs_hint=n_terminals + 64)
            x = self._solve_blocks(l_tf.T.toarray())
        else:
            self._solver, x = None, np.zeros((0, n_terminals))
        self._l_tt = l_tt
        self._g = np.asarray(l_tf @ x)
        self._x = x
        self._prepare_edges(model)
        self.setup_seconds = time.perf_counter() - started

    # -- setup ---------------------------------------------------------------------------------
    @staticmethod
    def _anchored_free_nodes(laplacian, terminal: np.ndarray) -> np.ndarray:
        _count, labels = connected_components(laplacian)
        anchored = np.zeros(labels.max(initial=0) + 1, dtype=bool)
        anchored[labels[terminal >= 0]] = True
        return np.flatnonzero((terminal < 0) & anchored[labels])

    def _solve_blocks(self, rhs: np.ndarray) -> np.ndarray:
        out = np.empty_like(rhs)
        for start in range(0, rhs.shape[1], SOLVE_BLOCK):
            out[:, start : start + SOLVE_BLOCK] = self._solver.solve(
                rhs[:, start : start + SOLVE_BLOCK]
            )
        return out

    def _dense_gram(self, touched: np.ndarray) -> np.ndarray:
        """``Q = E^T K^-1 E`` by residual-checked solves, SOLVE_BLOCK columns at a time."""
        n_free = self._solver.info.n_unknowns
        q = np.empty((len(touched), len(touched)))
        for start in range(0, len(touched), SOLVE_BLOCK):
            block = touched[start : start + SOLVE_BLOCK]
            rhs = np.zeros((n_free, len(block)))
            rhs[block, np.arange(len(block))] = 1.0
            q[:, start : start + len(block)] = self._solver.solve(rhs)[touched]
        return q

    def _sparse_gram(self, touched: np.ndarray) -> np.ndarray | None:
        """``Q`` from a sparse forward solve ``W = L^-1 P E`` (CHOLMOD): ``Q = W^T D^-1 W``.

        Unit right-hand sides stay sparse through the forward solve, so this is several times
        faster than full solves. Used when the solver is CHOLMOD; one column is checked against
        a residual-checked full solve. Returns None when CHOLMOD is not in use.
        """
        if self._solver.method is not Solver.CHOLMOD:
            return None
        try:
            from sksparse.cholmod import cholesky  # optional: only with the cholmod extra
        except ImportError:
            return None
        factor = cholesky(self._k.tocsc())
        unit = sp.csc_matrix(
            (np.ones(len(touched)), (touched, np.arange(len(touched)))),
            shape=(self._k.shape[0], len(touched)),
        )
        w = factor.solve_L(factor.apply_P(unit), use_LDLt_decomposition=True)
        q = (w.T @ sp.diags(1.0 / factor.D()) @ w).toarray()
        check = self._solver.solve(unit[:, [0]].toarray())[touched, 0]
        error = np.abs(q[:, 0] - check).max() / max(np.abs(check).max(), 1e-300)
        if not error <= 1e-8:
            raise SolverConvergenceError(residual=float(error), tol=1e-8, solver="cholmod")
        return q

    def _edge_gram(self, free_pos, cols, signs, m) -> np.ndarray:
        """``M = U_F^T K^-1 U_F`` from one solve per free node the candidate edges touch.

        ``U_F = E B`` with ``E`` the unit columns of the touched nodes, so ``M = B^T Q B`` with
        ``Q = E^T K^-1 E`` (fewer solves than one per edge: neighbouring edges share nodes).
        """
        touched, position = np.unique(free_pos, return_inverse=True)
        b = sp.csr_matrix((signs, (position, cols)), shape=(len(touched), m))
        q = self._sparse_gram(touched)
        if q is None:
            q = self._dense_gram(touched)
        q = 0.5 * (q + q.T)
        return np.asarray((b.T @ (b.T @ q).T).T)

    def _prepare_edges(self, model) -> None:
        edges = np.zeros((0, 2), np.int64) if model is None else model.edges
        m = len(edges)
        n_free = len(self._free_index[self._free_index >= 0])
        cols = np.repeat(np.arange(m), 2)
        signs = np.tile([1.0, -1.0], m)
        nodes = edges.reshape(-1)
        free_pos = self._free_index[nodes] if m else np.zeros(0, np.int64)
        term = self._assign[nodes].toarray() if m else np.zeros((0, len(self.terminal_info)))
        floating = (free_pos < 0) & (term.sum(axis=1) == 0)
        dropped = np.unique(cols[floating])
        if len(dropped):
            import warnings

            warnings.warn(
                f"{len(dropped)} candidate edge(s) lead into areas with no focal area and no "
                "other link to one (enclosed); they are ignored by the objective.",
                CrossingsWarning,
                stacklevel=3,
            )
        on_free = free_pos >= 0
        self._u_f = sp.csc_matrix(
            (signs[on_free], (free_pos[on_free], cols[on_free])), shape=(n_free, m)
        )
        self._u_t = (term * signs[:, None]).reshape(m, 2, -1).sum(axis=1).T if m else term.T
        self._u_t[:, dropped] = 0.0
        if m and n_free:
            self._m = self._edge_gram(free_pos[on_free], cols[on_free], signs[on_free], m)
            self._m = 0.5 * (self._m + self._m.T)
            self._h = np.asarray((self._u_f.T @ self._x).T)
        else:
            self._m = np.zeros((m, m))
            self._h = np.zeros((len(self.terminal_info), m))
        self._m[:, dropped] = 0.0
        self._m[dropped, :] = 0.0
        self._h[:, dropped] = 0.0

    # -- reduced matrix ------------------------------------------------------------------------
    def reduced_matrix(self, edge_index: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """The terminal Schur complement with the edges ``edge_index`` raised by ``delta``."""
        s_base = self._l_tt - self._g
        if len(edge_index) == 0:
            return 0.5 * (s_base + s_base.T)
        u_t = self._u_t[:, edge_index]
        h = self._h[:, edge_index]
        m = self._m[np.ix_(edge_index, edge_index)]
        d = np.asarray(delta, dtype=float)
        ud = u_t * d
        # P K^-1 P^T with P = L_TF + U_T D U_F^T, expanded; then the Woodbury correction.
        pkp = self._g + h @ ud.T + ud @ h.T + ud @ m @ ud.T
        py = h + ud @ m
        w = np.linalg.solve(np.eye(len(d)) + m * d, py.T)
        s = self._l_tt + ud @ u_t.T - pkp + (py * d) @ w
        return 0.5 * (s + s.T)

    def _sensitivities(self, edge_index, delta, probe) -> np.ndarray:
        """Terminal-space gradient vectors ``r_e`` of the edges ``probe`` in a given state."""
        r = self._u_t[:, probe] - self._h[:, probe]
        if len(edge_index) == 0:
            return r
        u_t = self._u_t[:, edge_index]
        h = self._h[:, edge_index]
        m = self._m[np.ix_(edge_index, edge_index)]
        m_probe = self._m[np.ix_(edge_index, probe)]
        d = np.asarray(delta, dtype=float)
        ud = u_t * d
        py = h + ud @ m
        correction = ud @ m_probe - (py * d) @ np.linalg.solve(np.eye(len(d)) + m * d, m_probe)
        return r - correction

    # -- objective -----------------------------------------------------------------------------
    def value_of_matrix(self, s: np.ndarray) -> float:
        """The objective from a reduced (terminal) Laplacian."""
        if self.objective.kind is not ObjectiveKind.PAIRWISE:
            return float(max(-s[0, 1], 0.0)) + 0.0
        return _pairwise_value(s, self.terminal_info)

    def value(self, selection: Sequence[int] = ()) -> float:
        """Exact objective with the candidates ``selection`` open."""
        edge_index, delta = self._deltas(selection)
        return self.value_of_matrix(self.reduced_matrix(edge_index, delta))

    def _deltas(self, selection):
        if not selection or self.model is None:
            return np.zeros(0, np.int64), np.zeros(0)
        return self.model.deltas(tuple(selection))

    def upper_bound(self, selection: Sequence[int]) -> float:
        """At least the value of every subset of ``selection`` (Rayleigh monotonicity)."""
        if not selection or self.model is None:
            return self.value(())
        edge_index, delta = self.model.upper_deltas(tuple(selection))
        return self.value_of_matrix(self.reduced_matrix(edge_index, delta))

    def gains(self, selection: Sequence[int], candidates: Sequence[int]) -> np.ndarray:
        """Exact gain of adding each of ``candidates`` to ``selection``."""
        base = self.value(selection)
        return np.array([self.value(tuple(selection) + (c,)) - base for c in candidates])

    def first_order(self, selection: Sequence[int], candidates: Sequence[int]) -> np.ndarray:
        """First-order estimate of each candidate's gain: sum over its edges of dV/dw * dw."""
        edge_index, delta = self._deltas(selection)
        s = self.reduced_matrix(edge_index, delta)
        out = []
        for c in candidates:
            index, total = self._deltas(tuple(selection) + (c,))
            extra = dict(zip(index.tolist(), total.tolist(), strict=True))
            for e, dv in zip(edge_index.tolist(), delta.tolist(), strict=True):
                extra[e] = extra.get(e, 0.0) - dv
            probe = np.array([e for e, v in extra.items() if v != 0.0], dtype=np.int64)
            if len(probe) == 0:
                out.append(0.0)
                continue
            r = self._sensitivities(edge_index, delta, probe)
            change = (r * np.array([extra[e] for e in probe])) @ r.T
            out.append(self._directional(s, change))
        return np.array(out)

    def _directional(self, s: np.ndarray, change: np.ndarray) -> float:
        if self.objective.kind is not ObjectiveKind.PAIRWISE:
            return float(-change[0, 1])  # the objective is linear in the reduced matrix
        step = 1e-6 / max(float(np.abs(change).max()), 1e-300) * max(float(np.abs(s).max()), 1e-300)
        up = self.value_of_matrix(s + step * change)
        down = (
            self.value_of_matrix(s - step * change) if self._positive(s - step * change) else None
        )
        if down is None:
            return (up - self.value_of_matrix(s)) / step
        return (up - down) / (2 * step)

    @staticmethod
    def _positive(s: np.ndarray) -> bool:
        off = s - np.diag(np.diag(s))
        return bool((off <= 1e-300).all())

    @property
    def solve_info(self):
        return None if self._solver is None else self._solver.info


class WoodburyState:
    """The evaluator's projected system with a set of candidates open (a growing Woodbury).

    Holds ``M_S = U_F^T K_S^-1 U_F``, ``H_S``, ``G_S`` and ``L_TT(S)`` for the current set ``S``,
    so that the exact gain of any further candidate costs a few small dense operations, and
    adding a candidate updates them exactly (no re-factorisation).
    """

    def __init__(self, evaluator: PlanEvaluator):
        self.evaluator = evaluator
        self.selection: tuple[int, ...] = ()
        self._m = evaluator._m.copy()
        self._h = evaluator._h.copy()
        self._g = evaluator._g.copy()
        self._l_tt = evaluator._l_tt.copy()
        self._delta: dict[int, float] = {}
        self.matrix = 0.5 * ((self._l_tt - self._g) + (self._l_tt - self._g).T)
        self.value = evaluator.value_of_matrix(self.matrix)

    def increments(self, candidate: int) -> tuple[np.ndarray, np.ndarray]:
        """Edges whose conductance ``candidate`` raises beyond the current state, and how much."""
        index, total = self.evaluator._deltas(self.selection + (candidate,))
        extra = total - np.array([self._delta.get(int(e), 0.0) for e in index])
        keep = extra != 0.0
        return index[keep], extra[keep]

    def _update(self, index, d):
        u_t = self.evaluator._u_t[:, index]
        h = self._h[:, index]
        m = self._m[np.ix_(index, index)]
        ud = u_t * d
        pkp = self._g + h @ ud.T + ud @ h.T + ud @ m @ ud.T
        py = h + ud @ m
        a = np.eye(len(d)) + m * d
        return ud, u_t, py, pkp, a

    def matrix_after(self, candidate: int) -> np.ndarray:
        index, d = self.increments(candidate)
        if len(index) == 0:
            return self.matrix
        ud, u_t, py, pkp, a = self._update(index, d)
        s = self._l_tt + ud @ u_t.T - pkp + (py * d) @ np.linalg.solve(a, py.T)
        return 0.5 * (s + s.T)

    def gain(self, candidate: int) -> float:
        """Exact gain of opening ``candidate`` on top of the current set."""
        return self.evaluator.value_of_matrix(self.matrix_after(candidate)) - self.value

    def first_order(self, candidate: int) -> float:
        """First-order estimate of the same gain: sum of dV/dw_e * dw_e over its edges."""
        index, d = self.increments(candidate)
        if len(index) == 0:
            return 0.0
        r = self.evaluator._u_t[:, index] - self._h[:, index]
        return self.evaluator._directional(self.matrix, (r * d) @ r.T)

    def add(self, candidate: int) -> None:
        """Open ``candidate``: update the projected system exactly."""
        index, d = self.increments(candidate)
        if len(index):
            ud, u_t, py, pkp, a = self._update(index, d)
            m_rows = self._m[index, :]
            self._h = self._h + ud @ m_rows - (py * d) @ np.linalg.solve(a, m_rows)
            self._m = self._m - (self._m[:, index] * d) @ np.linalg.solve(a, m_rows)
            self._g = pkp - (py * d) @ np.linalg.solve(a, py.T)
            self._l_tt = self._l_tt + ud @ u_t.T
            for e, extra in zip(index.tolist(), d.tolist(), strict=True):
                self._delta[e] = self._delta.get(e, 0.0) + extra
        self.selection = self.selection + (candidate,)
        s = self._l_tt - self._g
        self.matrix = 0.5 * (s + s.T)
        self.value = self.evaluator.value_of_matrix(self.matrix)


def _pairwise_value(s: np.ndarray, info) -> float:
    """Area-weighted mean conductance over all (side a, side b) region pairs."""
    scale = max(float(np.abs(s).max()), 1e-300)
    adjacency = sp.csr_matrix(np.where(-s > DISCONNECTED_RTOL * scale, 1.0, 0.0))
    _n, labels = connected_components(adjacency)
    a_terms = [k for k, (side, _, _) in enumerate(info) if side == 0]
    b_terms = [k for k, (side, _, _) in enumerate(info) if side == 1]
    resistance = _component_resistances(s, labels)
    total, weight_sum = 0.0, 0.0
    for p in a_terms:
        for q in b_terms:
            weight = info[p][2] * info[q][2]
            weight_sum += weight
            if labels[p] == labels[q]:
                total += weight / resistance(p, q)
    return total / weight_sum


def _component_resistances(s: np.ndarray, labels: np.ndarray) -> Callable[[int, int], float]:
    inverses = {}
    for label in np.unique(labels):
        nodes = np.flatnonzero(labels == label)
        if len(nodes) > 1:
            grounded = nodes[:-1]
            inverse = np.zeros((len(s), len(s)))
            inverse[np.ix_(grounded, grounded)] = np.linalg.inv(s[np.ix_(grounded, grounded)])
            inverses[int(label)] = inverse

    def resistance(p: int, q: int) -> float:
        inv = inverses[int(labels[p])]
        return float(inv[p, p] + inv[q, q] - 2 * inv[p, q])

    return resistance


def objective_value(graph: ConductanceGraph, objective: Objective, *, solver=Solver.AUTO) -> float:
    """The objective on ``graph`` as it is (one fresh factorisation; no candidates)."""
    return PlanEvaluator(graph, objective, None, solver=solver).value(())


# --------------------------------------------------------------------------------------------
# Security constraints
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sector:
    """A stretch of one fence with its own quota and allowed opening types.

    ``start``/``end`` are metres along the fence; ``max_openings`` None = no quota; empty
    ``allowed_types`` = every type allowed.
    """

    name: str
    fence_id: str
    start: float = 0.0
    end: float = math.inf
    max_openings: int | None = None
    allowed_types: tuple[str, ...] = ()

    def contains(self, candidate: Candidate) -> bool:
        return candidate.fence_id == self.fence_id and self.start <= candidate.position <= self.end


@dataclass(frozen=True)
class VetoZone:
    """A zone where no opening may be (border post, checkpoint, settlement), plus a buffer."""

    name: str
    geometry: object
    buffer: float = 0.0


@dataclass(frozen=True)
class Constraints:
    """Limits border agencies set on a plan (all distances in metres).

    Parameters
    ----------
    max_openings : int
        Openings in the plan at most.
    min_spacing : float
        Minimum distance between two chosen openings.
    budget : float, optional
        Total security cost at most.
    max_per_border : mapping of str to int
        Openings per ``country_pair`` at most.
    sectors : tuple of Sector
    veto_zones : tuple of VetoZone
    patrol : shapely geometry, optional
        Patrol roads / towers; with ``patrol_distance`` only candidates within it are allowed.
    patrol_distance : float, optional
    """

    max_openings: int = 10
    min_spacing: float = 0.0
    budget: float | None = None
    max_per_border: Mapping[str, int] = field(default_factory=dict)
    sectors: tuple[Sector, ...] = ()
    veto_zones: tuple[VetoZone, ...] = ()
    patrol: object | None = None
    patrol_distance: float | None = None

    def sector_of(self, candidate: Candidate) -> Sector | None:
        return next((s for s in self.sectors if s.contains(candidate)), None)


def screen_candidates(
    candidates: Sequence[Candidate], constraints: Constraints
) -> tuple[list[int], list[Rejection]]:
    """Split candidates into allowed indices and rejections (each with its rule).

    Rules: ``veto_zone`` (within the buffer of a vetoed zone), ``patrol_distance`` (too far
    from a patrol road or tower), ``type_not_allowed`` (in its sector), ``sector_closed``
    (sector quota 0), ``border_closed`` (border quota 0), ``over_budget`` (its cost alone exceeds
    the budget).
    """
    allowed, rejected = [], []
    for index, candidate in enumerate(candidates):
        reason = _static_reason(candidate, constraints)
        if reason is None:
            allowed.append(index)
        else:
            rejected.append(Rejection(candidate.candidate_id, *reason))
    return allowed, rejected


def _static_reason(c: Candidate, k: Constraints) -> tuple[str, str] | None:
    point = shapely.Point(c.x, c.y)
    for zone in k.veto_zones:
        distance = shapely.distance(zone.geometry, point)
        if distance <= zone.buffer + c.width / 2.0:
            return (
                "veto_zone",
                f"{distance:.0f} m from vetoed zone {zone.name!r} (buffer {zone.buffer:g} m)",
            )
    if k.patrol_distance is not None and k.patrol is not None:
        distance = shapely.distance(k.patrol, point)
        if distance > k.patrol_distance:
            return (
                "patrol_distance",
                (
                    f"{distance:.0f} m from the nearest patrol road or tower "
                    f"(limit {k.patrol_distance:g} m)"
                ),
            )
    sector = k.sector_of(c)
    if sector is not None and sector.allowed_types and c.kind not in sector.allowed_types:
        return (
            "type_not_allowed",
            (
                f"type {c.kind!r} not allowed in sector {sector.name!r} "
                f"(allowed: {', '.join(sector.allowed_types)})"
            ),
        )
    if sector is not None and sector.max_openings == 0:
        return "sector_closed", f"sector {sector.name!r} allows no openings"
    if k.max_per_border.get(c.country_pair) == 0:
        return "border_closed", f"border {c.country_pair!r} allows no openings"
    if k.budget is not None and c.security_cost > k.budget:
        return "over_budget", f"security cost {c.security_cost:g} exceeds the budget {k.budget:g}"
    return None


def violation(
    chosen: Sequence[Candidate], candidate: Candidate, constraints: Constraints
) -> tuple[str, str] | None:
    """The first rule adding ``candidate`` to ``chosen`` would break, or None."""
    k = constraints
    if len(chosen) + 1 > k.max_openings:
        return (
            "max_openings",
            f"the plan already has {len(chosen)} opening(s) (limit {k.max_openings})",
        )
    for other in chosen:
        if other.site and other.site == candidate.site:
            return (
                "same_site",
                f"site {candidate.site!r} already has opening {other.candidate_id!r}",
            )
        gap = math.hypot(other.x - candidate.x, other.y - candidate.y)
        if gap < k.min_spacing:
            return (
                "min_spacing",
                (
                    f"{gap:.0f} m from chosen opening {other.candidate_id!r} "
                    f"(minimum {k.min_spacing:g} m)"
                ),
            )
    sector = k.sector_of(candidate)
    if sector is not None and sector.max_openings is not None:
        used = sum(1 for o in chosen if k.sector_of(o) == sector)
        if used + 1 > sector.max_openings:
            return (
                "sector_quota",
                f"sector {sector.name!r} already has {used} (limit {sector.max_openings})",
            )
    limit = k.max_per_border.get(candidate.country_pair)
    if limit is not None:
        used = sum(1 for o in chosen if o.country_pair == candidate.country_pair)
        if used + 1 > limit:
            return (
                "border_quota",
                f"border {candidate.country_pair!r} already has {used} (limit {limit})",
            )
    if k.budget is not None:
        spent = sum(o.security_cost for o in chosen)
        if spent + candidate.security_cost > k.budget * (1 + 1e-12):
            return (
                "budget",
                f"cost {spent:g} + {candidate.security_cost:g} exceeds the budget {k.budget:g}",
            )
    return None


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanStep:
    """One opening of a plan, in the order chosen."""

    rank: int
    candidate: int
    gain: float
    cumulative: float
    value: float
    first_order: float


@dataclass(frozen=True)
class PlanResult:
    """A plan: the chosen candidates in order and what each brought.

    ``value_before`` is the objective with no candidate open, ``value`` with the plan.
    ``message`` explains an empty plan.
    """

    method: str
    steps: tuple[PlanStep, ...]
    value_before: float
    value: float
    rejected: tuple[Rejection, ...] = ()
    message: str = ""
    seconds: float = 0.0
    evaluations: int = 0

    @property
    def chosen(self) -> tuple[int, ...]:
        return tuple(s.candidate for s in self.steps)


def _empty(method, value, rejected, message, started) -> PlanResult:
    return PlanResult(
        method, (), value, value, tuple(rejected), message, time.perf_counter() - started
    )


def greedy_plan(
    evaluator: PlanEvaluator,
    candidates: Sequence[Candidate],
    constraints: Constraints,
    *,
    rank_by_cost: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> PlanResult:
    """Greedy selection with exact re-scoring of every remaining candidate after each pick.

    With ``rank_by_cost`` the pick maximises gain per unit of security cost (ties and zero
    costs by gain). Stops at ``max_openings``, when no candidate fits the constraints, or when
    no candidate raises the objective.
    """
    started = time.perf_counter()
    allowed, rejected = screen_candidates(candidates, constraints)
    before = evaluator.value(())
    if not allowed:
        return _empty(
            "greedy", before, rejected, _infeasible_message(len(candidates), rejected), started
        )
    chosen: list[int] = []
    steps, evaluations = [], 0
    state = WoodburyState(evaluator)
    while len(chosen) < constraints.max_openings:
        picked = [candidates[c] for c in chosen]
        open_ = [
            c
            for c in allowed
            if c not in chosen and violation(picked, candidates[c], constraints) is None
        ]
        if not open_:
            break
        gains = np.array([state.gain(c) for c in open_])
        evaluations += len(open_)
        costs = np.array([max(candidates[c].security_cost, 1e-12) for c in open_])
        score = gains / costs if rank_by_cost else gains
        best = int(np.argmax(score))
        if not gains[best] > 0:
            break
        first = state.first_order(open_[best])
        state.add(open_[best])
        chosen.append(open_[best])
        steps.append(
            PlanStep(
                len(chosen),
                open_[best],
                float(gains[best]),
                state.value - before,
                state.value,
                first,
            )
        )
        if progress:
            progress(len(chosen), constraints.max_openings)
    exact_value = evaluator.value(chosen)
    rejected += _blocked(candidates, allowed, chosen, constraints)
    message = "" if steps else "no allowed candidate raises the objective (all gains are 0)."
    return PlanResult(
        "greedy",
        tuple(steps),
        before,
        exact_value,
        tuple(rejected),
        message,
        time.perf_counter() - started,
        evaluations,
    )


def _infeasible_message(n: int, rejected: Sequence[Rejection]) -> str:
    rules = sorted({r.rule for r in rejected})
    return (
        f"no feasible opening: all {n} candidates are rejected by the constraints "
        f"({', '.join(rules)}); the plan is empty. Relax these rules (see rejected.csv)."
    )


def _blocked(candidates, allowed, chosen, constraints) -> list[Rejection]:
    """Allowed but unchosen candidates that the final plan's constraints exclude."""
    picked = [candidates[c] for c in chosen]
    out = []
    for c in allowed:
        if c in chosen:
            continue
        reason = violation(picked, candidates[c], constraints)
        if reason is not None and reason[0] != "max_openings":
            out.append(Rejection(candidates[c].candidate_id, *reason))
    return out


def exact_plan(
    evaluator: PlanEvaluator,
    candidates: Sequence[Candidate],
    constraints: Constraints,
    *,
    max_candidates: int = 24,
) -> PlanResult:
    """The optimal plan under the constraints, by branch and bound over subsets.

    Exact: a branch is pruned only when opening every remaining candidate at once (an upper
    bound, by Rayleigh monotonicity) cannot beat the best plan found. Refuses more than
    ``max_candidates`` allowed candidates.
    """
    started = time.perf_counter()
    allowed, rejected = screen_candidates(candidates, constraints)
    before = evaluator.value(())
    if not allowed:
        return _empty(
            "exact", before, rejected, _infeasible_message(len(candidates), rejected), started
        )
    if len(allowed) > max_candidates:
        raise ConfigError(
            f"exact search over {len(allowed)} allowed candidates is too large (limit "
            f"{max_candidates}); use method = 'greedy' or fewer candidates.",
            field="selection.method",
        )
    singles = evaluator.gains((), allowed)
    order = [allowed[k] for k in np.argsort(-singles, kind="stable")]
    best = {"value": before, "set": ()}
    count = 0

    def search(position: int, chosen: tuple[int, ...], value: float) -> None:
        nonlocal count
        if value > best["value"] + 1e-15 * abs(best["value"]):
            best.update(value=value, set=chosen)
        if position == len(order) or len(chosen) == constraints.max_openings:
            return
        picked = [candidates[c] for c in chosen]
        rest = [
            c for c in order[position:] if violation(picked, candidates[c], constraints) is None
        ]
        if not rest:
            return
        count += 1
        if evaluator.upper_bound(chosen + tuple(rest)) <= best["value"] * (1 + 1e-12):
            return  # even opening all of them cannot win
        for k in range(position, len(order)):
            c = order[k]
            if violation(picked, candidates[c], constraints) is None:
                count += 1
                search(k + 1, chosen + (c,), evaluator.value(chosen + (c,)))

    search(0, (), before)
    steps = _steps_in_greedy_order(evaluator, best["set"], before)
    rejected += _blocked(candidates, allowed, best["set"], constraints)
    return PlanResult(
        "exact",
        steps,
        before,
        best["value"],
        tuple(rejected),
        "",
        time.perf_counter() - started,
        count,
    )


def _steps_in_greedy_order(evaluator, chosen_set, before) -> tuple[PlanStep, ...]:
    """Order an optimal set by marginal gain so the table reads like a ranking."""
    remaining, order, steps, value = list(chosen_set), [], [], before
    while remaining:
        gains = evaluator.gains(order, remaining)
        k = int(np.argmax(gains))
        first = float(evaluator.first_order(order, [remaining[k]])[0])
        value += gains[k]
        order.append(remaining.pop(k))
        steps.append(PlanStep(len(order), order[-1], float(gains[k]), value - before, value, first))
    return tuple(steps)


def pareto_front(
    evaluator: PlanEvaluator, candidates: Sequence[Candidate], plans: Sequence[PlanResult]
) -> list[tuple[float, float, str, tuple[int, ...]]]:
    """Non-dominated (security cost, objective) points over every prefix of the given plans.

    Returns ``(cost, value, method, chosen)`` sorted by cost; the empty plan is included.
    """
    points = [(0.0, plans[0].value_before if plans else 0.0, "none", ())]
    for plan in plans:
        for k in range(1, len(plan.steps) + 1):
            chosen = plan.chosen[:k]
            cost = sum(candidates[c].security_cost for c in chosen)
            points.append((cost, plan.steps[k - 1].value, plan.method, chosen))
    points.sort(key=lambda p: (p[0], -p[1]))
    front, best = [], -math.inf
    for point in points:
        if point[1] > best * (1 + 1e-12) + 1e-300:
            front.append(point)
            best = point[1]
    return front
