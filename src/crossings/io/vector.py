"""Read and write vector layers: GeoPackage, GeoJSON and Shapefile (through pyogrio).

Layers in another CRS than the analysis grid are reprojected (with a ``CrossingsWarning`` and a
log line saying so); a layer without CRS is an error. Fence layers become
:class:`crossings.core.fences.Fence` objects and opening layers
:class:`crossings.core.fences.Opening` objects; missing columns and bad values are reported with
the file, the column and the fix. GeoPackages are written atomically.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from crossings.core.fences import Fence, Opening
from crossings.errors import ConfigError, CrossingsWarning, InputFileError
from crossings.io.atomic import atomic_path

__all__ = [
    "read_vector",
    "list_layers",
    "read_fences",
    "read_openings",
    "fences_to_gdf",
    "openings_to_gdf",
    "write_gpkg",
    "FENCE_COLUMNS",
    "OPENING_COLUMNS",
]

log = logging.getLogger(__name__)

#: Required columns of a fence layer (``country_pair`` is optional, empty when absent).
FENCE_COLUMNS = ("fence_id", "permeability")
#: Required columns of an opening layer (``permeability``, ``opening_id`` are optional).
OPENING_COLUMNS = ("fence_id", "width", "type")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputFileError(path, "file not found", "Check the path (and the working folder)")


def list_layers(path: str | os.PathLike) -> list[str]:
    """Names of the layers in a vector file."""
    path = Path(path)
    _check_file(path)
    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises several DataSourceError flavours
        raise InputFileError(
            path, f"cannot be read as a vector file ({exc})", "Use GeoPackage, GeoJSON or Shapefile"
        ) from None


def read_vector(
    path: str | os.PathLike, *, layer: str | None = None, target_crs: str | None = None
) -> gpd.GeoDataFrame:
    """Read a vector layer, checking its CRS and reprojecting it to ``target_crs``.

    Parameters
    ----------
    path : path-like
        GeoPackage, GeoJSON or Shapefile.
    layer : str, optional
        Layer name (GeoPackages with several layers).
    target_crs : str, optional
        The grid CRS; a layer in another CRS is reprojected to it with a warning.

    Raises
    ------
    InputFileError
        Missing or unreadable file, unknown layer, layer without CRS.
    """
    path = Path(path)
    _check_file(path)
    if layer is not None and layer not in list_layers(path):
        raise InputFileError(
            path,
            f"has no layer {layer!r}",
            f"Use one of: {', '.join(list_layers(path))}",
        )
    try:
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:
        raise InputFileError(
            path,
            f"cannot be read as a vector file ({str(exc).splitlines()[0]})",
            "Use a GeoPackage, GeoJSON or Shapefile (with all its side files)",
        ) from None
    where = f"{path}" + (f" (layer {layer})" if layer else "")
    if frame.crs is None:
        raise InputFileError(
            where,
            "the layer has no coordinate reference system (CRS)",
            "Assign one, e.g. `ogr2ogr -a_srs EPSG:4326 out.gpkg in.shp`, or add the .prj file "
            "of a Shapefile",
        )
    if target_crs is not None:
        frame = reproject_to(frame, target_crs, source=where)
    return frame


def reproject_to(frame: gpd.GeoDataFrame, target_crs: str, *, source: str) -> gpd.GeoDataFrame:
    """Reproject ``frame`` to ``target_crs`` when needed, saying so (warning and log)."""
    target = CRS.from_user_input(target_crs)
    if CRS.from_user_input(frame.crs) == target:
        return frame
    message = f"{source}: reprojected from {frame.crs.to_string()} to the grid CRS"
    log.info(message)
    warnings.warn(message, CrossingsWarning, stacklevel=3)
    return frame.to_crs(target)


def _restore_shapefile_names(frame: gpd.GeoDataFrame, names: Iterable[str]) -> gpd.GeoDataFrame:
    """Undo the 10-character truncation of Shapefile (dBASE) column names (permeabili...)."""
    renames = {
        name[:10]: name
        for name in names
        if len(name) > 10 and name not in frame.columns and name[:10] in frame.columns
    }
    return frame.rename(columns=renames) if renames else frame


def _require_columns(frame, required: Iterable[str], *, source: str, kind: str) -> None:
    for column in required:
        if column not in frame.columns:
            present = ", ".join(c for c in frame.columns if c != "geometry") or "none"
            raise ConfigError(
                f"the {kind} layer has no column {column!r} (columns present: {present}). Add "
                f"the column, or rename the one that holds it (e.g. in QGIS or with ogr2ogr -sql)",
                source=source,
                field=column,
            )


def _as_float(value, *, source: str, field: str, row_id: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(
            f"row {row_id}: {value!r} is not a number. Fill in a numeric value",
            source=source,
            field=field,
        )
    return number


def read_fences(
    path: str | os.PathLike, *, layer: str | None = None, target_crs: str | None = None
) -> tuple[Fence, ...]:
    """Read a line layer of fences into :class:`Fence` objects (in ``target_crs``).

    Columns: ``fence_id`` (unique), ``permeability`` (0 closed .. 1 open), optional
    ``country_pair``. A multi-part line becomes one fence per part, ids suffixed ``.1``, ``.2``.
    """
    frame = read_vector(path, layer=layer, target_crs=target_crs)
    source = f"{path}" + (f" (layer {layer})" if layer else "")
    frame = _restore_shapefile_names(frame, (*FENCE_COLUMNS, "country_pair"))
    _require_columns(frame, FENCE_COLUMNS, source=source, kind="fence")
    fences: list[Fence] = []
    for row in frame.itertuples(index=False):
        fence_id = str(row.fence_id)
        permeability = _as_float(
            row.permeability, source=source, field="permeability", row_id=fence_id
        )
        if not 0.0 <= permeability <= 1.0:
            raise ConfigError(
                f"fence {fence_id}: permeability {permeability:g} is outside 0 (closed) .. 1 "
                "(open). Correct the value",
                source=source,
                field="permeability",
            )
        pair = getattr(row, "country_pair", "")
        pair = "" if pair is None or (isinstance(pair, float) and math.isnan(pair)) else str(pair)
        parts = _line_parts(row.geometry, source=source, fence_id=fence_id)
        for k, coords in enumerate(parts, start=1):
            part_id = fence_id if len(parts) == 1 else f"{fence_id}.{k}"
            fences.append(Fence(part_id, coords, permeability, pair))
    _check_unique([f.fence_id for f in fences], source=source, field="fence_id")
    return tuple(fences)


def _line_parts(geometry, *, source: str, fence_id: str) -> list[np.ndarray]:
    if geometry is None or geometry.is_empty:
        raise ConfigError(
            f"fence {fence_id} has no geometry. Draw it or delete the row",
            source=source,
            field="geometry",
        )
    if geometry.geom_type == "LineString":
        return [np.asarray(geometry.coords)[:, :2]]
    if geometry.geom_type == "MultiLineString":
        return [np.asarray(part.coords)[:, :2] for part in geometry.geoms]
    raise ConfigError(
        f"fence {fence_id} is a {geometry.geom_type}; fences must be lines. Convert polygons "
        "with their boundary (QGIS: Polygons to lines)",
        source=source,
        field="geometry",
    )


def _check_unique(ids: Sequence[str], *, source: str, field: str) -> None:
    seen: set[str] = set()
    for identifier in ids:
        if identifier in seen:
            raise ConfigError(
                f"{identifier!r} appears more than once; ids must be unique",
                source=source,
                field=field,
            )
        seen.add(identifier)


def read_openings(
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    target_crs: str | None = None,
    fences: Sequence[Fence] | None = None,
) -> tuple[Opening, ...]:
    """Read a point layer of fence openings into :class:`Opening` objects.

    Columns: ``fence_id``, ``width`` (metres along the fence), ``type`` (e.g.
    ``lower_strands_removed``), optional ``permeability`` (default 1) and ``opening_id``.
    With ``fences``, every ``fence_id`` must name one of them.
    """
    frame = read_vector(path, layer=layer, target_crs=target_crs)
    source = f"{path}" + (f" (layer {layer})" if layer else "")
    frame = _restore_shapefile_names(frame, (*OPENING_COLUMNS, "permeability", "opening_id"))
    _require_columns(frame, OPENING_COLUMNS, source=source, kind="opening")
    known = None if fences is None else {f.fence_id for f in fences}
    openings = []
    for index, row in enumerate(frame.itertuples(index=False)):
        given_id = getattr(row, "opening_id", None)
        missing_id = given_id is None or pd.isna(given_id) or str(given_id) == ""
        opening_id = f"opening-{index + 1}" if missing_id else str(given_id)
        geometry = row.geometry
        if geometry is None or geometry.geom_type != "Point":
            raise ConfigError(
                f"opening {opening_id} must be a point; got "
                f"{None if geometry is None else geometry.geom_type}",
                source=source,
                field="geometry",
            )
        if known is not None and str(row.fence_id) not in known:
            raise ConfigError(
                f"opening {opening_id} names fence {row.fence_id!r}, which is not in the fence "
                "layer. Correct the fence_id",
                source=source,
                field="fence_id",
            )
        permeability = getattr(row, "permeability", 1.0)
        openings.append(
            Opening(
                fence_id=str(row.fence_id),
                x=float(geometry.x),
                y=float(geometry.y),
                width=_as_float(row.width, source=source, field="width", row_id=opening_id),
                permeability=_as_float(
                    1.0 if permeability is None else permeability,
                    source=source,
                    field="permeability",
                    row_id=opening_id,
                ),
                kind=str(row.type),
                opening_id=opening_id,
            )
        )
    return tuple(openings)


def fences_to_gdf(fences: Sequence[Fence], crs: str, **columns) -> gpd.GeoDataFrame:
    """Fences as a GeoDataFrame (``fence_id``, ``country_pair``, ``permeability``, ``length_m``).

    Extra keyword arguments add columns (one value for all rows, or a sequence).
    """
    data = {
        "fence_id": [f.fence_id for f in fences],
        "country_pair": [f.country_pair for f in fences],
        "permeability": [float(f.permeability) for f in fences],
        "length_m": [f.length for f in fences],
        **columns,
    }
    geometry = [shapely.LineString(f.coords) for f in fences]
    return gpd.GeoDataFrame(pd.DataFrame(data), geometry=geometry, crs=crs)


def openings_to_gdf(openings: Sequence[Opening], crs: str, **columns) -> gpd.GeoDataFrame:
    """Openings as a point GeoDataFrame (``opening_id``, ``fence_id``, ``type``, ``width``...)."""
    data = {
        "opening_id": [o.opening_id for o in openings],
        "fence_id": [o.fence_id for o in openings],
        "type": [o.kind for o in openings],
        "width": [float(o.width) for o in openings],
        "permeability": [float(o.permeability) for o in openings],
        **columns,
    }
    geometry = shapely.points([o.x for o in openings], [o.y for o in openings])
    return gpd.GeoDataFrame(pd.DataFrame(data), geometry=list(geometry), crs=crs)


def write_gpkg(path: str | os.PathLike, layers: Mapping[str, gpd.GeoDataFrame]) -> Path:
    """Write one or more layers into a GeoPackage atomically (the file is replaced whole)."""
    if not layers:
        raise ConfigError("no layer to write", source=str(path), field="layers")
    with atomic_path(path) as tmp:
        for name, frame in layers.items():
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
    return Path(path)
