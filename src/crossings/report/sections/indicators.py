"""Indicator runs: ProtConn per country and fence scenario, its transboundary part, per section."""

from __future__ import annotations

from dataclasses import replace

from crossings.report import document_i18n as i18n
from crossings.report.document_i18n import N_
from crossings.report.document_i18n import gettext as _
from crossings.report.document_maps import bar_chart
from crossings.report.sections import Column, Figure, Section, scenario_label

JOB = "indicators"

#: How distances between protected areas are measured (the job's ``distance``).
DISTANCES = {
    "edge": N_("straight lines between the edges of the areas"),
    "centroid": N_("straight lines between the centres of the areas"),
    "least_cost": N_("least-cost paths over the resistance grid"),
    "resistance": N_("effective resistance over the resistance grid"),
}

#: Rows of node importance shown (the CSV has every PA patch and stepping stone).
TOP_NODES = 10


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no value


def _with_protected_areas(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if (_float(r.get("protected_area", "")) or 0) > 0]


def build(run, ctx) -> Section:
    section = Section(
        JOB,
        _("Protected-area connectivity per country (ProtConn)"),
        _(
            "How much of each country is protected and connected (ProtConn), how much of that "
            "runs through the neighbours' protected areas, and what does the fence change?"
        ),
    )
    figures = run.manifest.get("figures", {})
    if figures.get("illustrative_protected_areas"):
        section.assumptions.append(
            _(
                "The protected areas of this run are ILLUSTRATIVE (drawn for the demo), not real "
                "boundaries: the indicators show how the method works, not the countries' state."
            )
        )
    protconn = run.find("protconn.csv")
    if protconn is not None:
        rows = run.read_csv(protconn)
        _key_figures(section, rows)
        section.blocks.append(_country_table(run, ctx, protconn))
        chart = _chart(rows)
        if chart is not None:
            section.blocks.append(chart)
    sections_csv = run.find("sections.csv")
    if sections_csv is not None:
        section.blocks.append(_sections_table(run, ctx, sections_csv))
    importance = run.find("pa_importance.csv")
    if importance is not None:
        section.blocks.append(_importance_table(run, ctx, importance))
    section.methods = _methods(section, run.config, figures)
    return section


def _per_scenario(rows, region: str, key: str, digits: int) -> str:
    parts = []
    for row in rows:
        value = _float(row.get(key, ""))
        if row["region"] == region and value is not None:
            parts.append(f"{scenario_label(row['scenario'])}: {i18n.percent(value, digits)}")
    return "; ".join(parts) or "–"


def _key_figures(section: Section, rows) -> None:
    regions = sorted({r["region"] for r in rows})
    protected = sorted({r["region"] for r in _with_protected_areas(rows)})
    section.key_figures.append(
        (
            _("Countries"),
            i18n.ngettext(
                "%(num)d country, %(protected)s with protected areas",
                "%(num)d countries, %(protected)s with protected areas",
                len(regions),
            )
            % {"num": len(regions), "protected": i18n.number(len(protected))},
        )
    )
    for region in protected:
        section.key_figures.append(
            (
                _("ProtConn of %(region)s (%% of its land)") % {"region": region},
                _per_scenario(rows, region, "protconn", 3),
            )
        )
        section.key_figures.append(
            (
                _("Transboundary part of ProtConn, %(region)s") % {"region": region},
                _per_scenario(rows, region, "protconn_trans", 2),
            )
        )


def _country_table(run, ctx, path):
    columns = (
        Column("region", _("Country")),
        Column("scenario", _("Fence scenario")),
        Column("prot", _("Protected (Prot), % of land"), "percent", 3),
        Column("protconn", _("ProtConn, % of land"), "percent", 3),
        Column("relconn", _("Connected share of the protected land"), "percent", 1),
        Column("protconn_trans", _("Transboundary part, % of ProtConn"), "percent", 2),
        Column("protconn_trans_land", _("Transboundary, % of land"), "percent", 4),
        Column("n_national", _("Protected areas"), "integer"),
        Column("n_foreign", _("Foreign stepping stones"), "integer"),
    )
    return ctx.table(
        run,
        path,
        columns,
        caption=_(
            "ProtConn per country and fence scenario, with its transboundary part "
            "(ProtConn[Trans]: connections through protected areas abroad)"
        ),
        translate={"scenario": scenario_label},
        note=_("A dash means the country has no protected area, so the share is undefined."),
    )


