"""Read protected areas, regions (countries), border sections and per-feature evidence tables.

Every layer is reprojected to the analysis CRS (projected, metres) by
:func:`crossings.io.vector.read_vector`; errors name the file, the row or column and the fix.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from crossings.core.sections import Section
from crossings.errors import ConfigError, InputFileError
from crossings.io.vector import read_vector

__all__ = [
    "ProtectedAreas",
    "Regions",
    "read_protected_areas",
    "read_regions",
    "read_sections",
    "read_table_values",
]


@dataclass(frozen=True)
class ProtectedAreas:
    """PA polygons (analysis CRS) and their names."""

    names: tuple[str, ...]
    geoms: np.ndarray
    illustrative: bool = False


@dataclass(frozen=True)
class Regions:
    """Region polygons by id; ``areas`` (m2) from an area column when the layer has one."""

    geoms: dict[str, object]
    areas: dict[str, float]
    names: dict[str, str]


def _where(path, layer) -> str:
    return f"{path}" + (f" (layer {layer})" if layer else "")


def _require(frame, column: str | None, where: str, kind: str) -> None:
    if column is not None and column not in frame.columns:
        columns = ", ".join(c for c in frame.columns if c != "geometry")
        raise InputFileError(
            where, f"has no column {column!r} for the {kind}", f"Use one of: {columns}"
        )


def _check_projected(frame, where: str) -> None:
    if frame.crs is not None and frame.crs.is_geographic:
        raise InputFileError(
            where,
            "is in longitude/latitude degrees, but areas and distances need metres",
            "Give an equal-area projected CRS (crs = ...), e.g. the Central Asian Albers",
        )


def read_protected_areas(
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    target_crs: str,
    name_column: str | None = "name",
    area_column: str | None = None,
) -> ProtectedAreas:
    """PA polygons; point PAs become discs of their reported area (``area_column``, km2), as the
    JRC DOPA pipeline does."""
    frame = read_vector(path, layer=layer, target_crs=target_crs)
    where = _where(path, layer)
    _check_projected(frame, where)
    if name_column is not None and name_column not in frame.columns:
        name_column = None
    _require(frame, area_column, where, "PA areas")
    geoms, names = [], []
    for row, (_, record) in enumerate(frame.iterrows()):
        geom = record.geometry
        label = str(record[name_column]) if name_column else f"PA {row + 1}"
        if geom is None or geom.is_empty:
            raise InputFileError(
                where, f"row {row + 1} ({label}) has no geometry", "Remove the row or draw it"
            )
        if geom.geom_type in ("Point", "MultiPoint"):
            geom = _point_disc(geom, record, area_column, where, row, label)
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputFileError(
                where,
                f"row {row + 1} ({label}) is a {geom.geom_type}, not a polygon",
                "Give protected areas as polygons (or points with an area column)",
            )
        geoms.append(shapely.make_valid(geom))
        names.append(label)
    illustrative = "illustrative" in frame.columns and bool(frame["illustrative"].any())
    return ProtectedAreas(tuple(names), np.asarray(geoms, dtype=object), illustrative)


def _point_disc(geom, record, area_column, where, row, label):
    if area_column is None:
        raise InputFileError(
            where,
            f"row {row + 1} ({label}) is a point",
            "Give area_column (km2) so points become discs of that area, or give polygons",
        )
    area = float(record[area_column])
    if not (math.isfinite(area) and area > 0):
        raise InputFileError(
            where, f"row {row + 1} ({label}) has {area_column} = {area!r}", "Give an area > 0 km2"
        )
    points = shapely.get_parts(geom)
    radius = math.sqrt(area * 1e6 / len(points) / math.pi)  # the reported area split equally
    return shapely.union_all([p.buffer(radius, quad_segs=32) for p in points])


def read_regions(
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    target_crs: str,
    id_column: str = "iso_a3",
    name_column: str | None = "name",
    area_column: str | None = None,
    only: tuple[str, ...] = (),
) -> Regions:
    """Region polygons (features sharing an id are one region); ``area_column`` in km2."""
    frame = read_vector(path, layer=layer, target_crs=target_crs)
    where = _where(path, layer)
    _check_projected(frame, where)
    _require(frame, id_column, where, "region ids")
    _require(frame, area_column, where, "region areas")
    frame = frame[frame[id_column].notna()]
    ids = frame[id_column].astype(str)
    missing = [code for code in only if code not in set(ids)]
    if missing:
        raise InputFileError(
            where,
            f"has no region {', '.join(missing)} in column {id_column!r}",
            f"Use ids of that column, e.g. {', '.join(sorted(set(ids))[:5])}",
        )
    geoms, areas, names = {}, {}, {}
    for code in sorted(set(ids)):
        if only and code not in only:
            continue
        rows = frame[ids == code]
        geoms[code] = shapely.make_valid(shapely.union_all(rows.geometry.to_numpy()))
        if area_column:
            areas[code] = float(rows[area_column].astype(float).sum()) * 1e6
        names[code] = str(rows[name_column].iloc[0]) if name_column in rows.columns else code
    return Regions(geoms, areas, names)


def read_sections(
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    target_crs: str,
    id_column: str = "section_id",
    pair_column: str = "country_pair",
) -> list[Section]:
    """User border sections: one line per row, with an id and a ``"A-B"`` country pair."""
    frame = read_vector(path, layer=layer, target_crs=target_crs)
    where = _where(path, layer)
    _require(frame, id_column, where, "section ids")
    _require(frame, pair_column, where, "country pairs")
    sections = []
    for row, record in enumerate(frame.itertuples(index=False)):
        geom = record.geometry
        pair = str(getattr(record, pair_column))
        if geom is None or geom.geom_type not in ("LineString", "MultiLineString"):
            raise InputFileError(
                where, f"row {row + 1} is not a line", "Give border sections as lines"
            )
        if pair.count("-") != 1:
            raise InputFileError(
                where,
                f"row {row + 1} has {pair_column} = {pair!r}",
                "Give the two region ids joined by '-', e.g. KAZ-UZB",
            )
        line = shapely.line_merge(geom) if geom.geom_type == "MultiLineString" else geom
        if line.geom_type != "LineString":
            raise InputFileError(
                where, f"row {row + 1} is a broken line", "Give one connected line per section"
            )
        sections.append(Section(str(getattr(record, id_column)), pair, line))
    return sections


def read_table_values(path: str | os.PathLike, id_column: str, value_columns) -> dict[str, float]:
    """``id -> sum of value_columns`` from a CSV (e.g. BaBA classes per fence_id)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file", "Give the path of a CSV table")
    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot be read as CSV ({exc})", "Give a CSV file") from None
    columns = [value_columns] if isinstance(value_columns, str) else list(value_columns)
    for column in [id_column, *columns]:
        if column not in table.columns:
            raise InputFileError(
                path, f"has no column {column!r}", f"Use one of: {', '.join(table.columns)}"
            )
    values = table[columns].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ConfigError(
            f"row {row + 2} has a non-numeric value in {', '.join(columns)}; give numbers "
            "(0 for none).",
            source=str(path),
            field=columns[0],
        )
    ids = table[id_column].astype(str)
    return {k: float(v) for k, v in values.sum(axis=1).groupby(ids).sum().items()}
