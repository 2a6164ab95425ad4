"""The camera job: camera traps at fence openings, from detections to events and Camtrap DP.

``crossings camera events`` writes the events, crossings by direction and use per opening
(CSV tables and PNG plots); ``crossings camera export-camtrapdp`` writes a Camtrap DP 1.0
package. Both are this one job with different outputs asked for (``tables``, ``camtrapdp``);
``crossings run`` runs it from a TOML file with ``job = "camera"``.

Sensitivity: person and vehicle records are withheld unless ``events.include_private`` or
``keep_private`` is set (then the outputs are ``confidential``); a Camtrap DP export without
``coordinate_grid_km`` holds exact camera positions (``restricted``); otherwise ``public``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crossings.config import to_mapping
from crossings.core.camtrap import EventConfig
from crossings.errors import ConfigError
from crossings.jobs.base import (
    Progress,
    RunRecord,
    check_config,
    config_from_mapping,
    report_progress,
)

__all__ = ["NAME", "Config", "run", "demo_step"]

NAME = "camera"
TABLES = ("events.csv", "use_by_opening.csv", "monthly.csv", "diel.csv")


@dataclass(frozen=True)
class Config:
    """A camera job: its inputs, the event rules (``[events]``) and the outputs to write.

    Inputs are a MegaDetector batch JSON (``detections``) with a ``deployments`` table (and
    optionally the ``images`` folder for EXIF times and a species ``labels`` CSV), or a Camtrap
    DP ``package``, or a ``tagged`` records CSV with its ``deployments``. ``species_map`` is a
    CSV ``name,species[,group]``. ``tables`` writes the CSV tables (events, use, monthly, diel,
    light, structures, effort per month, year and ``seasons`` given as ``NAME:MM-DD:MM-DD``;
    with ``people`` the RESTRICTED people-per-month counts) plus plots unless
    ``plots = false`` (captioned ``caption``); ``camtrapdp`` names the folder of a Camtrap DP
    export, relative to the run folder (``"."`` for the run folder itself).

    Examples
    --------
    >>> cfg = Config.from_mapping({"package": "pkg/datapackage.json",
    ...                            "events": {"independence_s": 600}}, base_dir="/data")
    >>> str(cfg.package), cfg.events.independence_s, cfg.tables
    ('/data/pkg/datapackage.json', 600.0, True)
    >>> Config.from_mapping(cfg.to_mapping()) == cfg
    True
    """

    detections: Path | None = None
    deployments: Path | None = None
    images: Path | None = None
    labels: Path | None = None
    package: Path | None = None
    tagged: Path | None = None
    species_map: Path | None = None
    seasons: tuple[str, ...] = ()
    people: bool = False
    events: EventConfig = field(default_factory=EventConfig)
    workers: int = 2
    tables: bool = True
    plots: bool = True
    caption: str = ""
    camtrapdp: str | None = None
    coordinate_grid_km: float | None = None
    keep_private: bool = False
    copy_media: bool = False
    title: str = "Camera traps at fence openings"
    contributor: str = "unknown"

    @classmethod
    def from_mapping(cls, data, *, source=None, base_dir=None) -> Config:
        """Strictly from a TOML table (unknown keys are errors); paths relative to ``base_dir``."""
        return config_from_mapping(cls, NAME, data, source=source, base_dir=base_dir)

    def to_mapping(self) -> dict:
        return to_mapping(self)

    @property
    def sensitivity(self) -> tuple[str, str]:
        """``(level, reason)`` of this job's outputs."""
        if self.events.include_private or (self.camtrapdp is not None and self.keep_private):
            return "confidential", "person and vehicle records are kept"
        if self.people and self.tables:
            return "restricted", "people and vehicles per opening and month"
        if self.camtrapdp is not None and not self.coordinate_grid_km:
            return "restricted", "exact camera positions at fence openings"
        return "public", "people and vehicles withheld, camera positions generalised or absent"


@dataclass(frozen=True)
class _Survey:
    """What the inputs gave: MegaDetector output, deployments, detections, the analysis."""

    n_images: int
    deployments: list
    result: object | None = None
    md: object | None = None
    inputs: object | None = None
    package: object | None = None


def run(config: Config, out_dir: str | os.PathLike, progress: Progress | None = None) -> RunRecord:
    """Read the detections (or a package), find events, write the tables and/or the export."""
    from crossings.io.runlog import RunLog

    check_config(config, Config, NAME)
    _check_inputs(config)
    out = Path(out_dir)
    level, reason = config.sensitivity
    command = "events" if config.camtrapdp is None else "export-camtrapdp"
    log = RunLog(
        out,
        command=f"crossings camera {command}",
        config=to_mapping(config),
        sensitivity=level,
        sensitivity_reason=reason,
        job=NAME,
    )
    report_progress(progress, "reading and analysing", 0, 2)
    survey = _read(config)
    inputs = (config.detections, config.deployments, config.labels, config.tagged,
              config.species_map)  # fmt: skip
    log.add_inputs(p for p in inputs if p)
    if config.package is not None:
        log.add_inputs([_package_file(config.package)])
    report_progress(progress, "writing", 1, 2)
    written = _write_tables(config, survey, out) if config.tables else []
    if config.camtrapdp is not None:
        written += _write_export(config, survey, out / config.camtrapdp)
    log.add_outputs(written)
    figures = _figures(survey)
    log.add_figures(**figures, summary=_summary(config, figures, out))
    report_progress(progress, "done", 2, 2)
    return log.finish_record()


