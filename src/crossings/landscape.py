"""The landscape every module works on: resistance grid, fences, openings and context layers.

A :class:`Landscape` bundles the resistance raster (with its :class:`GridSpec`), the fences and
openings (:mod:`crossings.core.fences`) and the context layers (countries, borders, protected
areas, seasonal ranges) as GeoDataFrames in the grid CRS. :func:`load_demo` gives the bundled
Ustyurt demo; :func:`load_landscape` reads user files. The resistance model that turns land cover,
slope and elevation into resistance is a TOML table (:func:`read_resistance_model`), not code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio.features
from rasterio.transform import Affine

from crossings.config import from_mapping
from crossings.core.fences import Fence, Opening
from crossings.core.graph import AveragingRule, ConductanceGraph, build_graph
from crossings.core.graph import resistance_to_conductance as _to_conductance
from crossings.core.grid import GridSpec
from crossings.errors import ConfigError, CrossingsWarning, InputFileError
from crossings.io import raster as raster_io
from crossings.io import vector as vector_io

__all__ = [
    "Landscape",
    "load_demo",
    "load_landscape",
    "demo_path",
    "ResistanceModel",
    "LandcoverClass",
    "read_resistance_model",
    "apply_resistance_model",
    "DEMO_FILES",
]

#: Files of the bundled demo (inside ``crossings/data/demo``).
DEMO_FILES = {
    "resistance": "resistance.tif",
    "layers": "layers.gpkg",
    "model": "resistance_model.toml",
    "metadata": "metadata.json",
}
CONTEXT_LAYERS = ("countries", "borders", "protected_areas", "ranges")


def _empty_layer(crs: str, columns: Sequence[str] = ()) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=crs)


@dataclass(frozen=True, eq=False)  # arrays and GeoDataFrames: compare by identity
class Landscape:
    """A resistance grid with its fences, openings and context layers (all in the grid CRS).

    Attributes
    ----------
    grid : GridSpec
    resistance : ndarray of float64
        Resistance per cell (ohms per cell, > 0); NaN is NoData (a complete barrier).
    fences, openings : tuple
        :class:`Fence` and :class:`Opening` objects (metres, grid CRS).
    countries, borders, protected_areas, ranges : GeoDataFrame
        Context layers. Protected areas and ranges have ``name`` and ``illustrative`` columns;
        ranges also ``season``.
    metadata : dict
        Provenance (sources, licences, what is illustrative).
    """

    grid: GridSpec
    resistance: np.ndarray
    fences: tuple[Fence, ...] = ()
    openings: tuple[Opening, ...] = ()
    countries: gpd.GeoDataFrame | None = None
    borders: gpd.GeoDataFrame | None = None
    protected_areas: gpd.GeoDataFrame | None = None
    ranges: gpd.GeoDataFrame | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        resistance = np.asarray(self.resistance, dtype=np.float64)
        if resistance.shape != tuple(self.grid.shape):
            raise ConfigError(
                f"resistance shape {resistance.shape} differs from grid shape {self.grid.shape}",
                field="resistance",
            )
        resistance = resistance.copy()
        resistance.flags.writeable = False  # shared by every module: nobody may edit it in place
        object.__setattr__(self, "resistance", resistance)
        object.__setattr__(self, "fences", tuple(self.fences))
        object.__setattr__(self, "openings", tuple(self.openings))
        defaults = {
            "countries": ("iso_a3", "name"),
            "borders": ("name",),
            "protected_areas": ("name", "illustrative"),
            "ranges": ("name", "season", "illustrative"),
        }
        for name, columns in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, _empty_layer(self.grid.crs, columns))

    def __repr__(self) -> str:
        valid = np.isfinite(self.resistance)
        return (
            f"Landscape({self.grid.rows}x{self.grid.cols} cells of {self.grid.cell_size:g} m, "
            f"{int(valid.sum())} valid, {len(self.fences)} fences "
            f"({sum(f.length for f in self.fences) / 1000:.1f} km), {len(self.openings)} openings, "
            f"{len(self.protected_areas)} protected areas, {len(self.ranges)} ranges)"
        )

    def conductance(self) -> np.ndarray:
        """1 / resistance, NaN for NoData."""
        return _to_conductance(self.resistance, source="landscape resistance")

    def graph(
        self, connect_four: bool = False, rule: AveragingRule = AveragingRule.AVG_RESISTANCE
    ) -> ConductanceGraph:
        """The conductance graph of the resistance grid, WITHOUT fences.

        Apply fences with ``crossings.core.barriers.apply_fences(graph, landscape.fences,
        landscape.openings)``.
        """
        return build_graph(self.grid, self.conductance(), connect_four=connect_four, rule=rule)

    def rasterize(self, layer: gpd.GeoDataFrame, id_column: str | None = None) -> np.ndarray:
        """Burn polygons into the grid: 0 outside, 1..n inside (cells whose centre is inside).

        With ``id_column``, the ids are the 1-based rank of each distinct value of that column (in
        sorted order); otherwise the 1-based row number. Later rows win where polygons overlap.

        Examples
        --------
        >>> import shapely
        >>> grid = GridSpec.from_origin(0, 3, 1, (3, 3), "EPSG:3857")
        >>> land = Landscape(grid, np.ones((3, 3)))
        >>> square = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2, 2)], crs="EPSG:3857")
        >>> land.rasterize(square)
        array([[0, 0, 0],
               [1, 1, 0],
               [1, 1, 0]], dtype=int32)
        """
        layer = self._in_grid_crs(layer)
        if id_column is None:
            ids = np.arange(1, len(layer) + 1)
        else:
            if id_column not in layer.columns:
                raise ConfigError(
                    f"no column {id_column!r}; columns: {', '.join(map(str, layer.columns))}",
                    field="id_column",
                )
            codes, _ = pd.factorize(layer[id_column], sort=True)
            ids = codes + 1
        shapes = [(g, int(i)) for g, i in zip(layer.geometry, ids, strict=True) if g is not None]
        if not shapes:
            return np.zeros(self.grid.shape, dtype=np.int32)
        return rasterio.features.rasterize(
            shapes,
            out_shape=self.grid.shape,
            transform=Affine(*self.grid.transform),
            fill=0,
            dtype="int32",
        )

    def _in_grid_crs(self, layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if layer.crs is None:
            raise ConfigError("the layer has no CRS; set one with .set_crs()", field="layer")
        return vector_io.reproject_to(layer, self.grid.crs, source="layer")

    def fences_gdf(self) -> gpd.GeoDataFrame:
        """The fences as a GeoDataFrame (``fence_id``, ``country_pair``, ``permeability``, ...)."""
        return vector_io.fences_to_gdf(self.fences, self.grid.crs)

    def openings_gdf(self) -> gpd.GeoDataFrame:
        """The openings as a point GeoDataFrame."""
        return vector_io.openings_to_gdf(self.openings, self.grid.crs)

    def without_openings(self) -> Landscape:
        """The same landscape with every fence closed as built (no openings)."""
        return dataclasses.replace(self, openings=())

    def with_openings(self, openings: Sequence[Opening]) -> Landscape:
        """The same landscape with other openings."""
        return dataclasses.replace(self, openings=tuple(openings))


# ----------------------------------------------------------------------------- resistance model


@dataclass(frozen=True)
class LandcoverClass:
    """One land-cover class of the resistance model (IGBP code -> base resistance)."""

    code: int
    name: str
    resistance: float | None = None  # None: NoData (complete barrier, e.g. open water)
    basis: str = "assumption"


@dataclass(frozen=True)
class SlopeTerm:
    """``factor = 1 + per_degree * slope``, slope in degrees on the grid cells."""

    per_degree: float = 0.0
    basis: str = "assumption"


@dataclass(frozen=True)
class ElevationTerm:
    """``factor = 1 + per_100m * max(0, elevation - threshold_m) / 100``."""

    threshold_m: float = 0.0
    per_100m: float = 0.0
    basis: str = "assumption"


@dataclass(frozen=True)
class ResistanceModel:
    """Resistance = land-cover resistance x slope factor x elevation factor, capped at maximum."""

    name: str
    species: tuple[str, ...]
    basis: str
    references_read: tuple[str, ...]
    landcover: tuple[LandcoverClass, ...]
    slope: SlopeTerm = SlopeTerm()
    elevation: ElevationTerm = ElevationTerm()
    maximum: float = 1000.0
    unknown_class_resistance: float | None = None


def read_resistance_model(path: str | os.PathLike) -> ResistanceModel:
    """Read a resistance model TOML table (see ``data/demo/resistance_model.toml``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(path, "file not found", "Check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(path, f"is not valid TOML ({exc})", "Fix the syntax") from None
    model = from_mapping(ResistanceModel, data, source=str(path))
    for entry in model.landcover:
        if entry.resistance is not None and not entry.resistance > 0:
            raise ConfigError(
                f"class {entry.code} ({entry.name}): resistance must be > 0, or left out for "
                f"NoData; got {entry.resistance}",
                source=str(path),
                field="landcover.resistance",
            )
    return model


def apply_resistance_model(
    model: ResistanceModel, landcover: np.ndarray, slope_deg: np.ndarray, elevation_m: np.ndarray
) -> np.ndarray:
    """Resistance per cell from land-cover codes, slope (degrees) and elevation (metres).

    Cells whose class has no resistance (water) or whose inputs are NaN become NaN (NoData).

    Examples
    --------
    >>> model = ResistanceModel("m", (), "", (), (LandcoverClass(1, "a", 2.0),
    ...     LandcoverClass(0, "water")), SlopeTerm(0.5), ElevationTerm(100.0, 1.0))
    >>> apply_resistance_model(model, np.array([1, 1, 0]), np.array([0.0, 2.0, 0.0]),
    ...                        np.array([0.0, 300.0, 0.0]))
    array([ 2., 12., nan])
    """
    landcover = np.asarray(landcover)
    base = np.full(
        landcover.shape,
        np.nan if model.unknown_class_resistance is None else model.unknown_class_resistance,
    )
    for entry in model.landcover:
        base[landcover == entry.code] = np.nan if entry.resistance is None else entry.resistance
    slope_factor = 1.0 + model.slope.per_degree * np.asarray(slope_deg, dtype=float)
    above = np.maximum(0.0, np.asarray(elevation_m, dtype=float) - model.elevation.threshold_m)
    elevation_factor = 1.0 + model.elevation.per_100m * above / 100.0
    return np.minimum(base * slope_factor * elevation_factor, model.maximum)


# ----------------------------------------------------------------------------- loading


def demo_path(name: str = "") -> Path:
    """Path of the bundled demo folder, or of one of its files."""
    folder = Path(str(resources.files("crossings") / "data" / "demo"))
    return folder / name if name else folder


def load_demo(*, mitigation: bool = False) -> Landscape:
    """The bundled Ustyurt demo landscape (Kazakhstan-Uzbekistan border fence on Ustyurt).

    Parameters
    ----------
    mitigation : bool
        Include the openings of the mitigation scheme (lower strands removed between two poles
        every 1 km). Without it the fence is closed as built.

    Examples
    --------
    >>> land = load_demo(mitigation=True)
    >>> land.grid.cell_size, sum(f.length for f in land.fences) > 150_000
    (2000.0, True)
    """
    folder = demo_path()
    missing = [n for n in DEMO_FILES.values() if not (folder / n).is_file()]
    if missing:
        raise InputFileError(
            folder,
            f"the demo files {', '.join(missing)} are missing",
            "Reinstall crossings, or rebuild them with scripts/build_demo.py",
        )
    layers = folder / DEMO_FILES["layers"]
    landscape = load_landscape(
        folder / DEMO_FILES["resistance"],
        fences_path=layers,
        fences_layer="fences",
        openings_path=layers if mitigation else None,
        openings_layer="openings",
        context={name: (layers, name) for name in CONTEXT_LAYERS},
    )
    metadata = json.loads((folder / DEMO_FILES["metadata"]).read_text(encoding="utf-8"))
    metadata["openings_included"] = mitigation
    metadata["files"] = {k: str(folder / v) for k, v in DEMO_FILES.items()}
    return dataclasses.replace(landscape, metadata=metadata)


def load_landscape(
    resistance_path: str | os.PathLike,
    fences_path: str | os.PathLike | None = None,
    *,
    fences_layer: str | None = None,
    openings_path: str | os.PathLike | None = None,
    openings_layer: str | None = None,
    context: dict[str, tuple[str | os.PathLike, str | None]] | None = None,
    crs: str | None = None,
) -> Landscape:
    """Load a landscape from user files; vectors are reprojected to the raster's CRS.

    Parameters
    ----------
    resistance_path : path-like
        Resistance GeoTIFF or ASCII grid (checked: CRS, > 0, not all NoData).
    fences_path, fences_layer : optional
        Fence lines (columns ``fence_id``, ``permeability``, optional ``country_pair``).
    openings_path, openings_layer : optional
        Opening points (columns ``fence_id``, ``width``, ``type``, optional ``permeability``).
    context : dict, optional
        ``{"countries" | "borders" | "protected_areas" | "ranges": (path, layer)}``.
    crs : str, optional
        CRS of the resistance raster when the file has none.
    """
    grid, resistance = raster_io.read_resistance(resistance_path, crs=crs)
    _warn_geographic(grid, source=str(resistance_path))
    fences: tuple[Fence, ...] = ()
    openings: tuple[Opening, ...] = ()
    if fences_path is not None:
        fences = vector_io.read_fences(fences_path, layer=fences_layer, target_crs=grid.crs)
        _warn_fences_outside(grid, fences, source=str(fences_path))
    if openings_path is not None:
        openings = vector_io.read_openings(
            openings_path, layer=openings_layer, target_crs=grid.crs, fences=fences or None
        )
        _warn_openings_off_fence(grid, fences, openings, source=str(openings_path))
    layers = {}
    for name, (path, layer) in (context or {}).items():
        if name not in CONTEXT_LAYERS:
            raise ConfigError(
                f"unknown context layer {name!r}; use one of {', '.join(CONTEXT_LAYERS)}",
                field="context",
            )
        layers[name] = _context_layer(name, path, layer, grid.crs)
    metadata = {"resistance": str(resistance_path)}
    return Landscape(grid, resistance, fences, openings, metadata=metadata, **layers)


def _context_layer(name: str, path, layer: str | None, crs: str) -> gpd.GeoDataFrame:
    frame = vector_io.read_vector(path, layer=layer, target_crs=crs)
    if name in ("protected_areas", "ranges"):
        if "name" not in frame.columns:
            frame = frame.assign(name=[f"{name} {i + 1}" for i in range(len(frame))])
        if "illustrative" not in frame.columns:
            frame = frame.assign(illustrative=False)
        frame["illustrative"] = frame["illustrative"].astype(bool)
    if name == "ranges" and "season" not in frame.columns:
        frame = frame.assign(season="")
    return frame


def _warn_geographic(grid: GridSpec, *, source: str) -> None:
    """Warn when the grid is in degrees: widths, spacings and distances are metres."""
    if grid.crs and pyproj.CRS.from_user_input(grid.crs).is_geographic:
        warnings.warn(
            f"{source}: the raster is in a geographic CRS ({grid.crs}), so its cells are "
            "degrees, not metres: cells are not equal in area and opening widths (metres) do not "
            "match. Reproject it to a projected equal-area CRS, e.g. gdalwarp -t_srs "
            "'+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m'",
            CrossingsWarning,
            stacklevel=3,
        )


def _warn_fences_outside(grid: GridSpec, fences: Sequence[Fence], *, source: str) -> None:
    """Warn (not fail) about fences that cannot affect the grid: usually a wrong CRS or extent."""
    west, south, east, north = grid.bounds
    outside = [
        f.fence_id
        for f in fences
        if f.coords[:, 0].max() < west
        or f.coords[:, 0].min() > east
        or f.coords[:, 1].max() < south
        or f.coords[:, 1].min() > north
    ]
    if outside:
        shown = ", ".join(outside[:5]) + (" ..." if len(outside) > 5 else "")
        warnings.warn(
            f"{source}: {len(outside)} fence(s) lie entirely outside the resistance grid and "
            f"have no effect ({shown}). Check the layer's CRS and the raster's extent",
            CrossingsWarning,
            stacklevel=3,
        )


def _warn_openings_off_fence(grid, fences, openings, *, source: str) -> None:
    """Warn about openings farther than one cell from their fence (they snap onto it)."""
    lines = {f.fence_id: f.coords for f in fences}
    far = []
    for opening in openings:
        coords = lines.get(opening.fence_id)
        if coords is None:
            continue
        if _distance_to_polyline(coords, opening.x, opening.y) > grid.cell_size:
            far.append(opening.opening_id)
    if far:
        warnings.warn(
            f"{source}: {len(far)} opening(s) lie more than one cell ({grid.cell_size:g} m) from "
            f"their fence and are snapped onto it ({', '.join(far[:5])}). Check their fence_id",
            CrossingsWarning,
            stacklevel=3,
        )


def _distance_to_polyline(coords: np.ndarray, x: float, y: float) -> float:
    start, end = coords[:-1], coords[1:]
    direction = end - start
    length2 = np.maximum((direction**2).sum(axis=1), 1e-300)
    t = np.clip(((np.array([x, y]) - start) * direction).sum(axis=1) / length2, 0.0, 1.0)
    nearest = start + t[:, None] * direction
    return float(np.hypot(nearest[:, 0] - x, nearest[:, 1] - y).min())
