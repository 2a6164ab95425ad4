"""``crossings serve import RUN_DIR``: publish a run folder's layers and tables in the service.

Each feature's sensitivity is the highest of: the run's level (``manifest.json``), the layer rule
that matches its layer name (built in, or given in a rules TOML), and its own ``sensitivity``
column if it has one. A layer published again replaces the old one (its version goes up).
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crossings.errors import ConfigError, InputFileError, did_you_mean
from crossings.io.runlog import SENSITIVITY_LEVELS
from crossings.security import check_level
from crossings.service.models import Feature, Layer, RasterLayer, RunTable
from crossings.service.rasters import is_current_map, read_current_map

__all__ = ["LayerRule", "DEFAULT_RULES", "read_rules", "publish_run", "PublishedRun"]

COUNTRY_COLUMNS = ("country", "country_pair", "iso_a3", "ISO_A3", "adm0_a3")
MAX_TABLE_ROWS = 100_000


@dataclass(frozen=True)
class LayerRule:
    """How to publish layers whose name matches ``pattern`` (a glob)."""

    pattern: str
    sensitivity: str = "public"
    kind: str = "other"
    public_fields: tuple[str, ...] = ()
    country: str = ""
    title: str = ""


#: Built-in rules, first match wins: fence infrastructure, opening positions and camera positions
#: are not public (DESIGN.md); context layers are.
DEFAULT_RULES: tuple[LayerRule, ...] = (
    LayerRule("*post*", "confidential", "security"),
    LayerRule("*checkpoint*", "confidential", "security"),
    LayerRule("*camera*", "confidential", "camera", ("opening_id", "species", "events")),
    LayerRule("*deployment*", "confidential", "camera", ("opening_id",)),
    LayerRule("*opening*", "confidential", "openings", ("fence_id", "type", "opening_type")),
    LayerRule("*candidate*", "confidential", "plan", ("fence_id", "gain")),
    LayerRule("fence*", "restricted", "fences", ("fence_id", "country_pair", "permeability")),
    LayerRule("*crossing*", "restricted", "tracks", ("fence_id", "species", "class")),
    LayerRule("*encounter*", "restricted", "tracks", ("fence_id", "class", "baba_class")),
    LayerRule("*fix*", "restricted", "tracks", ("species",)),
    LayerRule("*track*", "restricted", "tracks", ("species",)),
    LayerRule("countries", "public", "context", ("name", "iso_a3")),
    LayerRule("borders", "public", "context"),
    LayerRule("protected_areas", "public", "context", ("name", "illustrative")),
    LayerRule("ranges", "public", "context", ("name", "season", "illustrative")),
    LayerRule("*", "restricted", "other"),
)

_RULE_KEYS = ("sensitivity", "kind", "public_fields", "country", "title")


def read_rules(path: str | Path) -> tuple[LayerRule, ...]:
    """Rules from a TOML file with one ``[layers."PATTERN"]`` table each; built-ins follow them."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InputFileError(path, f"cannot read the rules ({error})", "Fix the TOML.") from None
    rules = []
    for pattern, body in dict(data.get("layers", {})).items():
        for key in body:
            if key not in _RULE_KEYS:
                raise ConfigError(
                    f"unknown key in [layers.{pattern!r}].{did_you_mean(key, _RULE_KEYS)}",
                    source=str(path),
                    field=key,
                )
        level = check_level(body.get("sensitivity", "restricted"), "sensitivity")
        rules.append(
            LayerRule(
                pattern,
                level,
                body.get("kind", "other"),
                tuple(body.get("public_fields", ())),
                body.get("country", ""),
                body.get("title", ""),
            )
        )
    return (*rules, *DEFAULT_RULES)


def rule_for(name: str, rules: tuple[LayerRule, ...]) -> LayerRule:
    return next(r for r in (*rules, LayerRule("*")) if fnmatch.fnmatchcase(name, r.pattern))


