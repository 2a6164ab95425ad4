"""Circuitscape-compatible runs: pairwise resistances and the cumulative current map."""

from __future__ import annotations

from crossings.report import document_i18n as i18n
from crossings.report.document_i18n import gettext as _
from crossings.report.document_maps import raster_figure
from crossings.report.sections import Column, Figure, Section, Table
from crossings.report.sections.generic import parameters_table

JOB = "circuitscape"


def _three_columns(path) -> list[tuple[str, str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3:
            rows.append(tuple(parts))
    return rows


def build(run, ctx) -> Section:
    section = Section(
        JOB,
        _("Circuitscape run"),
        _(
            "What are the effective resistances between the focal nodes, and where does current "
            "flow?"
        ),
    )
    resistances = run.find("*_resistances_3columns.out")
    if resistances:
        rows = _three_columns(resistances)
        section.key_figures.append((_("Pairs of focal nodes"), i18n.number(len(rows))))
        section.blocks.append(
            Table(
                _("Effective resistance between focal nodes"),
                (
                    Column("from", _("From node")),
                    Column("to", _("To node")),
                    Column("resistance", _("Resistance"), "number", 4),
                ),
                tuple((a, b, ctx.cell(r, Column("r", "", "number", 4))) for a, b, r in rows),
                run.relative(resistances),
                per_row=False,
            )
        )
    current = run.find("*_cum_curmap.asc") or run.find("*_cum_curmap.tif")
    if current:
        png = raster_figure(current, block=1, basemap=ctx.basemap())
        text = _("Cumulative current")
        section.blocks.append(Figure(text, png, text, _("Current (amperes, log scale)")))
    if run.config:
        section.blocks.append(parameters_table(run))
    section.methods = {
        "overview": [section.question],
        "model": [_("Circuit theory as in Circuitscape, from the run's INI settings.")],
    }
    return section
