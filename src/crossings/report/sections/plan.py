"""Planner runs: ranked fence openings with gain and security cost, rejected candidates, Pareto."""

from __future__ import annotations

from collections import Counter

import numpy as np

from crossings.report import document_i18n as i18n
from crossings.report.document_i18n import N_
from crossings.report.document_i18n import gettext as _
from crossings.report.document_maps import line_chart, points_figure
from crossings.report.sections import Column, Figure, Section, Table
from crossings.security import ContentType

JOB = "plan"

OPENING_TYPES = {
    "lower_strands_removed": N_("lower strands removed"),
    "seasonal_gate": N_("seasonal gate"),
    "full_gap": N_("full gap"),
}

RULES = {
    "veto_zone": N_("too close to a vetoed zone (border post, checkpoint, settlement)"),
    "spacing": N_("too close to another opening"),
    "min_spacing": N_("too close to another opening"),
    "type_not_allowed": N_("opening type not allowed here"),
    "quota": N_("sector quota reached"),
    "surveillance": N_("no surveillance in reach"),
}

#: Openings drawn on the summary map.
TOP_ON_MAP = 10


def _type(value: str) -> str:
    return _(OPENING_TYPES[value]) if value in OPENING_TYPES else value


def build(run, ctx) -> Section:
    section = Section(
        JOB,
        _("Fence openings: where they restore the most"),
        _(
            "Which fence openings restore the most connectivity within the limits border security "
            "sets, and at what security cost?"
        ),
    )
    section.caution = _(
        "This plan is a model result to be reviewed by the agencies concerned, not a decision. "
        "It depends on the assumed resistance of the landscape, on the assumed permeability and "
        "security cost of each opening type, on the vetoed zones and spacing rules, and on the "
        "focal areas chosen; change any of them and the ranking can change."
    )
    openings_path = run.find("openings.csv")
    rows = run.read_csv(openings_path) if openings_path else []
    _key_figures(section, run, rows)
    if rows:
        _openings(section, run, ctx, openings_path, rows)
    _rejected(section, run, ctx)
    _pareto(section, run)
    section.assumptions.append(
        _(
            "Opening types, their permeability and security costs, and the vetoed zones are "
            "settings of this run (see the methods); in the demo they are illustrative."
        )
    )
    figures = run.manifest.get("figures", {})
    section.methods = {
        "overview": [section.question],
        "data": [
            _("Candidate openings along the fence every %(m)s m.")
            % {
                "m": i18n.number(
                    float(run.config.get("demo_setting", run.config).get("spacing", 0))
                )
            }
        ]
        if run.config.get("demo_setting", run.config).get("spacing")
        else [],
        "model": [
            _(
                "Greedy selection with the exact gain of every candidate re-scored after each "
                "pick, under the security constraints."
            ),
        ],
        "assessment": [
            _(
                "%(n)s candidates, %(allowed)s allowed by the rules; largest relative residual "
                "%(res)s."
            )
            % {
                "n": i18n.number(figures.get("candidates", 0)),
                "allowed": i18n.number(figures.get("allowed", 0)),
                "res": f"{figures.get('max_residual', float('nan')):.1e}",
            }
        ]
        if figures.get("candidates")
        else [],
        "prediction": [
            _("Ranked openings, the Pareto front of connectivity against security cost, and maps.")
        ],
    }
    return section


def _key_figures(section, run, rows) -> None:
    pareto_path = run.find("pareto.csv")
    pareto = run.read_csv(pareto_path) if pareto_path else []
    if pareto:
        section.key_figures.append(
            (
                _("Fence closed: connectivity kept"),
                i18n.percent(float(pareto[0]["percent_of_no_fence"])),
            )
        )
    scheme = run.manifest.get("figures", {}).get("scheme_percent")
    if scheme is not None:
        section.key_figures.append((_("Existing opening scheme"), i18n.percent(float(scheme))))
    for n in (5, 10, 20):
        if len(rows) >= n:
            row = rows[n - 1]
            label = i18n.ngettext("Best %(num)d opening", "Best %(num)d openings", n) % {"num": n}
            value = _("%(pct)s (security cost %(cost)s)") % {
                "pct": i18n.percent(float(row["percent_of_no_fence"])),
                "cost": i18n.number(float(_cumulative_cost(rows, n)), 0),
            }
            section.key_figures.append((label, value))


