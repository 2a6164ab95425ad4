"""Circuitscape's raster modes on a :class:`~crossings.core.graph.ConductanceGraph`.

Modes: :func:`pairwise` (focal points or focal regions, short-circuit regions, included/excluded
pairs), :func:`one_to_all`, :func:`all_to_one` and :func:`advanced` (sources and grounds), plus
:func:`effective_resistance` between two short-circuited regions. Arrays in, frozen result
dataclasses out; no file I/O (see :mod:`crossings.io.circuitscape` for the INI wrapper).

Conventions are Circuitscape's:

- Cells of one short-circuit region (or one focal region) are merged into a single node.
- A pair in different connected components has resistance -1; two focal points on the same
  node have resistance 0; the diagonal is 0.
- In a pair solve 1 A enters at the second point and leaves at the first; voltages are relative
  to the first point (so the second point sits at the effective resistance).
- A node's current is the larger of its total inflow and total outflow (branch currents plus
  currents to finite grounds); a region's current is written to all of its cells.

Efficiency: pairwise grounds ONE node per component, factorises once, solves one right-hand side
per focal node (not per pair) and gets each pair's voltages as differences of two solutions;
current maps are built with sparse matrix products over all edges, batched over pairs.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from crossings.core.graph import DIRECTIONS, ConductanceGraph
from crossings.core.solve import SolveInfo, Solver, SPDSolver, release_free_memory
from crossings.errors import ConfigError

__all__ = [
    "CircuitNetwork",
    "GridEdges",
    "Handover",
    "FocalPoints",
    "PairSelection",
    "RemovePolicy",
    "PairMaps",
    "PairwiseResult",
    "AdvancedResult",
    "OneToAllResult",
    "SolverOptions",
    "build_network",
    "pairwise",
    "advanced",
    "one_to_all",
    "all_to_one",
    "effective_resistance",
    "count_pair_solves",
    "node_currents",
]

#: Bytes of dense pair voltages handled at once when building current maps.
_MAP_CHUNK_BYTES = 128 * 2**20


@dataclass(frozen=True, slots=True)
class SolverOptions:
    """How linear systems are solved.

    Attributes
    ----------
    solver : Solver
        ``AUTO``, ``CHOLMOD``, ``CG_AMG`` or ``SPLU`` (see :mod:`crossings.core.solve`).
    tol : float
        Largest accepted relative residual of every solve.
    maxiter : int, optional
        Cap on CG iterations (CG_AMG only).
    """

    solver: Solver = Solver.AUTO
    tol: float = 1e-8
    maxiter: int | None = None


class RemovePolicy(enum.Enum):
    """Where a node is both a source and a ground: keep both, or remove one or both."""

    KEEPALL = "keepall"
    RMVSRC = "rmvsrc"
    RMVGND = "rmvgnd"
    RMVALL = "rmvall"


# ----------------------------------------------------------------------------------------------
# Network: cells merged into nodes


@dataclass(frozen=True)
class GridEdges:
    """The edges of a network whose nodes are the valid cells of a grid in row-major order, for
    currents computed by slicing the grid.

    The conductances are read back from the Laplacian when first asked for (its off-diagonal
    entries are exactly ``-w``), so that a network does not keep its graph's four full-grid
    weight arrays through the solves (128 MB of the peak at 4M cells). ``slots`` says which of
    its 9 stencil slots (``_STENCIL`` order) each node's row holds, so that an entry's place in
    the row is the count of the slots before it: no search (0.27 s for the four directions at 4M
    cells, 0.31 s with 20 % NoData; indexing the matrix took 0.56 s).
    """

    valid: np.ndarray
    node_index: np.ndarray
    connect_four: bool
    laplacian: sp.csr_matrix = field(repr=False)
    slots: np.ndarray = field(repr=False)

    @functools.cached_property
    def edge_weights(self) -> tuple[np.ndarray, ...]:
        """One full-grid array per entry of ``DIRECTIONS``, as
        :attr:`~crossings.core.graph.ConductanceGraph.edge_weights`."""
        weights = tuple(np.zeros(self.valid.shape) for _ in DIRECTIONS)
        wanted = [
            (_STENCIL.index((dr, dc)), grid.reshape(-1))
            for (dr, dc), grid in zip(DIRECTIONS, weights, strict=True)
            if not (self.connect_four and dr + abs(dc) > 1)
        ]
        cells = None if self.valid.all() else np.flatnonzero(self.valid)
        lap, n = self.laplacian, self.slots.size
        # By blocks of nodes, all directions at once: a block's rows are read from memory once.
        for start in range(0, n, _READBACK_NODES):
            stop = min(start + _READBACK_NODES, n)
            slots, first = self.slots[start:stop], lap.indptr[start:stop]
            where = slice(start, stop) if cells is None else cells[start:stop]
            for slot, grid in wanted:
                place = first + _SLOTS_SET[slots & ((1 << slot) - 1)]
                np.minimum(place, lap.nnz - 1, out=place)  # absent slots of the last row
                values = lap.data[place]
                values[(slots & (1 << slot)) == 0] = 0.0
                np.negative(values, out=values)
                grid[where] = values
        return weights


#: Nodes read back at a time by :attr:`GridEdges.edge_weights` (their rows stay in cache).
_READBACK_NODES = 1 << 16


@dataclass(frozen=True)
class CircuitNetwork:
    """Graph nodes after merging short-circuit regions.

    Attributes
    ----------
    cell_node : ndarray of int32 (nodes are cells) or int64 (regions merged), grid shape
        Node of each cell, -1 for cells that are not nodes (NoData).
    n_nodes : int
    edge_i, edge_j, edge_w : ndarray or None
        Unique undirected edges (``edge_i < edge_j``) and their summed conductances, for merged
        networks; None when nodes are grid cells (see :meth:`edges`).
    laplacian : scipy.sparse.csr_matrix
    component : ndarray of int
        Connected-component label of every node.
    n_components : int
    grid_edges : GridEdges or None
        The grid's edges when nodes are grid cells (no regions merged), else None.
    """

    cell_node: np.ndarray
    n_nodes: int
    edge_i: np.ndarray | None
    edge_j: np.ndarray | None
    edge_w: np.ndarray | None
    laplacian: sp.csr_matrix
    component: np.ndarray
    n_components: int
    grid_edges: GridEdges | None = field(default=None, repr=False, compare=False)
    _incidence: dict = field(default_factory=dict, repr=False, compare=False)

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(i, j, w)`` of every edge, ``i < j`` (taken from the Laplacian when not stored)."""
        if self.edge_i is not None:
            return self.edge_i, self.edge_j, self.edge_w
        upper = sp.triu(self.laplacian, k=1).tocoo()
        return upper.row.astype(np.int64), upper.col.astype(np.int64), -upper.data

    @property
    def n_edges(self) -> int:
        if self.edge_i is not None:
            return int(self.edge_i.size)
        return int((self.laplacian.nnz - self.n_nodes) // 2)

    def component_nodes(self, label: int) -> np.ndarray:
        """Node numbers of one component, ascending (of ``cell_node``'s type: a 4M-node
        component is 16 MB less in int32, and it is kept through the solves)."""
        if self.n_components == 1:
            return np.arange(self.n_nodes, dtype=self.cell_node.dtype)
        return np.flatnonzero(self.component == label).astype(self.cell_node.dtype)


class Handover:
    """A graph given to :func:`pairwise`, :func:`one_to_all`, :func:`all_to_one` or
    :func:`advanced` to keep alone: the engine drops it once its network is built, so that
    the graph's edge arrays (128 MB at 4M cells) are not held through the solves.

    A graph passed plainly lives as long as the caller's reference to it, and so does one
    passed in a call through ``**``, which holds its arguments until it returns.
    """

    def __init__(self, graph: ConductanceGraph):
        self._graph = graph

    def take(self) -> ConductanceGraph:
        graph, self._graph = self._graph, None
        if graph is None:
            raise ValueError("this graph was already handed over to an engine call")
        return graph


def _taken(graph: ConductanceGraph | Handover) -> ConductanceGraph:
    return graph.take() if isinstance(graph, Handover) else graph


def build_network(graph: ConductanceGraph, regions: np.ndarray | None = None) -> CircuitNetwork:
    """Merge the cells of each region id (> 0) into one node and build the Laplacian.

    Parameters
    ----------
    graph : ConductanceGraph
    regions : ndarray of int, optional
        Grid of region ids; 0 (or negative) = not in a region. Only valid (non-NoData) cells
        join a region.

    Examples
    --------
    >>> from crossings.core.grid import GridSpec
    >>> from crossings.core.graph import build_graph
    >>> g = build_graph(GridSpec.from_origin(0, 1, 1, (1, 3), "EPSG:3857"), np.ones((1, 3)),
    ...                 connect_four=True)
    >>> net = build_network(g, np.array([[0, 7, 7]]))
    >>> net.n_nodes, net.laplacian.toarray().tolist()
    (2, [[1.0, -1.0], [-1.0, 1.0]])
    """
    if regions is None:
        # Node = cell number: the Laplacian is assembled straight from the grid's edge arrays,
        # with 32-bit column numbers (as the node numbers).
        cell_node = graph.node_index.astype(np.int32)
        n = graph.n_nodes
        edge_i = edge_j = edge_w = None
        laplacian, slots = _grid_laplacian(graph, cell_node)
    else:
        i, j, w = graph.edges()
        cell_node, n, node_of_cell = _merged_cell_nodes(graph, regions)
        edge_i, edge_j, edge_w = _merged_edges(node_of_cell[i], node_of_cell[j], w, n)
        del i, j, w
        laplacian = _laplacian(edge_i, edge_j, edge_w, n)
    count, labels = _components(laplacian, graph if regions is None else None)
    grid_edges = None
    if regions is None:  # nodes are cells: currents by slicing the grid
        grid_edges = GridEdges(graph.valid, cell_node, graph.connect_four, laplacian, slots)
    return CircuitNetwork(
        cell_node, n, edge_i, edge_j, edge_w, laplacian, labels, int(count), grid_edges
    )


def _components(laplacian: sp.csr_matrix, graph: ConductanceGraph | None):
    """Connected components: ``(count, labels)`` (labels int32, one per node)."""
    if graph is not None and _is_connected_full_grid(graph):
        # One read-only zero for all nodes: a zeros array reused from the C heap is written
        # out (16 MB at 4M cells), and nothing writes component labels.
        return 1, np.broadcast_to(np.int32(0), (graph.n_nodes,))
    # The Laplacian is symmetric, so strong components are the connected components; this
    # avoids the symmetrised copy the undirected algorithm makes.
    return csgraph.connected_components(laplacian, directed=True, connection="strong")


def _is_connected_full_grid(graph: ConductanceGraph) -> bool:
    """True when every cell is a node and every east and south edge conducts: the rows are
    chains joined by the south edges, so the graph is one component (a test of two arrays
    instead of a graph search over all edges: 0.18 s at 4M cells)."""
    east, south = graph.edge_weights[0], graph.edge_weights[1]
    return bool(graph.valid.all() and (east[:, :-1] > 0).all() and (south[:-1, :] > 0).all())


def _merged_cell_nodes(graph: ConductanceGraph, regions):
    """Node of every cell when the cells of each region id (> 0) are merged."""
    valid = graph.valid
    regions = np.asarray(regions)
    if regions.shape != valid.shape:
        raise ConfigError(
            f"region grid has shape {regions.shape}, the habitat grid {valid.shape}.",
            field="regions",
        )
    key = graph.node_index.astype(np.int64).copy()
    ids = np.nan_to_num(np.asarray(regions, dtype=float), nan=0.0).astype(np.int64)
    in_region = valid & (ids > 0)
    key[in_region] = graph.n_nodes + ids[in_region]
    uniq, inverse = np.unique(key[valid], return_inverse=True)
    cell_node = np.full(valid.shape, -1, dtype=np.int64)
    cell_node[valid] = inverse.ravel()
    _attach_nodata_region_cells(cell_node, ids, valid, key, uniq)
    return cell_node, int(uniq.size), inverse.ravel()


def _merged_edges(ni, nj, w, n):
    """Unique undirected edges (i < j) with conductances of parallel edges summed."""
    keep = ni != nj
    lo, hi = np.minimum(ni[keep], nj[keep]), np.maximum(ni[keep], nj[keep])
    upper = sp.csr_matrix((w[keep], (lo, hi)), shape=(n, n))
    upper.sum_duplicates()
    upper.eliminate_zeros()
    coo = upper.tocoo()
    return coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data


#: The 9 stencil slots of a cell (row, col offsets), in increasing node order.
_STENCIL = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0), (1, 1)]
#: How many bits are set in each 9-bit slot mask.
_SLOTS_SET = np.array([bin(mask).count("1") for mask in range(1 << 9)], dtype=np.int32)


