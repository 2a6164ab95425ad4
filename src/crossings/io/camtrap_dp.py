"""Camtrap DP 1.0 packages: read, validate offline, write; export of crossings camera results.

Validation needs no network: ``datapackage.json`` is checked with ``jsonschema`` against the
bundled Camtrap DP profile (its remote ``$ref``\\ s to the Data Package profile and the GeoJSON
schema map to bundled copies), and the three CSV tables against the bundled table schemas
(field names and order, types, required, unique, enums, ranges, patterns, datetime format,
primary and foreign keys).

Crossings' own notions travel in the standard's tag fields (``key:value`` pairs separated by
``|``): ``deploymentTags`` carries ``featureType:fenceOpening``, ``fenceID``, ``openingID``,
``sideA`` and ``sideB``; ``observationTags`` of event-level observations carries
``crossingDirection`` (``A to B``, ``B to A`` or ``unknown``), ``fromSide``, ``toSide``,
``fenceID`` and ``openingID``.

Privacy: person and vehicle observations are withheld from exports by default, media showing
them are written with ``filePublic: false``, and deployment coordinates can be generalised to the
centre of a grid cell (e.g. 10 km) for public exports.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from crossings.core.camtrap import (
    CameraResult,
    Deployment,
    Detections,
    EventConfig,
    SpeciesMap,
    analyse,
    assign_deployments,
    check_deployments,
    events_from_tags,
    people_per_month,
    summarise,
    unknown_species,
)
from crossings.errors import ConfigError, InputFileError
from crossings.io.atomic import write_text_atomic

__all__ = [
    "VERSION",
    "PROFILE_URL",
    "TABLES",
    "CamtrapPackage",
    "read_camtrapdp",
    "validate_package",
    "table_errors",
    "write_camtrapdp",
    "generalise_coordinates",
    "package_from_camera",
    "parse_tags",
    "build_export",
    "with_generalised",
    "to_camera_inputs",
    "analyse_package",
]

VERSION = "1.0.2"
_BASE = f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{VERSION}"
PROFILE_URL = f"{_BASE}/camtrap-dp-profile.json"
TABLES = ("deployments", "media", "observations")
PRIVATE_TYPES = frozenset({"human", "vehicle"})
_REMOTE = {
    "https://specs.frictionlessdata.io/schemas/data-package.json": "data-package.json",
    "https://frictionlessdata.io/schemas/data-package.json": "data-package.json",
    "http://json.schemastore.org/geojson.json": "geojson.json",
    "https://json.schemastore.org/geojson.json": "geojson.json",
}
_TRUE, _FALSE = ("true", "True", "TRUE", "1"), ("false", "False", "FALSE", "0")
DEFAULT_AEA = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"


def _schema(name: str) -> dict:
    text = resources.files("crossings").joinpath("data", "camtrapdp", name).read_text("utf-8")
    return json.loads(text)


def table_schema(table: str) -> dict:
    """The bundled Camtrap DP 1.0 table schema of ``deployments``, ``media`` or ``observations``."""
    return _schema(f"{table}-table-schema.json")


@dataclass
class CamtrapPackage:
    """A Camtrap DP package in memory: the descriptor and the three tables as rows of strings.

    Cells are kept as the strings of the CSV files (``""`` for missing), so reading and writing
    loses nothing, including fields crossings does not use.
    """

    descriptor: dict
    deployments: list[dict[str, str]] = field(default_factory=list)
    media: list[dict[str, str]] = field(default_factory=list)
    observations: list[dict[str, str]] = field(default_factory=list)

    def table(self, name: str) -> list[dict[str, str]]:
        return getattr(self, name)

    def __repr__(self) -> str:
        return (
            f"CamtrapPackage({self.descriptor.get('name', '?')!r}: {len(self.deployments)} "
            f"deployments, {len(self.media)} media, {len(self.observations)} observations)"
        )


def _validator():
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    pairs = []
    for url, name in _REMOTE.items():
        pairs.append((url, Resource.from_contents(_schema(name), default_specification=DRAFT4)))
    registry = Registry().with_resources(pairs)
    profile = _schema("camtrap-dp-profile.json")
    return jsonschema.Draft4Validator(
        profile, registry=registry, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


def descriptor_errors(descriptor: dict) -> list[str]:
    """Messages for every way ``descriptor`` breaks the Camtrap DP profile (empty if valid)."""
    errors = sorted(_validator().iter_errors(descriptor), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]


def _check_cell(value: str, spec: dict) -> str | None:
    """Why ``value`` breaks the field ``spec`` (None if it is fine); value is not missing."""
    kind, cons = spec.get("type", "string"), spec.get("constraints", {})
    number: float | None = None
    if kind == "integer":
        if not re.fullmatch(r"[+-]?\d+", value):
            return "not an integer"
        number = int(value)
    elif kind == "number":
        try:
            number = float(value)
        except ValueError:
            return "not a number"
    elif kind == "boolean":
        if value not in _TRUE + _FALSE:
            return "not a boolean (true/false)"
    elif kind == "datetime":
        try:
            dt.datetime.strptime(value, spec.get("format", "%Y-%m-%dT%H:%M:%S%z"))
        except ValueError:
            return "not an ISO 8601 datetime with timezone (YYYY-MM-DDThh:mm:ss+hh:mm)"
    if "enum" in cons and value not in cons["enum"]:
        return f"not one of {cons['enum']}"
    if "pattern" in cons and not re.fullmatch(cons["pattern"], value):
        return f"does not match {cons['pattern']!r}"
    if number is not None:
        if "minimum" in cons and number < cons["minimum"]:
            return f"below the minimum {cons['minimum']}"
        if "maximum" in cons and number > cons["maximum"]:
            return f"above the maximum {cons['maximum']}"
    return None


def table_errors(rows: list[dict[str, str]], header: Sequence[str], table: str) -> list[str]:
    """Messages for every cell, header or key of ``rows`` that breaks the table schema.

    Every problem is listed (callers show the first few), so counts of problems add up.
    """
    schema = table_schema(table)
    fields = [f["name"] for f in schema["fields"]]
    if list(header) != fields:
        missing = [f for f in fields if f not in header]
        extra = [h for h in header if h not in fields]
        return [
            (
                f"{table}: header must be the {len(fields)} Camtrap DP fields in order; missing "
                f"{missing}, unknown {extra}"
            )
        ]
    missing_values = set(schema.get("missingValues", [""]))
    errors: list[str] = []
    seen: dict[str, set[str]] = {f["name"]: set() for f in schema["fields"] if _unique(f)}
    for line, row in enumerate(rows, start=2):
        for spec in schema["fields"]:
            name, value = spec["name"], row.get(spec["name"], "")
            if value is None or value in missing_values:
                if spec.get("constraints", {}).get("required"):
                    errors.append(f"{table} row {line} field '{name}': required but empty")
                continue
            problem = _check_cell(value, spec)
            if problem:
                errors.append(f"{table} row {line} field '{name}': {value!r} is {problem}")
            if name in seen:
                if value in seen[name]:
                    errors.append(f"{table} row {line} field '{name}': {value!r} is not unique")
                seen[name].add(value)
    return errors


def _unique(spec: dict) -> bool:
    return bool(spec.get("constraints", {}).get("unique"))


def _foreign_key_errors(package: CamtrapPackage) -> list[str]:
    errors = []
    for table in ("media", "observations"):
        for key in table_schema(table).get("foreignKeys", []):
            column = key["fields"][0]
            target = key["reference"]["resource"]
            known = {r[key["reference"]["fields"][0]] for r in package.table(target)}
            bad = [r[column] for r in package.table(table) if r.get(column) and
                   r[column] not in known]  # fmt: skip
            if bad:
                errors.append(
                    f"{table}.{column}: {len(bad)} values name no {target} row (e.g. {bad[0]!r})"
                )
    return errors


def validate_package(package: CamtrapPackage, source: str = "datapackage.json") -> None:
    """Raise :class:`ConfigError` listing what breaks Camtrap DP 1.0 (offline)."""
    headers = {t: list(package.table(t)[0]) if package.table(t) else
               [f["name"] for f in table_schema(t)["fields"]] for t in TABLES}  # fmt: skip
    errors = descriptor_errors(package.descriptor)
    for table in TABLES:
        errors += table_errors(package.table(table), headers[table], table)
    errors += _foreign_key_errors(package)
    if errors:
        shown = "; ".join(errors[:8]) + (
            f"; ... and {len(errors) - 8} more ({len(errors)} problems)" if len(errors) > 8 else ""
        )
        raise ConfigError(
            f"not a valid Camtrap DP {VERSION} package: {shown}", source=source, field="package"
        )


def read_camtrapdp(path: str | os.PathLike, *, validate: bool = True) -> CamtrapPackage:
    """Read a Camtrap DP 1.0 package from its ``datapackage.json`` (or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "datapackage.json"
    try:
        descriptor = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(
            path, "file not found", "Give the package's datapackage.json"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputFileError(
            path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    resources_by_name = {r.get("name"): r for r in descriptor.get("resources", [])}
    tables = {}
    for table in TABLES:
        resource = resources_by_name.get(table)
        if resource is None or "path" not in resource:
            raise ConfigError(
                f"no '{table}' resource with a path", source=str(path), field="resources"
            )
        tables[table] = _read_rows(path.parent / resource["path"])
    package = CamtrapPackage(descriptor, **tables)
    if validate:
        validate_package(package, source=str(path))
    return package


def _read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        raise InputFileError(path, "table file not found", "Check the resource's path") from None


def parse_tags(text: str) -> dict[str, str]:
    """``"a:1 | b:2 | c"`` -> ``{"a": "1", "b": "2", "c": ""}``.

    >>> parse_tags("fenceID:F1 | openingID:O3 | crossingDirection:A to B")
    {'fenceID': 'F1', 'openingID': 'O3', 'crossingDirection': 'A to B'}
    """
    tags = {}
    for part in (text or "").split("|"):
        part = part.strip()
        if part:
            key, _, value = part.partition(":")
            tags[key.strip()] = value.strip()
    return tags


def _tags(values: dict[str, str]) -> str:
    return " | ".join(f"{k}:{v}" for k, v in values.items() if v not in (None, ""))


def _private_media(package: CamtrapPackage) -> set[str]:
    private = set()
    for row in package.observations:
        if row.get("observationType") in PRIVATE_TYPES or row.get("scientificName") == (
            "Homo sapiens"
        ):
            private.add(row.get("mediaID") or "")
            if row.get("observationLevel") == "event" and row.get("eventID"):
                private.update(_media_of_event(package, row))
    private.discard("")
    return private


def _media_of_event(package: CamtrapPackage, event_row: dict[str, str]) -> set[str]:
    """Media of the event's deployment whose timestamps fall within the event."""
    start = _utc(event_row["eventStart"])
    end = _utc(event_row["eventEnd"])
    return {
        m["mediaID"]
        for m in package.media
        if m["deploymentID"] == event_row["deploymentID"] and start <= _utc(m["timestamp"]) <= end
    }


def _utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


def generalise_coordinates(
    latitude: float, longitude: float, cell_m: float, crs: str = DEFAULT_AEA
) -> tuple[float, float, int]:
    """Centre of the ``cell_m`` grid cell (equal-area CRS) holding a point, and its uncertainty.

    Returns ``latitude, longitude`` of the cell centre (WGS84) and the coordinate uncertainty in
    metres (half the cell diagonal, rounded up) to put in ``coordinateUncertainty``.

    >>> lat, lon, unc = generalise_coordinates(44.1234, 56.789, 10_000)
    >>> unc
    7072
    """
    from pyproj import Transformer

    if not cell_m > 0:
        raise ConfigError(f"grid cell must be > 0 metres; got {cell_m}", field="coordinate grid")
    forward = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = forward.transform(longitude, latitude)
    cx = (math.floor(x / cell_m) + 0.5) * cell_m
    cy = (math.floor(y / cell_m) + 0.5) * cell_m
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(cx, cy)
    return round(lat, 5), round(lon, 5), math.ceil(cell_m * math.sqrt(2) / 2)


def _public_copy(
    package: CamtrapPackage, withhold_private: bool, grid_m: float | None
) -> CamtrapPackage:
    out = CamtrapPackage(
        copy.deepcopy(package.descriptor),
        [dict(r) for r in package.deployments],
        [dict(r) for r in package.media],
        [dict(r) for r in package.observations],
    )
    if withhold_private:
        private = _private_media(package)
        for row in out.media:
            if row["mediaID"] in private:
                row["filePublic"] = "false"
        out.observations = [
            r
            for r in out.observations
            if r.get("observationType") not in PRIVATE_TYPES
            and r.get("scientificName") != "Homo sapiens"
        ]
        out.descriptor["taxonomic"] = [
            t
            for t in out.descriptor.get("taxonomic", [])
            if t.get("scientificName") != "Homo sapiens"
        ]
    if grid_m:
        for row in out.deployments:
            lat, lon, unc = generalise_coordinates(
                float(row["latitude"]), float(row["longitude"]), grid_m
            )
            row.update(latitude=f"{lat}", longitude=f"{lon}", coordinateUncertainty=str(unc))
        out.descriptor["coordinatePrecision"] = round(grid_m / 111_000, 3) or 0.001
    return out


def write_camtrapdp(
    package: CamtrapPackage,
    out_dir: str | os.PathLike,
    *,
    withhold_private: bool = True,
    coordinate_grid_m: float | None = None,
) -> list[Path]:
    """Validate and write a package (``datapackage.json`` + three CSVs) atomically.

    With ``withhold_private`` (the default) human and vehicle observations are dropped and the
    media showing them are marked ``filePublic: false``; ``coordinate_grid_m`` generalises every
    deployment location to the centre of a grid cell of that size. An archive round trip uses
    ``withhold_private=False`` and keeps every observation.
    """
    out_dir = Path(out_dir)
    out = _public_copy(package, withhold_private, coordinate_grid_m)
    validate_package(out, source=str(out_dir / "datapackage.json"))
    written = []
    for table in TABLES:
        fields = [f["name"] for f in table_schema(table)["fields"]]
        written.append(_write_csv(out_dir / f"{table}.csv", fields, out.table(table)))
    descriptor = out.descriptor
    for resource in descriptor.get("resources", []):
        if resource.get("name") in TABLES:
            resource["path"] = f"{resource['name']}.csv"
    written.append(
        write_text_atomic(
            out_dir / "datapackage.json", json.dumps(descriptor, indent=2, ensure_ascii=False)
        )
    )
    return written


def _write_csv(path: Path, fields: list[str], rows: list[dict[str, str]]) -> Path:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({f: row.get(f, "") for f in fields})
    return write_text_atomic(path, buffer.getvalue())


def _iso(seconds: int, offset_s: int) -> str:
    zone = dt.timezone(dt.timedelta(seconds=offset_s))
    return dt.datetime.fromtimestamp(int(seconds), zone).isoformat()


def _num(value: float) -> str:
    return f"{float(value):.6g}"


@dataclass(frozen=True)
class ExportMedia:
    """What the export needs to know about one image (built by the CLI from the inputs)."""

    media_id: str
    file: str
    deployment_index: int
    time: int
    private: bool
    camera_model: str = ""


def package_from_camera(
    result: CameraResult,
    deployments: Sequence[Deployment],
    media: Sequence[ExportMedia],
    boxes: dict[str, list[tuple[str, float, tuple[float, float, float, float]]]],
    *,
    title: str,
    contributor: str,
    detector: str = "MegaDetector",
    media_prefix: str = "media/",
) -> CamtrapPackage:
    """Build a Camtrap DP package from a crossings camera analysis.

    ``boxes`` maps a media id to its kept (already filtered, never private) detections as
    ``(species, confidence, (x, y, w, h))``. One media-level observation per box and one
    event-level observation per independent event (with the crossing direction in
    ``observationTags``) are written.
    """
    missing = [d.deployment_id for d in deployments if d.latitude is None or d.longitude is None]
    if missing:
        raise ConfigError(
            f"deployments {missing[:3]} have no latitude/longitude, which Camtrap DP requires; "
            "add the columns (use --coordinate-grid-km to generalise them for public exports)",
            field="latitude",
        )
    dep_rows = [_deployment_row(i, d, media) for i, d in enumerate(deployments)]
    media_rows = [_media_row(m, deployments, media_prefix) for m in media]
    obs_rows = _box_observations(media, deployments, boxes, detector)
    obs_rows += _event_observations(result, deployments, detector)
    species = sorted({r["scientificName"] for r in obs_rows if r["scientificName"]})
    descriptor = _descriptor(title, contributor, deployments, species, result.config)
    return CamtrapPackage(
        descriptor,
        _complete(dep_rows, "deployments"),
        _complete(media_rows, "media"),
        _complete(obs_rows, "observations"),
    )


def _complete(rows: list[dict[str, str]], table: str) -> list[dict[str, str]]:
    """Rows with every field of the table schema, in the schema's order ("" when not known)."""
    fields = [f["name"] for f in table_schema(table)["fields"]]
    return [{name: row.get(name, "") for name in fields} for row in rows]


def _deployment_row(index: int, dep: Deployment, media: Sequence[ExportMedia]) -> dict[str, str]:
    model = next((m.camera_model for m in media if m.deployment_index == index
                  and m.camera_model), "")  # fmt: skip
    tags = {
        "featureType": "fenceOpening" if dep.opening_id else "fence",
        "fenceID": dep.fence_id,
        "openingID": dep.opening_id,
        "sideA": dep.side_names[0],
        "sideB": dep.side_names[1],
        "structure": dep.structure,
    }
    if dep.timezone:
        tags["timezone"] = dep.timezone
    if dep.opening_date is not None:
        tags["openingDate"] = _iso(dep.opening_date, dep.utc_offset_s)
    if dep.fence_line is not None:
        tags["fenceLine"] = " ".join(f"{v:g}" for point in dep.fence_line for v in point)
    return {
        "deploymentID": dep.deployment_id,
        "locationID": dep.location_id,
        "latitude": _num(dep.latitude),
        "longitude": _num(dep.longitude),
        "deploymentStart": _iso(dep.start, dep.utc_offset_s),
        "deploymentEnd": _iso(dep.end, dep.utc_offset_s),
        "cameraID": dep.camera_id,
        "cameraModel": model,
        "deploymentTags": _tags(tags),
    }


def _media_row(m: ExportMedia, deployments, prefix: str) -> dict[str, str]:
    dep = deployments[m.deployment_index]
    return {
        "mediaID": m.media_id,
        "deploymentID": dep.deployment_id,
        "captureMethod": "activityDetection",
        "timestamp": _iso(m.time, dep.utc_offset_s),
        "filePath": prefix + m.file,
        "filePublic": "false" if m.private else "true",
        "fileName": Path(m.file).name,
        "fileMediatype": "image/jpeg" if Path(m.file).suffix.lower() in (".jpg", ".jpeg")
        else "image/png",
    }  # fmt: skip


def _box_observations(media, deployments, boxes, detector) -> list[dict[str, str]]:
    rows = []
    for m in media:
        dep = deployments[m.deployment_index]
        stamp = _iso(m.time, dep.utc_offset_s)
        for k, (species, conf, (x, y, w, h)) in enumerate(boxes.get(m.media_id, [])):
            rows.append({
                "observationID": f"{m.media_id}_{k + 1}",
                "deploymentID": dep.deployment_id,
                "mediaID": m.media_id,
                "eventStart": stamp,
                "eventEnd": stamp,
                "observationLevel": "media",
                "observationType": "animal",
                "scientificName": species,
                "count": "1",
                "bboxX": _num(x), "bboxY": _num(y), "bboxWidth": _num(w), "bboxHeight": _num(h),
                "classificationMethod": "machine",
                "classifiedBy": detector,
                "classificationProbability": _num(conf),
            })  # fmt: skip
    return rows


def _event_observations(result: CameraResult, deployments, detector) -> list[dict[str, str]]:
    by_id = {d.deployment_id: d for d in deployments}
    rows = []
    for event in result.events.rows():
        dep = by_id[event["deployment_id"]]
        species = event["species"]
        tags = {
            "crossingDirection": event["direction"],
            "fromSide": event["from_side"],
            "toSide": event["to_side"],
            "fenceID": event["fence_id"],
            "openingID": event["opening_id"],
            "period": event["period"],
            "nImages": str(event["n_images"]),
        }
        if event.get("structure") == "ramp":
            tags["useClass"] = event["use_class"]
        rows.append({
            "observationID": f"{dep.deployment_id}_{event['event_id']}",
            "deploymentID": dep.deployment_id,
            "eventID": f"{dep.deployment_id}_{event['event_id']}",
            "eventStart": _iso(event["start"], dep.utc_offset_s),
            "eventEnd": _iso(event["end"], dep.utc_offset_s),
            "observationLevel": "event",
            "observationType": "animal",
            "scientificName": "" if species == "animal" else species,
            "count": str(max(1, int(event["max_count"]))),
            "classificationMethod": "machine",
            "classifiedBy": detector,
            "classificationProbability": _num(event["max_confidence"]),
            "observationTags": _tags(tags),
        })  # fmt: skip
    return rows


def _descriptor(title, contributor, deployments, species, config: EventConfig) -> dict:
    starts = [dt.datetime.fromtimestamp(d.start, dt.timezone.utc) for d in deployments]
    ends = [dt.datetime.fromtimestamp(d.end, dt.timezone.utc) for d in deployments]
    lons = [float(d.longitude) for d in deployments]
    lats = [float(d.latitude) for d in deployments]
    resources_ = [
        {
            "name": t,
            "path": f"{t}.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": f"{_BASE}/{t}-table-schema.json",
        }
        for t in TABLES
    ]
    return {
        "resources": resources_,
        "profile": PROFILE_URL,
        "name": re.sub(r"[^a-z0-9._/-]+", "-", title.lower()).strip("-") or "camera-traps",
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "title": title,
        "contributors": [{"title": contributor, "role": "contact"}],
        "project": {
            "title": title,
            "samplingDesign": "targeted",
            "captureMethod": ["activityDetection"],
            "individualAnimals": False,
            "observationLevel": ["media", "event"],
            "description": (
                "Camera traps at border-fence openings. Events: independence "
                f"{config.independence_s:g} s; sequences {config.sequence_gap_s:g} s. "
                "deploymentTags carry fenceID, openingID and featureType:fenceOpening; "
                "observationTags of event observations carry crossingDirection."
            ),
        },
        "spatial": {
            "type": "Polygon",
            "coordinates": [_bbox_ring(min(lons), min(lats), max(lons), max(lats))],
        },
        "temporal": {
            "start": min(starts).date().isoformat(),
            "end": max(ends).date().isoformat(),
        },
        "taxonomic": [{"scientificName": s} for s in species],
    }


def _bbox_ring(x0, y0, x1, y1) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def with_generalised(deployments: Sequence[Deployment], cell_m: float) -> list[Deployment]:
    """Deployments with coordinates moved to the centres of ``cell_m`` grid cells."""
    out = []
    for d in deployments:
        lat, lon, _ = generalise_coordinates(d.latitude, d.longitude, cell_m)
        out.append(replace(d, latitude=lat, longitude=lon))
    return out


def build_export(
    inputs,
    md,
    deployments: Sequence[Deployment],
    result: CameraResult,
    *,
    title: str,
    contributor: str,
    private_threshold: float = 0.1,
    media_prefix: str = "",
) -> CamtrapPackage:
    """A Camtrap DP package from what ``crossings camera events`` read and computed.

    ``inputs`` is the :class:`crossings.io.camera.CameraInputs` of the run and ``md`` its
    :class:`~crossings.io.camera.MegaDetectorOutput`. ``media.filePath`` is the image path of the
    detections file behind ``media_prefix`` (``"media/"`` when blurred copies are written into
    the package). Person and vehicle boxes never become
    observations; their images are exported with ``filePublic: false``.
    """
    from crossings.core.camtrap import assign_deployments, filter_detections
    from crossings.io.camera import private_boxes

    index = assign_deployments(inputs.camera, inputs.time, deployments)
    private = private_boxes(md, private_threshold)
    kept, _, _ = filter_detections(inputs.detections, replace(result.config, include_private=False))
    boxes: dict[str, list] = {}
    media_ids = {f: _media_id(f) for f in inputs.files}
    for i in np.flatnonzero(np.isfinite(kept.bbox).all(axis=1)):
        species = str(kept.species[i]) if kept.species[i] else ""
        boxes.setdefault(media_ids[str(kept.file[i])], []).append(
            (species, float(kept.confidence[i]), tuple(float(v) for v in kept.bbox[i]))
        )
    media = [
        ExportMedia(
            media_id=media_ids[file],
            file=file,
            deployment_index=int(index[k]),
            time=int(inputs.time[k]),
            private=file in private,
            camera_model=_camera_model(inputs.exif.get(file)),
        )
        for k, file in enumerate(inputs.files)
        if index[k] >= 0
    ]
    return package_from_camera(
        result, deployments, media, boxes, title=title, contributor=contributor,
        detector=md.detector or "MegaDetector", media_prefix=media_prefix,
    )  # fmt: skip


def _media_id(file: str) -> str:
    import hashlib

    return hashlib.sha1(file.encode("utf-8")).hexdigest()[:12]


def _camera_model(record) -> str:
    if record is None or not (record.make or record.model):
        return ""
    return f"{record.make}-{record.model}".strip("-")


_CATEGORY_OF_TYPE = {"animal": "animal", "human": "person", "vehicle": "vehicle"}


def to_camera_inputs(package: CamtrapPackage) -> tuple[Detections, list[Deployment]]:
    """Detections and deployments of a Camtrap DP package, for ``analyse``.

    Deployments take ``fenceID``, ``openingID`` (default: the ``locationID``), ``openingDate``,
    ``fenceLine``, ``sideA``, ``sideB``, ``structure`` and ``timezone`` from ``deploymentTags``
    (as crossings writes them); their camera is ``cameraID``, else ``locationID``, else the
    deployment, so that overlapping deployments of one camera are caught as in the CSV route.
    Media-level observations of animals, humans and vehicles become detections (one per row,
    with its box, count and probability); a package with only event-level observations gives one
    record per event at its start. Blank, unknown and unclassified observations are skipped.
    """
    deployments = [_deployment_from_row(row) for row in package.deployments]
    level = (
        "media"
        if any(o["observationLevel"] == "media" for o in package.observations)
        else ("event")
    )
    return _detections(package, deployments, level), deployments


def _detections(package: CamtrapPackage, deployments, level: str) -> Detections:
    camera = {d.deployment_id: d.camera_id for d in deployments}
    media_time = {m["mediaID"]: m["timestamp"] for m in package.media}
    rows = [
        o
        for o in package.observations
        if o["observationLevel"] == level
        and o["observationType"] in _CATEGORY_OF_TYPE
        and o["deploymentID"] in camera
    ]
    stamps = [media_time.get(o["mediaID"]) or o["eventStart"] for o in rows]
    return Detections(
        file=np.array(
            [o["mediaID"] or o["eventID"] or o["observationID"] for o in rows], dtype=object
        ),  # fmt: skip
        camera_id=np.array([camera[o["deploymentID"]] for o in rows], dtype=object),
        time=np.array([int(_utc(t).timestamp()) for t in stamps], dtype=np.int64),
        category=np.array([_CATEGORY_OF_TYPE[o["observationType"]] for o in rows], dtype=object),
        species=np.array([o["scientificName"] for o in rows], dtype=object),
        confidence=np.array([float(o["classificationProbability"] or 1.0) for o in rows]),
        bbox=np.array([[float(o[k]) if o[k] else np.nan for k in _BBOX] for o in rows]),
        count=np.array([int(o["count"] or 1) for o in rows], dtype=np.int64),
    )


def _tagged_events(package: CamtrapPackage) -> list[dict[str, str]]:
    """Event-level animal observations that carry a crossing tag (as crossings writes them)."""
    return [
        o
        for o in package.observations
        if o["observationLevel"] == "event"
        and o["observationType"] == "animal"
        and "crossingDirection" in parse_tags(o.get("observationTags", ""))
    ]


def analyse_package(
    package: CamtrapPackage,
    config: EventConfig,
    *,
    species_map: SpeciesMap | None = None,
    daylight=None,
    source: str = "datapackage.json",
) -> CameraResult:
    """Analyse a Camtrap DP package.

    When its event-level observations carry ``crossingDirection`` tags (packages written by
    crossings, or tagged by hand), those events are used as they are, with their direction (or
    ``useClass`` at a ramp); otherwise events are built from the media-level boxes. Overlapping
    deployments of one camera are refused, or merged with a warning when
    ``config.merge_overlaps`` is set.
    """
    detections, deployments = to_camera_inputs(package)
    deployments = check_deployments(deployments, source=source, merge=config.merge_overlaps)
    tagged = _tagged_events(package)
    if not tagged:
        result = analyse(detections, deployments, config, species_map=species_map,
                         daylight=daylight)  # fmt: skip
        return result
    camera = {r["deploymentID"]: _camera_of_row(r) for r in package.deployments}
    rows = [o for o in tagged if o["deploymentID"] in camera]
    start = np.array([int(_utc(o["eventStart"]).timestamp()) for o in rows], dtype=np.int64)
    end = np.array([int(_utc(o["eventEnd"] or o["eventStart"]).timestamp()) for o in rows])
    index = assign_deployments(
        np.array([camera[o["deploymentID"]] for o in rows], dtype=object), start, deployments
    )
    inside = index >= 0
    tags = [parse_tags(o.get("observationTags", "")) for o in rows]
    tag = np.array([t.get("useClass") or t["crossingDirection"] for t in tags], dtype=object)
    species = np.array([o["scientificName"] or "animal" for o in rows], dtype=object)
    count = np.array([int(o["count"] or 1) for o in rows], dtype=np.int64)
    images = np.array([int(t.get("nImages") or 1) for t in tags], dtype=np.int64)
    events = events_from_tags(
        index[inside], start[inside], species[inside], count[inside], tag[inside],
        deployments, config, species_map, end=end[inside], images=images[inside],
    )  # fmt: skip
    people = people_per_month(_detections(package, deployments, "event"), deployments, config)
    return summarise(
        events,
        deployments,
        config,
        daylight=daylight,
        outside_deployments=int((~inside).sum()),
        people=people,
        unknown_species=unknown_species(events["species"], species_map),
    )


def _camera_of_row(row: dict[str, str]) -> str:
    return row.get("cameraID") or row.get("locationID") or row["deploymentID"]


_BBOX = ("bboxX", "bboxY", "bboxWidth", "bboxHeight")


def _deployment_from_row(row: dict[str, str]) -> Deployment:
    tags = parse_tags(row.get("deploymentTags", ""))
    start = _utc(row["deploymentStart"])
    line = None
    if tags.get("fenceLine"):
        try:
            x1, y1, x2, y2 = (float(v) for v in tags["fenceLine"].split())
        except ValueError:
            raise ConfigError(
                f"deployment {row['deploymentID']!r}: fenceLine tag must be four numbers "
                f"'x1 y1 x2 y2'; got {tags['fenceLine']!r}",
                field="deploymentTags",
            ) from None
        line = ((x1, y1), (x2, y2))
    opening_date = tags.get("openingDate")
    return Deployment(
        deployment_id=row["deploymentID"],
        camera_id=_camera_of_row(row),
        fence_id=tags.get("fenceID", ""),
        opening_id=tags.get("openingID") or row.get("locationID", ""),
        start=int(start.timestamp()),
        end=int(_utc(row["deploymentEnd"]).timestamp()),
        utc_offset_s=int(start.utcoffset().total_seconds()),
        opening_date=int(_utc(opening_date).timestamp()) if opening_date else None,
        fence_line=line,
        side_names=(tags.get("sideA", "A"), tags.get("sideB", "B")),
        location_id=row.get("locationID", ""),
        latitude=float(row["latitude"]),
        longitude=float(row["longitude"]),
        timezone=tags.get("timezone", ""),
        structure=tags.get("structure", "opening"),
    )
