"""The tracks job: GPS tracks against fences, encounters classified with BaBA (Xu et al. 2021).

``crossings tracks classify`` writes the events table (and optionally a GeoPackage of encounter
and crossing points); ``crossings tracks rank`` writes the per-fence ranking, every located
crossing and crossings per month (and optionally plots). Both are this one job with different
outputs asked for; ``crossings run`` runs it from a TOML file with ``job = "tracks"``.

Output names are relative to the run folder. The outputs hold exact animal locations and
fence crossing points: the manifest marks them ``confidential``.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crossings.config import to_mapping
from crossings.core.baba import BabaConfig
from crossings.core.track_qc import QCConfig
from crossings.errors import ConfigError
from crossings.jobs.base import (
    Progress,
    RunRecord,
    check_config,
    config_from_mapping,
    report_progress,
)

__all__ = ["NAME", "Config", "run", "demo_step", "DEMO_DISTANCE"]

NAME = "tracks"
SENSITIVITY = "confidential"
SENSITIVITY_REASON = "exact animal locations and fence crossing points"
FORMATS = ("auto", "movebank", "xy")


@dataclass(frozen=True)
class Config:
    """A tracks job: input files, BaBA parameters (``[baba]``) and the outputs to write.

    ``events`` is the events CSV (one row per encounter) and ``gpkg`` a GeoPackage of encounter
    and crossing points; ``ranking`` is the per-fence table, written with ``crossings`` (every
    located crossing; default ``<ranking stem>_crossings.csv``) and ``<crossings
    stem>_per_month.csv``. ``plots`` is a folder for one map per individual and the classes
    chart; ``overview_map`` one map of every track (titled ``map_title``) and
    ``classes_chart`` the per-fence classes chart on its own.

    Quality control (``[qc]``, :class:`crossings.core.track_qc.QCConfig`) runs first and writes
    ``<stem>_qc.csv`` beside the events or ranking table. ``openings`` (points or short lines,
    ids in ``opening_id_column``, default ``opening_id``; within ``opening_tolerance`` metres)
    assigns crossings to openings and finds passages through gaps (``<ranking
    stem>_openings.csv``); ``sides`` (polygons, name column
    ``sides_column``) names the sides. ``id_column``, ``time_column``, ``x_column``,
    ``y_column``, ``time_format`` and ``timezone`` describe the tracks file.

    Examples
    --------
    >>> cfg = Config.from_mapping({"tracks": "t.csv", "fences": "f.gpkg", "events": "events.csv",
    ...                            "baba": {"distance": 90}}, base_dir="/data")
    >>> str(cfg.tracks), cfg.baba.distance, cfg.events
    ('/data/t.csv', 90.0, 'events.csv')
    >>> Config.from_mapping(cfg.to_mapping()) == cfg
    True
    """

    tracks: Path
    fences: Path
    baba: BabaConfig
    format: str = "auto"
    crs: str | None = None
    fences_layer: str | None = None
    fence_id: str | None = None
    events: str | None = None
    gpkg: str | None = None
    ranking: str | None = None
    crossings: str | None = None
    min_total_enc: int = 0
    plots: str | None = None
    overview_map: str | None = None
    classes_chart: str | None = None
    map_title: str = ""
    qc: QCConfig = field(default_factory=QCConfig)
    id_column: str | None = None
    time_column: str | None = None
    x_column: str | None = None
    y_column: str | None = None
    time_format: str | None = None
    timezone: str | None = None
    openings: Path | None = None
    opening_id_column: str | None = None
    opening_tolerance: float = 50.0
    sides: Path | None = None
    sides_column: str | None = None

    def __post_init__(self):
        outputs = ("events", "gpkg", "ranking", "plots", "overview_map", "classes_chart")
        if all(getattr(self, name) is None for name in outputs):
            raise ConfigError(
                f"no output asked for; name at least one of {', '.join(outputs)} "
                '(e.g. events = "events.csv")',
                field="events",
            )
        if self.format not in FORMATS:
            raise ConfigError(
                f"must be one of {', '.join(FORMATS)}; got {self.format!r}", field="format"
            )
        for name, suffix in (("events", ".csv"), ("ranking", ".csv"), ("crossings", ".csv"),
                             ("gpkg", ".gpkg"), ("overview_map", ".png"),
                             ("classes_chart", ".png")):  # fmt: skip
            value = getattr(self, name)
            if value is not None and Path(value).suffix.lower() != suffix:
                raise ConfigError(f"must end with {suffix}; got {value!r}", field=name)

    @classmethod
    def from_mapping(cls, data, *, source=None, base_dir=None) -> Config:
        """Strictly from a TOML table (unknown keys are errors); paths relative to ``base_dir``."""
        return config_from_mapping(cls, NAME, data, source=source, base_dir=base_dir)

    def to_mapping(self) -> dict:
        return to_mapping(self)

    @property
    def stem(self) -> str:
        """The name of the main table without ``.csv``: side tables add ``_<what>.csv``."""
        main = self.ranking or self.events or "tracks.csv"
        return str(Path(main).with_suffix(""))

    @property
    def crossings_name(self) -> str | None:
        """The crossings table written with the ranking (None without a ranking)."""
        if self.ranking is None:
            return None
        return self.crossings or f"{Path(self.ranking).with_suffix('')}_crossings.csv"


def run(config: Config, out_dir: str | os.PathLike, progress: Progress | None = None) -> RunRecord:
    """Read and check tracks and fences, classify encounters, write what ``config`` asks for."""
    from crossings.core.baba import classify
    from crossings.io.gps import write_table_csv
    from crossings.io.runlog import RunLog
    from crossings.io.tracks_run import qc_table

    check_config(config, Config, NAME)
    out = Path(out_dir)
    log = RunLog(
        out,
        command="crossings tracks " + ("rank" if config.ranking else "classify"),
        config=to_mapping(config),
        sensitivity=SENSITIVITY,
        sensitivity_reason=SENSITIVITY_REASON,
        job=NAME,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        report_progress(progress, "reading and checking tracks and fences", 0, 3)
        loaded = _load(config)
        inputs = (config.tracks, config.fences, config.openings, config.sides)
        log.add_inputs([p for p in inputs if p])
        report_progress(progress, "classifying encounters", 1, 3)
        result = classify(loaded.tracks, loaded.layer, config.baba)
        report_progress(progress, "writing", 2, 3)
        written, figures = _write(config, out, loaded, result)
        written.append(write_table_csv(qc_table(loaded.qc), out / f"{config.stem}_qc.csv"))
    log.add_outputs(written)
    summary = [loaded.qc.summary_line(), *_fence_note(loaded.fences), *_summary(result, figures)]
    log.add_figures(**figures, **_qc_figures(loaded.qc), summary=summary)
    report_progress(progress, "done", 3, 3)
    return log.finish_record()


def _load(config: Config):
    from crossings.io.gps import TrackColumns
    from crossings.io.tracks_run import TrackInputs, load_analysis

    columns = TrackColumns(config.id_column, config.time_column, config.x_column, config.y_column)
    inputs = TrackInputs(
        tracks=config.tracks, fences=config.fences, fmt=config.format, crs=config.crs,
        columns=columns, time_format=config.time_format, timezone=config.timezone,
        layer=config.fences_layer, fence_id=config.fence_id, openings=config.openings,
        opening_id_column=config.opening_id_column, opening_tolerance=config.opening_tolerance,
        sides=config.sides, sides_column=config.sides_column,
    )  # fmt: skip
    return load_analysis(inputs, config.qc, distance=config.baba.distance)


def _fence_note(fences) -> list[str]:
    if not fences.id_guessed:
        return []
    note = (
        f"note: fence ids taken from column {fences.id_column!r}; name the id column with "
        "--fence-id (fence_id in a job file) if that is wrong"
    )
    return [note]


def _qc_figures(qc) -> dict:
    s = qc.summary
    return {
        "qc": {
            "duplicates": int(s["duplicates"].sum()),
            "spikes": int(s["spikes"].sum()),
            "gaps": int(s["gaps"].sum()),
            "bursts": int(s["bursts"].sum()),
        }
    }


def _write(config: Config, out: Path, loaded, result):
    from crossings.io.gps import write_table_csv
    from crossings.io.tracks_run import events_table, locate_passages

    tracks, layer = loaded.tracks, loaded.layer
    written: list[Path] = []
    figures = {"events": len(result.events), **result.events.class_counts()}
    if config.events is not None:
        table = events_table(result.events, loaded.fences)
        written.append(write_table_csv(table, out / config.events))
    wants_crossings = config.gpkg or config.ranking or config.overview_map
    crossings = locate_passages(loaded, config.opening_tolerance) if wants_crossings else None
    if config.gpkg is not None:
        written.append(_write_points(out / config.gpkg, result, crossings, loaded.crs))
    ranking = None
    if config.ranking is not None or config.classes_chart is not None or config.plots:
        from crossings.core.baba import rank_fences

        ranking = rank_fences(
            result.events, layer, config.baba.distance, min_total_enc=config.min_total_enc
        )
    if config.ranking is not None:
        ranked, files = _write_ranking(config, out, ranking, crossings, loaded)
        written += files
        figures["fences_ranked"] = ranked
    elif ranking is not None:
        figures["fences_ranked"] = len(ranking)
    if crossings is not None:
        figures["crossings"] = len(crossings)
        figures["crossing_directions"] = _directions(crossings)
    written += _write_plots(config, out, tracks, layer, result, ranking)
    return written, figures


def _write_points(path: Path, result, crossings, crs: str) -> Path:
    from crossings.io.vector import write_gpkg

    events = result.events
    layers = {
        "encounters": _points(events.easting, events.northing, events.columns(), crs),
        "crossings": _points(crossings.x, crossings.y, crossings.columns(), crs),
    }
    return write_gpkg(path, layers)


def _points(x, y, columns: dict, crs: str):
    import geopandas as gpd
    import pandas as pd

    frame = pd.DataFrame(columns)
    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name]):
            frame[name] = frame[name].dt.tz_localize("UTC")
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y), crs=crs)


def _write_ranking(config: Config, out: Path, ranking, crossings, loaded):
    """The ranking of every crossed or encountered fence, the crossings and their tables."""
    import pandas as pd

    from crossings.core.tracks import crossings_per_month
    from crossings.io import tracks_run
    from crossings.io.gps import write_table_csv

    table = tracks_run.rank_table(ranking, crossings, loaded.fences)
    crossings_path = out / config.crossings_name
    monthly = pd.DataFrame(crossings_per_month(crossings))
    written = [
        write_table_csv(table, out / config.ranking),
        write_table_csv(tracks_run.crossing_table(crossings, loaded.fences), crossings_path),
        write_table_csv(monthly, crossings_path.with_name(f"{crossings_path.stem}_per_month.csv")),
    ]
    if loaded.openings is not None:
        openings = tracks_run.opening_table(crossings)
        written.append(write_table_csv(openings, out / f"{config.stem}_openings.csv"))
    by_type = tracks_run.type_summary(table)
    if by_type is not None:
        written.append(write_table_csv(by_type, out / f"{config.stem}_by_type.csv"))
    return len(table), written


def _directions(crossings) -> dict[str, int]:
    names, counts = np.unique(np.asarray(crossings.direction, dtype=str), return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts, strict=True)}


def _write_plots(config: Config, out: Path, tracks, layer, result, ranking) -> list[Path]:
    if not (config.plots or config.overview_map or config.classes_chart):
        return []
    from crossings.report import tracks_plots

    written = []
    if config.plots:
        written += tracks_plots.plot_all(tracks, layer, result, ranking, out / config.plots)
    if config.overview_map:
        path = out / config.overview_map
        written.append(
            tracks_plots.plot_tracks(tracks, layer, result, path, title=config.map_title)
        )
    if config.classes_chart and len(ranking):
        path = out / config.classes_chart
        written.append(tracks_plots.plot_classes_per_fence(ranking, path))
    return written


def _summary(result, figures: dict) -> list[str]:
    if result.message:
        return [f"note: {result.message}"]
    counts = ", ".join(f"{k} {v}" for k, v in result.events.class_counts().items() if v)
    lines = [f"{len(result.events)} encounter events ({counts}); interval {result.interval:g} h"]
    if "fences_ranked" in figures and "crossings" in figures:
        lines.append(
            f"{figures['fences_ranked']} fences crossed or encountered, "
            f"{figures['crossings']} crossings located"
        )
    return lines


# --------------------------------------------------------------------------------------------
# Demo
# --------------------------------------------------------------------------------------------
DEMO_DISTANCE = 250.0  # metres: the buffer for the simulated saiga


def demo_config(tracks_csv: Path, crs: str) -> Config:
    """The demo's tracks job on ``tracks_csv`` and the bundled demo fences."""
    from crossings.landscape import DEMO_FILES, demo_path

    return Config(
        tracks=tracks_csv,
        fences=demo_path(DEMO_FILES["layers"]),
        baba=BabaConfig(distance=DEMO_DISTANCE),
        format="xy",
        crs=crs,
        fences_layer="fences",
        events="events.csv",
        ranking="ranking.csv",
        crossings="crossings.csv",
        overview_map="map.png",
        classes_chart="classes_per_fence.png",
        map_title=(
            "SYNTHETIC saiga tracks (simulated, not real data)\n"
            f"BaBA encounters within {DEMO_DISTANCE:g} m of the fence"
        ),
    )


