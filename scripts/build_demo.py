"""Build the bundled Ustyurt demo landscape into ``src/crossings/data/demo/``.

This is the ONLY part of the project that reads the shared raw data folder (``../shared/data``
relative to the repository, or ``--data DIR``); tests and ``crossings demo`` read only the small
files this script writes (under 5 MB in all), which are committed.

Inputs (see the data folder's SOURCES.md for provenance and licences):

- Natural Earth 1:10m Admin-0 countries, land boundary lines and lakes (public domain);
- NOAA GLOBE 30-arc-second elevation (public domain);
- MODIS MCD12C1 2019 IGBP land cover, 0.05 degree (NASA LP DAAC, doi:10.5067/MODIS/MCD12C1.006).

Outputs:

- ``resistance.tif``: resistance on 2 km cells in the Central Asian Albers equal-area CRS over
  about 53-60 E, 41-46.5 N, from the model table ``resistance_model.toml`` (every coefficient an
  assumption); open water (outside every country polygon, Natural Earth lakes, MODIS class 0) is
  NoData;
- ``layers.gpkg`` with layers ``countries``, ``borders``, ``fences`` (the Kazakhstan border fence
  along the Kazakhstan-Uzbekistan boundary across Ustyurt, following the boundary because the
  real alignment is not public), ``openings`` (the mitigation scheme: lower strands removed
  between two poles every 1 km), ``protected_areas`` and ``ranges`` (both ILLUSTRATIVE);
- ``metadata.json``: provenance, licences and what is illustrative;
- ``states.gpkg`` (layer ``states``): the five Central Asian states whole (Kazakhstan with the
  Baikonur lease area), for ProtConn per country. Outlines are simplified together (shared
  borders stay shared) with a tolerance of STATES_TOLERANCE metres to keep the file small; the
  ``area_km2`` column holds the area of the unsimplified outline, which ProtConn uses.

Run: ``.venv/bin/python scripts/build_demo.py [--data DIR] [--out DIR] [--only states]``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
import shapely.affinity
import shapely.ops
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.warp import reproject

from crossings.core.fences import Fence, Opening
from crossings.core.grid import GridSpec
from crossings.io.raster import write_geotiff
from crossings.io.vector import fences_to_gdf, openings_to_gdf, write_gpkg
from crossings.landscape import apply_resistance_model, read_resistance_model

ALBERS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m +no_defs"
LONLAT = "EPSG:4326"
BBOX = (53.0, 41.0, 60.0, 46.5)  # west, south, east, north in degrees
CELL = 2000.0  # metres
FENCE_SOUTH_LIMIT = 44.0  # degrees N: southern end of the illustrative fence along 56 E
FENCE_SEGMENT = 15_000.0  # metres: target length of one fence_id
OPENING_SPACING = 1000.0  # metres: "every 1 km" of the mitigation scheme
OPENING_WIDTH = 4.0  # metres between two poles: an assumption
OPENING_PERMEABILITY = 1.0  # assumption: inside the gap the fence has no effect
FOCAL = ("KAZ", "UZB", "TKM")
STATES = ("KAZ", "KGZ", "TJK", "TKM", "UZB")
STATES_TOLERANCE = 1000.0  # metres

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "src" / "crossings" / "data" / "demo"


def to_albers(geometry, *, inverse: bool = False):
    """Reproject a shapely geometry between lon/lat and the Albers CRS."""
    src, dst = (ALBERS, LONLAT) if inverse else (LONLAT, ALBERS)
    transformer = Transformer.from_crs(src, dst, always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(transformer.transform(*xy.T)))


def demo_grid() -> GridSpec:
    """2 km Albers grid covering BBOX (edges densified so curved parallels are covered)."""
    outline = shapely.segmentize(shapely.box(*BBOX), 0.05)
    west, south, east, north = to_albers(outline).bounds
    west, south = math.floor(west / CELL) * CELL, math.floor(south / CELL) * CELL
    east, north = math.ceil(east / CELL) * CELL, math.ceil(north / CELL) * CELL
    shape = (int(round((north - south) / CELL)), int(round((east - west) / CELL)))
    return GridSpec.from_origin(west, north, CELL, shape, ALBERS)


def warp(path: Path, grid: GridSpec, resampling: Resampling, cell: float | None = None):
    """Reproject band 1 of ``path`` onto ``grid`` (or onto a finer grid of cell size ``cell``)."""
    cell = cell or grid.cell_size
    factor = int(round(grid.cell_size / cell))
    shape = (grid.rows * factor, grid.cols * factor)
    west, _, _, north = grid.bounds
    out = np.full(shape, np.nan, dtype=np.float64)
    with rasterio.open(path) as src:
        reproject(
            source=rasterio.band(src, 1),
            destination=out,
            src_nodata=src.nodata,
            dst_transform=Affine(cell, 0, west, 0, -cell, north),
            dst_crs=CRS.from_user_input(ALBERS).to_wkt(),
            dst_nodata=np.nan,
            resampling=resampling,
        )
    return out


def block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    rows, cols = values.shape[0] // factor, values.shape[1] // factor
    return np.nanmean(values.reshape(rows, factor, cols, factor), axis=(1, 3))


def terrain(data: Path, grid: GridSpec) -> tuple[np.ndarray, np.ndarray]:
    """Elevation (m) and mean slope (degrees) per 2 km cell, from GLOBE warped to 500 m."""
    fine_cell = 500.0
    dem = warp(
        data / "terrain" / "globe_30s_central_asia_35-50N_46-90E.tif",
        grid,
        Resampling.bilinear,
        fine_cell,
    )
    grad_y, grad_x = np.gradient(dem, fine_cell)
    slope = np.degrees(np.arctan(np.hypot(grad_x, grad_y)))
    factor = int(grid.cell_size / fine_cell)
    return block_mean(dem, factor), block_mean(slope, factor)


def burn(geometries, grid: GridSpec, all_touched: bool = False) -> np.ndarray:
    shapes = [(g, 1) for g in geometries if g is not None and not g.is_empty]
    if not shapes:
        return np.zeros(grid.shape, dtype=bool)
    return rasterize(
        shapes,
        out_shape=grid.shape,
        transform=Affine(*grid.transform),
        fill=0,
        dtype="uint8",
        all_touched=all_touched,
    ).astype(bool)


def resistance_raster(data: Path, grid: GridSpec, countries, lakes, model_path: Path):
    landcover = warp(
        data / "landcover" / "mcd12c1_2019_igbp_0.05deg_central_asia.tif", grid, Resampling.nearest
    )
    elevation, slope = terrain(data, grid)
    model = read_resistance_model(model_path)
    resistance = apply_resistance_model(
        model, np.nan_to_num(landcover, nan=0).astype(int), slope, elevation
    )
    # Open water: outside every country (the Caspian is not in the lakes layer) or in a lake.
    on_land = burn(countries.geometry, grid)
    in_lake = burn(lakes.geometry, grid)
    resistance[~on_land | in_lake] = np.nan
    stats = {
        "landcover_classes": {
            int(c): int(n)
            for c, n in zip(
                *np.unique(landcover[np.isfinite(landcover)], return_counts=True), strict=True
            )
        },
        "elevation_m": [float(np.nanmin(elevation)), float(np.nanmax(elevation))],
        "slope_deg_max": float(np.nanmax(slope)),
    }
    return resistance, stats


def context_layers(data: Path, grid: GridSpec):
    """Countries, borders and lakes clipped to the grid, in the Albers CRS."""
    extent = shapely.box(*grid.bounds)
    extent_ll = to_albers(shapely.segmentize(extent, 5000), inverse=True).buffer(0.2)
    raw = gpd.read_file(data / "boundaries" / "ne10m_countries_central_asia.gpkg")
    raw = raw[raw.intersects(extent_ll)]
    countries = gpd.GeoDataFrame(
        {"iso_a3": raw["iso_a3"].fillna("").to_numpy(), "name": raw["name"].to_numpy()},
        geometry=[to_albers(g) for g in raw.geometry],
        crs=ALBERS,
    )
    countries["geometry"] = countries.geometry.intersection(extent)
    countries = countries[~countries.geometry.is_empty].reset_index(drop=True)
    lines = gpd.read_file(
        data / "boundaries" / "ne_10m_admin_0_boundary_lines_land_central_asia.gpkg"
    )
    lines = lines[lines.intersects(extent_ll)]
    border_geoms = [to_albers(g).intersection(extent) for g in lines.geometry]
    borders = gpd.GeoDataFrame(
        {"name": [_pair_name(g, countries) for g in border_geoms]},
        geometry=border_geoms,
        crs=ALBERS,
    )
    borders = borders[~borders.geometry.is_empty].reset_index(drop=True)
    lakes = gpd.read_file(data / "boundaries" / "ne_10m_lakes_central_asia.gpkg")
    lakes = lakes[lakes.intersects(extent_ll)]
    lakes = gpd.GeoDataFrame(geometry=[to_albers(g) for g in lakes.geometry], crs=ALBERS)
    return countries, borders, lakes, raw


def _pair_name(line, countries) -> str:
    """``"KAZ-UZB"``: the two countries a border line separates (those within 1 km of it)."""
    if line.is_empty:
        return ""
    point = line.interpolate(0.5, normalized=True)
    near = countries[countries.distance(point) < 1000]["iso_a3"].tolist()
    return "-".join(sorted(near)[:2])


def fence_line(raw_countries, lakes_ll) -> shapely.LineString:
    """The Kazakhstan-Uzbekistan boundary on Ustyurt: from the Aral shore west, then south to
    FENCE_SOUTH_LIMIT along 56 E (lon/lat)."""
    kaz = raw_countries[raw_countries["iso_a3"] == "KAZ"].geometry.iloc[0]
    uzb = raw_countries[raw_countries["iso_a3"] == "UZB"].geometry.iloc[0]
    shared = shapely.line_merge(kaz.boundary.intersection(uzb.boundary))
    aral = shapely.union_all([g for g in lakes_ll if g.bounds[0] > 58 and g.bounds[1] < 45.6])
    window = shapely.box(50.0, FENCE_SOUTH_LIMIT, aral.bounds[0] + 1.0, 47.0)
    part = shared.intersection(window).difference(aral.buffer(0.005))
    part = shapely.line_merge(part)
    if part.geom_type == "MultiLineString":  # keep the longest piece (west of the Aral)
        part = max(part.geoms, key=lambda g: g.length)
    return part


def fence_segments(line_albers: shapely.LineString) -> list[Fence]:
    """Cut the fence into ~FENCE_SEGMENT pieces with stable ids, west/south end first."""
    start = shapely.Point(line_albers.coords[0])
    end = shapely.Point(line_albers.coords[-1])
    if start.y > end.y:  # number from the southern end of the 56 E stretch
        line_albers = line_albers.reverse()
    count = max(1, round(line_albers.length / FENCE_SEGMENT))
    step = line_albers.length / count
    fences = []
    for k in range(count):
        piece = shapely.ops.substring(line_albers, k * step, (k + 1) * step)
        fences.append(Fence(f"KAZ-UZB-{k + 1:02d}", np.asarray(piece.coords), 0.0, "KAZ-UZB"))
    return fences


def mitigation_openings(fences: list[Fence]) -> list[Opening]:
    """One opening every OPENING_SPACING metres along the whole fence (first at half a step)."""
    openings, travelled, next_at = [], 0.0, OPENING_SPACING / 2
    for fence in fences:
        line = shapely.LineString(fence.coords)
        while next_at < travelled + line.length:
            point = line.interpolate(next_at - travelled)
            openings.append(
                Opening(
                    fence.fence_id,
                    point.x,
                    point.y,
                    OPENING_WIDTH,
                    OPENING_PERMEABILITY,
                    "lower_strands_removed",
                    f"OPEN-{len(openings) + 1:04d}",
                )
            )
            next_at += OPENING_SPACING
        travelled += line.length
    return openings


def ellipse(lon: float, lat: float, rx_km: float, ry_km: float):
    """An ellipse in the Albers CRS centred on a lon/lat point (radii in km)."""
    x, y = to_albers(shapely.Point(lon, lat)).coords[0]
    circle = shapely.Point(0, 0).buffer(1000.0, quad_segs=32)
    return shapely.affinity.translate(
        shapely.affinity.scale(circle, rx_km, ry_km, origin=(0, 0)), x, y
    )


def inside(country: str, shape, countries, borders, lakes, margin: float):
    """``shape`` clipped to ``country``, kept ``margin`` metres away from borders and water."""
    land = countries[countries["iso_a3"] == country].geometry.union_all()
    keep_out = shapely.union_all(
        [borders.geometry.union_all().buffer(margin), lakes.geometry.union_all().buffer(margin / 2)]
    )
    result = shape.intersection(land).difference(keep_out)
    if result.geom_type == "MultiPolygon":  # drop slivers
        result = max(result.geoms, key=lambda g: g.area)
    return result


def illustrative_layers(countries, borders, lakes):
    """Protected areas and saiga seasonal ranges: INVENTED shapes, flagged illustrative."""
    note = (
        "ILLUSTRATIVE: invented shape for the demo; not a real protected area boundary "
        "(WDPA polygons are not redistributable here)"
    )
    pas = [
        ("Protected area A (KAZ, illustrative)", "KAZ", ellipse(56.9, 45.85, 35, 25)),
        ("Protected area B (UZB, illustrative)", "UZB", ellipse(57.0, 44.4, 40, 30)),
        ("Protected area C (KAZ, illustrative)", "KAZ", ellipse(54.9, 43.6, 35, 30)),
    ]
    pa_frame = gpd.GeoDataFrame(
        {
            "name": [p[0] for p in pas],
            "country": [p[1] for p in pas],
            "illustrative": [True] * len(pas),
            "note": [note] * len(pas),
        },
        geometry=[inside(c, g, countries, borders, lakes, 5000) for _, c, g in pas],
        crs=ALBERS,
    )
    range_note = (
        "ILLUSTRATIVE: invented seasonal range for the demo (summer north in "
        "Kazakhstan, winter south in Uzbekistan); no saiga range polygon was available"
    )
    ranges = [
        ("Saiga summer range (illustrative)", "summer", "KAZ", ellipse(56.6, 46.0, 110, 45)),
        ("Saiga winter range (illustrative)", "winter", "UZB", ellipse(57.0, 43.5, 75, 70)),
    ]
    range_frame = gpd.GeoDataFrame(
        {
            "name": [r[0] for r in ranges],
            "season": [r[1] for r in ranges],
            "country": [r[2] for r in ranges],
            "species": ["saiga (Saiga tatarica)"] * 2,
            "illustrative": [True] * 2,
            "note": [range_note] * 2,
        },
        geometry=[inside(c, g, countries, borders, lakes, 10_000) for _, _, c, g in ranges],
        crs=ALBERS,
    )
    return pa_frame, range_frame


def metadata(grid: GridSpec, fences, openings, stats, model_path: Path) -> dict:
    return {
        "name": "Ustyurt demo landscape (Kazakhstan - Uzbekistan - Turkmenistan)",
        "crs": ALBERS,
        "cell_size_m": grid.cell_size,
        "shape": list(grid.shape),
        "extent_lonlat": list(BBOX),
        "built_by": "scripts/build_demo.py",
        "resistance_model": model_path.name,
        "terrain_and_landcover": stats,
        "fence": {
            "description": "Kazakhstan border fence on the Ustyurt plateau, closed "
            "(permeability 0)",
            "alignment": "follows the Natural Earth 1:10m Kazakhstan-Uzbekistan boundary because "
            "the real alignment is not public",
            "extent": f"from the Aral Sea shore west to 56 E, then south to {FENCE_SOUTH_LIMIT} N "
            "(illustrative extent)",
            "length_km": round(sum(f.length for f in fences) / 1000, 1),
            "segments": len(fences),
        },
        "mitigation": {
            "description": "lower strands removed between two poles every 1 km",
            "openings": len(openings),
            "spacing_m": OPENING_SPACING,
            "width_m": OPENING_WIDTH,
            "width_basis": "assumption (distance between two fence poles)",
            "permeability": OPENING_PERMEABILITY,
            "permeability_basis": "assumption (animals pass the gap as if there were no fence)",
        },
        "illustrative_layers": ["protected_areas", "ranges"],
        "sources": [
            {
                "layer": "countries, borders, water",
                "source": "Natural Earth 1:10m Admin-0 "
                "countries, land boundary lines and lakes v4.1",
                "licence": "public domain",
            },
            {
                "layer": "elevation, slope",
                "source": "NOAA GLOBE 30-arc-second DEM",
                "licence": "public domain (US Government)",
            },
            {
                "layer": "land cover",
                "source": "MODIS MCD12C1 v006 2019 IGBP, 0.05 degree, "
                "doi:10.5067/MODIS/MCD12C1.006",
                "licence": "NASA LP DAAC, no use restrictions",
            },
        ],
    }


def states_layer(data: Path) -> gpd.GeoDataFrame:
    """The five states in the Albers CRS, simplified as one coverage, with exact areas."""
    raw = gpd.read_file(data / "boundaries" / "ne10m_countries_central_asia.gpkg")
    baikonur = raw[raw["name"] == "Baikonur"].geometry.union_all()
    outlines = []
    for code in STATES:
        geom = raw[raw["iso_a3"] == code].geometry.union_all()
        if code == "KAZ":  # Natural Earth cuts out the leased Baikonur area: it is Kazakh land
            geom = shapely.union_all([geom, baikonur])
        outlines.append(to_albers(geom))
    exact = np.array([g.area / 1e6 for g in outlines])
    simplified = shapely.coverage_simplify(np.array(outlines, dtype=object), STATES_TOLERANCE)
    names = [raw[raw["iso_a3"] == code]["name"].iloc[0] for code in STATES]
    return gpd.GeoDataFrame(
        {
            "iso_a3": list(STATES),
            "name": names,
            "area_km2": exact.round(1),
            "simplified_tolerance_m": STATES_TOLERANCE,
            "source": "Natural Earth 1:10m Admin-0 countries v4.1 (public domain)",
        },
        geometry=list(simplified),
        crs=ALBERS,
    )


def build_states(data: Path, out: Path) -> None:
    states = states_layer(data)
    write_gpkg(out / "states.gpkg", {"states": states})
    print(states.drop(columns="geometry").to_string())


def build(data: Path, out: Path) -> None:
    grid = demo_grid()
    countries, borders, lakes, raw = context_layers(data, grid)
    resistance, stats = resistance_raster(
        data, grid, countries, lakes, out / "resistance_model.toml"
    )
    lakes_ll = gpd.read_file(data / "boundaries" / "ne_10m_lakes_central_asia.gpkg").geometry
    fence_albers = to_albers(fence_line(raw, list(lakes_ll)))
    fences = fence_segments(fence_albers)
    openings = mitigation_openings(fences)
    pas, ranges = illustrative_layers(countries, borders, lakes)
    write_geotiff(
        out / "resistance.tif",
        grid,
        resistance,
        tags={
            "model": "resistance_model.toml",
            "units": "ohms per cell",
            "basis": "every coefficient is an assumption, see resistance_model.toml",
        },
    )
    alignment = "follows the Kazakhstan-Uzbekistan boundary: the real alignment is not public"
    fence_frame = fences_to_gdf(fences, ALBERS, alignment=alignment, sensitivity="public")
    opening_frame = openings_to_gdf(
        openings,
        ALBERS,
        width_basis="assumption",
        scheme="lower strands removed between two poles every 1 km",
    )
    write_gpkg(
        out / "layers.gpkg",
        {
            "countries": countries,
            "borders": borders,
            "fences": fence_frame,
            "openings": opening_frame,
            "protected_areas": pas,
            "ranges": ranges,
        },
    )
    meta = metadata(grid, fences, openings, stats, out / "resistance_model.toml")
    (out / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    build_states(data, out)
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(
        pd.Series(
            {
                "grid": f"{grid.rows}x{grid.cols}",
                "fence km": meta["fence"]["length_km"],
                "segments": len(fences),
                "openings": len(openings),
                "valid cells": int(np.isfinite(resistance).sum()),
                "total bytes": total,
            }
        ).to_string()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared raw data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="demo folder to write")
    parser.add_argument("--only", choices=["states"], help="rebuild only this part (states.gpkg)")
    args = parser.parse_args()
    if args.only == "states":
        build_states(args.data, args.out)
    else:
        build(args.data, args.out)


if __name__ == "__main__":
    main()
