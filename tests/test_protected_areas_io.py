"""Reading PAs, regions, sections and evidence tables: the demo files and messy user files."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from crossings.errors import ConfigError, InputFileError
from crossings.io.protected_areas import (
    read_protected_areas,
    read_regions,
    read_sections,
    read_table_values,
)
from crossings.landscape import demo_path

ALBERS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m +no_defs"


def test_demo_states_keep_exact_areas_and_pas_are_flagged_illustrative():
    states = read_regions(
        demo_path("states.gpkg"), layer="states", target_crs=ALBERS, area_column="area_km2"
    )
    assert sorted(states.geoms) == ["KAZ", "KGZ", "TJK", "TKM", "UZB"]
    for code, geom in states.geoms.items():  # simplified outlines, exact areas within 0.1 %
        assert states.areas[code] == pytest.approx(geom.area, rel=1e-3)
    pas = read_protected_areas(demo_path("layers.gpkg"), layer="protected_areas", target_crs=ALBERS)
    assert len(pas.geoms) == 3 and pas.illustrative
    assert all("illustrative" in name for name in pas.names)


def write(tmp_path, frame, name="layer.gpkg"):
    path = tmp_path / name
    frame.to_file(path, driver="GPKG")
    return path


def test_point_pas_become_discs_of_their_area_or_are_refused(tmp_path):
    frame = gpd.GeoDataFrame(
        {"name": ["p"], "rep_area": [3.0]}, geometry=[shapely.Point(0, 0)], crs=ALBERS
    )
    path = write(tmp_path, frame)
    pas = read_protected_areas(path, target_crs=ALBERS, area_column="rep_area")
    assert pas.geoms[0].area == pytest.approx(3e6, rel=2e-3)
    with pytest.raises(InputFileError, match="row 1 \\(p\\) is a point"):
        read_protected_areas(path, target_crs=ALBERS)


def test_lonlat_target_and_missing_columns_are_refused(tmp_path):
    frame = gpd.GeoDataFrame({"iso": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=ALBERS)
    path = write(tmp_path, frame)
    with pytest.raises(InputFileError, match="longitude/latitude"):
        read_regions(path, target_crs="EPSG:4326", id_column="iso")
    with pytest.raises(InputFileError, match="no column 'iso_a3'"):
        read_regions(path, target_crs=ALBERS)
    with pytest.raises(InputFileError, match="has no region B"):
        read_regions(path, target_crs=ALBERS, id_column="iso", only=("B",))


def test_sections_need_lines_and_a_pair(tmp_path):
    good = gpd.GeoDataFrame(
        {"section_id": ["s1"], "country_pair": ["KAZ-UZB"]},
        geometry=[shapely.LineString([(0, 0), (1000, 0)])],
        crs=ALBERS,
    )
    sections = read_sections(write(tmp_path, good), target_crs=ALBERS)
    assert sections[0].countries == ("KAZ", "UZB") and sections[0].length == 1000
    bad = good.assign(country_pair=["KAZUZB"])
    with pytest.raises(InputFileError, match="row 1 has country_pair = 'KAZUZB'"):
        read_sections(write(tmp_path, bad, "bad.gpkg"), target_crs=ALBERS)


def test_table_values_sum_columns_per_id_and_name_bad_rows(tmp_path):
    path = tmp_path / "baba.csv"
    path.write_text("fence_id,bounce,trace\nf1,2,3\nf1,1,0\nf2,0,4\n")
    assert read_table_values(path, "fence_id", ["bounce", "trace"]) == {"f1": 6.0, "f2": 4.0}
    path.write_text("fence_id,bounce\nf1,2\nf2,many\n")
    with pytest.raises(ConfigError, match="row 3 has a non-numeric value in bounce"):
        read_table_values(path, "fence_id", "bounce")
    with pytest.raises(InputFileError, match="no column 'trace'"):
        read_table_values(path, "fence_id", "trace")
