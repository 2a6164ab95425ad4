"""Camtrap DP 1.0: the official example in, out, validated offline; privacy; bad packages."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from pyproj import Geod

from crossings.errors import ConfigError, InputFileError
from crossings.io.camtrap_dp import (
    generalise_coordinates,
    parse_tags,
    read_camtrapdp,
    validate_package,
    write_camtrapdp,
)

EXAMPLE = Path(__file__).parent / "data" / "camera" / "camtrap_dp_example"


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_example_is_read_and_valid():
    package = read_camtrapdp(EXAMPLE)
    assert len(package.deployments) == len(csv_rows(EXAMPLE / "deployments.csv")) == 4
    assert len(package.media) == len(csv_rows(EXAMPLE / "media.csv")) == 423
    assert len(package.observations) == len(csv_rows(EXAMPLE / "observations.csv")) == 549


def test_round_trip_keeps_every_observation(tmp_path):
    package = read_camtrapdp(EXAMPLE)
    write_camtrapdp(package, tmp_path, withhold_private=False)
    again = read_camtrapdp(tmp_path)  # validates again
    for table in ("deployments", "media", "observations"):
        assert csv_rows(tmp_path / f"{table}.csv") == csv_rows(EXAMPLE / f"{table}.csv")
    assert again.descriptor["taxonomic"] == package.descriptor["taxonomic"]
    assert json.loads((tmp_path / "datapackage.json").read_text())["profile"].endswith(
        "camtrap-dp-profile.json"
    )


def test_public_export_withholds_people_and_vehicles(tmp_path):
    package = read_camtrapdp(EXAMPLE)
    write_camtrapdp(package, tmp_path)
    public = read_camtrapdp(tmp_path)
    original = csv_rows(EXAMPLE / "observations.csv")
    private = [r for r in original if r["observationType"] in ("human", "vehicle")]
    assert len(private) == 54
    assert len(public.observations) == len(original) - len(private)
    assert not any(r["observationType"] in ("human", "vehicle") for r in public.observations)
    assert "Homo sapiens" not in (tmp_path / "observations.csv").read_text()
    assert "Homo sapiens" not in [t["scientificName"] for t in public.descriptor["taxonomic"]]
    shown = {r["mediaID"] for r in private if r["mediaID"]}
    public_flag = {m["mediaID"]: m["filePublic"] for m in public.media}
    assert shown and all(public_flag[m] == "false" for m in shown)


def test_coordinates_generalised_to_grid_cell_centres(tmp_path):
    geod = Geod(ellps="WGS84")
    lat, lon, uncertainty = generalise_coordinates(44.1234, 56.789, 10_000)
    _, _, distance = geod.inv(56.789, 44.1234, lon, lat)
    assert distance <= uncertainty == 7072
    # points 3 km from the centre stay in its cell and land on the same centre
    for azimuth in (0, 90, 180, 270):
        lon2, lat2, _ = geod.fwd(lon, lat, azimuth, 3000)
        assert generalise_coordinates(lat2, lon2, 10_000) == (lat, lon, uncertainty)
    # 6 km away is another cell
    lon3, lat3, _ = geod.fwd(lon, lat, 90, 6000)
    assert generalise_coordinates(lat3, lon3, 10_000)[:2] != (lat, lon)
    package = read_camtrapdp(EXAMPLE)
    write_camtrapdp(package, tmp_path, coordinate_grid_m=10_000)
    rows = csv_rows(tmp_path / "deployments.csv")
    for row, raw in zip(rows, csv_rows(EXAMPLE / "deployments.csv"), strict=True):
        _, _, moved = geod.inv(float(raw["longitude"]), float(raw["latitude"]),
                               float(row["longitude"]), float(row["latitude"]))  # fmt: skip
        assert moved <= int(row["coordinateUncertainty"]) == 7072
    assert read_camtrapdp(tmp_path).descriptor["coordinatePrecision"] == 0.09


def copy_example(tmp_path: Path) -> Path:
    target = tmp_path / "pkg"
    shutil.copytree(EXAMPLE, target)
    return target


def edit_csv(path: Path, row: int, field: str, value: str) -> None:
    rows = csv_rows(path)
    rows[row][field] = value
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize(
    ("table", "field", "value", "match"),
    [
        ("observations", "bboxX", "1.5", r"observations row 2 field 'bboxX': '1.5' is above"),
        ("observations", "observationType", "ghost", "'ghost' is not one of"),
        ("media", "timestamp", "2020-05-30 04:57:37", "not an ISO 8601 datetime"),
        ("media", "filePublic", "", "field 'filePublic': required but empty"),
        ("deployments", "latitude", "95", "above the maximum 90"),
        ("observations", "deploymentID", "nowhere", "name no deployments row"),
        ("media", "mediaID", "401386c7", "is not unique"),
    ],
)
def test_invalid_tables_are_caught(tmp_path, table, field, value, match):
    package = copy_example(tmp_path)
    edit_csv(package / f"{table}.csv", 0, field, value)
    with pytest.raises(ConfigError, match=match):
        read_camtrapdp(package)


def test_invalid_descriptor_is_caught(tmp_path):
    package = copy_example(tmp_path)
    descriptor = json.loads((package / "datapackage.json").read_text())
    del descriptor["project"]
    descriptor["temporal"]["start"] = 2020
    (package / "datapackage.json").write_text(json.dumps(descriptor))
    with pytest.raises(ConfigError, match=r"'project' is a required property.*temporal/start"):
        read_camtrapdp(package)


def test_malformed_descriptor_json(tmp_path):
    package = copy_example(tmp_path)
    (package / "datapackage.json").write_text('{"resources": [')
    with pytest.raises(InputFileError, match="malformed JSON at line 1"):
        read_camtrapdp(package)


def test_validation_needs_no_network(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("validation tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    validate_package(read_camtrapdp(EXAMPLE, validate=False))


def test_tags():
    assert parse_tags("area:HS | season:spring") == {"area": "HS", "season": "spring"}


def test_example_as_input_to_events_keeps_people_out():
    from crossings.core.camtrap import analyse
    from crossings.io.camtrap_dp import to_camera_inputs

    table, deployments = to_camera_inputs(read_camtrapdp(EXAMPLE))
    media_level = [r for r in csv_rows(EXAMPLE / "observations.csv")
                   if r["observationLevel"] == "media"]  # fmt: skip
    typed = [r for r in media_level if r["observationType"] in ("animal", "human", "vehicle")]
    assert len(table) == len(typed)
    result = analyse(table, deployments)
    private = sum(r["observationType"] in ("human", "vehicle") for r in typed)
    assert result.withheld == private > 0
    assert "Homo sapiens" not in set(result.events["species"])
    locations = {r["locationID"] for r in csv_rows(EXAMPLE / "deployments.csv")}
    assert {d.opening_id for d in deployments} == locations
    # every media of the example lies within its deployment (both ends included)
    assert result.outside_deployments == 0


def test_exif_time_of_a_local_media_file_matches_the_package():
    import datetime as dt

    from crossings.io.camera import read_exif

    local = [m for m in csv_rows(EXAMPLE / "media.csv") if (EXAMPLE / m["filePath"]).is_file()]
    assert len(local) == 1  # the one media file copied into the tests
    (record,) = read_exif([EXAMPLE / local[0]["filePath"]])
    stamp = dt.datetime.fromisoformat(local[0]["timestamp"])
    assert record.local_time == stamp.replace(tzinfo=None)  # the camera clock, local time
    assert record.make == "RECONYX"