def _check_inputs(config: Config) -> None:
    from crossings.core.camtrap_effort import parse_season

    for text in config.seasons:
        parse_season(text)
    routes = (
        config.package is not None
        or config.deployments is not None
        and (config.detections is not None or config.tagged is not None)
    )
    if not routes:
        raise ConfigError(
            "give detections and deployments, tagged records and deployments, or a package "
            "(--detections/--tagged and --deployments, or --package)",
            field="detections",
        )
    if not config.tables and config.camtrapdp is None:
        raise ConfigError(
            'no output asked for; set tables = true or camtrapdp = "<folder>"', field="tables"
        )
    if config.copy_media and (config.images is None or config.package is not None):
        raise ConfigError(
            "copy_media (--copy-media) needs images (--images) and detections", field="copy_media"
        )


def _package_file(package: Path) -> Path:
    return package / "datapackage.json" if package.is_dir() else package


def _read(config: Config) -> _Survey:
    from crossings.core.camtrap import analyse
    from crossings.io.camera import read_species_map, warn_outside
    from crossings.io.daylight import light_of_events

    names = read_species_map(config.species_map) if config.species_map else None
    if config.package is not None:
        from crossings.io.camtrap_dp import analyse_package, read_camtrapdp

        package = read_camtrapdp(config.package)
        if not config.tables:  # a re-export: no analysis needed
            return _Survey(0, [], package=package)
        result = analyse_package(package, config.events, species_map=names,
                                 daylight=light_of_events, source=str(config.package))  # fmt: skip
        warn_outside(result.outside_deployments, str(config.package))
        return _Survey(len(package.media), list(result.deployments), result, package=package)
    from crossings.io.camera import (
        load_detections,
        read_deployments,
        read_labels,
        read_megadetector,
    )

    deps = read_deployments(config.deployments, merge_overlaps=config.events.merge_overlaps)
    if config.tagged is not None:
        return _read_tagged(config, deps, names, light_of_events)
    md = read_megadetector(config.detections)
    labels = read_labels(config.labels) if config.labels else None
    inputs = load_detections(
        md, deps, images_dir=config.images, labels=labels, workers=config.workers
    )
    result = analyse(inputs.detections, deps, config.events, species_map=names,
                     daylight=light_of_events)  # fmt: skip
    warn_outside(result.outside_deployments, str(config.detections))
    return _Survey(len(md.files), deps, result, md=md, inputs=inputs)


def _read_tagged(config: Config, deps, names, daylight) -> _Survey:
    from crossings.core.camtrap import summarise, unknown_species
    from crossings.io.camera import read_tagged_records, warn_outside

    events, deps, outside, people = read_tagged_records(config.tagged, deps, config.events, names)
    warn_outside(outside, str(config.tagged))
    result = summarise(events, deps, config.events, daylight=daylight,
                       outside_deployments=outside, people=people,
                       withheld=int(people["events"].sum()),
                       unknown_species=unknown_species(events["species"], names))  # fmt: skip
    records = int(events["n_images"].sum()) if len(events) else 0
    return _Survey(records, deps, result)


def _write_tables(config: Config, survey: _Survey, out: Path) -> list[Path]:
    from crossings.core.camtrap_effort import effort_tables, parse_season
    from crossings.io.camera import write_table

    result = survey.result
    written = [
        write_table(result.events, out / TABLES[0], time_columns=("start", "end")),
        write_table(result.use, out / TABLES[1]),
        write_table(result.monthly, out / TABLES[2]),
        write_table(result.diel, out / TABLES[3]),
        write_table(result.light, out / "light.csv"),
        write_table(result.structures, out / "structures.csv"),
    ]
    seasons = [parse_season(text) for text in config.seasons]
    for kind, table in effort_tables(result.events, result.deployments, seasons).items():
        written.append(write_table(table, out / f"effort_{kind}.csv"))
    if config.people and result.people is not None:
        written.append(write_table(result.people, out / "people_per_month.csv"))
    if config.plots:
        from crossings.report.camera_plots import write_camera_plots

        written += write_camera_plots(result, out, caption=config.caption)
    return written


def _write_export(config: Config, survey: _Survey, folder: Path) -> list[Path]:
    from crossings.io.camtrap_dp import build_export, write_camtrapdp

    written = []
    package = survey.package
    if package is None:
        package = build_export(survey.inputs, survey.md, survey.deployments, survey.result,
                               title=config.title, contributor=config.contributor,
                               media_prefix="media/" if config.copy_media else "")  # fmt: skip
        if config.copy_media:
            from crossings.io.camera import write_blurred_copies

            written += write_blurred_copies(survey.md, config.images, folder / "media")
    grid_m = config.coordinate_grid_km * 1000 if config.coordinate_grid_km else None
    written += write_camtrapdp(
        package, folder, withhold_private=not config.keep_private, coordinate_grid_m=grid_m
    )
    return written


