"""Connectivity runs: how much conductance each fence scenario keeps, and the current maps."""

from __future__ import annotations

from crossings.report import document_i18n as i18n
from crossings.report.document_i18n import N_
from crossings.report.document_i18n import gettext as _
from crossings.report.document_maps import raster_figure
from crossings.report.sections import Column, Figure, Section
from crossings.security import ContentType

JOB = "connectivity"

#: Current maps a connectivity run writes: file, caption, diverging colours.
MAPS = (
    ("cum_current_no_fence.tif", N_("Cumulative current with no fence"), False),
    (
        "cum_current_fence_closed.tif",
        N_("Cumulative current with the fence closed (as built)"),
        False,
    ),
    (
        "cum_current_fence_mitigated.tif",
        N_("Cumulative current with the fence and its openings"),
        False,
    ),
    (
        "cum_current_difference_no_fence_minus_fence_closed.tif",
        N_("Current the closed fence takes away (no fence minus fence closed)"),
        True,
    ),
    (
        "cum_current_difference_fence_mitigated_minus_fence_closed.tif",
        N_("Current the openings give back (with openings minus fence closed)"),
        True,
    ),
)


def _mean(rows, key) -> float | None:
    values = [float(r[key]) for r in rows if r.get(key) not in ("", None)]
    return sum(values) / len(values) if values else None


def build(run, ctx) -> Section:
    section = Section(
        JOB,
        _("Connectivity across the fence"),
        _(
            "How much of the connectivity between the focal areas does the fence cut, and how "
            "much do the openings restore?"
        ),
    )
    pairs_path = run.find("pairs.csv")
    if pairs_path is not None:
        rows = run.read_csv(pairs_path)
        closed = _mean(rows, "conductance_kept_pct_fence_closed")
        mitigated = _mean(rows, "conductance_kept_pct_fence_mitigated")
        pairs = i18n.ngettext(
            "%(num)d pair of focal areas", "%(num)d pairs of focal areas", len(rows)
        )
        section.key_figures.append((_("Compared"), pairs % {"num": len(rows)}))
        if closed is not None:
            section.key_figures.append(
                (_("Conductance kept, fence closed (mean)"), i18n.percent(closed, 1))
            )
        if mitigated is not None:
            section.key_figures.append(
                (_("Conductance kept, fence with openings (mean)"), i18n.percent(mitigated, 1))
            )
        columns = [
            Column("area_a", _("Focal area A")),
            Column("area_b", _("Focal area B")),
            Column("resistance_no_fence", _("Resistance, no fence"), "number", 4),
            Column("resistance_fence_closed", _("Resistance, fence closed"), "number", 4),
            Column("conductance_kept_pct_fence_closed", _("Kept, fence closed"), "percent", 1),
            Column("conductance_kept_pct_fence_mitigated", _("Kept, with openings"), "percent", 1),
        ]
        section.blocks.append(
            ctx.table(
                run,
                pairs_path,
                columns,
                caption=_(
                    "Effective resistance between focal areas and the share of the no-fence "
                    "conductance each scenario keeps"
                ),
            )
        )
    maps = [(run.find(name), caption, diverging) for name, caption, diverging in MAPS]
    maps = [(path, _(caption), diverging) for path, caption, diverging in maps if path]
    shown = current_maps(section, ctx, maps)
    if shown:
        decision = ctx.ledger.decide(ContentType.FENCE_LINE)
        ctx.ledger.record(decision, N_("current maps (averaged over coarser cells)"), shown)
    section.assumptions.append(
        _(
            "Resistance values are model assumptions; the current is a relative index of how "
            "likely movement is, not a count of animals."
        )
    )
    config = run.config
    section.methods = {
        "overview": [section.question],
        "data": [_("Resistance grid and focal areas as recorded in the manifest's inputs.")],
        "model": [
            _(
                "Circuit theory (Circuitscape-compatible): pairwise effective resistance between "
                "focal areas; fences cut graph edges (not cells), openings restore them."
            ),
        ]
        + ([_("Settings: %(settings)s") % {"settings": _settings(config)}] if config else []),
        "assessment": [_("Every solve is checked by its relative residual (see the manifest).")],
        "prediction": [_("Scenarios: no fence, fence closed, fence with its openings.")],
    }
    return section


def current_maps(section: Section, ctx, maps) -> int:
    """Add current maps ``(path, caption, diverging)`` at the audience's precision.

    Returns how many were averaged over coarser cells (0 when the audience sees them exactly).
    """
    averaged = 0
    for path, caption, diverging in maps:
        block, note = ctx.raster_precision(path)
        label = (
            _("Current difference (amperes)") if diverging else _("Current (amperes, log scale)")
        )
        png = raster_figure(path, block=block, basemap=ctx.basemap(), diverging=diverging)
        text = f"{caption} {note}".strip()
        section.blocks.append(Figure(text, png, text, label))
        averaged += block > 1
    return averaged


def _settings(config: dict) -> str:
    flat = []
    for key, value in config.items():
        if isinstance(value, dict):
            continue
        flat.append(f"{key} = {value}")
    return "; ".join(flat) or "–"
