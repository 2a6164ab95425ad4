"""Camera traps as field data come: effort over time, structures, species names, counts, people."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from test_camera_core import HORIZONTAL, animal, deployment, detections

from crossings.core.camtrap import (
    Deployment,
    EventConfig,
    SpeciesMap,
    analyse,
    check_deployments,
    events_from_tags,
    summarise,
)
from crossings.core.camtrap_effort import effort_tables, parse_season
from crossings.errors import ConfigError, CrossingsWarning

UTC5 = dt.timezone(dt.timedelta(hours=5))


def _t(text: str) -> int:
    """Seconds since 1970 of a local time at UTC+5."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=UTC5).timestamp())


def _deps():
    return [
        Deployment("d1", "C1", "F1", "O1", _t("2021-01-15T00:00"), _t("2021-03-01T00:00"),
                   utc_offset_s=5 * 3600),
        Deployment("d2", "C2", "F1", "O2", _t("2021-02-10T12:00"), _t("2021-02-20T12:00"),
                   utc_offset_s=5 * 3600),
    ]  # fmt: skip


def _events(deps, config=None):
    config = config or EventConfig()
    records = [  # deployment, local time, species, count, tag
        (0, "2021-01-20T06:00", "Saiga tatarica", 3, "A to B"),
        (0, "2021-01-20T09:00", "saiga  tatarica", 2, "B to A"),
        (0, "2021-02-03T18:00", "Canis lupus", 1, ""),
        (1, "2021-02-12T07:00", "Saiga tatarica", 5, "A to B"),
        (1, "2021-02-12T07:10", "Saiga tatarica", 1, "A to B"),
    ]
    return events_from_tags(
        np.array([r[0] for r in records]),
        np.array([_t(r[1]) for r in records]),
        np.array([r[2] for r in records]),
        np.array([r[3] for r in records]),
        np.array([r[4] for r in records]),
        deps,
        config,
    )


def _rows(table, **where):
    return [r for r in table.rows() if all(r[k] == v for k, v in where.items())]


def test_monthly_seasonal_and_yearly_tables_match_hand_counts():
    deps = _deps()
    seasons = [parse_season("early:02-01:02-15"), parse_season("winter:12-01:01-31")]
    tables = effort_tables(_events(deps), deps, seasons)
    month = tables["month"]
    jan = _rows(month, opening_id="O1", period="2021-01")
    assert [(r["species"], r["events"], r["individuals"]) for r in jan] == [
        ("Saiga tatarica", 2, 5)
    ]
    assert jan[0]["camera_days"] == pytest.approx(17.0)  # 15-31 January
    assert jan[0]["events_per_100_camera_days"] == pytest.approx(200 / 17)
    feb = _rows(month, opening_id="O1", period="2021-02")
    assert [(r["species"], r["events"], r["camera_days"]) for r in feb] == [
        ("Canis lupus", 1, 28.0)
    ]
    o2 = _rows(month, opening_id="O2")
    # the two records 10 minutes apart are one event; its count is the larger one
    assert [(r["species"], r["events"], r["individuals"], r["camera_days"]) for r in o2] == [
        ("Saiga tatarica", 1, 5, 10.0)
    ]
    year = _rows(tables["year"], opening_id="O1", period="2021")
    assert sorted((r["species"], r["events"]) for r in year) == [
        ("Canis lupus", 1),
        ("Saiga tatarica", 2),
    ]
    assert {r["camera_days"] for r in year} == {45.0}
    season = tables["season"]
    early_o1 = _rows(season, opening_id="O1", period="early 2021")
    assert [(r["species"], r["events"], r["camera_days"]) for r in early_o1] == [
        ("Canis lupus", 1, 15.0)
    ]
    early_o2 = _rows(season, opening_id="O2", period="early 2021")
    assert [(r["events"], r["camera_days"]) for r in early_o2] == [(1, 5.5)]  # 10 Feb noon-15 Feb
    winter = _rows(season, opening_id="O1", period="winter 2020")  # Dec 2020 - Jan 2021
    assert [(r["events"], r["camera_days"]) for r in winter] == [(2, 17.0)]
    assert _rows(season, opening_id="O2", period="winter 2020") == []  # no effort then


