"""Camtrap DP and tagged-records round trips: the same events, directions and effort."""

from __future__ import annotations

import csv
import datetime as dt
import json
import zoneinfo
from pathlib import Path

import numpy as np
import pytest
from astral import Observer
from astral.sun import elevation as astral_elevation
from test_camera_cli import events_args, read_csv, run, scene_files

from crossings.core.camtrap import Deployment, EventConfig, Table
from crossings.errors import ConfigError, CrossingsWarning
from crossings.io.camera import read_deployments, read_tagged_records
from crossings.io.camtrap_dp import analyse_package, read_camtrapdp, to_camera_inputs
from crossings.io.daylight import light_of_events, sun_times


@pytest.fixture()
def scene(tmp_path: Path) -> dict[str, Path]:
    return scene_files(tmp_path)


KEYS = ("species", "start", "direction", "from_side", "to_side", "period", "n_images")


def _export(scene, out: Path) -> Path:
    root = scene["root"]
    result = run("export-camtrapdp", "--detections", root / "md.json", "--deployments",
                 root / "deployments.csv", "--images", scene["images"], "--labels",
                 root / "labels.csv", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _direct(scene) -> list[dict[str, str]]:
    out = scene["root"] / "direct"
    assert run(*events_args(scene, out)).exit_code == 0
    return read_csv(out / "events.csv")


def _keys(events: Table) -> list[tuple]:
    def text(name, value):
        return f"{np.datetime64(int(value), 's')}Z" if name == "start" else str(value)

    return [tuple(text(k, r[k]) for k in KEYS) for r in events.rows()]


def _rewrite(path: Path, edit) -> None:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    fields = list(rows[0])
    rows = edit(rows)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)


def test_a_package_from_crossings_gives_the_same_events_and_directions(scene):
    direct = [tuple(e[k] for k in KEYS) for e in _direct(scene)]
    assert any(d[2] == "A to B" for d in direct)  # the scene has a crossing
    package = read_camtrapdp(_export(scene, scene["root"] / "dp") / "datapackage.json")
    again = analyse_package(package, EventConfig())
    assert _keys(again.events) == direct


def test_direction_tags_are_kept_without_boxes_or_fence_line(scene):
    """Directions come from the event tags, not from re-judging boxes (none are left here)."""
    dp = _export(scene, scene["root"] / "dp")
    _rewrite(
        dp / "observations.csv", lambda rows: [r for r in rows if r["observationLevel"] == "event"]
    )

    def no_line(rows):
        for r in rows:
            tags = r["deploymentTags"].split(" | ")
            r["deploymentTags"] = " | ".join(t for t in tags if not t.startswith("fenceLine"))
        return rows

    _rewrite(dp / "deployments.csv", no_line)
    again = analyse_package(read_camtrapdp(dp / "datapackage.json"), EventConfig())
    direct = [tuple(e[k] for k in KEYS) for e in _direct(scene)]
    assert [k[:5] for k in _keys(again.events)] == [d[:5] for d in direct]


def _overlapping(dp: Path) -> None:
    def add_copy(rows):
        copy = {**rows[0], "deploymentID": "d1-bis",
                "deploymentStart": "2023-05-15T00:00:00+05:00",
                "deploymentEnd": "2023-06-10T00:00:00+05:00"}  # fmt: skip
        return rows + [copy]

    _rewrite(dp / "deployments.csv", add_copy)


def test_overlapping_deployments_in_a_package_are_refused_or_merged(scene):
    dp = _export(scene, scene["root"] / "dp")
    _overlapping(dp)
    package = read_camtrapdp(dp / "datapackage.json")
    with pytest.raises(ConfigError, match="overlap in time.*--merge-overlaps"):
        analyse_package(package, EventConfig(), source="dp")
    with pytest.warns(CrossingsWarning, match="merged into one deployment"):
        merged = analyse_package(package, EventConfig(merge_overlaps=True), source="dp")
    # 1 March to 10 June (UTC+5), counted once: 101 camera-days, not 101 + 26
    assert {float(d) for d in merged.use["camera_days"]} == {101.0}
    assert len(merged.events) == len(analyse_package(read_camtrapdp(_export(
        scene, scene["root"] / "dp2") / "datapackage.json"), EventConfig()).events)  # fmt: skip


