"""Read GPS tracks (Movebank CSV or plain ``id,timestamp,x,y`` CSV) and fence lines for BaBA.

Timestamps become UTC; coordinates are reprojected to the fences' projected CRS, because BaBA's
distance is in metres. Problems are reported with the file, the column, the row and the fix.
"""

from __future__ import annotations

import os
import warnings
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from crossings.core.baba import BabaEvents
from crossings.core.fences import Fence
from crossings.core.passages import Openings, SideAreas
from crossings.core.tracks import Tracks
from crossings.errors import ConfigError, CrossingsWarning, InputFileError
from crossings.io.atomic import atomic_path
from crossings.io.vector import read_vector

__all__ = [
    "MOVEBANK_COLUMNS",
    "POINT_LAYER_SUFFIXES",
    "TrackColumns",
    "XY_COLUMNS",
    "read_tracks",
    "read_barriers",
    "read_fence_layer",
    "read_opening_points",
    "read_side_areas",
    "FenceInput",
    "FENCE_ATTRIBUTES",
    "to_projected",
    "write_table_csv",
    "events_frame",
]

#: Movebank's standard column names (hyphenated, as in a Movebank CSV export).
MOVEBANK_COLUMNS = ("individual-local-identifier", "timestamp", "location-long", "location-lat")
#: Columns of the plain format.
XY_COLUMNS = ("id", "timestamp", "x", "y")
_FORMATS = ("auto", "movebank", "xy")


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputFileError(path, "file not found", "Check the path (and the working folder)")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFileError(
            path, f"cannot be read as CSV ({first_line})", "Save it as comma-separated UTF-8 text"
        ) from None


def _detect_format(frame: pd.DataFrame, fmt: str, path: Path) -> str:
    if fmt not in _FORMATS:
        raise ConfigError(f"must be one of {', '.join(_FORMATS)}; got {fmt!r}", field="format")
    if fmt != "auto":
        return fmt
    if "location-long" in frame.columns or "individual-local-identifier" in frame.columns:
        return "movebank"
    return "xy"


def _require(frame: pd.DataFrame, columns: Sequence[str], path: Path, fmt: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        present = ", ".join(frame.columns) or "none"
        raise ConfigError(
            f"missing column(s) {', '.join(missing)} for the {fmt} format (columns present: "
            f"{present}). Rename the columns, or choose the other format with --format "
            f"{'xy' if fmt == 'movebank' else 'movebank'}",
            source=str(path),
            field=missing[0],
        )


def _zone(timezone: str | None):
    if timezone is None:
        return None
    try:
        return zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{timezone!r} is not an IANA time zone name; use e.g. Asia/Tashkent, "
            "Asia/Almaty, America/Denver or UTC",
            field="timezone",
        ) from None


def _bad_time(text: pd.Series, bad: np.ndarray, path: Path, column: str, fix: str):
    row = int(np.flatnonzero(bad)[0])
    return ConfigError(
        f"row {row + 2} (line {row + 2} of the file, counting the header): cannot read "
        f"{text.iloc[row]!r} as a date and time; {int(bad.sum())} row(s) affected. {fix}",
        source=str(path),
        field=column,
    )


def _parse_times(
    text: pd.Series,
    path: Path,
    *,
    movebank: bool,
    column: str = "timestamp",
    time_format: str | None = None,
    timezone: str | None = None,
) -> np.ndarray:
    """UTC ``datetime64[s]``.

    Times with an offset are converted to UTC. Naive times are local times of ``timezone`` (an
    IANA name, daylight saving included) when it is given, else UTC (Movebank exports UTC by
    definition; a plain file gets a warning).
    """
    values = text.astype(str).str.strip()
    zone = _zone(timezone)
    fmt = time_format or "ISO8601"
    try:
        parsed = pd.to_datetime(values, errors="coerce", format=fmt)
    except ValueError:  # a mix of offsets (or of offsets and naive times): all to UTC
        parsed = pd.to_datetime(values, errors="coerce", format=fmt, utc=True)
    bad = parsed.isna().to_numpy()
    if bad.any():
        fix = (
            f"Check that every value has the format {time_format!r} (--time-format)"
            if time_format
            else "Use ISO 8601, e.g. 2014-01-01T05:00:00Z or 2014-01-01 05:00:00.000 (UTC), or "
            "give the format with --time-format, e.g. --time-format '%m/%d/%Y %H:%M' for "
            "2/6/2014 0:01"
        )
        raise _bad_time(text, bad, path, column, fix)
    if parsed.dt.tz is not None:
        return parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    if zone is not None:
        return _local_to_utc(parsed, zone, text, path, column)
    if not movebank:
        warnings.warn(
            f"{path}: timestamps without a time zone are taken as UTC; add 'Z' or an offset "
            "(e.g. +05:00), or give --timezone (e.g. Asia/Tashkent) if they are local times",
            CrossingsWarning,
            stacklevel=3,
        )
    return parsed.to_numpy().astype("datetime64[s]")


