"""Raster to conductance graph, and the graph Laplacian.

Edges are stored per direction as full-grid arrays so that fences (which cut edges, see
:mod:`crossings.core.barriers`) can scale any single edge in O(1). Direction ``k`` links cell
``(r, c)`` to ``(r + dr, c + dc)`` with ``(dr, dc) = DIRECTIONS[k]``; ``edge_weights[k][r, c]`` is
that edge's conductance (0 where there is no edge).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from crossings.core.grid import GridSpec
from crossings.errors import ConfigError

__all__ = [
    "DIRECTIONS",
    "AveragingRule",
    "ConductanceGraph",
    "build_graph",
    "resistance_to_conductance",
]

#: Row/column offsets of the four edge directions: east, south, south-east, south-west.
DIRECTIONS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (1, 1), (1, -1))
DIAGONAL_WEIGHT = 1.0 / math.sqrt(2.0)


class AveragingRule(enum.Enum):
    """How Circuitscape turns two cell values into one edge conductance."""

    AVG_RESISTANCE = "resistance"
    AVG_CONDUCTANCE = "conductance"


def resistance_to_conductance(
    resistance: np.ndarray,
    *,
    source: str = "resistance",
    field: str = "resistance",
    fix: str = "mark barriers as NoData",
) -> np.ndarray:
    """Return 1/resistance with NaN where the input is NaN (NoData).

    Raises ConfigError for zero or negative resistances, naming how many cells and the first one
    (``source`` and ``field`` say where they came from, ``fix`` what to do instead).

    >>> resistance_to_conductance(np.array([[1.0, 4.0], [np.nan, 2.0]]))
    array([[1.  , 0.25],
           [ nan, 0.5 ]])
    """
    resistance = np.asarray(resistance, dtype=float)
    bad = np.isfinite(resistance) & (resistance <= 0)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ConfigError(
            f"{int(bad.sum())} cell(s) have zero or negative resistance (first at row/col "
            f"{first}: {resistance[first]:g}). Resistances must be > 0: {fix}.",
            source=source,
            field=field,
        )
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(resistance), 1.0 / resistance, np.nan)


def _edge_means(averaged: np.ndarray, dr: int, dc: int, rule: AveragingRule, out: np.ndarray):
    """Edge conductances towards ``(dr, dc)`` written into ``out`` in place (no full-grid
    temporaries): ``2 / (r_i + r_j)`` or ``(c_i + c_j) / 2``; 0 where an end is NoData."""
    rows, cols = averaged.shape
    here = (slice(0, rows - dr), slice(max(0, -dc), cols - max(0, dc)))
    there = (slice(dr, rows), slice(max(0, dc), cols + min(0, dc)))
    target = out[here]
    np.add(averaged[here], averaged[there], out=target)
    if rule is AveragingRule.AVG_RESISTANCE:
        np.divide(2.0, target, out=target)
    else:
        target *= 0.5
    np.nan_to_num(target, copy=False, nan=0.0)


@dataclass(frozen=True)
class ConductanceGraph:
    """A grid graph: one node per valid cell, edges to 4 or 8 neighbours.

    Attributes
    ----------
    grid : GridSpec
    valid : ndarray of bool, shape ``grid.shape``
        Cells that are nodes (finite, positive conductance).
    edge_weights : tuple of ndarray
        One array per entry of ``DIRECTIONS`` (the diagonal ones are zero with 4 neighbours).
    connect_four : bool
    """

    grid: GridSpec
    valid: np.ndarray
    edge_weights: tuple[np.ndarray, ...]
    connect_four: bool = False
    _node_index: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        node_index = np.full(self.grid.shape, -1, dtype=np.int64)
        node_index[self.valid] = np.arange(int(self.valid.sum()))
        object.__setattr__(self, "_node_index", node_index)

    @property
    def n_nodes(self) -> int:
        return int(self.valid.sum())

    @property
    def node_index(self) -> np.ndarray:
        """Node number of each cell, -1 for NoData cells (row-major order among valid cells)."""
        return self._node_index

    def with_edge_weights(self, edge_weights) -> ConductanceGraph:
        """A new graph with other edge weights (the input graph is not modified)."""
        return ConductanceGraph(self.grid, self.valid, tuple(edge_weights), self.connect_four)

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(i, j, w)``: node numbers of both ends and conductance of every edge with w > 0."""
        heads, tails, weights = [], [], []
        for (dr, dc), weight in zip(DIRECTIONS, self.edge_weights, strict=True):
            rows, cols = np.nonzero(weight > 0)
            heads.append(self._node_index[rows, cols])
            tails.append(self._node_index[rows + dr, cols + dc])
            weights.append(weight[rows, cols])
        return np.concatenate(heads), np.concatenate(tails), np.concatenate(weights)

    def laplacian(self) -> sp.csr_matrix:
        """The weighted graph Laplacian ``D - W`` (CSR, float64, symmetric, zero row sums)."""
        i, j, w = self.edges()
        n = self.n_nodes
        off = sp.coo_matrix(
            (np.concatenate([-w, -w]), (np.concatenate([i, j]), np.concatenate([j, i]))),
            shape=(n, n),
        )
        degree = np.bincount(i, weights=w, minlength=n) + np.bincount(j, weights=w, minlength=n)
        # bincount of no edges is int64: cast, so that an edgeless graph still gives float64.
        return (off + sp.diags(degree.astype(np.float64))).tocsr()


def build_graph(
    grid: GridSpec,
    conductance: np.ndarray,
    *,
    connect_four: bool = False,
    rule: AveragingRule = AveragingRule.AVG_RESISTANCE,
) -> ConductanceGraph:
    """Build the Circuitscape conductance graph of a raster.

    Parameters
    ----------
    grid : GridSpec
    conductance : ndarray
        Cell conductances (1/resistance), NaN or <= 0 for NoData, which is a complete barrier.
    connect_four : bool
        Four neighbours instead of eight.
    rule : AveragingRule
        ``AVG_RESISTANCE``: ``w = 1 / mean(r_i, r_j)``; ``AVG_CONDUCTANCE``: ``w = mean(c_i, c_j)``.
        Diagonal edges are multiplied by ``1/sqrt(2)``.

    Examples
    --------
    >>> g = GridSpec.from_origin(0, 2, 1, (1, 2), "EPSG:3857")
    >>> graph = build_graph(g, np.array([[1.0, 0.25]]))  # resistances 1 and 4
    >>> graph.laplacian().toarray()
    array([[ 0.4, -0.4],
           [-0.4,  0.4]])
    """
    conductance = np.asarray(conductance, dtype=float)
    if conductance.shape != tuple(grid.shape):
        raise ConfigError(
            f"conductance array has shape {conductance.shape} but the grid is {grid.shape}",
            field="conductance",
        )
    valid = np.isfinite(conductance) & (conductance > 0)
    # Per cell the value that is averaged (NaN on NoData, so that its edges come out NaN -> 0).
    with np.errstate(divide="ignore"):
        if rule is AveragingRule.AVG_RESISTANCE:
            averaged = np.divide(1.0, conductance, where=valid, out=np.full(grid.shape, np.nan))
        else:
            averaged = np.where(valid, conductance, np.nan)
    weights = []
    for k, (dr, dc) in enumerate(DIRECTIONS):
        w = np.zeros(grid.shape)
        if not (connect_four and k >= 2):
            _edge_means(averaged, dr, dc, rule, w)
            if k >= 2:
                w *= DIAGONAL_WEIGHT
        weights.append(w)
    return ConductanceGraph(grid, valid, tuple(weights), connect_four)
