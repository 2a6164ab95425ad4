"""Raster and vector input/output: formats, CRS handling and every bad input with its message."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.transform import Affine

from crossings.core.grid import GridSpec
from crossings.errors import ConfigError, CrossingsWarning, GridAlignmentError, InputFileError
from crossings.io import raster as raster_io
from crossings.io import vector as vector_io

DATA = Path(__file__).parent / "data" / "io"
ALBERS = "+proj=aea +lat_1=38 +lat_2=50 +lat_0=44 +lon_0=68 +datum=WGS84 +units=m +no_defs"
UTM = "EPSG:32640"


def write_tif(
    path, values, *, crs=UTM, transform=(100.0, 0, 500_000.0, 0, -100.0, 4_800_000.0), nodata=-1.0
):
    """Write a GeoTIFF directly with rasterio (independent of the code under test)."""
    values = np.asarray(values, dtype="float32")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=values.shape[0],
        width=values.shape[1],
        count=1,
        dtype="float32",
        crs=crs,
        transform=Affine(*transform),
        nodata=nodata,
    ) as dst:
        dst.write(values, 1)
    return path


def independent_ascii(path: Path) -> np.ndarray:
    """Parse an ASCII grid by hand: six header lines, then values; -9999 is NoData."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        values = np.loadtxt(handle, skiprows=6)
    return np.where(values == -9999, np.nan, values)


# ----------------------------------------------------------------------------- rasters


def test_geotiff_round_trip_keeps_values_nodata_transform_and_crs(tmp_path):
    grid = GridSpec.from_origin(-50_000.0, 120_000.0, 2000.0, (3, 4), ALBERS)
    values = np.arange(12, dtype=float).reshape(3, 4) + 1
    values[1, 2] = np.nan
    raster_io.write_geotiff(tmp_path / "r.tif", grid, values)
    with rasterio.open(tmp_path / "r.tif") as src:  # what another GIS would see
        assert CRS.from_user_input(src.crs) == CRS.from_user_input(ALBERS)
        assert tuple(src.transform)[:6] == grid.transform
        raw = src.read(1)
        assert raw[1, 2] == src.nodata
    read_grid, read_values = raster_io.read_raster(tmp_path / "r.tif")
    assert read_grid.shape == grid.shape and read_grid.transform == grid.transform
    assert CRS.from_user_input(read_grid.crs) == CRS.from_user_input(ALBERS)
    np.testing.assert_array_equal(read_values, values)
    assert read_values.dtype == np.float64
    assert not list(tmp_path.glob(".*part*")), "temporary file left behind"


def test_ascii_grid_and_gzipped_ascii_grid_read_with_nodata_as_nan():
    expected = independent_ascii(DATA / "cellmap.asc")
    grid, values = raster_io.read_raster(DATA / "cellmap.asc", crs=UTM)
    np.testing.assert_array_equal(values, expected)
    assert grid.shape == (10, 10) and grid.cell_size == 1.0
    assert grid.bounds == (1.0, 1.0, 11.0, 11.0)  # xllcorner/yllcorner 1, 10 cells of 1
    gz_grid, gz_values = raster_io.read_raster(DATA / "cellmap.asc.gz", crs=UTM)
    np.testing.assert_array_equal(gz_values, expected)
    assert gz_grid == grid


def test_ascii_grid_written_then_read_back(tmp_path):
    grid = GridSpec.from_origin(1000.0, 5000.0, 500.0, (2, 3), UTM)
    values = np.array([[1.5, np.nan, 3.0], [4.0, 5.25, 6.0]])
    raster_io.write_raster(tmp_path / "out.asc", grid, values)
    np.testing.assert_array_equal(independent_ascii(tmp_path / "out.asc"), values)
    read_grid, read_values = raster_io.read_raster(tmp_path / "out.asc")  # CRS from the .prj
    np.testing.assert_array_equal(read_values, values)
    assert read_grid.transform == grid.transform
    assert CRS.from_user_input(read_grid.crs) == CRS.from_user_input(UTM)


def test_raster_without_crs_names_file_and_fix(tmp_path):
    path = write_tif(tmp_path / "nocrs.tif", np.ones((2, 2)), crs=None)
    with pytest.raises(InputFileError) as info:
        raster_io.read_raster(path)
    message = str(info.value)
    assert "nocrs.tif" in message and "CRS" in message
    assert "--crs" in message and "gdal_edit" in message
    grid, _ = raster_io.read_raster(path, crs=UTM)  # the fix works
    assert grid.crs == UTM


