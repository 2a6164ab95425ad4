"""Hotspot runs: border sections ranked on weighted criteria, with rank intervals, and their map.

A hotspots run is ``restricted``: it states the closed fence length, tracked crossings and camera
use per border section. A report for a wider audience keeps the ranking (score and ranks) and the
public criteria (current, protected areas, ranges, barrier improvement) and withholds those
columns; its map shows the sections as the cells of the audience's grid.
"""

from __future__ import annotations

import numpy as np

from crossings.report import document_i18n as i18n
from crossings.report.document_context import ANALYSIS_CRS, line_cells
from crossings.report.document_i18n import N_
from crossings.report.document_i18n import gettext as _
from crossings.report.document_maps import sections_figure
from crossings.report.sections import Column, Figure, Section
from crossings.security import ContentType, Decision, may_see

JOB = "hotspots"

#: Criteria columns of hotspots.csv: header, digits, and the content they reveal (None: public).
CRITERIA = {
    "current": (N_("Current across"), 3, None),
    "pa_both_sides": (N_("Protected area on both sides, km²"), 1, None),
    "ranges_straddling": (N_("Species ranges across"), 0, None),
    "barrier_improvement": (N_("Barrier improvement"), 3, None),
    "fence_closed_m": (N_("Closed fence, m"), 0, ContentType.FENCE_LINE),
    "fence_length_m": (N_("Fence, m"), 0, ContentType.FENCE_LINE),
    "gps_crossings": (N_("Tracked crossings"), 1, ContentType.ANIMAL_LOCATION),
    "gps_blocked": (N_("Tracked encounters blocked"), 1, ContentType.ANIMAL_LOCATION),
    "camera_use": (N_("Camera use"), 1, ContentType.CAMERA_LOCATION),
}

WITHHELD_REASON = N_(
    "the run is restricted: fence length, tracked crossings and camera use per border section "
    "are for the agencies of the countries concerned"
)

#: Ranks labelled on the map.
TOP_ON_MAP = 5


def build(run, ctx) -> Section:
    section = Section(
        JOB,
        _("Transboundary hotspots: border sections ranked"),
        _(
            "Which border sections matter most for movement across the border, and how stable "
            "is their rank when the weights of the criteria change?"
        ),
    )
    path = run.find("hotspots.csv")
    if path is None:
        return section
    rows = run.read_csv(path)
    _key_figures(section, rows)
    section.blocks.append(_ranked_table(run, ctx, path, rows))
    figure = _map(run, ctx, rows)
    if figure is not None:
        section.blocks.append(figure)
        section.summary_figure = figure
    section.assumptions.append(
        _(
            "The score is a weighted mean of normalised criteria (as Linkage Mapper's Linkage "
            "Priority); the weights are choices, so each rank comes with the interval it keeps "
            "under random changes of the weights (5th to 95th percentile)."
        )
    )
    section.methods = _methods(section, run)
    return section


def _key_figures(section: Section, rows) -> None:
    section.key_figures.append(
        (
            _("Border sections ranked"),
            i18n.ngettext("%(num)d section", "%(num)d sections", len(rows)) % {"num": len(rows)},
        )
    )
    for row in rows[:3]:
        section.key_figures.append(
            (
                _("Rank %(rank)s") % {"rank": row["rank"]},
                _("%(section)s: score %(score)s, rank %(low)s to %(high)s under weight changes")
                % {
                    "section": row["section_id"],
                    "score": i18n.number(float(row["score"]), 2),
                    "low": row["rank_low"],
                    "high": row["rank_high"],
                },
            )
        )


def _shown_criteria(run, ctx, rows) -> list[str]:
    """Criteria columns the audience may see; the others are recorded as withheld."""
    present = [key for key in CRITERIA if rows and key in rows[0]]
    if may_see(ctx.audience, run.level):
        return present
    hidden = [key for key in present if CRITERIA[key][2] is not None]
    if hidden:
        content = CRITERIA[hidden[0]][2]
        withheld = Decision(content, ctx.audience, "withheld", None, WITHHELD_REASON)
        subject = N_("fence length, tracked crossings or camera use per border section (hotspots)")
        ctx.ledger.record(withheld, subject, len(rows) * len(hidden))
    return [key for key in present if key not in hidden]


