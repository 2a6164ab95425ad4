"""Every analysis job of crossings, one module each, all of one shape (see :mod:`.base`).

The CLI, the service, Dask and the demo call jobs through :func:`get`; a job is imported only
when it is asked for, so listing jobs stays cheap. A new job joins with ONE line in :data:`JOBS`.

>>> sorted(JOBS) == names()
True
>>> get("connectivity").NAME
'connectivity'
"""

from __future__ import annotations

import importlib

from crossings.errors import ConfigError, did_you_mean

__all__ = ["JOBS", "get", "names", "load_job"]

#: Job name -> module that implements it.
JOBS: dict[str, str] = {
    "camera": "crossings.jobs.camera",
    "circuitscape": "crossings.jobs.circuitscape",
    "connectivity": "crossings.jobs.connectivity",
    "hotspots": "crossings.jobs.hotspots",
    "indicators": "crossings.jobs.indicators",
    "omniscape": "crossings.jobs.omniscape",
    "plan": "crossings.jobs.plan",
    "report": "crossings.jobs.report",
    "tracks": "crossings.jobs.tracks",
}


def names() -> list[str]:
    """The registered job names, sorted."""
    return sorted(JOBS)


def get(name: str):
    """The job module registered as ``name`` (imported on first use)."""
    if name not in JOBS:
        raise ConfigError(
            f"unknown job {name!r}; jobs: {', '.join(names())}.{did_you_mean(name, JOBS)}",
            field="job",
        )
    return importlib.import_module(JOBS[name])


def load_job(path):
    """``(job module, config)`` from a TOML job file that names its job (``job = "<name>"``)."""
    from pathlib import Path

    from crossings.jobs.base import read_toml

    path = Path(path)
    data = read_toml(path, what="a job file")
    name = data.get("job")
    if not isinstance(name, str) and str(data.get("source", "")).lower().endswith(".ini"):
        raise ConfigError(
            "holds the resolved settings of a Circuitscape INI, not a job; rerun it with "
            f"crossings circuitscape run {data['source']}",
            source=str(path),
            field="job",
        )
    if not isinstance(name, str):
        raise ConfigError(
            f'missing the job name; add job = "<name>" (one of {", ".join(names())})',
            source=str(path),
            field="job",
        )
    try:
        job = get(name)
    except ConfigError as exc:
        raise ConfigError(exc.message, source=str(path), field="job") from None
    return job, job.Config.from_mapping(data, source=path, base_dir=path.parent)
