"""Pairwise, one-to-all and all-to-one circuit solves on an executor, batched by focal node.

The engine (:mod:`crossings.core.circuit`) grounds one focal node per component and solves one
right-hand side per other focal node; here those columns run as tasks of a
:mod:`crossings.scale.executor` (serial, a Dask LocalCluster of ``workers`` processes, or the
scheduler at ``scheduler``), one batch of focal nodes per worker so that each worker builds
its solver once. Every column is solved as in the serial run, so results agree with it (to
rounding, 1e-10 in the tests); the maps are reduced in the calling process.

>>> import numpy as np
>>> from crossings.core.graph import build_graph
>>> from crossings.core.grid import GridSpec
>>> from crossings.core.circuit import FocalPoints
>>> g = build_graph(GridSpec.from_origin(0, 1, 1, (1, 4), "EPSG:3857"), np.ones((1, 4)))
>>> r = pairwise(g, FocalPoints([0, 0, 0], [0, 2, 3], [1, 2, 3]))  # serial executor
>>> r.resistances.round(6).tolist()[0]
[0.0, 2.0, 3.0]
"""

from __future__ import annotations

from crossings.core import circuit
from crossings.scale.executor import make_executor

__all__ = ["pairwise", "one_to_all", "all_to_one"]


def _on_executor(mode, graph, focal, workers, scheduler, memory_limit, kwargs):
    with make_executor(workers, scheduler, memory_limit) as executor:
        return mode(graph, focal, executor=executor, **kwargs)


def pairwise(
    graph,
    focal,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_limit: str | None = None,
    **kwargs,
) -> circuit.PairwiseResult:
    """:func:`crossings.core.circuit.pairwise` with its solves on ``workers`` / ``scheduler``."""
    return _on_executor(circuit.pairwise, graph, focal, workers, scheduler, memory_limit, kwargs)


def one_to_all(
    graph,
    focal,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_limit: str | None = None,
    **kwargs,
) -> circuit.OneToAllResult:
    """:func:`crossings.core.circuit.one_to_all` with its solves on ``workers`` / ``scheduler``."""
    mode = circuit.one_to_all
    return _on_executor(mode, graph, focal, workers, scheduler, memory_limit, kwargs)


def all_to_one(
    graph,
    focal,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_limit: str | None = None,
    **kwargs,
) -> circuit.OneToAllResult:
    """:func:`crossings.core.circuit.all_to_one` with its solves on ``workers`` / ``scheduler``."""
    mode = circuit.all_to_one
    return _on_executor(mode, graph, focal, workers, scheduler, memory_limit, kwargs)