def _cumulative_cost(rows, n) -> float:
    return sum(float(r["security_cost"]) for r in rows[:n])


def _openings(section, run, ctx, path, rows) -> None:
    xy = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    shown, locations, grid = ctx.generalised_locations(
        xy, ContentType.OPENING_LOCATION, N_("ranked fence openings (positions)")
    )
    exact = ctx.ledger.decide(ContentType.OPENING_LOCATION).action == "exact"
    columns = [
        Column("rank", _("Rank"), "integer"),
        Column("fence_id", _("Fence segment")),
    ]
    if exact:
        columns.append(Column("candidate_id", _("Candidate")))
    else:
        # The candidate id holds the position along the fence in metres: as exact as x, y.
        ctx.ledger.record(
            ctx.ledger.decide(ContentType.OPENING_LOCATION),
            N_("candidate identifiers (position along the fence)"),
            len(rows),
        )
    columns += [
        Column("location", _("Location") if exact else _("Location (generalised)"), "generalised"),
        Column("type", _("Opening type")),
        Column("gain", _("Gain"), "number", 4),
        Column("percent_of_no_fence", _("Connectivity kept after this opening"), "percent", 1),
        Column("security_cost", _("Security cost"), "number", 1),
    ]
    shown_rows = [dict(r, location=loc) for r, loc in zip(rows, locations, strict=True)]
    section.blocks.append(
        ctx.table(
            run,
            path,
            columns,
            caption=_("Ranked openings: gain in connectivity and security cost"),
            rows=shown_rows,
            translate={"type": _type},
        )
    )
    if shown is not None:
        top = shown[:TOP_ON_MAP]
        png = points_figure(
            top,
            grid_m=grid,
            basemap=ctx.basemap(),
            labels=[r["rank"] for r in rows[:TOP_ON_MAP]],
            background=ctx.background_raster(),
            block=ctx.background_block(),
        )
        caption = i18n.ngettext(
            "The best %(num)d opening", "The best %(num)d openings", len(top)
        ) % {"num": len(top)}
        if grid:
            caption += " " + _("(each square is the %(km)s km cell holding an opening)") % {
                "km": i18n.number(grid / 1000)
            }
        section.summary_figure = Figure(caption, png, caption)


def _rejected(section, run, ctx) -> None:
    path = run.find("rejected.csv")
    if path is None:
        return
    rows = run.read_csv(path)
    counts = Counter(r["rule"] for r in rows)
    table_rows = tuple(
        (_(RULES[rule]) if rule in RULES else rule, i18n.number(count))
        for rule, count in sorted(counts.items())
    )
    section.blocks.append(
        Table(
            _("Candidates rejected, by rule"),
            (Column("rule", _("Rule")), Column("count", _("Candidates"), "integer")),
            table_rows,
            run.relative(path),
            per_row=False,
        )
    )
    if not ctx.ledger.allows(
        ContentType.FENCE_INFRASTRUCTURE,
        subject=N_("why each candidate was rejected (distances to posts and vetoed zones)"),
        count=len(rows),
    ):
        return
    section.blocks.append(
        ctx.table(
            run,
            path,
            (
                Column("candidate_id", _("Candidate")),
                Column("rule", _("Rule")),
                Column("detail", _("Detail")),
            ),
            caption=_("Rejected candidates"),
        )
    )


def _pareto(section, run) -> None:
    path = run.find("pareto.csv")
    if path is None:
        return
    rows = run.read_csv(path)
    cost = [float(r["security_cost"]) for r in rows]
    kept = [float(r["percent_of_no_fence"]) for r in rows]
    png = line_chart(
        cost,
        kept,
        x_label=_("Security cost (sum over openings)"),
        y_label=_("Connectivity kept (% of no fence)"),
    )
    text = _("Pareto front: connectivity kept against the security cost of the openings")
    section.blocks.append(Figure(text, png, text))
