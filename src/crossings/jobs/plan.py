"""The plan job: fence openings from a TOML config: read inputs, run the planner, write outputs.

``crossings plan CONFIG.toml`` and ``crossings run CONFIG.toml`` (with ``job = "plan"``) read
the config into :class:`Config` and call :func:`run`.

The computation lives in :mod:`crossings.core.planning`; this module reads the landscape, focal
areas, candidates, veto and patrol layers (reprojected to the grid CRS), and writes
``openings.csv``, ``openings.gpkg``, ``candidates.csv``, ``rejected.csv``, ``pareto.csv``,
``pareto.png``, ``current_before.png``, ``current_after.png``, ``run.toml`` and
``manifest.json`` (every file atomically).

Exact opening coordinates are sensitive (DESIGN.md): every table carries a ``sensitivity``
column set to ``confidential``.
"""

from __future__ import annotations

import dataclasses
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import shapely

from crossings.config import to_mapping
from crossings.core import planning as core
from crossings.core.solve import Solver, SPDSolver
from crossings.errors import ConfigError, InputFileError
from crossings.io.atomic import atomic_path, write_text_atomic
from crossings.jobs.base import (
    Progress,
    RunRecord,
    check_config,
    config_from_mapping,
    read_toml,
    report_progress,
)

__all__ = [
    "NAME",
    "Config",
    "run",
    "LandscapeSection",
    "ObjectiveSection",
    "CandidatesSection",
    "SectorSection",
    "ConstraintsSection",
    "SelectionSection",
    "PlanReport",
    "load_config",
    "default_opening_types",
    "read_opening_types",
    "plan_landscape",
    "write_outputs",
    "demo_step",
]

NAME = "plan"
SENSITIVITY = "confidential"
SENSITIVITY_REASON = "exact coordinates of proposed fence openings"


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LandscapeSection:
    """Where the landscape comes from (paths relative to the config file)."""

    demo: bool = False
    mitigation: bool = False
    resistance: Path | None = None
    fences: Path | None = None
    fences_layer: str | None = None
    openings: Path | None = None
    openings_layer: str | None = None
    connect_four: bool = False


@dataclass(frozen=True)
class ObjectiveSection:
    """The objective and its focal areas (a polygon layer with an id column)."""

    kind: core.ObjectiveKind = core.ObjectiveKind.CONDUCTANCE
    focal_areas: Path | None = None
    focal_layer: str | None = None
    id_column: str = "name"
    side_a: tuple[str, ...] = ()
    side_b: tuple[str, ...] = ()
    buffer: float = 5000.0


@dataclass(frozen=True)
class CandidatesSection:
    """Candidate sites: every ``spacing`` metres along fences, or a user file of points."""

    spacing: float = 1000.0
    fence_ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ("lower_strands_removed",)
    file: Path | None = None
    layer: str | None = None
    id_column: str = "candidate_id"
    type_column: str = "type"
    snap_tolerance: float | None = None


#: A ``[[constraints.sectors]]`` table is read straight into the planner's own sector: a
#: stretch of a fence with its own quota and allowed types (metres along the fence).
SectorSection = core.Sector


@dataclass(frozen=True)
class ConstraintsSection:
    """Security constraints set by border agencies."""

    max_openings: int = 10
    min_spacing: float = 0.0
    budget: float | None = None
    max_per_border: dict[str, int] = field(default_factory=dict)
    sectors: tuple[SectorSection, ...] = ()
    veto: Path | None = None
    veto_layer: str | None = None
    veto_buffer: float = 0.0
    veto_name_column: str = "name"
    patrol: Path | None = None
    patrol_layer: str | None = None
    patrol_distance: float | None = None


@dataclass(frozen=True)
class SelectionSection:
    """How to choose: ``greedy``, ``exact`` (small problems) or ``both``."""

    method: str = "greedy"
    exact_max_candidates: int = 20
    solver: Solver = Solver.AUTO


