"""GPS tracks against fences (BaBA): encounter classes per fence and located crossings."""

from __future__ import annotations

import numpy as np

from crossings.report import document_i18n as i18n
from crossings.report.document_i18n import N_
from crossings.report.document_i18n import gettext as _
from crossings.report.document_maps import points_figure, stacked_bar_chart
from crossings.report.sections import Column, Figure, Section
from crossings.security import ContentType

JOB = "tracks"

#: BaBA's encounter classes (Xu et al. 2021), in the order of its tables.
CLASSES = {
    "Quick_Cross": N_("quick cross"),
    "Bounce": N_("bounce"),
    "Average_Movement": N_("average movement"),
    "Back_n_forth": N_("back and forth"),
    "Trace": N_("trace"),
    "Trapped": N_("trapped"),
    "unknown": N_("unknown"),
}


def build(run, ctx) -> Section:
    section = Section(
        JOB,
        _("Animals at the fence (GPS tracks)"),
        _("Are animals crossing the fence, bouncing off it or trapped along it?"),
    )
    ranking = run.find("*ranking.csv")
    events = run.find("*events.csv")
    crossings = run.find("*crossings.csv")
    per_month = run.find("*crossings_per_month.csv")
    synthetic = any("synthetic" in p.name for p in run.folder.glob("*tracks*")) or any(
        "synthetic" in r.get("AnimalID", "") for r in (run.read_csv(events) if events else [])
    )
    if synthetic:
        section.assumptions.append(
            _("The tracks are SYNTHETIC (simulated walks), not observations of real animals.")
        )
    if events:
        event_rows = run.read_csv(events)
        animals = len({r["AnimalID"] for r in event_rows})
        section.key_figures.append(
            (
                _("Encounters with the fence"),
                i18n.ngettext(
                    "%(num)d encounter by %(animals)s animals",
                    "%(num)d encounters by %(animals)s animals",
                    len(event_rows),
                )
                % {"num": len(event_rows), "animals": i18n.number(animals)},
            )
        )
    if crossings:
        crossing_rows = run.read_csv(crossings)
        section.key_figures.append((_("Crossings located"), i18n.number(len(crossing_rows))))
        _crossing_map(section, ctx, crossing_rows)
    if ranking:
        columns = [Column("fence_id", _("Fence segment"))] + [
            Column(key, _(label), "integer") for key, label in CLASSES.items()
        ]
        columns += [
            Column("unique_ind", _("Animals"), "integer"),
            Column("total_enc", _("Encounters"), "integer"),
            Column("index", _("Barrier index"), "number", 2),
        ]
        ranking_rows = run.read_csv(ranking)
        section.blocks.append(
            ctx.table(
                run,
                ranking,
                columns,
                caption=_("BaBA encounter classes per fence segment"),
                rows=ranking_rows,
            )
        )
        if ranking_rows:
            section.blocks.append(_class_bars(ranking_rows))
    if per_month:
        section.blocks.append(
            ctx.table(
                run,
                per_month,
                (
                    Column("fence_id", _("Fence segment")),
                    Column("month", _("Month")),
                    Column("direction", _("Direction")),
                    Column("crossings", _("Crossings"), "integer"),
                ),
                caption=_("Crossings per fence segment and month"),
                translate={"direction": _direction},
            )
        )
    config = run.config
    section.methods = {
        "overview": [section.question],
        "data": [_("GPS fixes of tagged animals and the fence lines (see the data sources).")],
        "model": [
            _(
                "Barrier Behaviour Analysis (BaBA, Xu et al. 2021): encounters within a buffer "
                "around the fence are classed by duration, crossings and straightness."
            )
        ]
        + ([_("Settings: %(settings)s") % {"settings": _settings(config)}] if config else []),
        "assessment": [
            _(
                "Class counts are compared with the BaBA R package on its example data "
                "in the test suite."
            )
        ],
        "prediction": [_("Classes per fence segment and located crossings.")],
    }
    return section


#: Colours of the classes in the bars: crossing (blue) through blocked (red), unknown grey.
CLASS_COLOURS = ("#2166ac", "#f4a582", "#92c5de", "#fddbc7", "#d6604d", "#b2182b", "#bbbbbb")


def _class_bars(rows) -> Figure:
    classes = [key for key in CLASSES if key in rows[0]]
    series = {_(CLASSES[key]): [float(r[key] or 0) for r in rows] for key in classes}
    colours = [CLASS_COLOURS[list(CLASSES).index(key)] for key in classes]
    png = stacked_bar_chart(
        [r["fence_id"] for r in rows], series, y_label=_("Encounters"), colours=colours
    )
    text = _("BaBA encounter classes per fence segment (the numbers are in the table above)")
    return Figure(text, png, text)


def _direction(value: str) -> str:
    parts = value.split()
    if len(parts) == 4 and parts[0] == "from" and parts[2] == "to":
        return _("from %(a)s to %(b)s") % {"a": parts[1], "b": parts[3]}
    return value


def _crossing_map(section, ctx, rows) -> None:
    if not rows:
        return
    xy = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    shown, _locations, grid = ctx.generalised_locations(
        xy, ContentType.ANIMAL_LOCATION, N_("located fence crossings of tracked animals")
    )
    if shown is None:
        return
    png = points_figure(
        shown,
        grid_m=grid,
        basemap=ctx.basemap(),
        background=ctx.background_raster(),
        block=ctx.background_block(),
    )
    caption = _("Where tracked animals crossed the fence")
    if grid:
        caption += " " + _("(each square is the %(km)s km cell holding a crossing)") % {
            "km": i18n.number(grid / 1000)
        }
    section.blocks.append(Figure(caption, png, caption))


def _settings(config: dict) -> str:
    return "; ".join(f"{k} = {v}" for k, v in config.items() if not isinstance(v, dict)) or "–"