def test_ascii_grid_without_crs_is_refused_unless_allowed():
    with pytest.raises(InputFileError, match=r"cellmap\.asc.*no coordinate reference system"):
        raster_io.read_raster(DATA / "cellmap.asc")
    grid, _ = raster_io.read_raster(DATA / "cellmap.asc", allow_missing_crs=True)
    assert grid.crs == ""


def test_crs_option_contradicting_the_file_is_an_error(tmp_path):
    path = write_tif(tmp_path / "utm.tif", np.ones((2, 2)))
    with pytest.raises(ConfigError, match=r"utm\.tif.*field 'crs'.*differs"):
        raster_io.read_raster(path, crs="EPSG:4326")


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"transform": (100.0, 0, 500_050.0, 0, -100.0, 4_800_000.0)}, "origin"),
        ({"transform": (200.0, 0, 500_000.0, 0, -200.0, 4_800_000.0)}, "cell size"),
        ({"crs": "EPSG:32641"}, "CRS"),
        ({"shape": (3, 2)}, "shape"),
    ],
)
def test_misaligned_rasters_name_both_files(tmp_path, change, expected):
    first = write_tif(tmp_path / "resistance.tif", np.ones((2, 2)))
    shape = change.pop("shape", (2, 2))
    second = write_tif(tmp_path / "sources.tif", np.ones(shape), **change)
    with pytest.raises(GridAlignmentError) as info:
        raster_io.read_aligned([first, second])
    message = str(info.value)
    assert "resistance.tif" in message and "sources.tif" in message
    assert expected in message and "Resample" in message


def test_aligned_rasters_are_read_together(tmp_path):
    first = write_tif(tmp_path / "a.tif", np.ones((2, 2)))
    second = write_tif(tmp_path / "b.tif", np.full((2, 2), 3.0))
    grid, (a, b) = raster_io.read_aligned([first, second])
    assert grid.shape == (2, 2) and a.sum() == 4 and b.sum() == 12


@pytest.mark.parametrize("bad_value", [0.0, -2.5])
def test_zero_or_negative_resistance_is_refused(tmp_path, bad_value):
    values = np.ones((3, 3))
    values[2, 1] = bad_value
    path = write_tif(tmp_path / "res.tif", values)
    with pytest.raises(ConfigError) as info:
        raster_io.read_resistance(path)
    message = str(info.value)
    assert "res.tif" in message and "field 'resistance'" in message
    assert "row 2, col 1" in message and f"{bad_value:g}" in message and "> 0" in message


def test_all_nodata_raster_is_refused(tmp_path):
    path = write_tif(tmp_path / "empty.tif", np.full((3, 3), -1.0), nodata=-1.0)
    with pytest.raises(InputFileError, match=r"empty\.tif: every cell is NoData"):
        raster_io.read_resistance(path)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(InputFileError, match=r"absent\.tif: file not found"):
        raster_io.read_raster(tmp_path / "absent.tif")
    with pytest.raises(InputFileError, match="file not found"):
        vector_io.read_vector(tmp_path / "absent.gpkg")


def test_unreadable_files_are_reported(tmp_path):
    garbage = tmp_path / "broken.tif"
    garbage.write_bytes(b"this is not a GeoTIFF at all")
    with pytest.raises(InputFileError, match=r"broken\.tif: cannot be read as a raster"):
        raster_io.read_raster(garbage)
    with pytest.raises(InputFileError, match="is a folder"):
        raster_io.read_raster(tmp_path)
    bad_vector = tmp_path / "broken.gpkg"
    bad_vector.write_bytes(b"not a geopackage")
    with pytest.raises(InputFileError, match=r"broken\.gpkg: cannot be read"):
        vector_io.read_vector(bad_vector)


def test_write_refuses_array_of_wrong_shape(tmp_path):
    grid = GridSpec.from_origin(0, 10, 1, (2, 2), UTM)
    with pytest.raises(ConfigError, match="shape"):
        raster_io.write_geotiff(tmp_path / "x.tif", grid, np.ones((3, 3)))
    assert not (tmp_path / "x.tif").exists()


# ----------------------------------------------------------------------------- vectors


