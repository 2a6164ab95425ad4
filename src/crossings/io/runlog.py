"""Every run writes ``run.toml`` (its resolved config) and ``manifest.json`` beside its outputs.

The manifest lists the crossings version, input files with sizes and SHA-256, output files, start
and end times and any solver figures, so an agency can reproduce and audit a result.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from crossings import __version__
from crossings.errors import ConfigError
from crossings.io.atomic import write_text_atomic
from crossings.jobs.base import MANIFEST, RUN_TOML, FileRecord, RunRecord

__all__ = ["RunLog", "SENSITIVITY_LEVELS"]

#: Sensitivity levels of outputs, from least to most restricted.
SENSITIVITY_LEVELS = ("public", "restricted", "confidential")


class RunLog:
    """Collects what a run read and wrote; ``finish`` writes ``run.toml`` and ``manifest.json``.

    ``finish_record`` does the same and returns the :class:`~crossings.jobs.base.RunRecord`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> log = RunLog(out, command="crossings demo", config={"cell_size": 2000})
    >>> _ = (out / "a.txt").write_text("x")
    >>> log.add_outputs([out / "a.txt"])
    >>> sorted(p.name for p in log.finish())
    ['manifest.json', 'run.toml']
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        *,
        command: str,
        config: Mapping[str, Any],
        sensitivity: str = "public",
        sensitivity_reason: str = "",
        job: str = "",
        replayable: bool = True,
    ):
        if sensitivity not in SENSITIVITY_LEVELS:
            raise ConfigError(
                f"must be one of {', '.join(map(repr, SENSITIVITY_LEVELS))}; got {sensitivity!r}",
                field="sensitivity",
            )
        self.sensitivity = {"level": sensitivity, "reason": sensitivity_reason}
        self.job = job or command.removeprefix("crossings ").split(" ")[0]
        self.replayable = replayable
        self.out_dir = Path(out_dir)
        self.command = command
        self.config = dict(config)
        self.started = dt.datetime.now(dt.timezone.utc)
        self.inputs: list[Path] = []
        self.outputs: list[Path] = []
        self.figures: dict[str, Any] = {}

    def add_inputs(self, paths: Iterable[str | os.PathLike]) -> None:
        self.inputs.extend(Path(p) for p in paths)

    def add_outputs(self, paths: Iterable[str | os.PathLike]) -> None:
        self.outputs.extend(Path(p) for p in paths)

    def add_figures(self, **figures: Any) -> None:
        """Solver or run figures (residuals, seconds, counts) recorded in the manifest."""
        self.figures.update(figures)

    def finish(self) -> list[Path]:
        """Write ``run.toml`` and ``manifest.json`` into the output folder; return their paths."""
        self.finish_record()
        return [self.out_dir / RUN_TOML, self.out_dir / MANIFEST]

    def finish_record(self) -> RunRecord:
        """Write ``run.toml`` and ``manifest.json``; return the run's record."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.out_dir / RUN_TOML, tomli_w.dumps(self._run_toml()))
        record = RunRecord(
            job=self.job,
            command=self.command,
            config=_tomlable(self.config),
            sensitivity=self.sensitivity["level"],
            sensitivity_reason=self.sensitivity["reason"],
            started=self.started.isoformat(),
            finished=dt.datetime.now(dt.timezone.utc).isoformat(),
            crossings_version=__version__,
            inputs=_records(self.inputs),
            outputs=_records(self.outputs),
            figures=json.loads(json.dumps(self.figures, default=str)),
            out_dir=self.out_dir,
        )
        text = json.dumps(record.to_manifest(), indent=2, default=str)
        write_text_atomic(self.out_dir / MANIFEST, text)
        return record

    def _run_toml(self) -> dict[str, Any]:
        # The job's name first, so ``crossings run run.toml`` replays the run as it was made; a
        # run whose config is another tool's resolved settings (an INI's) is not a job file.
        head = {"job": self.job} if self.replayable else {}
        return _tomlable({**head, **self.config})


def _records(paths: Iterable[Path]) -> tuple[FileRecord, ...]:
    # A file listed twice (a step re-writing it) is recorded once, in first-seen order.
    unique = dict.fromkeys(p for p in paths if p.is_file())
    return tuple(FileRecord.of(p) for p in unique)


def _tomlable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _tomlable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_tomlable(v) for v in value]
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