def test_a_tagged_records_csv_gives_the_same_events_as_the_package(scene, tmp_path):
    dp = _export(scene, scene["root"] / "dp")
    package = read_camtrapdp(dp / "datapackage.json")
    from_package = analyse_package(package, EventConfig()).events
    tagged = tmp_path / "tagged.csv"
    with open(tagged, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["site", "datetime", "species", "count", "direction"])
        for o in package.observations:
            if o["observationLevel"] != "event":
                continue
            tags = dict(t.split(":", 1) for t in o["observationTags"].split(" | "))
            writer.writerow(["C1", o["eventStart"], o["scientificName"] or "animal", o["count"],
                             tags["crossingDirection"]])  # fmt: skip
    deployments = read_deployments(scene["root"] / "deployments.csv")
    events, _, outside, _ = read_tagged_records(tagged, deployments)
    assert outside == 0
    keys = KEYS[:-1]  # a tagged row is one record, whatever the images behind it
    assert [tuple(str(r[k]) for k in keys) for r in events.rows()] == [
        tuple(str(r[k]) for k in keys) for r in from_package.rows()
    ]


def test_tagged_records_bad_site_and_ramp_structure(tmp_path):
    deps = [Deployment("d1", "R1", "F", "ramp-2", 0, 2_000_000_000, utc_offset_s=18000)]
    path = tmp_path / "t.csv"
    path.write_text(
        "site,datetime,species,count,direction,structure\n"
        "R1,2023-05-01T06:00,Gazella subgutturosa,2,used,ramp\n"
        "R1,2023-05-01T09:00,Gazella subgutturosa,1,refused,ramp\n"
    )
    events, deps_out, _, _ = read_tagged_records(path, deps)
    assert deps_out[0].structure == "ramp"
    assert events["use_class"].tolist() == ["used", "refused"]
    assert events["start"].tolist()[0] == int(
        dt.datetime(2023, 5, 1, 1, 0, tzinfo=dt.timezone.utc).timestamp()
    )
    path.write_text("site,datetime,species,count,direction\nX9,2023-05-01T06:00,wolf,1,\n")
    with pytest.raises(ConfigError, match="site 'X9' is no deployment"):
        read_tagged_records(path, deps)


LONDON = zoneinfo.ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    "date, sunrise, sunset",
    [(dt.date(2021, 6, 21), "04:43", "21:21"), (dt.date(2021, 12, 21), "08:04", "15:53")],
)
def test_sun_times_match_published_times_for_london(date, sunrise, sunset):
    """Published sunrise and sunset at London (51.5074 N, 0.1278 W), to the minute."""
    times = sun_times(51.5074, -0.1278, date, LONDON)

    def minutes(text):
        h, m = map(int, text.split(":"))
        return 60 * h + m

    for name, published in (("sunrise", sunrise), ("sunset", sunset)):
        value = times[name].astimezone(LONDON)
        assert abs(value.hour * 60 + value.minute + value.second / 60 - minutes(published)) <= 1


def test_events_are_day_twilight_or_night_at_the_deployment():
    dep = Deployment("d", "C", "F", "O", 0, 2_000_000_000, latitude=51.5074, longitude=-0.1278,
                     timezone="Europe/London")  # fmt: skip
    local = ["2021-06-21T03:00", "2021-06-21T04:30", "2021-06-21T12:00", "2021-06-21T21:40",
             "2021-06-21T23:30"]  # fmt: skip
    start = np.array(
        [int(dt.datetime.fromisoformat(t).replace(tzinfo=LONDON).timestamp()) for t in local]
    )
    events = Table(
        {
            "deployment_id": np.array(["d"] * 5, dtype=object),
            "local_date": np.array(["2021-06-21"] * 5, dtype=object),
            "start": start,
        }
    )
    # civil dawn about 03:4x, sunrise 04:43, sunset 21:21, civil dusk about 22:0x (BST)
    assert light_of_events(events, [dep]).tolist() == [
        "night",
        "twilight",
        "day",
        "twilight",
        "night",
    ]


