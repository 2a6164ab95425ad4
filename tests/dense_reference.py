"""Independent dense references shared by the graph and circuit tests.

Built cell by cell from Circuitscape's formulas with plain loops; never uses crossings' graph or
network code.
"""

from __future__ import annotations

import math

import numpy as np

from crossings.core.graph import AveragingRule


def cell_laplacian(resistance, connect_four: bool, rule: AveragingRule):
    """Dense Laplacian whose nodes are the finite cells in row-major order.

    Returns ``(laplacian, index, edges)``: ``index`` is each cell's node (-1 on NoData) and
    ``edges`` lists ``(i, j, conductance)`` once per neighbour pair.
    """
    rows, cols = resistance.shape
    index = -np.ones(resistance.shape, dtype=int)
    valid = np.isfinite(resistance)
    index[valid] = np.arange(valid.sum())
    n = int(valid.sum())
    lap = np.zeros((n, n))
    offsets = [(0, 1), (1, 0)] + ([] if connect_four else [(1, 1), (1, -1)])
    edges = []
    for r in range(rows):
        for c in range(cols):
            if not valid[r, c]:
                continue
            for dr, dc in offsets:
                r2, c2 = r + dr, c + dc
                if not (0 <= r2 < rows and 0 <= c2 < cols) or not valid[r2, c2]:
                    continue
                a, b = resistance[r, c], resistance[r2, c2]
                if rule is AveragingRule.AVG_RESISTANCE:
                    w = 1.0 / ((a + b) / 2.0)
                else:
                    w = (1.0 / a + 1.0 / b) / 2.0
                if dr and dc:
                    w /= math.sqrt(2.0)
                i, j = index[r, c], index[r2, c2]
                lap[i, j] -= w
                lap[j, i] -= w
                lap[i, i] += w
                lap[j, j] += w
                edges.append((i, j, w))
    return lap, index, edges