def _ranked_table(run, ctx, path, rows):
    columns = [
        Column("rank", _("Rank"), "integer"),
        Column("section_id", _("Border section")),
        Column("score", _("Score"), "number", 3),
        Column("rank_low", _("Rank, 5 %"), "integer"),
        Column("rank_high", _("Rank, 95 %"), "integer"),
    ]
    for key in _shown_criteria(run, ctx, rows):
        header, digits, _content = CRITERIA[key]
        columns.append(Column(key, _(header), "number" if digits else "integer", digits))
    return ctx.table(
        run,
        path,
        columns,
        caption=_(
            "Border sections ranked by score, with the rank interval under weight changes and "
            "the criteria"
        ),
        rows=rows,
    )


def _section_lines(run) -> dict[str, np.ndarray]:
    layer = run.find("hotspots.gpkg")
    if layer is None:
        return {}
    import pyogrio

    frame = pyogrio.read_dataframe(layer, layer="sections")
    if frame.crs is not None:
        frame = frame.to_crs(ANALYSIS_CRS)
    return {
        str(sid): np.asarray(geom.coords)[:, :2]
        for sid, geom in zip(frame["section_id"], frame.geometry, strict=True)
        if geom is not None and geom.geom_type == "LineString"
    }


def _map(run, ctx, rows) -> Figure | None:
    lines = _section_lines(run)
    ranked = [r for r in rows if r["section_id"] in lines]
    if not ranked:
        return None
    decision = ctx.ledger.decide(ContentType.FENCE_LINE)
    if decision.action == "withheld":
        return None
    grid = decision.grid_m if decision.action == "generalised" else None
    shapes = [lines[r["section_id"]] for r in ranked]
    if grid:
        shapes = [line_cells(line, grid) for line in shapes]
        ctx.ledger.record(decision, N_("hotspot border sections on the map"), len(shapes))
    labels = []
    for row, shape in zip(ranked, shapes, strict=True):
        if int(row["rank"]) <= TOP_ON_MAP:
            labels.append((shape[len(shape) // 2], f"#{row['rank']}"))
    png = sections_figure(
        shapes,
        [float(r["score"]) for r in ranked],
        basemap=ctx.basemap(),
        colour_label=_("Hotspot score"),
        grid_m=grid,
        labels=labels,
    )
    caption = _("Border sections coloured by score, the top %(num)s ranks labelled") % {
        "num": i18n.number(TOP_ON_MAP)
    }
    if grid:
        caption += " " + _("(sections shown as the %(km)s km cells they cross)") % {
            "km": i18n.number(grid / 1000)
        }
    return Figure(caption, png, caption)


def _methods(section: Section, run) -> dict[str, list[str]]:
    figures = run.manifest.get("figures", {})
    weights = figures.get("criteria", {})
    config = run.config
    return {
        "overview": [section.question],
        "data": [_("Country outlines, fences, protected areas and ranges from the inputs.")],
        "model": [
            _(
                "Each criterion is normalised over the sections and weighted: %(weights)s; "
                "the score is their weighted mean."
            )
            % {
                "weights": ", ".join(
                    f"{_(CRITERIA[k][0]) if k in CRITERIA else k} × {i18n.number(w, 1)}"
                    for k, w in weights.items()
                )
                or "–"
            },
        ],
        "assessment": [
            _(
                "Rank stability: %(draws)s draws of weights changed by up to ±%(spread)s "
                "(seed %(seed)s); the table gives the 5 and 95 %% ranks."
            )
            % {
                "draws": i18n.number(int(figures.get("draws", config.get("draws", 0)))),
                "spread": i18n.percent(100 * float(figures.get("spread", 0)), 0),
                "seed": figures.get("seed", config.get("seed", "–")),
            }
        ],
        "prediction": [_("Sections ranked from the highest score down.")],
    }
