"""ProtConn per country of a region, its transboundary part per border section, per-PA dPC.

``crossings indicators run JOB.toml`` (or ``crossings run JOB.toml`` with
``job = "indicators"``) reads the PA layer and the region layer (Natural Earth countries or a
user layer), computes ProtConn and its fractions (:mod:`crossings.core.protconn`) for every
region in one run, and writes:

- ``protconn.csv``: one row per region and fence scenario, every indicator;
- ``sections.csv`` (when ``section_length`` or ``sections`` is given): for each border section
  and each of its two regions, ProtConn[Trans] now, with the section closed and with its fence
  opened; the drop, the gain and the share of ProtConn[Trans] the section carries;
- ``pa_importance.csv`` (``node_importance = true``): dPC and its intra / flux / connector parts
  of every national PA patch and foreign stepping stone;
- ``run.toml`` and ``manifest.json``.

Fence scenarios (with a ``landscape``): ``no_fence``, ``fence_closed`` (fences as built, no
openings) and ``fence_mitigated`` (with the openings). With ``edge`` or ``centroid`` distances a
closed fence cuts the links it crosses; with ``least_cost`` or ``resistance`` distances fences
cut the graph edges.
"""

from __future__ import annotations

import enum
import math
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from crossings.config import to_mapping
from crossings.core.graph import build_graph
from crossings.core.pa_links import DistanceKind, node_links, region_nodes, simplify
from crossings.core.protconn import DEFAULT_FLOOR, Convention, Kernel, node_importance
from crossings.core.sections import Landscape, boundary_sections, country_table, section_shares
from crossings.errors import ConfigError
from crossings.io.atomic import atomic_path
from crossings.io.protected_areas import read_protected_areas, read_regions, read_sections
from crossings.io.runlog import RunLog
from crossings.jobs.base import (
    DEMO_LANDSCAPE_SECTION,
    Progress,
    RunRecord,
    check_config,
    config_from_mapping,
    report_progress,
    run_demo_job,
)

__all__ = ["NAME", "Config", "Scenario", "run", "demo_step"]

NAME = "indicators"
DEFAULT_CRS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m +no_defs"
AREA_UNIT = 1e6  # areas reported in km2


class Scenario(enum.Enum):
    NO_FENCE = "no_fence"
    FENCE_CLOSED = "fence_closed"
    FENCE_MITIGATED = "fence_mitigated"


@dataclass(frozen=True)
class RegionFiles:
    """The region layer: one region per distinct ``id_column`` value.

    ``area_column`` (km2) gives A_L when the outlines are simplified (else the polygon area);
    ``only`` restricts the run to some ids.
    """

    path: Path
    layer: str | None = None
    id_column: str = "iso_a3"
    name_column: str | None = "name"
    area_column: str | None = None
    only: tuple[str, ...] = ()


@dataclass(frozen=True)
class PAFiles:
    """The protected-area layer (polygons; points need ``area_column`` in km2)."""

    path: Path
    layer: str | None = None
    name_column: str | None = "name"
    area_column: str | None = None


@dataclass(frozen=True)
class LandscapeFiles:
    """Resistance surface (for landscape distances) and fences (for scenarios)."""

    resistance: Path | None = None
    fences: Path | None = None
    fences_layer: str | None = None
    openings: Path | None = None
    openings_layer: str | None = None


@dataclass(frozen=True)
class SectionFiles:
    """User border sections (lines with ``section_id`` and ``country_pair``)."""

    path: Path
    layer: str | None = None
    id_column: str = "section_id"
    pair_column: str = "country_pair"