def _local_to_utc(parsed: pd.Series, zone, text: pd.Series, path: Path, column: str) -> np.ndarray:
    name = str(zone.key)
    gone = parsed.dt.tz_localize(name, ambiguous="NaT", nonexistent="NaT").isna().to_numpy()
    if gone.any():
        raise _bad_time(
            text,
            gone,
            path,
            column,
            f"In {name} that local time is skipped or repeated by a daylight-saving change; "
            "give such times in UTC or with an offset (e.g. +02:00)",
        )
    local = parsed.dt.tz_localize(name, ambiguous="raise", nonexistent="raise")
    return local.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")


def _parse_numbers(text: pd.Series, path: Path, column: str) -> np.ndarray:
    numbers = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"row {row + 2}: {text.iloc[row]!r} is not a number ({int(bad.sum())} row(s) "
            "affected). Fill in the coordinate or delete the row",
            source=str(path),
            field=column,
        )
    return numbers


def _movebank_rows(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Keep GPS rows that are visible and have a location (Movebank mixes sensors)."""
    keep = np.ones(len(frame), dtype=bool)
    if "sensor-type" in frame.columns:
        keep &= frame["sensor-type"].str.strip().str.lower().isin(["gps", ""]).to_numpy()
    if "visible" in frame.columns:
        keep &= frame["visible"].str.strip().str.lower().ne("false").to_numpy()
    located = (frame["location-long"].str.strip() != "") & (frame["location-lat"].str.strip() != "")
    no_location = keep & ~located.to_numpy()
    if no_location.any():
        warnings.warn(
            f"{path}: {int(no_location.sum())} GPS row(s) without a location were dropped",
            CrossingsWarning,
            stacklevel=3,
        )
    return frame[keep & located.to_numpy()]


def _warn_unsorted(ids: np.ndarray, times: np.ndarray, rows: np.ndarray, path: Path) -> None:
    order = np.argsort(ids, kind="stable")
    ids_sorted, times_sorted = ids[order], times[order]
    back = (ids_sorted[1:] == ids_sorted[:-1]) & (times_sorted[1:] < times_sorted[:-1])
    if back.any():
        k = int(np.flatnonzero(back)[0]) + 1
        warnings.warn(
            f"{path}: rows are not in time order within individual {str(ids_sorted[k])!r} "
            f"(first at row {int(rows[order][k]) + 2}); they were sorted by individual and time",
            CrossingsWarning,
            stacklevel=3,
        )


#: Suffixes read as point layers (GeoPackage, Shapefile, GeoJSON, FlatGeobuf).
POINT_LAYER_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb")
_ID_NAMES = ("id", "individual-local-identifier", "animal_id", "individual", "tag-local-identifier")
_TIME_NAMES = ("timestamp", "time", "datetime", "date_time", "t")


@dataclass(frozen=True)
class TrackColumns:
    """Column names of a tracks file; ``None`` keeps the format's default."""

    id: str | None = None
    time: str | None = None
    x: str | None = None
    y: str | None = None


def read_tracks(
    path: str | os.PathLike,
    *,
    fmt: str = "auto",
    crs: str | None = None,
    columns: TrackColumns | None = None,
    time_format: str | None = None,
    timezone: str | None = None,
    layer: str | None = None,
) -> Tracks:
    """Read GPS fixes from a Movebank CSV, a plain ``id,timestamp,x,y`` CSV or a point layer.

    Parameters
    ----------
    path : path-like
        The CSV file, or a GeoPackage, Shapefile or GeoJSON of points.
    fmt : {"auto", "movebank", "xy"}
        CSV format; ``auto`` picks Movebank when its hyphenated columns are present.
    crs : str, optional
        CRS of ``x, y`` (plain format; required there). Movebank coordinates are WGS 84; a
        point layer has its own CRS.
    columns : TrackColumns, optional
        Other names of the id, time, x and y columns.
    time_format : str, optional
        ``strftime`` format of the times (e.g. ``%m/%d/%Y %H:%M``); default ISO 8601.
    timezone : str, optional
        IANA time zone of times written without an offset (daylight saving included).
    layer : str, optional
        Layer of a point file.

    Returns
    -------
    Tracks
        Fixes sorted by individual and time, in the file's CRS.

    Raises
    ------
    InputFileError
        Missing or unreadable file.
    ConfigError
        Missing columns (named), unparseable timestamps or coordinates (row number), a plain CSV
        without ``crs``.
    """
    path = Path(path)
    columns = columns or TrackColumns()
    times = {"time_format": time_format, "timezone": timezone}
    if path.suffix.lower() in POINT_LAYER_SUFFIXES:
        return _read_point_layer(path, columns, layer, crs, times)
    frame = _read_csv(path)
    fmt = _detect_format(frame, fmt, path)
    if fmt == "movebank":
        names = _names(MOVEBANK_COLUMNS, columns)
        _require(frame, names, path, fmt)
        frame = _movebank_rows(frame, path) if names[2:] == MOVEBANK_COLUMNS[2:] else frame
        file_crs = crs or "EPSG:4326"
    else:
        names = _names(XY_COLUMNS, columns)
        _require(frame, names, path, fmt)
        if not crs:
            raise ConfigError(
                "the plain id,timestamp,x,y format needs the CRS of x and y; give --crs (e.g. "
                "--crs EPSG:32612 for UTM zone 12N, --crs EPSG:4326 for longitude/latitude)",
                source=str(path),
                field="crs",
            )
        file_crs = crs
    _check_crs(file_crs)
    id_col, time_col, x_col, y_col = names
    x = _parse_numbers(frame[x_col], path, x_col)
    y = _parse_numbers(frame[y_col], path, y_col)
    return _tracks(frame, path, (id_col, time_col), x, y, file_crs, fmt == "movebank", times)


def _names(defaults: Sequence[str], columns: TrackColumns) -> tuple[str, str, str, str]:
    given = (columns.id, columns.time, columns.x, columns.y)
    return tuple(g or d for g, d in zip(given, defaults, strict=True))


def _tracks(frame, path, id_time, x, y, file_crs, movebank, times) -> Tracks:
    id_col, time_col = id_time
    ids = frame[id_col].astype(str).str.strip().to_numpy(dtype=str)
    stamps = _parse_times(frame[time_col], path, movebank=movebank, column=time_col, **times)
    if len(ids) == 0:
        raise ConfigError(
            "no GPS fix in the file. Check the sensor-type and visible columns",
            source=str(path),
            field=time_col,
        )
    _warn_unsorted(ids, stamps, np.arange(len(ids)), path)
    return Tracks(ids, stamps, x, y, crs=file_crs, source=str(path))


def _pick(
    frame, given: str | None, names: Sequence[str], path: Path, what: str, option: str
) -> str:
    present = [c for c in frame.columns if c != "geometry"]
    if given is not None:
        if given not in present:
            raise ConfigError(
                f"no column {given!r} (columns present: {', '.join(present) or 'none'})",
                source=str(path),
                field=option,
            )
        return given
    lower = {c.lower(): c for c in present}
    for name in names:
        if name in lower:
            return lower[name]
    raise ConfigError(
        f"no {what} column found (looked for {', '.join(names)}; columns present: "
        f"{', '.join(present) or 'none'}). Name it with {option}",
        source=str(path),
        field=option,
    )


def _read_point_layer(path: Path, columns: TrackColumns, layer, crs, times) -> Tracks:
    frame = read_vector(path, layer=layer)
    geoms = frame.geometry.values
    kinds = set(shapely.get_type_id(geoms).tolist())
    if kinds - {0}:
        raise ConfigError(
            "GPS fixes must be points (found other geometry types); export the fixes as a "
            "point layer",
            source=str(path),
            field="geometry",
        )
    id_col = _pick(frame, columns.id, _ID_NAMES, path, "individual id", "--id-column")
    time_col = _pick(frame, columns.time, _TIME_NAMES, path, "time", "--time-column")
    layer_crs = frame.crs.to_wkt()  # read_vector refuses a layer without CRS
    frame = frame.assign(**{time_col: frame[time_col].astype(str)})
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    return _tracks(frame, path, (id_col, time_col), x, y, layer_crs, False, times)


def _check_crs(crs: str) -> CRS:
    try:
        return CRS.from_user_input(crs)
    except Exception:  # pyproj raises CRSError, sometimes others
        raise ConfigError(
            f"{crs!r} is not a coordinate reference system; use e.g. EPSG:32612 or a PROJ string",
            field="crs",
        ) from None


#: Fence columns carried into every tracks table when present.
FENCE_ATTRIBUTES = ("type", "country_pair", "permeability")


@dataclass(frozen=True)
class FenceInput:
    """A fence line layer as read for the tracks analysis.

    Attributes
    ----------
    fences : list of Fence
        One per line part; the parts of a feature share its ``fence_id``.
    crs : str
        The layer's CRS (WKT).
    id_column : str
        Column the fence ids came from (``"(feature number)"`` when none qualified).
    id_guessed : bool
        True when no id column was given and ``fence_id`` was absent.
    attributes : pandas.DataFrame
        One row per fence id: ``fence_id`` plus every other non-geometry column.
    """

    fences: list[Fence]
    crs: str
    id_column: str
    id_guessed: bool
    attributes: pd.DataFrame


def read_fence_layer(
    path: str | os.PathLike, *, layer: str | None = None, id_column: str | None = None
) -> FenceInput:
    """Read a fence line layer, keeping multi-part features as one fence id and all attributes.

    The id column is ``id_column``, else ``fence_id``, else the first column whose values are
    unique and filled in (e.g. ``FID_Fence0`` in the BaBA example data; a warning names it), else
    the feature number. ``permeability`` and ``country_pair`` columns are used when present.
    """
    frame = read_vector(path, layer=layer)
    source = str(path)
    column, ids = _fence_ids(frame, id_column, source)
    guessed = id_column is None and column != "fence_id"
    if guessed:
        warnings.warn(
            f"{source}: no fence_id column; fence ids were taken from {column!r}. Check it is "
            "an id (not a length or a type), or name the id column with --fence-id",
            CrossingsWarning,
            stacklevel=2,
        )
    pairs = frame["country_pair"].fillna("").astype(str) if "country_pair" in frame else None
    perm = frame["permeability"].astype(float) if "permeability" in frame else None
    fences = []
    for k, geom in enumerate(frame.geometry.values):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in ("LineString", "MultiLineString"):
            raise ConfigError(
                f"feature {ids[k]} is a {geom.geom_type}; fences must be lines. Convert polygons "
                "to their boundary (QGIS: Polygons to lines)",
                source=source,
                field="geometry",
            )
        for part in shapely.get_parts(geom):
            fences.append(
                Fence(
                    ids[k],
                    shapely.get_coordinates(part),
                    0.0 if perm is None else float(perm.iloc[k]),
                    "" if pairs is None else pairs.iloc[k],
                )
            )
    if not fences:
        raise ConfigError("the layer holds no line", source=source, field="geometry")
    attributes = pd.DataFrame(frame.drop(columns="geometry"))
    attributes = attributes.drop(columns=[c for c in ("fence_id",) if c in attributes])
    attributes.insert(0, "fence_id", ids)
    attributes = attributes.drop_duplicates("fence_id")
    return FenceInput(fences, frame.crs.to_wkt(), column, guessed, attributes)


def read_barriers(
    path: str | os.PathLike, *, layer: str | None = None, id_column: str | None = None
) -> tuple[list[Fence], str]:
    """The fences and CRS of :func:`read_fence_layer` (kept for callers that need no more)."""
    fence_input = read_fence_layer(path, layer=layer, id_column=id_column)
    return fence_input.fences, fence_input.crs


def _id_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fence_ids(frame, id_column: str | None, source: str) -> tuple[str, list[str]]:
    columns = [c for c in frame.columns if c != "geometry"]
    if id_column is not None and id_column not in columns:
        raise ConfigError(
            f"no column {id_column!r} (columns present: {', '.join(columns) or 'none'})",
            source=source,
            field=id_column,
        )
    candidates = [id_column] if id_column else ["fence_id"] + columns
    for column in candidates:
        if column in frame.columns and frame[column].notna().all() and frame[column].is_unique:
            return column, [_id_text(v) for v in frame[column]]
    if id_column:
        raise ConfigError("fence ids must be unique and filled in", source=source, field=id_column)
    return "(feature number)", [str(k + 1) for k in range(len(frame))]


def to_projected(
    tracks: Tracks, fences: Sequence[Fence], fences_crs: str, *, distance: float
) -> tuple[Tracks, list[Fence], str]:
    """Bring tracks and fences into one projected CRS so that ``distance`` is in metres.

    Tracks are reprojected to the fences' CRS when that is projected. Fences in a geographic
    CRS (degrees) are reprojected, with a warning, to the tracks' CRS when that is projected,
    else to the UTM zone of the tracks' centre.
    """
    target = _check_crs(fences_crs)
    source = _check_crs(tracks.crs or "EPSG:4326")
    fences = list(fences)
    if target.is_geographic:
        analysis = (
            source if source.is_projected else CRS.from_user_input(_utm_suggestion(tracks, source))
        )
        warnings.warn(
            f"the fences are in a geographic CRS ({target.name}, degrees) but the distance "
            f"{distance:g} is in metres; they were reprojected to {analysis.name} for the "
            "analysis",
            CrossingsWarning,
            stacklevel=2,
        )
        fences = _reproject_fences(fences, target, analysis)
        target, fences_crs = analysis, analysis.to_wkt()
    if source == target:
        return tracks, fences, fences_crs
    transformer = Transformer.from_crs(source, target, always_xy=True)
    x, y = transformer.transform(tracks.x, tracks.y)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ConfigError(
            f"some fixes cannot be projected to the fences' CRS ({target.name}); check --crs",
            source=tracks.source,
            field="crs",
        )
    return tracks.moved(x, y, target.to_wkt()), fences, fences_crs


def _reproject_fences(fences: list[Fence], source: CRS, target: CRS) -> list[Fence]:
    transformer = Transformer.from_crs(source, target, always_xy=True)
    moved = []
    for fence in fences:
        x, y = transformer.transform(fence.coords[:, 0], fence.coords[:, 1])
        moved.append(
            Fence(fence.fence_id, np.column_stack([x, y]), fence.permeability, fence.country_pair)
        )
    return moved


def _utm_suggestion(tracks: Tracks, crs: CRS) -> str:
    lon, lat = float(np.mean(tracks.x)), float(np.mean(tracks.y))
    if tracks.crs:
        to_geo = Transformer.from_crs(_check_crs(tracks.crs), "EPSG:4326", always_xy=True)
        lon, lat = to_geo.transform(lon, lat)
    if not (np.isfinite(lon) and -180 <= lon <= 180 and -90 <= lat <= 90):
        return "EPSG:326NN"
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def events_frame(events: BabaEvents) -> pd.DataFrame:
    """BaBA's classification table as a DataFrame (times as ISO 8601 UTC strings)."""
    columns = events.columns()
    frame = pd.DataFrame(columns)
    for name in ("start_time", "end_time"):
        frame[name] = [f"{t}Z" for t in np.asarray(columns[name]).astype("datetime64[s]")]
    return frame


def write_table_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as CSV atomically (NA for missing values, 15 digits, as R writes them)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, na_rep="NA", float_format="%.15g")
    return Path(path)


