"""Camera traps at fence openings: use by species, crossings by direction, before and after."""

from __future__ import annotations

import numpy as np

from crossings.report import document_i18n as i18n
from crossings.report.document_context import from_lonlat
from crossings.report.document_i18n import N_
from crossings.report.document_i18n import gettext as _
from crossings.report.document_maps import (
    bar_chart,
    hourly_chart,
    points_figure,
    stacked_bar_chart,
)
from crossings.report.sections import Column, Figure, Section, Table
from crossings.security import ContentType

JOB = "camera"


def build(run, ctx) -> Section:
    section = Section(
        JOB,
        _("Use of the openings (camera traps)"),
        _("Are the openings used, by which species, when and in which direction?"),
    )
    readme = run.find("README.txt")
    if readme and "SYNTHETIC" in readme.read_text(encoding="utf-8"):
        section.assumptions.append(
            _("The camera-trap detections are SYNTHETIC (generated), not observations.")
        )
    use = run.find("use_by_opening.csv")
    if use:
        rows = run.read_csv(use)
        events = sum(int(r["events"]) for r in rows)
        a_to_b = sum(int(r["crossings_a_to_b"]) for r in rows)
        b_to_a = sum(int(r["crossings_b_to_a"]) for r in rows)
        openings = len({r["opening_id"] for r in rows})
        section.key_figures.append(
            (
                _("Events recorded"),
                i18n.ngettext(
                    "%(num)d event at %(openings)s openings",
                    "%(num)d events at %(openings)s openings",
                    events,
                )
                % {"num": events, "openings": i18n.number(openings)},
            )
        )
        section.key_figures.append(
            (
                _("Crossings by direction"),
                _("%(ab)s from %(a)s to %(b)s, %(ba)s back")
                % {
                    "ab": i18n.number(a_to_b),
                    "ba": i18n.number(b_to_a),
                    "a": rows[0].get("side_a", "A"),
                    "b": rows[0].get("side_b", "B"),
                },
            )
        )
        section.blocks.append(
            ctx.table(
                run,
                use,
                (
                    Column("opening_id", _("Opening")),
                    Column("species", _("Species")),
                    Column("events", _("Events"), "integer"),
                    Column("crossings_a_to_b", _("Crossings A to B"), "integer"),
                    Column("crossings_b_to_a", _("Crossings B to A"), "integer"),
                    Column("camera_days", _("Camera-days"), "integer"),
                    Column(
                        "events_per_100_camera_days", _("Events per 100 camera-days"), "number", 1
                    ),
                    Column("rate_before", _("Rate before opening"), "number", 1),
                    Column("rate_after", _("Rate after opening"), "number", 1),
                ),
                caption=_(
                    "Use per opening and species, with sampling effort (camera-days); "
                    "rates are events per 100 camera-days"
                ),
                translate={"species": ctx.species},
            )
        )
        _chart(section, ctx, rows)
    _diel_chart(section, run, ctx)
    _monthly_chart(section, run, ctx)
    _positions(section, run, ctx)
    _person_images(run, ctx)
    section.methods = {
        "overview": [section.question],
        "data": [
            _("Camera-trap detections (MegaDetector batch format) and deployments at openings.")
        ],
        "model": [
            _(
                "Detections are grouped into events per species; the direction of a "
                "crossing comes from the positions across the fence line in the frames."
            )
        ],
        "assessment": [_("Person and vehicle detections are withheld before any count.")],
        "prediction": [_("Use per opening, species and direction, before and after opening.")],
    }
    return section


def _chart(section, ctx, rows) -> None:
    species = sorted({r["species"] for r in rows})
    openings = sorted({r["opening_id"] for r in rows})
    series = {
        ctx.species(s): [
            sum(
                float(r["events_per_100_camera_days"])
                for r in rows
                if r["species"] == s and r["opening_id"] == o
            )
            for o in openings
        ]
        for s in species
    }
    png = bar_chart(openings, series, y_label=_("Events per 100 camera-days"))
    text = _("Events per 100 camera-days at each opening, by species")
    section.blocks.append(Figure(text, png, text))