@dataclass(frozen=True)
class Config:
    """An indicators job.

    ``dispersal_distance`` is the distance (metres; cost-weighted metres for ``least_cost``,
    ohms for ``resistance``) where the kernel's probability is ``probability``;
    ``home_range_m2`` replaces it by Bowman's ``7 * sqrt(home range)``. Foreign PAs within
    ``buffer`` metres of a region are stepping stones. ``floor``: best-path probabilities below
    it are 0 (the manifest reports the bound on what that removed).

    Examples
    --------
    >>> cfg = Config.from_mapping({"regions": {"path": "states.gpkg"},
    ...     "protected_areas": {"path": "pas.gpkg"}, "dispersal_distance": 20000.0},
    ...     base_dir="/data")
    >>> str(cfg.regions.path), cfg.distance, cfg.kernel().distance
    ('/data/states.gpkg', <DistanceKind.EDGE: 'edge'>, 20000.0)
    >>> Config.from_mapping(cfg.to_mapping()) == cfg
    True
    """

    regions: RegionFiles
    protected_areas: PAFiles
    landscape: LandscapeFiles | None = None
    sections: SectionFiles | None = None
    section_length: float | None = None
    dispersal_distance: float = 10_000.0
    probability: float = 0.5
    home_range_m2: float | None = None
    buffer: float = 100_000.0
    distance: DistanceKind = DistanceKind.EDGE
    convention: Convention = Convention.SAURA
    floor: float = DEFAULT_FLOOR
    simplify_tolerance: float | None = None
    scenarios: tuple[Scenario, ...] = (Scenario.FENCE_CLOSED, Scenario.FENCE_MITIGATED)
    node_importance: bool = False
    crs: str = DEFAULT_CRS

    def __post_init__(self):
        needs_grid = self.distance in (DistanceKind.LEAST_COST, DistanceKind.RESISTANCE)
        if needs_grid and (self.landscape is None or self.landscape.resistance is None):
            raise ConfigError(
                f"distance = '{self.distance.value}' needs [landscape] resistance = a raster; "
                "add it or use distance = 'edge'.",
                field="landscape.resistance",
            )
        if self.buffer < 0:
            raise ConfigError(f"buffer must be >= 0 m; got {self.buffer!r}.", field="buffer")
        self.kernel()

    @classmethod
    def from_mapping(cls, data, *, source=None, base_dir=None) -> Config:
        """Strictly from a TOML table (unknown keys are errors); paths relative to ``base_dir``."""
        return config_from_mapping(cls, NAME, data, source=source, base_dir=base_dir)

    def to_mapping(self) -> dict:
        return to_mapping(self)

    def kernel(self) -> Kernel:
        if self.home_range_m2 is not None:
            return Kernel.from_home_range(self.home_range_m2, self.probability)
        return Kernel(self.dispersal_distance, self.probability)


@dataclass(frozen=True)
class _Inputs:
    pas: np.ndarray
    regions: dict
    areas: dict
    landscapes: dict
    sections: list
    simplified: object
    illustrative: bool
    paths: list


def _landscapes(config: Config, crs: str) -> tuple[dict, str, list]:
    """Scenario name -> core Landscape; and the analysis CRS."""
    files = config.landscape
    if files is None or (files.resistance is None and files.fences is None):
        return {"as_given": Landscape(config.distance)}, crs, []
    from crossings.io.vector import read_fences, read_openings
    from crossings.landscape import load_landscape

    paths = [p for p in (files.resistance, files.fences, files.openings) if p is not None]
    graph, fences, openings = None, (), ()
    if files.resistance is not None:
        land = load_landscape(
            files.resistance,
            files.fences,
            fences_layer=files.fences_layer,
            openings_path=files.openings,
            openings_layer=files.openings_layer,
        )
        crs = land.grid.crs
        graph = build_graph(land.grid, 1.0 / land.resistance)
        fences, openings = land.fences, land.openings
    else:
        fences = read_fences(files.fences, layer=files.fences_layer, target_crs=crs)
        if files.openings is not None:
            openings = read_openings(
                files.openings, layer=files.openings_layer, target_crs=crs, fences=fences
            )
    by_scenario = {
        Scenario.NO_FENCE: Landscape(config.distance, graph),
        Scenario.FENCE_CLOSED: Landscape(config.distance, graph, tuple(fences)),
        Scenario.FENCE_MITIGATED: Landscape(config.distance, graph, tuple(fences), openings),
    }
    return {s.value: by_scenario[s] for s in config.scenarios}, crs, paths


