"""Reading GPS tracks and fences: Movebank as is, plain CSV, CRS handling and bad input."""

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer

from crossings.core.baba import BabaConfig, classify
from crossings.core.fences import Fence
from crossings.core.tracks import FenceLayer, Tracks, check_regularity
from crossings.errors import ConfigError, CrossingsWarning, InputFileError
from crossings.io.gps import read_barriers, read_tracks, to_projected

DATA = Path(__file__).parent / "data"
MOVEBANK = DATA / "tracks" / "movebank_cuckoos_slice.csv"
UTM12 = "EPSG:32612"


def write(tmp_path: Path, text: str, name: str = "fixes.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_movebank_export_is_read_as_is():
    with open(MOVEBANK, newline="") as handle:
        rows = list(csv.DictReader(handle))
    gps = [r for r in rows if r["sensor-type"] == "gps" and r["location-long"]]
    tracks = read_tracks(MOVEBANK)
    assert tracks.n_fixes == len(gps) > 0
    assert tracks.crs == "EPSG:4326"
    assert sorted({name for name, _ in tracks.individuals()}) == ["B3B92C", "BF1F2B"]
    first = min(
        (r for r in gps if r["individual-local-identifier"] == "B3B92C"),
        key=lambda r: r["timestamp"],
    )
    k = np.flatnonzero(tracks.animal_id == "B3B92C")[0]
    assert tracks.time[k] == np.datetime64(first["timestamp"].replace(" ", "T")[:19])
    assert tracks.x[k] == float(first["location-long"])
    assert tracks.y[k] == float(first["location-lat"])


def test_movebank_invisible_rows_are_dropped(tmp_path):
    text = (
        "visible,timestamp,location-long,location-lat,individual-local-identifier\n"
        "true,2021-01-01 00:00:00.000,60.0,45.0,a\n"
        "false,2021-01-01 02:00:00.000,60.1,45.0,a\n"
        "true,2021-01-01 04:00:00.000,60.2,45.0,a\n"
    )
    tracks = read_tracks(write(tmp_path, text))
    assert tracks.x.tolist() == [60.0, 60.2]


def test_plain_csv_with_offsets_becomes_utc(tmp_path):
    text = "id,timestamp,x,y\na,2021-01-01T05:00:00+05:00,1,2\na,2021-01-01T02:00:00Z,3,4\n"
    tracks = read_tracks(write(tmp_path, text), crs=UTM12)
    assert tracks.time.tolist()[0].isoformat() == "2021-01-01T00:00:00"
    assert tracks.x.tolist() == [1.0, 3.0]


def test_missing_columns_are_named(tmp_path):
    path = write(tmp_path, "id,time,x,y\na,2021-01-01T00:00:00Z,1,2\n")
    with pytest.raises(ConfigError, match="missing column.*timestamp") as info:
        read_tracks(path, crs=UTM12)
    assert info.value.field == "timestamp" and str(path) in str(info.value)
    movebank = write(tmp_path, "timestamp,location-long\n2021-01-01 00:00:00,60\n", "mb.csv")
    with pytest.raises(ConfigError, match="individual-local-identifier, location-lat"):
        read_tracks(movebank)


def test_unparseable_timestamp_names_the_row(tmp_path):
    text = "id,timestamp,x,y\na,2021-01-01T00:00:00Z,1,2\na,yesterday noon,3,4\n"
    with pytest.raises(ConfigError, match="row 3 .*'yesterday noon'"):
        read_tracks(write(tmp_path, text), crs=UTM12)


def test_bad_coordinate_names_the_row(tmp_path):
    text = "id,timestamp,x,y\na,2021-01-01T00:00:00Z,1,2\na,2021-01-01T02:00:00Z,,4\n"
    with pytest.raises(ConfigError, match="row 3") as info:
        read_tracks(write(tmp_path, text), crs=UTM12)
    assert info.value.field == "x"


def test_plain_csv_needs_a_crs(tmp_path):
    with pytest.raises(ConfigError, match="--crs"):
        read_tracks(write(tmp_path, "id,timestamp,x,y\na,2021-01-01T00:00:00Z,1,2\n"))


def test_missing_file_and_bad_crs(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_tracks(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="not a coordinate reference system"):
        read_tracks(write(tmp_path, "id,timestamp,x,y\na,2021-01-01T00:00:00Z,1,2\n"), crs="UTM?")


def test_naive_timestamps_are_utc_with_a_warning(tmp_path):
    path = write(tmp_path, "id,timestamp,x,y\na,2021-01-01 00:00:00,1,2\n")
    with pytest.warns(CrossingsWarning, match="taken as UTC"):
        read_tracks(path, crs=UTM12)


def test_unsorted_rows_are_reported_and_sorted(tmp_path):
    text = "id,timestamp,x,y\na,2021-01-01T04:00:00Z,3,0\na,2021-01-01T02:00:00Z,2,0\n"
    with pytest.warns(CrossingsWarning, match="not in time order.*row 3"):
        tracks = read_tracks(write(tmp_path, text), crs=UTM12)
    assert tracks.x.tolist() == [2.0, 3.0]


def test_duplicate_timestamps_are_refused():
    tracks = Tracks.from_records(
        [("a", "2021-01-01T00:00", 0, 0), ("a", "2021-01-01T00:00", 1, 0)], source="f.csv"
    )
    with pytest.raises(ConfigError, match="duplicate timestamp.*'a'"):
        check_regularity(tracks)


def test_mixed_intervals_between_individuals_are_refused():
    fixes = [("a", f"2021-01-01T{h:02d}:00", 0, 0) for h in (0, 2, 4)]
    fixes += [("b", f"2021-01-01T{h:02d}:00", 0, 0) for h in (0, 3, 6)]
    tracks = Tracks.from_records(fixes)
    with pytest.raises(ConfigError, match=r"a: 2 h, b: 3 h.*--interval"):
        check_regularity(tracks)
    assert check_regularity(tracks, interval=3) == {"a": 2.0, "b": 3.0}
    with pytest.raises(ConfigError, match="shorter than the fix interval of b"):
        check_regularity(tracks, interval=2)


def test_too_few_fixes_for_a_window_warns():
    fixes = [("a", f"2021-01-01T{h:02d}:00", -50 + h, 0) for h in (0, 2, 4, 6)]
    layer = FenceLayer.from_fences([Fence("f", [(0, -1000), (0, 1000)])])
    with pytest.warns(CrossingsWarning, match="fewer than 22 fixes"):
        classify(Tracks.from_records(fixes), layer, BabaConfig(distance=100))


def test_b_time_must_be_a_multiple_of_the_interval():
    fixes = [("a", f"2021-01-01T{h:02d}:00", -50, h) for h in (0, 3, 6)]
    layer = FenceLayer.from_fences([Fence("f", [(0, -1000), (0, 1000)])])
    with pytest.raises(ConfigError, match="multiple of the fix interval 3 h"):
        classify(Tracks.from_records(fixes), layer, BabaConfig(distance=100))


def test_no_encounter_gives_an_empty_result_and_a_message():
    fixes = [("a", f"2021-01-01T{h:02d}:00", -5000, h) for h in (0, 2, 4)]
    layer = FenceLayer.from_fences([Fence("f", [(0, -1000), (0, 1000)])])
    result = classify(Tracks.from_records(fixes), layer, BabaConfig(distance=100))
    assert len(result.events) == 0 and "no fix lies within 100 m" in result.message


@pytest.mark.parametrize("bad", [{"distance": 0}, {"distance": 100, "tolerance": -1}])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ConfigError):
        BabaConfig(**bad)


def test_baba_fences_keep_features_whole():
    fences, crs = read_barriers(DATA / "baba" / "fences.gpkg")
    layer = FenceLayer.from_fences(fences)
    assert len(layer.fence_ids) == 1673 and "UTM zone 12N" in crs
    assert "141" in layer.fence_ids


def test_geographic_tracks_are_reprojected_to_the_fences_crs():
    fences, crs = read_barriers(DATA / "baba" / "fences.gpkg")
    lonlat = Tracks.from_records([("a", "2014-01-01T00:00", -110.2, 42.7)], crs="EPSG:4326")
    projected, _, _ = to_projected(lonlat, fences, crs, distance=110)
    x, y = Transformer.from_crs("EPSG:4326", UTM12, always_xy=True).transform(-110.2, 42.7)
    assert projected.x[0] == pytest.approx(x, abs=1e-6)
    assert projected.y[0] == pytest.approx(y, abs=1e-6)


def test_geographic_fences_are_reprojected_to_the_utm_zone_with_a_warning(tmp_path):
    import geopandas as gpd
    import shapely
    from pyproj import Transformer

    frame = gpd.GeoDataFrame(
        {"fence_id": ["f"]}, geometry=[shapely.LineString([(60, 44), (60.1, 44)])], crs=4326
    )
    frame.to_file(tmp_path / "geo.gpkg")
    fences, crs = read_barriers(tmp_path / "geo.gpkg")
    tracks = Tracks.from_records([("a", "2021-01-01T00:00", 60.05, 44.0)], crs="EPSG:4326")
    with pytest.warns(
        CrossingsWarning, match="geographic CRS.*reprojected to WGS 84 / UTM zone 41N"
    ):
        projected, moved, crs_out = to_projected(tracks, fences, crs, distance=100)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32641", always_xy=True)
    expected = np.column_stack(to_utm.transform([60, 60.1], [44, 44]))
    np.testing.assert_allclose(moved[0].coords, expected, atol=1e-6)
    x, y = to_utm.transform(60.05, 44.0)
    assert (projected.x[0], projected.y[0]) == pytest.approx((x, y), abs=1e-6)
    assert "UTM zone 41N" in crs_out


def test_polygon_fences_are_refused(tmp_path):
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame({"fence_id": ["p"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=UTM12)
    frame.to_file(tmp_path / "poly.gpkg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ConfigError, match="Polygon; fences must be lines"):
            read_barriers(tmp_path / "poly.gpkg")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_renamed_columns_and_a_us_time_format_in_a_named_time_zone(tmp_path):
    from crossings.io.gps import TrackColumns

    path = _write(
        tmp_path / "collars.csv",
        "collar,when,east,north\n"
        "A1,2/6/2014 0:01,500000,4400000\n"
        "A1,7/6/2014 13:30,500100,4400000\n",
    )
    tracks = read_tracks(
        path,
        crs="EPSG:32612",
        columns=TrackColumns(id="collar", time="when", x="east", y="north"),
        time_format="%m/%d/%Y %H:%M",
        timezone="America/Denver",
    )
    # Denver is UTC-7 in February (MST) and UTC-6 in July (MDT)
    assert tracks.time.astype(str).tolist() == ["2014-02-06T07:01:00", "2014-07-06T19:30:00"]
    assert tracks.animal_id.tolist() == ["A1", "A1"]


def test_a_non_iso_time_without_format_names_the_option(tmp_path):
    path = _write(tmp_path / "t.csv", "id,timestamp,x,y\na,2/6/2014 0:01,0,0\n")
    with pytest.raises(ConfigError, match="row 2.*'2/6/2014 0:01'.*--time-format"):
        read_tracks(path, crs="EPSG:32612")


def test_a_local_time_skipped_by_daylight_saving_is_refused(tmp_path):
    path = _write(tmp_path / "t.csv", "id,timestamp,x,y\na,2014-03-09 02:30,0,0\n")
    with pytest.raises(ConfigError, match="America/Denver.*daylight-saving"):
        read_tracks(path, crs="EPSG:32612", timezone="America/Denver")
    with pytest.raises(ConfigError, match="not an IANA time zone"):
        read_tracks(path, crs="EPSG:32612", timezone="Mountain")


def test_offsets_win_over_the_time_zone(tmp_path):
    path = _write(tmp_path / "t.csv", "id,timestamp,x,y\na,2014-03-09T12:00:00+05:00,0,0\n")
    tracks = read_tracks(path, crs="EPSG:32612", timezone="America/Denver")
    assert str(tracks.time[0]) == "2014-03-09T07:00:00"


def test_point_layers_are_read_as_tracks(tmp_path):
    import geopandas as gpd

    frame = gpd.GeoDataFrame(
        {"animal_id": ["b", "b"], "time": ["2021-01-01T02:00:00Z", "2021-01-01T00:00:00Z"]},
        geometry=gpd.points_from_xy([10.0, 20.0], [1.0, 2.0]),
        crs=UTM12,
    )
    for name in ("fixes.gpkg", "fixes.geojson", "fixes.shp"):
        frame.to_file(tmp_path / name)
        tracks = read_tracks(tmp_path / name)
        assert tracks.x.tolist() == [20.0, 10.0]
        assert str(tracks.time[0]) == "2021-01-01T00:00:00"
        assert "UTM zone 12N" in tracks.crs
    with pytest.raises(ConfigError, match="no column 'collar'.*animal_id"):
        from crossings.io.gps import TrackColumns

        read_tracks(tmp_path / "fixes.gpkg", columns=TrackColumns(id="collar"))


def test_guessed_fence_id_is_named_with_a_warning_and_attributes_are_kept(tmp_path):
    import geopandas as gpd
    import shapely

    from crossings.io.gps import read_fence_layer

    frame = gpd.GeoDataFrame(
        {"length_m": [100.0, 250.0], "type": ["wire", "mesh"], "country_pair": ["KAZ-UZB", ""]},
        geometry=[shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(0, 5), (250, 5)])],
        crs=UTM12,
    )
    frame.to_file(tmp_path / "f.gpkg")
    with pytest.warns(CrossingsWarning, match="ids were taken from 'length_m'.*--fence-id"):
        guessed = read_fence_layer(tmp_path / "f.gpkg")
    assert guessed.id_column == "length_m" and guessed.id_guessed
    assert [f.fence_id for f in guessed.fences] == ["100", "250"]
    named = read_fence_layer(tmp_path / "f.gpkg", id_column="type")
    assert named.id_column == "type" and not named.id_guessed
    assert named.attributes["fence_id"].tolist() == ["wire", "mesh"]
    assert named.attributes["country_pair"].tolist() == ["KAZ-UZB", ""]
    assert named.attributes["length_m"].tolist() == [100.0, 250.0]


def test_openings_and_side_areas_are_read_in_the_analysis_crs(tmp_path):
    import geopandas as gpd
    import shapely

    from crossings.io.gps import read_opening_points, read_side_areas

    gaps = gpd.GeoDataFrame(
        {"opening_id": ["g1", "g2"]},
        geometry=[shapely.Point(500000, 4400000), shapely.LineString([(0, 0), (10, 0)])],
        crs=UTM12,
    ).to_crs(4326)
    gaps.to_file(tmp_path / "gaps.gpkg")
    with pytest.warns(CrossingsWarning):
        openings = read_opening_points(tmp_path / "gaps.gpkg", target_crs=UTM12)
    assert openings.opening_id.tolist() == ["g1", "g2"]
    assert shapely.get_x(openings.geometries[0]) == pytest.approx(500000, abs=1e-3)
    areas = gpd.GeoDataFrame({"NAME": ["North"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=UTM12)
    areas.to_file(tmp_path / "areas.gpkg")
    sides = read_side_areas(tmp_path / "areas.gpkg", target_crs=UTM12)
    assert sides.name_of(np.array([0.5, 5.0]), np.array([0.5, 5.0])).tolist() == ["North", ""]
    with pytest.raises(ConfigError, match="no column 'land'"):
        read_side_areas(tmp_path / "areas.gpkg", target_crs=UTM12, name_column="land")
