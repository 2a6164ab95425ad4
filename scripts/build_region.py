"""Build a Central Asia resistance surface at 1 and 2 km for region-wide Omniscape runs.

Reads the shared raw data folder (``../shared/data`` relative to the repository, or ``--data``)
and writes into ``crossings-out/region/`` (ignored by git; ``--out`` to change): nothing built
here is committed (the 1 km GeoTIFF alone is tens of MB).

Inputs (see the data folder's SOURCES.md): NOAA GLOBE 30-arc-second elevation (46-90 E,
35-50 N), MODIS MCD12C1 2019 IGBP land cover (0.05 degree), Natural Earth 1:10m countries and
lakes. Output per cell size: ``resistance_<N>km.tif`` (ohms per cell, NoData = open water or
outside the data) and ``resistance_<N>km.json`` (the assumptions below and the figures).

ASSUMPTIONS (every one is labelled in the JSON):

- A1 extent: the GLOBE tile 46-90 E, 35-50 N, in the Central Asian Albers equal-area CRS;
  cells outside the tile are NoData (no elevation exists there).
- A2 resistance model: the demo's table ``src/crossings/data/demo/resistance_model.toml``
  (saiga and goitered gazelle, every coefficient an assumption) applied region-wide, although
  it was written for the Ustyurt plateau; mountains get high resistance through slope and
  elevation, but no species-specific mountain model exists here.
- A3 slope: from GLOBE warped (bilinear) to 500 m, averaged per cell.
- A4 land cover: MODIS classes resampled by nearest neighbour from 0.05 degree (about 5 km),
  so 1 and 2 km cells repeat the same class in blocks.
- A5 water: outside every Natural Earth country polygon (the Caspian) or inside a Natural Earth
  lake is NoData (a complete barrier); MODIS water (class 0) too.
- A6 no fences: border fences are not part of this surface; add them as a fence layer.

Run: ``.venv/bin/python scripts/build_region.py [--cell-km 2] [--data DIR] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from crossings.core.grid import GridSpec
from crossings.io.atomic import write_text_atomic
from crossings.io.raster import write_geotiff

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "crossings-out" / "region"
MODEL = ROOT / "src" / "crossings" / "data" / "demo" / "resistance_model.toml"
BBOX = (46.0, 35.0, 90.0, 50.0)  # west, south, east, north in degrees: the GLOBE tile (A1)

ASSUMPTIONS = {
    "A1 extent": "GLOBE tile 46-90E 35-50N in Albers; outside it NoData",
    "A2 resistance model": "the demo's saiga/goitered gazelle table applied region-wide",
    "A3 slope": "GLOBE warped bilinear to 500 m, slope averaged per cell",
    "A4 land cover": "MODIS 0.05 deg classes resampled by nearest neighbour",
    "A5 water": "outside Natural Earth countries, in Natural Earth lakes or MODIS water: NoData",
    "A6 no fences": "border fences are not in this surface",
}


def _demo_helpers():
    """The demo builder's reprojection, terrain and rasterising helpers (one way to do it)."""
    spec = importlib.util.spec_from_file_location("build_demo", ROOT / "scripts" / "build_demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_demo"] = module
    spec.loader.exec_module(module)
    return module


def region_grid(demo, cell: float) -> GridSpec:
    outline = shapely.segmentize(shapely.box(*BBOX), 0.05)
    west, south, east, north = demo.to_albers(outline).bounds
    west, south = math.floor(west / cell) * cell, math.floor(south / cell) * cell
    east, north = math.ceil(east / cell) * cell, math.ceil(north / cell) * cell
    shape = (int(round((north - south) / cell)), int(round((east - west) / cell)))
    return GridSpec.from_origin(west, north, cell, shape, demo.ALBERS)


def region_layers(demo, data: Path, grid: GridSpec):
    raw = gpd.read_file(data / "boundaries" / "ne10m_countries_central_asia.gpkg")
    countries = gpd.GeoDataFrame(
        geometry=[demo.to_albers(g) for g in raw.geometry], crs=demo.ALBERS
    )
    lakes = gpd.read_file(data / "boundaries" / "ne_10m_lakes_central_asia.gpkg")
    lakes = gpd.GeoDataFrame(geometry=[demo.to_albers(g) for g in lakes.geometry], crs=demo.ALBERS)
    return countries, lakes


def build(data: Path, out: Path, cell_km: float) -> Path:
    demo = _demo_helpers()
    started = time.perf_counter()
    grid = region_grid(demo, cell_km * 1000.0)
    countries, lakes = region_layers(demo, data, grid)
    resistance, stats = demo.resistance_raster(data, grid, countries, lakes, MODEL)
    # A1: outside the GLOBE tile there is no elevation: NoData rather than a guess.
    outline = demo.to_albers(shapely.segmentize(shapely.box(*BBOX), 0.05))
    resistance[~demo.burn([outline], grid)] = np.nan
    name = f"resistance_{cell_km:g}km"
    path = write_geotiff(
        out / f"{name}.tif",
        grid,
        resistance,
        tags={"units": "ohms per cell", "basis": "assumptions A1-A6, see the JSON beside it"},
    )
    figures = {
        "grid": [grid.rows, grid.cols],
        "cell_m": grid.cell_size,
        "valid_cells": int(np.isfinite(resistance).sum()),
        "crs": demo.ALBERS,
        "seconds": round(time.perf_counter() - started, 1),
        **stats,
    }
    meta = {"assumptions": ASSUMPTIONS, "model": str(MODEL.relative_to(ROOT)), **figures}
    write_text_atomic(out / f"{name}.json", json.dumps(meta, indent=2) + "\n")
    print(f"{path}: {grid.rows} x {grid.cols} cells, {figures['valid_cells']:,} valid")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared raw data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write into")
    parser.add_argument("--cell-km", type=float, action="append", help="1 and/or 2 (default both)")
    args = parser.parse_args()
    for cell_km in args.cell_km or [2.0, 1.0]:
        build(args.data, args.out, cell_km)


if __name__ == "__main__":
    main()