def _read_inputs(config: Config) -> _Inputs:
    landscapes, crs, paths = _landscapes(config, config.crs)
    regions = read_regions(
        config.regions.path,
        layer=config.regions.layer,
        target_crs=crs,
        id_column=config.regions.id_column,
        name_column=config.regions.name_column,
        area_column=config.regions.area_column,
        only=tuple(config.regions.only),
    )
    pas = read_protected_areas(
        config.protected_areas.path,
        layer=config.protected_areas.layer,
        target_crs=crs,
        name_column=config.protected_areas.name_column,
        area_column=config.protected_areas.area_column,
    )
    geoms, simplified = pas.geoms, None
    if config.simplify_tolerance:
        geoms, simplified = simplify(geoms, config.simplify_tolerance)
    sections = []
    if config.sections is not None:
        sections = read_sections(
            config.sections.path,
            layer=config.sections.layer,
            target_crs=crs,
            id_column=config.sections.id_column,
            pair_column=config.sections.pair_column,
        )
        paths.append(config.sections.path)
    elif config.section_length:
        sections = boundary_sections(regions.geoms, config.section_length)
    paths += [config.regions.path, config.protected_areas.path]
    return _Inputs(
        geoms,
        regions.geoms,
        regions.areas,
        landscapes,
        sections,
        simplified,
        pas.illustrative,
        paths,
    )


def _area_scale(inputs: _Inputs, code: str) -> float:
    """Factor from the polygon area to the area column (1 without a column)."""
    if code not in inputs.areas:
        return 1.0
    return inputs.areas[code] / float(shapely.area(inputs.regions[code]))


def _protconn_rows(config: Config, inputs: _Inputs, progress) -> list[dict]:
    rows = []
    for k, (scenario, landscape) in enumerate(inputs.landscapes.items()):
        report_progress(progress, "protconn", k, len(inputs.landscapes))
        table = country_table(
            inputs.pas,
            inputs.regions,
            config.kernel(),
            landscape=landscape,
            buffer=config.buffer,
            convention=config.convention,
            floor=config.floor,
            area_unit=AREA_UNIT,
        )
        for code, result in table.items():
            result = _rescaled(result, _area_scale(inputs, code))
            rows.append({"region": code, "scenario": scenario, **result.as_dict()})
    return rows


def _rescaled(result, scale: float):
    """Percentages of A_L taken against the area column's A_L (fractions of ProtConn stay)."""
    if scale == 1.0:
        return result
    percent_of_area = ("prot", "protconn", "protunconn", "protunconn_design", "protconn_bound")
    changes = {name: getattr(result, name) / scale for name in percent_of_area}
    changes["region_area"] = result.region_area * scale
    changes["pc"] = result.pc / scale**2
    return replace(result, **changes)


def _section_rows(config: Config, inputs: _Inputs, progress) -> list[dict]:
    rows = []
    for scenario, landscape in inputs.landscapes.items():
        shares = section_shares(
            inputs.pas,
            inputs.regions,
            inputs.sections,
            config.kernel(),
            landscape=landscape,
            buffer=config.buffer,
            convention=config.convention,
            floor=config.floor,
            area_unit=AREA_UNIT,
            progress=progress,
        )
        lengths = {s.section_id: s.length for s in inputs.sections}
        for share in shares:
            scale = _area_scale(inputs, share.country)
            rows.append(
                {
                    "section_id": share.section_id,
                    "region": share.country,
                    "scenario": scenario,
                    "length_m": lengths[share.section_id],
                    "trans_now": share.trans_now / scale,
                    "trans_closed": share.trans_closed / scale,
                    "trans_opened": share.trans_opened / scale,
                    "drop": share.drop / scale,
                    "gain": share.gain / scale,
                    "share_percent": share.share,
                }
            )
    return rows


