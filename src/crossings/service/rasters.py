"""Current and difference maps published as raster tiles (XYZ PNG, rendered on the server).

``crossings serve import`` stores each current or difference GeoTIFF of a run whole, as float32 in
its own projected CRS. A tile is cut from a *view* of it: the exact grid, or for a generalised
audience the grid averaged into blocks at least the policy's grid size wide (so no detail finer
than ``grid_km`` survives), then reprojected to Web Mercator. Colours come from a fixed ramp over
the layer's 2nd-98th percentile (diverging around 0 for differences); NoData is transparent.
"""

from __future__ import annotations

import functools
import io
import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossings.errors import InputFileError

__all__ = [
    "is_current_map",
    "read_current_map",
    "RasterView",
    "raster_view",
    "render_tile",
    "TILE",
]

TILE = 256
WEB_MERCATOR_HALF = 20037508.342789244
BORDERS = Path(__file__).parent / "static" / "borders.geojson"
COUNTRIES = ("KAZ", "KGZ", "TJK", "TKM", "UZB")


def is_current_map(path: Path) -> bool:
    """A connectivity or Omniscape current map, or a difference of two (by the agreed names)."""
    name = path.name.lower()
    return path.suffix.lower() in (".tif", ".tiff") and ("current" in name or "currmap" in name)


@dataclass(frozen=True)
class SourceGrid:
    """What the publisher stores of one GeoTIFF."""

    kind: str  # "current" or "difference"
    crs: str
    transform: tuple[float, ...]
    width: int
    height: int
    vmin: float
    vmax: float
    bounds: tuple[float, float, float, float]  # lon/lat
    countries: str
    data: bytes  # zlib(float32)


def read_current_map(path: Path) -> SourceGrid:
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as source:
        if source.crs is None:
            raise InputFileError(path, "has no CRS", "Write the GeoTIFF with its CRS.")
        values = source.read(1, masked=True).astype("float32").filled(np.nan)
        crs, transform = source.crs, source.transform
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise InputFileError(path, "holds only NoData", "Publish a map with values.")
    kind = "difference" if "difference" in path.name.lower() else "current"
    if kind == "difference":
        high = float(np.percentile(np.abs(finite), 98)) or 1.0
        vmin, vmax = -high, high
    else:
        vmin, vmax = (float(v) for v in np.percentile(finite, [2, 98]))
        vmax = vmax if vmax > vmin else vmin + 1.0
    height, width = values.shape
    west, south, east, north = transform_bounds(
        crs, "EPSG:4326", *rasterio.transform.array_bounds(height, width, transform)
    )
    return SourceGrid(
        kind=kind,
        crs=crs.to_wkt(),
        transform=tuple(transform)[:6],
        width=width,
        height=height,
        vmin=vmin,
        vmax=vmax,
        bounds=(west, south, east, north),
        countries=countries_within((west, south, east, north)),
        data=zlib.compress(values.tobytes(), 6),
    )


def countries_within(bounds: tuple[float, float, float, float]) -> str:
    """The Central Asian countries the box touches (``KAZ-UZB``), from the bundled borders."""
    import shapely

    box = shapely.box(*bounds)
    found = []
    for feature in json.loads(BORDERS.read_text(encoding="utf-8"))["features"]:
        code = feature["properties"].get("iso_a3")
        if code in COUNTRIES and shapely.geometry.shape(feature["geometry"]).intersects(box):
            found.append(code)
    return "-".join(sorted(found))


@dataclass(frozen=True)
class RasterView:
    """A raster in Web Mercator as one audience may see it."""

    values: np.ndarray  # float32, NaN transparent
    transform: tuple[float, ...]  # affine of the Mercator grid
    vmin: float
    vmax: float
    kind: str


def raster_view(raster, grid_km: float) -> RasterView:
    """``raster`` (a RasterLayer row) exact (``grid_km`` 0) or in blocks of at least ``grid_km``."""
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    values = np.frombuffer(zlib.decompress(raster.data), dtype="float32")
    values = values.reshape(raster.height, raster.width)
    transform = rasterio.Affine(*raster.transform)
    if grid_km:
        values, transform = coarsen(values, transform, grid_km * 1000)
    height, width = values.shape
    bounds = rasterio.transform.array_bounds(height, width, transform)
    target, target_w, target_h = calculate_default_transform(
        raster.crs, "EPSG:3857", width, height, *bounds
    )
    out = np.full((target_h, target_w), np.nan, dtype="float32")
    reproject(
        values,
        out,
        src_transform=transform,
        src_crs=raster.crs,
        src_nodata=np.nan,
        dst_transform=target,
        dst_crs="EPSG:3857",
        dst_nodata=np.nan,
        resampling=Resampling.nearest,
    )
    return RasterView(out, tuple(target)[:6], raster.vmin, raster.vmax, raster.kind)


def coarsen(values: np.ndarray, transform, grid_m: float):
    """Block means over square blocks at least ``grid_m`` wide (NaN ignored; all-NaN stays NaN)."""
    factor = max(1, math.ceil(grid_m / min(abs(transform.a), abs(transform.e)) - 1e-9))
    height, width = values.shape
    rows, cols = -(-height // factor), -(-width // factor)
    padded = np.full((rows * factor, cols * factor), np.nan, dtype="float32")
    padded[:height, :width] = values
    blocks = padded.reshape(rows, factor, cols, factor)
    finite = np.isfinite(blocks)
    sums = np.where(finite, blocks, 0).sum(axis=(1, 3))
    counts = finite.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan).astype("float32")
    return means, transform * transform.scale(factor, factor)


@functools.cache
def _ramp(kind: str) -> np.ndarray:
    from matplotlib import colormaps

    name = "RdBu_r" if kind == "difference" else "viridis"
    return colormaps[name](np.linspace(0, 1, 256), bytes=True)


def render_tile(view: RasterView, z: int, x: int, y: int) -> bytes:
    """The PNG of tile z/x/y (nearest sample of the view at each pixel centre)."""
    from PIL import Image

    size = 2 * WEB_MERCATOR_HALF / 2**z
    step = size / TILE
    centres = (np.arange(TILE) + 0.5) * step
    xs = -WEB_MERCATOR_HALF + x * size + centres
    ys = WEB_MERCATOR_HALF - y * size - centres
    a, _, c, _, e, f = view.transform
    cols = np.floor((xs - c) / a).astype(np.int64)
    rows = np.floor((ys - f) / e).astype(np.int64)
    height, width = view.values.shape
    inside = (rows[:, None] >= 0) & (rows[:, None] < height) & (cols >= 0) & (cols < width)
    sample = np.full((TILE, TILE), np.nan, dtype="float32")
    r, k = np.nonzero(inside)
    sample[r, k] = view.values[rows[r], cols[k]]
    scaled = (sample - view.vmin) / (view.vmax - view.vmin)
    index = np.clip(np.nan_to_num(scaled, nan=0.0) * 255, 0, 255).astype(np.uint8)
    rgba = _ramp(view.kind)[index]
    rgba[..., 3] = np.where(np.isfinite(sample), 210, 0)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()
