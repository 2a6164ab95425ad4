"""Circuitscape network (graph) mode: pairwise and advanced on an arbitrary weighted graph.

Nodes carry the integer ids of the input file (any integers, not necessarily contiguous);
results are reported with the same ids. Conventions follow Circuitscape:

* parallel edges (including ``i j`` and ``j i`` listed twice) add their conductances;
* pairwise: for the pair ``(a, b)`` one ampere enters at ``b`` and leaves at ``a``, so voltages
  are 0 at ``a`` and ``R_ab`` at ``b``; pairs in different components get resistance -1;
* a branch current is ``|g_ij (v_i - v_j)|``; a node current is the larger of the total current
  flowing into and out of the node through its branches and its finite ground (the injected
  source current is not counted, so it equals the larger of inflow and outflow);
* advanced: sources and grounds per node, grounds as conductances (``inf`` = direct ground),
  the ``remove_src_or_gnd`` policies; components without a source or without a ground stay at
  0 V.

Each connected component is factorised (or gets its AMG hierarchy) once; pairwise mode needs one
solve per focal node of a component (not per pair): with ``x_k`` the voltages for one ampere
into focal node ``k`` and the component grounded at its first focal node ``g``, the pair
``(a, b)`` has voltages ``x_b - x_a`` up to a constant (superposition).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from crossings.core.circuit import PairSelection, RemovePolicy
from crossings.core.solve import SolveInfo, Solver, SPDSolver, connected_components
from crossings.errors import ConfigError

__all__ = [
    "NetworkGraph",
    "NetworkFlow",
    "NetworkPairwiseResult",
    "PairSelection",
    "RemovePolicy",
    "network_pairwise",
    "network_advanced",
]


@dataclass(frozen=True)
class NetworkGraph:
    """An undirected weighted graph with integer node ids.

    Attributes
    ----------
    node_ids : ndarray of int64
        Sorted unique ids; node ``k`` of the Laplacian is ``node_ids[k]``.
    edges : ndarray of int64, shape (m, 2)
        Node indices of each edge, smaller first, unique.
    conductances : ndarray of float, shape (m,)
        Conductance (siemens, or 1/resistance units of the input) of each edge, > 0.
    """

    node_ids: np.ndarray
    edges: np.ndarray
    conductances: np.ndarray
    _laplacian: sp.csr_matrix = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        n = self.node_ids.size
        i, j = self.edges[:, 0], self.edges[:, 1]
        g = self.conductances
        degree = np.bincount(i, weights=g, minlength=n) + np.bincount(j, weights=g, minlength=n)
        rows = np.concatenate([i, j, np.arange(n)])
        cols = np.concatenate([j, i, np.arange(n)])
        data = np.concatenate([-g, -g, degree])
        laplacian = sp.csr_matrix((data, (rows, cols)), shape=(n, n), dtype=np.float64)
        object.__setattr__(self, "_laplacian", laplacian)

    @classmethod
    def from_edge_list(
        cls,
        ids_a,
        ids_b,
        values,
        *,
        values_are_resistances: bool = False,
        source: str = "graph",
    ) -> NetworkGraph:
        """Build a graph from ``i j value`` rows as Circuitscape reads them.

        Parameters
        ----------
        ids_a, ids_b : array_like of int
            Node ids of both ends of every edge.
        values : array_like of float
            Conductance, or resistance when ``values_are_resistances``.
        source : str
            Name of the file the rows came from (for error messages).

        Raises
        ------
        ConfigError
            Non-integer ids, non-finite or negative values, zero resistances, no edges.

        Examples
        --------
        >>> g = NetworkGraph.from_edge_list([0, 1], [1, 2], [2.0, 4.0], values_are_resistances=True)
        >>> g.laplacian.toarray()
        array([[ 0.5 , -0.5 ,  0.  ],
               [-0.5 ,  0.75, -0.25],
               [ 0.  , -0.25,  0.25]])
        """
        ids_a, ids_b = _as_ids(ids_a, source, "node id"), _as_ids(ids_b, source, "node id")
        values = np.asarray(values, dtype=np.float64)
        if not (ids_a.shape == ids_b.shape == values.shape) or ids_a.ndim != 1:
            raise ConfigError(
                "every edge needs two node ids and a value ('i j value' per line).",
                source=source,
                field="edges",
            )
        if ids_a.size == 0:
            raise ConfigError("the graph has no edges.", source=source, field="edges")
        conductances = _edge_conductances(values, values_are_resistances, source)
        node_ids = np.unique(np.concatenate([ids_a, ids_b]))
        i = np.searchsorted(node_ids, ids_a)
        j = np.searchsorted(node_ids, ids_b)
        keep = (i != j) & (conductances > 0)  # self-loops and zero conductances carry no current
        low, high = np.minimum(i, j)[keep], np.maximum(i, j)[keep]
        n = node_ids.size
        merged = sp.coo_matrix((conductances[keep], (low, high)), shape=(n, n)).tocsr()
        merged.sum_duplicates()
        merged = merged.tocoo()
        edges = np.column_stack([merged.row, merged.col]).astype(np.int64)
        return cls(node_ids, edges, merged.data.astype(np.float64))

    @property
    def n_nodes(self) -> int:
        return int(self.node_ids.size)

    @property
    def laplacian(self) -> sp.csr_matrix:
        """Weighted Laplacian (CSR, symmetric, zero row sums)."""
        return self._laplacian

    def index_of(self, ids, *, source: str, field: str) -> np.ndarray:
        """Node indices of ``ids``; a ConfigError names the first id that is not in the graph."""
        ids = _as_ids(ids, source, field)
        index = np.searchsorted(self.node_ids, ids)
        index = np.minimum(index, self.n_nodes - 1)
        missing = self.node_ids[index] != ids
        if missing.any():
            bad = ids[missing]
            raise ConfigError(
                f"{bad.size} node id(s) are not in the graph (first: {int(bad[0])}); the graph "
                f"has ids {int(self.node_ids[0])}..{int(self.node_ids[-1])}. Use ids that "
                "appear in the graph file.",
                source=source,
                field=field,
            )
        return index


def _as_ids(values, source: str, field: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(array) | (array != np.round(array))
    if bad.any():
        raise ConfigError(
            f"node ids must be integers; got {array[bad][0]!r}.", source=source, field=field
        )
    return array.astype(np.int64)


def _edge_conductances(values: np.ndarray, are_resistances: bool, source: str) -> np.ndarray:
    kind = "resistance" if are_resistances else "conductance"
    bad = ~np.isfinite(values) | (values < 0) | ((values == 0) & are_resistances)
    if bad.any():
        row = int(np.argmax(bad))
        fix = (
            "Resistances must be > 0 (leave out an edge to cut it)."
            if are_resistances
            else "Conductances must be >= 0 and finite."
        )
        raise ConfigError(
            f"{int(bad.sum())} edge(s) have an invalid {kind} (first on data row {row + 1}: "
            f"{values[row]!r}). {fix}",
            source=source,
            field=kind,
        )
    if are_resistances:
        return 1.0 / values
    return values.copy()


@dataclass(frozen=True)
class NetworkFlow:
    """Voltages and currents of one solve (a pair, the cumulative sum, or an advanced run).

    Attributes
    ----------
    node_ids : ndarray of int64
        Nodes reported (a pair reports the nodes of its component).
    voltages : ndarray or None
        Volts at ``node_ids`` (None for cumulative results).
    node_currents : ndarray
        Amperes through each node (larger of inflow and outflow).
    branch_ids : ndarray of int64, shape (m, 2)
        Node ids of the branches with non-zero current, smaller id first.
    branch_currents : ndarray
        Amperes through each of those branches (absolute value).
    pair : tuple of int or None
        ``(a, b)`` focal ids for a pairwise solve.
    """

    node_ids: np.ndarray
    voltages: np.ndarray | None
    node_currents: np.ndarray
    branch_ids: np.ndarray
    branch_currents: np.ndarray
    pair: tuple[int, int] | None = None


@dataclass(frozen=True)
class NetworkPairwiseResult:
    """Result of :func:`network_pairwise`.

    Attributes
    ----------
    focal_ids : ndarray of int64
        Sorted unique focal node ids (rows/columns of ``resistances``).
    resistances : ndarray, shape (k, k)
        Effective resistances; 0 on the diagonal, -1 for pairs in different components and
        pairs left out by the pair selection.
    pairs : tuple of NetworkFlow
        Per-pair flows (empty unless ``keep_pairs``), in the order solved.
    cumulative : NetworkFlow or None
        Node and branch currents summed over every solved pair (all nodes of the graph).
    solve_info : tuple of SolveInfo
        One per component solved.
    """

    focal_ids: np.ndarray
    resistances: np.ndarray
    pairs: tuple[NetworkFlow, ...]
    cumulative: NetworkFlow | None
    solve_info: tuple[SolveInfo, ...]


class _Currents:
    """Branch and node currents of voltage vectors on a fixed set of edges."""

    def __init__(self, graph: NetworkGraph, nodes: np.ndarray):
        # Restrict edges to ``nodes`` (sorted node indices) and renumber into that subset.
        local = np.full(graph.n_nodes, -1, dtype=np.int64)
        local[nodes] = np.arange(nodes.size)
        inside = local[graph.edges[:, 0]] >= 0
        self.nodes = nodes
        self.edge_rows = np.flatnonzero(inside)
        self.edges = graph.edges[inside]
        self.local_edges = local[self.edges]
        self.g = graph.conductances[inside]

    def flow(self, voltages, ground_conductance=None):
        """Signed branch currents (from first to second end) and node currents."""
        i, j = self.local_edges[:, 0], self.local_edges[:, 1]
        branch = self.g * (voltages[i] - voltages[j])
        n = self.nodes.size
        forward, backward = np.maximum(branch, 0.0), np.maximum(-branch, 0.0)
        outflow = np.bincount(i, forward, n) + np.bincount(j, backward, n)
        inflow = np.bincount(j, forward, n) + np.bincount(i, backward, n)
        if ground_conductance is not None:
            to_ground = ground_conductance * voltages
            outflow += np.maximum(to_ground, 0.0)
            inflow += np.maximum(-to_ground, 0.0)
        return branch, np.maximum(inflow, outflow)


def _nonzero_branches(graph, edges, branch):
    magnitude = np.abs(branch)
    keep = magnitude > 0
    return graph.node_ids[edges[keep]].reshape(-1, 2), magnitude[keep]


def network_pairwise(
    graph: NetworkGraph,
    focal_ids,
    *,
    solver: Solver = Solver.AUTO,
    tol: float = 1e-8,
    maxiter: int | None = None,
    keep_pairs: bool = True,
    cumulative: bool = True,
    on_pair: Callable[[NetworkFlow], None] | None = None,
    selection: PairSelection | None = None,
    source: str = "focal nodes",
) -> NetworkPairwiseResult:
    """Effective resistance, voltages and currents between every pair of focal nodes.

    Parameters
    ----------
    graph : NetworkGraph
    focal_ids : array_like of int
        Focal node ids (duplicates ignored); at least two distinct ids.
    solver, tol, maxiter
        Passed to :class:`~crossings.core.solve.SPDSolver`.
    keep_pairs : bool
        Keep every pair's :class:`NetworkFlow` in the result (memory grows with pairs x nodes).
    cumulative : bool
        Sum node and branch currents over the pairs.
    on_pair : callable, optional
        Called with each pair's flow as soon as it is computed (e.g. to write it).
    selection : PairSelection, optional
        Included / excluded pairs, as in raster mode: focal ids absent from it are dropped,
        pairs it leaves out are not solved and get resistance -1.
    source : str
        Origin of ``focal_ids`` for error messages.

    Raises
    ------
    ConfigError
        Fewer than two focal nodes (after the pair selection), or ids not in the graph.
    SolverConvergenceError
        A solve missed ``tol``.

    Examples
    --------
    >>> g = NetworkGraph.from_edge_list([0, 1, 5], [1, 2, 6], [1.0, 1.0, 2.0],
    ...                                 values_are_resistances=True)
    >>> network_pairwise(g, [0, 2, 5]).resistances
    array([[ 0.,  2., -1.],
           [ 2.,  0., -1.],
           [-1., -1.,  0.]])
    """
    focal_ids = _selected_focal_ids(_as_ids(focal_ids, source, "focal node"), selection, source)
    focal_index = graph.index_of(focal_ids, source=source, field="focal node")
    count, labels = connected_components(graph.laplacian)
    k = focal_ids.size
    resistances = np.full((k, k), -1.0)
    np.fill_diagonal(resistances, 0.0)
    pairs: list[NetworkFlow] = []
    infos: list[SolveInfo] = []
    cum_nodes = np.zeros(graph.n_nodes) if cumulative else None
    cum_branches = np.zeros(len(graph.edges)) if cumulative else None
    for component in range(count):
        members = np.flatnonzero(labels[focal_index] == component)
        kept = _kept_pairs(focal_ids, members, selection)
        if not kept:
            continue
        # Only focal nodes of a solved pair need a unit-injection solve.
        members = np.unique(np.array(kept).ravel())
        position = {int(m): column for column, m in enumerate(members)}
        nodes = np.flatnonzero(labels == component)
        solved = _solve_unit_injections(graph, nodes, focal_index[members], solver, tol, maxiter)
        voltages_by_focal, info = solved
        infos.append(info)
        currents = _Currents(graph, nodes)
        local_focal = np.searchsorted(nodes, focal_index[members])
        for a, b in kept:
            first, second = position[a], position[b]
            v = voltages_by_focal[:, second] - voltages_by_focal[:, first]
            v = v - v[local_focal[first]]
            resistance = float(v[local_focal[second]])
            resistances[a, b] = resistances[b, a] = resistance
            branch, node_currents = currents.flow(v)
            if cumulative:
                cum_nodes[nodes] += node_currents
                cum_branches[currents.edge_rows] += np.abs(branch)
            if keep_pairs or on_pair is not None:
                branch_ids, branch_values = _nonzero_branches(graph, currents.edges, branch)
                flow = NetworkFlow(
                    graph.node_ids[nodes],
                    v,
                    node_currents,
                    branch_ids,
                    branch_values,
                    (int(focal_ids[a]), int(focal_ids[b])),
                )
                if on_pair is not None:
                    on_pair(flow)
                if keep_pairs:
                    pairs.append(flow)
    cum = None
    if cumulative:
        branch_ids, branch_values = _nonzero_branches(graph, graph.edges, cum_branches)
        cum = NetworkFlow(graph.node_ids, None, cum_nodes, branch_ids, branch_values)
    return NetworkPairwiseResult(focal_ids, resistances, tuple(pairs), cum, tuple(infos))


def _selected_focal_ids(focal_ids, selection: PairSelection | None, source: str) -> np.ndarray:
    """Sorted unique focal ids kept by ``selection`` (as raster mode); at least two."""
    focal_ids = np.unique(focal_ids)
    if selection is not None:
        focal_ids = focal_ids[np.isin(focal_ids, np.asarray(selection.point_ids))]
    if focal_ids.size < 2:
        hint = " (check the included-pairs file)" if selection is not None else ""
        raise ConfigError(
            f"pairwise mode needs at least two distinct focal nodes{hint}; got "
            f"{focal_ids.tolist()}.",
            source=source,
            field="focal nodes",
        )
    return focal_ids


def _kept_pairs(focal_ids, members, selection: PairSelection | None) -> list[tuple[int, int]]:
    """Pairs ``(a, b)`` (positions in ``focal_ids``, ``a < b``) of one component to solve."""
    return [
        (int(a), int(b))
        for a, b in itertools.combinations(members, 2)
        if selection is None or selection.keeps(focal_ids[a], focal_ids[b])
    ]


def _solve_unit_injections(graph, nodes, focal_nodes, solver, tol, maxiter):
    """Voltages (columns) for one ampere into each focal node, grounded at the first one."""
    laplacian = graph.laplacian[nodes][:, nodes].tocsr()
    local_focal = np.searchsorted(nodes, focal_nodes)
    ground = local_focal[0]
    keep = np.ones(nodes.size, dtype=bool)
    keep[ground] = False
    reduced = laplacian[keep][:, keep].tocsr()
    position = np.cumsum(keep) - 1
    voltages = np.zeros((nodes.size, local_focal.size))
    if reduced.shape[0] == 0:
        return voltages, SolveInfo("none", 0, 0, None, 0.0, 0.0)
    rhs = np.zeros((reduced.shape[0], local_focal.size - 1))
    rhs[position[local_focal[1:]], np.arange(local_focal.size - 1)] = 1.0
    spd = SPDSolver(reduced, solver=solver, tol=tol, maxiter=maxiter, n_rhs_hint=rhs.shape[1])
    voltages[keep, 1:] = spd.solve(rhs)
    return voltages, spd.info


def network_advanced(
    graph: NetworkGraph,
    source_ids,
    source_strengths,
    ground_ids,
    ground_conductances,
    *,
    policy: RemovePolicy = RemovePolicy.KEEPALL,
    solver: Solver = Solver.AUTO,
    tol: float = 1e-8,
    maxiter: int | None = None,
    source: str = "sources/grounds",
) -> NetworkFlow:
    """Circuitscape advanced mode on a graph: current sources and grounds at nodes.

    Parameters
    ----------
    graph : NetworkGraph
    source_ids, source_strengths : array_like
        Node ids and amperes injected (0 = no source).
    ground_ids, ground_conductances : array_like
        Node ids and conductance to ground (``inf`` = direct ground, 0 = no ground).
    policy : RemovePolicy
        Applied where a node has both a source and a ground.

    Returns
    -------
    NetworkFlow
        Voltages and node currents of every node of the graph, non-zero branch currents.

    Raises
    ------
    ConfigError
        Unknown or duplicate ids, negative values, a source on a direct ground (``keepall``).

    Examples
    --------
    >>> g = NetworkGraph.from_edge_list([0], [1], [2.0], values_are_resistances=True)
    >>> flow = network_advanced(g, [0], [1.0], [1], [np.inf])
    >>> flow.voltages
    array([2., 0.])
    """
    sources = _node_values(graph, source_ids, source_strengths, source, "source")
    grounds = _node_values(graph, ground_ids, ground_conductances, source, "ground")
    sources, grounds = _resolve_conflicts(sources, grounds, policy, graph, source)
    count, labels = connected_components(graph.laplacian)
    voltages = np.zeros(graph.n_nodes)
    direct = np.isinf(grounds)
    finite = np.where(direct, 0.0, grounds)
    for component in range(count):
        nodes = np.flatnonzero(labels == component)
        if not (np.any(sources[nodes] != 0) and np.any(grounds[nodes] > 0)):
            continue  # Circuitscape leaves such components at 0 V
        free = nodes[~direct[nodes]]
        if free.size == 0:
            continue
        matrix = graph.laplacian[free][:, free] + sp.diags(finite[free])
        spd = SPDSolver(
            matrix.tocsr(), solver=solver, tol=tol, maxiter=maxiter, component=component
        )
        voltages[free] = spd.solve(sources[free])
    currents = _Currents(graph, np.arange(graph.n_nodes))
    branch, node_currents = currents.flow(voltages, finite)
    branch_ids, branch_values = _nonzero_branches(graph, graph.edges, branch)
    return NetworkFlow(graph.node_ids, voltages, node_currents, branch_ids, branch_values)


def _node_values(graph, ids, values, source, kind) -> np.ndarray:
    ids = np.asarray(ids).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    out = np.zeros(graph.n_nodes)
    if ids.size == 0:
        return out
    if ids.size != values.size:
        raise ConfigError(
            f"{ids.size} {kind} ids but {values.size} values.", source=source, field=kind
        )
    index = graph.index_of(ids, source=source, field=f"{kind} node")
    if np.unique(index).size != index.size:
        raise ConfigError(
            f"a node is listed more than once as a {kind}; list each node once.",
            source=source,
            field=kind,
        )
    bad = np.isnan(values) | (values < 0) | (np.isinf(values) & (kind == "source"))
    if bad.any():
        raise ConfigError(
            f"{kind} values must be >= 0{' and finite' if kind == 'source' else ''}; got "
            f"{values[bad][0]!r} at node {int(np.asarray(ids)[bad][0])}.",
            source=source,
            field=kind,
        )
    out[index] = values
    return out


def _resolve_conflicts(sources, grounds, policy: RemovePolicy, graph, source):
    both = (sources != 0) & (grounds != 0)
    sources, grounds = sources.copy(), grounds.copy()
    if policy in (RemovePolicy.RMVSRC, RemovePolicy.RMVALL):
        sources[both] = 0.0
    if policy in (RemovePolicy.RMVGND, RemovePolicy.RMVALL):
        grounds[both] = 0.0
    clash = (sources != 0) & np.isinf(grounds)
    if clash.any():
        raise ConfigError(
            f"node {int(graph.node_ids[np.argmax(clash)])} holds a source and a direct ground; "
            "set remove_src_or_gnd to rmvsrc, rmvgnd or rmvall, or move one of them.",
            source=source,
            field="remove_src_or_gnd",
        )
    return sources, grounds
