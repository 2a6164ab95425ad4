"""The Landscape model, the bundled Ustyurt demo and loading user landscapes."""

from __future__ import annotations

import math
import tomllib

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS, Transformer

from crossings.core.fences import Fence, Opening
from crossings.core.graph import AveragingRule, build_graph
from crossings.core.grid import GridSpec
from crossings.errors import ConfigError, CrossingsWarning, InputFileError
from crossings.io.raster import write_geotiff
from crossings.landscape import (
    Landscape,
    apply_resistance_model,
    demo_path,
    load_demo,
    load_landscape,
    read_resistance_model,
)

ALBERS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m"


@pytest.fixture(scope="module")
def demo():
    return load_demo(mitigation=True)


@pytest.fixture(scope="module")
def closed_demo():
    return load_demo()


def to_lonlat(crs):
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


# ----------------------------------------------------------------------------- the demo


def test_demo_loads_without_warnings(recwarn):
    load_demo(mitigation=True)
    assert not [w for w in recwarn if issubclass(w.category, CrossingsWarning)]


def test_demo_files_are_small():
    total = sum(p.stat().st_size for p in demo_path().rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024


def test_demo_grid_is_albers_2km_over_ustyurt(demo):
    grid = demo.grid
    assert CRS.from_user_input(grid.crs) == CRS.from_user_input(ALBERS)
    assert grid.cell_size == 2000.0
    box = shapely.segmentize(shapely.box(53.0, 41.0, 60.0, 46.5), 0.05)
    to_grid = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    outline = shapely.transform(box, lambda xy: np.column_stack(to_grid.transform(*xy.T)))
    extent = shapely.box(*grid.bounds)
    assert extent.covers(outline)  # the grid covers about 53-60 E, 41-46.5 N ...
    assert extent.area < 1.4 * outline.area  # ... and not much more


def test_demo_resistance_is_positive_with_water_as_nodata(demo):
    resistance = demo.resistance
    assert resistance.dtype == np.float64 and resistance.shape == demo.grid.shape
    valid = np.isfinite(resistance)
    assert 0.5 < valid.mean() < 0.98  # land with some water
    assert (resistance[valid] > 0).all()
    land = demo.rasterize(demo.countries) > 0
    # cells whose centre lies outside every country (the Caspian) are NoData
    assert not valid[~land].any()


def test_demo_resistance_model_marks_every_coefficient_an_assumption():
    model_path = demo_path("resistance_model.toml")
    raw = tomllib.loads(model_path.read_text())
    assert raw["references_read"] == []
    assert "assumption" in raw["slope"]["basis"] and "assumption" in raw["elevation"]["basis"]
    assert all("assumption" in entry["basis"] for entry in raw["landcover"])
    model = read_resistance_model(model_path)
    water = [c for c in model.landcover if c.code == 0]
    assert water and water[0].resistance is None  # open water is NoData


def test_resistance_model_applied_by_hand():
    model = read_resistance_model(demo_path("resistance_model.toml"))
    by_code = {c.code: c.resistance for c in model.landcover}
    landcover = np.array([10, 16, 0, 12])
    slope = np.array([0.0, 2.0, 0.0, 1.0])
    elevation = np.array([100.0, 700.0, 0.0, 0.0])
    got = apply_resistance_model(model, landcover, slope, elevation)
    s, e = model.slope, model.elevation
    expected_16 = (
        by_code[16] * (1 + s.per_degree * 2.0) * (1 + e.per_100m * (700 - e.threshold_m) / 100)
    )
    assert got[0] == pytest.approx(by_code[10])
    assert got[1] == pytest.approx(expected_16)
    assert math.isnan(got[2])
    assert got[3] == pytest.approx(by_code[12] * (1 + s.per_degree))


def test_bad_resistance_model_is_refused(tmp_path):
    text = demo_path("resistance_model.toml").read_text()
    (tmp_path / "typo.toml").write_text(text.replace("per_degree", "per_degre"))
    with pytest.raises(ConfigError, match=r"per_degre.*Did you mean 'per_degree'"):
        read_resistance_model(tmp_path / "typo.toml")
    (tmp_path / "zero.toml").write_text(text.replace("resistance = 1.5", "resistance = 0.0"))
    with pytest.raises(ConfigError, match=r"class 16 \(barren\): resistance must be > 0"):
        read_resistance_model(tmp_path / "zero.toml")


def test_demo_fence_follows_the_kaz_uzb_border(closed_demo):
    fences = closed_demo.fences
    total = sum(f.length for f in fences)
    assert total >= 150_000
    assert all(f.permeability == 0.0 and f.country_pair == "KAZ-UZB" for f in fences)
    ids = [f.fence_id for f in fences]
    assert len(set(ids)) == len(ids)
    assert all(10_000 <= f.length <= 20_000 for f in fences)
    vertices = shapely.points(np.concatenate([f.coords for f in fences]))
    countries = dict(
        zip(closed_demo.countries["iso_a3"], closed_demo.countries.geometry, strict=True)
    )
    # every vertex lies on the shared Kazakhstan-Uzbekistan boundary of the country polygons
    assert shapely.distance(vertices, countries["KAZ"].boundary).max() < 1.0
    assert shapely.distance(vertices, countries["UZB"].boundary).max() < 1.0
    # and near the KAZ-UZB line of the borders layer (another Natural Earth product: ~100 m apart)
    border = closed_demo.borders[closed_demo.borders["name"] == "KAZ-UZB"].geometry.union_all()
    assert shapely.distance(vertices, border).max() < 500.0
    gdf = closed_demo.fences_gdf()
    assert list(gdf["fence_id"]) == ids and gdf.crs is not None
    assert closed_demo.openings == ()


def test_demo_fence_layer_says_alignment_is_approximate():
    layer = gpd.read_file(demo_path("layers.gpkg"), layer="fences")
    assert layer["alignment"].str.contains("alignment is not public").all()


def test_demo_mitigation_openings_every_km(demo):
    openings = demo.openings
    fences = {f.fence_id: shapely.LineString(f.coords) for f in demo.fences}
    assert len(openings) == pytest.approx(sum(f.length for f in fences.values()) / 1000, abs=1)
    assert {o.kind for o in openings} == {"lower_strands_removed"}
    assert {o.width for o in openings} == {4.0}
    points = shapely.points([(o.x, o.y) for o in openings])
    on_fence = [fences[o.fence_id].distance(p) for o, p in zip(openings, points, strict=True)]
    assert max(on_fence) < 1.0
    whole = shapely.line_merge(shapely.MultiLineString([f.coords for f in demo.fences]))
    positions = np.sort(whole.project(points))
    np.testing.assert_allclose(np.diff(positions), 1000.0, atol=1.0)


def test_demo_illustrative_layers(demo):
    for layer in (demo.protected_areas, demo.ranges):
        assert len(layer) >= 2
        assert layer["illustrative"].dtype == bool and layer["illustrative"].all()
        assert layer["name"].str.len().min() > 0
    seasons = dict(zip(demo.ranges["season"], demo.ranges.geometry, strict=True))
    assert set(seasons) == {"summer", "winter"}
    countries = dict(zip(demo.countries["iso_a3"], demo.countries.geometry, strict=True))
    assert countries["KAZ"].buffer(1).contains(seasons["summer"])
    assert countries["UZB"].buffer(1).contains(seasons["winter"])
    lon_lat = to_lonlat(demo.grid.crs)
    summer_lat = lon_lat.transform(*seasons["summer"].centroid.coords[0])[1]
    winter_lat = lon_lat.transform(*seasons["winter"].centroid.coords[0])[1]
    assert summer_lat > winter_lat
    assert "protected_areas" in demo.metadata["illustrative_layers"]


def test_landscape_methods_match_independent_computations(demo):
    expected = np.where(np.isfinite(demo.resistance), 1.0 / demo.resistance, np.nan)
    np.testing.assert_array_equal(demo.conductance(), expected)
    graph = demo.graph(connect_four=True, rule=AveragingRule.AVG_CONDUCTANCE)
    reference = build_graph(
        demo.grid, expected, connect_four=True, rule=AveragingRule.AVG_CONDUCTANCE
    )
    for got, want in zip(graph.edge_weights, reference.edge_weights, strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError):
        demo.resistance[0, 0] = 1.0  # shared by all modules: read-only
    assert demo.without_openings().openings == () and demo.openings


# ----------------------------------------------------------------------------- synthetic


@pytest.fixture()
def small():
    grid = GridSpec.from_origin(0.0, 4000.0, 1000.0, (4, 5), ALBERS)
    return Landscape(grid, np.ones((4, 5)))


def test_rasterize_ids_cell_centres_and_reprojection(small):
    layer = gpd.GeoDataFrame(
        {"name": ["b", "a", "b"]},
        geometry=[
            shapely.box(0, 0, 2000, 2000),
            shapely.box(3000, 2000, 5000, 4000),
            shapely.box(0, 3000, 1000, 4000),
        ],
        crs=ALBERS,
    )
    by_row = small.rasterize(layer)
    expected = np.zeros((4, 5), dtype=int)
    expected[2:, :2] = 1
    expected[:2, 3:] = 2
    expected[0, 0] = 3
    np.testing.assert_array_equal(by_row, expected)
    by_name = small.rasterize(layer, id_column="name")  # sorted: a -> 1, b -> 2
    np.testing.assert_array_equal(by_name, np.where(expected == 2, 1, np.where(expected, 2, 0)))
    with pytest.warns(CrossingsWarning, match="reprojected"):
        again = small.rasterize(layer.to_crs("EPSG:4326"))
    np.testing.assert_array_equal(again, by_row)
    with pytest.raises(ConfigError, match="no column 'nope'"):
        small.rasterize(layer, id_column="nope")


def test_landscape_rejects_shape_mismatch(small):
    with pytest.raises(ConfigError, match="resistance shape"):
        Landscape(small.grid, np.ones((2, 2)))


def test_load_landscape_from_user_files(tmp_path):
    grid = GridSpec.from_origin(-900_000.0, 100_000.0, 2000.0, (20, 30), ALBERS)
    resistance = np.full(grid.shape, 2.0)
    resistance[0, 0] = np.nan
    write_geotiff(tmp_path / "r.tif", grid, resistance)
    to_ll = to_lonlat(ALBERS)
    ends = [to_ll.transform(-890_000.0, 70_000.0), to_ll.transform(-850_000.0, 70_000.0)]
    fences = gpd.GeoDataFrame(
        {"fence_id": ["F1"], "permeability": [0.0]},
        geometry=[shapely.LineString(ends)],
        crs="EPSG:4326",
    )
    fences.to_file(tmp_path / "f.geojson")
    openings = gpd.GeoDataFrame(
        {"fence_id": ["F1"], "width": [10.0], "type": ["full_gap"]},
        geometry=[shapely.Point(-870_000.0, 70_000.0)],
        crs=ALBERS,
    )
    openings.to_file(tmp_path / "o.gpkg")
    with pytest.warns(CrossingsWarning, match="reprojected"):
        land = load_landscape(
            tmp_path / "r.tif", tmp_path / "f.geojson", openings_path=tmp_path / "o.gpkg"
        )
    np.testing.assert_array_equal(land.resistance, resistance)
    np.testing.assert_allclose(
        land.fences[0].coords, [[-890_000, 70_000], [-850_000, 70_000]], atol=0.01
    )
    assert land.openings == (
        Opening("F1", -870_000.0, 70_000.0, 10.0, 1.0, "full_gap", "opening-1"),
    )
    assert len(land.protected_areas) == 0 and "illustrative" in land.protected_areas.columns
    assert isinstance(land.fences[0], Fence)


def test_load_landscape_bad_inputs(tmp_path):
    with pytest.raises(InputFileError, match="file not found"):
        load_landscape(tmp_path / "missing.tif")
    grid = GridSpec.from_origin(0.0, 10.0, 1.0, (2, 2), ALBERS)
    write_geotiff(tmp_path / "r.tif", grid, np.ones((2, 2)))
    with pytest.raises(ConfigError, match="unknown context layer 'roads'"):
        load_landscape(tmp_path / "r.tif", context={"roads": (tmp_path / "r.tif", None)})


def test_load_landscape_warns_about_fence_outside_grid_and_stray_openings(tmp_path):
    grid = GridSpec.from_origin(0.0, 10_000.0, 1000.0, (10, 10), ALBERS)
    write_geotiff(tmp_path / "r.tif", grid, np.ones(grid.shape))
    fences = gpd.GeoDataFrame(
        {"fence_id": ["in", "far"], "permeability": [0.0, 0.0]},
        geometry=[
            shapely.LineString([(2000, 5000), (8000, 5000)]),
            shapely.LineString([(50_000, 5000), (60_000, 5000)]),
        ],
        crs=ALBERS,
    )
    fences.to_file(tmp_path / "f.gpkg")
    openings = gpd.GeoDataFrame(
        {
            "fence_id": ["in", "in"],
            "width": [5.0, 5.0],
            "type": ["full_gap"] * 2,
            "opening_id": ["near", "stray"],
        },
        geometry=[shapely.Point(4000, 5300), shapely.Point(4000, 8000)],
        crs=ALBERS,
    )
    openings.to_file(tmp_path / "o.gpkg")
    with pytest.warns(CrossingsWarning) as caught:
        land = load_landscape(
            tmp_path / "r.tif", tmp_path / "f.gpkg", openings_path=tmp_path / "o.gpkg"
        )
    messages = [str(w.message) for w in caught]
    assert any("f.gpkg: 1 fence(s) lie entirely outside" in m and "(far)" in m for m in messages)
    assert any("o.gpkg: 1 opening(s)" in m and "(stray)" in m for m in messages)
    assert len(land.fences) == 2 and len(land.openings) == 2


def test_load_landscape_warns_about_a_raster_in_degrees(tmp_path):
    grid = GridSpec.from_origin(56.0, 45.0, 0.01, (3, 3), "EPSG:4326")
    write_geotiff(tmp_path / "ll.tif", grid, np.ones(grid.shape))
    with pytest.warns(CrossingsWarning, match=r"ll\.tif: the raster is in a geographic CRS"):
        load_landscape(tmp_path / "ll.tif")