def _importance_rows(config: Config, inputs: _Inputs) -> list[dict]:
    rows = []
    scenario, landscape = next(iter(inputs.landscapes.items()))
    graph = landscape.fenced_graph() if not landscape.straight else None
    barrier = landscape.closed_lines() if landscape.straight else None
    for code, region in sorted(inputs.regions.items()):
        nodes = region_nodes(inputs.pas, region, config.buffer)
        if len(nodes.national) == 0:
            continue
        geoms = nodes.all_nodes
        links = node_links(
            geoms, config.kernel(), distance=config.distance, graph=graph, barrier=barrier,
            floor=config.floor,
        )  # fmt: skip
        areas = np.r_[shapely.area(nodes.national) / AREA_UNIT, np.zeros(len(nodes.foreign))]
        imp = node_importance(areas, links, config.kernel(), floor=config.floor)
        for k, geom in enumerate(geoms):
            centre = geom.representative_point()
            rows.append(
                {
                    "region": code,
                    "scenario": scenario,
                    "node": k,
                    "kind": "national" if k < len(nodes.national) else "foreign",
                    "area_km2": areas[k],
                    "x": centre.x,
                    "y": centre.y,
                    "dpc": imp.dpc[k],
                    "dpc_intra": imp.intra[k],
                    "dpc_flux": imp.flux[k],
                    "dpc_connector": imp.connector[k],
                }
            )
    return rows


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.10g")
    return path


def run(config: Config, out_dir: str | os.PathLike, progress: Progress | None = None) -> RunRecord:
    """Compute the indicators of ``config`` and write the tables and the manifest."""
    check_config(config, Config, NAME)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report_progress(progress, "read", 0, None)
    inputs = _read_inputs(config)
    log = RunLog(
        out,
        command="crossings indicators run",
        config=to_mapping(config),
        sensitivity="public",
        sensitivity_reason="indicators per country and border section; no fence coordinates",
        job=NAME,
    )
    log.add_inputs(inputs.paths)
    rows = _protconn_rows(config, inputs, progress)
    outputs = [_write_csv(out / "protconn.csv", rows)]
    if inputs.sections:
        outputs.append(_write_csv(out / "sections.csv", _section_rows(config, inputs, progress)))
    if config.node_importance:
        outputs.append(_write_csv(out / "pa_importance.csv", _importance_rows(config, inputs)))
    log.add_outputs(outputs)
    bound = max((r["pcnum_truncation_bound"] for r in rows), default=0.0)
    figures = {
        "regions": len(inputs.regions),
        "protected_areas": len(inputs.pas),
        "sections": len(inputs.sections),
        "scenarios": list(inputs.landscapes),
        "kernel_distance": config.kernel().distance,
        "search_distance": config.kernel().distance_at(config.floor),
        "pcnum_truncation_bound_km4": bound,
        "illustrative_protected_areas": inputs.illustrative,
    }
    if inputs.simplified is not None:
        figures["simplified"] = {
            "tolerance_m": inputs.simplified.tolerance,
            "area_change_percent": inputs.simplified.area_change_percent,
        }
    figures["summary"] = _summary(rows)
    log.add_figures(**figures)
    report_progress(progress, "done", 1, 1)
    return log.finish_record()


def _summary(rows: list[dict]) -> list[str]:
    """One line per region with protected areas and scenario: Prot, ProtConn, Trans."""
    lines = []
    for row in rows:
        if not row["protected_area"] > 0:
            continue
        lines.append(
            f"{row['region']} {row['scenario']}: Prot {row['prot']:.4g} %, ProtConn "
            f"{row['protconn']:.4g} %, ProtConn[Trans] {_fmt(row['protconn_trans_land'])} % "
            "of the land"
        )
    return lines


#: The demo's job (docs/indicators.md shows it as TOML); paths are the bundled demo files.
DEMO_JOB = {
    "distance": "least_cost",
    "dispersal_distance": 100000.0,
    "buffer": 300000.0,
    "scenarios": ["no_fence", "fence_closed", "fence_mitigated"],
    "regions": {"path": "states.gpkg", "layer": "states", "area_column": "area_km2"},
    "protected_areas": {"path": "layers.gpkg", "layer": "protected_areas"},
    "landscape": DEMO_LANDSCAPE_SECTION,
}


def demo_step(landscape, out_dir: Path) -> list[str]:
    """ProtConn of the five states with the demo's ILLUSTRATIVE PAs, least-cost distances."""
    heading = "indicators (ILLUSTRATIVE protected areas, least-cost distances):"
    return run_demo_job(sys.modules[__name__], DEMO_JOB, Path(out_dir), heading)


def _fmt(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3g}"
