"""Report sections: one small module per job, found through :data:`SECTIONS`.

A section module has ``JOB`` (the job name it describes) and ``build(run, ctx) -> Section``. It
reads the run's outputs, applies the audience rules through ``ctx.ledger``
(:mod:`crossings.security`) and returns translated content: the question and the answer in a few
numbers for the summary page, tables (each naming the CSV it shows), figures, the assumptions that
matter and the methods in ODMAP order. A job without a module of its own gets
:mod:`~crossings.report.sections.generic` (manifest, parameters, outputs). A new job joins the
report with one module and one line in :data:`SECTIONS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from crossings.report.document_i18n import N_, gettext

__all__ = [
    "SECTIONS",
    "SCENARIOS",
    "ODMAP",
    "Column",
    "Table",
    "Figure",
    "Section",
    "section_module",
    "scenario_label",
]

#: Job name -> module building its section.
SECTIONS: dict[str, str] = {
    "connectivity": "crossings.report.sections.connectivity",
    "plan": "crossings.report.sections.plan",
    "tracks": "crossings.report.sections.tracks",
    "camera": "crossings.report.sections.camera",
    "circuitscape": "crossings.report.sections.circuitscape",
    "indicators": "crossings.report.sections.indicators",
    "hotspots": "crossings.report.sections.hotspots",
    "omniscape": "crossings.report.sections.omniscape",
}

#: Fence scenarios of the jobs that compute them (connectivity, indicators, omniscape).
SCENARIOS = {
    "no_fence": N_("no fence"),
    "fence_closed": N_("fence closed"),
    "fence_mitigated": N_("fence with openings"),
    "as_given": N_("landscape as given"),
}

#: ODMAP's sections (Zurell et al. 2020), in order; methods are listed under these keys.
ODMAP = (
    ("overview", N_("Overview")),
    ("data", N_("Data")),
    ("model", N_("Model")),
    ("assessment", N_("Assessment")),
    ("prediction", N_("Prediction")),
)


def scenario_label(name: str) -> str:
    """A fence scenario's name in the report's language (unknown names as they are)."""
    return gettext(SCENARIOS[name]) if name in SCENARIOS else name


def section_module(job: str) -> ModuleType:
    """The module that builds ``job``'s section (the generic one for unknown jobs)."""
    name = SECTIONS.get(job, "crossings.report.sections.generic")
    return importlib.import_module(name)


@dataclass(frozen=True)
class Column:
    """A table column: the CSV column it shows, its header, and how its values are written.

    ``kind`` is ``"text"``, ``"number"`` (``digits`` decimals), ``"integer"``, ``"percent"``
    (values already in percent) or ``"generalised"`` (a coordinate moved to a grid by the
    audience rules, so it differs from the CSV on purpose).
    """

    key: str
    header: str
    kind: str = "text"
    digits: int = 0


@dataclass(frozen=True)
class Table:
    """A table of a run's CSV: ``rows`` hold the shown text, ``source`` the CSV (run-relative).

    ``per_row`` says each row shows one CSV row, in order; otherwise the table summarises it.
    """

    caption: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    source: str = ""
    note: str = ""
    per_row: bool = True


@dataclass(frozen=True)
class Figure:
    """A PNG drawn for the report (no text inside that needs translating but axis labels)."""

    caption: str
    png: bytes
    alt: str = ""
    #: What the colour bar means, shown under the caption (not in the image: one image serves
    #: every language).
    legend: str = ""


@dataclass
class Section:
    """What one run contributes to the report."""

    job: str
    title: str
    question: str
    key_figures: list[tuple[str, str]] = field(default_factory=list)
    summary_figure: Figure | None = None
    blocks: list[Any] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    methods: dict[str, list[str]] = field(default_factory=dict)
    caution: str = ""
    anchor: str = ""