def demo_step(landscape, out_dir: Path) -> list[str]:
    """Demo: SYNTHETIC saiga tracks from the summer to the winter range, classified with BaBA.

    No GPS data of the Ustyurt saiga are public, so the tracks are simulated (seeded) biased
    random walks that pass the fence only within 100 m of an opening and otherwise trace it.
    The step writes them to ``tracks/input/synthetic_tracks.csv`` and runs the tracks job on
    them into ``tracks/``: ``events.csv``, ``ranking.csv``, ``crossings.csv``,
    ``crossings_per_month.csv``, ``map.png``, ``classes_per_fence.png`` and the manifest.
    """
    folder = Path(out_dir) / "tracks"
    tracks_csv, n_animals, n_fixes = _write_synthetic_tracks(landscape, folder / "input")
    record = run(demo_config(tracks_csv, landscape.grid.crs), folder)
    figures = record.figures
    counts = ", ".join(f"{k} {figures[k]}" for k in _class_names() if figures.get(k))
    directions = figures.get("crossing_directions", {})
    return [
        (
            f"tracks: {n_animals} SYNTHETIC saiga (simulated walks, not real data), "
            f"{n_fixes} fixes every 2 h"
        ),
        f"BaBA (d = {DEMO_DISTANCE:g} m): {figures['events']} encounters ({counts})",
        "crossings located: " + (", ".join(f"{n} {d}" for d, n in directions.items()) or "none"),
        (
            "tracks outputs: tracks/events.csv, ranking.csv, crossings.csv, "
            "crossings_per_month.csv, map.png"
        ),
    ]