@dataclass
class PublishedRun:
    run_dir: Path
    level: str
    layers: dict[str, int] = field(default_factory=dict)  # name -> features
    tables: dict[str, int] = field(default_factory=dict)  # name -> rows
    rasters: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (width, height)


def _highest(*levels: str) -> str:
    return max(
        (check_level(lv, "sensitivity") for lv in levels if lv), key=SENSITIVITY_LEVELS.index
    )


def _run_level(run_dir: Path) -> str:
    manifest = run_dir / "manifest.json"
    if not manifest.is_file():
        raise InputFileError(
            manifest,
            "is missing",
            "Publish a folder written by a crossings job (it has a manifest).",
        )
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        level = data.get("sensitivity", {}).get("level", "public")
        return check_level(level, "sensitivity")
    except (json.JSONDecodeError, AttributeError) as error:
        raise InputFileError(manifest, f"is not a crossings manifest ({error})") from None
    except ConfigError as error:
        raise InputFileError(manifest, f"sensitivity.level {error.message}") from None


def publish_run(
    session: Session,
    run_dir: str | Path,
    rules: tuple[LayerRule, ...] = DEFAULT_RULES,
    *,
    prefix: str = "",
) -> PublishedRun:
    """Publish every vector layer (GeoPackage, GeoJSON), CSV table and current map of a run."""
    run_dir = Path(run_dir)
    level = _run_level(run_dir)
    result = PublishedRun(run_dir, level)
    paths = [p for p in sorted(run_dir.rglob("*")) if _owner_run(p, run_dir) == run_dir]
    vectors = [
        (prefix + name, frame)
        for path in paths
        if path.suffix.lower() in (".gpkg", ".geojson")
        for name, frame in _vector_layers(path)
    ]
    # Features without a country (openings, crossings) take that of their fence segment.
    fences = {
        str(k): str(v)
        for _, frame in vectors
        if {"fence_id", "country_pair"} <= set(frame.columns)
        for k, v in zip(frame["fence_id"], frame["country_pair"], strict=True)
    }
    for name, frame in vectors:
        result.layers[name] = _publish_layer(session, name, frame, level, rules, run_dir, fences)
    for path in (p for p in paths if p.suffix.lower() == ".csv"):
        name = prefix + path.relative_to(run_dir).with_suffix("").as_posix().replace("/", ".")
        result.tables[name] = _publish_table(session, name, path, level, rules, run_dir)
        points = _csv_points(path, run_dir)
        if points is not None:
            result.layers[name] = _publish_layer(
                session, name, points, level, rules, run_dir, fences
            )
    for path in (p for p in paths if is_current_map(p)):
        name = prefix + path.relative_to(run_dir).with_suffix("").as_posix().replace("/", ".")
        result.rasters[name] = _publish_raster(session, name, path, level, rules, run_dir)
    session.commit()
    return result


def _publish_raster(session, name, path, run_level, rules, run_dir) -> tuple[int, int]:
    grid = read_current_map(path)
    rule = rule_for(name, rules)
    old = session.scalar(select(RasterLayer).where(RasterLayer.name == name))
    version = 1
    if old is not None:
        version = old.version + 1
        session.delete(old)
        session.flush()
    session.add(
        RasterLayer(
            name=name,
            title=rule.title or name.replace("_", " "),
            kind=grid.kind,
            sensitivity=_highest(run_level, rule.sensitivity),
            country=rule.country or grid.countries,
            source_run=str(run_dir),
            crs=grid.crs,
            transform=list(grid.transform),
            width=grid.width,
            height=grid.height,
            vmin=grid.vmin,
            vmax=grid.vmax,
            bounds=list(grid.bounds),
            data=grid.data,
            version=version,
        )
    )
    session.flush()
    return grid.width, grid.height


def _owner_run(path: Path, run_dir: Path) -> Path:
    """The innermost folder at or below ``run_dir`` that holds ``path`` and a manifest."""
    for folder in path.parents:
        if folder == run_dir or (folder / "manifest.json").is_file():
            return folder
    return run_dir