def _figures(survey: _Survey) -> dict:
    result = survey.result
    if result is None:
        return {"images": 0, "events": 0}
    directions = np.asarray(result.events["direction"], dtype=str)
    names, counts = np.unique(directions[directions != ""], return_counts=True)
    return {
        "images": survey.n_images,
        "events": len(result.events),
        "openings": len({(d.fence_id, d.opening_id) for d in survey.deployments}),
        "withheld_private": result.withheld,
        "below_threshold": result.below_threshold,
        "outside_deployments": result.outside_deployments,
        "directions": {str(n): int(c) for n, c in zip(names, counts, strict=True)},
        "unknown_species": list(result.unknown_species),
    }


def _summary(config: Config, figures: dict, out: Path) -> list[str]:
    lines = []
    if config.tables:
        lines.append(
            f"{figures['images']} images, {figures['events']} events at {figures['openings']} "
            f"openings; {figures['withheld_private']} person/vehicle detections withheld; "
            f"outputs in {out}"
        )
    if figures.get("unknown_species"):
        lines.append("note: species not in the mapping table: " + ", ".join(
            figures["unknown_species"]))  # fmt: skip
    if config.camtrapdp is not None:
        package = out / config.camtrapdp / "datapackage.json"
        lines.append(f"Camtrap DP 1.0 package written and validated: {package}")
    return lines


# --------------------------------------------------------------------------------------------
# Demo
# --------------------------------------------------------------------------------------------
DEMO_CAPTION = "SYNTHETIC detections (demo): not real camera-trap data"
_DEMO_NOTE = (
    "SYNTHETIC camera-trap data. The cameras stand at real openings of the demo fence, but every\n"
    "detection is generated (crossings.io.camera.write_synthetic_survey): species, times,\n"
    "directions, patrols and vehicles are illustrative, not observations.\n"
)


def demo_step(landscape, out_dir: Path) -> list[str]:
    """``crossings demo`` step: camera traps at three of the landscape's fence openings.

    The detections are SYNTHETIC (``crossings.io.camera.write_synthetic_survey``), placed at real
    demo openings, written to ``camera/input``; the camera job then writes events, use tables,
    plots and a public Camtrap DP export (coordinates generalised to 10 km) into ``camera/``.
    """
    from crossings.io.atomic import write_text_atomic
    from crossings.io.camera import write_synthetic_survey

    if not landscape.openings:
        return ["camera traps: the landscape has no openings; step skipped"]
    folder = Path(out_dir) / "camera"
    cameras = _demo_cameras(landscape)
    md_path, dep_path = write_synthetic_survey(folder / "input", 3000, cameras=cameras, seed=0)
    config = Config(
        detections=md_path,
        deployments=dep_path,
        caption=DEMO_CAPTION,
        camtrapdp="camtrapdp",
        coordinate_grid_km=10.0,
        title="Ustyurt fence openings (SYNTHETIC)",
        contributor="crossings demo",
    )
    figures = run(config, folder).figures
    write_text_atomic(folder / "README.txt", _DEMO_NOTE)
    directions = figures["directions"]
    forth, back = directions.get("A to B", 0), directions.get("B to A", 0)
    sides = f"{cameras[0]['side_a']}->{cameras[0]['side_b']}"
    summary = (
        f"camera traps (SYNTHETIC detections) at {len(cameras)} openings: "
        f"{figures['events']} events, {forth} crossings {sides}, {back} back; "
        f"{figures['withheld_private']} person/vehicle detections withheld"
    )
    outputs = (
        f"camera outputs: {folder.name}/events.csv, use_by_opening.csv, monthly.csv, diel.csv, "
        "4 plots, camtrapdp/"
    )
    return [summary, outputs]


def _demo_cameras(landscape) -> list[dict[str, str]]:
    from pyproj import Transformer

    openings = landscape.openings
    picks = sorted({int(i) for i in np.linspace(0, len(openings) - 1, 3).round()})
    to_wgs84 = Transformer.from_crs(landscape.grid.crs, "EPSG:4326", always_xy=True)
    pairs = {f.fence_id: f.country_pair for f in landscape.fences}
    cameras = []
    for i in picks:
        opening = openings[i]
        lon, lat = to_wgs84.transform(opening.x, opening.y)
        sides = (pairs.get(opening.fence_id) or "A-B").split("-")
        cameras.append({
            "deployment_id": f"dep-{opening.opening_id}", "camera_id": f"CAM-{opening.opening_id}",
            "fence_id": opening.fence_id, "opening_id": opening.opening_id,
            "opening_date": "2023-06-01T00:00:00+05:00", "latitude": f"{lat:.5f}",
            "longitude": f"{lon:.5f}", "line_x1": "0", "line_y1": "0.6", "line_x2": "1",
            "line_y2": "0.58", "side_a": sides[0], "side_b": sides[-1],
        })  # fmt: skip
    return cameras
