"""Omniscape runs: cumulative and normalised current, per fence scenario and their differences.

Two kinds of run folder: an INI run keeps Omniscape.jl's names (``cum_currmap.tif``,
``normalized_cum_currmap.tif``, ``flow_potential.tif``, ``.asc`` too); the native job
(``job = "omniscape"`` in TOML) writes them per fence scenario (``cum_currmap_fence_closed.tif``)
plus ``cum_currmap_difference_<other>_minus_fence_closed.tif``. Any of the files may be absent;
the section shows those it finds. Maps are averaged over the audience's grid, as connectivity's
are: a difference map at full resolution would show where the openings are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossings.report import document_i18n as i18n
from crossings.report.document_i18n import N_
from crossings.report.document_i18n import gettext as _
from crossings.report.sections import Column, Section, Table, scenario_label
from crossings.report.sections.connectivity import current_maps
from crossings.security import ContentType

JOB = "omniscape"

SCENARIO_ORDER = ("no_fence", "fence_closed", "fence_mitigated")

#: Map kinds: file stem, caption with the scenario, caption of an INI run.
KINDS = (
    ("cum_currmap", N_("Cumulative current, %(scenario)s"), N_("Cumulative current")),
    (
        "normalized_cum_currmap",
        N_("Normalised current (cumulative over flow potential), %(scenario)s"),
        N_("Normalised current (cumulative over flow potential)"),
    ),
)
FLOW_POTENTIAL = N_("Flow potential (current with a resistance of 1 everywhere)")

DIFFERENCES = (
    (
        "cum_currmap_difference_no_fence_minus_fence_closed",
        N_("Current the closed fence takes away (no fence minus fence closed)"),
    ),
    (
        "cum_currmap_difference_fence_mitigated_minus_fence_closed",
        N_("Current the openings give back (with openings minus fence closed)"),
    ),
)

#: Failed windows listed (the CSV holds them all).
FAILED_SHOWN = 20


def _raster(run, stem: str) -> Path | None:
    return run.find(f"{stem}.tif") or run.find(f"{stem}.asc")


def build(run, ctx) -> Section:
    section = Section(
        JOB,
        _("Omnidirectional connectivity (Omniscape)"),
        _(
            "Where does movement flow across the whole landscape, from every source to every "
            "other within the radius, and what does the fence change?"
        ),
    )
    _key_figures(section, run)
    scenarios = [s for s in SCENARIO_ORDER if _raster(run, f"cum_currmap_{s}")]
    maps = _scenario_maps(run, scenarios) if scenarios else _ini_maps(run)
    if scenarios:
        _kept(section, run, scenarios)
    averaged = current_maps(section, ctx, maps)
    if averaged:
        decision = ctx.ledger.decide(ContentType.FENCE_LINE)
        subject = N_("Omniscape current maps (averaged over coarser cells)")
        ctx.ledger.record(decision, subject, averaged)
    _failed(section, run)
    section.assumptions.append(
        _(
            "Sources and resistance are model inputs; the current is a relative index of how "
            "likely movement is, not a count of animals."
        )
    )
    section.methods = _methods(section, run, scenarios)
    return section


def _scenario_maps(run, scenarios) -> list[tuple[Path, str, bool]]:
    maps = []
    for stem, caption, _ini in KINDS:
        for scenario in scenarios:
            path = _raster(run, f"{stem}_{scenario}")
            if path is not None:
                maps.append((path, _(caption) % {"scenario": scenario_label(scenario)}, False))
    for stem, caption in DIFFERENCES:
        path = _raster(run, stem)
        if path is not None:
            maps.append((path, _(caption), True))
    return maps


def _ini_maps(run) -> list[tuple[Path, str, bool]]:
    maps = []
    for stem, _caption, caption in KINDS:
        path = _raster(run, stem)
        if path is not None:
            maps.append((path, _(caption), False))
    flow = _raster(run, "flow_potential")
    if flow is not None:
        maps.append((flow, _(FLOW_POTENTIAL), False))
    return maps


def _total(path: Path) -> float:
    from crossings.io.raster import read_raster

    _grid, values = read_raster(path, allow_missing_crs=True)
    return float(np.nansum(values))


def _kept(section: Section, run, scenarios) -> None:
    """Total current of each fenced scenario as a share of the no-fence total."""
    if "no_fence" not in scenarios:
        return
    reference = _total(_raster(run, "cum_currmap_no_fence"))
    if not reference > 0:
        return
    for scenario in scenarios:
        if scenario == "no_fence":
            continue
        share = 100 * _total(_raster(run, f"cum_currmap_{scenario}")) / reference
        section.key_figures.append(
            (
                _("Total current kept, %(scenario)s") % {"scenario": scenario_label(scenario)},
                i18n.percent(share, 1),
            )
        )


def _windows(figures: dict) -> tuple[int | None, int, bool]:
    """Windows solved, windows failed, and whether the count is per scenario.

    An INI run records ``windows`` and ``failed_windows`` (a number); the native job
    ``windows_per_scenario`` and ``failed_windows`` per scenario.
    """
    per_scenario = "windows_per_scenario" in figures
    windows = figures.get("windows_per_scenario", figures.get("windows"))
    failed = figures.get("failed_windows", 0) or 0
    if isinstance(failed, dict):
        failed = sum(int(v or 0) for v in failed.values())
    return (int(windows) if isinstance(windows, (int, float)) else None), int(failed), per_scenario


def _key_figures(section: Section, run) -> None:
    windows, failed, per_scenario = _windows(run.manifest.get("figures", {}))
    if windows is not None:
        label = (
            _("Moving windows solved per scenario") if per_scenario else _("Moving windows solved")
        )
        section.key_figures.append(
            (
                label,
                i18n.ngettext(
                    "%(num)s window, %(failed)s failed",
                    "%(num)s windows, %(failed)s failed",
                    windows,
                )
                % {"num": i18n.number(windows), "failed": i18n.number(failed)},
            )
        )
    settings = _settings(run)
    if settings.get("radius") is not None:
        section.key_figures.append(
            (
                _("Window radius and block size"),
                _("%(radius)s cells, blocks of %(block)s cells")
                % {"radius": settings["radius"], "block": settings.get("block_size", "–")},
            )
        )


def _settings(run) -> dict:
    """Radius (cells), block size and solver: the manifest's figures first (they are adjusted)."""
    figures = run.manifest.get("figures", {})
    config = run.config
    merged = {**config, **figures}
    return {
        "radius": merged.get("radius_cells", merged.get("radius")),
        "block_size": merged.get("block_size"),
        "solver": merged.get("solver"),
    }