def _csv_points(path: Path, run_dir: Path):
    """A table with lon/lat columns, or x/y in the CRS of the run's vector layers, as points."""
    import geopandas as gpd
    import pandas as pd

    frame = pd.read_csv(path, nrows=MAX_TABLE_ROWS)
    if {"lon", "lat"} <= set(frame.columns):
        xy, crs = (frame["lon"], frame["lat"]), "EPSG:4326"
    elif {"x", "y"} <= set(frame.columns):
        crs = _run_crs(run_dir)
        if crs is None:
            return None
        xy = (frame["x"], frame["y"])
    else:
        return None
    geometry = gpd.points_from_xy(*xy)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=crs)


def _run_crs(run_dir: Path):
    import pyogrio

    for path in sorted(run_dir.glob("*.gpkg")):
        for layer, _ in pyogrio.list_layers(path):
            crs = pyogrio.read_info(path, layer=layer).get("crs")
            if crs:
                return crs
    return None


def _vector_layers(path: Path):
    import pyogrio

    names = [row[0] for row in pyogrio.list_layers(path)]
    for layer in names:
        frame = pyogrio.read_dataframe(path, layer=layer)
        if frame.crs is None:
            raise InputFileError(path, f"layer {layer!r} has no CRS", "Write it with its CRS.")
        yield (layer if len(names) > 1 or path.suffix == ".gpkg" else path.stem), frame


def _publish_layer(session, name, frame, run_level, rules, run_dir, fences) -> int:
    rule = rule_for(name, rules)
    source_crs = frame.crs.to_string()
    frame = frame[~frame.geometry.isna() & ~frame.geometry.is_empty].to_crs("EPSG:4326")
    old = session.scalar(select(Layer).where(Layer.name == name))
    version = 1
    if old is not None:
        version = old.version + 1
        session.execute(delete(Feature).where(Feature.layer_id == old.id))
        session.delete(old)
        session.flush()
    layer = Layer(
        name=name,
        title=rule.title or name.replace("_", " "),
        kind=rule.kind,
        sensitivity=_highest(run_level, rule.sensitivity),
        source_run=str(run_dir),
        source_crs=source_crs,
        public_fields=list(rule.public_fields),
        version=version,
    )
    session.add(layer)
    session.flush()
    columns = [c for c in frame.columns if c != frame.geometry.name]
    country_column = next((c for c in COUNTRY_COLUMNS if c in columns), None)
    geometries = np.asarray(frame.geometry.values)
    bounds = shapely.bounds(geometries)
    records = frame[columns].to_dict("records")
    for row, geometry, box in zip(records, geometries, bounds, strict=True):
        properties = {k: _json_value(v) for k, v in row.items()}
        own = str(properties.pop("sensitivity", "") or "")
        session.add(
            Feature(
                layer_id=layer.id,
                sensitivity=_highest(layer.sensitivity, own),
                country=_country(properties, country_column, rule, fences),
                fence_id=str(properties.get("fence_id") or ""),
                properties=properties,
                wkb=shapely.to_wkb(geometry),
                minx=box[0],
                miny=box[1],
                maxx=box[2],
                maxy=box[3],
            )
        )
    return len(records)


def _country(properties: dict, column: str | None, rule: LayerRule, fences: dict) -> str:
    own = str(properties.get(column) or "") if column else ""
    return own or fences.get(str(properties.get("fence_id")), "") or rule.country


def _json_value(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)) or hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _publish_table(session, name, path, run_level, rules, run_dir) -> int:
    rule = rule_for(name, rules)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        columns = next(reader, [])
        rows = list(itertools.islice(reader, MAX_TABLE_ROWS + 1))
    if len(rows) > MAX_TABLE_ROWS:
        raise InputFileError(path, f"has more than {MAX_TABLE_ROWS} rows", "Publish a summary.")
    session.execute(delete(RunTable).where(RunTable.name == name))
    session.add(
        RunTable(
            name=name,
            sensitivity=_highest(run_level, rule.sensitivity),
            source_run=str(run_dir),
            columns=columns,
            rows=rows,
        )
    )
    return len(rows)