def _fill_stencil_slots(graph: ConductanceGraph, node, r0: int, r1: int, values, columns):
    """For every cell of rows r0:r1, the Laplacian entries of the 9 stencil slots, slot-major:
    ``values[slot]`` the off-diagonal entry (-w, 0 where there is no edge) and ``columns[slot]``
    the neighbour's node (the cell's own node where the neighbour is outside the grid); the
    centre slot holds the degree."""
    rows, cols = node.shape
    forward = dict(zip(DIRECTIONS, graph.edge_weights, strict=True))
    for slot, (dr, dc) in enumerate(_STENCIL):
        value, column = values[slot], columns[slot]
        column[...] = node[r0:r1]
        value[...] = 0.0
        first, last = max(r0, -dr), min(r1, rows - dr)
        c0, c1 = max(0, -dc), cols - max(0, dc)
        if (dr, dc) == (0, 0) or first >= last:
            continue
        if (dr, dc) in forward:
            weight = forward[(dr, dc)][first:last, c0:c1]
        else:  # the edge is stored at the neighbour, in the opposite direction
            weight = forward[(-dr, -dc)][first + dr : last + dr, c0 + dc : c1 + dc]
        np.negative(weight, out=value[first - r0 : last - r0, c0:c1])
        column[first - r0 : last - r0, c0:c1] = node[first + dr : last + dr, c0 + dc : c1 + dc]
    np.negative(values.sum(axis=0), out=values[4])


def _grid_laplacian(graph: ConductanceGraph, node: np.ndarray, block_rows: int = 256):
    """The Laplacian of a grid graph assembled directly in CSR order, a block of rows at a time
    (``node``: the node number of every cell, int32, -1 on NoData), and which stencil slots
    each row holds (see :class:`GridEdges`).

    Each node gets 9 slots (itself and 8 neighbours) whose node numbers increase in stencil
    order, so rows come out sorted with no COO sort; slots without an edge hold zeros that are
    removed in place at the end. A block is computed slot by slot on contiguous grids and then
    transposed into the rows once (writing each slot straight into the rows, with a stride of 9
    entries, took 4 times longer at 4M cells). Peak: the finished matrix plus one block.
    """
    rows, cols = node.shape
    n = graph.n_nodes
    data = np.empty((n, 9))
    indices = np.empty((n, 9), dtype=np.int32)
    slots = np.empty(n, dtype=np.uint16)
    values = np.empty((9, min(block_rows, rows), cols))
    columns = np.empty(values.shape, dtype=np.int32)
    filled = 0
    for r0 in range(0, rows, block_rows):
        r1 = min(r0 + block_rows, rows)
        block_values, block_columns = values[:, : r1 - r0], columns[:, : r1 - r0]
        _fill_stencil_slots(graph, node, r0, r1, block_values, block_columns)
        valid = graph.valid[r0:r1]
        if valid.all():
            block_values, block_columns = block_values.reshape(9, -1), block_columns.reshape(9, -1)
        else:
            block_values, block_columns = block_values[:, valid], block_columns[:, valid]
        size = block_values.shape[1]
        data[filled : filled + size] = block_values.T
        indices[filled : filled + size] = block_columns.T
        _mark_slots(block_values, slots[filled : filled + size])
        filled += size
    return _compressed_stencil_matrix(data, indices), slots


def _mark_slots(values: np.ndarray, slots: np.ndarray) -> None:
    """Bit k of ``slots`` set where slot k of ``values`` (9, nodes) holds an edge; the centre
    bit always (every row keeps its diagonal)."""
    slots[...] = 1 << 4
    for slot in (0, 1, 2, 3, 5, 6, 7, 8):
        slots |= (values[slot] != 0).astype(np.uint16) << slot


def _compressed_stencil_matrix(data: np.ndarray, indices: np.ndarray) -> sp.csr_matrix:
    """CSR matrix of ``(n, 9)`` stencil rows without their zero entries (diagonals kept)."""
    n = data.shape[0]
    isolated = np.flatnonzero(data[:, 4] == 0)  # nodes without edges keep a 0 on the diagonal
    data[isolated, 4] = 1.0
    index_type = np.int32 if 9 * n < 2**31 else np.int64
    matrix = sp.csr_matrix((n, n))
    matrix.indptr = np.arange(0, 9 * n + 1, 9, dtype=index_type)
    matrix.indices, matrix.data = indices.reshape(-1), data.reshape(-1)
    matrix.eliminate_zeros()
    matrix.data[matrix.indptr[isolated]] = 0.0
    return matrix


def _laplacian(edge_i, edge_j, edge_w, n) -> sp.csr_matrix:
    degree = np.bincount(edge_i, weights=edge_w, minlength=n) + np.bincount(
        edge_j, weights=edge_w, minlength=n
    )
    diagonal = np.arange(n)
    rows = np.concatenate([edge_i, edge_j, diagonal])
    cols = np.concatenate([edge_j, edge_i, diagonal])
    values = np.concatenate([-edge_w, -edge_w, degree])
    return sp.csr_matrix((values, (rows, cols)), shape=(n, n))


def _attach_nodata_region_cells(cell_node, regions, valid, key, uniq) -> None:
    """NoData cells inside a region share the region's node (no edges), as in Circuitscape,
    so maps show the region's current and voltage on all of its cells."""
    ids = regions
    loose = ~valid & (ids > 0)
    if not loose.any():
        return
    in_region = valid & (ids > 0)
    region_ids, first = np.unique(ids[in_region], return_index=True)
    region_nodes = np.searchsorted(uniq, key[in_region][first])
    loose_ids = ids[loose]
    slot = np.clip(np.searchsorted(region_ids, loose_ids), 0, max(region_ids.size - 1, 0))
    nodes = np.full(loose_ids.size, -1, dtype=np.int64)
    if region_ids.size:
        hit = region_ids[slot] == loose_ids
        nodes[hit] = region_nodes[slot[hit]]
    cell_node[loose] = nodes


# ----------------------------------------------------------------------------------------------
# Focal points and pair selection


@dataclass(frozen=True)
class FocalPoints:
    """Focal points or regions: one row per cell, several cells may share an id.

    Attributes
    ----------
    rows, cols : ndarray of int64
        0-based cell indices.
    ids : ndarray of int64
        Focal id of each cell (> 0), sorted ascending (stable).
    """

    rows: np.ndarray
    cols: np.ndarray
    ids: np.ndarray

    def __post_init__(self):
        rows, cols, ids = (
            np.asarray(a, dtype=np.int64).ravel() for a in (self.rows, self.cols, self.ids)
        )
        if not (rows.size == cols.size == ids.size):
            raise ConfigError("focal rows, cols and ids must have the same length.", field="focal")
        order = np.argsort(ids, kind="stable")
        object.__setattr__(self, "rows", rows[order])
        object.__setattr__(self, "cols", cols[order])
        object.__setattr__(self, "ids", ids[order])

    @classmethod
    def from_grid(cls, id_grid: np.ndarray) -> FocalPoints:
        """Cells with an id > 0 (NaN = none); cells of one id in column-major order.

        >>> FocalPoints.from_grid(np.array([[2, 0], [1, 2]])).ids.tolist()
        [1, 2, 2]
        """
        grid = np.nan_to_num(np.asarray(id_grid, dtype=float), nan=0.0)
        cols, rows = np.nonzero(grid.T > 0)  # column-major, like Circuitscape
        return cls(rows, cols, grid[rows, cols].astype(np.int64))

    @property
    def unique_ids(self) -> np.ndarray:
        return np.unique(self.ids)

    @property
    def has_regions(self) -> bool:
        """True when some id covers several cells (focal regions)."""
        return self.unique_ids.size != self.ids.size

    def select(self, keep: np.ndarray) -> FocalPoints:
        return FocalPoints(self.rows[keep], self.cols[keep], self.ids[keep])

    def check_inside(self, shape: tuple[int, int]) -> None:
        bad = (self.rows < 0) | (self.rows >= shape[0]) | (self.cols < 0) | (self.cols >= shape[1])
        if bad.any():
            k = int(np.argmax(bad))
            raise ConfigError(
                f"{int(bad.sum())} focal point(s) fall outside the {shape[0]} x {shape[1]} grid "
                f"(first: id {self.ids[k]} at row {self.rows[k]}, col {self.cols[k]}). Move them "
                "inside the habitat grid.",
                field="point_file",
            )


