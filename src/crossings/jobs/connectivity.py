"""crossings-native connectivity: pairwise circuit theory on a landscape whose fences cut edges.

A run compares fence scenarios on the same landscape and focal areas:

- ``no_fence``: the resistance surface alone;
- ``fence_closed``: every fence cuts the edges it crosses (its permeability, no openings);
- ``fence_mitigated``: as ``fence_closed``, with the landscape's openings restoring the edges
  they overlap.

Each scenario gives the effective resistance between every pair of focal areas (each area is a
focal region: its cells are short-circuited for the pairs it takes part in, as in Circuitscape)
and a cumulative current map. Differences between scenarios show where a fence diverts or blocks
current. ``crossings connectivity run CONFIG.toml`` and ``crossings run CONFIG.toml`` (with
``job = "connectivity"``) read a TOML job into :class:`Config` and call :func:`run`.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crossings.config import to_mapping
from crossings.core.barriers import apply_fences
from crossings.core.circuit import FocalPoints, PairwiseResult, SolverOptions, pairwise
from crossings.core.graph import AveragingRule, ConductanceGraph
from crossings.core.solve import SolvePlan, Solver, plan_solves
from crossings.errors import ConfigError, PlanTooLargeError
from crossings.io.atomic import atomic_path
from crossings.io.raster import write_geotiff
from crossings.io.runlog import RunLog
from crossings.io.vector import read_vector
from crossings.jobs.base import (
    Progress,
    RunRecord,
    check_config,
    config_from_mapping,
    memory_limit,
    read_toml,
    report_progress,
)
from crossings.landscape import Landscape, load_landscape

__all__ = [
    "NAME",
    "Scenario",
    "Config",
    "ScenarioResult",
    "run",
    "load_config",
    "run_scenarios",
    "focal_areas",
    "write_outputs",
    "demo_step",
    "plan_run",
    "RunPlan",
]

NAME = "connectivity"
SENSITIVITY = "restricted"
SENSITIVITY_REASON = "maps show the fence alignment and where current crosses it"
_log = logging.getLogger(__name__)


class Scenario(enum.Enum):
    """Which fences and openings a scenario applies."""

    NO_FENCE = "no_fence"
    FENCE_CLOSED = "fence_closed"
    FENCE_MITIGATED = "fence_mitigated"


@dataclass(frozen=True)
class LandscapeFiles:
    """Input files of a landscape (vectors in another CRS are reprojected to the raster's)."""

    resistance: Path
    fences: Path | None = None
    fences_layer: str | None = None
    openings: Path | None = None
    openings_layer: str | None = None
    crs: str | None = None


@dataclass(frozen=True)
class FocalFiles:
    """Polygons of the focal areas (ranges, protected areas); one focal region per feature.

    ``id_column`` names a column whose distinct values become the region ids (features sharing a
    value are one region); ``name_column`` labels them in the outputs.
    """

    path: Path
    layer: str | None = None
    id_column: str | None = None
    name_column: str | None = "name"


@dataclass(frozen=True)
class Config:
    """A connectivity job: landscape files, focal areas, scenarios and solver.

    ``maps`` writes PNG maps beside the GeoTIFFs; ``max_memory_gb`` refuses runs estimated to
    need more (default: the memory available when the run starts). ``workers`` (a Dask
    LocalCluster) or ``scheduler`` (a Dask scheduler address) solve the pairs of focal areas as
    Dask tasks, with the serial run's results.

    Examples
    --------
    >>> cfg = Config.from_mapping({
    ...     "landscape": {"resistance": "r.tif"}, "focal": {"path": "areas.gpkg"},
    ...     "scenarios": ["no_fence", "fence_closed"], "solver": "cg_amg"}, base_dir="/data")
    >>> cfg.solver, cfg.scenarios[1], str(cfg.landscape.resistance)
    (<Solver.CG_AMG: 'cg_amg'>, <Scenario.FENCE_CLOSED: 'fence_closed'>, '/data/r.tif')
    >>> Config.from_mapping(cfg.to_mapping()) == cfg
    True
    """

    landscape: LandscapeFiles
    focal: FocalFiles
    scenarios: tuple[Scenario, ...] = (Scenario.FENCE_CLOSED, Scenario.NO_FENCE)
    connect_four: bool = False
    averaging: AveragingRule = AveragingRule.AVG_RESISTANCE
    solver: Solver = Solver.AUTO
    tolerance: float = 1e-8
    maps: bool = True
    max_memory_gb: float | None = None
    workers: int | None = None
    scheduler: str | None = None

    @classmethod
    def from_mapping(cls, data, *, source=None, base_dir=None) -> Config:
        """Strictly from a TOML table (unknown keys are errors); paths relative to ``base_dir``."""
        return config_from_mapping(cls, NAME, data, source=source, base_dir=base_dir)

    def to_mapping(self) -> dict:
        return to_mapping(self)


@dataclass(frozen=True)
class ScenarioResult:
    """Pairwise result of one scenario, with the focal-area names in id order."""

    scenario: Scenario
    names: tuple[str, ...]
    result: PairwiseResult

    @property
    def resistances(self) -> np.ndarray:
        return self.result.resistances

    @property
    def cumulative_current(self) -> np.ndarray:
        return self.result.cumulative_current


def scenario_graph(
    landscape: Landscape, scenario: Scenario, base: ConductanceGraph
) -> ConductanceGraph:
    """The graph of ``base`` with the fences (and openings) the scenario asks for."""
    if scenario is Scenario.NO_FENCE or not landscape.fences:
        return base
    openings = landscape.openings if scenario is Scenario.FENCE_MITIGATED else ()
    return apply_fences(base, landscape.fences, openings)


@dataclass(frozen=True)
class RunPlan:
    """What a connectivity run will cost before it runs (order-of-magnitude estimates).

    Every pair of focal regions is a separate solve on the landscape graph (regions are
    short-circuited per pair, so the factorisation cannot be shared between pairs).
    """

    n_cells: int
    n_areas: int
    n_pairs: int
    n_scenarios: int
    solve: SolvePlan

    @property
    def n_solves(self) -> int:
        return self.n_pairs * self.n_scenarios

    @property
    def memory_bytes(self) -> int:
        return self.solve.memory_bytes

    @property
    def seconds(self) -> float:
        return self.solve.seconds * self.n_solves

    def __str__(self) -> str:
        return (
            f"{self.n_cells:,} cells, {self.n_areas} focal areas, {self.n_pairs} pairs x "
            f"{self.n_scenarios} scenario(s) = {self.n_solves} solves with "
            f"{self.solve.solver.value}: about {self.memory_bytes / 2**20:,.0f} MiB and "
            f"{self.seconds:,.0f} s"
        )


def plan_run(
    landscape: Landscape,
    n_areas: int,
    n_scenarios: int,
    *,
    connect_four: bool = False,
    solver: Solver = Solver.AUTO,
) -> RunPlan:
    """Estimate solves, memory and time of a run before solving anything."""
    n_cells = int(np.isfinite(landscape.resistance).sum())
    neighbours = 4 if connect_four else 8
    n_pairs = n_areas * (n_areas - 1) // 2
    solve = plan_solves(n_cells, (neighbours + 1) * n_cells, 1, solver)
    return RunPlan(n_cells, n_areas, n_pairs, n_scenarios, solve)


def focal_areas(
    landscape: Landscape, areas, *, id_column: str | None = None, name_column: str | None = "name"
) -> tuple[FocalPoints, tuple[str, ...]]:
    """Burn focal polygons into focal regions and return them with their names (id order)."""
    id_grid = landscape.rasterize(areas, id_column)
    ids = np.unique(id_grid[id_grid > 0])
    if ids.size < 2:
        raise ConfigError(
            f"{ids.size} focal area(s) cover a grid cell; at least two are needed. Check that the "
            "polygons lie inside the resistance grid and are larger than one cell.",
            field="focal",
        )
    key = id_column or None
    if key is not None:
        labels = sorted(pd.unique(areas[key]).tolist())
    elif name_column and name_column in areas.columns:
        labels = list(areas[name_column])
    else:
        labels = [f"area {k}" for k in range(1, len(areas) + 1)]
    names = tuple(str(labels[int(i) - 1]) for i in ids)
    return FocalPoints.from_grid(np.where(landscape.graph().valid, id_grid, 0)), names


def run_scenarios(
    landscape: Landscape,
    focal: FocalPoints,
    names: Sequence[str],
    scenarios: Sequence[Scenario],
    *,
    connect_four: bool = False,
    averaging: AveragingRule = AveragingRule.AVG_RESISTANCE,
    options: SolverOptions | None = None,
    on_scenario: Callable[[Scenario], None] | None = None,
    executor=None,
) -> list[ScenarioResult]:
    """Pairwise effective resistances and cumulative current for each scenario.

    ``on_scenario`` is called with each scenario before it is solved (progress display); with
    an ``executor`` (:mod:`crossings.scale.executor`) the pairs are solved as its tasks.
    """
    options = options or SolverOptions()
    base = landscape.graph(connect_four=connect_four, rule=averaging)
    results = []
    for scenario in scenarios:
        if on_scenario is not None:
            on_scenario(scenario)
        graph = scenario_graph(landscape, scenario, base)
        result = pairwise(
            graph, focal, options=options, cumulative=True, nodata_focal="error", executor=executor
        )
        results.append(ScenarioResult(scenario, tuple(names), result))
    return results


def pair_table(results: Sequence[ScenarioResult]) -> pd.DataFrame:
    """One row per pair of focal areas: resistance per scenario and the change in conductance."""
    first = results[0]
    rows = []
    n = len(first.names)
    for a in range(n):
        for b in range(a + 1, n):
            row = {"area_a": first.names[a], "area_b": first.names[b]}
            for item in results:
                value = float(item.resistances[a, b])
                row[f"resistance_{item.scenario.value}"] = value
            rows.append(row)
    table = pd.DataFrame(rows)
    scen = [r.scenario for r in results]
    if Scenario.NO_FENCE in scen:
        reference = table[f"resistance_{Scenario.NO_FENCE.value}"]
        for item in results:
            if item.scenario is Scenario.NO_FENCE:
                continue
            resistance = table[f"resistance_{item.scenario.value}"]
            # Percent of the no-fence conductance (1/R) kept; -1 marks a disconnected pair.
            kept = np.where(resistance > 0, 100.0 * reference / resistance, 0.0)
            table[f"conductance_kept_pct_{item.scenario.value}"] = np.round(kept, 3)
    return table


def write_outputs(
    landscape: Landscape, results: Sequence[ScenarioResult], out_dir: Path, *, maps: bool = True
) -> list[Path]:
    """Write cumulative current maps (GeoTIFF + PNG), their differences and the pair table."""
    from crossings.report.maps import plot_landscape

    out_dir = Path(out_dir)
    written = []
    for item in results:
        name = item.scenario.value
        current = _masked(landscape, item.cumulative_current)
        written.append(write_geotiff(out_dir / f"cum_current_{name}.tif", landscape.grid, current))
        if maps:
            written.append(
                plot_landscape(
                    landscape if item.scenario is not Scenario.NO_FENCE else _no_fences(landscape),
                    out_dir / f"cum_current_{name}.png",
                    raster=current,
                    cmap="magma",
                    log_scale=True,
                    raster_label="cumulative current (A, log scale)",
                    title=f"Cumulative current between focal areas: {_label(item.scenario)}",
                    show_openings=item.scenario is Scenario.FENCE_MITIGATED,
                )
            )
    written += _write_differences(landscape, results, out_dir, maps)
    table = pair_table(results)
    with atomic_path(out_dir / "pairs.csv") as tmp:
        table.to_csv(tmp, index=False)
    written.append(out_dir / "pairs.csv")
    return written


def _write_differences(landscape, results, out_dir: Path, maps: bool) -> list[Path]:
    from crossings.report.maps import plot_landscape

    by_scenario = {r.scenario: r for r in results}
    closed = by_scenario.get(Scenario.FENCE_CLOSED)
    written = []
    for other in (Scenario.NO_FENCE, Scenario.FENCE_MITIGATED):
        if closed is None or other not in by_scenario:
            continue
        diff = _masked(landscape, by_scenario[other].cumulative_current - closed.cumulative_current)
        stem = f"cum_current_difference_{other.value}_minus_fence_closed"
        written.append(write_geotiff(out_dir / f"{stem}.tif", landscape.grid, diff))
        if maps:
            limit = float(np.nanpercentile(np.abs(diff), 99.5)) or 1.0
            written.append(
                plot_landscape(
                    landscape,
                    out_dir / f"{stem}.png",
                    raster=np.clip(diff, -limit, limit),
                    cmap="RdBu_r",
                    raster_label="change in cumulative current (A): red gains, blue loses",
                    title=f"Where current changes: {_label(other)} minus fence closed",
                    show_openings=other is Scenario.FENCE_MITIGATED,
                )
            )
    return written


def _label(scenario: Scenario) -> str:
    return {
        Scenario.NO_FENCE: "no fence",
        Scenario.FENCE_CLOSED: "fence closed (as built)",
        Scenario.FENCE_MITIGATED: "fence with openings",
    }[scenario]


def _masked(landscape: Landscape, values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(landscape.resistance), values, np.nan)


def _no_fences(landscape: Landscape) -> Landscape:
    import dataclasses

    return dataclasses.replace(landscape, fences=(), openings=())


def load_config(path: str | os.PathLike) -> Config:
    """Read and check a TOML job; relative paths are resolved against the TOML file's folder."""
    path = Path(path)
    data = read_toml(path, what="a connectivity job")
    return Config.from_mapping(data, source=path, base_dir=path.parent)


def run(config: Config, out_dir: str | os.PathLike, progress: Progress | None = None) -> RunRecord:
    """Solve every scenario of ``config`` and write the maps, ``pairs.csv`` and the manifest.

    Refuses (:class:`~crossings.errors.PlanTooLargeError`) before solving anything when the
    run's estimated memory exceeds ``config.max_memory_gb`` (default: available memory).
    """
    check_config(config, Config, NAME)
    land_files = config.landscape
    landscape = load_landscape(
        land_files.resistance,
        land_files.fences,
        fences_layer=land_files.fences_layer,
        openings_path=land_files.openings,
        openings_layer=land_files.openings_layer,
        crs=land_files.crs,
    )
    areas = read_vector(config.focal.path, layer=config.focal.layer, target_crs=landscape.grid.crs)
    focal, names = focal_areas(
        landscape, areas, id_column=config.focal.id_column, name_column=config.focal.name_column
    )
    plan = plan_run(
        landscape,
        len(names),
        len(config.scenarios),
        connect_four=config.connect_four,
        solver=config.solver,
    )
    _check_plan(plan, config.max_memory_gb)
    log = RunLog(
        out_dir,
        command="crossings connectivity run",
        config=to_mapping(config),
        sensitivity=SENSITIVITY,
        sensitivity_reason=SENSITIVITY_REASON,
        job=NAME,
    )
    log.add_inputs(p for p in _input_paths(config) if p is not None)
    options = SolverOptions(solver=config.solver, tol=config.tolerance)
    done = iter(range(len(config.scenarios) + 1))

    def show(scenario: Scenario) -> None:
        report_progress(progress, f"solving {scenario.value}", next(done), len(config.scenarios))

    from crossings.scale.executor import SerialExecutor, make_executor

    with make_executor(config.workers, config.scheduler) as executor:
        results = run_scenarios(
            landscape,
            focal,
            names,
            config.scenarios,
            connect_four=config.connect_four,
            averaging=config.averaging,
            options=options,
            on_scenario=show,
            executor=None if isinstance(executor, SerialExecutor) else executor,
        )
    report_progress(progress, "writing", len(config.scenarios), len(config.scenarios))
    log.add_outputs(write_outputs(landscape, results, Path(out_dir), maps=config.maps))
    log.add_figures(**_solve_figures(results), summary=summary_lines(results))
    return log.finish_record()


def _input_paths(config: Config):
    land = config.landscape
    return (land.resistance, land.fences, land.openings, config.focal.path)


def _check_plan(plan: RunPlan, max_memory_gb: float | None) -> None:
    _log.info("plan: %s", plan)
    limit = memory_limit(max_memory_gb)
    if plan.memory_bytes > limit:
        raise PlanTooLargeError(
            f"the run needs about {plan.memory_bytes / 2**30:.1f} GiB but "
            f'{limit / 2**30:.1f} GiB is available. Lower it with solver = "cg_amg" '
            "(least memory) or a coarser resistance grid, or allow more with max_memory_gb "
            "(--max-memory-gb)."
        )


def _solve_figures(results: Sequence[ScenarioResult]) -> dict:
    figures = {}
    for item in results:
        infos = item.result.solve_info
        figures[item.scenario.value] = {
            "pairs_solved": item.result.n_solves,
            "max_residual": max((i.max_residual for i in infos), default=0.0),
            "solver": sorted({i.solver for i in infos}),
            "seconds": round(sum(i.seconds for i in infos), 3),
        }
    return figures


def summary_lines(results: Sequence[ScenarioResult]) -> list[str]:
    """Terminal lines: mean conductance kept per scenario relative to no fence."""
    table = pair_table(results)
    lines = []
    for item in results:
        column = f"conductance_kept_pct_{item.scenario.value}"
        if column in table:
            cut = int((table[f"resistance_{item.scenario.value}"] < 0).sum())
            lines.append(
                f"{_label(item.scenario)}: {table[column].mean():.1f}% of the no-fence "
                f"conductance kept on average over {len(table)} pairs of focal areas"
                + (f" ({cut} pairs cut off completely)" if cut else "")
            )
    return lines


def demo_step(landscape: Landscape, out_dir: Path) -> list[str]:
    """Demo: seasonal ranges and protected areas, fence closed vs mitigated vs no fence."""
    areas = pd.concat([landscape.ranges, landscape.protected_areas], ignore_index=True)
    focal, names = focal_areas(landscape, areas, name_column="name")
    scenarios = [Scenario.NO_FENCE, Scenario.FENCE_CLOSED]
    if landscape.openings:
        scenarios.append(Scenario.FENCE_MITIGATED)
    results = run_scenarios(landscape, focal, names, scenarios)
    sub = Path(out_dir) / "connectivity"
    write_outputs(landscape, results, sub)
    names_line = ", ".join(names)
    return [
        f"connectivity between {names_line}:",
        *summary_lines(results),
        f"maps and pairs.csv in {sub}",
    ]