def fence_frame(crs=ALBERS, **overrides):
    data = {
        "fence_id": ["A", "B"],
        "permeability": [0.0, 0.25],
        "country_pair": ["KAZ-UZB", "KAZ-TKM"],
    }
    data.update(overrides)
    geometry = [shapely.LineString([(0, 0), (5000, 0)]), shapely.LineString([(0, 0), (0, 3000)])]
    return gpd.GeoDataFrame(data, geometry=geometry, crs=crs)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp"])
def test_fences_read_from_each_format(tmp_path, suffix):
    frame = fence_frame(crs="EPSG:4326").set_geometry(
        [shapely.LineString([(56, 45), (57, 45.2)]), shapely.LineString([(56, 44), (56, 45)])]
    )
    path = tmp_path / f"fences{suffix}"
    with warnings.catch_warnings():  # Shapefiles truncate column names: the reader undoes it
        warnings.simplefilter("ignore")
        frame.to_file(path)
    with pytest.warns(CrossingsWarning, match="reprojected"):
        fences = vector_io.read_fences(path, target_crs=ALBERS)
    assert [f.fence_id for f in fences] == ["A", "B"]
    assert [f.permeability for f in fences] == [0.0, 0.25]
    assert fences[0].country_pair == "KAZ-UZB"
    to_albers = Transformer.from_crs("EPSG:4326", ALBERS, always_xy=True)
    expected = np.column_stack(to_albers.transform([56, 57], [45, 45.2]))
    np.testing.assert_allclose(fences[0].coords, expected, atol=1e-3)


def test_vector_in_other_crs_is_reprojected_with_a_warning(tmp_path):
    points = gpd.GeoDataFrame(
        {"name": ["p"]}, geometry=[shapely.Point(58.0, 44.0)], crs="EPSG:4326"
    )
    points.to_file(tmp_path / "p.geojson")
    with pytest.warns(CrossingsWarning, match=r"p\.geojson: reprojected from EPSG:4326"):
        frame = vector_io.read_vector(tmp_path / "p.geojson", target_crs=ALBERS)
    x, y = Transformer.from_crs("EPSG:4326", ALBERS, always_xy=True).transform(58.0, 44.0)
    assert frame.geometry.iloc[0].x == pytest.approx(x) and frame.geometry.iloc[
        0
    ].y == pytest.approx(y)
    assert CRS.from_user_input(frame.crs) == CRS.from_user_input(ALBERS)


def test_vector_in_grid_crs_is_read_silently(tmp_path, recwarn):
    fence_frame().to_file(tmp_path / "f.gpkg", layer="fences")
    vector_io.read_fences(tmp_path / "f.gpkg", layer="fences", target_crs=ALBERS)
    assert not [w for w in recwarn if issubclass(w.category, CrossingsWarning)]