@dataclass(frozen=True)
class PairSelection:
    """Which pairs to solve, as in Circuitscape's included-pairs files.

    Attributes
    ----------
    mode : str
        ``"include"``: solve a pair only if it is marked 1; ``"exclude"``: skip pairs marked 1.
    point_ids : ndarray of int64
        The ids the matrix refers to; focal points with other ids are dropped entirely.
    matrix : ndarray of int
        ``matrix[a, b]`` is 1 when the pair ``(point_ids[a], point_ids[b])`` is listed.
    """

    mode: str
    point_ids: np.ndarray
    matrix: np.ndarray
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.mode not in ("include", "exclude"):
            raise ConfigError(
                f"mode must be one of 'include', 'exclude'; got {self.mode!r}.", field="mode"
            )
        ids = np.asarray(self.point_ids).ravel()
        matrix = np.asarray(self.matrix)
        if matrix.shape != (ids.size, ids.size):
            raise ConfigError(
                f"the pair matrix is {matrix.shape} but there are {ids.size} point ids; it must "
                "be square with one row and column per id.",
                field="included_pairs_file",
            )
        object.__setattr__(self, "_index", {int(v): k for k, v in enumerate(ids)})

    def keeps(self, id_a: int, id_b: int) -> bool:
        """Whether the pair is solved (Circuitscape: excluded when both directions say so)."""
        index = self._index
        a, b = index.get(int(id_a)), index.get(int(id_b))
        if a is None or b is None:
            return False
        marked = (self.matrix[a, b], self.matrix[b, a])
        if self.mode == "include":
            return not (marked[0] == 0 and marked[1] == 0)
        return not (marked[0] == 1 and marked[1] == 1)


# ----------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class PairMaps:
    """Maps of one solved pair (None when not asked for)."""

    id_a: int
    id_b: int
    resistance: float
    current: np.ndarray | None
    voltage: np.ndarray | None


@dataclass(frozen=True)
class PairwiseResult:
    """Effective resistances between focal ids and the cumulative / max current maps.

    Attributes
    ----------
    ids : ndarray of int64
        Focal ids, ascending.
    resistances : ndarray, shape (n, n)
        Effective resistance in ohms (resistance units of the input), -1 where a pair is in
        different components or was not solved (excluded), 0 on the diagonal.
    cumulative_current, max_current : ndarray or None
        Sum and maximum over solved pairs of the node-current maps (A), grid shaped.
    n_solves : int
        Pairs solved.
    solve_info : tuple of SolveInfo
        One per factorisation.
    """

    ids: np.ndarray
    resistances: np.ndarray
    cumulative_current: np.ndarray | None
    max_current: np.ndarray | None
    n_solves: int
    solve_info: tuple[SolveInfo, ...]

    def __repr__(self) -> str:
        finite = self.resistances[self.resistances > 0]
        span = f"{finite.min():.4g}..{finite.max():.4g}" if finite.size else "none"
        return (
            f"PairwiseResult({self.ids.size} focal ids, {self.n_solves} pairs solved, "
            f"resistances {span})"
        )


@dataclass(frozen=True)
class AdvancedResult:
    """Voltages and node currents of an advanced (sources and grounds) solve.

    ``voltage`` and ``current`` are grid shaped (0 on cells of unsolved components and on NoData).
    ``solved_components`` counts the components that had both a source and a ground.
    """

    voltage: np.ndarray
    current: np.ndarray
    solved_components: int
    solve_info: tuple[SolveInfo, ...]


@dataclass(frozen=True)
class OneToAllResult:
    """One-to-all / all-to-one: one value per focal id plus cumulative / max current maps.

    ``values`` holds the voltage at the source divided by its strength (one-to-all: the
    resistance between the id and all other ids in parallel) or 0 (all-to-one); -1 where nothing
    could be solved (no other focal id in the component).
    """

    ids: np.ndarray
    values: np.ndarray
    cumulative_current: np.ndarray | None
    max_current: np.ndarray | None
    solve_info: tuple[SolveInfo, ...]


# ----------------------------------------------------------------------------------------------
# Currents


def _incidence(network: CircuitNetwork):
    """Signed (E x n) and unsigned transposed (n x E) incidence matrices, cached."""
    cache = network._incidence
    if "signed" not in cache:
        edge_i, edge_j, edge_w = network.edges()
        e = edge_i.size
        rows = np.concatenate([np.arange(e), np.arange(e)])
        cols = np.concatenate([edge_i, edge_j])
        signs = np.concatenate([np.ones(e), -np.ones(e)])
        shape = (e, network.n_nodes)
        cache["signed"] = sp.csr_matrix((signs, (rows, cols)), shape=shape)
        cache["unsigned_t"] = sp.csr_matrix((np.abs(signs), (cols, rows)), shape=shape[::-1])
    return cache["signed"], cache["unsigned_t"]


def _grid_flows(edges: GridEdges, voltages: np.ndarray, want_net: bool = True):
    """Per node: sum of |edge flows| and net outflow, by array slicing over the grid's edge
    directions (several times faster than sparse products on large grids).

    Works on (solves, rows, cols) stacks so that every slice is contiguous along grid rows.
    """
    single = voltages.ndim == 1
    columns = voltages[:, None] if single else voltages
    rows, cols = edges.valid.shape
    k = columns.shape[1]
    everywhere = bool(edges.valid.all())
    if everywhere:
        grid = np.asfortranarray(columns).T.reshape(k, rows, cols)
    else:
        grid = np.zeros((k, rows, cols))
        grid[:, edges.valid] = columns.T
    total = np.zeros_like(grid)
    net = np.zeros_like(grid) if want_net else None
    for (dr, dc), weight in zip(DIRECTIONS, edges.edge_weights, strict=True):
        if dr + abs(dc) > 1 and edges.connect_four:
            continue
        here = (slice(None), slice(0, rows - dr), slice(max(0, -dc), cols - max(0, dc)))
        there = (slice(None), slice(dr, rows), slice(max(0, dc), cols + min(0, dc)))
        flow = grid[here] - grid[there]
        flow *= weight[here[1:]]
        if want_net:
            net[here] += flow
            net[there] -= flow
        np.abs(flow, out=flow)
        total[here] += flow
        total[there] += flow
    if everywhere:
        total = total.reshape(k, -1).T
        net = net.reshape(k, -1).T if want_net else None
    else:
        total = total[:, edges.valid].T
        net = net[:, edges.valid].T if want_net else None
    if single:
        return total[:, 0], (net[:, 0] if want_net else None)
    return total, net


def _pair_currents(network: CircuitNetwork, voltages: np.ndarray, first, second) -> np.ndarray:
    """Node currents of pair solves (1 A in at ``second``, out at ``first``, per column).

    Without grounds, max(inflow, outflow) = (sum of |edge flows| + |net injection|) / 2, and the
    net injection is exactly +-1 A at the pair's two nodes.
    """
    if network.grid_edges is not None:
        total, _ = _grid_flows(network.grid_edges, voltages, want_net=False)
    else:
        signed, unsigned_t = _incidence(network)
        flows = signed @ voltages
        flows *= network.edges()[2][:, None]
        total = unsigned_t @ np.abs(flows)
    currents = 0.5 * total
    columns = np.arange(voltages.shape[1])
    currents[first, columns] += 0.5
    currents[second, columns] += 0.5
    return currents


def node_currents(
    network: CircuitNetwork,
    voltages: np.ndarray,
    ground_conductance: np.ndarray | None = None,
    net_outflow: np.ndarray | None = None,
) -> np.ndarray:
    """Circuitscape's node current: the larger of total inflow and total outflow.

    Flows through edges and into finite grounds count; injected source currents do not.
    ``voltages`` is (n,) or (n, k) (one column per solve). ``net_outflow`` (same shape), when
    known, is the net edge outflow of every node (``L v``, e.g. +1/-1 at a pair's two nodes);
    it saves computing it.

    Examples
    --------
    >>> from crossings.core.grid import GridSpec
    >>> from crossings.core.graph import build_graph
    >>> g = build_graph(GridSpec.from_origin(0, 1, 1, (1, 3), "EPSG:3857"), np.ones((1, 3)),
    ...                 connect_four=True)
    >>> node_currents(build_network(g), np.array([0.0, 1.0, 2.0])).tolist()
    [1.0, 1.0, 1.0]
    """
    if network.grid_edges is not None:
        total, net_out = _grid_flows(network.grid_edges, voltages, net_outflow is None)
        net_out = net_out if net_outflow is None else net_outflow
    else:
        signed, unsigned_t = _incidence(network)
        flows = signed @ voltages
        edge_w = network.edges()[2]
        flows *= edge_w if flows.ndim == 1 else edge_w[:, None]
        total = unsigned_t @ np.abs(flows)
        net_out = signed.T @ flows
    out_flow = 0.5 * (total + net_out)
    in_flow = 0.5 * (total - net_out)
    if ground_conductance is not None:
        g = ground_conductance if voltages.ndim == 1 else ground_conductance[:, None]
        to_ground = g * voltages
        out_flow = out_flow + np.maximum(to_ground, 0.0)
        in_flow = in_flow + np.maximum(-to_ground, 0.0)
    return np.maximum(in_flow, out_flow)


def _to_grid(network: CircuitNetwork, node_values: np.ndarray, nodes: np.ndarray | None = None):
    """Grid of per-node values (length ``n_nodes``); 0 on cells that are not nodes or whose node
    is not in ``nodes``."""
    grid = np.zeros(network.cell_node.shape)
    has_node = network.cell_node >= 0
    if nodes is not None:
        present = np.zeros(network.n_nodes, dtype=bool)
        present[nodes] = True
        has_node &= present[np.maximum(network.cell_node, 0)]
    grid[has_node] = node_values[network.cell_node[has_node]]
    return grid


# ----------------------------------------------------------------------------------------------
# Pairwise


def _make_solver(matrix, options: SolverOptions, component: int, n_rhs: int) -> SPDSolver:
    return SPDSolver(
        matrix,
        solver=options.solver,
        tol=options.tol,
        component=component,
        maxiter=options.maxiter,
        n_rhs_hint=n_rhs,
    )


def _component_matrix(network: CircuitNetwork, comp_nodes: np.ndarray) -> sp.csr_matrix:
    """The Laplacian block of one component (no copy when it spans the whole graph)."""
    if comp_nodes.size == network.n_nodes:
        return network.laplacian
    return network.laplacian[comp_nodes][:, comp_nodes].tocsr()


