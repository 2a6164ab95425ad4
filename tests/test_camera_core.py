"""Hand-built cases for camera-trap sequences, events, crossing direction and use per opening."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossings.core.camtrap import (
    Deployment,
    Detections,
    EventConfig,
    analyse,
    check_deployments,
    sequence_ids,
    side_of_line,
)
from crossings.errors import ConfigError

DAY = 86400
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
HORIZONTAL = ((0.0, 0.5), (1.0, 0.5))  # side A = upper half of the image (y < 0.5)


def deployment(**kw) -> Deployment:
    base = dict(
        deployment_id="d1", camera_id="C1", fence_id="F1", opening_id="O1",
        start=T0 - DAY, end=T0 + 9 * DAY,
    )  # fmt: skip
    base.update(kw)
    return Deployment(**base)


def detections(rows) -> Detections:
    """rows: (file, camera, time, category, species, conf, foot_x, foot_y)."""
    boxes = [[fx - 0.05, fy - 0.1, 0.1, 0.1] for *_, fx, fy in rows]
    return Detections(
        file=np.array([r[0] for r in rows], dtype=object),
        camera_id=np.array([r[1] for r in rows], dtype=object),
        time=np.array([r[2] for r in rows], dtype=np.int64),
        category=np.array([r[3] for r in rows], dtype=object),
        species=np.array([r[4] for r in rows], dtype=object),
        confidence=np.array([r[5] for r in rows], dtype=float),
        bbox=np.array(boxes, dtype=float).reshape(-1, 4),
        count=np.ones(len(rows), dtype=np.int64),
    )


def animal(i, t, species="gazelle", conf=0.9, fx=0.5, fy=0.3, camera="C1"):
    return (f"{camera}/img{i:04d}.jpg", camera, T0 + t, "animal", species, conf, fx, fy)


def test_sequences_split_exactly_at_the_gap():
    times = np.array([0, 59, 118, 178, 179, 300])
    assert sequence_ids(np.zeros(6, int), times, 60).tolist() == [0, 0, 0, 1, 1, 2]


def test_events_split_exactly_at_the_independence_threshold():
    rows = [
        animal(0, 0),
        animal(1, 1799),
        animal(2, 3598),
        animal(3, 5398),
    ]  # gaps 1799, 1799, 1800
    rows += [animal(4, 100, species="saiga"), animal(5, 1900, species="saiga")]  # gap 1800
    result = analyse(detections(rows), [deployment()])
    events = sorted((e["species"], e["n_images"]) for e in result.events.rows())
    assert events == [("gazelle", 1), ("gazelle", 3), ("saiga", 1), ("saiga", 1)]
    gaz = [e for e in result.events.rows() if e["species"] == "gazelle"]
    assert sorted((e["start"] - T0, e["end"] - T0) for e in gaz) == [(0, 3598), (5398, 5398)]


def test_sequences_counted_within_events():
    rows = [animal(0, 0), animal(1, 30), animal(2, 200), animal(3, 259), animal(4, 320)]
    event = analyse(detections(rows), [deployment()]).events.rows()[0]
    # gaps 30 | 170 | 59 | 61 -> sequences {0, 30}, {200, 259}, {320}
    assert (event["n_images"], event["n_sequences"]) == (5, 3)


def naive_events(times, species, gap):
    """Brute force: walk each species' sorted times and start an event at each gap >= gap."""
    out = []
    for name in sorted(set(species)):
        ts = sorted(t for t, s in zip(times, species, strict=True) if s == name)
        start = prev = ts[0]
        n = 1
        for t in ts[1:]:
            if t - prev >= gap:
                out.append((name, start, prev, n))
                start, n = t, 0
            prev = t
            n += 1
        out.append((name, start, prev, n))
    return sorted(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_events_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    times = np.unique(rng.integers(0, 6 * DAY, 300))
    species = rng.choice(["gazelle", "saiga", "wolf"], len(times))
    rows = [
        animal(i, int(t), species=s) for i, (t, s) in enumerate(zip(times, species, strict=True))
    ]
    result = analyse(detections(rows), [deployment()])
    got = sorted((e["species"], e["start"] - T0, e["end"] - T0, e["n_images"])
                 for e in result.events.rows())  # fmt: skip
    assert got == naive_events(times.tolist(), species.tolist(), 1800)


@pytest.mark.parametrize(
    ("feet_y", "expected"),
    [
        ([0.30, 0.45, 0.70], "A to B"),
        ([0.80, 0.60, 0.20], "B to A"),
        ([0.20, 0.30, 0.40], "unknown"),  # stays on side A
        ([0.30, 0.70, 0.30], "unknown"),  # goes through and comes back
        ([0.50, 0.50, 0.70], "unknown"),  # only on the line, then B: never seen on A
    ],
)
def test_crossing_direction_from_box_path(feet_y, expected):
    rows = [animal(i, 10 * i, fy=y) for i, y in enumerate(feet_y)]
    dep = deployment(fence_line=HORIZONTAL, side_names=("KAZ", "UZB"))
    event = analyse(detections(rows), [dep]).events.rows()[0]
    assert event["direction"] == expected
    if expected == "A to B":
        assert (event["from_side"], event["to_side"]) == ("KAZ", "UZB")


def test_direction_unknown_without_a_fence_line():
    rows = [animal(0, 0, fy=0.2), animal(1, 10, fy=0.8)]
    assert analyse(detections(rows), [deployment()]).events["direction"].tolist() == ["unknown"]


def test_side_of_a_slanted_line_by_hand():
    # Line from (0.2, 0.9) to (0.8, 0.1); walking along it, the upper-left half is on the left.
    line = np.array([[0.2, 0.9], [0.8, 0.1]])
    assert side_of_line(np.array([[0.1, 0.1], [0.9, 0.9], [0.5, 0.5]]), line).tolist() == [1, 2, 0]


def test_person_and_vehicle_never_reach_events_and_low_confidence_is_dropped():
    rows = [
        animal(0, 0),
        ("C1/img0001.jpg", "C1", T0 + 5, "person", "", 0.99, 0.5, 0.5),
        ("C1/img0002.jpg", "C1", T0 + 9, "vehicle", "", 0.95, 0.5, 0.5),
        animal(3, 4000, conf=0.19),  # below the 0.2 animal threshold
        animal(4, 8000, conf=0.2),  # at the threshold: kept
    ]
    result = analyse(detections(rows), [deployment()])
    assert set(result.events["species"]) == {"gazelle"}
    assert len(result.events) == 2
    assert (result.withheld, result.below_threshold) == (2, 1)
    for table in (result.use, result.monthly, result.diel):
        assert "person" not in set(table["species"]) and "vehicle" not in set(table["species"])


def test_use_per_opening_rates_and_before_after():
    opening_date = T0 + 4 * DAY
    dep = deployment(opening_date=opening_date, fence_line=HORIZONTAL)  # 10 camera-days
    second = deployment(deployment_id="d2", camera_id="C2", start=T0, end=T0 + 5 * DAY,
                        opening_date=opening_date)  # fmt: skip
    other = deployment(deployment_id="d3", camera_id="C3", opening_id="O2", start=T0,
                       end=T0 + 2 * DAY)  # fmt: skip
    rows = [
        animal(0, 0, fy=0.3), animal(1, 20, fy=0.7),  # before, A to B
        animal(2, 5 * DAY, fy=0.7), animal(3, 5 * DAY + 20, fy=0.3),  # after, B to A
        animal(4, 6 * DAY, fy=0.7), animal(5, 6 * DAY + 20, fy=0.3),  # after, B to A
        animal(6, 1 * DAY, camera="C2"),  # before, no line
    ]  # fmt: skip
    result = analyse(detections(rows), [dep, second, other])
    use = {(r["opening_id"], r["species"]): r for r in result.use.rows()}
    row = use[("O1", "gazelle")]
    assert row["events"] == 4
    assert (row["crossings_a_to_b"], row["crossings_b_to_a"], row["direction_unknown"]) == (1, 2, 1)
    assert row["camera_days"] == pytest.approx(15.0)
    assert row["events_per_100_camera_days"] == pytest.approx(100 * 4 / 15)
    # d1: 5 days before (T0-1d .. T0+4d), 5 after; d2: 4 before, 1 after
    assert (row["camera_days_before"], row["camera_days_after"]) == (
        pytest.approx(9.0),
        pytest.approx(6.0),
    )
    assert (row["events_before"], row["events_after"]) == (2, 2)
    assert row["rate_after"] == pytest.approx(100 * 2 / 6)
    # an opening watched without any event keeps its effort
    assert use[("O2", "")]["events"] == 0 and use[("O2", "")]["camera_days"] == pytest.approx(2)
    diel = [r for r in result.diel.rows() if r["opening_id"] == "O1"]
    assert len(diel) == 24 and sum(r["events"] for r in diel) == 4


def test_local_time_gives_month_and_hour():
    dep = deployment(utc_offset_s=5 * 3600)  # T0 is 22:13 UTC -> 03:13 next day local
    event = analyse(detections([animal(0, 0)]), [dep]).events.rows()[0]
    assert (event["local_hour"], event["local_month"]) == (3, "2023-11")


def test_detections_outside_deployments_are_counted_not_used():
    rows = [animal(0, 0), animal(1, 20 * DAY)]
    result = analyse(detections(rows), [deployment()])
    assert result.outside_deployments == 1 and len(result.events) == 1


def test_overlapping_deployments_of_one_camera_are_an_error():
    with pytest.raises(ConfigError, match="overlap"):
        check_deployments([deployment(), deployment(deployment_id="d2", start=T0)])


@pytest.mark.parametrize(
    "bad",
    [dict(sequence_gap_s=0), dict(independence_s=-1), dict(animal_threshold=1.5)],
)
def test_bad_config_values(bad):
    with pytest.raises(ConfigError):
        EventConfig(**bad)


def test_fence_line_with_two_equal_points_is_an_error():
    with pytest.raises(ConfigError, match="same"):
        deployment(fence_line=((0.5, 0.5), (0.5, 0.5)))


def test_empty_detections_give_empty_events_but_keep_effort():
    result = analyse(detections([]), [deployment()])
    assert len(result.events) == 0
    assert result.use.rows()[0]["camera_days"] == pytest.approx(10)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([0.2, 0.35, 0.5, 0.65, 0.8]), min_size=1, max_size=8))
def test_reversing_a_path_swaps_its_direction(feet_y):
    dep = deployment(fence_line=HORIZONTAL)
    forward = [animal(i, 10 * i, fy=y) for i, y in enumerate(feet_y)]
    backward = [animal(i, 10 * i, fy=y) for i, y in enumerate(reversed(feet_y))]
    there = analyse(detections(forward), [dep]).events["direction"][0]
    back = analyse(detections(backward), [dep]).events["direction"][0]
    swap = {"A to B": "B to A", "B to A": "A to B", "unknown": "unknown"}
    assert back == swap[there]
    # a path that never leaves one side can never be a crossing
    if all(y <= 0.5 for y in feet_y) or all(y >= 0.5 for y in feet_y):
        assert there == "unknown"
