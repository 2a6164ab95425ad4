"""Run independent tasks serially, on a Dask LocalCluster or on any Dask scheduler.

:mod:`crossings.scale.executor` holds the executors (one small API for every job that has
independent tasks: Omniscape windows, pairwise solves, planner candidates);
:mod:`crossings.scale.windows` cuts an Omniscape run into tiles of targets.
"""

from crossings.scale.executor import DaskExecutor, Executor, SerialExecutor, make_executor

__all__ = ["DaskExecutor", "Executor", "SerialExecutor", "make_executor"]