def _grounded(lap: sp.csr_matrix, grounded) -> sp.csr_matrix:
    """``lap`` with the ``grounded`` node(s) tied to 0 V: their rows and columns replaced by
    the identity.

    Same size as ``lap`` (no re-indexing of a large matrix); the system stays SPD and grounded
    potentials come out exactly 0 for right-hand sides that are 0 there.
    """
    is_ground = np.zeros(lap.shape[0], dtype=bool)
    is_ground[grounded] = True
    matrix = lap.copy()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    touches = is_ground[rows] | is_ground[matrix.indices]
    matrix.data[touches] = 0.0
    matrix.eliminate_zeros()
    return (matrix + sp.diags(is_ground.astype(float))).tocsr()


@contextlib.contextmanager
def _grounded_in_place(lap: sp.csr_matrix, ground: int):
    """Tie node ``ground`` to ground through a conductance equal to its degree, in place.

    No copy of the (possibly very large) Laplacian is made; the diagonal entry is restored on
    exit. Unit injections then give the exactly-grounded potentials plus a constant per column,
    which the caller removes by subtracting the ground's potential.
    """
    start, end = lap.indptr[ground], lap.indptr[ground + 1]
    position = start + int(np.flatnonzero(lap.indices[start:end] == ground)[0])
    original = lap.data[position]
    lap.data[position] = 2.0 * original if original > 0 else 1.0
    try:
        yield lap
    finally:
        lap.data[position] = original


def _grounded_potentials(
    network, comp_nodes, focal_local, options, label, rows_wanted, order="F", executor=None
):
    """Potentials of unit injections at ``focal_local[1:]`` with ``focal_local[0]`` grounded.

    Returns (potentials, solve_info) where potentials has one column per focal node (the ground
    column is zero; every column is 0 at the ground) and rows ``rows_wanted`` (local indices) --
    all rows when None. ``order`` "F" keeps columns contiguous (read per pair), "C" rows (read
    per edge). With an ``executor`` the focal nodes are solved in batches as its tasks.
    """
    lap = _component_matrix(network, comp_nodes)
    n_rows = comp_nodes.size if rows_wanted is None else rows_wanted.size
    rhs = _unit_columns(comp_nodes.size, focal_local[1:])
    ground = int(focal_local[0])
    # Made at the first store, after a solve: zeros made before the solves sat in memory
    # through them (the C heap writes out zeros it reuses: 61 MB for a pair at 4M cells).
    made = []

    def store(columns, values):
        if not made:
            made.append(np.zeros((n_rows, focal_local.size), order=order))
        values -= values[ground]  # the in-place ground leaves a constant per column
        made[0][:, columns + 1] = values if rows_wanted is None else values[rows_wanted]

    if executor is not None:
        problem = ColumnSolves(_grounded_copy(lap, ground), rhs, options, label)
        info = solve_columns(problem, store, executor)
    else:
        with _grounded_in_place(lap, ground) as grounded:
            info = solve_columns(ColumnSolves(grounded, rhs, options, label), store)
    return (made[0] if made else np.zeros((n_rows, focal_local.size), order=order)), info


def _unit_columns(n: int, rows: np.ndarray) -> sp.csc_matrix:
    """``n x len(rows)`` right-hand sides injecting 1 A at ``rows[k]`` in column k."""
    k = rows.size
    return sp.csc_matrix((np.ones(k), (rows, np.arange(k))), shape=(n, k))


def _grounded_copy(lap: sp.csr_matrix, ground: int) -> sp.csr_matrix:
    """What :func:`_grounded_in_place` makes, as a copy (values only; indices shared) that can
    be sent to other processes while the Laplacian stays untouched."""
    copy = sp.csr_matrix((lap.data.copy(), lap.indices, lap.indptr), shape=lap.shape)
    with _grounded_in_place(copy, ground):
        grounded_data = copy.data.copy()
    copy.data = grounded_data
    return copy


