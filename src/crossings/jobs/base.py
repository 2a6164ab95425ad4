"""The shape every job shares: its run record (the manifest as a dataclass) and progress callback.

A job module has ``NAME``, a frozen ``Config`` with ``from_mapping(data, *, source=None,
base_dir=None)`` and ``to_mapping()``, and ``run(config, out_dir, progress=None) -> RunRecord``.
``run`` writes its outputs atomically plus ``run.toml`` (the resolved config) and
``manifest.json`` (this record); :meth:`RunRecord.read` loads a record back from a run folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from crossings.errors import ConfigError, InputFileError

__all__ = [
    "FileRecord",
    "RunRecord",
    "Progress",
    "report_progress",
    "resolve_path",
    "check_config",
    "read_toml",
    "config_from_mapping",
    "resolve_paths",
    "memory_limit",
    "MANIFEST",
    "RUN_TOML",
    "DEMO_LANDSCAPE_SECTION",
    "run_demo_job",
]

MANIFEST = "manifest.json"
RUN_TOML = "run.toml"

#: The ``[landscape]`` section of a job that runs on the bundled demo files (the demo steps).
DEMO_LANDSCAPE_SECTION = {
    "resistance": "resistance.tif",
    "fences": "layers.gpkg",
    "fences_layer": "fences",
    "openings": "layers.gpkg",
    "openings_layer": "openings",
}

#: ``progress(stage, done, total)``: a job calls it as it advances; ``total`` is None when unknown.
Progress = Callable[[str, int, "int | None"], None]


def report_progress(progress: Progress | None, stage: str, done: int, total: int | None) -> None:
    """Call ``progress`` if one was given (jobs run silently without one)."""
    if progress is not None:
        progress(stage, done, total)


@dataclass(frozen=True)
class FileRecord:
    """A file a run read or wrote: its path, size in bytes and SHA-256."""

    path: str
    bytes: int
    sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike) -> FileRecord:
        """Measure the file at ``path`` (read in 1 MiB blocks, so large rasters stay cheap)."""
        path = Path(path)
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return cls(str(path), path.stat().st_size, digest.hexdigest())

    def to_mapping(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "sha256": self.sha256}


@dataclass(frozen=True)
class RunRecord:
    """What one run did: the content of its ``manifest.json``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from crossings.io.runlog import RunLog
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> log = RunLog(out, command="crossings demo", config={"cell_size": 2000}, job="demo")
    >>> record = log.finish_record()
    >>> RunRecord.read(out) == record, record.job, record.sensitivity
    (True, 'demo', 'public')
    """

    job: str
    command: str
    config: Mapping[str, Any]
    sensitivity: str
    sensitivity_reason: str
    started: str
    finished: str
    crossings_version: str
    inputs: tuple[FileRecord, ...] = ()
    outputs: tuple[FileRecord, ...] = ()
    figures: Mapping[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None

    @property
    def output_paths(self) -> list[Path]:
        return [Path(f.path) for f in self.outputs]

    def to_manifest(self) -> dict[str, Any]:
        """The ``manifest.json`` content (the config itself goes to ``run.toml``)."""
        return {
            "crossings_version": self.crossings_version,
            "job": self.job,
            "command": self.command,
            # Who may see these outputs (DESIGN.md): public, restricted (agencies of the countries
            # concerned) or confidential (owner only).
            "sensitivity": {"level": self.sensitivity, "reason": self.sensitivity_reason},
            "started": self.started,
            "finished": self.finished,
            "inputs": [f.to_mapping() for f in self.inputs],
            "outputs": [f.to_mapping() for f in self.outputs],
            "figures": dict(self.figures),
        }

    @classmethod
    def read(cls, run_dir: str | os.PathLike) -> RunRecord:
        """Load the record of the run whose outputs are in ``run_dir``."""
        import tomllib

        run_dir = Path(run_dir)
        path = run_dir / MANIFEST
        if not path.is_file():
            raise InputFileError(path, "no such file", "Give a folder a crossings run wrote")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            config_path = run_dir / RUN_TOML
            config = tomllib.loads(config_path.read_text("utf-8")) if config_path.is_file() else {}
            if config.get("job") == data.get("job"):  # the name that makes run.toml replayable
                del config["job"]
            sensitivity = data.get("sensitivity", {})
            return cls(
                job=data.get("job", ""),
                command=data["command"],
                config=config,
                sensitivity=sensitivity.get("level", "public"),
                sensitivity_reason=sensitivity.get("reason", ""),
                started=data["started"],
                finished=data["finished"],
                crossings_version=data.get("crossings_version", ""),
                inputs=tuple(FileRecord(**f) for f in data.get("inputs", ())),
                outputs=tuple(FileRecord(**f) for f in data.get("outputs", ())),
                figures=data.get("figures", {}),
                out_dir=run_dir,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputFileError(
                path, f"is not a crossings manifest ({exc})", "Rerun the job to rewrite it"
            ) from None


def resolve_path(value: str | os.PathLike | None, base_dir: str | os.PathLike | None):
    """``value`` as a Path, relative paths taken against ``base_dir`` (a job file's folder)."""
    if value is None:
        return None
    path = Path(value)
    if base_dir is None or path.is_absolute():
        return path
    return Path(base_dir) / path


class JobModule(Protocol):
    """What :func:`crossings.jobs.get` returns."""

    NAME: str
    Config: type

    def run(self, config: Any, out_dir: str | os.PathLike, progress: Progress | None = None):
        """Run the job into ``out_dir``."""


def check_config(config: Any, cls: type, job: str) -> None:
    """Refuse a config of another job's type with a clear message (not an AttributeError)."""
    if not isinstance(config, cls):
        raise ConfigError(
            f"the {job} job needs a {cls.__module__}.{cls.__qualname__}; got "
            f"{type(config).__name__}",
            field="config",
        )


def read_toml(path: str | os.PathLike, *, what: str) -> dict[str, Any]:
    """The table of the TOML file ``path``; ``what`` names the file kind in errors ("a job")."""
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file", f"Give the path of {what} (TOML)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(path, f"is not valid TOML ({exc})", "Fix the syntax") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(
            path, f"is not UTF-8 text (byte {exc.start})", f"Give {what} as a UTF-8 TOML file"
        ) from None


def config_from_mapping(
    cls: type, job: str, data: Mapping[str, Any], *, source=None, base_dir=None
) -> Any:
    """Build a job's frozen ``Config`` strictly from ``data``; paths relative to ``base_dir``.

    A ``job = "<name>"`` key (as ``crossings run`` files carry) is accepted when it names ``job``.
    """
    from crossings.config import from_mapping

    data = dict(data)
    named = data.pop("job", job)
    if named != job:
        raise ConfigError(
            f"this file is a {named!r} job; the {job} command runs {job!r} jobs. "
            f"Run it with `crossings run {source or 'JOB.toml'}`",
            source=None if source is None else str(source),
            field="job",
        )
    config = from_mapping(cls, data, source=None if source is None else str(source))
    return resolve_paths(config, base_dir) if base_dir is not None else config


def resolve_paths(config: Any, base_dir: str | os.PathLike) -> Any:
    """A copy of the dataclass ``config`` with every relative Path taken against ``base_dir``."""
    changes = {}
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if isinstance(value, Path) and not value.is_absolute():
            changes[item.name] = Path(base_dir) / value
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes[item.name] = resolve_paths(value, base_dir)
    return dataclasses.replace(config, **changes) if changes else config


def available_memory_bytes() -> int:
    """Memory the operating system reports as available (MemAvailable), else total RAM."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def memory_limit(max_memory_gb: float | None) -> int:
    """Bytes a run may use: ``max_memory_gb`` if given, else the memory available now."""
    return int(max_memory_gb * 2**30) if max_memory_gb else available_memory_bytes()


def run_demo_job(job, mapping: Mapping[str, Any], out_dir: Path, heading) -> list[str]:
    """Run ``job`` on the bundled demo files into ``out_dir/<job.NAME>``; the step's summary lines.

    ``heading`` is the first line, or a function of the run's record that makes it.
    """
    from crossings.landscape import demo_path

    config = job.Config.from_mapping(mapping, base_dir=demo_path())
    record = job.run(config, Path(out_dir) / job.NAME)
    lines = [heading(record) if callable(heading) else heading]
    lines += [f"  {line}" for line in record.figures["summary"]]
    lines.append(f"wrote {job.NAME}/ ({len(record.outputs)} files)")
    return lines
