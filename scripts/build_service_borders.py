"""Build the map's bundled borders: Natural Earth country outlines of Central Asia, simplified.

Reads ``../shared/data/boundaries/ne10m_countries_central_asia.gpkg`` (Natural Earth 1:10m Admin-0,
public domain) and writes ``src/crossings/service/static/borders.geojson`` (EPSG:4326, the ten
focal countries, simplified to about 2 km, coordinates rounded to 4 decimals) so that the map has
borders with no network. Run: ``python scripts/build_service_borders.py [--shared ../shared]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyogrio
import shapely

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path("data") / "boundaries" / "ne10m_countries_central_asia.gpkg"
TARGET = ROOT / "src" / "crossings" / "service" / "static" / "borders.geojson"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=ROOT.parent / "shared",
        help="the shared data folder (default ../shared)",
    )
    source = parser.parse_args().shared / SOURCE
    frame = pyogrio.read_dataframe(source, layer="countries_full").to_crs("EPSG:4326")
    frame = frame[frame["focal"].astype(bool)]
    features = []
    for row in frame.itertuples():
        geometry = shapely.simplify(row.geometry, 0.02, preserve_topology=True)
        geometry = shapely.transform(shapely.make_valid(geometry), lambda xy: xy.round(4))
        features.append(
            {
                "type": "Feature",
                "properties": {"iso_a3": row.iso_a3, "name": row.name},
                "geometry": shapely.geometry.mapping(geometry),
            }
        )
    body = {
        "type": "FeatureCollection",
        "source": "Natural Earth 1:10m Admin-0 countries v4.1.0 (public domain), simplified",
        "features": features,
    }
    TARGET.write_text(json.dumps(body, separators=(",", ":")), encoding="utf-8")
    print(f"{TARGET.relative_to(ROOT)}: {len(features)} countries, {TARGET.stat().st_size} bytes")


if __name__ == "__main__":
    main()