def _chart(rows) -> Figure | None:
    protected = _with_protected_areas(rows)
    regions = sorted({r["region"] for r in protected})
    if not regions:
        return None
    scenarios = list(dict.fromkeys(r["scenario"] for r in protected))

    def value(region, scenario, key):
        found = [r for r in protected if r["region"] == region and r["scenario"] == scenario]
        return (_float(found[0].get(key, "")) or 0.0) if found else 0.0

    series = {_("Protected (Prot)"): [value(r, scenarios[0], "prot") for r in regions]}
    for scenario in scenarios:
        label = _("ProtConn, %(scenario)s") % {"scenario": scenario_label(scenario)}
        series[label] = [value(r, scenario, "protconn") for r in regions]
    png = bar_chart(regions, series, y_label=_("% of the country's land"))
    text = _("Protected and connected land per country and fence scenario")
    return Figure(text, png, text)


def _sections_table(run, ctx, path):
    columns = (
        Column("section_id", _("Border section")),
        Column("region", _("Country")),
        Column("scenario", _("Fence scenario")),
        Column("trans_now", _("ProtConn[Trans] now"), "number", 4),
        Column("drop", _("Drop if the section closes"), "number", 4),
        Column("gain", _("Gain if its fence opens"), "number", 4),
        Column("share_percent", _("Share of ProtConn[Trans]"), "percent", 1),
    )
    return ctx.table(
        run,
        path,
        columns,
        caption=_(
            "What each border section carries of the transboundary connectivity "
            "(ProtConn[Trans], % of the country's land)"
        ),
        translate={"scenario": scenario_label},
    )


def _importance_table(run, ctx, path):
    rows = run.read_csv(path)
    rows = sorted(rows, key=lambda r: -(_float(r.get("dpc", "")) or 0.0))[:TOP_NODES]
    kinds = {"national": _("national"), "foreign": _("foreign")}
    table = ctx.table(
        run,
        path,
        (
            Column("region", _("Country")),
            Column("node", _("Protected area (node)")),
            Column("kind", _("Kind")),
            Column("area_km2", _("Area, km²"), "number", 1),
            Column("dpc", _("dPC"), "number", 3),
            Column("dpc_intra", _("intra"), "number", 3),
            Column("dpc_flux", _("flux"), "number", 3),
            Column("dpc_connector", _("connector"), "number", 3),
        ),
        caption=_("The %(num)s protected areas that matter most to connectivity (dPC)")
        % {"num": i18n.number(len(rows))},
        rows=rows,
        translate={"kind": lambda value: kinds.get(value, value)},
    )
    return replace(table, per_row=False)  # the top rows only


def _distance(kind: str) -> str:
    return _(DISTANCES[kind]) if kind in DISTANCES else kind


def _methods(section: Section, config: dict, figures: dict) -> dict[str, list[str]]:
    model = [
        _(
            "ProtConn (Saura et al. 2017): the percentage of a country's land that is protected "
            "and connected, from the probability of connectivity between protected areas; "
            "foreign protected areas near the border are stepping stones (ProtConn[Trans])."
        )
    ]
    if config:
        model.append(
            _(
                "Distances: %(distance)s; the dispersal probability is %(probability)s at "
                "%(km)s km; stepping stones within %(buffer)s km of the border."
            )
            % {
                "distance": _distance(str(config.get("distance", "edge"))),
                "probability": i18n.number(float(config.get("probability", 0.5)), 2),
                "km": i18n.number(float(config.get("dispersal_distance", 0)) / 1000, 1),
                "buffer": i18n.number(float(config.get("buffer", 0)) / 1000, 0),
            }
        )
    scenarios = figures.get("scenarios") or []
    return {
        "overview": [section.question],
        "data": [_("Country outlines and protected areas as recorded in the manifest's inputs.")],
        "model": model,
        "assessment": [
            _(
                "Probabilities below the floor are set to 0; the manifest bounds what that "
                "removed (%(bound)s km⁴ of the connectivity sum)."
            )
            % {"bound": i18n.number(float(figures.get("pcnum_truncation_bound_km4", 0)), 3)}
        ],
        "prediction": [
            _("Scenarios: %(scenarios)s.")
            % {"scenarios": ", ".join(scenario_label(s) for s in scenarios) or "–"}
        ],
    }