def test_a_period_with_effort_and_no_event_keeps_its_camera_days():
    deps = [
        Deployment(
            "d", "C", "F", "O", _t("2021-05-01T00:00"), _t("2021-07-01T00:00"), utc_offset_s=18000
        )
    ]
    ev = events_from_tags(
        np.array([0]), np.array([_t("2021-05-04T00:00")]), np.array(["wolf"]),
        np.array([1]), np.array([""]), deps, EventConfig(),
    )  # fmt: skip
    june = _rows(effort_tables(ev, deps)["month"], period="2021-06")
    assert [(r["species"], r["events"], r["camera_days"]) for r in june] == [("", 0, 30.0)]


@pytest.mark.parametrize(
    "mode, expected", [("max", [3, 2, 5]), ("sum", [3, 2, 6]), ("records", [1, 1, 2])]
)
def test_count_modes(mode, expected):
    deps = _deps()
    events = _events(deps, EventConfig(count=mode))
    saiga = [r for r in events.rows() if r["species"] == "Saiga tatarica"]
    assert [r["count"] for r in saiga] == expected
    with pytest.raises(ConfigError, match="max, sum, records"):
        EventConfig(count="mean")


def test_species_names_differing_in_case_and_spaces_are_one_species():
    events = _events(_deps())
    assert sorted(set(events["species"])) == ["Canis lupus", "Saiga tatarica"]
    table = SpeciesMap(
        {"wolf": "Canis lupus", "saiga": "Saiga tatarica"}, {"Canis lupus": "predator"}
    )
    deps = [deployment()]
    rows = [
        animal(1, 0, species="Wolf "),
        animal(2, 4000, species="saiga"),
        animal(3, 9000, species="fox"),
    ]
    result = analyse(detections(rows), deps, species_map=table)
    assert result.events["species"].tolist() == ["Canis lupus", "Saiga tatarica", "fox"]
    assert result.events["group"].tolist() == ["predator", "", ""]
    assert result.unknown_species == ("fox",)


def test_overlapping_deployments_are_refused_or_merged_with_a_message():
    a = deployment(deployment_id="d1", start=0, end=100 * 86400)
    b = deployment(deployment_id="d2", start=90 * 86400, end=120 * 86400)
    with pytest.raises(ConfigError, match="overlap in time.*--merge-overlaps"):
        check_deployments([a, b])
    with pytest.warns(CrossingsWarning, match="merged into one deployment"):
        merged = check_deployments([a, b], merge=True)
    assert [(d.deployment_id, d.camera_days) for d in merged] == [("d1+d2", 120.0)]
    elsewhere = deployment(deployment_id="d3", opening_id="O9", start=90 * 86400, end=95 * 86400)
    with pytest.raises(ConfigError, match="different openings"):
        check_deployments([a, elsewhere], merge=True)


def test_ramp_use_classes_used_refused_approached():
    ramp = deployment(structure="ramp", fence_line=HORIZONTAL, side_names=("inside", "outside"))
    rows = [
        animal(1, 0, fy=0.3), animal(2, 20, fy=0.7),  # A then B: used
        animal(3, 4000, fy=0.3), animal(4, 4020, fy=0.7), animal(5, 4040, fy=0.3),  # refused
        animal(6, 8000, fy=0.2), animal(7, 8020, fy=0.3),  # approached, never on the ramp
    ]  # fmt: skip
    result = analyse(detections(rows), [ramp])
    assert result.events["use_class"].tolist() == ["used", "refused", "approached"]
    table = {(r["structure"], r["use_class"]): r["events"] for r in result.structures.rows()}
    assert table == {("ramp", "used"): 1, ("ramp", "refused"): 1, ("ramp", "approached"): 1}
    with pytest.raises(ConfigError, match="structure must be one of"):
        deployment(structure="tunnel")


def test_two_way_structures_report_directions():
    under = deployment(structure="underpass", fence_line=HORIZONTAL)
    rows = [
        animal(1, 0, fy=0.3),
        animal(2, 20, fy=0.7),
        animal(3, 4000, fy=0.7),
        animal(4, 4020, fy=0.3),
    ]
    result = analyse(detections(rows), [under])
    assert result.events["use_class"].tolist() == ["A to B", "B to A"]
    assert {r["use_class"] for r in result.structures.rows()} == {"A to B", "B to A"}


