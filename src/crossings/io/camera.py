"""Camera-trap inputs: MegaDetector batch JSON, EXIF times, labels, deployments; blurred copies.

Every reader validates and raises :class:`~crossings.errors.InputFileError` or
:class:`~crossings.errors.ConfigError` naming the file, the field (or JSON path / CSV row) and the
fix. :func:`load_detections` joins them into the :class:`crossings.core.camtrap.Detections` table
that the core turns into events.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
import re
import warnings
import zoneinfo
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from crossings.core.camtrap import (
    PRIVATE_CATEGORIES,
    Deployment,
    Detections,
    EventConfig,
    SpeciesMap,
    Table,
    assign_deployments,
    check_deployments,
    events_from_tags,
    people_counts,
)
from crossings.errors import ConfigError, CrossingsWarning, InputFileError
from crossings.io.atomic import atomic_path

__all__ = [
    "TAGGED_COLUMNS",
    "read_species_map",
    "read_tagged_records",
    "MegaDetectorOutput",
    "CameraInputs",
    "ExifRecord",
    "read_megadetector",
    "read_exif",
    "read_labels",
    "read_deployments",
    "parse_time",
    "load_detections",
    "check_paths_match_images",
    "write_blurred_copies",
    "IMAGE_SUFFIXES",
    "write_jpeg_with_exif",
    "write_table",
    "write_synthetic_survey",
    "default_synthetic_cameras",
    "private_boxes",
    "blur_boxes",
    "warn_outside",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
BOX_TOLERANCE = 1e-3  # detectors emit values like -5e-07 or 1.0004; clip those, reject the rest
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _OFFSET_ORIGINAL, _OFFSET = 0x9003, 0x9011, 0x9010
_MAKE, _MODEL, _DATETIME, _BODY_SERIAL = 0x010F, 0x0110, 0x0132, 0xA431


@dataclass(frozen=True)
class MegaDetectorOutput:
    """A validated MegaDetector batch output (format 1.x), one row per detection box.

    ``files`` lists every image of the file (also those without detections), ``datetimes``
    the optional per-image ``datetime`` strings (``None`` when absent) and ``failures`` the images
    the detector could not process.
    """

    path: str
    detector: str
    files: list[str]
    datetimes: list[str | None]
    failures: list[str]
    detection_categories: dict[str, str]
    row_file: np.ndarray
    category: np.ndarray
    confidence: np.ndarray
    bbox: np.ndarray
    species: np.ndarray


@dataclass(frozen=True)
class CameraInputs:
    """Everything read for one analysis: the detections table and, per image of the detections
    file, its camera, its UTC time (seconds) and its EXIF record (when images were read)."""

    detections: Detections
    files: list[str]
    camera: np.ndarray
    time: np.ndarray
    exif: dict[str, ExifRecord]


@dataclass(frozen=True, slots=True)
class ExifRecord:
    """What the EXIF header of one image says; ``local_time`` is the camera clock."""

    file: str
    local_time: dt.datetime | None
    utc_offset_s: int | None
    make: str
    model: str
    serial: str


def _load_json(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(path, "file not found", "Check the --detections path") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            path,
            f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            "Fix the file (an interrupted detector run leaves it truncated: re-run it or resume "
            "from its checkpoint)",
        ) from None


def _require(mapping, key: str, kind: type, path: Path, where: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise InputFileError(
            path,
            f"{where}: missing key '{key}'",
            "Is this a MegaDetector batch output (format 1.x)?",
        )
    value = mapping[key]
    if not isinstance(value, kind):
        raise InputFileError(
            path, f"{where}.{key}: expected {kind.__name__}, got {type(value).__name__}"
        )
    return value


def read_megadetector(
    path: str | os.PathLike, *, classification_threshold: float = 0.5
) -> MegaDetectorOutput:
    """Read and validate a MegaDetector batch output file (format 1.x).

    Parameters
    ----------
    path : path-like
        The JSON file written by MegaDetector (``run_detector_batch``) or by
        ``crossings camera detect``.
    classification_threshold : float
        When the file has ``classification_categories``, a detection takes the species of its
        best classification if that is at least this confident.

    Raises
    ------
    InputFileError
        Malformed JSON (with line and column), missing keys, unknown category ids, boxes outside
        0..1 (with the image, the detection index and the value).
    """
    path = Path(path)
    data = _load_json(path)
    categories = _require(data, "detection_categories", dict, path, "top level")
    classes = data.get("classification_categories") or {}
    images = _require(data, "images", list, path, "top level")
    version = str((data.get("info") or {}).get("format_version", "1.0"))
    if not version.startswith("1."):
        raise InputFileError(
            path, f"info.format_version is {version!r}", "Only format 1.x is supported"
        )
    files, datetimes, failures = [], [], []
    raw, row_file, det_index = [], [], []
    for i, image in enumerate(images):
        file = image.get("file") if isinstance(image, dict) else None
        if not isinstance(file, str):
            _require(image, "file", str, path, f"images[{i}]")
        files.append(file)
        stamp = image.get("datetime")
        datetimes.append(str(stamp) if stamp else None)
        if image.get("failure"):
            failures.append(file)
            continue
        detections = image.get("detections") or []
        raw.extend(detections)
        row_file.extend([i] * len(detections))
        det_index.extend(range(len(detections)))
    context = _Context(path, images, row_file, det_index, categories, classes,
                       classification_threshold)  # fmt: skip
    category, conf, boxes = _validated_arrays(raw, context)
    species = _species(raw, context) if classes else np.full(len(raw), "", dtype=object)
    return MegaDetectorOutput(
        str(path),
        str((data.get("info") or {}).get("detector", "")),
        files,
        datetimes,
        failures,
        {str(k): str(v) for k, v in categories.items()},
        np.asarray(row_file, dtype=np.int64),
        category,
        conf,
        boxes,
        np.asarray(species, dtype=object),
    )


@dataclass(frozen=True)
class _Context:
    """What error messages need to name a detection: file, image and detection index."""

    path: Path
    images: list
    row_file: list[int]
    det_index: list[int]
    categories: dict
    classes: dict
    threshold: float

    def where(self, k: int) -> str:
        i = self.row_file[k]
        return f"images[{i}] ('{self.images[i]['file']}') detections[{self.det_index[k]}]"


def _validated_arrays(raw: list, context: _Context):
    """Categories, confidences and boxes as arrays; vectorised checks, detailed errors."""
    n = len(raw)
    try:
        cats = np.array([str(d["category"]) for d in raw], dtype=object)
        conf = np.array([d["conf"] for d in raw], dtype=float).reshape(n)
        boxes = np.array([d["bbox"] for d in raw], dtype=float).reshape(n, 4)
    except (KeyError, TypeError, ValueError):
        for k, det in enumerate(raw):  # slow path: find the first bad detection and say why
            _check_detection(det, context, k)
        raise  # not reached: _check_detection raises for the detection that broke the arrays
    names, inverse = np.unique(cats.astype(str), return_inverse=True)
    known = np.array([c in context.categories for c in names], dtype=bool)
    x, y, w, h = boxes.T
    tol = BOX_TOLERANCE
    good = (
        known[inverse.ravel()] & (conf >= 0) & (conf <= 1) & (x >= -tol) & (y >= -tol) & (w > 0)
        & (h > 0) & (x + w <= 1 + tol) & (y + h <= 1 + tol)
    )  # fmt: skip
    if not good.all():
        k = int(np.flatnonzero(~good)[0])
        _check_detection(raw[k], context, k)
    label = np.array([str(context.categories[c]) for c in names], dtype=object)
    x0, y0 = np.maximum(x, 0.0), np.maximum(y, 0.0)
    clipped = np.column_stack([x0, y0, np.minimum(w, 1.0 - x0), np.minimum(h, 1.0 - y0)])
    return label[inverse.ravel()] if n else np.zeros(0, dtype=object), conf, clipped


def _check_detection(det, context: _Context, k: int) -> None:
    """Raise the detailed error for one detection (the slow path of :func:`_validated_arrays`)."""
    path, where = context.path, context.where(k)
    cat = str(_require(det, "category", (str, int), path, where))
    if cat not in context.categories:
        known = ", ".join(f"{key}={v}" for key, v in context.categories.items())
        raise InputFileError(
            path,
            f"{where}: unknown category id {cat!r} (detection_categories has {known})",
            "Use the detection_categories of the detector that wrote the boxes",
        )
    _check_box(det.get("bbox"), path, where)
    score = det.get("conf")
    if not isinstance(score, (int, float)) or not 0 <= score <= 1:
        raise InputFileError(path, f"{where}.conf must be within 0 and 1; got {score!r}")


def _check_box(box, path: Path, where: str) -> list[float]:
    if not isinstance(box, list) or len(box) != 4:
        raise InputFileError(path, f"{where}.bbox must be [x, y, width, height]; got {box!r}")
    x, y, w, h = (float(v) for v in box)
    tol = BOX_TOLERANCE
    inside = -tol <= x and -tol <= y and w > 0 and h > 0 and x + w <= 1 + tol and y + h <= 1 + tol
    if not inside:
        raise InputFileError(
            path,
            f"{where}.bbox {box} lies outside the image (0..1): boxes must be normalised "
            "[x_min, y_min, width, height]",
            "Boxes in pixels or as [x1, y1, x2, y2] are not MegaDetector format 1.x",
        )
    x, y = max(x, 0.0), max(y, 0.0)
    return [x, y, min(w, 1.0 - x), min(h, 1.0 - y)]


def _second(pair):
    return pair[1]


def _species(raw: list, context: _Context) -> np.ndarray:
    """Best classification per detection at or above the threshold ("" otherwise)."""
    try:
        lists = [d.get("classifications") or () for d in raw]
        ids = {str(pair[0]) for c in lists for pair in c}
        best = [max(c, key=_second) if c else ("", -1.0) for c in lists]
        score = np.array([float(b[1]) for b in best])
        ok = ids <= set(context.classes) and all(len(p) == 2 for c in lists for p in c)
    except (TypeError, ValueError, IndexError, KeyError):
        ok = False
    if not ok:  # slow path: the detailed error names the detection
        return np.array([_best_class(d, context, k) for k, d in enumerate(raw)], dtype=object)
    names = np.array([str(context.classes.get(str(b[0]), "")) for b in best], dtype=object)
    return np.where(score >= context.threshold, names, "").astype(object)


def _best_class(det: dict, context: _Context, k: int) -> str:
    best_name, best_conf = "", context.threshold
    for pair in det.get("classifications") or []:
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputFileError(
                context.path, f"{context.where(k)}.classifications must hold [id, conf] pairs"
            )
        class_id, score = str(pair[0]), float(pair[1])
        if class_id not in context.classes:
            raise InputFileError(
                context.path,
                f"{context.where(k)}: unknown classification id {class_id!r}",
                "Add it to classification_categories",
            )
        if score >= best_conf:
            best_name, best_conf = str(context.classes[class_id]), score
    return best_name


def _exif_one(path: Path) -> ExifRecord:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            exif = image.getexif()
            sub = exif.get_ifd(_EXIF_IFD)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        # unreadable file or corrupt EXIF block: reported as "no usable timestamp" with the rest
        return ExifRecord(str(path), None, None, "", "", "")
    stamp = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    offset = sub.get(_OFFSET_ORIGINAL) or sub.get(_OFFSET)
    return ExifRecord(
        str(path),
        _exif_time(stamp),
        _offset_seconds(offset) if offset else None,
        str(exif.get(_MAKE) or "").strip("\x00 "),
        str(exif.get(_MODEL) or "").strip("\x00 "),
        str(sub.get(_BODY_SERIAL) or "").strip("\x00 "),
    )


def _exif_time(stamp) -> dt.datetime | None:
    if not stamp:
        return None
    try:
        return dt.datetime.strptime(str(stamp).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None  # e.g. "0000:00:00 00:00:00" from a camera whose clock was never set


_DATE_ZONE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:?\d{2})$")
_OFFSET_RE = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def _offset_seconds(text: str) -> int | None:
    match = _OFFSET_RE.match(str(text).strip("\x00 "))
    if not match:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)


def read_exif(
    paths: Sequence[str | os.PathLike], *, workers: int = 2, require_time: bool = True
) -> list[ExifRecord]:
    """EXIF DateTimeOriginal, OffsetTimeOriginal, make, model and serial of each image.

    Only the file headers are read (no pixel decoding). With ``require_time`` an
    :class:`InputFileError` lists every image without a usable timestamp (count and the first
    ones) instead of dropping them.
    """
    paths = [Path(p) for p in paths]
    chunk = max(64, len(paths) // (4 * max(workers, 1)) + 1)
    if workers > 1 and len(paths) > chunk:
        with ThreadPoolExecutor(workers) as pool:
            records = list(pool.map(_exif_one, paths, chunksize=chunk))
    else:
        records = [_exif_one(p) for p in paths]
    if require_time:
        missing = [r.file for r in records if r.local_time is None]
        if missing:
            shown = ", ".join(Path(m).name for m in missing[:5]) + (
                " ..." if len(missing) > 5 else ""
            )
            raise InputFileError(
                Path(missing[0]).parent,
                f"{len(missing)} of {len(records)} images have no usable EXIF DateTimeOriginal "
                f"timestamp: {shown}",
                "Set the time with exiftool (e.g. from the file name or the sequence), or give "
                "the times in the detections file's per-image 'datetime' field",
            )
    return records


def parse_time(text: str, *, source: str, field: str, default_offset_s: int | None = None) -> int:
    """Seconds since 1970 UTC from an ISO 8601 string (a date alone means midnight).

    A time without an offset takes ``default_offset_s``; with none given that is an error, since a
    silently assumed time zone shifts every event.

    >>> parse_time("2023-05-01T06:00:00+05:00", source="x", field="start")
    1682902800
    >>> parse_time("2023-05-01+05:00", source="x", field="start")
    1682881200
    """
    text = str(text).strip()
    date_with_zone = _DATE_ZONE_RE.match(text)
    if date_with_zone:  # fromisoformat would silently drop the offset of a bare date
        text = f"{date_with_zone.group(1)}T00:00:00{date_with_zone.group(2)}"
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"not an ISO 8601 date or time: {text!r}; write e.g. 2023-05-01T06:00:00+05:00",
            source=source,
            field=field,
        ) from None
    if value.tzinfo is None:
        if default_offset_s is None:
            raise ConfigError(
                f"time {text!r} has no UTC offset; add one (e.g. +05:00) or a utc_offset column",
                source=source,
                field=field,
            )
        value = value.replace(tzinfo=dt.timezone(dt.timedelta(seconds=default_offset_s)))
    return int(value.timestamp())


def _read_csv(path: Path, required: Iterable[str]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = reader.fieldnames or []
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise ConfigError(
            f"missing column(s) {missing}; the header has {header}",
            source=str(path),
            field=missing[0],
        )
    return rows


def read_labels(path: str | os.PathLike) -> dict[str, tuple[str, int]]:
    """Species labels per image from a CSV with columns ``file, species, count``.

    Returns ``{file: (species, count)}``; the count is the number of individuals in the image.
    """
    path = Path(path)
    labels: dict[str, tuple[str, int]] = {}
    for line, row in enumerate(_read_csv(path, ("file", "species", "count")), start=2):
        file, species = row["file"].strip(), row["species"].strip()
        if not file or not species:
            raise ConfigError(f"row {line}: empty file or species", source=str(path), field="file")
        try:
            count = int(row["count"])
        except ValueError:
            count = -1
        if count < 1:
            raise ConfigError(
                f"row {line}: count must be a whole number >= 1; got {row['count']!r}",
                source=str(path),
                field="count",
            )
        labels[file] = (species, count)
    return labels


_DEPLOYMENT_COLUMNS = (
    "deployment_id", "camera_id", "location_id", "fence_id", "opening_id", "start", "end",
    "utc_offset", "opening_date", "latitude", "longitude", "line_x1", "line_y1", "line_x2",
    "line_y2", "side_a", "side_b", "timezone", "structure",
)  # fmt: skip


def read_species_map(path: str | os.PathLike) -> SpeciesMap:
    r"""Species mapping table (CSV): ``name`` (as written in the records, common or
    scientific), ``species`` (the name to report) and an optional ``group`` (e.g. a guild).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "map.csv"
    >>> _ = p.write_text("name,species,group\nsaiga,Saiga tatarica,ungulate\n")
    >>> m = read_species_map(p)
    >>> m.names["saiga"], m.groups["saiga tatarica"]
    ('Saiga tatarica', 'ungulate')
    """
    path = Path(path)
    names, groups = {}, {}
    for line, row in enumerate(_read_csv(path, ("name", "species")), start=2):
        name, species = (row["name"] or "").strip(), (row["species"] or "").strip()
        if not name or not species:
            raise ConfigError(f"row {line}: empty name or species", source=str(path), field="name")
        names[name] = species
        if (row.get("group") or "").strip():
            groups[species] = row["group"].strip()
            groups[name] = row["group"].strip()
    return SpeciesMap(names, groups)


_HUMAN_NAMES = ["person", "human", "homo sapiens", "vehicle", "car", "people"]


#: Columns of a tagged-records table (``structure`` is optional).
TAGGED_COLUMNS = ("site", "datetime", "species", "count", "direction")


def read_tagged_records(
    path: str | os.PathLike,
    deployments: Sequence[Deployment],
    config: EventConfig | None = None,
    species_map: SpeciesMap | None = None,
) -> tuple[Table, list[Deployment], int, Table]:
    """Events from a tagged-records CSV, the common legacy format of crossing-structure surveys.

    Columns: ``site`` (a deployment's ``camera_id``, ``location_id`` or ``deployment_id``),
    ``datetime`` (ISO 8601; without an offset, the site's time zone or UTC offset),
    ``species``, ``count``, ``direction`` (``A to B``, ``B to A``, at a ramp ``used``,
    ``refused`` or ``approached``; blank for unknown) and optionally ``structure`` (which then
    sets the deployment's structure type). Records become events as detections do (one species
    at one site, ``independence_s``). Records of people and vehicles (``person``, ``human``,
    ``Homo sapiens``, ``vehicle``) never become events: they are only counted. Returns the
    events, the deployments (structures set), the number of records outside every deployment
    and the RESTRICTED people-per-month counts.
    """
    path, source = Path(path), str(path)
    config = config or EventConfig()
    rows = _read_csv(path, TAGGED_COLUMNS)
    deployments = _with_structures(rows, list(deployments), source)
    site_of = {}
    for d in deployments:
        for key in (d.deployment_id, d.location_id, d.camera_id):
            if key:
                site_of.setdefault(key, d)
    cameras, times, species, counts, tags = [], [], [], [], []
    for line, row in enumerate(rows, start=2):
        site = (row["site"] or "").strip()
        if site not in site_of:
            raise ConfigError(
                f"row {line}: site {site!r} is no deployment, camera or location of the "
                "deployments table; add it there",
                source=source,
                field="site",
            )
        dep = site_of[site]
        offset = (
            _zone_offset(zoneinfo.ZoneInfo(dep.timezone), row["datetime"])
            if dep.timezone
            else dep.utc_offset_s
        )
        times.append(parse_time(row["datetime"], source=source, field=f"row {line} datetime",
                                default_offset_s=offset))  # fmt: skip
        cameras.append(dep.camera_id)
        species.append((row["species"] or "").strip() or "animal")
        counts.append(_whole(row["count"] or "1", line, source))
        tags.append((row["direction"] or "").strip())
    index = assign_deployments(np.array(cameras, dtype=object), np.array(times), deployments)
    inside = index >= 0
    species = np.array(species, dtype=object)
    human = np.isin(np.char.lower(species.astype(str)), _HUMAN_NAMES)
    columns = (np.array(times, np.int64), species, np.array(counts, np.int64),
               np.array(tags, dtype=object))  # fmt: skip
    animals = inside & ~human
    events = events_from_tags(index[animals], *(c[animals] for c in columns), deployments,
                              config, species_map)  # fmt: skip
    people = inside & human
    private = events_from_tags(index[people], *(c[people] for c in columns), deployments, config)
    return events, deployments, int((~inside).sum()), people_counts(private)


def _whole(text: str, line: int, source: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise ConfigError(
            f"row {line}: count must be a whole number >= 1; got {text!r}",
            source=source,
            field="count",
        )
    return value


def _with_structures(rows, deployments: list[Deployment], source: str) -> list[Deployment]:
    if not rows or "structure" not in rows[0]:
        return deployments
    by_site: dict[str, set[str]] = {}
    for row in rows:
        if (row.get("structure") or "").strip():
            by_site.setdefault(row["site"].strip(), set()).add(row["structure"].strip())
    out = []
    for d in deployments:
        kinds = set().union(
            *(by_site.get(k, set()) for k in (d.deployment_id, d.location_id, d.camera_id) if k)
        )
        if len(kinds) > 1:
            raise ConfigError(
                f"site of deployment {d.deployment_id!r} has several structures {sorted(kinds)}; "
                "give one per site",
                source=source,
                field="structure",
            )
        out.append(dataclasses.replace(d, structure=kinds.pop()) if kinds else d)
    return out


def read_deployments(path: str | os.PathLike, *, merge_overlaps: bool = False) -> list[Deployment]:
    """Read the deployments table (CSV) and check that no camera has overlapping deployments.

    Columns: ``camera_id, fence_id, start, end`` (required); ``deployment_id`` (default
    ``camera_id@start``), ``location_id``, ``opening_id``, ``utc_offset`` (e.g. ``+05:00``; default
    the offset written in ``start``), ``opening_date``, ``latitude``, ``longitude`` (WGS84),
    ``line_x1, line_y1, line_x2, line_y2`` (the fence line in normalised image coordinates, all
    four or none), ``side_a, side_b`` (names of the two sides, default ``A`` and ``B``),
    ``timezone`` (IANA name, e.g. ``Asia/Tashkent``: local times with daylight saving; times
    without an offset are read in it) and ``structure`` (``opening``, ``underpass``,
    ``overpass`` or ``ramp``). Overlapping deployments of one camera are refused, or merged
    with a warning when ``merge_overlaps`` is set.
    """
    path = Path(path)
    rows = _read_csv(path, ("camera_id", "fence_id", "start", "end"))
    if not rows:
        raise ConfigError("no deployments", source=str(path), field="camera_id")
    unknown = [c for c in rows[0] if c not in _DEPLOYMENT_COLUMNS]
    if unknown:
        raise ConfigError(
            f"unknown column(s) {unknown}; allowed: {', '.join(_DEPLOYMENT_COLUMNS)}",
            source=str(path),
            field=unknown[0],
        )
    deployments = [_deployment(row, line, str(path)) for line, row in enumerate(rows, start=2)]
    return check_deployments(deployments, source=str(path), merge=merge_overlaps)


def _deployment(row: dict[str, str], line: int, source: str) -> Deployment:
    def text(name: str) -> str:
        return (row.get(name) or "").strip()

    def number(name: str) -> float | None:
        value = text(name)
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            raise ConfigError(
                f"row {line}: not a number: {value!r}", source=source, field=name
            ) from None

    for name in ("camera_id", "fence_id", "start", "end"):
        if not text(name):
            raise ConfigError(f"row {line}: empty value", source=source, field=name)
    offset = _row_offset(text("utc_offset"), text("start"), line, source)
    zone = _row_zone(text("timezone"), line, source)
    if offset is None and zone is not None:
        offset = _zone_offset(zone, text("start"))
    times = {
        name: parse_time(text(name), source=source, field=f"row {line} {name}",
                         default_offset_s=offset)
        for name in ("start", "end", "opening_date") if text(name)
    }  # fmt: skip
    line_values = [number(n) for n in ("line_x1", "line_y1", "line_x2", "line_y2")]
    fence_line = None
    if any(v is not None for v in line_values):
        if any(v is None for v in line_values):
            raise ConfigError(
                f"row {line}: give all four of line_x1, line_y1, line_x2, line_y2 or none",
                source=source,
                field="line_x1",
            )
        if not all(-0.5 <= v <= 1.5 for v in line_values):
            raise ConfigError(
                f"row {line}: fence line points must be in normalised image coordinates "
                f"(0..1 of width and height); got {line_values}",
                source=source,
                field="line_x1",
            )
        fence_line = ((line_values[0], line_values[1]), (line_values[2], line_values[3]))
    lat, lon = number("latitude"), number("longitude")
    if lat is not None and not -90 <= lat <= 90:
        raise ConfigError(f"row {line}: latitude {lat} outside -90..90", source=source,
                          field="latitude")  # fmt: skip
    if lon is not None and not -180 <= lon <= 180:
        raise ConfigError(f"row {line}: longitude {lon} outside -180..180", source=source,
                          field="longitude")  # fmt: skip
    try:
        return Deployment(
            deployment_id=text("deployment_id") or f"{text('camera_id')}@{text('start')}",
            camera_id=text("camera_id"),
            fence_id=text("fence_id"),
            opening_id=text("opening_id"),
            start=times["start"],
            end=times["end"],
            utc_offset_s=offset if offset is not None else 0,
            opening_date=times.get("opening_date"),
            fence_line=fence_line,
            side_names=(text("side_a") or "A", text("side_b") or "B"),
            location_id=text("location_id"),
            latitude=lat,
            longitude=lon,
            timezone=text("timezone"),
            structure=text("structure") or "opening",
        )
    except ConfigError as exc:
        raise ConfigError(f"row {line}: {exc.message}", source=source, field=exc.field) from None


def _row_zone(name: str, line: int, source: str):
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"row {line}: {name!r} is not an IANA time zone name (e.g. Asia/Tashkent)",
            source=source,
            field="timezone",
        ) from None


def _zone_offset(zone, start: str) -> int:
    """Offset of ``zone`` at a naive local ``start`` (the camera clock's offset then)."""
    try:
        local = dt.datetime.fromisoformat(start.strip())
    except ValueError:
        return 0  # parse_time reports the bad value
    return int(local.replace(tzinfo=zone).utcoffset().total_seconds())


def _row_offset(utc_offset: str, start: str, line: int, source: str) -> int | None:
    if utc_offset:
        seconds = _offset_seconds(utc_offset)
        if seconds is None:
            raise ConfigError(
                f"row {line}: utc_offset must look like +05:00 or -03:30; got {utc_offset!r}",
                source=source,
                field="utc_offset",
            )
        return seconds
    match = re.search(r"(Z|[+-]\d{2}:?\d{2})$", start)
    if not match:
        return None  # no offset written: parse_time asks for one
    return 0 if match.group(1) == "Z" else _offset_seconds(match.group(1))


def check_paths_match_images(md: MegaDetectorOutput, images_dir: str | os.PathLike) -> None:
    """Raise if detection file paths do not match images under ``images_dir``.

    A detections file made on another folder layout (run on a parent folder, or on another
    machine) is caught here with the count and an example, instead of silently matching nothing.
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise InputFileError(root, "images folder not found", "Check the --images path")
    missing = [f for f in md.files if not (root / PurePosixPath(f.replace("\\", "/"))).is_file()]
    if missing:
        on_disk = next((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES), None)
        example_disk = on_disk.relative_to(root).as_posix() if on_disk else "no images at all"
        raise InputFileError(
            md.path,
            f"{len(missing)} of {len(md.files)} image paths match no file under {root} "
            f"(e.g. '{missing[0]}'; an image there is '{example_disk}')",
            "Point --images at the folder the detector was run on, so that the paths in the "
            "detections file are relative to it",
        )


def _camera_of(file: str, cameras: set[str], serials: dict[str, str]) -> str:
    """The camera an image belongs to: its EXIF serial or the first folder naming a camera."""
    serial = serials.get(file, "")
    if serial in cameras:
        return serial
    for part in file.replace("\\", "/").split("/")[:-1]:
        if part in cameras:
            return part
    return ""


def load_detections(
    md: MegaDetectorOutput,
    deployments: Sequence[Deployment],
    *,
    images_dir: str | os.PathLike | None = None,
    labels: dict[str, tuple[str, int]] | None = None,
    workers: int = 2,
) -> CameraInputs:
    """Join detections, image times and labels into the core's :class:`Detections` table.

    The camera of an image is its EXIF serial number if that is a ``camera_id`` of the
    deployments table, else the first folder of its path that is one. Times come from EXIF
    (``images_dir`` given) or from the detections file's per-image ``datetime``; without an EXIF
    offset the camera's ``utc_offset`` from the deployments table applies. Labels replace the
    species of an image's animal boxes (or add a record if the detector found none).
    """
    cameras = {d.camera_id for d in deployments}
    offsets = {d.camera_id: d.utc_offset_s for d in deployments}
    exif: dict[str, ExifRecord] = {}
    if images_dir is not None:
        check_paths_match_images(md, images_dir)
        root = Path(images_dir)
        records = read_exif([root / f for f in md.files], workers=workers, require_time=False)
        exif = {f: r for f, r in zip(md.files, records, strict=True)}
        _check_times(md, exif, root)
    serials = {f: r.serial for f, r in exif.items()}
    camera = [_camera_of(f, cameras, serials) for f in md.files]
    unknown = [f for f, c in zip(md.files, camera, strict=True) if not c]
    if unknown:
        raise InputFileError(
            md.path,
            f"{len(unknown)} of {len(md.files)} images belong to no camera of the deployments "
            f"table (e.g. '{unknown[0]}'; cameras: {', '.join(sorted(cameras))})",
            "Put each camera's images in a folder named by its camera_id, or use the camera "
            "serial number as camera_id",
        )
    times = _image_times(md, exif, camera, offsets)
    return CameraInputs(
        _join(md, camera, times, labels or {}), md.files, np.asarray(camera, dtype=object),
        times, exif,
    )  # fmt: skip


def _check_times(md: MegaDetectorOutput, exif: dict[str, ExifRecord], root: Path) -> None:
    """Every image needs an EXIF time or a ``datetime`` in the detections file; list those
    without either instead of dropping them."""
    missing = [f for f, stamp in zip(md.files, md.datetimes, strict=True)
               if exif[f].local_time is None and not stamp]  # fmt: skip
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputFileError(
            root,
            f"{len(missing)} of {len(md.files)} images have no usable EXIF DateTimeOriginal "
            f"timestamp (and no 'datetime' in the detections file): {shown}",
            "Set the time with exiftool (e.g. from the file name or the sequence), or give "
            "the times in the detections file's per-image 'datetime' field",
        )


def _image_times(md, exif, camera, offsets) -> np.ndarray:
    times = np.zeros(len(md.files), dtype=np.int64)
    naive = []  # plain local times (no offset): converted in one vectorised step below
    for i, file in enumerate(md.files):
        stamp = md.datetimes[i]
        if file in exif and exif[file].local_time is not None:
            rec = exif[file]
            offset = rec.utc_offset_s if rec.utc_offset_s is not None else offsets[camera[i]]
            local = rec.local_time.replace(tzinfo=dt.timezone(dt.timedelta(seconds=offset)))
            times[i] = int(local.timestamp())
        elif stamp and len(stamp) == 19 and stamp[10] in "T ":
            naive.append(i)
        elif stamp:
            times[i] = parse_time(stamp, source=md.path, field=f"images[{i}].datetime",
                                  default_offset_s=offsets[camera[i]])  # fmt: skip
        else:
            raise InputFileError(
                md.path,
                f"images[{i}] ('{file}') has no time: no 'datetime' field and no --images folder",
                "Give --images so that EXIF times are read",
            )
    if naive:
        rows = np.asarray(naive)
        text = np.array([md.datetimes[i].replace(" ", "T") for i in naive])
        try:
            local = text.astype("datetime64[s]").astype(np.int64)
        except ValueError:
            for i in naive:  # name the first bad one
                parse_time(md.datetimes[i], source=md.path, field=f"images[{i}].datetime",
                           default_offset_s=0)  # fmt: skip
            raise
        offset = np.array([offsets[camera[i]] for i in naive], dtype=np.int64)
        times[rows] = local - offset
    return times


def _join(md, camera, times, labels) -> Detections:
    file_index = md.row_file
    species = md.species.copy()
    count = np.ones(len(file_index), dtype=np.int64)
    extra_file, extra_species, extra_count = [], [], []
    animal = md.category == "animal"
    position = {f: i for i, f in enumerate(md.files)}
    for file, (label, n) in labels.items():
        if file not in position:
            raise InputFileError(
                file, "labelled image is not in the detections file",
                "Label the images the detector processed (same relative paths)",
            )  # fmt: skip
        rows = np.flatnonzero((file_index == position[file]) & animal)
        if len(rows):
            species[rows] = label
            count[rows] = 0
            count[rows[0]] = n
        else:
            extra_file.append(position[file])
            extra_species.append(label)
            extra_count.append(n)
    index = np.concatenate([file_index, np.asarray(extra_file, dtype=np.int64)])
    files = np.asarray(md.files, dtype=object)
    cams = np.asarray(camera, dtype=object)
    n_extra = len(extra_file)
    return Detections(
        file=files[index] if len(index) else np.zeros(0, dtype=object),
        camera_id=cams[index] if len(index) else np.zeros(0, dtype=object),
        time=times[index],
        category=np.concatenate([md.category, np.full(n_extra, "animal", dtype=object)]),
        species=np.concatenate([species, np.asarray(extra_species, dtype=object)]),
        confidence=np.concatenate([md.confidence, np.ones(n_extra)]),
        bbox=np.vstack([md.bbox, np.full((n_extra, 4), np.nan)]),
        count=np.concatenate([count, np.asarray(extra_count, dtype=np.int64)]),
    )


def private_boxes(md: MegaDetectorOutput, threshold: float = 0.1) -> dict[str, np.ndarray]:
    """Person and vehicle boxes per image at or above ``threshold`` (low: privacy first)."""
    private = np.isin(md.category, list(PRIVATE_CATEGORIES)) & (md.confidence >= threshold)
    result: dict[str, list] = {}
    for row in np.flatnonzero(private):
        result.setdefault(md.files[md.row_file[row]], []).append(md.bbox[row])
    return {k: np.asarray(v) for k, v in result.items()}


def write_blurred_copies(
    md: MegaDetectorOutput,
    images_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    files: Iterable[str] | None = None,
    threshold: float = 0.1,
) -> list[Path]:
    """Copy images to ``out_dir`` with person and vehicle boxes blurred beyond recognition.

    Boxes are pixelated and then blurred (a Gaussian blur alone can leave faces readable at high
    resolution); GPS tags are removed from every copy. Returns the written paths.
    """
    from PIL import Image

    boxes = private_boxes(md, threshold)
    written = []
    for file in files if files is not None else md.files:
        source = Path(images_dir) / PurePosixPath(file.replace("\\", "/"))
        target = Path(out_dir) / PurePosixPath(file.replace("\\", "/"))
        with Image.open(source) as image:
            exif = image.getexif()
            if _GPS_IFD in exif:
                del exif[_GPS_IFD]
            copy = blur_boxes(image.convert("RGB"), boxes.get(file, np.zeros((0, 4))))
            jpeg = target.suffix.lower() in (".jpg", ".jpeg")
            options = {"format": "JPEG", "quality": 92} if jpeg else {}
            with atomic_path(target) as tmp:
                copy.save(tmp, exif=exif.tobytes(), **options)
        written.append(target)
    return written


def blur_boxes(image, boxes: np.ndarray):
    """A copy of a Pillow image with each normalised ``[x, y, w, h]`` box made unrecognisable."""
    from PIL import Image, ImageFilter

    result = image.copy()
    width, height = image.size
    for x, y, w, h in np.asarray(boxes, dtype=float).reshape(-1, 4):
        left, top = int(np.floor(x * width)), int(np.floor(y * height))
        right = min(width, int(np.ceil((x + w) * width)))
        bottom = min(height, int(np.ceil((y + h) * height)))
        if right <= left or bottom <= top:
            continue
        region = result.crop((left, top, right, bottom))
        block = max(4, min(region.size) // 8)
        small = region.resize(
            (max(1, region.size[0] // block), max(1, region.size[1] // block)), Image.BILINEAR
        )
        region = small.resize(region.size, Image.NEAREST).filter(
            ImageFilter.GaussianBlur(radius=block)
        )
        result.paste(region, (left, top))
    return result


def warn_outside(count: int, source: str) -> None:
    """Warn (never silently drop) about detections outside every deployment period."""
    if count:
        warnings.warn(
            f"{source}: {count} detections fall outside every deployment period of their camera "
            "and are left out; check the deployments' start/end and the camera clocks",
            CrossingsWarning,
            stacklevel=2,
        )


def write_jpeg_with_exif(
    path: str | os.PathLike,
    rgb: np.ndarray,
    *,
    local_time: dt.datetime | None,
    utc_offset: str | None = None,
    make: str = "",
    model: str = "",
    serial: str = "",
    quality: int = 90,
) -> Path:
    """Write an RGB array as a JPEG with EXIF DateTimeOriginal/OffsetTimeOriginal (tests, demo)."""
    from PIL import Image

    exif = Image.Exif()
    if make:
        exif[_MAKE] = make
    if model:
        exif[_MODEL] = model
    sub = exif.get_ifd(_EXIF_IFD)
    if local_time is not None:
        sub[_DATETIME_ORIGINAL] = local_time.strftime("%Y:%m:%d %H:%M:%S")
    if utc_offset:
        sub[_OFFSET_ORIGINAL] = utc_offset
    if serial:
        sub[_BODY_SERIAL] = serial
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(
            tmp, format="JPEG", quality=quality, exif=exif.tobytes()
        )
    return path


def write_table(table, path: str | os.PathLike, *, time_columns: Sequence[str] = ()) -> Path:
    """Write a core :class:`~crossings.core.camtrap.Table` as CSV (times as ISO 8601 UTC)."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = list(table.columns)
    writer.writerow(names)
    columns = []
    for name in names:
        values = np.asarray(table[name])
        if name in time_columns:
            values = np.datetime_as_string(values.astype("datetime64[s]"), unit="s")
            values = np.char.add(values.astype(str), "Z")
        elif values.dtype.kind == "f":
            values = np.array([f"{v:.6g}" if np.isfinite(v) else "" for v in values])
        columns.append(values.tolist())
    writer.writerows(zip(*columns, strict=True))
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return Path(path)


# --- synthetic survey (demo and benchmark; every output says it is synthetic) ------------------

SYNTHETIC_SPECIES = ("Saiga tatarica", "Gazella subgutturosa", "Equus hemionus", "Canis lupus")
_SPECIES_WEIGHT = (0.45, 0.3, 0.15, 0.1)
_SURVEY_START = dt.datetime(2023, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
_SURVEY_DAYS = 365
DEPLOYMENT_HEADER = ",".join(_DEPLOYMENT_COLUMNS)


def default_synthetic_cameras(n_cameras: int = 20) -> list[dict[str, str]]:
    """Deployment rows of a synthetic survey: two cameras per opening, every other one with a
    fence line, openings made on 2023-06-01 at every other opening."""
    rows = []
    for cam in range(n_cameras):
        line = ("0", "0.62", "1", "0.58") if cam % 2 == 0 else ("", "", "", "")
        rows.append({
            "deployment_id": f"d{cam:02d}", "camera_id": f"C{cam:02d}",
            "fence_id": f"KZ-UZ-{1 + cam // 8:02d}", "opening_id": f"O{cam // 2 + 1}",
            "opening_date": "2023-06-01T00:00:00+05:00" if cam // 2 % 2 == 0 else "",
            "latitude": f"{44.0 + 0.01 * cam:.4f}", "longitude": f"{56.0 + 0.03 * cam:.4f}",
            "line_x1": line[0], "line_y1": line[1], "line_x2": line[2], "line_y2": line[3],
            "side_a": "KAZ", "side_b": "UZB",
        })  # fmt: skip
    return rows


def write_synthetic_survey(
    out_dir: str | os.PathLike,
    n_images: int,
    *,
    cameras: Sequence[dict[str, str]] | None = None,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``md.json`` and ``deployments.csv`` of a SYNTHETIC fence-opening survey.

    One year (2023, UTC+05:00) per camera; animal passages with spring/autumn peaks and
    crepuscular hours, bursts of 1-7 images whose boxes move across the image (half of them
    from the far to the near side), 7 % border patrols (person), 3 % vehicles and blank images.
    The detections file says ``"detector": "SYNTHETIC"``.
    """
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    cameras = list(cameras) if cameras is not None else default_synthetic_cameras()
    images: list[dict] = []
    for camera in cameras:
        images += _camera_images(rng, camera["camera_id"], n_images // len(cameras))
    md = {
        "info": {"format_version": "1.4", "detector": "SYNTHETIC"},
        "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
        "classification_categories": {str(i): s for i, s in enumerate(SYNTHETIC_SPECIES)},
        "images": images,
    }
    defaults = {"start": "2023-01-01T00:00:00+05:00", "end": "2024-01-01T00:00:00+05:00",
                "utc_offset": "+05:00"}  # fmt: skip
    lines = [DEPLOYMENT_HEADER] + [
        ",".join(str({**defaults, **c}.get(k, "")) for k in _DEPLOYMENT_COLUMNS) for c in cameras
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "md.json") as tmp:
        tmp.write_text(json.dumps(md), encoding="utf-8")
    with atomic_path(out_dir / "deployments.csv") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out_dir / "md.json", out_dir / "deployments.csv"


def _passage_times(rng, n: int) -> np.ndarray:
    """Seconds from START: saiga-like seasonality (spring/autumn peaks), crepuscular hours."""
    day = rng.choice(_SURVEY_DAYS, n, p=_season_weights())
    hour = rng.choice(24, n, p=_diel_weights())
    return day * 86400 + hour * 3600 + rng.integers(0, 3600, n)


def _season_weights() -> np.ndarray:
    day = np.arange(_SURVEY_DAYS)
    w = 0.3 + np.exp(-(((day - 100) / 25) ** 2)) + 0.8 * np.exp(-(((day - 290) / 30) ** 2))
    return w / w.sum()


def _diel_weights() -> np.ndarray:
    hour = np.arange(24)
    w = 0.2 + np.exp(-(((hour - 6) / 2) ** 2)) + np.exp(-(((hour - 19) / 2) ** 2))
    return w / w.sum()


def _camera_images(rng, camera: str, n: int) -> list[dict]:
    images = []
    n_passages = max(1, n // 4)
    starts = np.sort(_passage_times(rng, n_passages))
    counter = 0
    for t0 in starts:
        burst = int(rng.integers(1, 8))
        kind = rng.choice(3, p=(0.9, 0.07, 0.03))  # animal, person (patrol), vehicle
        species = int(rng.choice(len(SYNTHETIC_SPECIES), p=_SPECIES_WEIGHT))
        y0, y1 = (0.3, 0.85) if rng.random() < 0.5 else (0.85, 0.3)
        if rng.random() < 0.3:
            y1 = y0  # lingers on one side
        for k in range(burst):
            if counter >= n:
                return images
            t = int(t0 + k * rng.integers(2, 20))
            stamp = (_SURVEY_START + dt.timedelta(seconds=t)).replace(tzinfo=None).isoformat()
            foot = y0 + (y1 - y0) * k / max(burst - 1, 1)
            images.append({
                "file": f"{camera}/{counter:06d}.jpg",
                "datetime": stamp,
                "detections": _detections(rng, int(kind), species, foot),
            })  # fmt: skip
            counter += 1
    while counter < n:  # blanks from wind and heat (no detections)
        stamp = (
            _SURVEY_START + dt.timedelta(seconds=int(rng.integers(0, _SURVEY_DAYS * 86400)))
        ).replace(tzinfo=None)
        images.append({"file": f"{camera}/{counter:06d}.jpg", "datetime": stamp.isoformat(),
                       "detections": []})  # fmt: skip
        counter += 1
    return images


def _detections(rng, kind: int, species: int, foot: float) -> list[dict]:
    h = float(rng.uniform(0.1, 0.25))
    y = min(max(foot - h, 0.0), 1 - h)
    x = float(rng.uniform(0.05, 0.7))
    det = {"category": str(kind + 1), "conf": round(float(rng.uniform(0.15, 0.99)), 3),
           "bbox": [round(x, 4), round(y, 4), 0.2, round(h, 4)]}  # fmt: skip
    if kind == 0:
        det["classifications"] = [[str(species), round(float(rng.uniform(0.6, 0.99)), 3)]]
    return [det]