def read_opening_points(
    path: str | os.PathLike, *, target_crs: str, id_column: str | None = None
) -> Openings:
    """Openings (points or short lines) for the tracks analysis, in ``target_crs``.

    The id column is ``id_column``, else ``opening_id``, else the feature number (warned).
    """
    frame = read_vector(path, target_crs=target_crs)
    kinds = set(shapely.get_type_id(frame.geometry.values).tolist())
    if kinds - {0, 1, 4, 5}:
        raise ConfigError(
            "openings must be points or short lines (one per gap or gate)",
            source=str(path),
            field="geometry",
        )
    column = id_column or ("opening_id" if "opening_id" in frame else None)
    if column is None:
        warnings.warn(
            f"{path}: no opening_id column; openings are numbered by feature (1, 2, ...)",
            CrossingsWarning,
            stacklevel=2,
        )
        ids = np.array([str(k + 1) for k in range(len(frame))])
    else:
        ids = np.array([_id_text(v) for v in _column(frame, column, path)])
    try:
        return Openings(ids, frame.geometry.values)
    except ConfigError as exc:
        raise ConfigError(exc.message, source=str(path), field=column or "opening_id") from None


def read_side_areas(
    path: str | os.PathLike, *, target_crs: str, name_column: str | None = None
) -> SideAreas:
    """Polygons naming the sides of the fences (countries, properties), in ``target_crs``.

    The name column is ``name_column``, else the first of ``name``, ``country``, ``NAME``.
    """
    frame = read_vector(path, target_crs=target_crs)
    kinds = set(shapely.get_type_id(frame.geometry.values).tolist())
    if kinds - {3, 6}:
        raise ConfigError("side areas must be polygons", source=str(path), field="geometry")
    lower = {c.lower(): c for c in frame.columns if c != "geometry"}
    column = name_column or next(
        (lower[c] for c in ("name", "country", "name_en", "side") if c in lower), None
    )
    if column is None:
        raise ConfigError(
            "no name column (looked for name, country, name_en, side); name it with --sides-column",
            source=str(path),
            field="name",
        )
    names = _column(frame, column, path).astype(str).to_numpy()
    return SideAreas(names, frame.geometry.values)


def _column(frame, column: str, path) -> pd.Series:
    if column not in frame:
        present = ", ".join(c for c in frame.columns if c != "geometry")
        raise ConfigError(
            f"no column {column!r} (columns present: {present})", source=str(path), field=column
        )
    return frame[column]
