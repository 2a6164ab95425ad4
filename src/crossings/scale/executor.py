"""Executors: submit independent tasks, receive each result in the calling process.

Every executor has one method, ``run(function, tasks, on_result)``: ``function(task)`` is called
once per task (in this process, or on Dask workers), and ``on_result(index, result)`` is called
here as each finishes, in completion order. Results are never all held at once, so the caller
can reduce them (e.g. sum tiles) or checkpoint them as they come.

>>> results = {}
>>> SerialExecutor().run(abs, [-1, 2, -3], lambda i, r: results.__setitem__(i, r))
>>> results
{0: 1, 1: 2, 2: 3}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from crossings.errors import ConfigError, MissingDependencyError, PlanTooLargeError

__all__ = ["DaskExecutor", "Executor", "SerialExecutor", "make_executor"]

#: Workers solve one window at a time: more BLAS threads only fight for cores, and one malloc
#: arena keeps freed window memory from piling up per thread.
_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "1",
}
#: Default memory limit of each LocalCluster worker.
DEFAULT_WORKER_MEMORY = "2GiB"


class Executor(Protocol):
    """Anything with ``run(function, tasks, on_result)`` and a ``workers`` count."""

    workers: int

    def run(
        self, function: Callable[[Any], Any], tasks: Sequence, on_result: Callable[[int, Any], None]
    ) -> None: ...


class SerialExecutor:
    """Run the tasks one after the other in this process."""

    workers = 1

    def run(self, function, tasks, on_result) -> None:
        for index, task in enumerate(tasks):
            on_result(index, function(task))

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _distributed():
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(
            "Dask is not installed; install it with `pip install 'crossings[scale]'` or run "
            "without --workers/--scheduler."
        ) from None
    return distributed


class DaskExecutor:
    """Run tasks on Dask: a LocalCluster of ``workers`` processes, or the scheduler at ``address``.

    Parameters
    ----------
    workers : int
        LocalCluster worker processes (one thread each); ignored with ``address``.
    address : str, optional
        ``tcp://host:port`` of a running scheduler (dask-jobqueue, Kubernetes, ``dask
        scheduler``).
    memory_limit : str
        Memory limit of each LocalCluster worker.

    Notes
    -----
    A LocalCluster starts processes, so the calling script needs an ``if __name__ ==
    "__main__":`` guard.
    """

    def __init__(
        self,
        workers: int = 2,
        address: str | None = None,
        memory_limit: str = DEFAULT_WORKER_MEMORY,
    ):
        distributed = _distributed()
        self._cluster = None
        self.memory_limit = memory_limit
        if address is None:
            if workers < 1:
                raise ConfigError(f"must be >= 1; got {workers}", field="workers")
            import dask

            # The workers' statistical profiler keeps sampled stacks (about 100 MB per 1000
            # windows): off, so that worker memory does not grow with the grid.
            # glibc reads MALLOC_ARENA_MAX at start-up: it must be in the pre-spawn environment.
            spawn_env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **_ENV}
            settings = {
                "distributed.worker.profile.enabled": False,
                "distributed.nanny.pre-spawn-environ": spawn_env,
            }
            with dask.config.set(settings):
                self._cluster = self._local_cluster(distributed, workers, memory_limit)
            self._client = distributed.Client(self._cluster)
        else:
            self._client = self._connect(distributed, address)
        self.workers = max(1, len(self._client.scheduler_info()["workers"]))

    @staticmethod
    def _local_cluster(distributed, workers: int, memory_limit: str):
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=None,
            silence_logs=40,
            env=_ENV,
        )

    @staticmethod
    def _connect(distributed, address: str):
        try:
            return distributed.Client(address, timeout="10s")
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {address!r} ({exc}); start it (dask "
                "scheduler) or check the address.",
                field="scheduler",
            ) from None

    def run(self, function, tasks, on_result) -> None:
        distributed = _distributed()
        futures = self._client.map(function, list(tasks), pure=False)
        index = {future.key: k for k, future in enumerate(futures)}
        finished = distributed.as_completed(futures)
        # Hold no reference to finished futures: the workers then drop each result at once.
        del futures
        for future in finished:
            try:
                key, result = future.key, future.result()
            except distributed.KilledWorker:
                raise self._worker_died() from None
            future.release()
            del future
            on_result(index.pop(key), result)
            del result

    def _worker_died(self) -> PlanTooLargeError:
        where = (
            f"each local worker may use {self.memory_limit}"
            if self._cluster is not None
            else "the scheduler's workers have their own memory limits"
        )
        return PlanTooLargeError(
            "a Dask worker died while running a task, most likely out of memory "
            f"({where}): give each worker more memory with CROSSINGS_WORKER_MEMORY (e.g. "
            "CROSSINGS_WORKER_MEMORY=4GiB) or run with fewer workers (--workers 1, or no "
            "--workers to solve in this process)."
        )

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_executor(
    workers: int | None = None, scheduler: str | None = None, memory_limit: str | None = None
):
    """Serial without ``workers`` and ``scheduler``; else a :class:`DaskExecutor`."""
    if scheduler:
        return DaskExecutor(address=scheduler)
    if workers is None or workers <= 0:
        return SerialExecutor()
    limit = memory_limit or os.environ.get("CROSSINGS_WORKER_MEMORY", DEFAULT_WORKER_MEMORY)
    return DaskExecutor(workers=workers, memory_limit=limit)
