"""Every run writes ``run.toml`` (its resolved config) and ``manifest.json`` beside its outputs.

The manifest lists the crossings version, input files with sizes and SHA-256, output files, start
and end times and any solver figures, so an agency can reproduce and audit a result.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from crossings import __version__
from crossings.errors import ConfigError
from crossings.io.atomic import write_text_atomic

__all__ = ["RunLog", "file_record", "SENSITIVITY_LEVELS"]

#: Sensitivity levels of outputs, from least to most restricted.
SENSITIVITY_LEVELS = ("public", "restricted", "confidential")


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    """Path, size in bytes and SHA-256 of a file."""
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


class RunLog:
    """Collects what a run read and wrote; ``finish`` writes ``run.toml`` and ``manifest.json``.

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
    ):
        if sensitivity not in SENSITIVITY_LEVELS:
            raise ConfigError(
                f"must be one of {', '.join(map(repr, SENSITIVITY_LEVELS))}; got {sensitivity!r}",
                field="sensitivity",
            )
        self.sensitivity = {"level": sensitivity, "reason": sensitivity_reason}
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
        self.out_dir.mkdir(parents=True, exist_ok=True)
        run_toml = write_text_atomic(
            self.out_dir / "run.toml", tomli_w.dumps(_tomlable(self.config))
        )
        manifest = {
            "crossings_version": __version__,
            "command": self.command,
            # Who may see these outputs (DESIGN.md): public, restricted (agencies of the countries
            # concerned) or confidential (owner only).
            "sensitivity": self.sensitivity,
            "started": self.started.isoformat(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
            "inputs": [file_record(p) for p in self.inputs if p.is_file()],
            "outputs": [file_record(p) for p in self.outputs if p.is_file()],
            "figures": self.figures,
        }
        text = json.dumps(manifest, indent=2, default=str)
        return [run_toml, write_text_atomic(self.out_dir / "manifest.json", text)]


def _tomlable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _tomlable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_tomlable(v) for v in value]
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