def _sum_by(rows, key: str, value: str = "events") -> dict[tuple[str, str], float]:
    """Sum of ``value`` per (species, ``key``) over every opening."""
    sums: dict[tuple[str, str], float] = {}
    for row in rows:
        pair = (row["species"], row[key])
        sums[pair] = sums.get(pair, 0.0) + float(row[value] or 0)
    return sums


def _diel_chart(section, run, ctx) -> None:
    path = run.find("diel.csv")
    rows = run.read_csv(path) if path else []
    if not rows:
        return
    sums = _sum_by(rows, "hour")
    species = sorted({s for s, _h in sums})
    series = {
        ctx.species(s): [sums.get((s, str(hour)), 0.0) for hour in range(24)] for s in species
    }
    png = hourly_chart(series, x_label=_("Hour of the day (local time)"), y_label=_("Events"))
    text = _("Events by hour of the day and species, all openings (from %(file)s)") % {
        "file": run.relative(path)
    }
    section.blocks.append(Figure(text, png, text))


def _monthly_chart(section, run, ctx) -> None:
    path = run.find("monthly.csv")
    rows = run.read_csv(path) if path else []
    if not rows:
        return
    sums = _sum_by(rows, "month")
    species = sorted({s for s, _m in sums})
    months = sorted({m for _s, m in sums})
    series = {ctx.species(s): [sums.get((s, m), 0.0) for m in months] for s in species}
    png = stacked_bar_chart([i18n.month(m) for m in months], series, y_label=_("Events per month"))
    text = _("Events per month and species, all openings (from %(file)s)") % {
        "file": run.relative(path)
    }
    section.blocks.append(Figure(text, png, text))


def _deployments(run):
    for pattern in ("input/deployments.csv", "deployments.csv", "camtrapdp/deployments.csv"):
        path = run.find(pattern)
        if path:
            rows = run.read_csv(path)
            if rows and "latitude" in rows[0]:
                return path, rows
    return None, []


def _positions(section, run, ctx) -> None:
    path, rows = _deployments(run)
    if not rows:
        return
    lonlat = np.array([[float(r["longitude"]), float(r["latitude"])] for r in rows])
    xy = from_lonlat(lonlat)
    shown, locations, grid = ctx.generalised_locations(
        xy, ContentType.CAMERA_LOCATION, N_("camera-trap positions")
    )
    ids = [r.get("opening_id") or r.get("deploymentID") or r.get("deployment_id", "") for r in rows]
    header = _("Location") if grid is None else _("Location (generalised)")
    section.blocks.append(
        Table(
            _("Camera traps"),
            (Column("opening_id", _("Opening")), Column("location", header, "generalised")),
            tuple(zip(ids, locations, strict=True)),
            run.relative(path),
            per_row=False,
        )
    )
    if shown is not None:
        png = points_figure(
            shown,
            grid_m=grid,
            basemap=ctx.basemap(),
            labels=ids,
            background=ctx.background_raster(),
            block=ctx.background_block(),
        )
        caption = _("Camera traps at the openings")
        if grid:
            caption += " " + _("(each square is the %(km)s km cell holding a camera)") % {
                "km": i18n.number(grid / 1000)
            }
        section.blocks.append(Figure(caption, png, caption))


def _person_images(run, ctx) -> None:
    """Images showing people are never embedded; say how many there were."""
    media = run.find("camtrapdp/media.csv")
    if media is None:
        return
    private = sum(1 for r in run.read_csv(media) if r.get("filePublic", "").lower() == "false")
    ctx.ledger.allows(
        ContentType.PERSON_IMAGE,
        subject=N_("camera images showing people or vehicles"),
        count=private,
    )