def test_side_names_come_from_each_deployment():
    # a second camera at the opening has its line drawn the other way round
    d1 = deployment(
        deployment_id="d1", camera_id="C1", fence_line=HORIZONTAL, side_names=("KAZ", "UZB")
    )
    d2 = deployment(
        deployment_id="d2", camera_id="C2", fence_line=HORIZONTAL, side_names=("UZB", "KAZ")
    )
    rows = [
        animal(1, 0, fy=0.3), animal(2, 20, fy=0.7),  # C1: KAZ to UZB
        animal(3, 0, fy=0.3, camera="C2"), animal(4, 20, fy=0.7, camera="C2"),  # C2: UZB to KAZ
    ]  # fmt: skip
    result = analyse(detections(rows), [d1, d2])
    assert result.events["from_side"].tolist() == ["KAZ", "UZB"]
    (use,) = result.use.rows()
    assert (use["side_a"], use["side_b"]) == ("KAZ", "UZB")
    assert (use["crossings_a_to_b"], use["crossings_b_to_a"]) == (1, 1)


def test_people_are_counted_per_opening_and_month_and_never_become_events():
    rows = [animal(1, 0)]
    rows += [
        (f"C1/p{i}.jpg", "C1", 1_700_000_000 + 4000 * i, "person", "", 0.9, 0.5, 0.3)
        for i in range(3)
    ]
    rows += [("C1/v.jpg", "C1", 1_700_000_000 + 20, "vehicle", "", 0.9, 0.5, 0.3)]
    result = analyse(detections(rows), [deployment()])
    assert set(result.events["species"]) == {"gazelle"}
    people = {(r["month"], r["category"]): r["events"] for r in result.people.rows()}
    assert people == {("2023-11", "person"): 3, ("2023-11", "vehicle"): 1}  # 4000 s apart
    assert set(result.people.columns) == {"fence_id", "opening_id", "month", "category", "events"}


def test_iana_time_zones_follow_daylight_saving():
    berlin = deployment(timezone="Europe/Berlin", start=0, end=2_000_000_000)
    summer = int(dt.datetime(2021, 7, 1, 22, 30, tzinfo=dt.timezone.utc).timestamp())
    winter = int(dt.datetime(2021, 1, 1, 22, 30, tzinfo=dt.timezone.utc).timestamp())
    rows = [animal(1, summer - 1_700_000_000), animal(2, winter - 1_700_000_000)]
    events = analyse(detections(rows), [berlin]).events
    by_date = dict(zip(events["local_date"], events["local_hour"], strict=True))
    assert by_date == {"2021-07-02": 0, "2021-01-01": 23}  # CEST +2, CET +1
    with pytest.raises(ConfigError, match="IANA"):
        deployment(timezone="CEST")


def test_summarise_takes_a_daylight_function():
    deps = _deps()
    result = summarise(_events(deps), deps, EventConfig(), daylight=lambda ev, d: np.where(
        ev["local_hour"] < 8, "night", "day"))  # fmt: skip
    light = {(r["opening_id"], r["species"], r["light"]): r["events"] for r in result.light.rows()}
    assert light == {
        ("O1", "Saiga tatarica", "night"): 1,
        ("O1", "Saiga tatarica", "day"): 1,
        ("O1", "Canis lupus", "day"): 1,
        ("O2", "Saiga tatarica", "night"): 1,
    }


def test_plots_keep_a_bounded_size_for_many_openings_and_months(tmp_path):
    from PIL import Image

    from crossings.report.camera_plots import DPI, MAX_INCHES, MAX_OPENINGS, write_camera_plots

    rng = np.random.default_rng(5)
    t0 = 1_600_000_000
    deps = [
        Deployment(f"d{k}", f"C{k}", "F", f"O{k}", t0, t0 + 6 * 365 * 86400, opening_date=t0 + 9e7)
        for k in range(MAX_OPENINGS + 15)
    ]
    n = 6000
    events = events_from_tags(
        rng.integers(0, len(deps), n), t0 + rng.integers(0, 6 * 365 * 86400, n),
        np.array([f"species {k}" for k in range(25)])[rng.integers(0, 25, n)],
        np.ones(n, int), np.full(n, "A to B"), deps, EventConfig(),
    )  # fmt: skip
    paths = write_camera_plots(summarise(events, deps, EventConfig()), tmp_path)
    for path in paths:
        width, height = Image.open(path).size
        assert width <= MAX_INCHES[0] * DPI + 1 and height <= MAX_INCHES[1] * DPI + 1, path.name
