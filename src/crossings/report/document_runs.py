"""Run folders as the report sees them: manifest, resolved config, job name and output files.

A run folder holds ``manifest.json`` and ``run.toml`` beside its outputs. The job that made it is
the manifest's ``"job"`` key; older manifests only name the ``"command"``, from which the job is
inferred. The demo's folder records several jobs under one manifest (``crossings demo``); its parts
(``connectivity/``, the ``tracks_*`` tables, ``camera/``) become runs of their own that share it.
"""

from __future__ import annotations

import csv
import json
import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossings.errors import InputFileError
from crossings.security import check_level

__all__ = ["Run", "discover_runs", "infer_job"]

# Commands written before manifests named their job, most specific first.
_COMMAND_JOBS = (
    ("planner step", "plan"),
    ("crossings circuitscape", "circuitscape"),
    ("crossings connectivity", "connectivity"),
    ("crossings plan", "plan"),
    ("crossings tracks", "tracks"),
    ("crossings camera", "camera"),
    ("crossings omniscape", "omniscape"),
    ("crossings indicators", "indicators"),
    ("crossings hotspots", "hotspots"),
    ("crossings demo", "demo"),
)

# Parts of a demo folder that carry no manifest of their own: job, subfolder, a file proving it.
_DEMO_PARTS = (
    ("connectivity", "connectivity", "pairs.csv"),
    ("tracks", ".", "tracks_ranking.csv"),
    ("camera", "camera", "use_by_opening.csv"),
)


def infer_job(manifest: dict[str, Any]) -> str:
    """The job of a manifest: its ``"job"`` key, else the job its ``"command"`` names.

    A demo step that still records ``"job": "demo"`` is named by its command
    (``crossings demo (planner step)`` is a planner run).
    """
    if manifest.get("job") and manifest["job"] != "demo":
        return str(manifest["job"])
    command = str(manifest.get("command", ""))
    for marker, job in _COMMAND_JOBS:
        if marker in command:
            return job
    return command.split()[1] if len(command.split()) > 1 else "unknown"


@dataclass(frozen=True)
class Run:
    """One job's run folder.

    Attributes
    ----------
    folder : Path
        Where its outputs are.
    job : str
    manifest : dict
        ``manifest.json`` as read (shared by the parts of a demo folder).
    config : dict
        ``run.toml`` as read (empty if there is none).
    manifest_path : Path
    root : Path
        The folder given to the report that holds this run (paths are shown relative to it).
    """

    folder: Path
    job: str
    manifest: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    manifest_path: Path | None = None
    root: Path | None = None

    @property
    def level(self) -> str:
        return check_level(self.manifest.get("sensitivity", {}).get("level", "public"), "level")

    @property
    def level_reason(self) -> str:
        return self.manifest.get("sensitivity", {}).get("reason", "")

    @property
    def label(self) -> str:
        """The folder's name (``.`` parts are named by their job)."""
        return self.folder.name or self.job

    def find(self, pattern: str) -> Path | None:
        """The first file in the folder matching ``pattern`` (glob), or ``None``."""
        matches = sorted(p for p in self.folder.glob(pattern) if p.is_file())
        return matches[0] if matches else None

    def read_csv(self, path: Path) -> list[dict[str, str]]:
        """Rows of a CSV output as text (the report formats them)."""
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def relative(self, path: Path) -> str:
        """``path`` as shown in the report: relative to the folder the report was given."""
        base = self.root or self.folder
        try:
            return Path(os.path.relpath(path, base)).as_posix()
        except ValueError:
            return path.name


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(
            path, f"is not a readable manifest ({exc})", "Re-run the job"
        ) from None
    if not isinstance(data, dict):
        raise InputFileError(path, "is not a JSON object", "Re-run the job to rewrite it")
    return data


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "run.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputFileError(path, f"is not valid TOML ({exc})", "Re-run the job") from None


#: Jobs whose folders are not analyses to report on (a report does not report on reports).
_SKIPPED_JOBS = {"report"}


def _runs_in(folder: Path) -> list[Run]:
    manifests = sorted(folder.glob("manifest.json")) + sorted(folder.glob("*/manifest.json"))
    runs: list[Run] = []
    owned = {m.parent.resolve() for m in manifests}
    for path in manifests:
        manifest = _read_manifest(path)
        job = infer_job(manifest)
        config = _read_config(path.parent)
        if job in _SKIPPED_JOBS:
            continue
        if job != "demo":
            runs.append(Run(path.parent, job, manifest, config, path, folder))
            continue
        for part_job, sub, marker in _DEMO_PARTS:
            part = (path.parent / sub).resolve()
            if (part / marker).is_file() and (sub == "." or part not in owned):
                runs.append(Run(path.parent / sub, part_job, manifest, config, path, folder))
    return runs


def _job_order(run: Run) -> tuple[int, str]:
    from crossings.report.sections import SECTIONS

    order = list(SECTIONS)
    return (order.index(run.job) if run.job in order else len(order), str(run.folder))


def discover_runs(run_dirs: Iterable[str | os.PathLike]) -> list[Run]:
    """Every run in the given folders (each folder and its direct subfolders), in job order."""
    runs: list[Run] = []
    for given in run_dirs:
        folder = Path(given)
        if not folder.is_dir():
            raise InputFileError(folder, "is not a folder", "Give run folders (with manifest.json)")
        found = _runs_in(folder)
        if not found:
            raise InputFileError(
                folder, "holds no manifest.json", "Give a folder a crossings job wrote"
            )
        runs.extend(found)
    return sorted(runs, key=_job_order)