@dataclass(frozen=True)
class Config:
    """The whole plan config (``source`` is the file it came from, named in errors).

    Examples
    --------
    >>> cfg = Config.from_mapping({"landscape": {"demo": True},
    ...                            "selection": {"method": "both"}}, source="plan.toml")
    >>> cfg.selection.method, cfg.source
    ('both', 'plan.toml')
    >>> Config.from_mapping(cfg.to_mapping()) == cfg
    True
    """

    landscape: LandscapeSection = field(default_factory=LandscapeSection)
    objective: ObjectiveSection = field(default_factory=ObjectiveSection)
    candidates: CandidatesSection = field(default_factory=CandidatesSection)
    constraints: ConstraintsSection = field(default_factory=ConstraintsSection)
    selection: SelectionSection = field(default_factory=SelectionSection)
    opening_types: Path | None = None
    source: str | None = field(default=None, compare=False)

    @classmethod
    def from_mapping(cls, data, *, source=None, base_dir=None) -> Config:
        """Strictly from a TOML table (unknown keys are errors); paths relative to ``base_dir``."""
        where = None if source is None else str(source)
        if "source" in data:
            raise ConfigError("unknown key.", source=where, field="source")
        config = config_from_mapping(cls, NAME, data, source=source, base_dir=base_dir)
        if config.selection.method not in METHODS:
            raise ConfigError(
                f"must be one of {', '.join(METHODS)}; got {config.selection.method!r}",
                source=where,
                field="selection.method",
            )
        return dataclasses.replace(config, source=where)

    def to_mapping(self) -> dict:
        data = to_mapping(self)
        data.pop("source", None)
        return data


METHODS = ("greedy", "exact", "both")


def load_config(path: str | Path) -> Config:
    """Parse a plan TOML into :class:`Config`; relative paths are resolved against it."""
    path = Path(path)
    data = read_toml(path, what="a plan config")
    return Config.from_mapping(data, source=path, base_dir=path.parent)


def default_opening_types() -> dict[str, core.OpeningType]:
    """The bundled opening types table (``crossings/data/plan/opening_types.toml``)."""
    text = (resources.files("crossings") / "data" / "plan" / "opening_types.toml").read_text()
    return core.opening_types_from_mapping(tomllib.loads(text), source="opening_types.toml")


def read_opening_types(path: str | Path | None) -> dict[str, core.OpeningType]:
    """An opening types table from a TOML file, or the bundled default when ``path`` is None."""
    if path is None:
        return default_opening_types()
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "does not exist", "Give the opening types TOML or omit it")
    return core.opening_types_from_mapping(tomllib.loads(path.read_text()), source=str(path))


# --------------------------------------------------------------------------------------------
# Reading inputs
# --------------------------------------------------------------------------------------------
def _read_landscape(section: LandscapeSection, source: str):
    from crossings.landscape import load_demo, load_landscape

    if section.demo:
        return load_demo(mitigation=section.mitigation)
    if section.resistance is None:
        raise ConfigError(
            "give a resistance raster, or set demo = true",
            source=source,
            field="landscape.resistance",
        )
    if section.fences is None:
        raise ConfigError(
            "the planner needs fences: give a fence layer", source=source, field="landscape.fences"
        )
    return load_landscape(
        section.resistance,
        section.fences,
        fences_layer=section.fences_layer,
        openings_path=section.openings,
        openings_layer=section.openings_layer,
    )


def _focal_rasters(landscape, section: ObjectiveSection, source: str):
    """``(regions_a, regions_b)`` rasters of the two sides (0 outside, 1..n region ids)."""
    from crossings.io.vector import read_vector

    if section.kind is core.ObjectiveKind.FENCE_CURRENT:
        valid = np.isfinite(landscape.resistance)
        return core.fence_side_regions(
            landscape.grid, valid, landscape.fences, buffer=section.buffer
        )
    if section.focal_areas is None:
        frame = _demo_focal_layer(landscape)
        where = "landscape ranges + protected areas"
    else:
        frame = read_vector(
            section.focal_areas, layer=section.focal_layer, target_crs=landscape.grid.crs
        )
        where = str(section.focal_areas)
    if section.id_column not in frame.columns:
        raise ConfigError(
            f"no column {section.id_column!r} in the focal areas "
            f"({', '.join(map(str, frame.columns))})",
            source=where,
            field="objective.id_column",
        )
    names = [str(v) for v in frame[section.id_column]]
    rasters = []
    for side, wanted in (("side_a", section.side_a), ("side_b", section.side_b)):
        if not wanted:
            raise ConfigError(
                f"list the focal areas of {side}", source=source, field=f"objective.{side}"
            )
        regions = np.zeros(landscape.grid.shape, dtype=np.int64)
        for rid, name in enumerate(wanted, start=1):
            if name not in names:
                from crossings.errors import did_you_mean

                raise ConfigError(
                    f"no focal area named {name!r} in {where}.{did_you_mean(name, names)}",
                    source=source,
                    field=f"objective.{side}",
                )
            burnt = landscape.rasterize(frame[frame[section.id_column].astype(str) == name])
            regions[burnt > 0] = rid
        rasters.append(regions)
    return tuple(rasters)