def _failed(section: Section, run) -> None:
    path = run.find("failed_windows.csv")
    if path is None:
        return
    rows = run.read_csv(path)
    if not rows:
        return
    columns = (
        Column("row", _("Row"), "integer"),
        Column("col", _("Column"), "integer"),
        Column("reason", _("Reason")),
    )
    if "scenario" in rows[0]:  # the native job: one list for all its scenarios
        columns = (Column("scenario", _("Fence scenario")), *columns)
    shown = tuple(
        tuple(
            scenario_label(r[c.key]) if c.key == "scenario" else r.get(c.key, "") for c in columns
        )
        for r in rows
    )
    section.blocks.append(
        Table(
            _("Windows that failed (they add no current; the rest of the map is complete)"),
            columns,
            shown[:FAILED_SHOWN],
            run.relative(path),
            note=_("%(shown)s of %(num)s shown; the CSV lists them all.")
            % {"shown": i18n.number(min(len(rows), FAILED_SHOWN)), "num": i18n.number(len(rows))},
            per_row=len(rows) <= FAILED_SHOWN,
        )
    )


def _methods(section: Section, run, scenarios) -> dict[str, list[str]]:
    settings = _settings(run)
    model = [
        _(
            "Omniscape (McRae et al. 2016; Landau et al. 2021): a circuit is solved in a moving "
            "window around each block of source cells, and the currents are summed; the "
            "normalised current divides by the flow potential (the same with a resistance of 1)."
        )
    ]
    if settings.get("radius") is not None:
        model.append(
            _("Radius %(radius)s cells, block size %(block)s, solver %(solver)s.")
            % {
                "radius": settings["radius"],
                "block": settings.get("block_size", "–"),
                "solver": settings.get("solver") or "–",
            }
        )
    return {
        "overview": [section.question],
        "data": [_("Resistance and source strength as recorded in the manifest's inputs.")],
        "model": model,
        "assessment": [
            _("Windows that failed to solve are listed in failed_windows.csv and add no current.")
        ],
        "prediction": [
            _("Scenarios: %(scenarios)s.")
            % {"scenarios": ", ".join(scenario_label(s) for s in scenarios)}
        ]
        if scenarios
        else [],
    }