def test_events_command_options_for_field_data(scene, tmp_path):
    root = scene["root"]
    out = root / "field"
    result = run(*events_args(scene, out), "--no-plots", "--people", "--count", "sum",
                 "--season", "spring:03-01:05-31")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not list(out.glob("*.png"))
    people = read_csv(out / "people_per_month.csv")
    assert [(r["month"], r["category"], r["events"]) for r in people] == [
        ("2023-05", "person", "1"),
        ("2023-05", "vehicle", "1"),
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sensitivity"]["level"] == "restricted"
    spring = read_csv(out / "effort_season.csv")
    assert {r["period"] for r in spring} == {"spring 2023"}
    assert float(spring[0]["camera_days"]) == 92.0  # 1 March to 1 June
    assert {"effort_month.csv", "effort_year.csv", "light.csv", "structures.csv"} <= {
        p.name for p in out.iterdir()
    }
    public = root / "public"
    assert run(*events_args(scene, public), "--no-plots").exit_code == 0
    assert not (public / "people_per_month.csv").exists()
    assert json.loads((public / "manifest.json").read_text())["sensitivity"]["level"] == "public"


def test_events_from_a_tagged_csv_through_the_command_line(scene, tmp_path):
    root = scene["root"]
    tagged = tmp_path / "tagged.csv"
    tagged.write_text(
        "site,datetime,species,count,direction\n"
        "C1,2023-03-15T05:00:00+05:00,Saiga Tatarica ,2,A to B\n"
        "C1,2023-04-20T18:00:00+05:00,saiga tatarica,1,B to A\n"
        "C1,2023-04-21T18:00:00+05:00,wolf,1,\n"
    )
    names = tmp_path / "names.csv"
    names.write_text("name,species,group\nsaiga tatarica,Saiga tatarica,ungulate\n")
    out = tmp_path / "out"
    result = run("events", "--tagged", tagged, "--deployments", root / "deployments.csv",
                 "--species-map", names, "--out", out, "--no-plots")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "not in the mapping table: wolf" in result.output
    events = read_csv(out / "events.csv")
    assert [(e["species"], e["direction"], e["group"]) for e in events] == [
        ("Saiga tatarica", "A to B", "ungulate"),
        ("Saiga tatarica", "B to A", "ungulate"),
        ("wolf", "unknown", ""),
    ]
    light = {(r["species"], r["light"]): r["events"] for r in read_csv(out / "light.csv")}
    # at 56.1 E local solar time is UTC + 3 h 44 min: 05:00 at UTC+5 is 03:44 solar (night),
    # 18:00 at UTC+5 is 16:44 solar (day, in April at 44 N)
    assert light == {("Saiga tatarica", "night"): "1", ("Saiga tatarica", "day"): "1",
                     ("wolf", "day"): "1"}  # fmt: skip


def _light_one_event_at_a_time(events, deployments):
    """Reference: sun times and astral's elevation looked up for each event on its own."""
    by_id = {d.deployment_id: d for d in deployments}
    out = []
    for dep_id, date, start in zip(
        events["deployment_id"], events["local_date"], events["start"], strict=True
    ):
        dep = by_id.get(dep_id)
        if dep is None or dep.latitude is None:
            out.append("")
            continue
        zone = (zoneinfo.ZoneInfo(dep.timezone) if dep.timezone
                else dt.timezone(dt.timedelta(seconds=dep.utc_offset_s)))  # fmt: skip
        times = sun_times(dep.latitude, dep.longitude, dt.date.fromisoformat(date), zone)
        moment = dt.datetime.fromtimestamp(int(start), dt.timezone.utc)
        if times is None:
            height = astral_elevation(Observer(dep.latitude, dep.longitude), moment)
            out.append("day" if height > -0.833 else "twilight" if height > -6 else "night")
        elif times["sunrise"] <= moment <= times["sunset"]:
            out.append("day")
        elif (
            times["dawn"] <= moment < times["sunrise"] or times["sunset"] < moment <= times["dusk"]
        ):
            out.append("twilight")
        else:
            out.append("night")
    return out


SUN_EVENTS = ("dawn", "sunrise", "sunset", "dusk")


def test_light_of_events_equals_the_per_event_lookup_on_random_events():
    deps = [
        Deployment("lon", "C", "F", "O", 0, 2_000_000_000, latitude=51.5074, longitude=-0.1278,
                   timezone="Europe/London"),
        Deployment("tash", "C", "F", "O", 0, 2_000_000_000, utc_offset_s=5 * 3600,
                   latitude=41.3, longitude=69.3),
        Deployment("svalbard", "C", "F", "O", 0, 2_000_000_000, latitude=78.2, longitude=15.6,
                   timezone="Arctic/Longyearbyen"),
        Deployment("nowhere", "C", "F", "O", 0, 2_000_000_000),
    ]  # fmt: skip
    rng = np.random.default_rng(7)
    n = 600
    dep_ids = rng.choice([d.deployment_id for d in deps] + ["unknown"], n)
    start = rng.integers(1_609_459_200, 1_640_995_200, n)  # 2021
    zone_of = {d.deployment_id: zoneinfo.ZoneInfo(d.timezone or "Asia/Tashkent") for d in deps}
    # a quarter of the events sit on a sun time to the second, where < and <= differ
    edges = []
    for k in range(0, n, 4):
        dep = next((d for d in deps if d.deployment_id == dep_ids[k]), None)
        if dep is None or dep.latitude is None or dep.deployment_id == "svalbard":
            continue
        zone = zone_of[dep.deployment_id]
        day = dt.datetime.fromtimestamp(int(start[k]), zone).date()
        times = sun_times(dep.latitude, dep.longitude, day, zone)
        if times is None:  # astral finds no civil dusk on that local date (London, midsummer)
            continue
        start[k] = int(times[SUN_EVENTS[k % 16 // 4]].timestamp()) + (k // 16) % 2
        edges.append(k)
    utc = zoneinfo.ZoneInfo("UTC")
    local_date = [
        dt.datetime.fromtimestamp(int(s), zone_of.get(d, utc)).date().isoformat()
        for d, s in zip(dep_ids, start, strict=True)
    ]
    events = Table({"deployment_id": np.array(dep_ids, dtype=object),
                    "local_date": np.array(local_date, dtype=object), "start": start})  # fmt: skip
    got = light_of_events(events, deps).tolist()
    assert got == _light_one_event_at_a_time(events, deps)
    assert len(edges) > 50 and {"day", "twilight", "night", ""} <= set(got)
    polar = [g for g, d in zip(got, dep_ids, strict=True) if d == "svalbard"]
    assert {"day", "night"} <= set(polar)


def test_a_package_keeps_fence_opening_sides_and_structure_of_every_deployment(scene):
    """Two deployments with their own fence, opening, side names, structure and zone: each comes
    back from the package as it went in, and the events keep their fence and opening."""
    deployments = scene["root"] / "deployments.csv"
    header, first = deployments.read_text().splitlines()
    deployments.write_text(
        f"{header},structure,timezone\n{first},opening,Asia/Tashkent\n"
        "d2,C2,KZ-UZ-09,ramp-4,2023-03-01T00:00:00+05:00,2023-06-01T00:00:00+05:00,,44.3,56.2,"
        "0,0.5,1,0.5,inside,outside,ramp,Asia/Samarkand\n"
    )
    package = read_camtrapdp(_export(scene, scene["root"] / "dp") / "datapackage.json")
    _, again = to_camera_inputs(package)

    def fields(dep: Deployment) -> tuple:
        return (dep.deployment_id, dep.fence_id, dep.opening_id, dep.side_names, dep.structure,
                dep.timezone, dep.opening_date, dep.fence_line)  # fmt: skip

    assert [fields(d) for d in again] == [fields(d) for d in read_deployments(deployments)]
    assert {d.side_names for d in again} == {("KAZ", "UZB"), ("inside", "outside")}
    events = analyse_package(package, EventConfig()).events
    direct = _direct(scene)
    assert len(events) == len(direct) > 0
    assert [(r["fence_id"], r["opening_id"]) for r in events.rows()] == [
        (e["fence_id"], e["opening_id"]) for e in direct
    ]
