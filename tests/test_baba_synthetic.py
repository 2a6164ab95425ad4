"""Hand-built tracks against one straight fence: each gives the class the BaBA rules prescribe.

The fence runs north along x = 0 (country_pair KAZ-UZB: KAZ west/left, UZB east/right); the
buffer is d = 100 m and fixes come every 2 hours. Each scenario is one individual whose
encounter is framed by movement far from the fence, so that mid-length events have a baseline.
"""

import math

import numpy as np
import pytest

from crossings.core.baba import BabaConfig, FenceLayer, classify, straightness
from crossings.core.fences import Fence
from crossings.core.tracks import Tracks, locate_crossings
from crossings.errors import CrossingsWarning

D = 100.0
FENCE = Fence("border", [(0.0, -100_000.0), (0.0, 100_000.0)], country_pair="KAZ-UZB")
LAYER = FenceLayer.from_fences([FENCE])
START = np.datetime64("2020-03-01T00:00:00", "s")
STEP = np.timedelta64(2 * 3600, "s")


def wander(n: int, seed: int, origin=(-20_000.0, 0.0)) -> list[tuple[float, float]]:
    """A tortuous random walk (300 m steps) far west of the fence."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, 2 * np.pi, n)
    xy = np.asarray(origin) + np.cumsum(300 * np.column_stack([np.cos(angles), np.sin(angles)]), 0)
    return [(float(x), float(y)) for x, y in xy]


def straight(n: int, origin=(-20_000.0, -15_000.0)) -> list[tuple[float, float]]:
    """A straight walk north, 300 m per step, far west of the fence."""
    return [(origin[0], origin[1] + 300.0 * k) for k in range(n)]


def build(scenarios: dict[str, list[tuple[float, float]]], gaps: dict[str, set[int]] | None = None):
    """Tracks with one fix every 2 h per individual; ``gaps`` lists fix numbers left out."""
    ids, times, xs, ys = [], [], [], []
    for name, points in scenarios.items():
        for k, (x, y) in enumerate(points):
            if gaps and k in gaps.get(name, set()):
                continue
            ids.append(name)
            times.append(START + k * STEP)
            xs.append(x)
            ys.append(y)
    return Tracks(np.array(ids), np.array(times), np.array(xs), np.array(ys), crs="EPSG:32642")


def only_event(result, animal):
    rows = np.flatnonzero(result.events.animal_id == animal)
    assert len(rows) == 1, f"{animal}: expected one event, got {len(rows)}"
    return rows[0]


SCENARIOS = {
    # approaches, has one fix on each side of the fence, leaves: a quick cross
    "quick": wander(50, 1) + [(-1000, 0), (-50, 0), (50, 0), (1000, 0)] + wander(50, 2),
    # comes within the buffer once and turns back: a bounce
    "bounce": wander(50, 3) + [(-1000, 0), (-50, 0), (-1000, 100)] + wander(50, 4),
    # walks straight along the fence for 16 h amid tortuous movement: a trace
    "trace": wander(50, 5) + [(-50, 300.0 * k) for k in range(9)] + wander(50, 6),
    # zigzags at the fence for 16 h amid straight movement: back-and-forth
    "zigzag": straight(50)
    + [(-50, 0) if k % 2 == 0 else (-60, 300) for k in range(9)]
    + straight(50, origin=(-20_000.0, 5_000.0)),
    # stays 38 h within the buffer: trapped
    "trapped": wander(20, 7) + [(-50 - 2 * k, 37.0 * (k % 3)) for k in range(20)] + wander(20, 8),
    # the track starts inside the buffer and never crosses: unknown (no fix before)
    "at_start": [(-50, 0), (-1000, 0)] + wander(60, 9),
    # stands still at the fence for 10 h: straightness undefined (R stops with an error)
    "stationary": wander(50, 10) + [(-50, 500)] * 6 + wander(50, 11),
}


@pytest.fixture(scope="module")
def result():
    return classify(build(SCENARIOS), LAYER, BabaConfig(distance=D))


@pytest.mark.parametrize(
    ("animal", "expected", "cross"),
    [
        ("quick", "Quick_Cross", 1),
        ("bounce", "Bounce", 0),
        ("trace", "Trace", 0),
        ("zigzag", "Back_n_forth", 0),
        ("trapped", "Trapped", 0),
        ("at_start", "unknown", 0),
        ("stationary", "unknown", 0),
    ],
)
def test_hand_built_track_gets_prescribed_class(result, animal, expected, cross):
    k = only_event(result, animal)
    assert result.events.event_type[k] == expected
    assert result.events.cross[k] == cross


def test_durations_and_straightness_by_hand(result):
    ev = result.events
    trace = only_event(result, "trace")
    assert ev.duration_hours[trace] == 16.0
    assert ev.str_i[trace] == 1.0
    assert ev.str_i[only_event(result, "zigzag")] == 0.0
    assert ev.duration_hours[only_event(result, "trapped")] == 38.0
    assert math.isnan(ev.str_i[only_event(result, "stationary")])
    quick = only_event(result, "quick")
    assert ev.str_i[quick] == 1.0  # two fixes, straight
    assert np.isnan(ev.str_mean[quick])  # no baseline for short events


def test_quick_cross_with_max_cross_does_not_change_short_events():
    res = classify(build(SCENARIOS), LAYER, BabaConfig(distance=D, max_cross=4))
    assert res.events.event_type[only_event(res, "quick")] == "Quick_Cross"


def test_track_starting_with_a_crossing_is_quick_cross():
    tracks = build({"a": [(-50, 0), (1000, 0)] + wander(30, 12, origin=(20_000.0, 0.0))})
    res = classify(tracks, LAYER, BabaConfig(distance=D))
    assert res.events.event_type.tolist() == ["Quick_Cross"]


def test_track_ending_inside_buffer_is_unknown():
    tracks = build({"a": wander(30, 13) + [(-1000, 0), (-50, 0)]})
    res = classify(tracks, LAYER, BabaConfig(distance=D))
    assert res.events.event_type.tolist() == ["unknown"]


def test_crossing_without_fix_in_buffer_is_no_event_but_a_located_crossing():
    points = wander(30, 14) + [(-1000, 0), (1000, 3000)] + wander(30, 15, origin=(20_000, 0))
    tracks = build({"jumper": points})
    res = classify(tracks, LAYER, BabaConfig(distance=D))
    assert len(res.events) == 0 and "no fix lies within" in res.message
    crossings = locate_crossings(tracks, LAYER)
    assert len(crossings) == 1
    assert crossings.x[0] == 0.0 and crossings.y[0] == pytest.approx(1500.0)
    assert crossings.time[0] == START + 30 * STEP + np.timedelta64(3600, "s")  # half way
    assert crossings.direction.tolist() == ["from KAZ to UZB"]


def test_gap_bridged_by_tolerance():
    # in buffer, one fix outside, in buffer again: two bounces, or one event with tolerance
    points = wander(40, 16) + [(-1000, 0), (-50, 0), (-300, 0), (-50, 100)] + wander(40, 17)
    tracks = build({"a": points})
    plain = classify(tracks, LAYER, BabaConfig(distance=D))
    assert plain.events.event_type.tolist() == ["Bounce", "Bounce"]
    bridged = classify(tracks, LAYER, BabaConfig(distance=D, tolerance=2))
    assert bridged.events.event_type.tolist() == ["Bounce"]
    assert bridged.events.duration_hours.tolist() == [4.0]
    assert bridged.point_fetched.tolist() == [False, True, False]
    assert bridged.events.str_i[0] == pytest.approx(
        straightness(np.array([-50.0, -300, -50]), np.array([0.0, 0, 100]))
    )
    # tolerance 1 h is too short to bridge a 4 h gap at a 2 h interval
    assert len(classify(tracks, LAYER, BabaConfig(distance=D, tolerance=1)).events) == 2


def test_missing_fix_bridged_without_any_fetched_fix():
    # the fix between the two in-buffer fixes is missing; R stops here, we bridge the gap
    points = wander(40, 18) + [(-1000, 0), (-50, 0), (-60, 0), (-50, 100)] + wander(40, 19)
    tracks = build({"a": points}, gaps={"a": {42}})
    res = classify(tracks, LAYER, BabaConfig(distance=D, tolerance=2))
    assert res.events.event_type.tolist() == ["Bounce"]
    assert res.events.duration_hours.tolist() == [4.0]
    assert not res.point_fetched.any()


def test_events_at_exactly_b_time_are_short_and_beyond_are_not():
    three = [(-50, 0), (-55, 100), (-50, 200)]  # 4 h: short
    four = [(-50, 0), (-55, 100), (-50, 200), (-55, 300)]  # 6 h: mid-length
    tracks = build({"a": wander(40, 20) + three + wander(40, 21), "b": wander(40, 22) + four})
    res = classify(tracks, LAYER, BabaConfig(distance=D))
    a, b = only_event(res, "a"), only_event(res, "b")
    assert res.events.event_type[a] == "Bounce"
    assert np.isnan(res.events.str_mean[a]) and np.isfinite(res.events.str_mean[b])


def test_straightness_by_hand():
    assert straightness(np.array([0.0, 3.0, 3.0]), np.array([0.0, 0.0, 4.0])) == 5 / 7
    assert math.isnan(straightness(np.array([1.0]), np.array([1.0])))
    assert math.isnan(straightness(np.array([1.0, 1.0]), np.array([2.0, 2.0])))
    same_time = np.array([0, 0])
    assert math.isnan(straightness(np.array([0.0, 1.0]), np.array([0.0, 0.0]), same_time))


def test_max_cross_decides_between_trace_and_unknown():
    # walks along the fence for 16 h, stepping across it twice
    along = [(-50, 0), (-50, 300), (50, 600), (50, 900), (50, 1200), (-50, 1500)]
    along += [(-50, 1800), (-50, 2100), (-50, 2400)]
    tracks = build({"a": wander(50, 23) + along + wander(50, 24)})
    strict = classify(tracks, LAYER, BabaConfig(distance=D))
    assert strict.events.event_type.tolist() == ["unknown"]
    assert strict.events.cross.tolist() == [2]
    lenient = classify(tracks, LAYER, BabaConfig(distance=D, max_cross=2))
    assert lenient.events.event_type.tolist() == ["Trace"]


def brute_force_baseline(times, xs, ys, start, end, duration, interval=2.0, w=168.0):
    """Straightness of every window, written as plainly as the R loop (hours, in order)."""
    keep = [(t, x, y) for t, x, y in zip(times, xs, ys, strict=True)]
    keep = [p for p in keep if start - w / 2 <= p[0] <= end + w / 2]
    sections, current = [], [keep[0]]
    for prev, point in zip(keep[:-1], keep[1:], strict=True):
        if round(point[0] - prev[0], 1) != interval:
            sections.append(current)
            current = []
        current.append(point)
    sections.append(current)
    k = int(duration / interval)
    values = []
    for sec in sections:
        for i in range(len(sec) - k):
            window = sec[i : i + k + 1]
            path = sum(
                math.dist(a[1:], b[1:]) for a, b in zip(window[:-1], window[1:], strict=True)
            )
            values.append(math.dist(window[0][1:], window[-1][1:]) / path)
    return values


@pytest.mark.parametrize("exclude", [False, True])
def test_baseline_equals_brute_force_windows(exclude):
    points = wander(50, 25) + [(-50, 300.0 * k) for k in range(6)] + wander(50, 26)
    tracks = build({"a": points}, gaps={"a": {20, 21, 75}})
    res = classify(tracks, LAYER, BabaConfig(distance=D, exclude_buffer=exclude))
    (k,) = np.flatnonzero(res.events.duration_hours > 4)
    hours = (tracks.time - START).astype(float) / 3600
    in_event = np.zeros(tracks.n_fixes, bool)
    in_event[res.point_rows] = True
    use = ~in_event if exclude else np.ones(tracks.n_fixes, bool)
    start = (res.events.start_time[k] - START).astype(float) / 3600
    end = (res.events.end_time[k] - START).astype(float) / 3600
    values = brute_force_baseline(
        hours[use], tracks.x[use], tracks.y[use], start, end, res.events.duration_hours[k]
    )
    assert res.events.str_mean[k] == pytest.approx(np.mean(values), abs=1e-12)
    assert res.events.str_sd[k] == pytest.approx(np.std(values, ddof=1), abs=1e-12)


def test_event_fence_id_is_the_nearest_fence_first_in_layer_on_ties():
    fences = [
        Fence("east", [(100, -1000), (100, 1000)]),
        Fence("west", [(-100, -1000), (-100, 1000)]),
    ]
    layer = FenceLayer.from_fences(fences)
    tracks = build({"a": [(-5000, 0), (-60, 0), (-5000, 0)], "b": [(-5000, 0), (0, 0), (-5000, 0)]})
    with pytest.warns(CrossingsWarning, match="fewer than 22 fixes"):
        events = classify(tracks, layer, BabaConfig(distance=D)).events
    assert events.fence_id.tolist() == ["west", "east"]