def _demo_focal_layer(landscape):
    import pandas as pd

    frames = [
        landscape.ranges[["name", "geometry"]],
        landscape.protected_areas[["name", "geometry"]],
    ]
    return pd.concat(frames, ignore_index=True).set_crs(landscape.grid.crs, allow_override=True)


def _read_candidates(landscape, section: CandidatesSection, types, source: str):
    from crossings.io.vector import read_vector

    if section.file is None:
        unknown = [t for t in section.types if t not in types]
        if unknown or not section.types:
            raise ConfigError(
                f"unknown opening type(s) {unknown}; the types table defines {sorted(types)}",
                source=source,
                field="candidates.types",
            )
        chosen = [types[t] for t in section.types]
        cands = core.candidates_along_fences(
            landscape.fences, chosen, spacing=section.spacing, fence_ids=section.fence_ids or None
        )
        return cands, ()
    frame = read_vector(section.file, layer=section.layer, target_crs=landscape.grid.crs)
    for column in (section.id_column, section.type_column):
        if column not in frame.columns:
            raise ConfigError(
                f"the candidates layer has no column {column!r} "
                f"({', '.join(map(str, frame.columns))})",
                source=str(section.file),
                field=column,
            )
    points = [
        (str(cid), float(g.x), float(g.y), str(kind))
        for cid, kind, g in zip(
            frame[section.id_column], frame[section.type_column], frame.geometry, strict=True
        )
    ]
    tolerance = section.snap_tolerance or landscape.grid.cell_size
    return core.snap_candidates(
        points, landscape.fences, types, tolerance=tolerance, source=str(section.file)
    )


def _read_constraints(landscape, section: ConstraintsSection, source: str) -> core.Constraints:
    from crossings.io.vector import read_vector

    crs = landscape.grid.crs
    vetoes = ()
    if section.veto is not None:
        frame = read_vector(section.veto, layer=section.veto_layer, target_crs=crs)
        names = (
            frame[section.veto_name_column]
            if section.veto_name_column in frame.columns
            else frame.index
        )
        vetoes = tuple(
            core.VetoZone(str(n), g, section.veto_buffer)
            for n, g in zip(names, frame.geometry, strict=True)
            if g is not None
        )
    patrol = None
    if section.patrol is not None:
        if section.patrol_distance is None:
            raise ConfigError(
                "a patrol layer needs patrol_distance (metres)",
                source=source,
                field="constraints.patrol_distance",
            )
        frame = read_vector(section.patrol, layer=section.patrol_layer, target_crs=crs)
        patrol = shapely.union_all(frame.geometry.values)
    sectors = tuple(section.sectors)
    _check_limits(section, source)
    return core.Constraints(
        max_openings=section.max_openings,
        min_spacing=section.min_spacing,
        budget=section.budget,
        max_per_border=dict(section.max_per_border),
        sectors=sectors,
        veto_zones=vetoes,
        patrol=patrol,
        patrol_distance=section.patrol_distance,
    )


def _check_limits(section: ConstraintsSection, source: str) -> None:
    """Counts, distances and the budget must be >= 0; border quotas whole numbers."""
    for name in ("max_openings", "min_spacing", "budget", "veto_buffer", "patrol_distance"):
        value = getattr(section, name)
        if value is not None and not value >= 0:
            raise ConfigError(
                f"must be >= 0; got {value}", source=source, field=f"constraints.{name}"
            )
    for pair, limit in section.max_per_border.items():
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ConfigError(
                f"the quota of border {pair!r} must be a whole number >= 0; got {limit!r}",
                source=source,
                field="constraints.max_per_border",
            )


# --------------------------------------------------------------------------------------------
# Planning on a landscape
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanReport:
    """Everything a plan run produced (before writing)."""

    candidates: tuple[core.Candidate, ...]
    plans: tuple[core.PlanResult, ...]
    rejected: tuple[core.Rejection, ...]
    value_no_fence: float
    value_before: float
    single_gains: np.ndarray
    single_first_order: np.ndarray
    pareto: list
    figures: dict