def _class_names() -> tuple[str, ...]:
    from crossings.core.baba import EVENT_TYPES

    return tuple(EVENT_TYPES)


def _write_synthetic_tracks(landscape, out_dir: Path) -> tuple[Path, int, int]:
    import pandas as pd

    from crossings.core.tracks import FenceLayer, simulate_fence_walks
    from crossings.io.gps import write_table_csv

    layer = FenceLayer.from_fences(landscape.fences)
    seasons = landscape.ranges.set_index("season").geometry
    starts = _sample_points(seasons["summer"], 12, seed=2012)
    target = np.array(seasons["winter"].centroid.coords[0])
    openings = np.array([(o.x, o.y) for o in landscape.openings]).reshape(-1, 2)
    tracks = simulate_fence_walks(layer, starts, target, n_fixes=360, seed=2023, openings=openings)
    tracks = dataclasses.replace(tracks, crs=landscape.grid.crs, source="synthetic saiga")
    fixes = pd.DataFrame(
        {"id": tracks.animal_id, "timestamp": [f"{t}Z" for t in tracks.time],
         "x": tracks.x, "y": tracks.y}
    )  # fmt: skip
    path = write_table_csv(fixes, out_dir / "synthetic_tracks.csv")
    return path, len(starts), tracks.n_fixes


def _sample_points(polygon, count: int, *, seed: int) -> np.ndarray:
    """``count`` seeded random points inside ``polygon`` (rejection sampling)."""
    import shapely

    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = polygon.bounds
    found = np.zeros((0, 2))
    while len(found) < count:
        candidates = rng.uniform((xmin, ymin), (xmax, ymax), size=(8 * count, 2))
        inside = shapely.contains_xy(polygon, candidates[:, 0], candidates[:, 1])
        found = np.vstack([found, candidates[inside]])
    return found[:count]
