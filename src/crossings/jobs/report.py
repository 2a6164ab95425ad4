"""The ``report`` job: one HTML + PDF document per language from any set of run folders.

Config (TOML, or ``crossings report`` options)::

    runs = ["crossings-out"]        # run folders (each with manifest.json)
    languages = ["en", "ru"]
    audience = "public"             # optional: default the most restrictive level of the runs
    pdf = true

The output folder gets ``report.<lang>.html`` (self-contained) and ``report.<lang>.pdf`` (A4),
plus ``run.toml`` and ``manifest.json`` whose sensitivity level is the report's audience.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossings.config import from_mapping as _from_mapping
from crossings.config import to_mapping as _to_mapping
from crossings.errors import ConfigError
from crossings.io.runlog import RunLog
from crossings.report.document_i18n import available_languages, check_language
from crossings.security import check_level

__all__ = ["NAME", "Config", "run", "demo_step"]

NAME = "report"


@dataclass(frozen=True)
class Config:
    """What to report on, for whom, in which languages."""

    runs: tuple[Path, ...]
    languages: tuple[str, ...] = ("en", "ru")
    audience: str | None = None
    pdf: bool = True

    def __post_init__(self):
        if not self.runs:
            raise ConfigError("give at least one run folder", field="runs")
        for lang in self.languages:
            check_language(lang)
        if self.audience is not None:
            check_level(self.audience)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, source: str | None = None, base_dir=None
    ) -> Config:
        """Strict: unknown keys are errors; relative run folders are relative to ``base_dir``."""
        data = dict(data)
        data.pop("job", None)
        if isinstance(data.get("languages"), str):
            value = data["languages"]
            data["languages"] = available_languages() if value == "both" else [value]
        if base_dir is not None and "runs" in data:
            data["runs"] = [str(Path(base_dir) / p) for p in data["runs"]]
        return _from_mapping(cls, data, source=source)

    def to_mapping(self) -> dict[str, Any]:
        return _to_mapping(self)


def run(config: Config, out_dir: str | os.PathLike, progress=None):
    """Build the report into ``out_dir``; return the run's record (its manifest)."""
    from crossings.report.document import build_report
    from crossings.report.document_runs import discover_runs

    out = Path(out_dir)
    runs = discover_runs(config.runs)
    log = RunLog(out, command="crossings report", config=config.to_mapping(), job=NAME)
    log.add_inputs(dict.fromkeys(r.manifest_path for r in runs if r.manifest_path is not None))
    result = build_report(
        config.runs,
        out,
        languages=config.languages,
        audience=config.audience,
        pdf=config.pdf,
        progress=progress,
    )
    # The report holds its inputs as far as its audience may see them: that is its level.
    log.sensitivity = {
        "level": result.audience,
        "reason": "a report shows its inputs as far as its audience may see them",
    }
    log.add_outputs(result.files)
    log.add_figures(
        seconds=round(result.seconds, 3),
        runs=result.runs,
        languages=list(result.languages),
        pdf_skipped=result.pdf_skipped,
    )
    return log.finish_record()


def summary_lines(out_dir: Path) -> list[str]:
    """What a report run wrote, for the terminal (read back from its manifest)."""
    manifest = json.loads((Path(out_dir) / "manifest.json").read_text(encoding="utf-8"))
    figures = manifest["figures"]
    level = manifest["sensitivity"]["level"]
    lines = [f"report for the {level} audience on {figures['runs']} runs -> {out_dir}"]
    for output in manifest["outputs"]:
        lines.append(f"  {Path(output['path']).name} ({output['bytes'] / 1e6:.1f} MB)")
    if figures.get("pdf_skipped"):
        lines.append(f"no PDF: {figures['pdf_skipped']}")
    return lines


def demo_step(landscape, out_dir: Path) -> list[str]:
    """The demo's last step: its report in every language, into ``out_dir/report``.

    It runs after the demo has written its manifest (see ``crossings.demo.FINAL_STEPS``), since
    the report reads the manifests.
    """
    target = Path(out_dir) / "report"
    run(Config(runs=(Path(out_dir),), languages=available_languages()), target)
    return summary_lines(target)