def plan_landscape(
    landscape,
    objective: core.Objective,
    candidates: Sequence[core.Candidate],
    constraints: core.Constraints,
    *,
    method: str = "greedy",
    exact_max_candidates: int = 20,
    connect_four: bool = False,
    solver: Solver = Solver.AUTO,
    pre_rejected: Sequence[core.Rejection] = (),
    progress: Callable[[int, int], None] | None = None,
) -> PlanReport:
    """Run the planner on a landscape (fences and existing openings as in ``landscape``)."""
    from crossings.core.barriers import apply_fences, fence_edge_cuts

    started = time.perf_counter()
    if objective.kind is not core.ObjectiveKind.FENCE_CURRENT:
        core.check_focal_sides(landscape.grid, objective, landscape.fences)
    free = landscape.graph(connect_four=connect_four)
    cuts = fence_edge_cuts(landscape.grid, landscape.fences, connect_four=connect_four)
    base = apply_fences(free, landscape.fences, landscape.openings, cuts=cuts)
    model = core.FenceEdgeModel(free, landscape.fences, candidates, landscape.openings, cuts=cuts)
    evaluator = core.PlanEvaluator(base, objective, model, solver=solver)
    setup = time.perf_counter() - started
    no_fence = core.objective_value(free, objective, solver=solver)
    allowed, _ = core.screen_candidates(candidates, constraints)
    single = np.zeros(len(candidates))
    first = np.zeros(len(candidates))
    single[allowed] = evaluator.gains((), allowed)
    first[allowed] = evaluator.first_order((), allowed)
    plans = []
    if method in ("greedy", "both"):
        plans.append(core.greedy_plan(evaluator, candidates, constraints, progress=progress))
    if method in ("exact", "both"):
        plans.append(
            core.exact_plan(evaluator, candidates, constraints, max_candidates=exact_max_candidates)
        )
    extra = [core.greedy_plan(evaluator, candidates, constraints, rank_by_cost=True)]
    pareto = core.pareto_front(evaluator, candidates, plans + extra)
    info = evaluator.solve_info
    figures = {
        "candidates": len(candidates),
        "allowed": len(allowed),
        "connect_four": connect_four,
        "edges_touched": int(len(model.edges)),
        "setup_seconds": round(setup, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "solver": info.solver if info else "",
        "solves": info.n_rhs if info else 0,
        "max_residual": info.max_residual if info else 0.0,
    }
    rejected = tuple(pre_rejected) + plans[0].rejected
    return PlanReport(
        tuple(candidates),
        tuple(plans),
        rejected,
        no_fence,
        evaluator.value(()),
        single,
        first,
        pareto,
        figures,
    )


def run(config: Config, out_dir: str | Path, progress: Progress | None = None) -> RunRecord:
    """Read the inputs, plan, write the tables, maps and manifest into ``out_dir``."""
    from crossings.io.runlog import RunLog

    check_config(config, Config, NAME)
    source = config.source or "plan config"
    report_progress(progress, "reading inputs", 0, None)
    landscape = _read_landscape(config.landscape, source)
    types = read_opening_types(config.opening_types)
    regions_a, regions_b = _focal_rasters(landscape, config.objective, source)
    objective = core.Objective(config.objective.kind, regions_a, regions_b)
    candidates, off_fence = _read_candidates(landscape, config.candidates, types, source)
    constraints = _read_constraints(landscape, config.constraints, source)
    report = plan_landscape(
        landscape,
        objective,
        candidates,
        constraints,
        method=config.selection.method,
        exact_max_candidates=config.selection.exact_max_candidates,
        connect_four=config.landscape.connect_four,
        solver=config.selection.solver,
        pre_rejected=off_fence,
        progress=lambda done, total: report_progress(progress, "planning", done, total),
    )
    log = RunLog(
        out_dir,
        command="crossings plan" + (f" {config.source}" if config.source else ""),
        config=config.to_mapping(),
        sensitivity=SENSITIVITY,
        sensitivity_reason=SENSITIVITY_REASON,
        job=NAME,
    )
    inputs = [Path(config.source)] if config.source and Path(config.source).is_file() else []
    log.add_inputs(inputs + [p for p in _input_paths(config) if p is not None])
    report_progress(progress, "writing", 1, 1)
    log.add_outputs(write_outputs(report, landscape, objective, Path(out_dir)))
    log.add_figures(**report.figures, **summary_figures(report))
    return log.finish_record()


def summary_figures(report: PlanReport) -> dict:
    """What a reader of the run wants first: each method's openings, cost and % kept."""
    percent = 100.0 / report.value_no_fence if report.value_no_fence > 0 else float("nan")
    plans = [
        {
            "method": plan.method,
            "openings": len(plan.steps),
            "security_cost": sum(report.candidates[c].security_cost for c in plan.chosen),
            "percent_of_no_fence": plan.value * percent,
            "message": plan.message,
        }
        for plan in report.plans
    ]
    return {
        "percent_before": report.value_before * percent,
        "plans": plans,
        "rejected": len(report.rejected),
    }


def _input_paths(config: Config):
    yield config.landscape.resistance
    yield config.landscape.fences
    yield config.landscape.openings
    yield config.objective.focal_areas
    yield config.candidates.file
    yield config.constraints.veto
    yield config.constraints.patrol
    yield config.opening_types


# --------------------------------------------------------------------------------------------
# Writing outputs
# --------------------------------------------------------------------------------------------
def _plan_rows(report: PlanReport, plan: core.PlanResult, crs: str) -> list[dict]:
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lost = report.value_no_fence - report.value_before  # what the fence took away
    rows = []
    for step in plan.steps:
        c = report.candidates[step.candidate]
        lon, lat = to_lonlat.transform(c.x, c.y)
        rows.append(
            {
                "method": plan.method,
                "rank": step.rank,
                "candidate_id": c.candidate_id,
                "fence_id": c.fence_id,
                "x": round(c.x, 1),
                "y": round(c.y, 1),
                "lon": round(lon, 6),
                "lat": round(lat, 6),
                "country_pair": c.country_pair,
                "type": c.kind,
                "gain": step.gain,
                "cumulative_gain": step.cumulative,
                "percent_of_no_fence": 100.0 * step.value / report.value_no_fence
                if report.value_no_fence > 0
                else float("nan"),
                "percent_of_loss_restored": 100.0 * step.cumulative / lost
                if lost > 0
                else float("nan"),
                "first_order_estimate": step.first_order,
                "security_cost": c.security_cost,
                "sensitivity": SENSITIVITY,
            }
        )
    return rows


def _write_csv(path: Path, rows: list[dict], columns: Sequence[str]) -> Path:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in columns})
    return write_text_atomic(path, buffer.getvalue())


