"""Read GPS tracks (Movebank CSV or plain ``id,timestamp,x,y`` CSV) and fence lines for BaBA.

Timestamps become UTC; coordinates are reprojected to the fences' projected CRS, because BaBA's
distance is in metres. Problems are reported with the file, the column, the row and the fix.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from crossings.core.baba import BabaEvents
from crossings.core.fences import Fence
from crossings.core.tracks import Tracks
from crossings.errors import ConfigError, CrossingsWarning, InputFileError
from crossings.io.atomic import atomic_path
from crossings.io.vector import read_vector

__all__ = [
    "MOVEBANK_COLUMNS",
    "XY_COLUMNS",
    "read_tracks",
    "read_barriers",
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


def _parse_times(text: pd.Series, path: Path, *, movebank: bool) -> np.ndarray:
    """UTC ``datetime64[s]``; naive times are UTC (Movebank exports UTC by definition)."""
    values = text.str.strip()
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"row {row + 2} (line {row + 2} of the file, counting the header): cannot read "
            f"{text.iloc[row]!r} as a date and time; {int(bad.sum())} row(s) affected. Use ISO "
            "8601, e.g. 2014-01-01T05:00:00Z or 2014-01-01 05:00:00.000 (UTC)",
            source=str(path),
            field="timestamp",
        )
    has_zone = values.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    if not movebank and not has_zone.all():
        warnings.warn(
            f"{path}: timestamps without a time zone are taken as UTC; add 'Z' or an offset "
            "(e.g. +05:00) if they are local times",
            CrossingsWarning,
            stacklevel=3,
        )
    return parsed.dt.tz_localize(None).to_numpy().astype("datetime64[s]")


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
            f"{path}: rows are not in time order within individual {ids_sorted[k]!r} (first at "
            f"row {int(rows[order][k]) + 2}); they were sorted by individual and time",
            CrossingsWarning,
            stacklevel=3,
        )


def read_tracks(
    path: str | os.PathLike,
    *,
    fmt: str = "auto",
    crs: str | None = None,
) -> Tracks:
    """Read GPS fixes from a Movebank CSV or a plain ``id,timestamp,x,y`` CSV.

    Parameters
    ----------
    path : path-like
        The CSV file.
    fmt : {"auto", "movebank", "xy"}
        File format; ``auto`` picks Movebank when its hyphenated columns are present.
    crs : str, optional
        CRS of ``x, y`` (plain format; required there). Movebank coordinates are WGS 84.

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
    frame = _read_csv(path)
    fmt = _detect_format(frame, fmt, path)
    if fmt == "movebank":
        _require(frame, MOVEBANK_COLUMNS, path, fmt)
        frame = _movebank_rows(frame, path)
        columns = MOVEBANK_COLUMNS
        file_crs = crs or "EPSG:4326"
    else:
        _require(frame, XY_COLUMNS, path, fmt)
        columns = ("id", "timestamp", "x", "y")
        if not crs:
            raise ConfigError(
                "the plain id,timestamp,x,y format needs the CRS of x and y; give --crs (e.g. "
                "--crs EPSG:32612 for UTM zone 12N, --crs EPSG:4326 for longitude/latitude)",
                source=str(path),
                field="crs",
            )
        file_crs = crs
    _check_crs(file_crs)
    id_col, time_col, x_col, y_col = columns
    ids = frame[id_col].str.strip().to_numpy(dtype=str)
    times = _parse_times(frame[time_col], path, movebank=fmt == "movebank")
    x = _parse_numbers(frame[x_col], path, x_col)
    y = _parse_numbers(frame[y_col], path, y_col)
    if len(ids) == 0:
        raise ConfigError(
            "no GPS fix in the file. Check the sensor-type and visible columns",
            source=str(path),
            field=time_col,
        )
    _warn_unsorted(ids, times, frame.index.to_numpy(), path)
    return Tracks(ids, times, x, y, crs=file_crs, source=str(path))


def _check_crs(crs: str) -> CRS:
    try:
        return CRS.from_user_input(crs)
    except Exception:  # pyproj raises CRSError, sometimes others
        raise ConfigError(
            f"{crs!r} is not a coordinate reference system; use e.g. EPSG:32612 or a PROJ string",
            field="crs",
        ) from None


def read_barriers(
    path: str | os.PathLike, *, layer: str | None = None, id_column: str | None = None
) -> tuple[list[Fence], str]:
    """Read a fence line layer for BaBA, keeping multi-part features as one fence id.

    Parameters
    ----------
    path : path-like
        GeoPackage, GeoJSON or Shapefile with LineString / MultiLineString features.
    layer : str, optional
        Layer name.
    id_column : str, optional
        Column holding the fence id; default ``fence_id``, else the first column whose values are
        unique (e.g. ``FID_Fence0`` in the BaBA example data), else the feature number.

    Returns
    -------
    fences : list of Fence
        One per line part; the parts of a feature share its ``fence_id`` (BaBA counts crossings
        per feature). ``permeability`` and ``country_pair`` columns are used when present.
    crs : str
        The layer's CRS as WKT.
    """
    frame = read_vector(path, layer=layer)
    source = str(path)
    ids = _fence_ids(frame, id_column, source)
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
    return fences, frame.crs.to_wkt()


def _id_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fence_ids(frame, id_column: str | None, source: str) -> list[str]:
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
            return [_id_text(v) for v in frame[column]]
    if id_column:
        raise ConfigError("fence ids must be unique and filled in", source=source, field=id_column)
    return [str(k + 1) for k in range(len(frame))]


def to_projected(
    tracks: Tracks, fences: Sequence[Fence], fences_crs: str, *, distance: float
) -> tuple[Tracks, list[Fence], str]:
    """Bring tracks and fences into one projected CRS so that ``distance`` is in metres.

    Tracks are reprojected to the fences' CRS when that is projected. Fences in a geographic CRS
    are refused, with the UTM zone of the data suggested as the fix.

    Raises
    ------
    ConfigError
        Fences in a geographic CRS (degrees) while ``distance`` is in metres.
    """
    target = _check_crs(fences_crs)
    if target.is_geographic:
        zone = _utm_suggestion(tracks, target)
        raise ConfigError(
            f"the fences are in a geographic CRS ({target.name}, degrees) but the distance "
            f"{distance:g} is in metres. Reproject the fences to a projected CRS first, e.g. "
            f"`ogr2ogr -t_srs {zone} fences_utm.gpkg FENCES.gpkg` (UTM zone of the data)",
            field="crs",
        )
    source = _check_crs(tracks.crs or "EPSG:4326")
    if source == target:
        return tracks, list(fences), fences_crs
    transformer = Transformer.from_crs(source, target, always_xy=True)
    x, y = transformer.transform(tracks.x, tracks.y)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ConfigError(
            f"some fixes cannot be projected to the fences' CRS ({target.name}); check --crs",
            source=tracks.source,
            field="crs",
        )
    projected = Tracks(
        tracks.animal_id, tracks.time, x, y, crs=target.to_wkt(), source=tracks.source
    )
    return projected, list(fences), fences_crs


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