@dataclass(frozen=True)
class ColumnSolves:
    """Solves of one SPD system for the columns of a sparse right-hand side: what a worker
    needs to solve any batch of them (one focal node per column).

    Every column is solved exactly as in a serial run (same solver and right-hand-side hint),
    so results on an executor equal serial ones.
    """

    matrix: sp.csr_matrix
    rhs: sp.csc_matrix
    options: SolverOptions
    label: int | None

    def batches(self, workers: int) -> list[np.ndarray]:
        """The columns in one batch per worker (one solver setup per worker)."""
        columns = np.arange(self.rhs.shape[1])
        per_task = max(1, math.ceil(columns.size / max(int(workers), 1)))
        return [columns[s : s + per_task] for s in range(0, columns.size, per_task)]

    def solve(self, columns: np.ndarray):
        """Yield ``(columns, solutions, cumulative SolveInfo)`` in memory-bounded batches."""
        n = self.matrix.shape[0]
        solver = _make_solver(self.matrix, self.options, self.label, self.rhs.shape[1])
        batch = _batch_size(columns.size, max(1, int(_MAP_CHUNK_BYTES // max(8 * n, 1))))
        for start in range(0, columns.size, batch):
            cols = columns[start : start + batch]
            solutions, info = solver.solve(self.rhs[:, cols].toarray()), solver.info
            if start + batch >= columns.size:
                # The hierarchy or factor is not needed while the last batch is stored (at 4M
                # cells that copy was the peak: 150 MB of hierarchy still held).
                del solver
                release_free_memory()
            yield cols, solutions, info


def _batch_size(n_columns: int, budget: int) -> int:
    """Columns per solve: at most ``budget``, or up to 1.25 times it when that spares a last
    small batch (each batch is one pass over the factor: 19 columns at 1M unknowns take 1.5 s
    in one batch, 1.7 s as 16 + 3)."""
    batches = max(1, n_columns // budget)
    if n_columns - batches * budget > budget // 4:
        batches += 1
    return max(1, math.ceil(n_columns / batches))


def solve_column_batch(problem: ColumnSolves, columns: np.ndarray):
    """One executor task: the solutions of ``columns`` and their SolveInfo."""
    values = np.zeros((problem.matrix.shape[0], columns.size))
    info = None
    for cols, solutions, info_so_far in problem.solve(columns):
        values[:, np.searchsorted(columns, cols)] = solutions
        info = info_so_far
    return columns, values, info


def solve_columns(problem: ColumnSolves, store, executor=None) -> SolveInfo:
    """Solve every column, here or as ``executor`` tasks; ``store(columns, solutions)``
    receives each batch. Returns the (merged) SolveInfo."""
    if executor is None:
        info = None
        for columns, solutions, info_so_far in problem.solve(np.arange(problem.rhs.shape[1])):
            store(columns, solutions)
            info = info_so_far
        return info
    infos = []

    def on_result(_, result):
        columns, solutions, info = result
        store(columns, solutions)
        infos.append(info)

    tasks = problem.batches(executor.workers)
    executor.run(functools.partial(solve_column_batch, problem), tasks, on_result)
    return merge_solve_infos(infos)


def merge_solve_infos(infos) -> SolveInfo:
    """One SolveInfo for the batches of one system (setups and solves added up)."""
    first = infos[0]
    iterations = [i.iterations for i in infos]
    return SolveInfo(
        solver=first.solver,
        n_unknowns=first.n_unknowns,
        n_rhs=sum(i.n_rhs for i in infos),
        iterations=None if None in iterations else sum(iterations),
        max_residual=max(i.max_residual for i in infos),
        seconds=sum(i.seconds for i in infos),
    )


def count_pair_solves(
    network: CircuitNetwork, focal: FocalPoints, selection: PairSelection | None = None
) -> int:
    """Number of pairs that would be solved (same component, different nodes, not excluded)."""
    nodes = network.cell_node[focal.rows, focal.cols]
    comps = network.component[np.maximum(nodes, 0)]
    count = 0
    for a in range(focal.ids.size):
        for b in range(a + 1, focal.ids.size):
            if nodes[a] == nodes[b] or comps[a] != comps[b] or nodes[a] < 0 or nodes[b] < 0:
                continue
            if selection is None or selection.keeps(focal.ids[a], focal.ids[b]):
                count += 1
    return count


def _focal_nodes(network: CircuitNetwork, focal: FocalPoints, nodata: str = "error") -> np.ndarray:
    """Node of each focal cell; -1 on NoData when ``nodata == "disconnect"``, else an error."""
    nodes = network.cell_node[focal.rows, focal.cols]
    if nodata == "disconnect":
        return nodes
    if (nodes < 0).any():
        k = int(np.argmax(nodes < 0))
        raise ConfigError(
            f"{int((nodes < 0).sum())} focal point cell(s) lie on NoData (first: id "
            f"{focal.ids[k]} at row {focal.rows[k]}, col {focal.cols[k]}). Move the point onto "
            "habitat or give that cell a resistance.",
            field="point_file",
        )
    return nodes


@dataclass
class _Accumulator:
    """Cumulative and max current over solves: per node within one network, per cell across
    networks (focal-region pairs rebuild the network)."""

    shape: tuple[int, int]
    want_cumulative: bool
    want_max: bool
    cumulative: np.ndarray | None = None
    maximum: np.ndarray | None = None

    def sums(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The summed and max grids (None where not wanted), made when first needed: zeros
        made before the solves sat in memory through them (the C heap writes out zeros it
        reuses; 32 MB a grid at 4M cells)."""
        if self.want_cumulative and self.cumulative is None:
            self.cumulative = np.zeros(self.shape)
        if self.want_max and self.maximum is None:
            self.maximum = np.zeros(self.shape)
        return self.cumulative, self.maximum

    def add(self, current_grid: np.ndarray) -> None:
        cumulative, maximum = self.sums()
        if cumulative is not None:
            cumulative += current_grid
        if maximum is not None:
            np.maximum(maximum, current_grid, out=maximum)

    def add_sums(self, cumulative: np.ndarray | None, maximum: np.ndarray | None) -> None:
        """Add the summed and max grids of another accumulator (a batch of solves)."""
        own_cumulative, own_maximum = self.sums()
        if own_cumulative is not None:
            own_cumulative += cumulative
        if own_maximum is not None:
            np.maximum(own_maximum, maximum, out=own_maximum)

    def add_nodes(self, network: CircuitNetwork, currents: np.ndarray) -> None:
        """Add node currents of a batch of solves, shape (n_nodes, k), 0 outside their
        component (currents are >= 0, so zeros never raise the maximum)."""
        has_node = network.cell_node >= 0
        cells = network.cell_node[has_node]
        cumulative, maximum = self.sums()
        if cumulative is not None:
            cumulative[has_node] += currents.sum(axis=1)[cells]
        if maximum is not None:
            maximum[has_node] = np.maximum(maximum[has_node], currents.max(axis=1)[cells])


def _focal_to_connect(graph, focal, selection):
    """The focal points kept by ``selection`` and their ids; at least two ids must remain."""
    focal.check_inside(graph.valid.shape)
    if selection is not None:
        focal = focal.select(np.isin(focal.ids, selection.point_ids))
    ids = focal.unique_ids
    if ids.size < 2:
        raise ConfigError(
            f"fewer than two focal ids to connect (found {ids.size}). Give at least two focal "
            "points with different ids (and check the included-pairs file).",
            field="point_file",
        )
    return focal, ids


def pairwise(
    graph: ConductanceGraph | Handover,
    focal: FocalPoints,
    *,
    regions: np.ndarray | None = None,
    selection: PairSelection | None = None,
    options: SolverOptions = SolverOptions(),
    cumulative: bool = False,
    maximum: bool = False,
    pair_currents: bool = False,
    pair_voltages: bool = False,
    on_pair: Callable[[PairMaps], None] | None = None,
    nodata_focal: str = "error",
    zero_focal_currents: bool = False,
    executor=None,
) -> PairwiseResult:
    """Effective resistance between every pair of focal ids, and current maps.

    Parameters
    ----------
    graph : ConductanceGraph or Handover
    focal : FocalPoints
        Focal points; ids covering several cells are focal regions, short-circuited for the
        pairs they take part in (the network is then rebuilt for each pair, as in Circuitscape).
    regions : ndarray of int, optional
        Short-circuit regions (polygons): cells sharing an id > 0 are one node.
    selection : PairSelection, optional
        Included / excluded pairs; focal ids absent from it are dropped.
    options : SolverOptions
    cumulative, maximum : bool
        Build the cumulative / max current maps.
    pair_currents, pair_voltages : bool
        Build each pair's maps and pass them to ``on_pair`` (one call per solved pair, so maps
        of many pairs never sit in memory together).
    on_pair : callable, optional
        Receives a :class:`PairMaps` for each solved pair.
    nodata_focal : {"error", "disconnect"}
        Focal points on NoData raise a ConfigError, or (Circuitscape's behaviour) are treated
        as disconnected from everything (resistance -1).
    zero_focal_currents : bool
        Set the current of each pair's two focal nodes to 0 in its maps (and so in the
        cumulative map), as Circuitscape 4's ``set_focal_node_currents_to_zero``.
    executor : optional
        Anything with ``run(function, tasks, on_result)`` and ``workers`` (the executors of
        :mod:`crossings.scale`, e.g. Dask): the focal nodes' solves run as its tasks, batched
        by focal node (focal regions: by pair, one network each), with results equal to the
        serial run's.

    Raises
    ------
    ConfigError
        Focal points on NoData, fewer than two focal ids, or all focal points in one node.
    SolverConvergenceError
        A solve missed its tolerance.

    Examples
    --------
    >>> from crossings.core.grid import GridSpec
    >>> from crossings.core.graph import build_graph
    >>> g = build_graph(GridSpec.from_origin(0, 1, 1, (1, 4), "EPSG:3857"), np.ones((1, 4)))
    >>> r = pairwise(g, FocalPoints([0, 0], [0, 3], [1, 2]))
    >>> round(float(r.resistances[0, 1]), 6)
    3.0
    """
    graph = _taken(graph)
    focal, ids = _focal_to_connect(graph, focal, selection)
    accumulator = _Accumulator(graph.valid.shape, cumulative, maximum)
    wants = (pair_currents, pair_voltages, on_pair, nodata_focal, zero_focal_currents)
    if focal.has_regions:
        resistances, n_solves, infos = _pairwise_regions(
            graph, focal, regions, selection, options, accumulator, wants, executor
        )
    else:
        network = build_network(graph, regions)
        del graph  # freed here, before the solves, if it was handed over
        resistances, n_solves, infos = _pairwise_points(
            network, focal, selection, options, accumulator, wants, executor
        )
    np.fill_diagonal(resistances, 0.0)
    return PairwiseResult(ids, resistances, *accumulator.sums(), n_solves, tuple(infos))


def _pairwise_points(network, focal, selection, options, accumulator, wants, executor):
    nodes = _focal_nodes(network, focal, wants[3])
    n = focal.ids.size
    if np.unique(nodes[nodes >= 0]).size < 2:
        raise ConfigError(
            f"all {n} focal points fall in one cell or short-circuit region, so there is "
            "nothing to connect. Place focal points in different cells.",
            field="point_file",
        )
    resistances = -np.ones((n, n))
    same_node = (nodes[:, None] == nodes[None, :]) & (nodes[:, None] >= 0)
    resistances[same_node] = 0.0
    labels_of_points = np.where(nodes >= 0, network.component[np.maximum(nodes, 0)], -1)
    need_maps = accumulator.want_cumulative or accumulator.want_max or wants[0] or wants[1]
    infos, n_solves = [], 0
    for label in np.unique(labels_of_points[nodes >= 0]):
        comp_nodes = network.component_nodes(label)
        in_comp = np.flatnonzero(labels_of_points == label)
        focal_nodes = np.unique(nodes[in_comp])  # sorted global node numbers
        if focal_nodes.size < 2:
            continue
        # Ground the node of the first focal point (by id order) of this component.
        order = [nodes[k] for k in in_comp]
        unique_in_order = list(dict.fromkeys(order))
        focal_local = np.searchsorted(comp_nodes, np.array(unique_in_order))
        rows = None if need_maps else focal_local
        pairs = _pairs_in_component(focal, nodes, in_comp, selection)
        k = len(unique_in_order)
        # Only the cumulative map, over every pair of distinct focal nodes: summed per edge.
        summed = (
            need_maps
            and _cumulative_only(accumulator, wants)
            and len(in_comp) == k
            and len(pairs) == k * (k - 1) // 2
        )
        # Row-major only for the cumulative map of a network that is not a whole grid (rows
        # gathered per edge); the solves write columns.
        order = "C" if summed and not _whole_grid(network, comp_nodes) else "F"
        potentials, info = _grounded_potentials(
            network, comp_nodes, focal_local, options, int(label), rows, order, executor
        )
        infos.append(info)
        column = {node: k for k, node in enumerate(unique_in_order)}
        # Rows of each focal node in `potentials`: local node index, or its column when only
        # the focal rows were kept.
        focal_rows = focal_local if need_maps else np.arange(focal_local.size)
        for a, b in pairs:
            ca, cb = column[nodes[a]], column[nodes[b]]
            ra, rb = focal_rows[ca], focal_rows[cb]
            r = potentials[rb, cb] - potentials[ra, cb] - potentials[rb, ca] + potentials[ra, ca]
            resistances[a, b] = resistances[b, a] = r
        n_solves += len(pairs)
        if pairs and summed:
            currents = np.zeros(network.n_nodes)
            currents[comp_nodes] = _cumulative_pair_currents(
                network, comp_nodes, potentials, focal_local, wants[4]
            )
            accumulator.add_nodes(network, currents[:, None])
        elif need_maps and pairs:
            _pair_maps(
                network, comp_nodes, potentials, column, pairs, focal, nodes, accumulator, wants
            )
    return resistances, n_solves, infos


def _cumulative_only(accumulator, wants) -> bool:
    """True when the cumulative map is the only map wanted."""
    return accumulator.want_cumulative and not accumulator.want_max and not (wants[0] or wants[1])


#: Bytes of edge-by-focal-node differences handled at once by the cumulative map.
_EDGE_CHUNK_BYTES = 64 * 2**20


def _cumulative_pair_currents(network, comp_nodes, potentials, focal_local, zero_focal):
    """Cumulative node current over ALL pairs of the ``k`` focal nodes of one component,
    without forming any pair's voltages.

    An edge carries ``w |d_b - d_a|`` in pair (a, b), where ``d_k`` is the edge's potential
    difference in the unit-injection solution of focal node k (the ground's constant cancels),
    so over all pairs it carries ``w * sum_{a<b} |d_a - d_b|``; with the ``d`` sorted that sum
    is ``sum_i d_(i) (2i - k + 1)``: O(k log k) per edge instead of O(k^2), and no dense
    pair-by-node array. A node's current in one pair is half the |flow| through its edges
    plus half the 1 A injected at the pair's two nodes (see :func:`_pair_currents`).
    """
    k = potentials.shape[1]
    coefficients = 2.0 * np.arange(k) - (k - 1)
    if _whole_grid(network, comp_nodes):
        flows = _grid_pair_flows(network.grid_edges, potentials, coefficients)
    else:
        flows = np.zeros(comp_nodes.size)
        for i, j, w in _component_edge_blocks(network, comp_nodes, k):
            carried = _pair_spread(potentials[i] - potentials[j], coefficients) * w
            lo = int(min(i.min(), j.min()))
            hi = int(max(i.max(), j.max())) + 1
            flows[lo:hi] += np.bincount(i - lo, carried, hi - lo)
            flows[lo:hi] += np.bincount(j - lo, carried, hi - lo)
    currents = 0.5 * flows
    for column, row in enumerate(focal_local):
        if zero_focal:  # Circuitscape 4: a pair's own two focal nodes show no current
            currents[row] -= _focal_share(network, comp_nodes, potentials, row, column)
        else:
            currents[row] += 0.5 * (k - 1)
    return currents


def _whole_grid(network: CircuitNetwork, comp_nodes: np.ndarray) -> bool:
    """True when the component's nodes are all the cells of the edges, in row-major order."""
    edges = network.grid_edges
    return edges is not None and comp_nodes.size == edges.valid.size


#: Up to this many focal nodes the pairs are summed directly; above, sorting is cheaper
#: (measured per edge: 2-8 nodes 1.1-3x faster directly, 20 nodes 5x faster sorted).
_DIRECT_SPREAD_MAX = 8


def _pair_spread(differences: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """``sum_{a<b} |d_a - d_b|`` over the last axis (``coefficients[i] = 2i - k + 1``)."""
    k = differences.shape[-1]
    if k > _DIRECT_SPREAD_MAX:
        differences.sort(axis=-1)
        return differences @ coefficients
    spread = np.zeros(differences.shape[:-1])
    for a in range(k):
        for b in range(a + 1, k):
            spread += np.abs(differences[..., a] - differences[..., b])
    return spread


#: Bytes of cell-by-focal-node differences per step of :func:`_grid_pair_flows`: small enough
#: to stay in cache from the subtraction to the sums (measured at 1M cells, 20 focal nodes:
#: 64 MB 0.45 s, 4 MB 0.32 s, 1 MB 0.29 s, 0.25 MB 0.35 s).
_GRID_FLOW_CHUNK_BYTES = 2**20


def _grid_pair_flows(edges, potentials, coefficients) -> np.ndarray:
    """Per cell, the |flow| summed over all pairs through its edges, for a edges whose cells
    are all nodes: each block of rows (and the row below it) of the potentials is made
    row-major once and sliced as a (rows, cols, k) edges (no gathers). The potentials may be
    column-major, as the solves write them (one contiguous column per focal node; writing
    columns into a row-major array took 0.1 s per focal node at 12M cells)."""
    rows, cols = edges.valid.shape
    k = coefficients.size
    flows = np.zeros((rows, cols))
    step = max(1, _GRID_FLOW_CHUNK_BYTES // (8 * k * cols))
    for r0 in range(0, rows, step):
        r1 = min(r0 + step, rows)
        block = np.ascontiguousarray(potentials[r0 * cols : min(r1 + 1, rows) * cols])
        block = block.reshape(-1, cols, k)
        for (dr, dc), weight in zip(DIRECTIONS, edges.edge_weights, strict=True):
            last = min(r1, rows - dr)
            if last <= r0 or (edges.connect_four and dr + abs(dc) > 1):
                continue
            columns_here = slice(max(0, -dc), cols - max(0, dc))
            columns_there = slice(max(0, dc), cols + min(0, dc))
            here = (slice(r0, last), columns_here)
            there = (slice(r0 + dr, last + dr), columns_there)
            differences = (
                block[: last - r0, columns_here] - block[dr : last - r0 + dr, columns_there]
            )
            carried = _pair_spread(differences, coefficients)
            carried *= weight[here]
            flows[here] += carried
            flows[there] += carried
    return flows.ravel()


def _focal_share(network, comp_nodes, potentials, row, column) -> float:
    """Current of focal node ``row`` summed over the pairs it belongs to (edges only)."""
    node = comp_nodes[row]
    lap = network.laplacian
    start, end = lap.indptr[node], lap.indptr[node + 1]
    neighbours, values = lap.indices[start:end], lap.data[start:end]
    off = neighbours != node
    local = np.searchsorted(comp_nodes, neighbours[off])
    steps = potentials[row] - potentials[local]  # (neighbours, k)
    steps -= steps[:, [column]]
    return float(0.5 * (-values[off]) @ np.abs(steps).sum(axis=1))


def _component_edge_blocks(network, comp_nodes, k):
    """Edges ``(i, j, w)`` of one component in local node numbers, in blocks of about
    ``_EDGE_CHUNK_BYTES`` of ``k`` differences (grid networks: by rows, never all edges at once)."""
    whole = comp_nodes.size == network.n_nodes
    local = None
    if not whole:
        local = np.full(network.n_nodes, -1, dtype=np.int64)
        local[comp_nodes] = np.arange(comp_nodes.size)
    per_block = max(1, _EDGE_CHUNK_BYTES // (8 * max(k, 1)))
    edges = network.grid_edges
    if edges is None:
        edge_i, edge_j, edge_w = network.edges()
        for start in range(0, edge_i.size, per_block):
            block = slice(start, start + per_block)
            yield from _local_edges(edge_i[block], edge_j[block], edge_w[block], local)
        return
    node = edges.node_index
    rows, cols = node.shape
    step = max(1, per_block // max(cols, 1))
    for r0 in range(0, rows, step):
        r1 = min(r0 + step, rows)
        for (dr, dc), weight in zip(DIRECTIONS, edges.edge_weights, strict=True):
            last = min(r1, rows - dr)
            if last <= r0:
                continue
            c0, c1 = max(0, -dc), cols - max(0, dc)
            w = weight[r0:last, c0:c1]
            here = w > 0
            i = node[r0:last, c0:c1][here]
            j = node[r0 + dr : last + dr, c0 + dc : c1 + dc][here]
            yield from _local_edges(i, j, w[here], local)


def _local_edges(i, j, w, local):
    if local is not None:
        i, j = local[i], local[j]
        keep = (i >= 0) & (j >= 0)
        i, j, w = i[keep], j[keep], w[keep]
    if i.size:
        yield i, j, w


def _pairs_in_component(focal, nodes, in_comp, selection):
    pairs = []
    for x, a in enumerate(in_comp):
        for b in in_comp[x + 1 :]:
            if nodes[a] == nodes[b]:
                continue
            if selection is not None and not selection.keeps(focal.ids[a], focal.ids[b]):
                continue
            pairs.append((int(a), int(b)))
    return pairs


def _pair_maps(network, comp_nodes, potentials, column, pairs, focal, nodes, accumulator, wants):
    """Current (and voltage) maps of each pair, batched: one sparse product per batch."""
    pair_currents, pair_voltages, on_pair = wants[:3]
    per_pair = on_pair is not None and (pair_currents or pair_voltages)
    chunk = max(1, int(_MAP_CHUNK_BYTES // max(8 * (network.n_edges + 1), 1)))
    for start in range(0, len(pairs), chunk):
        batch = pairs[start : start + chunk]
        ca = np.array([column[nodes[a]] for a, _ in batch])
        cb = np.array([column[nodes[b]] for _, b in batch])
        local = potentials[:, cb] - potentials[:, ca]
        first_rows = np.searchsorted(comp_nodes, np.array([nodes[a] for a, _ in batch]))
        local -= local[first_rows, np.arange(len(batch))]
        if comp_nodes.size == network.n_nodes:
            voltages = local
        else:
            voltages = np.zeros((network.n_nodes, len(batch)))
            voltages[comp_nodes] = local
        first = np.array([nodes[a] for a, _ in batch])
        second = np.array([nodes[b] for _, b in batch])
        currents = _pair_currents(network, voltages, first, second)
        if wants[4]:  # Circuitscape 4's set_focal_node_currents_to_zero
            columns = np.arange(len(batch))
            currents[first, columns] = 0.0
            currents[second, columns] = 0.0
        accumulator.add_nodes(network, currents)
        if not per_pair:
            continue
        for k, (a, b) in enumerate(batch):
            current_grid = _to_grid(network, currents[:, k], comp_nodes) if pair_currents else None
            voltage_grid = _to_grid(network, voltages[:, k], comp_nodes) if pair_voltages else None
            resistance = float(voltages[nodes[b], k] - voltages[nodes[a], k])
            on_pair(
                PairMaps(
                    int(focal.ids[a]), int(focal.ids[b]), resistance, current_grid, voltage_grid
                )
            )


def _regions_for_pair(regions, focal: FocalPoints, id_a: int, id_b: int, shape) -> np.ndarray:
    """Circuitscape's per-pair short-circuit map: the two focal regions merged into nodes."""
    if regions is None:
        merged = np.zeros(shape, dtype=np.int64)
        for pid in (id_a, id_b):
            cells = focal.ids == pid
            merged[focal.rows[cells], focal.cols[cells]] = pid
        return merged
    base = np.nan_to_num(np.asarray(regions, dtype=float), nan=0.0).astype(np.int64)
    merged = base.copy()
    next_id = int(base.max(initial=0))
    for pid in (id_a, id_b):
        cells = focal.ids == pid
        rows, cols = focal.rows[cells], focal.cols[cells]
        if rows.size == 1:
            continue
        touched = base[rows, cols]
        if not touched.any():
            next_id += 1
            merged[rows, cols] = next_id
        elif np.count_nonzero(touched) == 1:
            merged[rows, cols] = touched[touched != 0][0]
        else:
            next_id += 1
            merged[np.isin(base, touched[touched != 0])] = next_id
    return merged


def _first_cell_on_node(network: CircuitNetwork, focal: FocalPoints, pid) -> int:
    """Index of the first cell of focal id ``pid`` that is a node (else its first cell)."""
    cells = np.flatnonzero(focal.ids == pid)
    on_node = network.cell_node[focal.rows[cells], focal.cols[cells]] >= 0
    return int(cells[np.argmax(on_node)]) if on_node.any() else int(cells[0])


def _pairwise_regions(graph, focal, regions, selection, options, accumulator, wants, executor):
    """Pairs of focal regions: each pair gets its own network (its two regions short-circuited,
    as in Circuitscape), so each pair is one independent task."""
    ids = focal.unique_ids
    n = ids.size
    pairs = [
        (x, y)
        for x in range(n)
        for y in range(x + 1, n)
        if selection is None or selection.keeps(ids[x], ids[y])
    ]
    problem = RegionPairs(
        graph,
        focal,
        regions,
        options,
        wants[:2] + (wants[2] is not None,) + wants[3:],
        accumulator.want_cumulative,
        accumulator.want_max,
    )
    resistances = -np.ones((n, n))
    infos, n_solves = [], 0

    def on_result(_, result: RegionPairsResult):
        nonlocal n_solves
        for x, y, resistance in result.resistances:
            resistances[x, y] = resistances[y, x] = resistance
        infos.extend(result.infos)
        n_solves += len(result.infos)
        if result.cumulative is not None or result.maximum is not None:
            accumulator.add_sums(result.cumulative, result.maximum)
        for maps in result.pair_maps:
            wants[2](maps)

    tasks = problem.batches(pairs, None if executor is None else executor.workers)
    if executor is None:
        for index, task in enumerate(tasks):
            on_result(index, solve_region_pairs(problem, task))
    else:
        executor.run(functools.partial(solve_region_pairs, problem), tasks, on_result)
    return resistances, n_solves, infos


@dataclass(frozen=True)
class RegionPairs:
    """What a worker needs to solve any batch of focal-region pairs: the graph, the focal
    points and regions, the solver options and which maps to make (``wants`` as in
    :func:`pairwise`, with a flag in place of the ``on_pair`` callback)."""

    graph: ConductanceGraph
    focal: FocalPoints
    regions: np.ndarray | None
    options: SolverOptions
    wants: tuple
    want_cumulative: bool
    want_max: bool

    def batches(self, pairs: list, workers: int | None) -> list[list]:
        """One pair per task here (per-pair maps are handed on at once); on ``workers``, two
        batches per worker, so the graph is sent a few times rather than once per pair."""
        if workers is None:
            return [[pair] for pair in pairs]
        per_task = max(1, math.ceil(len(pairs) / (2 * max(int(workers), 1))))
        return [pairs[s : s + per_task] for s in range(0, len(pairs), per_task)]


@dataclass(frozen=True)
class RegionPairsResult:
    """Resistances ``(x, y, ohms)``, SolveInfos, the batch's summed / max current grids and
    the per-pair maps of one batch of focal-region pairs."""

    resistances: list
    infos: list
    cumulative: np.ndarray | None
    maximum: np.ndarray | None
    pair_maps: list


def solve_region_pairs(problem: RegionPairs, pairs: list) -> RegionPairsResult:
    """One task: solve ``pairs`` (index pairs into the focal ids), each on its own network."""
    graph, focal, wants = problem.graph, problem.focal, problem.wants
    ids = focal.unique_ids
    accumulator = _Accumulator(graph.valid.shape, problem.want_cumulative, problem.want_max)
    need_maps = accumulator.want_cumulative or accumulator.want_max or wants[0] or wants[1]
    pair_maps: list[PairMaps] = []
    collect = wants[:2] + ((pair_maps.append if wants[2] else None),) + wants[3:]
    resistances, infos = [], []
    for x, y in pairs:
        merged = _regions_for_pair(problem.regions, focal, ids[x], ids[y], graph.valid.shape)
        network = build_network(graph, merged)
        first = [_first_cell_on_node(network, focal, pid) for pid in (ids[x], ids[y])]
        sub = focal.select(np.array(first))
        node_a, node_b = _focal_nodes(network, sub, wants[3])
        if node_a < 0 or node_b < 0:
            continue
        if node_a == node_b:
            resistances.append((x, y, 0.0))
            continue
        if network.component[node_a] != network.component[node_b]:
            continue
        label = int(network.component[node_a])
        comp_nodes = network.component_nodes(label)
        focal_local = np.searchsorted(comp_nodes, np.array([node_a, node_b]))
        rows = None if need_maps else focal_local
        potentials, info = _grounded_potentials(
            network, comp_nodes, focal_local, problem.options, label, rows
        )
        infos.append(info)
        row_b = focal_local[1] if need_maps else 1
        resistances.append((x, y, float(potentials[row_b, 1])))
        if need_maps:
            pair_focal = FocalPoints(sub.rows, sub.cols, np.array([ids[x], ids[y]]))
            column = {node_a: 0, node_b: 1}
            nodes = np.array([node_a, node_b])
            _pair_maps(
                network,
                comp_nodes,
                potentials,
                column,
                [(0, 1)],
                pair_focal,
                nodes,
                accumulator,
                collect,
            )
    return RegionPairsResult(resistances, infos, *accumulator.sums(), pair_maps)


def effective_resistance(
    graph: ConductanceGraph,
    region_a: np.ndarray,
    region_b: np.ndarray,
    *,
    options: SolverOptions = SolverOptions(),
) -> float:
    """Effective resistance between two short-circuited regions (boolean grids).

    Returns -1 when the regions are not connected; raises ConfigError when a region has no
    valid cell or the regions overlap.

    Examples
    --------
    >>> from crossings.core.grid import GridSpec
    >>> from crossings.core.graph import build_graph
    >>> g = build_graph(GridSpec.from_origin(0, 2, 1, (2, 3), "EPSG:3857"), np.ones((2, 3)),
    ...                 connect_four=True)
    >>> a = np.array([[1, 0, 0], [1, 0, 0]], bool); b = a[:, ::-1]
    >>> round(effective_resistance(g, a, b), 6)  # two parallel strips of two unit resistors
    1.0
    """
    region_a = np.asarray(region_a, dtype=bool) & graph.valid
    region_b = np.asarray(region_b, dtype=bool) & graph.valid
    for name, region in (("region_a", region_a), ("region_b", region_b)):
        if not region.any():
            raise ConfigError(f"{name} holds no valid (non-NoData) cell.", field=name)
    if (region_a & region_b).any():
        raise ConfigError("region_a and region_b overlap; give disjoint regions.", field="region_b")
    regions = np.zeros(graph.valid.shape, dtype=np.int64)
    regions[region_a], regions[region_b] = 1, 2
    rows_a, cols_a = np.nonzero(region_a)
    rows_b, cols_b = np.nonzero(region_b)
    focal = FocalPoints([rows_a[0], rows_b[0]], [cols_a[0], cols_b[0]], [1, 2])
    result = pairwise(graph, focal, regions=regions, options=options)
    return float(result.resistances[0, 1])


# ----------------------------------------------------------------------------------------------
# Advanced: sources and grounds


def _node_sums(network: CircuitNetwork, grid: np.ndarray) -> np.ndarray:
    """Sum of a cell grid per node (NaN counts as 0; cells that are not nodes are ignored)."""
    values = np.nan_to_num(np.asarray(grid, dtype=float), nan=0.0, posinf=np.inf)
    has = (network.cell_node >= 0) & (values != 0)
    out = np.zeros(network.n_nodes)
    np.add.at(out, network.cell_node[has], values[has])
    return out


def _resolve_conflicts(sources, grounds, policy: RemovePolicy):
    sources, grounds = sources.copy(), grounds.copy()
    conflict = (sources != 0) & (grounds != 0)
    if policy in (RemovePolicy.RMVSRC, RemovePolicy.RMVALL):
        sources[conflict] = 0.0
    if policy in (RemovePolicy.RMVGND, RemovePolicy.RMVALL):
        grounds[conflict] = 0.0
    # A direct ground at a source would swallow it: Circuitscape drops such grounds.
    grounds[np.isinf(grounds) & (sources > 0)] = 0.0
    return sources, grounds


def _solve_advanced(network, sources, grounds, options, only_component=None):
    """Voltages of every component that has a source and a ground (others stay 0)."""
    voltages = np.zeros(network.n_nodes)
    finite = np.where(np.isinf(grounds), 0.0, grounds)
    solved, infos, solved_nodes = 0, [], []
    labels = range(network.n_components) if only_component is None else [only_component]
    for label in labels:
        comp_nodes = network.component_nodes(label)
        if sources[comp_nodes].sum() == 0 or grounds[comp_nodes].sum() == 0:
            continue
        direct = np.isinf(grounds[comp_nodes])
        if direct.all():
            continue
        matrix = _component_matrix(network, comp_nodes) + sp.diags(finite[comp_nodes])
        matrix = _grounded(matrix.tocsr(), np.flatnonzero(direct))
        solver = _make_solver(matrix, options, int(label), 1)
        values = solver.solve(np.where(direct, 0.0, sources[comp_nodes]))
        voltages[comp_nodes] = values
        infos.append(solver.info)
        solved_nodes.append(comp_nodes)
        solved += 1
    nodes = np.concatenate(solved_nodes) if solved_nodes else np.zeros(0, dtype=np.int64)
    return voltages, finite, solved, infos, nodes


def advanced(
    graph: ConductanceGraph | Handover,
    sources: np.ndarray,
    grounds: np.ndarray,
    *,
    regions: np.ndarray | None = None,
    policy: RemovePolicy = RemovePolicy.KEEPALL,
    options: SolverOptions = SolverOptions(),
) -> AdvancedResult:
    """Solve with current sources and grounds (Circuitscape's advanced mode).

    Parameters
    ----------
    graph : ConductanceGraph or Handover
    sources : ndarray, grid shape
        Current injected at each cell in amperes (0 or NaN = none); summed per node.
    grounds : ndarray, grid shape
        Conductance to ground at each cell (0 or NaN = none, ``inf`` = direct ground). Convert
        ground resistances with ``1 / r`` first (a zero resistance gives a direct ground).
    regions : ndarray of int, optional
        Short-circuit regions.
    policy : RemovePolicy
        What to do where a node is both a source and a ground.
    options : SolverOptions

    Examples
    --------
    >>> from crossings.core.grid import GridSpec
    >>> from crossings.core.graph import build_graph
    >>> g = build_graph(GridSpec.from_origin(0, 1, 1, (1, 3), "EPSG:3857"), np.ones((1, 3)))
    >>> r = advanced(g, np.array([[1.0, 0, 0]]), np.array([[0, 0, np.inf]]))
    >>> r.voltage.tolist(), r.current.tolist()
    ([[2.0, 1.0, 0.0]], [[1.0, 1.0, 1.0]])
    """
    network = build_network(_taken(graph), regions)
    del graph  # freed here, before the solves, if it was handed over
    node_sources = _node_sums(network, sources)
    node_grounds = _node_sums(network, grounds)
    node_sources, node_grounds = _resolve_conflicts(node_sources, node_grounds, policy)
    voltages, finite, solved, infos, nodes = _solve_advanced(
        network, node_sources, node_grounds, options
    )
    currents = node_currents(network, voltages, finite)
    return AdvancedResult(
        _to_grid(network, voltages, nodes), _to_grid(network, currents, nodes), solved, tuple(infos)
    )


# ----------------------------------------------------------------------------------------------
# One-to-all and all-to-one


def _focal_region_map(regions, focal: FocalPoints, shape) -> tuple[np.ndarray, np.ndarray]:
    """Circuitscape's merge of focal cells into the short-circuit map; also the point map."""
    point_map = np.zeros(shape, dtype=np.int64)
    point_map[focal.rows, focal.cols] = focal.ids
    if regions is None:
        return point_map.copy(), point_map
    merged = np.nan_to_num(np.asarray(regions, dtype=float), nan=0.0).astype(np.int64)
    has_point = point_map != 0
    if not focal.has_regions:
        offset = int(merged.max(initial=0))
        free = has_point & (merged == 0)
        merged[free] = point_map[free] + offset
        return merged, point_map
    offset = max(int(merged.max(initial=0)), int(point_map.max(initial=0)))
    for r, c in zip(*np.nonzero(has_point.T)[::-1], strict=True):
        v1, v2 = point_map[r, c], merged[r, c]
        if v2 == 0:
            merged[r, c] = offset + v1
        elif v1 != v2:
            merged[merged == v2] = v1
    return merged, point_map


def _one_or_all_sources(focal, ids, pid, point_map, strengths, to_all, shape):
    """Sources, grounds and policy of one focal id (Circuitscape's one-to-all / all-to-one)."""

    def strength_of(value) -> float:
        return float(strengths.get(int(value), 1.0)) if strengths else 1.0

    sources = np.zeros(shape)
    if to_all:
        first = int(np.argmax(focal.ids == pid))
        sources[focal.rows[first], focal.cols[first]] = strength_of(pid)
        grounds = np.where((point_map != 0) & (point_map != pid), np.inf, 0.0)
        return sources, grounds, RemovePolicy.RMVGND
    # One source per other focal id (at its first cell), not one per cell.
    for other in ids[ids != pid]:
        if not (point_map == other).any():
            continue
        cell = int(np.argmax(focal.ids == other))
        sources[focal.rows[cell], focal.cols[cell]] += strength_of(other)
    grounds = np.where(point_map == pid, np.inf, 0.0)
    return sources, grounds, RemovePolicy.RMVSRC


def _one_or_all(graph, focal, regions, strengths, options, to_all, maps, on_id, extra):
    selection, nodata, compat, executor = extra
    graph = _taken(graph)
    shape = graph.valid.shape
    focal, ids = _focal_to_connect(graph, focal, selection)
    merged, point_map = _focal_region_map(regions, focal, shape)
    network = build_network(graph, merged)
    del graph  # freed here, before the solves, if it was handed over
    nodes = _focal_nodes(network, focal, nodata)
    if np.unique(nodes[nodes >= 0]).size < 2:
        raise ConfigError(
            f"all {focal.ids.size} focal points fall in one cell or region; nothing to connect.",
            field="point_file",
        )
    accumulator = _Accumulator(shape, *maps)
    id_nodes = _distinct_id_nodes(focal, ids, nodes)
    if selection is None and id_nodes is not None:
        values, infos = _one_or_all_reduced(
            network, ids, id_nodes, strengths, options, to_all, accumulator, on_id, executor
        )
        return OneToAllResult(ids, values, *accumulator.sums(), infos)
    values = np.full(ids.size, -1.0)
    infos = []
    for k, pid in enumerate(ids):
        own_map, own_strengths = point_map, strengths
        if selection is not None:
            dropped = [o for o in ids if o != pid and not selection.keeps(pid, o)]
            own_map = np.where(np.isin(point_map, dropped), 0, point_map)
            if compat and len(dropped) == ids.size - 1:
                continue  # Circuitscape: nothing left to pair with -> -1, no map at all
            if compat and not to_all:
                own_map, own_strengths = _compat_all_to_one(point_map, strengths, dropped)
        sources, grounds, policy = _one_or_all_sources(
            focal, ids, pid, own_map, own_strengths, to_all, shape
        )
        node_sources, node_grounds = _resolve_conflicts(
            _node_sums(network, sources), _node_sums(network, grounds), policy
        )
        anchor = _first_cell_on_node(network, focal, pid)
        voltages = np.zeros(network.n_nodes)
        currents = np.zeros(network.n_nodes)
        solved_nodes = np.zeros(0, dtype=np.int64)
        if nodes[anchor] >= 0:
            label = int(network.component[nodes[anchor]])
            voltages, finite, solved, solve_infos, solved_nodes = _solve_advanced(
                network, node_sources, node_grounds, options, only_component=label
            )
            infos.extend(solve_infos)
            if solved:
                currents = node_currents(network, voltages, finite)
                values[k] = _one_or_all_value(network, focal, pid, voltages, strengths, to_all)
        current_grid = _to_grid(network, currents, solved_nodes)
        accumulator.add(current_grid)
        if on_id is not None:
            on_id(int(pid), current_grid, _to_grid(network, voltages, solved_nodes))
    return OneToAllResult(ids, values, *accumulator.sums(), tuple(infos))


def _compat_all_to_one(point_map, strengths, dropped):
    """Circuitscape compatibility for all-to-one with included pairs: ids not paired with the
    grounded id stay sources, at 1 A instead of their variable strength (Circuitscape builds
    its source map from every focal point and resets only the excluded ones' strengths to 1)."""
    if not strengths:
        return point_map, strengths
    return point_map, {**strengths, **{int(o): 1.0 for o in dropped}}


def _distinct_id_nodes(focal: FocalPoints, ids: np.ndarray, nodes: np.ndarray):
    """Node of each focal id when every id sits on its own node(s) with all cells on nodes;
    else None (the general path then handles the special cases Circuitscape's way)."""
    if (nodes < 0).any():
        return None
    first = np.searchsorted(focal.ids, ids)  # ids are sorted: first cell of each id
    id_nodes = nodes[first]
    if np.unique(id_nodes).size != ids.size:
        return None
    if not np.array_equal(nodes, id_nodes[np.searchsorted(ids, focal.ids)]):
        return None
    return id_nodes


def _one_or_all_reduced(
    network, ids, id_nodes, strengths, options, to_all, accumulator, on_id, executor=None
):
    """One-to-all / all-to-one with ONE factorisation for all focal ids.

    With every focal node grounded, the interior block ``L_II`` is factorised once and
    ``H = -L_II^-1 L_IF`` (one solve per focal node) gives the potential everywhere for any
    focal potentials (``v_I = H v_F``); ``K = L_FF + L_FI H`` is the focal nodes' reduced
    (Kron) Laplacian. One-to-all for id i is then ``v_i = s_i / K_ii`` with the other ids at
    0 V; all-to-one solves the small system ``K v = s`` with id i at 0 V.
    """
    lap = network.laplacian
    k = ids.size
    comps = network.component[id_nodes]
    relevant = np.isin(network.component, comps)
    is_focal = np.zeros(network.n_nodes, dtype=bool)
    is_focal[id_nodes] = True
    interior = np.flatnonzero(relevant & ~is_focal)
    l_if = lap[interior][:, id_nodes].tocsc()
    reduced = np.asarray(lap[id_nodes][:, id_nodes].todense())
    h = np.zeros((interior.size, k))
    infos = []
    if interior.size:

        def store(columns, values):
            h[:, columns] = -values

        problem = ColumnSolves(lap[interior][:, interior].tocsr(), l_if, options, None)
        infos.append(solve_columns(problem, store, executor))
        reduced = reduced + np.asarray(l_if.T @ h)
    strength = np.array([float(strengths.get(int(p), 1.0)) if strengths else 1.0 for p in ids])
    values = np.full(k, -1.0)
    for i, pid in enumerate(ids):
        focal_v = _reduced_focal_voltages(reduced, comps, i, strength, to_all)
        comp_nodes = network.component_nodes(comps[i])
        voltages = np.zeros(network.n_nodes)
        if focal_v is not None:
            voltages[id_nodes] = focal_v
            voltages[interior] = h @ focal_v
            if to_all:
                value = focal_v[i] / strength[i]
                values[i] = -1.0 if math.isclose(value, 0.0, abs_tol=1e-12) else value
            else:
                values[i] = 0.0
            currents = node_currents(network, voltages)
        else:
            currents = np.zeros(network.n_nodes)
            comp_nodes = np.zeros(0, dtype=np.int64)
        current_grid = _to_grid(network, currents, comp_nodes)
        accumulator.add(current_grid)
        if on_id is not None:
            on_id(int(pid), current_grid, _to_grid(network, voltages, comp_nodes))
    return values, tuple(infos)


def _reduced_focal_voltages(reduced, comps, i, strength, to_all):
    """Focal-node voltages of id ``i``'s solve (None when its component has nothing to solve)."""
    others = np.flatnonzero((comps == comps[i]) & (np.arange(comps.size) != i))
    if others.size == 0:
        return None
    focal_v = np.zeros(comps.size)
    if to_all:
        focal_v[i] = strength[i] / reduced[i, i]
        return focal_v
    if strength[others].sum() == 0:
        return None
    focal_v[others] = np.linalg.solve(reduced[np.ix_(others, others)], strength[others])
    return focal_v


def _one_or_all_value(network, focal, pid, voltages, strengths, to_all) -> float:
    if not to_all:
        return 0.0
    first = int(np.argmax(focal.ids == pid))
    node = network.cell_node[focal.rows[first], focal.cols[first]]
    strength = float(strengths.get(int(pid), 1.0)) if strengths else 1.0
    value = voltages[node] / strength if node >= 0 else 0.0
    return -1.0 if math.isclose(value, 0.0, abs_tol=1e-12) else float(value)


def one_to_all(
    graph: ConductanceGraph | Handover,
    focal: FocalPoints,
    *,
    regions: np.ndarray | None = None,
    strengths: dict[int, float] | None = None,
    options: SolverOptions = SolverOptions(),
    cumulative: bool = False,
    maximum: bool = False,
    on_id: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    selection: PairSelection | None = None,
    nodata_focal: str = "error",
    circuitscape_compat: bool = False,
    executor=None,
) -> OneToAllResult:
    """For each focal id: inject its strength (1 A by default) at its first cell, ground all
    other focal ids directly; value = source voltage / strength.

    ``on_id(id, current_grid, voltage_grid)`` receives each id's maps (zeros when nothing was
    solved). With ``selection``, focal ids absent from it are dropped and, for each id, the ids
    it is not paired with are neither grounds nor sources. ``nodata_focal`` is as in
    :func:`pairwise`. ``circuitscape_compat`` (Circuitscape compatibility, set by the INI
    runner): an id paired with nobody gets -1 and no ``on_id`` call, as in Circuitscape.
    ``executor`` (as in :func:`pairwise`) solves the focal nodes' columns as its tasks when
    every id has its own node(s) and no pair selection is given (the one-factorisation path).

    Examples
    --------
    >>> from crossings.core.grid import GridSpec
    >>> from crossings.core.graph import build_graph
    >>> g = build_graph(GridSpec.from_origin(0, 1, 1, (1, 3), "EPSG:3857"), np.ones((1, 3)))
    >>> one_to_all(g, FocalPoints([0, 0, 0], [0, 1, 2], [1, 2, 3])).values.tolist()
    [1.0, 0.5, 1.0]
    """
    maps = (cumulative, maximum)
    extra = (selection, nodata_focal, circuitscape_compat, executor)
    return _one_or_all(graph, focal, regions, strengths, options, True, maps, on_id, extra)


def all_to_one(
    graph: ConductanceGraph | Handover,
    focal: FocalPoints,
    *,
    regions: np.ndarray | None = None,
    strengths: dict[int, float] | None = None,
    options: SolverOptions = SolverOptions(),
    cumulative: bool = False,
    maximum: bool = False,
    on_id: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    selection: PairSelection | None = None,
    nodata_focal: str = "error",
    circuitscape_compat: bool = False,
    executor=None,
) -> OneToAllResult:
    """For each focal id: ground it directly and inject 1 A (or the variable strength) at the
    first cell of every other focal id; value is 0 when solved, -1 when nothing is connected.

    With ``selection``, ids not paired with the grounded id are neither sources nor grounds.
    ``circuitscape_compat`` (Circuitscape compatibility, set by the INI runner) reproduces
    Circuitscape instead: those ids stay sources, at 1 A whatever their variable strength, and
    an id paired with nobody gets -1 and no ``on_id`` call (docs/connectivity.md,
    "Differences").
    """
    maps = (cumulative, maximum)
    extra = (selection, nodata_focal, circuitscape_compat, executor)
    return _one_or_all(graph, focal, regions, strengths, options, False, maps, on_id, extra)