PLAN_COLUMNS = (
    "method",
    "rank",
    "candidate_id",
    "fence_id",
    "x",
    "y",
    "lon",
    "lat",
    "country_pair",
    "type",
    "gain",
    "cumulative_gain",
    "percent_of_no_fence",
    "percent_of_loss_restored",
    "first_order_estimate",
    "security_cost",
    "sensitivity",
)


def write_outputs(
    report: PlanReport, landscape, objective: core.Objective, out_dir: Path
) -> list[Path]:
    """Write every table and figure of a plan into ``out_dir``; return the paths."""
    import geopandas as gpd

    from crossings.io.vector import write_gpkg

    out_dir.mkdir(parents=True, exist_ok=True)
    crs = landscape.grid.crs
    rows = [r for plan in report.plans for r in _plan_rows(report, plan, crs)]
    written = [_write_csv(out_dir / "openings.csv", rows, PLAN_COLUMNS)]
    frame = gpd.GeoDataFrame(
        rows if rows else {k: [] for k in PLAN_COLUMNS},
        geometry=shapely.points([r["x"] for r in rows], [r["y"] for r in rows]) if rows else [],
        crs=crs,
    )
    written.append(write_gpkg(out_dir / "openings.gpkg", {"openings": frame}))
    written.append(
        _write_csv(
            out_dir / "rejected.csv",
            [dataclasses.asdict(r) for r in report.rejected],
            ("candidate_id", "rule", "detail"),
        )
    )
    written.append(_write_candidates(report, out_dir / "candidates.csv"))
    written += _write_pareto(report, out_dir)
    written += _write_current_maps(report, landscape, objective, out_dir)
    messages = [p.message for p in report.plans if p.message]
    if messages:
        written.append(write_text_atomic(out_dir / "messages.txt", "\n".join(messages) + "\n"))
    return written


