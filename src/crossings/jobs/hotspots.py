"""Transboundary hotspots: rank border sections on weighted criteria, with rank intervals.

``crossings hotspots run JOB.toml`` (or ``crossings run JOB.toml`` with ``job = "hotspots"``)
cuts the boundaries between the regions into sections (``section_length``) or reads user
sections, computes every criterion of :mod:`crossings.core.hotspots` whose input is given,
normalises and weights them as Linkage Mapper's Linkage Priority does, perturbs the weights
(seeded Monte Carlo) and writes:

- ``hotspots.csv`` and ``hotspots.gpkg`` (layer ``sections``): one row per section with every raw
  and normalised criterion, the score, its rank and the 5-95 % rank interval;
- ``hotspots.png``: the sections coloured by score, the top ranks labelled;
- ``run.toml`` and ``manifest.json``.

The outputs name fence lengths and camera use per section: their sensitivity is ``restricted``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from crossings.config import to_mapping
from crossings.core.graph import build_graph
from crossings.core.hotspots import (
    CRITERIA,
    Criterion,
    Normalisation,
    barrier_improvement,
    current_across,
    fence_closed_length,
    fence_evidence,
    normalise,
    opening_evidence,
    pa_both_sides,
    ranges_straddling,
    rank_stability,
)
from crossings.core.sections import boundary_sections
from crossings.errors import ConfigError
from crossings.io.atomic import atomic_path
from crossings.io.protected_areas import (
    read_protected_areas,
    read_regions,
    read_sections,
    read_table_values,
)
from crossings.io.runlog import RunLog
from crossings.io.vector import read_vector, write_gpkg
from crossings.jobs.base import (
    DEMO_LANDSCAPE_SECTION,
    Progress,
    RunRecord,
    check_config,
    config_from_mapping,
    report_progress,
    run_demo_job,
)
from crossings.jobs.indicators import (
    DEFAULT_CRS,
    LandscapeFiles,
    PAFiles,
    RegionFiles,
    SectionFiles,
)

__all__ = ["NAME", "Config", "CriterionSetting", "run", "demo_step"]

NAME = "hotspots"
SENSITIVITY = "restricted"
SENSITIVITY_REASON = "closed fence length and camera use per border section"


@dataclass(frozen=True)
class CriterionSetting:
    """One ``[[criteria]]`` entry: name, weight, normalisation and direction."""

    name: str
    weight: float = 1.0
    normalisation: Normalisation = Normalisation.SCORE_RANGE
    invert: bool = False

    def criterion(self) -> Criterion:
        return Criterion(self.name, self.weight, self.normalisation, self.invert)


@dataclass(frozen=True)
class RangeFiles:
    """Species ranges (e.g. IUCN shapefiles); features sharing ``species_column`` are one range."""

    path: Path
    layer: str | None = None
    species_column: str = "species"


@dataclass(frozen=True)
class EvidenceFiles:
    """A CSV of values per feature id (per ``fence_id`` for GPS, per ``opening_id`` for camera)."""

    path: Path
    id_column: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Config:
    """A hotspots job.

    ``distance`` (m): how far from a section PAs and ranges count on each side; ``tolerance``
    (m): how far from a section a fence or opening counts as on it. ``criteria`` default to every
    criterion whose input is given, each with weight 1.

    Examples
    --------
    >>> cfg = Config.from_mapping({"regions": {"path": "c.gpkg"}, "section_length": 25000.0,
    ...     "criteria": [{"name": "current", "weight": 2.0}], "current": "cum.tif"})
    >>> cfg.criteria[0].criterion().weight, cfg.draws, cfg.seed
    (2.0, 1000, 0)
    >>> Config.from_mapping(cfg.to_mapping()) == cfg
    True
    """

    regions: RegionFiles
    sections: SectionFiles | None = None
    section_length: float | None = None
    pairs: tuple[str, ...] = ()
    protected_areas: PAFiles | None = None
    landscape: LandscapeFiles | None = None
    current: Path | None = None
    ranges: RangeFiles | None = None
    gps_crossings: EvidenceFiles | None = None
    gps_blocked: EvidenceFiles | None = None
    camera_use: EvidenceFiles | None = None
    criteria: tuple[CriterionSetting, ...] = ()
    distance: float = 20_000.0
    tolerance: float = 1_000.0
    draws: int = 1000
    spread: float = 0.5
    seed: int = 0
    crs: str = DEFAULT_CRS

    def __post_init__(self):
        if self.sections is None and not self.section_length:
            raise ConfigError(
                "give section_length (metres) or [sections] path = a line layer.",
                field="section_length",
            )
        for setting in self.criteria:
            setting.criterion()
            missing = _missing_input(self, setting.name)
            if missing:
                raise ConfigError(
                    f"criterion '{setting.name}' needs {missing}; add it or drop the criterion.",
                    field="criteria",
                )

    @classmethod
    def from_mapping(cls, data, *, source=None, base_dir=None) -> Config:
        """Strictly from a TOML table (unknown keys are errors); paths relative to ``base_dir``."""
        return config_from_mapping(cls, NAME, data, source=source, base_dir=base_dir)

    def to_mapping(self) -> dict:
        return to_mapping(self)

    def active_criteria(self) -> tuple[Criterion, ...]:
        if self.criteria:
            return tuple(s.criterion() for s in self.criteria)
        return tuple(Criterion(name) for name in CRITERIA if not _missing_input(self, name))


def _missing_input(config: Config, name: str) -> str:
    land = config.landscape
    needs = {
        "current": (config.current, "current = a current map (GeoTIFF)"),
        "fence_closed_m": (land and land.fences, "[landscape] fences"),
        "pa_both_sides": (config.protected_areas, "[protected_areas]"),
        "ranges_straddling": (config.ranges, "[ranges]"),
        "barrier_improvement": (
            land and land.resistance and land.fences and config.protected_areas,
            "[landscape] resistance and fences, and [protected_areas]",
        ),
        "gps_crossings": (config.gps_crossings, "[gps_crossings]"),
        "gps_blocked": (config.gps_blocked, "[gps_blocked]"),
        "camera_use": (config.camera_use, "[camera_use] and [landscape] openings"),
    }
    given, what = needs[name]
    if name == "camera_use" and not (land and land.openings):
        given = None
    return "" if given else what


def _sections(config: Config, regions, crs):
    if config.sections is not None:
        found = read_sections(
            config.sections.path,
            layer=config.sections.layer,
            target_crs=crs,
            id_column=config.sections.id_column,
            pair_column=config.sections.pair_column,
        )
    else:
        found = boundary_sections(regions.geoms, config.section_length)
    if config.pairs:
        wanted = {"-".join(sorted(p.split("-"))) for p in config.pairs}
        found = [s for s in found if "-".join(sorted(s.countries)) in wanted]
    unknown = {c for s in found for c in s.countries if c not in regions.geoms}
    if unknown:
        raise ConfigError(
            f"sections name regions {', '.join(sorted(unknown))} that the region layer lacks.",
            field="sections",
        )
    if not found:
        raise ConfigError(
            "no border section found; check pairs and that the regions share a boundary.",
            field="pairs",
        )
    return found


def _landscape(config: Config):
    land = config.landscape
    if land is None or (land.resistance is None and land.fences is None):
        return None, None, (), (), config.crs
    from crossings.io.vector import read_fences, read_openings
    from crossings.landscape import load_landscape

    if land.resistance is not None:
        landscape = load_landscape(
            land.resistance,
            land.fences,
            fences_layer=land.fences_layer,
            openings_path=land.openings,
            openings_layer=land.openings_layer,
        )
        graph = build_graph(landscape.grid, 1.0 / landscape.resistance)
        return landscape.grid, graph, landscape.fences, landscape.openings, landscape.grid.crs
    fences = read_fences(land.fences, layer=land.fences_layer, target_crs=config.crs)
    openings = ()
    if land.openings is not None:
        openings = read_openings(
            land.openings, layer=land.openings_layer, target_crs=config.crs, fences=fences
        )
    return None, None, fences, openings, config.crs


def _raw_criteria(config, names, sections, regions, pas, land, progress) -> dict:
    grid, graph, fences, openings, crs = land
    raw = {}
    for k, name in enumerate(names):
        report_progress(progress, f"criterion {name}", k, len(names))
        if name == "current":
            raw[name] = _current(config, grid, crs, sections)
        elif name == "fence_closed_m":
            raw[name], raw["fence_length_m"] = fence_closed_length(
                sections, fences, openings, config.tolerance
            )
        elif name == "pa_both_sides":
            raw[name] = pa_both_sides(sections, regions.geoms, pas, config.distance)
        elif name == "ranges_straddling":
            raw[name] = ranges_straddling(
                sections, regions.geoms, _ranges(config.ranges, crs), config.distance
            )
        elif name == "barrier_improvement":
            raw[name] = barrier_improvement(
                sections, regions.geoms, pas, graph, fences, openings, tolerance=config.tolerance
            )
        elif name in ("gps_crossings", "gps_blocked"):
            files = getattr(config, name)
            values = read_table_values(files.path, files.id_column, files.columns)
            raw[name] = fence_evidence(sections, fences, values, config.tolerance)
        elif name == "camera_use":
            files = config.camera_use
            values = read_table_values(files.path, files.id_column, files.columns)
            raw[name] = opening_evidence(sections, openings, values, config.tolerance)
    return raw


def _current(config: Config, grid, crs, sections):
    """The current criterion; the map must be on the landscape grid, or at least in its CRS."""
    from pyproj import CRS

    from crossings.io.raster import check_grids_aligned, read_raster

    current_grid, values = read_raster(config.current)
    if grid is not None:
        check_grids_aligned(grid, current_grid, config.landscape.resistance, config.current)
    elif CRS.from_user_input(current_grid.crs) != CRS.from_user_input(crs):
        raise ConfigError(
            f"the current map is in {current_grid.crs}, the sections in {crs}; give crs = the "
            "map's CRS or reproject the map.",
            source=str(config.current),
            field="current",
        )
    return current_across(sections, current_grid, values)


def _ranges(files: RangeFiles, crs) -> dict:
    frame = read_vector(files.path, layer=files.layer, target_crs=crs)
    if files.species_column not in frame.columns:
        raise ConfigError(
            f"the range layer has no column {files.species_column!r}; set species_column.",
            source=str(files.path),
            field="ranges.species_column",
        )
    return {
        str(species): shapely.union_all(group.geometry.to_numpy())
        for species, group in frame.groupby(files.species_column)
    }


def _table(sections, raw, criteria, stability) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(
        {
            "section_id": [s.section_id for s in sections],
            "country_pair": [s.country_pair for s in sections],
            "length_m": [s.length for s in sections],
        }
    )
    for name, values in raw.items():
        frame[name] = values
    for c in criteria:
        frame[f"{c.name}_norm"] = normalise(raw[c.name], c.normalisation, c.invert)
    frame["score"] = stability.score
    frame["rank"] = stability.rank
    frame["rank_low"] = stability.rank_low
    frame["rank_high"] = stability.rank_high
    frame["rank_median"] = stability.rank_median
    return frame


def run(config: Config, out_dir: str | os.PathLike, progress: Progress | None = None) -> RunRecord:
    """Score and rank the border sections of ``config``; write the tables, the layer and a map."""
    check_config(config, Config, NAME)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    land = _landscape(config)
    crs = land[4]
    regions = read_regions(
        config.regions.path,
        layer=config.regions.layer,
        target_crs=crs,
        id_column=config.regions.id_column,
        name_column=config.regions.name_column,
        only=tuple(config.regions.only),
    )
    sections = _sections(config, regions, crs)
    pas = np.zeros(0, dtype=object)
    if config.protected_areas is not None:
        pas = read_protected_areas(
            config.protected_areas.path,
            layer=config.protected_areas.layer,
            target_crs=crs,
            name_column=config.protected_areas.name_column,
            area_column=config.protected_areas.area_column,
        ).geoms
    criteria = config.active_criteria()
    if not criteria:
        raise ConfigError("no criterion has its input; give at least one.", field="criteria")
    raw = _raw_criteria(config, [c.name for c in criteria], sections, regions, pas, land, progress)
    stability = rank_stability(
        raw, criteria, draws=config.draws, spread=config.spread, seed=config.seed
    )
    frame = _table(sections, raw, criteria, stability).sort_values("rank", kind="stable")
    layer = gpd.GeoDataFrame(
        frame.assign(geometry=[sections[i].line for i in frame.index]), crs=crs
    )
    log = RunLog(
        out,
        command="crossings hotspots run",
        config=to_mapping(config),
        sensitivity=SENSITIVITY,
        sensitivity_reason=SENSITIVITY_REASON,
        job=NAME,
    )
    log.add_inputs(p for p in _input_paths(config) if p is not None)
    with atomic_path(out / "hotspots.csv") as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")
    write_gpkg(out / "hotspots.gpkg", {"sections": layer})
    from crossings.report.hotspots_map import plot_hotspots

    plot_hotspots(layer, regions.geoms, pas, out / "hotspots.png")
    log.add_outputs([out / "hotspots.csv", out / "hotspots.gpkg", out / "hotspots.png"])
    log.add_figures(
        sections=len(sections),
        criteria={c.name: c.weight for c in criteria},
        draws=config.draws,
        spread=config.spread,
        seed=config.seed,
        top=frame["section_id"].head(5).tolist(),
        summary=[
            f"#{row.rank} {row.section_id}: score {row.score:.2f}, rank {row.rank_low}-"
            f"{row.rank_high} under weight changes"
            for row in frame.head(3).itertuples()
        ],
    )
    return log.finish_record()


def _input_paths(config: Config):
    land = config.landscape
    yield config.regions.path
    yield config.sections.path if config.sections else None
    yield config.protected_areas.path if config.protected_areas else None
    if land is not None:
        yield from (land.resistance, land.fences, land.openings)
    yield config.current
    yield config.ranges.path if config.ranges else None
    for files in (config.gps_crossings, config.gps_blocked, config.camera_use):
        yield files.path if files else None


#: The demo's job (docs/hotspots.md shows it as TOML); paths are the bundled demo files.
DEMO_JOB = {
    "section_length": 25000.0,
    "pairs": ["KAZ-UZB"],
    "distance": 150000.0,
    "draws": 500,
    "seed": 0,
    "regions": {"path": "layers.gpkg", "layer": "countries"},
    "protected_areas": {"path": "layers.gpkg", "layer": "protected_areas"},
    "ranges": {"path": "layers.gpkg", "layer": "ranges"},
    "landscape": DEMO_LANDSCAPE_SECTION,
}


def demo_step(landscape, out_dir: Path) -> list[str]:
    """Hotspots along the Kazakhstan-Uzbekistan boundary of the demo (25 km sections).

    Adds the ``current`` criterion when the connectivity step has written its current map with
    the openings.
    """
    out_dir = Path(out_dir)
    job = dict(DEMO_JOB)
    found = sorted((out_dir / "connectivity").glob("cum_current_fence_mitigated*.tif"))
    if found:
        job["current"] = str(found[0].resolve())
    return run_demo_job(
        sys.modules[__name__],
        job,
        out_dir,
        lambda record: f"hotspots: {record.figures['sections']} KAZ-UZB sections of ~25 km ranked",
    )