def test_vector_without_crs_is_refused(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fence_frame().to_file(tmp_path / "f.shp")
    (tmp_path / "f.prj").unlink()
    with pytest.raises(InputFileError, match=r"f\.shp.*no coordinate reference system.*\.prj"):
        vector_io.read_fences(tmp_path / "f.shp", target_crs=ALBERS)


@pytest.mark.parametrize("missing", ["fence_id", "permeability"])
def test_fence_layer_missing_column_names_it_and_the_fix(tmp_path, missing):
    fence_frame().drop(columns=[missing]).to_file(tmp_path / "f.gpkg")
    with pytest.raises(ConfigError) as info:
        vector_io.read_fences(tmp_path / "f.gpkg")
    message = str(info.value)
    assert "f.gpkg" in message and f"field '{missing}'" in message
    assert "columns present" in message and "Add the column" in message


def test_fence_layer_without_country_pair_is_accepted(tmp_path):
    fence_frame().drop(columns=["country_pair"]).to_file(tmp_path / "f.gpkg")
    assert [f.country_pair for f in vector_io.read_fences(tmp_path / "f.gpkg")] == ["", ""]


def test_fence_values_are_checked(tmp_path):
    fence_frame(permeability=[0.0, 1.5]).to_file(tmp_path / "p.gpkg")
    with pytest.raises(ConfigError, match=r"fence B: permeability 1.5 is outside"):
        vector_io.read_fences(tmp_path / "p.gpkg")
    fence_frame(fence_id=["A", "A"]).to_file(tmp_path / "d.gpkg")
    with pytest.raises(ConfigError, match=r"'A' appears more than once"):
        vector_io.read_fences(tmp_path / "d.gpkg")
    polygons = fence_frame().set_geometry([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])
    polygons.to_file(tmp_path / "poly.gpkg")
    with pytest.raises(ConfigError, match="must be lines"):
        vector_io.read_fences(tmp_path / "poly.gpkg")


def test_multipart_fence_becomes_one_fence_per_part(tmp_path):
    multi = shapely.MultiLineString([[(0, 0), (10, 0)], [(20, 0), (30, 0)]])
    frame = gpd.GeoDataFrame(
        {"fence_id": ["M"], "permeability": [0.0]}, geometry=[multi], crs=ALBERS
    )
    frame.to_file(tmp_path / "m.gpkg")
    fences = vector_io.read_fences(tmp_path / "m.gpkg")
    assert [f.fence_id for f in fences] == ["M.1", "M.2"]
    assert [f.length for f in fences] == [10.0, 10.0]


def opening_frame(**overrides):
    data = {
        "opening_id": ["o1", "o2"],
        "fence_id": ["A", "A"],
        "width": [4.0, 10.0],
        "type": ["lower_strands_removed", "full_gap"],
        "permeability": [0.8, 1.0],
    }
    data.update(overrides)
    points = [shapely.Point(1000, 0), shapely.Point(3000, 0)]
    return gpd.GeoDataFrame(data, geometry=points, crs=ALBERS)


def test_openings_read_and_checked_against_fences(tmp_path):
    opening_frame().to_file(tmp_path / "o.gpkg")
    openings = vector_io.read_openings(tmp_path / "o.gpkg", fences=None)
    assert [(o.opening_id, o.fence_id, o.width, o.kind, o.permeability) for o in openings] == [
        ("o1", "A", 4.0, "lower_strands_removed", 0.8),
        ("o2", "A", 10.0, "full_gap", 1.0),
    ]
    assert (openings[1].x, openings[1].y) == (3000.0, 0.0)
    fence_frame().to_file(tmp_path / "f.gpkg")
    known = vector_io.read_fences(tmp_path / "f.gpkg")
    opening_frame(fence_id=["A", "Z"]).to_file(tmp_path / "bad.gpkg")
    with pytest.raises(ConfigError, match=r"names fence 'Z', which is not in the fence layer"):
        vector_io.read_openings(tmp_path / "bad.gpkg", fences=known)
    opening_frame().drop(columns=["width"]).to_file(tmp_path / "nowidth.gpkg")
    with pytest.raises(ConfigError, match=r"field 'width'.*no column 'width'"):
        vector_io.read_openings(tmp_path / "nowidth.gpkg")
    opening_frame(width=[4.0, -1.0]).to_file(tmp_path / "neg.gpkg")
    with pytest.raises(ConfigError, match="width must be > 0"):
        vector_io.read_openings(tmp_path / "neg.gpkg")


def test_unknown_layer_lists_the_layers(tmp_path):
    fence_frame().to_file(tmp_path / "f.gpkg", layer="fences")
    with pytest.raises(InputFileError, match=r"has no layer 'fence'.*Use one of: fences"):
        vector_io.read_vector(tmp_path / "f.gpkg", layer="fence")


def test_write_gpkg_writes_all_layers_atomically(tmp_path):
    from crossings.core.fences import Fence, Opening

    fences = [Fence("A", [(0, 0), (100, 0)], 0.0, "KAZ-UZB")]
    openings = [Opening("A", 50.0, 0.0, 4.0, 1.0, "lower_strands_removed", "o1")]
    target = tmp_path / "out.gpkg"
    vector_io.write_gpkg(
        target,
        {
            "fences": vector_io.fences_to_gdf(fences, ALBERS),
            "openings": vector_io.openings_to_gdf(openings, ALBERS),
        },
    )
    assert sorted(name for name, _ in pyogrio.list_layers(target)) == ["fences", "openings"]
    assert vector_io.read_fences(target, layer="fences")[0].length == 100.0
    assert vector_io.read_openings(target, layer="openings")[0].opening_id == "o1"
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]


def test_failed_write_leaves_previous_file_and_no_temporary(tmp_path, monkeypatch):
    grid = GridSpec.from_origin(0, 10, 1, (2, 2), UTM)
    target = raster_io.write_geotiff(tmp_path / "r.tif", grid, np.ones((2, 2)))
    before = target.read_bytes()

    class Interrupted(Exception):
        pass

    def fail(*args, **kwargs):
        raise Interrupted

    monkeypatch.setattr(rasterio.io.DatasetWriter, "write", fail)
    with pytest.raises(Interrupted):
        raster_io.write_geotiff(target, grid, np.full((2, 2), 5.0))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.tif"]