def _write_candidates(report: PlanReport, path: Path) -> Path:
    rows = [
        {
            "candidate_id": c.candidate_id,
            "fence_id": c.fence_id,
            "position_m": round(c.position, 1),
            "x": round(c.x, 1),
            "y": round(c.y, 1),
            "type": c.kind,
            "security_cost": c.security_cost,
            "exact_gain_alone": report.single_gains[k],
            "first_order_estimate": report.single_first_order[k],
            "sensitivity": SENSITIVITY,
        }
        for k, c in enumerate(report.candidates)
    ]
    columns = (
        "candidate_id",
        "fence_id",
        "position_m",
        "x",
        "y",
        "type",
        "security_cost",
        "exact_gain_alone",
        "first_order_estimate",
        "sensitivity",
    )
    return _write_csv(path, rows, columns)


def _write_pareto(report: PlanReport, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = 100.0 / report.value_no_fence if report.value_no_fence > 0 else 1.0
    rows = [
        {
            "security_cost": cost,
            "value": value,
            "percent_of_no_fence": value * scale,
            "openings": len(chosen),
            "method": method,
            "candidate_ids": " ".join(report.candidates[c].candidate_id for c in chosen),
        }
        for cost, value, method, chosen in report.pareto
    ]
    csv_path = _write_csv(
        out_dir / "pareto.csv",
        rows,
        ("security_cost", "value", "percent_of_no_fence", "openings", "method", "candidate_ids"),
    )
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.step(
        [r["security_cost"] for r in rows],
        [r["percent_of_no_fence"] for r in rows],
        where="post",
        marker="o",
    )
    ax.set_xlabel("total security cost")
    ax.set_ylabel("connectivity, % of the no-fence value")
    ax.set_title("Pareto front: connectivity restored vs security cost")
    ax.grid(alpha=0.3)
    png = out_dir / "pareto.png"
    with atomic_path(png) as tmp:
        fig.savefig(tmp, bbox_inches="tight")
    plt.close(fig)
    return [csv_path, png]


def current_map(graph, objective: core.Objective, *, solver: Solver = Solver.AUTO) -> np.ndarray:
    """Current per cell with side a at 1 V and side b at 0 V (NaN: NoData or unreached).

    A cell's current is half the sum of the absolute currents of its edges (inflow = outflow).
    """
    import scipy.sparse as sp

    a = (objective.regions_a > 0)[graph.valid]
    b = (objective.regions_b > 0)[graph.valid]
    laplacian = graph.laplacian()
    from crossings.core.solve import connected_components

    _n, labels = connected_components(laplacian)
    anchored = np.isin(labels, np.unique(labels[a | b]))
    free = np.flatnonzero(~a & ~b & anchored)
    v = np.full(laplacian.shape[0], np.nan)
    v[a], v[b] = 1.0, 0.0
    if len(free):
        k = laplacian[free][:, free]
        rhs = -np.asarray(laplacian[free][:, np.flatnonzero(a)] @ np.ones(int(a.sum()))).ravel()
        v[free] = SPDSolver(sp.csr_matrix(k), solver=solver).solve(rhs)
    i, j, w = graph.edges()
    flow = np.nan_to_num(np.abs(w * (v[i] - v[j])))
    node = 0.5 * (np.bincount(i, flow, len(v)) + np.bincount(j, flow, len(v)))
    node[np.isnan(v)] = np.nan
    out = np.full(graph.grid.shape, np.nan)
    out[graph.valid] = node
    return out


def _write_current_maps(report: PlanReport, landscape, objective, out_dir: Path) -> list[Path]:
    from crossings.core.barriers import apply_fences
    from crossings.report.maps import plot_landscape

    free = landscape.graph(connect_four=bool(report.figures.get("connect_four", False)))
    before = apply_fences(free, landscape.fences, landscape.openings)
    plan = report.plans[0]
    chosen = tuple(report.candidates[c].opening() for c in plan.chosen)
    after = apply_fences(free, landscape.fences, landscape.openings + chosen)
    written = []
    for name, graph, shown in (("before", before, ()), ("after", after, chosen)):
        title = f"Current {name} the plan" + (f" ({len(chosen)} openings)" if shown else "")
        written.append(
            plot_landscape(
                landscape,
                out_dir / f"current_{name}.png",
                raster=current_map(graph, objective),
                cmap="magma",
                log_scale=True,
                raster_label="current (A, 1 V between the two focal sides; log scale)",
                title=title + ("\nCONFIDENTIAL: exact opening locations" if shown else ""),
                show_openings=False,
                highlight=shown,
                highlight_label=f"Chosen openings ({len(shown)}, confidential)",
            )
        )
    return written


# --------------------------------------------------------------------------------------------
# Demo step (crossings demo)
# --------------------------------------------------------------------------------------------
#: Illustrative security setting of the demo (NOT an agency's real rules).
DEMO_SETTING = {
    "types": ("lower_strands_removed", "seasonal_gate", "full_gap"),
    "spacing": 1000.0,
    "min_spacing": 5000.0,
    "budget": 200.0,
    "post_fractions": (0.2, 0.5, 0.8),
    "post_buffer": 5000.0,
}


def demo_step(landscape, out_dir: Path) -> list[str]:
    """Ustyurt demo: the 1-km lower-strand scheme versus the best 5, 10 and 20 openings.

    Objective: effective conductance between the illustrative saiga summer range (north, in
    Kazakhstan) and winter range (south, in Uzbekistan), each short-circuited. Security setting
    (illustrative): three vetoed "border post" zones with 5 km buffers on the longest fence,
    5 km minimum spacing, a budget of 200 cost units, at most 20 openings. Writes the plan into
    ``out_dir/plan``; returns summary lines.
    """
    from crossings.core.barriers import apply_fences
    from crossings.landscape import load_demo

    out = Path(out_dir) / "plan"
    scheme = landscape.openings or load_demo(mitigation=True).openings
    closed = landscape.without_openings()
    seasons = [str(s) for s in closed.ranges["season"]]
    summer = closed.rasterize(closed.ranges[[s == "summer" for s in seasons]])
    winter = closed.rasterize(closed.ranges[[s == "winter" for s in seasons]])
    objective = core.Objective(core.ObjectiveKind.CONDUCTANCE, summer, winter)
    types = default_opening_types()
    candidates = core.candidates_along_fences(
        closed.fences, [types[t] for t in DEMO_SETTING["types"]], spacing=DEMO_SETTING["spacing"]
    )
    constraints = core.Constraints(
        max_openings=20,
        min_spacing=DEMO_SETTING["min_spacing"],
        budget=DEMO_SETTING["budget"],
        veto_zones=_demo_posts(closed.fences),
    )
    report = plan_landscape(closed, objective, candidates, constraints)
    written = write_outputs(report, closed, objective, out)
    scheme_value = core.objective_value(
        apply_fences(closed.graph(), closed.fences, scheme), objective
    )
    plan = report.plans[0]
    percent = 100.0 / report.value_no_fence

    def at(k: int) -> str:
        if len(plan.steps) < k:
            return "n/a"
        cost = sum(report.candidates[c].security_cost for c in plan.chosen[:k])
        return f"{plan.steps[k - 1].value * percent:.1f}% (cost {cost:g})"

    from crossings.io.runlog import RunLog

    log = RunLog(
        out,
        command="crossings demo (planner step)",
        config={"demo_setting": DEMO_SETTING},
        sensitivity=SENSITIVITY,
        sensitivity_reason=SENSITIVITY_REASON,
        job=NAME,
    )
    log.add_outputs(written)
    log.add_figures(**report.figures, scheme_percent=scheme_value * percent)
    log.finish()
    notes = [f"  {plan.message}"] if plan.message else []
    return [
        "Planner (saiga summer -> winter range, illustrative security setting):",
        (
            f"  fence closed: {report.value_before * percent:.1f}% of the no-fence connectivity; "
            f"1-km lower-strand scheme ({len(scheme)} openings): {scheme_value * percent:.1f}%"
        ),
        (
            f"  best 5: {at(5)}, best 10: {at(10)}, best 20: {at(20)} "
            f"({len(candidates)} candidates, {report.figures['seconds']:.1f} s) -> {out}"
        ),
        *notes,
    ]


def _demo_posts(fences) -> tuple[core.VetoZone, ...]:
    """Illustrative border posts at fixed fractions of the longest fence (not real locations)."""
    longest = max(fences, key=lambda f: f.length)
    line = shapely.LineString(longest.coords)
    return tuple(
        core.VetoZone(
            f"illustrative post {k + 1}",
            line.interpolate(fraction, normalized=True),
            DEMO_SETTING["post_buffer"],
        )
        for k, fraction in enumerate(DEMO_SETTING["post_fractions"])
    )
